"""End to end: `python -m stack up` runs devcloud, Azurite and the function app in the local
Functions host; these tests act only as a user would (ARM through Microsoft's SDK, the app's HTTP
API) and watch the link appear, repair and go away with no other call."""

from __future__ import annotations

import pytest

from shared.ids import ClusterId
from tests.support import Operator, RemoteCloud, start_stack, stop_stack, wait_for

FAST = {
    "durations": {
        "managedClusters/create": 0.3,
        "managedClusters/delete": 0.3,
        "managedClusters/stop": 0.1,
        "managedClusters/start": 0.1,
        "privateEndpoints/create": 0.5,
        "privateEndpoints/delete": 0.3,
    },
    "retryAfter": {"Microsoft.Network": 1, "Microsoft.ContainerService": 1},
}


@pytest.fixture(scope="module")
def stack():
    # A cluster deleted while another invocation held its row (the delete event answered busy) is
    # cleaned up once a later read confirms the 404: 3 s here instead of the default 20 s.
    proc, info = start_stack(app_settings={"HUBLINK_ABSENCE_CONFIRM_S": "3"})
    remote = RemoteCloud(info)
    remote.control("PUT", "/lro", {"durations": FAST["durations"], "retry_after": FAST["retryAfter"]})
    yield remote
    code = stop_stack(proc)
    assert code == 0, f"stack up exited {code}; log: {proc.log_path}"


@pytest.fixture
def op(stack):
    stack.control("PUT", "/eventgrid/behaviour", {"duplicate": 0, "reorder": False})
    return Operator(stack)


def ready(stack, cluster_id):
    link = stack.link(cluster_id)
    return link if link and link["phase"] == "Ready" else None


def hublink_writes(stack, kind_path: str) -> list[dict]:
    return [
        e for e in stack.control("GET", "/requests?principal=hublink")["value"] if e["method"] == "PUT" and kind_path in e["path"]
    ]


def test_private_cluster_becomes_ready_with_no_other_call(stack, op):
    cluster_id = op.create_cluster()
    link = wait_for(lambda: ready(stack, cluster_id), timeout=30, interval=0.2, what="link Ready")
    cluster = op.get_cluster(cluster_id)
    assert link["fqdn"] == cluster.private_fqdn
    record = op.record(link["recordName"])
    assert [a["ipv4Address"] for a in record["properties"]["aRecords"]] == [link["privateIp"]]
    statuses = [c.private_link_service_connection_state.status for c in op.connections(cluster_id)]
    assert statuses == ["Approved"]


def test_delete_cleans_up(stack, op):
    cluster_id = op.create_cluster()
    link = wait_for(lambda: ready(stack, cluster_id), timeout=30, interval=0.2, what="link Ready")
    op.delete_cluster(cluster_id)
    wait_for(lambda: stack.link(cluster_id) is None, timeout=30, interval=0.2, what="link removed")
    assert op.record(link["recordName"]) is None
    name = ClusterId.parse(cluster_id).endpoint_name
    assert all(pe.name != name for pe in op.hub_endpoints())


def test_duplicated_deliveries_change_nothing(stack, op):
    stack.control("PUT", "/eventgrid/behaviour", {"duplicate": 1.0})
    cluster_id = op.create_cluster()
    wait_for(lambda: ready(stack, cluster_id), timeout=30, interval=0.2, what="link Ready")
    deliveries = [
        d
        for d in stack.control("GET", "/eventgrid/deliveries")["value"]
        if d.get("subject", "").lower() == cluster_id.lower() or d.get("duplicate")
    ]
    assert any(d.get("duplicate") for d in deliveries), "the duplicate knob must have produced a second delivery"
    name = ClusterId.parse(cluster_id).endpoint_name
    creates = [e for e in hublink_writes(stack, f"/privateEndpoints/{name}")]
    assert len(creates) == 1, creates
    assert [pe.name for pe in op.hub_endpoints()].count(name) == 1


def test_reordered_deliveries_converge(stack, op):
    stack.control("PUT", "/eventgrid/behaviour", {"reorder": True})
    cluster_id = op.create_cluster()
    op.delete_cluster(cluster_id)  # write and delete events arrive in reverse order
    name = ClusterId.parse(cluster_id).endpoint_name
    wait_for(
        lambda: stack.link(cluster_id) is None and all(pe.name != name for pe in op.hub_endpoints()),
        timeout=30,
        interval=0.3,
        what="nothing left for a deleted cluster",
    )


