"""Human in the loop against devcloud + Azurite + the sink: approve links and connections (API, HTTP, CLI)."""

from __future__ import annotations

import getpass
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

import function_app
from devcloud.sink import Sink
from shared import approvals
from shared.__main__ import main
from shared.approvals import ApprovalError
from shared.authz import APPROVER
from shared.ids import ClusterId, same_arm_id
from shared.model import Phase
from shared.runtime import get_runtime, reset_runtime
from tests.support import HUB_TENANT, easy_auth_headers, product_env, settle
from tests.test_notify import card_text, check_teams_payload

REASON = "CHG-1234: the platform team's jump host"
CAROL = "5f0c0000-0000-4000-8000-00000000ca01"  # her object id


@pytest.fixture
def configure(cloud, azurite, sink, op, monkeypatch):
    """App settings in the environment, as the function app and the CLI read them; returns the service."""

    def apply(**overrides: str):
        env = product_env(
            cloud,
            azurite,
            HUBLINK_WEBHOOKS=json.dumps([f"{sink.url}/hook"]),
            HUBLINK_TEAMS_WEBHOOKS=json.dumps([f"{sink.url}/teams"]),
            **overrides,
        )
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "true")  # as App Service sets it: the API trusts Easy Auth's headers
        reset_runtime()
        return get_runtime().service

    yield apply
    reset_runtime()


