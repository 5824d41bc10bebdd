"""The operator CLI against a deployed function app, as the operator's own Entra ID identity.

    python -m shared --remote https://<app>.azurewebsites.net status
    python -m shared --remote https://<app>.azurewebsites.net approve <clusterId> <connection> --reason "CHG-1"

The token comes from azure-identity's `DefaultAzureCredential` (after `az login`, an environment
service principal, a managed identity...) for the API's audience: `--audience api://<app id>` or
`HUBLINK_REMOTE_AUDIENCE` (the deployment's `API_AUDIENCE` output). App Service Authentication's 401
challenge names no audience (only `Bearer realm="<host>"`), so the CLI cannot find it by itself.
The app checks the app role each command needs (shared.authz) and records the verified caller in
the audit, so the CLI sends no name of its own. `HUBLINK_REMOTE_URL` may stand for `--remote`.

These are the CLI's options, not app settings: the function app never reads them. Against devcloud
set `AZURE_AUTHORITY_HOST` (or `HUBLINK_AUTHORITY`) to devcloud's authority and `HUBLINK_CA_BUNDLE`
to its CA; instance discovery is then off, so MSAL asks nothing of login.microsoftonline.com.
"""

from __future__ import annotations

import json
import os
from typing import Any

import requests

from shared.ids import ClusterId

PUBLIC_AUTHORITY = "https://login.microsoftonline.com"


class RemoteError(Exception):
    """The app refused a call: its status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": str(self), "status": self.status}}


def default_credential(ca_bundle: str | None = None) -> Any:
    """The operator's own identity. A non-public authority (devcloud, a sovereign cloud's host given
    explicitly) turns instance discovery off: MSAL would otherwise ask the public cloud about it."""
    from azure.identity import DefaultAzureCredential

    authority = os.environ.get("HUBLINK_AUTHORITY") or os.environ.get("AZURE_AUTHORITY_HOST")
    kwargs: dict[str, Any] = {}
    if authority and authority.rstrip("/") != PUBLIC_AUTHORITY:
        kwargs.update(authority=authority, disable_instance_discovery=True)
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle
    return DefaultAzureCredential(**kwargs)


class RemoteApi:
    """The function app's HTTP API (`/api/...`), called with a bearer token for its audience."""

    def __init__(
        self,
        base_url: str,
        *,
        audience: str | None = None,
        credential: Any = None,
        ca_bundle: str | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.audience = audience
        self.verify: str | bool = ca_bundle or True
        self.credential = credential or default_credential(ca_bundle)
        self.timeout_s = timeout_s
        self.http = requests.Session()

    def _scope(self) -> str:
        if not self.audience:
            raise RemoteError(
                0,
                "AudienceMissing",
                "which API? pass --audience api://<API app id> or set HUBLINK_REMOTE_AUDIENCE (azd output API_AUDIENCE)",
            )
        return self.audience.rstrip("/") + "/.default"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, str] | None = None) -> Any:
        token = self.credential.get_token(self._scope()).token
        resp = self.http.request(
            method,
            f"{self.base_url}/api/{path}",
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            verify=self.verify,
            timeout=self.timeout_s,
        )
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if resp.status_code >= 400:
            error = (answer or {}).get("error", {}) if isinstance(answer, dict) else {}
            message = error.get("message") or resp.text.strip() or resp.reason
            raise RemoteError(resp.status_code, error.get("code") or f"Http{resp.status_code}", message)
        return answer

    # -- the CLI's commands ----------------------------------------------------------------------
    def status(self, phase: str | None = None) -> dict[str, Any]:
        return self.call("GET", "links", params={"phase": phase} if phase else None)

    def reconcile(self, cluster_id: str) -> dict[str, Any]:
        return self.call("POST", "links/reconcile", {"clusterId": cluster_id})

    def approve_link(self, cluster_id: str, reason: str = "") -> dict[str, Any]:
        return self.call("POST", "links/approve", {"clusterId": cluster_id, "reason": reason})

    def decide(self, cluster_id: str, connection_name: str, approve: bool, reason: str) -> dict[str, Any]:
        body = {"clusterId": cluster_id, "connectionName": connection_name, "reason": reason}
        return self.call("POST", f"connections/{'approve' if approve else 'reject'}", body)

    def hubs(self) -> dict[str, Any]:
        return self.call("GET", "hubs")

    def doctor(self, subscription: str | None = None) -> dict[str, Any]:
        return self.call("GET", "doctor", params={"subscription": subscription} if subscription else None)

    def link(self, cluster_id: str) -> dict[str, Any]:
        c = ClusterId.parse(cluster_id)
        return self.call("GET", f"links/{c.subscription_id}/{c.resource_group}/{c.name}")


def run(args: Any, api: RemoteApi) -> tuple[int, Any]:
    """One parsed CLI command against the remote app: (exit code, what to print)."""
    try:
        if args.command == "status":
            return 0, api.status(args.phase)
        if args.command == "reconcile":
            return 0, api.reconcile(args.cluster_id)
        if args.command == "approve-link":
            return 0, api.approve_link(args.cluster_id, args.reason)
        if args.command in ("approve", "reject"):
            return 0, api.decide(args.cluster_id, args.connection_name, args.command == "approve", args.reason)
        if args.command == "hubs":
            return 0, api.hubs()
        if args.command == "doctor":
            report = api.doctor(args.subscription)
            return (0 if report.get("ok") else 1), report
    except RemoteError as exc:
        return 1, exc.body()
    raise ValueError(f"{args.command} runs locally only")


def dumps(body: Any) -> str:
    return json.dumps(body, indent=2, default=str)
