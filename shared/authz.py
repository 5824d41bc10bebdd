"""Who may use the HTTP API: the verified caller and its app roles.

In Azure, App Service Authentication (Easy Auth, infra/app/function.bicep `authsettingsV2`) validates
the caller's Entra ID bearer token before the function runs and passes the verified claims in
`X-MS-CLIENT-PRINCIPAL` (base64 JSON), a header the platform removes from any incoming request and
sets itself. That header is trusted here only because of that, so only when App Service says its
authentication is on (`WEBSITE_AUTH_ENABLED=true`, set by the platform). Otherwise every API call is
refused (fail closed), unless `HUBLINK_API_AUTH=local-unauthenticated` says this is a developer's
machine with no Easy Auth, where every caller is "local-developer" with every role.

The app roles nest: an Approver may do what an Operator may, an Operator what a Reader may.

    HubLink.Reader    read (GET /api/links, /api/links/{sub}/{rg}/{name}, /api/hubs, /api/doctor, /api/status)
    HubLink.Operator  reconcile a link now (POST /api/links/reconcile)
    HubLink.Approver  approve a link, approve or reject any pending connection: opens a network path

No verified caller -> 401; a caller without the role -> 403 naming the role. Both are decided from
the headers alone, before any setting, row or Azure API is read.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import Refused
from shared.log import get_logger

READER, OPERATOR, APPROVER = "HubLink.Reader", "HubLink.Operator", "HubLink.Approver"
ROLES = (READER, OPERATOR, APPROVER)  # each includes the ones before it
API_AUTH_SETTING = "HUBLINK_API_AUTH"
LOCAL_UNAUTHENTICATED = "local-unauthenticated"

OBJECT_ID_TYPES = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
TENANT_TYPES = ("http://schemas.microsoft.com/identity/claims/tenantid", "tid")
ROLE_TYPES = ("http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "roles")
NAME_TYPES = ("preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "name")

log = get_logger("hublink.authz")


@dataclass(frozen=True)
class Caller:
    """A verified caller: who the audit names (object id, tenant, name, user or application)."""

    object_id: str
    tenant_id: str
    name: str
    kind: str  # user | application | local
    roles: frozenset[str]
    app_id: str = ""

    def may(self, role: str) -> bool:
        """Nested roles: holding a higher role grants every lower one."""
        needed = ROLES.index(role)
        return any(r in ROLES and ROLES.index(r) >= needed for r in self.roles)


LOCAL_DEVELOPER = Caller("local-developer", "", "local-developer", "local", frozenset(ROLES))


def authorize(headers: Mapping[str, str] | None, role: str, env: Mapping[str, str] | None = None) -> Caller:
    """The verified caller holding `role` (or a higher one); Refused 401/403 otherwise."""
    env = os.environ if env is None else env
    if (env.get("WEBSITE_AUTH_ENABLED") or "").strip().lower() != "true":
        if (env.get(API_AUTH_SETTING) or "").strip() == LOCAL_UNAUTHENTICATED:
            return LOCAL_DEVELOPER
        raise Refused(
            401,
            "AuthenticationNotConfigured",
            "the API answers only behind App Service Authentication (WEBSITE_AUTH_ENABLED is not true here); "
            f"on a developer's machine set {API_AUTH_SETTING}={LOCAL_UNAUTHENTICATED}",
        )
    caller = verified_caller(headers)
    if caller is None:
        raise Refused(401, "Unauthenticated", "a bearer token from Entra ID for this API is required")
    if not caller.may(role):
        log.warning("api.forbidden", caller=caller.object_id, tenant=caller.tenant_id, needed=role)
        raise Refused(403, "Forbidden", f"this call needs the app role {role} (or a higher one), which the caller does not hold")
    return caller


def verified_caller(headers: Mapping[str, str] | None) -> Caller | None:
    """The caller from Easy Auth's X-MS-CLIENT-PRINCIPAL; None when absent or unreadable.

    Only that header is read: -NAME and -ID are conveniences a caller could imitate where no
    platform strips them, and the principal's claims hold the same facts."""
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    raw = lower.get("x-ms-client-principal", "")
    try:
        principal = json.loads(base64.b64decode(raw, validate=True)) if raw else None
    except (binascii.Error, ValueError):
        principal = None
    if not isinstance(principal, dict) or not isinstance(principal.get("claims"), list):
        return None
    claims: dict[str, list[str]] = {}
    for c in principal["claims"]:
        if isinstance(c, dict) and isinstance(c.get("typ"), str):
            claims.setdefault(c["typ"], []).append(str(c.get("val", "")))
    object_id = _first(claims, OBJECT_ID_TYPES)
    if not object_id:
        return None
    role_types = (principal.get("role_typ"), *ROLE_TYPES)
    roles = frozenset(v for t in role_types if isinstance(t, str) for v in claims.get(t, []))
    app_id = _first(claims, ("appid", "azp"))
    # Entra's idtyp is "app" in application tokens; user tokens carry a scp and a user name claim.
    kind = "application" if _first(claims, ("idtyp",)) == "app" or not _first(claims, NAME_TYPES[:2]) else "user"
    name = _first(claims, NAME_TYPES) or app_id or object_id
    return Caller(object_id, _first(claims, TENANT_TYPES), name[:200], kind, roles, app_id)


def _first(claims: dict[str, list[str]], types: tuple[Any, ...]) -> str:
    return next((claims[t][0] for t in types if claims.get(t) and claims[t][0]), "")
