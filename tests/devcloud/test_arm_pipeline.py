"""ARM's front door in devcloud: what it refuses, how it throttles, every fault it injects, and what it records.

Calls go to dummy routes this module registers (namespace Devcloud.PipelineTest), with tokens from
azure-identity, so only the pipeline is under test.
"""

from __future__ import annotations

import random
import time

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential
from cryptography.hazmat.primitives.asymmetric import rsa

from devcloud.arm import FaultRule
from devcloud.httpserver import Response
from devcloud.world import (
    ADMIN_CLIENT_ID,
    HUB_SUBSCRIPTION,
    HUB_TENANT,
    SPOKE_SUBSCRIPTION_B1,
    SPOKE_TENANT,
    principal_object_id,
)
from stack.world import PRODUCT_CLIENT_ID

GADGETS = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Devcloud.PipelineTest/gadgets"
READ = "Devcloud.PipelineTest/gadgets/read"
WRITE = "Devcloud.PipelineTest/gadgets/write"
REBUILD = "Devcloud.PipelineTest/gadgets/rebuild/action"
API = {"api-version": "2024-01-01"}
SECRETS = {ADMIN_CLIENT_ID: "devcloud-admin-secret", PRODUCT_CLIENT_ID: "devcloud-hublink-secret"}
ARM = "https://management.azure.com/.default"


class Gadgets:
    """Dummy resource routes: read, write, and a long-running rebuild action."""

    def __init__(self, cloud) -> None:
        self.failed: list[dict] = []
        arm = cloud.arm
        arm.route("GET", GADGETS + "/{name}", self.get, action=READ)
        arm.route("PUT", GADGETS + "/{name}", self.get, action=WRITE)
        arm.route("POST", GADGETS + "/{name}/rebuild", self.rebuild, action=REBUILD, kind="action")

    def get(self, ctx):
        return Response.json(200, {"id": ctx.request.path, "name": ctx.params["name"]})

    def rebuild(self, ctx):
        op = ctx.arm.operations.start(ctx, "Devcloud.PipelineTest", "westeurope", 0.05, complete=lambda: None,
                                      fail=self.failed.append)
        return Response.empty(202, ctx.arm.operations.headers(ctx, op, location=True))


@pytest.fixture(scope="module")
def gadgets(cloud_session):
    return Gadgets(cloud_session)


@pytest.fixture(scope="module")
def tokens(cloud_session):
    creds: dict[tuple[str, str], ClientSecretCredential] = {}

    def get(client_id: str = ADMIN_CLIENT_ID, tenant: str = HUB_TENANT) -> str:
        if (client_id, tenant) not in creds:
            creds[client_id, tenant] = ClientSecretCredential(
                tenant, client_id, SECRETS[client_id], authority=cloud_session.url, disable_instance_discovery=True,
                connection_verify=cloud_session.certs.ca_bundle, retry_total=0)
        return creds[client_id, tenant].get_token(ARM).token

    return get


@pytest.fixture
def http(cloud, gadgets):
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
    s.verify = cloud.certs.ca_bundle
    yield s
    s.close()


def gadget_url(cloud, sub: str = HUB_SUBSCRIPTION, name: str = "g1", rg: str = "rg-gadgets") -> str:
    return f"{cloud.url}/subscriptions/{sub}/resourceGroups/{rg}/providers/Devcloud.PipelineTest/gadgets/{name}"


