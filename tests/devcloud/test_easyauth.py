"""devcloud's Entra app roles and the local Functions host playing App Service Authentication.

A throwaway API registration (app roles, one assignment) is added to the session's world for these
tests and removed afterwards; the app is a two-function app written to a temporary directory.
"""

from __future__ import annotations

import base64
import json
import textwrap

import jwt
import pytest
import requests
from azure.identity import ClientSecretCredential

from devcloud.easyauth import ROLE_TYPE
from devcloud.funchost import FunctionHost
from devcloud.world import HUB_TENANT, SPOKE_TENANT, Application, AppRoleAssignment, principal_object_id

API_ID, CALLER_ID, STRANGER_ID = (
    "d0d0d0d0-0000-4000-8000-0000000000a1",
    "d0d0d0d0-0000-4000-8000-0000000000c1",
    "d0d0d0d0-0000-4000-8000-0000000000c2",
)
AUDIENCE = f"api://{API_ID}"
EVENTGRID_KEY = "egk-easyauth"
APP = '''
import json
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
SEEN = []


@app.route(route="whoami", methods=["GET"])
def whoami(req: func.HttpRequest) -> func.HttpResponse:
    SEEN.append(dict(req.headers))
    headers = {k: v for k, v in req.headers.items() if k.lower().startswith("x-ms-")}
    return func.HttpResponse(json.dumps(headers), mimetype="application/json")


@app.event_grid_trigger(arg_name="event")
def on_event(event: func.EventGridEvent) -> None:
    SEEN.append({"event": event.id})
'''


@pytest.fixture
def api(cloud):
    """A sample API with two app roles; `sample-caller` holds one, `sample-stranger` none."""
    world = cloud.world
    added = [
        Application("sample-api", API_ID, "s-api", HUB_TENANT, tenants=[HUB_TENANT], identifier_uris=[AUDIENCE],
                    app_roles=[{"id": "1", "value": "Sample.Read"}, {"id": "2", "value": "Sample.Write"}]),
        Application("sample-caller", CALLER_ID, "s-caller", HUB_TENANT),
        Application("sample-stranger", STRANGER_ID, "s-stranger", HUB_TENANT),
    ]
    grants = [AppRoleAssignment("sample-caller", "sample-api", "Sample.Read"),
              AppRoleAssignment("sample-caller", "sample-api", "Not.Defined")]  # a role the API does not define
    world.applications += added
    world.app_role_assignments += grants
    yield
    for a in added:
        world.applications.remove(a)
    for g in grants:
        world.app_role_assignments.remove(g)


def token(cloud, client_id: str, secret: str, scope: str = AUDIENCE + "/.default", tenant: str = HUB_TENANT) -> str:
    cred = ClientSecretCredential(tenant, client_id, secret, authority=cloud.url, disable_instance_discovery=True,
                                  connection_verify=cloud.certs.ca_bundle, retry_total=0)
    return cred.get_token(scope).token


def claims(t: str) -> dict:
    return jwt.decode(t, options={"verify_signature": False})


def test_tokens_for_an_api_carry_the_app_roles_granted_in_its_tenant(cloud, api):
    mine = claims(token(cloud, CALLER_ID, "s-caller"))
    assert mine["roles"] == ["Sample.Read"] and mine["aud"] == AUDIENCE
    assert "roles" not in claims(token(cloud, STRANGER_ID, "s-stranger"))
    assert "roles" not in claims(token(cloud, CALLER_ID, "s-caller", "https://management.azure.com/.default"))
    assert "roles" not in claims(token(cloud, CALLER_ID, "s-caller", tenant=SPOKE_TENANT))  # grants live in the API's tenant
    by_client_id = claims(token(cloud, CALLER_ID, "s-caller", f"{API_ID}/.default"))
    assert by_client_id["roles"] == ["Sample.Read"]