def test_http_reconcile_and_status(stack, op):
    cluster_id = op.create_cluster()
    resp = stack.api("POST", "links/reconcile", json={"clusterId": cluster_id})
    assert resp.status_code == 200
    body = resp.json()
    assert body["clusterId"].lower() == cluster_id.lower() and body["link"]["clusterName"] in cluster_id
    wait_for(lambda: ready(stack, cluster_id), timeout=30, interval=0.2, what="link Ready")
    listed = stack.api("GET", "links?phase=Ready").json()
    assert cluster_id.lower() in {v["clusterId"].lower() for v in listed["value"]}
    assert all(v["phase"] == "Ready" for v in listed["value"])


@pytest.mark.parametrize(
    "method,path,kwargs,status,code",
    [
        ("POST", "links/reconcile", {"data": b"{nope"}, 400, "InvalidJson"),
        ("POST", "links/reconcile", {"json": {"clusterId": "/subscriptions/x"}}, 400, "InvalidClusterId"),
        (
            "POST",
            "links/reconcile",
            {
                "json": {
                    "clusterId": "/subscriptions/00000000-0000-4000-8000-000000000000/"
                    "resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c"
                }
            },
            404,
            "SubscriptionNotConfigured",
        ),
        ("GET", "links?phase=Sleeping", {}, 400, "InvalidPhase"),
        ("GET", "links/20000000-0000-4000-8000-0000000000b1/rg-aks/never-created", {}, 404, "LinkNotFound"),
    ],
)
def test_http_errors(stack, method, path, kwargs, status, code):
    before = stack.control("GET", "/counters?principal=hublink")["total"]
    resp = stack.api(method, path, **kwargs)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    assert stack.control("GET", "/counters?principal=hublink")["total"] == before, "a bad request must not call ARM"


@pytest.mark.parametrize("key", [None, "wrong-key", "function"])
def test_http_needs_a_token_not_a_function_key(stack, key):
    resp = stack.api("GET", "links", caller=None, key=key)
    assert resp.status_code == 401


def test_long_provisioning_continues_through_the_queue_not_the_timer():
    """Endpoint provisioning outlasts the event's budget: the link must go on about Retry-After later,
    by a visibility-delayed queue message, with the timer scheduled once a day so it cannot help."""
    proc, info = start_stack(app_settings={"HUBLINK_EVENT_BUDGET_S": "2", "HUBLINK_TIMER_SCHEDULE": "0 0 3 * * *"})
    try:
        stack = RemoteCloud(info)
        stack.control(
            "PUT", "/lro", {"durations": {**FAST["durations"], "privateEndpoints/create": 4.0}, "retry_after": FAST["retryAfter"]}
        )
        op = Operator(stack)
        cluster_id = op.create_cluster()
        provisioning = wait_for(
            lambda: (lk := stack.link(cluster_id)) and lk["phase"] == "Provisioning" and lk,
            timeout=15,
            interval=0.1,
            what="Provisioning",
        )
        assert provisioning["nextAttemptAt"], "the reconcile that ran out of budget asked to look again"
        link = wait_for(lambda: ready(stack, cluster_id), timeout=20, interval=0.1, what="link Ready")
        assert link["privateIp"]
        approvals = [e for e in hublink_writes(stack, "/privateEndpointConnections/")]
        assert len(approvals) == 1
    finally:
        assert stop_stack(proc) == 0


def test_stack_up_with_several_hosts_links_a_cluster_once():
    """`python -m stack up --hosts 2`: two instances of the app behind one front end; one link, one endpoint."""
    proc, info = start_stack(hosts=2, app_settings={"HUBLINK_ABSENCE_CONFIRM_S": "3"})
    try:
        assert info["hosts"] == 2
        stack = RemoteCloud(info)
        stack.control("PUT", "/lro", {"durations": FAST["durations"], "retry_after": FAST["retryAfter"]})
        op = Operator(stack)
        cluster_id = op.create_cluster()
        wait_for(lambda: ready(stack, cluster_id), timeout=30, interval=0.2, what="link Ready")
        name = ClusterId.parse(cluster_id).endpoint_name
        assert [pe.name for pe in op.hub_endpoints()].count(name) == 1
        assert len(hublink_writes(stack, f"/privateEndpoints/{name}")) == 1
        op.delete_cluster(cluster_id)
        wait_for(lambda: stack.link(cluster_id) is None, timeout=30, interval=0.2, what="link removed")
    finally:
        assert stop_stack(proc) == 0
