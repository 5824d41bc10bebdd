"""Can the product act in a tenant and a scope: a token (consent), and every action it needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.credentials import ARM_SCOPE
from shared.doctor.needs import missing
from shared.doctor.report import Check, failed, passed
from shared.errors import HubLinkError, map_azure_errors

if TYPE_CHECKING:
    from shared.arm import ArmClient
    from shared.config import Settings

PERMISSIONS_API = "2022-04-01"


def token_check(arm: ArmClient, settings: Settings, scope: str, subject: str, tenant: str) -> Check:
    """A token for ARM in `tenant`: the app's service principal exists there (admin consent was given)."""
    try:
        with map_azure_errors("token request"):
            arm.credentials.for_tenant(tenant).get_token(ARM_SCOPE)
    except HubLinkError as exc:
        return failed(
            scope,
            subject,
            "token",
            f"no token in tenant {tenant}: {exc}",
            f"an admin of tenant {tenant} consents to the app once: az ad sp create --id {settings.client_id} "
            f"(or https://login.microsoftonline.com/{tenant}/adminconsent?client_id={settings.client_id})",
        )
    return passed(scope, subject, "token", f"a token for ARM in tenant {tenant} ({settings.credential})")


def permissions_check(arm: ArmClient, scope: str, subject: str, tenant: str, at: str, needed: Sequence[str], fix: str) -> Check:
    """Ask ARM what the caller may do at `at` (Microsoft.Authorization/permissions) and compare with `needed`."""
    try:
        body = arm.get_json(
            f"{at}/providers/Microsoft.Authorization/permissions",
            tenant_id=tenant,
            api_version=PERMISSIONS_API,
            what=f"read the product's permissions at {at}",
        )
    except HubLinkError as exc:
        return failed(scope, subject, "permissions", f"could not read the permissions at {at}: {exc}", fix)
    lacking = missing((body or {}).get("value", []), needed)
    if lacking:
        return failed(scope, subject, "permissions", f"at {at} the product lacks {', '.join(lacking)}", fix)
    return passed(scope, subject, "permissions", f"all {len(needed)} actions the paths need are granted at {at}")
