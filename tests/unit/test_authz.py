"""shared.authz on its own: the principal App Service Authentication passes, nested roles, failing closed."""

from __future__ import annotations

import base64
import json

import pytest

from shared.authz import APPROVER, LOCAL_DEVELOPER, OPERATOR, READER, authorize, verified_caller
from shared.errors import Refused

OID = "0a0a0a0a-0000-4000-8000-0000000000b0"
TID = "a1a1a1a1-0000-4000-8000-000000000001"
ON = {"WEBSITE_AUTH_ENABLED": "true"}


def principal(*claims: tuple[str, str], role_typ: str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role") -> dict:
    body = {"auth_typ": "aad", "claims": [{"typ": t, "val": v} for t, v in claims], "role_typ": role_typ}
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(body).encode()).decode()}


def app_with(*roles: str) -> dict:
    return principal(
        ("http://schemas.microsoft.com/identity/claims/objectidentifier", OID),
        ("http://schemas.microsoft.com/identity/claims/tenantid", TID),
        ("idtyp", "app"),
        ("appid", "c0c0c0c0-0000-4000-8000-0000000000ff"),
        ("name", "pipeline"),
        *(("http://schemas.microsoft.com/ws/2008/06/identity/claims/role", r) for r in roles),
    )


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (READER, READER, True),
        (READER, OPERATOR, False),
        (OPERATOR, READER, True),
        (OPERATOR, APPROVER, False),
        (APPROVER, READER, True),
        (APPROVER, OPERATOR, True),
        ("HubLink.Admin", READER, False),  # not a role the product defines
    ],
)
def test_roles_nest(held, needed, allowed):
    if allowed:
        assert authorize(app_with(held), needed, ON).object_id == OID
    else:
        with pytest.raises(Refused) as err:
            authorize(app_with(held), needed, ON)
        assert (err.value.status, err.value.code) == (403, "Forbidden") and needed in str(err.value)


def test_the_verified_identity_of_an_application_and_of_a_user():
    app = verified_caller(app_with(APPROVER))
    assert (app.object_id, app.tenant_id, app.name, app.kind, app.roles) == (OID, TID, "pipeline", "application", {APPROVER})
    user = verified_caller(
        principal(
            ("http://schemas.microsoft.com/identity/claims/objectidentifier", OID),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "alice@contoso.com"),
            ("name", "Alice"),
            ("roles", READER),  # a principal whose role_typ is the short name
            role_typ="roles",
        )
    )
    assert (user.kind, user.name, user.roles) == ("user", "alice@contoso.com", {READER})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-MS-CLIENT-PRINCIPAL-NAME": "mallory", "X-MS-CLIENT-PRINCIPAL-ID": OID},  # the conveniences prove nothing
        {"X-MS-CLIENT-PRINCIPAL": "not base64!"},
        {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"[1, 2]").decode()},
        principal(("name", "no object id")),
    ],
)
def test_no_verified_principal_is_401(headers):
    with pytest.raises(Refused) as err:
        authorize(headers, READER, ON)
    assert (err.value.status, err.value.code) == (401, "Unauthenticated")


def test_fails_closed_without_app_service_authentication():
    for env in ({}, {"WEBSITE_AUTH_ENABLED": "false"}, {"HUBLINK_API_AUTH": "easyauth"}):
        with pytest.raises(Refused) as err:
            authorize(app_with(APPROVER), READER, env)
        assert (err.value.status, err.value.code) == (401, "AuthenticationNotConfigured")
    assert authorize({}, APPROVER, {"HUBLINK_API_AUTH": "local-unauthenticated"}) is LOCAL_DEVELOPER
    # Behind App Service Authentication the local switch changes nothing: the platform's principal decides.
    with pytest.raises(Refused):
        authorize({}, READER, {**ON, "HUBLINK_API_AUTH": "local-unauthenticated"})