@pytest.fixture
def host(cloud, api, tmp_path):
    (tmp_path / "function_app.py").write_text(textwrap.dedent(APP))
    settings = {
        "WEBSITE_AUTH_ENABLED": "true",
        "WEBSITE_AUTH_OPENID_ISSUER": f"{cloud.url}/{HUB_TENANT}/v2.0",
        "WEBSITE_AUTH_CLIENT_ID": API_ID,
        "WEBSITE_AUTH_EXCLUDED_PATHS": "/runtime/webhooks/eventgrid",
        "FUNCHOST_AUTH_CA_BUNDLE": cloud.certs.ca_bundle,
    }
    with FunctionHost(str(tmp_path), app_settings=settings, function_key="f", master_key="m", eventgrid_key=EVENTGRID_KEY,
                      ssl_context=cloud.certs.server_context()) as h:
        yield h


def whoami(cloud, host, bearer: str | None, **headers: str) -> requests.Response:
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    return requests.get(f"{host.url}/api/whoami", headers=headers, verify=cloud.certs.ca_bundle, timeout=10)


def test_a_verified_token_reaches_the_app_with_the_platform_headers_only(cloud, host):
    t = token(cloud, CALLER_ID, "s-caller")
    resp = whoami(cloud, host, t, **{"X-MS-CLIENT-PRINCIPAL-NAME": "mallory", "X-MS-TOKEN-AAD-ACCESS-TOKEN": "x"})
    assert resp.status_code == 200, resp.text
    seen = {k.lower(): v for k, v in resp.json().items()}
    oid = principal_object_id(CALLER_ID, HUB_TENANT)
    assert (seen["x-ms-client-principal-id"], seen["x-ms-client-principal-name"], seen["x-ms-client-principal-idp"]) == (
        oid, "sample-caller", "aad")
    assert "x-ms-token-aad-access-token" not in seen
    principal = json.loads(base64.b64decode(seen["x-ms-client-principal"]))
    assert principal["auth_typ"] == "aad" and principal["role_typ"] == ROLE_TYPE
    typed = {(c["typ"], c["val"]) for c in principal["claims"]}
    assert (ROLE_TYPE, "Sample.Read") in typed
    assert ("http://schemas.microsoft.com/identity/claims/objectidentifier", oid) in typed
    assert ("http://schemas.microsoft.com/identity/claims/tenantid", HUB_TENANT) in typed


def test_what_app_service_authentication_refuses_never_reaches_the_app(cloud, host, monkeypatch):
    good = token(cloud, CALLER_ID, "s-caller")
    refused = {
        "no token": None,
        "not a JWT": "not-a-jwt",
        "expired": cloud.identity.mint(client_id=CALLER_ID, tenant_id=HUB_TENANT, audience=AUDIENCE, lifetime_s=-60),
        "forged signature": cloud.identity.mint(client_id=CALLER_ID, tenant_id=HUB_TENANT, audience=AUDIENCE, forged=True),
        "another audience": token(cloud, CALLER_ID, "s-caller", "https://management.azure.com/.default"),
        "another tenant": token(cloud, CALLER_ID, "s-caller", tenant=SPOKE_TENANT),
    }
    for why, bearer in refused.items():
        resp = whoami(cloud, host, bearer)
        assert resp.status_code == 401, why
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="127.0.0.1"', why  # all App Service says
    assert host.module.SEEN == [], "a refused request reached the function"
    assert [why for _, _, why in host.easy_auth.refused] and len(host.easy_auth.refused) == len(refused)
    assert whoami(cloud, host, good).status_code == 200


def test_the_excluded_webhook_keeps_its_system_key(cloud, host):
    url = f"{host.url}/runtime/webhooks/eventgrid?functionName=on_event&code={EVENTGRID_KEY}"
    event = [{"id": "e1", "topic": "/subscriptions/x", "subject": "s", "eventType": "T", "eventTime": "2026-01-01T00:00:00Z",
              "data": {}, "dataVersion": "1", "metadataVersion": "1"}]
    headers = {"aeg-event-type": "Notification"}
    assert requests.post(url, json=event, headers=headers, verify=cloud.certs.ca_bundle, timeout=10).status_code == 202
    wrong = url.replace(EVENTGRID_KEY, "nope")
    assert requests.post(wrong, json=event, headers=headers, verify=cloud.certs.ca_bundle, timeout=10).status_code == 401
    assert host.module.SEEN == [{"event": "e1"}]