def get(http, cloud, token: str | None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(gadget_url(cloud, **kwargs), params=API, headers=headers, timeout=10)


def error_code(r: requests.Response) -> str:
    return r.json()["error"]["code"]


# -- refusals ------------------------------------------------------------------------------------
def test_success_carries_request_ids(cloud, http, tokens):
    r = get(http, cloud, tokens())
    assert r.status_code == 200 and r.json()["name"] == "g1"
    assert r.headers["x-ms-request-id"] and r.headers["x-ms-correlation-request-id"]


def test_missing_api_version(cloud, http, tokens):
    r = http.get(gadget_url(cloud), headers={"Authorization": f"Bearer {tokens()}"})
    assert (r.status_code, error_code(r)) == (400, "MissingApiVersionParameter")


def test_missing_invalid_forged_and_expired_tokens(cloud, http, tokens, monkeypatch):
    r = get(http, cloud, None)
    assert (r.status_code, error_code(r)) == (401, "AuthenticationFailed")
    r = get(http, cloud, "not-a-jwt")
    assert (r.status_code, error_code(r)) == (401, "InvalidAuthenticationToken")
    forged = jwt.encode(jwt.decode(tokens(), options={"verify_signature": False}),
                        rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
    r = get(http, cloud, forged)
    assert (r.status_code, error_code(r)) == (401, "InvalidAuthenticationToken")
    graph, _ = cloud.identity.issue(tenant_id=HUB_TENANT, client_id=ADMIN_CLIENT_ID, name="admin", audience="https://graph.microsoft.com",
                                    object_id=principal_object_id(ADMIN_CLIENT_ID, HUB_TENANT))
    r = get(http, cloud, graph)
    assert (r.status_code, error_code(r)) == (401, "InvalidAuthenticationToken")
    assert "audience" in r.json()["error"]["message"].lower()
    expired, _ = cloud.identity.issue(tenant_id=HUB_TENANT, client_id=ADMIN_CLIENT_ID, name="admin",
                                      audience="https://management.azure.com", lifetime_s=-10,
                                      object_id=principal_object_id(ADMIN_CLIENT_ID, HUB_TENANT))
    r = get(http, cloud, expired)
    assert (r.status_code, error_code(r)) == (401, "ExpiredAuthenticationToken")


def test_token_from_the_wrong_tenant(cloud, http, tokens):
    r = get(http, cloud, tokens(ADMIN_CLIENT_ID, SPOKE_TENANT), sub=HUB_SUBSCRIPTION)
    assert (r.status_code, error_code(r)) == (401, "InvalidAuthenticationTokenTenant")
    assert f"It must match the tenant 'https://sts.windows.net/{HUB_TENANT}/'" in r.json()["error"]["message"]


def test_unknown_subscription(cloud, http, tokens):
    r = get(http, cloud, tokens(), sub="99999999-0000-4000-8000-000000000000")
    assert (r.status_code, error_code(r)) == (404, "SubscriptionNotFound")


def test_product_without_the_role_is_forbidden(cloud, http, tokens):
    r = get(http, cloud, tokens(PRODUCT_CLIENT_ID, SPOKE_TENANT), sub=SPOKE_SUBSCRIPTION_B1)
    assert (r.status_code, error_code(r)) == (403, "AuthorizationFailed")
    scope = gadget_url(cloud, sub=SPOKE_SUBSCRIPTION_B1).removeprefix(cloud.url)
    oid = principal_object_id(PRODUCT_CLIENT_ID, SPOKE_TENANT)
    assert f"The client '{oid}' with object id '{oid}' does not have authorization to perform action '{READ}' " \
           f"over scope '{scope}'" in r.json()["error"]["message"]
    assert ("hublink" not in cloud.arm.actions) or all(a != READ for a, _ in cloud.arm.actions["hublink"])


# -- throttling ----------------------------------------------------------------------------------
def test_throttling_then_recovery(cloud, http, tokens, monkeypatch):
    monkeypatch.setitem(cloud.arm.limits, "read", (2, 3.0))  # two reads, then one more every 0.33 s
    cloud.arm.reset_throttling()
    token = tokens()
    remaining = [get(http, cloud, token).headers["x-ms-ratelimit-remaining-subscription-reads"] for _ in range(2)]
    assert remaining == ["1", "0"]
    r = get(http, cloud, token)
    assert (r.status_code, error_code(r)) == (429, "SubscriptionRequestsThrottled")
    assert r.headers["Retry-After"] == "1"
    assert r.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    w = http.put(gadget_url(cloud), params=API, json={}, headers={"Authorization": f"Bearer {token}"})
    assert w.status_code == 200 and "x-ms-ratelimit-remaining-subscription-writes" in w.headers  # own bucket
    time.sleep(0.35)  # one token back
    assert get(http, cloud, token).status_code == 200
    cloud.arm.reset_throttling()


def test_every_answer_says_what_is_left_in_its_bucket(cloud, http, tokens, monkeypatch):
    """Reads, writes and POST actions each carry their own count and its global-* variant, exactly
    as devcloud's token bucket for (subscription, principal, kind) stands after the request."""
    monkeypatch.setitem(cloud.arm.limits, "write", (5, 0.0))  # no refill: the count is exact
    monkeypatch.setitem(cloud.arm.limits, "read", (7, 0.0))
    cloud.arm.reset_throttling()
    token = tokens()
    auth = {"Authorization": f"Bearer {token}"}
    prefix = "x-ms-ratelimit-remaining-subscription-"
    put = http.put(gadget_url(cloud), params=API, json={}, headers=auth)
    action = http.post(gadget_url(cloud) + "/rebuild", params=API, headers=auth)
    read = get(http, cloud, token)
    assert (put.headers[prefix + "writes"], put.headers[prefix + "global-writes"]) == ("4", "4")
    assert (action.headers[prefix + "writes"], action.headers[prefix + "global-writes"]) == ("3", "3")
    assert (read.headers[prefix + "reads"], read.headers[prefix + "global-reads"]) == ("6", "6")
    assert prefix + "reads" not in put.headers and prefix + "writes" not in read.headers
    cloud.arm.reset_throttling()


# -- faults --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "retry_after", "code", "header"), [
    (429, None, "TooManyRequests", "1"),
    (429, 7, "TooManyRequests", "7"),
    (500, None, "InternalServerError", None),
    (503, 3, "ServiceUnavailable", "3"),
    (409, None, "AnotherOperationInProgress", None),
    (404, None, "ResourceNotFound", None),
])
def test_status_faults(cloud, http, tokens, status, retry_after, code, header):
    cloud.arm.faults.append(FaultRule(id="f", path="/gadgets/g1$", status=status, retry_after=retry_after))
    r = get(http, cloud, tokens())
    assert (r.status_code, error_code(r), r.headers.get("Retry-After")) == (status, code, header)
    assert get(http, cloud, tokens(), name="g2").status_code == 200  # path does not match
    [entry] = cloud.arm.entries(status=status)
    assert entry.fault == "f:status"


