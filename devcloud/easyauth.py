"""App Service Authentication ("Easy Auth") in front of the local Functions host, as Azure runs it.

In Azure the authentication module sits before the Functions host: with the Entra provider,
`requireAuthentication` and `unauthenticatedClientAction: Return401` (infra/app/function.bicep's
authsettingsV2), a request without a valid bearer token never reaches the app; one with a valid
token reaches it with the caller's claims in headers the module sets, and only the module may set
them ("External requests aren't allowed to set these headers", learn.microsoft.com/azure/
app-service/configure-authentication-user-identities).

Turned on by the app settings App Service itself exposes to the app (the names Microsoft.Identity.Web's
AppServicesAuthenticationInformation reads): `WEBSITE_AUTH_ENABLED=true`, `WEBSITE_AUTH_OPENID_ISSUER`
(`<authority>/<tenant>/v2.0`), `WEBSITE_AUTH_CLIENT_ID`; plus the site config's allowed audiences
(`WEBSITE_AUTH_ALLOWED_AUDIENCES`, JSON list or space separated; default the client id and
`api://<client id>`) and excluded paths (`WEBSITE_AUTH_EXCLUDED_PATHS`, prefixes, e.g. the Event Grid
webhook). `FUNCHOST_AUTH_CA_BUNDLE` is devcloud's CA (Azure trusts public CAs; devcloud's is local).

What it checks: an `Authorization: Bearer` token, RS256 signed by a key of the issuer's JWKS
(OpenID metadata at `<issuer>/.well-known/openid-configuration`), issued by the configured tenant
(v1 `https://sts.windows.net/<tenant>/` or v2 issuer), for an allowed audience, not expired. What it
does then: answers 401 (`WWW-Authenticate: Bearer realm="<host>"`), or removes every incoming
`X-MS-CLIENT-PRINCIPAL*` and `X-MS-TOKEN-*` header and sets `X-MS-CLIENT-PRINCIPAL` (base64 JSON:
auth_typ, claims after the default claim-type mapping, name_typ, role_typ), `-ID` (oid), `-NAME`,
`-IDP` (`aad`) from the verified token.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from devcloud.httpserver import Request, Response

log = logging.getLogger("devcloud.easyauth")

NAME_TYPE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
ROLE_TYPE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
# The default inbound claim-type mapping (System.IdentityModel.Tokens.Jwt, JwtSecurityTokenHandler
# DefaultInboundClaimTypeMap) that App Service's module applies: "some names may differ from the token".
CLAIM_TYPES = {
    "oid": "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "tid": "http://schemas.microsoft.com/identity/claims/tenantid",
    "roles": ROLE_TYPE,
    "sub": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
    "upn": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "unique_name": NAME_TYPE,
    "scp": "http://schemas.microsoft.com/identity/claims/scope",
    "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
}
# The 401's body: App Service's familiar page text, from memory rather than a recording (none found);
# clients go by the status and the challenge. Not empty: a browser shows its own error page for an
# empty 4xx body and loads more (tests/test_status_page.py counts what the browser loads).
DENIED_BODY = b"You do not have permission to view this directory or page."


def _list(text: str | None) -> list[str]:
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        return [str(x) for x in json.loads(text)]
    return text.replace(",", " ").split()


class EasyAuth:
    def __init__(self, *, issuer: str, client_id: str, audiences: list[str], excluded: list[str],
                 ca_bundle: str | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.audiences = audiences or [client_id, f"api://{client_id}"]
        self.excluded = [p.rstrip("/").lower() for p in excluded]
        self.ca_bundle = ca_bundle
        parts = [p for p in urlsplit(self.issuer).path.split("/") if p]
        self.tenant_id = parts[0] if parts else ""
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()
        self.refused: list[tuple[str, str, str]] = []  # (method, path, why): what the module turned away

    @classmethod
    def from_settings(cls, setting: Callable[[str], str | None]) -> EasyAuth | None:
        """None unless WEBSITE_AUTH_ENABLED is true (App Service's own switch)."""
        if (setting("WEBSITE_AUTH_ENABLED") or "").strip().lower() != "true":
            return None
        issuer, client_id = setting("WEBSITE_AUTH_OPENID_ISSUER"), setting("WEBSITE_AUTH_CLIENT_ID")
        if not issuer or not client_id:
            raise ValueError("WEBSITE_AUTH_ENABLED=true needs WEBSITE_AUTH_OPENID_ISSUER and WEBSITE_AUTH_CLIENT_ID")
        return cls(issuer=issuer, client_id=client_id, audiences=_list(setting("WEBSITE_AUTH_ALLOWED_AUDIENCES")),
                   excluded=_list(setting("WEBSITE_AUTH_EXCLUDED_PATHS")), ca_bundle=setting("FUNCHOST_AUTH_CA_BUNDLE"))

    # -- the module --------------------------------------------------------------------------
    def middleware(self, request: Request, route: Any, handler: Callable[[Request], Response]) -> Response:
        """A devcloud.httpserver middleware: authenticate, or answer 401 before the host sees the request."""
        path = request.path.rstrip("/").lower()
        if any(path == p or path.startswith(p + "/") for p in self.excluded):
            return handler(request)
        for name in [n for n in request.headers if n.startswith(("x-ms-client-principal", "x-ms-token-"))]:
            del request.headers[name]  # only the module sets these
        try:
            claims = self.validate(request.header("authorization") or "")
        except jwt.InvalidTokenError as exc:
            self.refused.append((request.method, request.path, str(exc)))
            return self._denied(request, str(exc))
        request.headers.update(principal_headers(claims))
        return handler(request)

    def _denied(self, request: Request, why: str) -> Response:
        """401 with the challenge App Service sends: `Bearer realm="<host>"` and nothing else (no
        authorization_uri, no resource_id), as a client quoted it in github.com/YannickRe/
        ms-graph-proxy-function/issues/5 ("Header Value: 'Bearer realm'="<app>.azurewebsites.net""). So
        a client cannot learn the audience from it: it must be told (the READY line's `api`, --audience)."""
        host = (request.header("host") or "localhost").split(":")[0]
        log.info("easyauth: 401 for %s %s: %s", request.method, request.path, why)
        return Response(401, DENIED_BODY, {"WWW-Authenticate": f'Bearer realm="{host}"', "Content-Type": "text/plain"})

    def validate(self, authorization: str) -> dict[str, Any]:
        """The verified claims of a bearer token (jwt.InvalidTokenError for anything else)."""
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise jwt.InvalidTokenError("no bearer token")
        try:
            key = self._keys().get_signing_key_from_jwt(token.strip())
        except jwt.PyJWKClientError as exc:
            raise jwt.InvalidTokenError(f"signing key: {exc}") from exc
        issuers = [self.issuer, f"https://sts.windows.net/{self.tenant_id}/",
                   f"https://login.microsoftonline.com/{self.tenant_id}/v2.0"]
        return jwt.decode(token.strip(), key.key, algorithms=["RS256"], audience=self.audiences, issuer=issuers,
                          options={"require": ["exp", "iss", "aud", "tid", "oid"]})

    def _keys(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                verify = self.ca_bundle or True
                meta = requests.get(f"{self.issuer}/.well-known/openid-configuration", verify=verify, timeout=10)
                meta.raise_for_status()
                context = ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else None
                self._jwks = jwt.PyJWKClient(meta.json()["jwks_uri"], ssl_context=context, timeout=10)
            return self._jwks


def principal_headers(claims: dict[str, Any]) -> dict[str, str]:
    """The headers App Service sets for a verified token (lower-cased, as devcloud's server keeps them)."""
    mapped = []
    for name, value in claims.items():
        for item in value if isinstance(value, list) else [value]:
            mapped.append({"typ": CLAIM_TYPES.get(name, name), "val": str(item)})
    principal = {"auth_typ": "aad", "claims": mapped, "name_typ": NAME_TYPE, "role_typ": ROLE_TYPE}
    name = next((str(claims[k]) for k in ("upn", "preferred_username", "unique_name", "name", "appid") if claims.get(k)), "")
    return {
        "x-ms-client-principal": base64.b64encode(json.dumps(principal).encode()).decode(),
        "x-ms-client-principal-id": str(claims.get("oid", "")),
        "x-ms-client-principal-name": name,
        "x-ms-client-principal-idp": "aad",
    }
