"""Security properties, checked against devcloud's own records rather than the product's word.

- Someone else's pending connection is never approved, whatever faults or races happen: after each
  scenario every Approved connection on every cluster belongs to an endpoint the product created.
- A token for the wrong tenant, or a missing role, is a clear terminal error and leaves nothing behind.
- The HTTP routes refuse calls without the function key (through the local Functions host).
- No log line and no notice carries a token, a client secret, a storage key or a host key.
"""

from __future__ import annotations

import json
import logging
import threading

import pytest
import requests

from devcloud.arm import FaultRule
from devcloud.world import HUB_TENANT, SPOKE_SUBSCRIPTION_A, SPOKE_SUBSCRIPTION_B1, SPOKE_TENANT
from reliability import figures
from shared.ids import ClusterId
from shared.model import Phase
from tests.reliability.harness import Census, drive, notices_for
from tests.reliability.stack import Stack

ROUTES = [("POST", "links/reconcile"), ("GET", "links"), ("GET", f"links/{SPOKE_SUBSCRIPTION_B1}/rg-aks/aks-x"),
          ("POST", "links/approve"), ("POST", "connections/approve"), ("POST", "connections/reject"), ("GET", "hubs")]


def _foreign_statuses(op, cluster_id: str, foreign_ids: set[str]) -> list[str]:
    return [c.private_link_service_connection_state.status for c in op.connections(cluster_id)
            if c.private_endpoint.id.lower() in foreign_ids]


def _twin(op, cluster_id: str):
    """Someone else's endpoint with exactly our endpoint's name, in another subscription."""
    from azure.mgmt.network.models import PrivateEndpoint, PrivateLinkServiceConnection, Subnet

    name = ClusterId.parse(cluster_id).endpoint_name
    body = PrivateEndpoint(location="westeurope", subnet=Subnet(id=op.cloud.world.hub["subnet_id"]),
                           manual_private_link_service_connections=[PrivateLinkServiceConnection(
                               name=name, private_link_service_id=cluster_id, group_ids=["management"])])
    return op.network(SPOKE_SUBSCRIPTION_A).private_endpoints.begin_create_or_update("rg-aks", name, body).result()


# -- foreign connections -----------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["before", "during provisioning", "same name elsewhere", "faults", "stop-start",
                                      "racing reconciles"])