def test_fault_filters_on_method_principal_and_custom_code(cloud, http, tokens):
    cloud.arm.faults.append(FaultRule(id="put-only", method="PUT", status=409, code="Conflict", message="busy"))
    cloud.arm.faults.append(FaultRule(id="hublink-only", principal="hublink", status=500))
    assert get(http, cloud, tokens()).status_code == 200
    r = http.put(gadget_url(cloud), params=API, json={}, headers={"Authorization": f"Bearer {tokens()}"})
    assert (r.status_code, r.json()["error"]) == (409, {"code": "Conflict", "message": "busy"})
    r = get(http, cloud, tokens(PRODUCT_CLIENT_ID, SPOKE_TENANT), sub=SPOKE_SUBSCRIPTION_B1)
    assert r.status_code == 500  # faults run before authorization, as a failing front end would


def test_drop_connection(cloud, http, tokens):
    cloud.arm.faults.append(FaultRule(id="d", action="drop", path="/gadgets/"))
    with pytest.raises(requests.ConnectionError):
        get(http, cloud, tokens())
    [entry] = cloud.arm.entries(fault="d:drop")
    assert entry.status == 0 and entry.method == "GET"


def test_latency_fault_and_global_latency(cloud, http, tokens):
    token = tokens()
    cloud.arm.faults.append(FaultRule(id="slow", action="latency", latency_s=0.2, times=1, path="/gadgets/"))
    started = time.monotonic()
    assert get(http, cloud, token).status_code == 200
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    assert get(http, cloud, token).status_code == 200
    assert time.monotonic() - started < 0.2
    cloud.arm.latency_s = 0.1
    started = time.monotonic()
    assert get(http, cloud, token).status_code == 200
    assert time.monotonic() - started >= 0.1


def test_fault_n_times(cloud, http, tokens):
    rule = FaultRule(id="twice", status=503, times=2, path="/gadgets/")
    cloud.arm.faults.append(rule)
    assert [get(http, cloud, tokens()).status_code for _ in range(4)] == [503, 503, 200, 200]
    assert rule.hits == 2


def test_fault_probability(cloud, http, tokens):
    random.seed(1234)
    rule = FaultRule(id="half", status=500, probability=0.5, path="/gadgets/")
    cloud.arm.faults.append(rule)
    statuses = [get(http, cloud, tokens()).status_code for _ in range(40)]
    assert set(statuses) == {200, 500}
    assert 8 <= statuses.count(500) <= 32 and rule.hits == statuses.count(500)
    rule.probability = 0.0
    assert all(get(http, cloud, tokens()).status_code == 200 for _ in range(5))


