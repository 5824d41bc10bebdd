"""What a notice tells a person to run: the exact curl line for our HTTP routes and the CLI line,
portal links, and the webhook signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import shlex

PLACEHOLDER_BASE = "https://<function-app>.azurewebsites.net"
PLACEHOLDER_AUDIENCE = "api://<API app id>"


def http_call(base: str | None, route: str, body: dict[str, str], audience: str | None = None) -> str:
    """The exact curl line for one of our HTTP routes, with the reader's own Entra ID token (the API
    takes no key: App Service Authentication wants a token for the API's audience, shared.authz a role)."""
    data = json.dumps(body).replace("'", "'\\''")
    token = f"$(az account get-access-token --resource {audience or PLACEHOLDER_AUDIENCE} --query accessToken -o tsv)"
    return (
        f'curl -X POST "{base or PLACEHOLDER_BASE}/api/{route}" -H "Authorization: Bearer {token}" '
        f"-H \"Content-Type: application/json\" -d '{data}'"
    )


def cli_line(*args: str) -> str:
    return "python -m shared " + " ".join(shlex.quote(a) for a in args)


def retry_commands(base: str | None, cluster_id: str, audience: str | None = None) -> dict[str, str]:
    return {
        "retryCall": http_call(base, "links/reconcile", {"clusterId": cluster_id}, audience),
        "retryCli": cli_line("reconcile", cluster_id),
    }


def approve_link_commands(base: str | None, cluster_id: str, audience: str | None = None) -> dict[str, str]:
    return {
        "approveCall": http_call(base, "links/approve", {"clusterId": cluster_id, "reason": "<why>"}, audience),
        "approveCli": cli_line("approve-link", cluster_id, "--reason", "<why>"),
    }


def connection_commands(base: str | None, cluster_id: str, connection_name: str, audience: str | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for verb in ("approve", "reject"):
        body = {"clusterId": cluster_id, "connectionName": connection_name, "reason": "<why>"}
        out[f"{verb}Call"] = http_call(base, f"connections/{verb}", body, audience)
        out[f"{verb}Cli"] = cli_line(verb, cluster_id, connection_name, "--reason", "<why>")
    return out


def portal_url(tenant_id: str | None, resource_id: str | None) -> str | None:
    if not tenant_id or not resource_id:
        return None
    return f"https://portal.azure.com/#@{tenant_id}/resource{resource_id}"


def sign(secret: str, body: bytes) -> str:
    """The X-Signature-256 value: HMAC-SHA256 of the raw body, as GitHub and others do it."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
