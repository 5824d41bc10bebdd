"""Entra ID as azure-identity/MSAL see it: discovery, token endpoint, managed identity endpoint.

Tokens are RS256 JWTs signed with a key made at start-up; devcloud's ARM verifies them with the
same key, so a token is only as good as a real one would be: right signature, not expired, the
right audience, and a `tid` that must match the subscription's tenant. A token for an application
that exposes an API (world.Application.identifier_uris) carries, in `roles`, the app roles granted
to the caller's service principal (world.app_role_assignments), as Entra's client-credentials
tokens do. The lifetime is read when each token is issued (`TOKEN_LIFETIME_S`), so a test can make
short-lived ones; `mint()` makes the tokens no client could get (expired, signed by another key).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from devcloud.httpserver import Request, Response, Router
from devcloud.world import World, principal_object_id

ARM_AUDIENCES = ("https://management.azure.com", "https://management.azure.com/",
                 "https://management.core.windows.net", "https://management.core.windows.net/")
EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME_S = 3600


@dataclass(frozen=True)
class Principal:
    """Who is calling ARM, from a verified token."""

    tenant_id: str
    object_id: str
    app_id: str
    name: str  # world name of the application / managed identity (role assignments use it)
    claims: dict[str, Any]


class Identity:
    def __init__(self, world: World, base_url_getter) -> None:
        self.world = world
        self._base = base_url_getter
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        # Managed identity endpoint secret (App Service's IDENTITY_HEADER).
        self.identity_header = secrets.token_urlsafe(24)
        self.issued: list[str] = []  # every token and secret issued (tests scan logs for them)

    # -- issuing -------------------------------------------------------------------------------
    def _sign(self, claims: dict[str, Any], key: Any = None, kid: str | None = None) -> str:
        token = jwt.encode(claims, key or self._key, algorithm="RS256", headers={"kid": kid or self.kid})
        self.issued.append(token)
        return token

    def issue(self, *, tenant_id: str, client_id: str, object_id: str, audience: str,
              name: str, idtyp: str = "app", issuer: str | None = None,
              lifetime_s: int | None = None, forged: bool = False) -> tuple[str, int]:
        """A signed access token. `forged`: signed by a key devcloud never published (same kid)."""
        now = int(time.time())
        lifetime = TOKEN_LIFETIME_S if lifetime_s is None else lifetime_s  # the module's, read now: tests shorten it
        claims = {
            "aud": audience,
            "iss": issuer or f"https://sts.windows.net/{tenant_id}/",
            "iat": min(now, now + lifetime), "nbf": min(now, now + lifetime), "exp": now + lifetime,
            "tid": tenant_id, "oid": object_id, "sub": object_id,
            "appid": client_id, "azp": client_id, "idtyp": idtyp,
            "name": name, "ver": "1.0", "uti": uuid.uuid4().hex,
        }
        roles = self._roles(name, audience, tenant_id)
        if roles:
            claims["roles"] = roles
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if forged else None
        return self._sign(claims, key), now + lifetime

    def _roles(self, principal_name: str, audience: str, tenant_id: str) -> list[str]:
        resource = self.world.api_for_audience(audience)
        return self.world.app_roles_of(principal_name, resource, tenant_id) if resource else []

    def mint(self, *, client_id: str, tenant_id: str, audience: str, lifetime_s: int | None = None,
             forged: bool = False) -> str:
        """A token for an application of the world as the token endpoint would issue it, with the
        lifetime asked for (negative: already expired) or signed by a stranger's key."""
        app = self.world.application(client_id)
        if app is None:
            raise KeyError(f"no application {client_id!r} in the world")
        token, _ = self.issue(tenant_id=tenant_id, client_id=app.client_id, audience=audience.removesuffix("/.default"),
                              name=app.name, object_id=principal_object_id(app.client_id, tenant_id),
                              lifetime_s=lifetime_s, forged=forged)
        return token

    def verify_arm_token(self, token: str) -> Principal:
        """Raises jwt.InvalidTokenError when the token is not one devcloud issued for ARM."""
        claims = jwt.decode(token, self._key.public_key(), algorithms=["RS256"], audience=list(ARM_AUDIENCES),
                            options={"require": ["exp", "tid", "oid", "appid"]})
        return Principal(claims["tid"], claims["oid"], claims["appid"], claims.get("name", ""), claims)

    # -- HTTP --------------------------------------------------------------------------------
    def register(self, router: Router) -> None:
        router.add("GET", "/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration)
        router.add("GET", "/{tenant}/discovery/v2.0/keys", self.keys)
        router.add("POST", "/{tenant}/oauth2/v2.0/token", self.token)
        router.add("GET", "/msi/token", self.managed_identity_token)

    def _tenant_known(self, tenant: str) -> bool:
        return tenant in self.world.tenants

    def openid_configuration(self, req: Request) -> Response:
        tenant = req.params["tenant"]
        if not self._tenant_known(tenant):
            return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{self._base()}/{tenant}"
        return Response.json(200, {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": "EU",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        })

    def keys(self, req: Request) -> Response:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return Response.json(200, {"keys": [jwk]})

    def token(self, req: Request) -> Response:
        tenant = req.params["tenant"]
        if not self._tenant_known(tenant):
            return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8"), keep_blank_values=True).items()}
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", 70003, "Only client_credentials is supported here.")
        client_id = form.get("client_id", "")
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return _aad_error(400, "invalid_scope", 1002012, f"The provided value for scope {scope} is not valid.")
        app = self.world.application_in_tenant(client_id, tenant)
        if app is None:
            return _aad_error(400, "unauthorized_client", 700016,
                              f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.")
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return _aad_error(400, "invalid_request", 50027, "Invalid client_assertion_type.")
            problem = self._check_assertion(form["client_assertion"], app.federated_identities)
            if problem:
                return _aad_error(401, "invalid_client", 700213, problem)
        elif "client_secret" in form:
            if not secrets.compare_digest(form["client_secret"], app.secret):
                return _aad_error(401, "invalid_client", 7000215,
                                  "Invalid client secret provided. Ensure the secret being sent in the request is "
                                  "the client secret value, not the client secret ID.")
        else:
            return _aad_error(401, "invalid_client", 7000218,
                              "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        audience = scope[: -len("/.default")]
        token, expires_on = self.issue(tenant_id=tenant, client_id=app.client_id, audience=audience, name=app.name,
                                       object_id=principal_object_id(app.client_id, tenant))
        expires_in = max(0, expires_on - int(time.time()) - 1)
        return Response.json(200, {"token_type": "Bearer", "expires_in": expires_in,
                                   "ext_expires_in": expires_in, "access_token": token})

    def _check_assertion(self, assertion: str, trusted: list[str]) -> str | None:
        try:
            claims = jwt.decode(assertion, self._key.public_key(), algorithms=["RS256"], audience=EXCHANGE_AUDIENCE)
        except jwt.InvalidTokenError as exc:
            return f"AADSTS700213: client assertion rejected: {exc}"
        if claims.get("sub") not in trusted:
            return (f"AADSTS700213: No matching federated identity record found for presented assertion "
                    f"subject '{claims.get('sub')}'.")
        return None

    def managed_identity_token(self, req: Request) -> Response:
        """App Service style (IDENTITY_ENDPOINT + IDENTITY_HEADER), api-version 2019-08-01."""
        if req.header("x-identity-header") != self.identity_header:
            return Response.json(401, {"error": "unauthorized", "error_description": "X-IDENTITY-HEADER is missing or wrong"})
        resource = req.query.get("resource", "")
        client_id = req.query.get("client_id")
        mi = self.world.identity(client_id=client_id) if client_id else (
            self.world.managed_identities[0] if len(self.world.managed_identities) == 1 else None)
        if mi is None or not resource:
            return Response.json(400, {"error": "invalid_request",
                                       "error_description": "Unknown managed identity or missing resource"})
        audience = resource.removesuffix("/.default")
        issuer = f"{self._base()}/{mi.tenant_id}/v2.0" if audience == EXCHANGE_AUDIENCE else None
        token, expires_on = self.issue(tenant_id=mi.tenant_id, client_id=mi.client_id, object_id=mi.principal_id,
                                       audience=audience, name=mi.name, idtyp="app", issuer=issuer)
        return Response.json(200, {"access_token": token, "expires_on": str(expires_on), "resource": resource,
                                   "token_type": "Bearer", "client_id": mi.client_id})


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    return Response.json(status, {
        "error": error,
        "error_description": f"AADSTS{code}: {description}" if not description.startswith("AADSTS") else description,
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4()),
    })