def poll(http, url: str, token: str) -> dict:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        body = http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        if body["status"] != "InProgress":
            return body
        time.sleep(0.02)
    raise AssertionError("operation did not finish")


@pytest.mark.parametrize("inject", [False, True])
def test_lro_succeeds_or_fails_on_lro_failed_fault(cloud, http, tokens, gadgets, inject):
    token = tokens()
    if inject:
        cloud.arm.faults.append(FaultRule(id="lro", action="lro_failed", code="InternalOperationError",
                                          message="rebuild failed", path="/rebuild$"))
    gadgets.failed.clear()
    r = http.post(gadget_url(cloud) + "/rebuild", params=API, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 202
    assert r.headers["Azure-AsyncOperation"].startswith(
        f"{cloud.url}/subscriptions/{HUB_SUBSCRIPTION}/providers/Devcloud.PipelineTest/locations/westeurope/operations/")
    assert r.headers["Retry-After"] == "10"
    status = poll(http, r.headers["Azure-AsyncOperation"], token)
    result = http.get(r.headers["Location"], headers={"Authorization": f"Bearer {token}"})
    if inject:
        assert (status["status"], status["error"]) == ("Failed", {"code": "InternalOperationError", "message": "rebuild failed"})
        assert gadgets.failed == [{"code": "InternalOperationError", "message": "rebuild failed"}]
        assert (result.status_code, error_code(result)) == (400, "InternalOperationError")
    else:
        assert status["status"] == "Succeeded" and "endTime" in status and gadgets.failed == []
        assert result.status_code == 204


# -- the token endpoint --------------------------------------------------------------------------
def test_faults_on_the_token_endpoint(cloud, http):
    cloud.arm.faults.append(FaultRule(id="entra", path="/oauth2/v2.0/token$", status=401, times=1))
    cred = ClientSecretCredential(HUB_TENANT, ADMIN_CLIENT_ID, SECRETS[ADMIN_CLIENT_ID], authority=cloud.url,
                                  disable_instance_discovery=True, connection_verify=cloud.certs.ca_bundle, retry_total=0)
    with pytest.raises(ClientAuthenticationError, match="AADSTS50000"):
        cred.get_token(ARM)
    assert cred.get_token(ARM).token  # times=1: Entra is back
    [entry] = cloud.arm.entries(fault="entra:status")
    assert (entry.status, entry.kind) == (401, "identity")

    cloud.arm.faults.append(FaultRule(id="entra-down", path="/oauth2/v2.0/token$", status=503, retry_after=5))
    r = http.post(f"{cloud.url}/{HUB_TENANT}/oauth2/v2.0/token", data={"grant_type": "client_credentials"})
    assert (r.status_code, r.json()["error"], r.headers["Retry-After"]) == (503, "temporarily_unavailable", "5")


# -- what ARM records ----------------------------------------------------------------------------
def test_request_log_and_recorded_actions(cloud, http, tokens):
    admin = tokens()
    product = tokens(PRODUCT_CLIENT_ID, SPOKE_TENANT)
    get(http, cloud, admin)
    http.put(gadget_url(cloud, name="g9"), params={"api-version": "2023-02-01"}, json={},
             headers={"Authorization": f"Bearer {admin}"})
    get(http, cloud, product, sub=SPOKE_SUBSCRIPTION_B1)
    get(http, cloud, None)
    log = cloud.arm.entries()
    assert [(e.method, e.principal, e.status, e.kind, e.action) for e in log] == [
        ("GET", "admin", 200, "read", READ), ("PUT", "admin", 200, "write", WRITE),
        ("GET", "hublink", 403, "read", READ), ("GET", None, 401, "read", None)]
    first = log[0]
    assert (first.template, first.api_version, first.tenant, first.object_id) == (
        GADGETS + "/{name}", "2024-01-01", HUB_TENANT, principal_object_id(ADMIN_CLIENT_ID, HUB_TENANT))
    assert log[1].api_version == "2023-02-01" and log[2].tenant == SPOKE_TENANT
    assert [e.seq for e in log] == sorted(e.seq for e in log)
    scope = gadget_url(cloud).removeprefix(cloud.url).rsplit("/", 1)[0]
    assert cloud.arm.actions == {"admin": {(READ, f"{scope}/g1"), (WRITE, f"{scope}/g9")}}  # refused calls not recorded