def test_foreign_connection_is_never_approved(cloud, op, make, scenario):
    rec = make()
    cluster_id = op.create_cluster()
    foreign = []
    if scenario in ("before", "faults", "racing reconciles"):
        foreign.append(op.create_foreign_endpoint(cluster_id))
    if scenario == "same name elsewhere":
        foreign.append(_twin(op, cluster_id))
    if scenario == "faults":  # approvals and listings fail at random while both connections are pending
        cloud.arm.faults += [FaultRule(id="sec-list", method="GET", path=r"/privateEndpointConnections$", status=500,
                                       probability=0.5, principal="hublink", times=6),
                             FaultRule(id="sec-put", method="PUT", path=r"/privateEndpointConnections/", action="drop",
                                       probability=0.5, principal="hublink", times=6)]
    if scenario == "during provisioning":
        cloud.arm.lro_seconds["privateEndpoints/create"] = 1.5
        first = rec.reconcile(cluster_id, budget_s=1.2)
        assert first.phase is Phase.PROVISIONING
        foreign.append(op.create_foreign_endpoint(cluster_id))
    if scenario == "racing reconciles":
        threads = [threading.Thread(target=rec.reconcile, args=(cluster_id,)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    final = drive(rec, cluster_id)[-1]
    if scenario == "stop-start":
        op.stop_start(cluster_id)
        foreign.append(op.create_foreign_endpoint(cluster_id))
        final = drive(rec, cluster_id)[-1]
    assert final.phase is Phase.READY, final.message
    census = Census.take(cloud)
    assert census.foreign_approvals() == [], census.foreign_approvals()
    assert _foreign_statuses(op, cluster_id, {f.id.lower() for f in foreign}) == ["Pending"] * len(foreign)
    for f in foreign:
        parts = f.id.split("/")
        op.network(parts[2]).private_endpoints.begin_delete(parts[4], f.name).result()
    op.delete_cluster(cluster_id)
    assert drive(rec, cluster_id)[-1].phase is Phase.ABSENT
    figures.record("security", check=f"foreign connection never approved ({scenario})", result="pass",
                   detail=f"{len(foreign)} foreign pending, {len(census.approved)} approved in total, all ours")


# -- wrong tenant, missing role ----------------------------------------------------------------------
def _nothing_of_ours(cloud, cluster_id: str) -> None:
    census = Census.take(cloud)
    assert census.endpoints_for(cluster_id) == [] and census.records_for(cluster_id) == []
    writes = [e for e in cloud.arm.entries(principal="hublink") if e.method in ("PUT", "DELETE") and e.status < 300]
    assert writes == [], "partial state: the product wrote before failing"


@pytest.mark.parametrize("case", ["spoke token for the wrong tenant", "hub token for the wrong tenant"])
def test_wrong_tenant_is_terminal_and_leaves_nothing(cloud, op, make, sink, case):
    cluster_id = op.create_cluster()
    if case.startswith("spoke"):
        rec = make(HUBLINK_SPOKES=json.dumps({SPOKE_SUBSCRIPTION_B1: HUB_TENANT}))
    else:
        rec = make(HUBLINK_HUB_TENANT_ID=SPOKE_TENANT)
    cloud.arm.clear_log()
    outcome = drive(rec, cluster_id)[-1]
    assert outcome.phase is Phase.FAILED and outcome.terminal, outcome.message
    assert "InvalidAuthenticationTokenTenant" in outcome.message
    assert "link.failed" in [n["type"] for n in notices_for(sink, cluster_id)]
    _nothing_of_ours(cloud, cluster_id)
    op.delete_cluster(cluster_id)
    figures.record("security", check=case, result="pass", detail=f"terminal: {outcome.message[:90]}...")


@pytest.mark.parametrize("role,action", [
    ("HubLink Hub Operator", "Microsoft.Network/privateEndpoints/write"),
    ("HubLink Hub Operator", "Microsoft.Network/virtualNetworks/subnets/join/action"),
    ("HubLink Spoke Approver", "Microsoft.ContainerService/managedClusters/read"),
])
def test_missing_role_is_terminal_names_the_action_and_leaves_nothing(cloud, op, make, sink, role, action):
    actions = cloud.world.roles[role].actions
    saved = list(actions)
    actions.remove(action)
    try:
        cluster_id = op.create_cluster()
        rec = make()
        cloud.arm.clear_log()
        outcome = drive(rec, cluster_id)[-1]
    finally:
        actions[:] = saved
    assert outcome.phase is Phase.FAILED and outcome.terminal, outcome.message
    assert action in outcome.message
    assert "link.failed" in [n["type"] for n in notices_for(sink, cluster_id)]
    _nothing_of_ours(cloud, cluster_id)
    assert drive(rec, cluster_id)[-1].phase is Phase.READY, "granting the role back and retrying completes the link"
    op.delete_cluster(cluster_id)
    assert drive(rec, cluster_id)[-1].phase is Phase.ABSENT
    figures.record("security", check=f"missing {action.split('/', 1)[1]}", result="pass",
                   detail="terminal, names the action, nothing written; Ready once granted")


# -- the local Functions host: keys, and secrets in logs and notices ---------------------------------
@pytest.fixture(scope="module")
def stack():
    s = Stack().start()
    yield s
    s.stop()


def test_http_routes_need_a_token_not_a_key(stack):
    remote = stack.remote
    eventgrid_key = stack.info["eventgrid_webhook"].split("code=")[-1]
    refused = 0
    for method, route in ROUTES:
        for key in (None, "wrong-key", eventgrid_key, "function", stack.info["master_key"]):
            resp = remote.api(method, route, caller=None, key=key, json={"clusterId": "x"})
            assert resp.status_code == 401, (method, route, key, resp.status_code)
            refused += 1
        assert remote.api(method, route, json={"clusterId": "x"}).status_code not in (401, 403)
    webhook = stack.info["eventgrid_webhook"].replace(eventgrid_key, stack.info["function_key"])
    resp = requests.post(webhook, data="[]", headers={"aeg-event-type": "Notification"}, verify=stack.cloud.certs.ca_bundle,
                         timeout=10)
    assert resp.status_code == 401, "the Event Grid webhook takes only its system key"
    figures.record("security", check="HTTP routes without an Entra ID token (local host)", result="pass",
                   detail=f"{refused + 1} calls refused 401 (no token: no key, a wrong one, the Event Grid, function "
                          "or master key; webhook w/ function key)")


def test_no_secret_in_logs_or_notices(stack, caplog):
    """A run with every kind of notice and error path, then every secret of the run looked for everywhere."""
    from devcloud.client import Operator

    cloud, op = stack.cloud, Operator(stack.cloud)
    caplog.set_level(logging.DEBUG)  # the in-process side too: devcloud, the SDKs, the operator
    ok = op.create_cluster()
    op.create_foreign_endpoint(ok)
    for caller in ("approver", "reader"):  # the test's own API tokens, before the token endpoint fails once
        stack.remote.api_token(caller)
    role = cloud.world.roles["HubLink Spoke Approver"].actions
    role.remove("Microsoft.ContainerService/managedClusters/privateEndpointConnections/write")
    cloud.arm.faults.append(FaultRule(id="sec-500", status=500, probability=0.3, principal="hublink", times=20))
    cloud.arm.faults.append(FaultRule(id="sec-token", method="POST", path=r"/oauth2/v2\.0/token$", status=401, times=1))
    try:
        failing = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_A)
        stack.remote.api("POST", "links/reconcile", json={"clusterId": failing})
        _wait(lambda: (stack.remote.link(failing) or {}).get("phase") == "Failed", "a Failed link")
    finally:
        role.append("Microsoft.ContainerService/managedClusters/privateEndpointConnections/write")
        cloud.arm.faults.clear()
    _wait(lambda: (stack.remote.link(ok) or {}).get("phase") == "Ready", "a Ready link")
    for cid in (ok, failing):
        op.delete_cluster(cid)
        stack.remote.api("POST", "links/reconcile", json={"clusterId": cid})
    _wait(lambda: stack.remote.link(ok) is None and stack.remote.link(failing) is None, "links removed")

    places = {"host log": stack.host_log(), "test-process log": caplog.text,
              "notices": "\n".join(r["raw"] for r in stack.sink.received)}
    kinds = sorted({json.loads(r["raw"]).get("type", "teams card") for r in stack.sink.received})
    assert {"link.ready", "link.failed", "link.foreign_connection_pending", "link.cleaned_up"} <= set(kinds), kinds
    secrets = stack.secrets()
    leaks = [f"{what} in the {where}" for what, value in secrets.items() for where, text in places.items() if value in text]
    assert leaks == [], leaks
    figures.record("security", check="secrets in logs and notices", result="pass",
                   detail=f"{len(secrets)} secrets ({len(cloud.identity.issued)} tokens) x {len(places)} places "
                          f"({sum(len(t) for t in places.values()) // 1024} KiB): 0 found")


def _wait(predicate, what: str, timeout: float = 40.0) -> None:
    from tests.support import wait_for

    wait_for(predicate, timeout=timeout, interval=0.3, what=what)