def http(name: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """Call one of function_app's HTTP functions the way the host does, behind App Service Authentication
    (`headers`: what it sets for the verified caller; by default an approver)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = easy_auth_headers(APPROVER) if headers is None else headers
    # app.get_functions() may run once per process (test_function_app checks the routes); call the function itself
    resp = getattr(function_app, name)(func.HttpRequest("POST", f"https://localhost/api/{name}", headers=headers or {}, body=raw))
    return resp.status_code, json.loads(resp.get_body())


def kinds(sink: Sink) -> list[str]:
    return [r["body"]["type"] for r in sink.received if r["path"] == "/hook"]


def row(rec, cluster_id: str):
    return rec.store.get(ClusterId.parse(cluster_id))


def own_connection(op, state) -> str:
    return next(c.name for c in op.connections(state.cluster_id) if c.private_endpoint.id.lower() == state.endpoint_id.lower())


def statuses(op, cluster_id: str) -> dict[str, str]:
    return {c.name: c.private_link_service_connection_state.status for c in op.connections(cluster_id)}


# -- manual mode ---------------------------------------------------------------------------------
def test_manual_link_approved_through_the_api(op, configure, sink):
    rec = configure(HUBLINK_APPROVAL="manual")
    cluster_id = op.create_cluster()
    assert settle(rec, cluster_id).phase is Phase.AWAITING_APPROVAL
    assert kinds(sink) == ["link.awaiting_approval"]
    state = row(rec, cluster_id)
    assert statuses(op, cluster_id) == {own_connection(op, state): "Pending"}

    entry, outcome = rec.approve_link(cluster_id, who="alice@contoso", reason=REASON)
    assert outcome.phase is Phase.READY, outcome.message
    state = row(rec, cluster_id)
    assert state.audit == [entry]
    assert entry.public() == {
        "action": "approve-link",
        "by": "alice@contoso",
        "via": "api",
        "reason": REASON,
        "endpointId": state.endpoint_id,
        "at": entry.at,
    }
    assert set(statuses(op, cluster_id).values()) == {"Approved"}
    assert kinds(sink) == ["link.awaiting_approval", "link.ready"]

    with pytest.raises(ApprovalError) as err:
        rec.approve_link(cluster_id, who="alice@contoso", reason="again")
    assert (err.value.status, err.value.code) == (409, "NotAwaitingApproval")
    assert row(rec, cluster_id).etag == state.etag, "a refused approval writes nothing"


def test_manual_link_approved_over_http_and_with_the_cli(op, configure, sink, capsys):
    rec = configure(HUBLINK_APPROVAL="manual")
    first, second = op.create_cluster(), op.create_cluster()
    for cluster_id in (first, second):
        assert settle(rec, cluster_id).phase is Phase.AWAITING_APPROVAL

    status, body = http(
        "approve_link",
        {"clusterId": first, "reason": REASON},
        easy_auth_headers(APPROVER, name="bob@contoso", object_id="0000-bob"),
    )
    assert status == 200, body
    assert body["approved"]["by"] == "bob@contoso" and body["approved"]["via"] == "http"
    assert body["outcome"]["phase"] == "Ready" and body["outcome"]["link"]["audit"] == [body["approved"]]

    assert main(["approve-link", second, "--reason", "seen it"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["outcome"]["phase"] == "Ready"
    [audit] = row(rec, second).audit
    assert (audit.by, audit.via, audit.reason) == (getpass.getuser(), "cli", "seen it")
    assert sorted(kinds(sink)) == ["link.awaiting_approval"] * 2 + ["link.ready"] * 2


def test_own_pending_connection_cannot_be_rejected(op, configure):
    rec = configure(HUBLINK_APPROVAL="manual")
    cluster_id = op.create_cluster()
    assert settle(rec, cluster_id).phase is Phase.AWAITING_APPROVAL
    state = row(rec, cluster_id)
    status, body = http(
        "reject_connection", {"clusterId": cluster_id, "connectionName": own_connection(op, state), "reason": "no"}
    )
    assert (status, body["error"]["code"]) == (409, "OwnConnection")
    assert "hublink=disabled" in body["error"]["message"]
    assert row(rec, cluster_id).etag == state.etag
    assert set(statuses(op, cluster_id).values()) == {"Pending"}


def test_a_leased_link_answers_busy_and_writes_nothing(op, configure, monkeypatch):
    monkeypatch.setattr(approvals, "BUSY_WAIT_S", 0.3)
    rec = configure(HUBLINK_APPROVAL="manual")
    cluster_id = op.create_cluster()
    assert settle(rec, cluster_id).phase is Phase.AWAITING_APPROVAL
    state = row(rec, cluster_id)
    state.lease_owner, state.lease_until = "another-invocation", rec.clock.now() + timedelta(seconds=60)
    etag = rec.store.replace(state).etag
    with pytest.raises(ApprovalError) as err:
        rec.approve_link(cluster_id, who="alice", reason="")
    assert (err.value.status, err.value.code) == (409, "Busy")
    status, body = http(
        "approve_connection", {"clusterId": cluster_id, "connectionName": own_connection(op, state), "reason": REASON}
    )
    assert (status, body["error"]["code"]) == (409, "Busy")
    assert row(rec, cluster_id).etag == etag and set(statuses(op, cluster_id).values()) == {"Pending"}

    state.lease_owner = state.lease_until = None
    rec.store.replace(state)
    _, outcome = rec.approve_link(cluster_id, who="alice", reason="")
    assert outcome.phase is Phase.READY


# -- any pending connection ------------------------------------------------------------------------
def test_foreign_connections_approved_over_http_and_rejected_with_the_cli(op, configure, sink, capsys):
    rec = configure()
    cluster_id = op.create_cluster()
    approve_me, reject_me = op.create_foreign_endpoint(cluster_id), op.create_foreign_endpoint(cluster_id)
    assert settle(rec, cluster_id).phase is Phase.READY
    names = {f.private_endpoint_id.lower(): f.name for f in row(rec, cluster_id).foreign_connections}
    to_approve, to_reject = names[approve_me.id.lower()], names[reject_me.id.lower()]

    status, body = http(
        "approve_connection",
        {"clusterId": cluster_id, "connectionName": to_approve, "reason": REASON},
        easy_auth_headers(APPROVER, name="5f0c-carol", object_id=CAROL),
    )
    assert status == 200, body
    assert main(["reject", cluster_id, to_reject, "--reason", "nobody asked for this"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["decision"]["status"] == "Rejected"

    now = statuses(op, cluster_id)
    assert (now[to_approve], now[to_reject]) == ("Approved", "Rejected")
    described = {c.name: c.private_link_service_connection_state.description for c in op.connections(cluster_id)}
    assert described[to_approve].startswith("Approved by 5f0c-carol via aks-hublink: CHG-1234")
    state = row(rec, cluster_id)
    approved, rejected = state.audit
    assert approved.public() == {
        "action": "approve-connection",
        "by": "5f0c-carol",
        "via": "http",
        "reason": REASON,
        "connectionName": to_approve,
        "endpointId": approve_me.id,
        "status": "Approved",
        "at": approved.at,
        "byId": CAROL,
        "byTenant": HUB_TENANT,
        "byType": "user",
    }
    assert (rejected.action, rejected.by, rejected.via, rejected.status) == (
        "reject-connection",
        getpass.getuser(),
        "cli",
        "Rejected",
    )
    assert rejected.endpoint_id.lower() == reject_me.id.lower() and rejected.reason == "nobody asked for this"
    assert state.foreign_connections == [] and state.phase is Phase.READY

    decisions = [r["body"] for r in sink.received if r["path"] == "/hook" and r["body"]["type"].startswith("connection.")]
    assert [d["type"] for d in decisions] == ["connection.approved", "connection.rejected"]
    assert decisions[0]["decision"] == {
        "connectionName": to_approve,
        "privateEndpointId": approve_me.id,
        "status": "Approved",
        "by": "5f0c-carol",
        "byId": CAROL,
        "byTenant": HUB_TENANT,
        "byType": "user",
        "via": "http",
        "reason": REASON,
        "at": approved.at,
    }
    cards = [card_text(check_teams_payload(r["body"])) for r in sink.received if r["path"] == "/teams"]
    assert any("Connection approved" in c and "5f0c-carol" in c and REASON in c for c in cards)
    assert any("Connection rejected" in c and getpass.getuser() in c for c in cards)

    count = len(sink.received)
    assert settle(rec, cluster_id).phase is Phase.READY
    assert len(sink.received) == count and row(rec, cluster_id).foreign_connections == []


def test_a_decisions_notice_goes_out_under_the_links_lease(op, configure, sink):
    """While a slow webhook takes the decision's notice, the row stays leased: an event's run for the
    link answers busy instead of sending the same pending notice again."""
    rec = configure()
    cluster_id = op.create_cluster()
    foreign = op.create_foreign_endpoint(cluster_id)
    assert settle(rec, cluster_id).phase is Phase.READY
    name = next(f.name for f in row(rec, cluster_id).foreign_connections if same_arm_id(f.private_endpoint_id, foreign.id))
    sink.clear()
    sink.hang_next(2.0, count=2)  # the Teams card and the webhook
    with ThreadPoolExecutor(1) as pool:
        deciding = pool.submit(http, "approve_connection", {"clusterId": cluster_id, "connectionName": name, "reason": REASON})
        sink.wait_for(1, timeout_s=10)
        leased = row(rec, cluster_id).lease_owner
        meanwhile = rec.reconcile(cluster_id)
        status, body = deciding.result(timeout=30)
    assert status == 200, body
    assert leased and meanwhile.busy, "the notice is sent under the lease"
    decisions = [r["body"]["id"] for r in sink.received if r["path"] == "/hook"]
    assert len(decisions) == 1 and len(sink.received) == 2, "sent once, to each target"
    after = row(rec, cluster_id)
    assert after.lease_owner is None and after.notices.pending == [] and after.audit[-1].connection_name == name


def test_bad_requests_change_nothing(cloud, op, configure, sink):
    rec = configure()
    cluster_id = op.create_cluster()
    foreign = op.create_foreign_endpoint(cluster_id)
    assert settle(rec, cluster_id).phase is Phase.READY
    state = row(rec, cluster_id)
    [pending] = [f.name for f in state.foreign_connections if f.private_endpoint_id.lower() == foreign.id.lower()]
    before = (state.etag, statuses(op, cluster_id), len(sink.received))
    cid = ClusterId.parse(cluster_id)
    no_row = cid.id.replace(cid.name, "aks-never-seen")
    elsewhere = (
        "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/"
        "Microsoft.ContainerService/managedClusters/c"
    )
    ok = {"clusterId": cluster_id, "connectionName": pending, "reason": REASON}
    cases = [
        ("approve_connection", b"{not json", 400, "InvalidJson"),
        ("approve_connection", b"[1]", 400, "MissingClusterId"),
        ("approve_connection", dict(ok, clusterId=5), 400, "InvalidClusterId"),
        ("approve_connection", dict(ok, clusterId="/subscriptions/x"), 400, "InvalidClusterId"),
        ("approve_connection", dict(ok, clusterId=elsewhere), 404, "SubscriptionNotConfigured"),
        ("approve_connection", dict(ok, clusterId=no_row), 404, "LinkNotFound"),
        ("approve_connection", {"clusterId": cluster_id, "reason": REASON}, 400, "MissingConnectionName"),
        ("reject_connection", dict(ok, connectionName=7), 400, "MissingConnectionName"),
        ("approve_connection", dict(ok, connectionName="a/../b"), 400, "InvalidConnectionName"),
        ("approve_connection", dict(ok, connectionName="no-such-connection"), 404, "ConnectionNotFound"),
        ("approve_connection", dict(ok, connectionName=state.connection_name), 409, "ConnectionNotPending"),
        ("reject_connection", {"clusterId": cluster_id, "connectionName": pending}, 400, "MissingReason"),
        ("reject_connection", dict(ok, reason=["why"]), 400, "MissingReason"),
        ("reject_connection", dict(ok, reason="x" * 501), 400, "InvalidReason"),
        ("approve_link", {"clusterId": cluster_id}, 409, "NotAwaitingApproval"),
        ("approve_link", {"clusterId": cluster_id, "reason": 5}, 400, "InvalidReason"),
        ("approve_link", {"clusterId": no_row}, 404, "LinkNotFound"),
        ("approve_link", {"clusterId": elsewhere}, 404, "SubscriptionNotConfigured"),
    ]
    cloud.arm.clear_log()
    for name, body, status, code in cases:
        got, answer = http(name, body)
        assert (got, answer["error"]["code"]) == (status, code), (name, body, answer)
        assert answer["error"]["message"]
    assert (row(rec, cluster_id).etag, statuses(op, cluster_id), len(sink.received)) == before
    assert rec.store.get(ClusterId.parse(no_row)) is None
    writes = [e for e in cloud.arm.entries(principal="hublink") if e.method in ("PUT", "DELETE", "POST")]
    assert writes == [], writes
    assert main(["reject", cluster_id, "no-such-connection"]) == 1
