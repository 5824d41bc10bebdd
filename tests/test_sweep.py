"""The timer backstop: due links, discovery of clusters whose events were lost, time budget; and the CLI."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from shared import handlers
from shared.config import parse_settings
from shared.ids import ClusterId
from shared.model import Phase
from shared.runtime import build_runtime, reset_runtime
from tests.support import Operator, fast_lros, product_env, restore_lros, settle


@pytest.fixture
def env(cloud, azurite):
    saved = fast_lros(cloud)
    yield product_env(cloud, azurite)
    restore_lros(cloud, saved)
    cloud.arm.latency_s = 0.0


@pytest.fixture
def runtime(env):
    return build_runtime(parse_settings(env))


def _wait_for(predicate, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def make_due(rt, cluster_id):
    store = rt.service.store
    state = store.get(ClusterId.parse(cluster_id))
    state.next_attempt_at = rt.service.clock.now() - timedelta(seconds=1)
    store.replace(state)


def test_sweep_repairs_due_links_and_discovers_lost_clusters(cloud, runtime):
    op = Operator(cloud)
    linked = op.create_cluster()
    assert settle(runtime.service, linked).phase is Phase.READY
    record = runtime.service.store.get(ClusterId.parse(linked)).record_name
    op.delete_record(record)  # drift nobody told us about
    make_due(runtime, linked)  # its drift check is due
    lost = op.create_cluster()  # its events were lost: no row at all

    report = handlers.sweep(runtime=runtime, discover=True)
    assert report.due == 1 and report.discovered >= 1
    assert op.record(record) is not None, "the due drift check repaired the record"
    assert runtime.service.store.get(ClusterId.parse(lost)).phase is Phase.PROVISIONING, "the sweep started its endpoint"
    assert report.errors == []
    assert settle(runtime.service, lost).phase is Phase.READY, "its continuation finishes it"
    for row in runtime.service.store.list():  # the continuations of the other clusters discovery found
        if row.phase is Phase.PROVISIONING:
            settle(runtime.service, row.cluster_id)

    # Nothing is due now and discovery is off: a sweep touches nothing in ARM.
    cloud.arm.clear_log()
    quiet = handlers.sweep(runtime=runtime, discover=False)
    assert quiet.due == 0 and quiet.reconciled == 0
    assert cloud.arm.entries(principal="hublink") == []


def test_terminal_failures_wait_for_a_changed_cluster(cloud, runtime):
    op = Operator(cloud)
    cluster = op.create_cluster(region="eastus")  # no hub there: terminal
    assert runtime.service.reconcile(cluster).phase is Phase.FAILED
    cloud.arm.clear_log()
    again = handlers.sweep(runtime=runtime, discover=True)
    assert cluster.lower() not in {c.lower() for c in _reconciled_ids(cloud)}, "unchanged failure is not retried"
    assert again.errors == []
    op.update_tags(cluster, {"owner": "team-a"})  # the cluster changed (new etag)
    cloud.arm.clear_log()
    handlers.sweep(runtime=runtime, discover=True)
    assert cluster.lower() in {c.lower() for c in _reconciled_ids(cloud)}, "a changed cluster is looked at again"


def _reconciled_ids(cloud) -> list[str]:
    return [
        e.path
        for e in cloud.arm.entries(principal="hublink", method="GET")
        if e.path.count("/") == 8 and "managedClusters" in e.path
    ]


def test_sweep_stops_at_its_time_budget(cloud, env):
    rt = build_runtime(parse_settings({**env, "HUBLINK_TIMER_BUDGET_S": "2.5", "HUBLINK_CONCURRENCY": "1"}))
    op = Operator(cloud)
    clusters = [op.create_cluster() for _ in range(4)]
    for c in clusters:
        assert settle(rt.service, c).phase is Phase.READY
        op.delete_record(rt.service.store.get(ClusterId.parse(c)).record_name)  # each needs acting on
        make_due(rt, c)
    cloud.arm.latency_s = 0.2  # each repair now takes about a second
    report = handlers.sweep(runtime=rt, discover=False)
    cloud.arm.latency_s = 0.0
    assert report.due == 4
    assert report.deferred >= 1 and report.reconciled + report.deferred == 4
    still_due = rt.service.store.due(rt.service.clock.now())
    assert len(still_due) == report.deferred, "deferred links stay due for the next run"


def test_cli_status_and_reconcile(cloud, env, monkeypatch, capsys):
    from shared.__main__ import main

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reset_runtime()
    try:
        cluster = Operator(cloud).create_cluster()
        assert main(["reconcile", cluster]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["phase"] == "Ready" and out["link"]["privateIp"]
        assert main(["status"]) == 0
        table = capsys.readouterr().out
        assert "PHASE" in table and "Ready" in table and ClusterId.parse(cluster).name in table
        assert "link(s); " in table and " Ready" in table.splitlines()[-1]
        assert main(["status", "--json"]) == 0
        progress = json.loads(capsys.readouterr().out)["progress"]
        assert progress["ready"] >= 1 and progress["of"] >= progress["ready"]
        assert progress["text"] == f"{progress['ready']:,} of {progress['of']:,} Ready"
        assert progress["ready"] == progress["byPhase"]["Ready"]
        assert main(["status", "--phase", "Nope"]) == 1
        assert main(["reconcile", "/subscriptions/nope"]) == 1
        assert "InvalidClusterId" in capsys.readouterr().out
    finally:
        reset_runtime()


def test_cli_reports_every_configuration_problem(monkeypatch, capsys):
    from shared.__main__ import main

    for k in ("HUBLINK_HUBS", "HUBLINK_SPOKES", "HUBLINK_HUB_TENANT_ID", "HUBLINK_CLIENT_ID", "AzureWebJobsStorage"):
        monkeypatch.delenv(k, raising=False)
    reset_runtime()
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "HUBLINK_HUBS" in err and "HUBLINK_SPOKES" in err and "HUBLINK_CLIENT_ID" in err


def test_sweep_resends_a_failed_links_undelivered_notice(cloud, env):
    """A Failed link is never reconciled by the timer, but its undelivered notice is still sent."""
    from devcloud.sink import Sink

    sink = Sink(cloud.certs).start()
    try:
        rt = build_runtime(parse_settings({**env, "HUBLINK_WEBHOOKS": json.dumps([f"{sink.url}/hook"])}))
        cluster = Operator(cloud).create_cluster(region="eastus")  # no hub for eastus: terminal
        sink.fail_next(500, count=3)  # the first try and its quick retries
        assert rt.service.reconcile(cluster).phase is Phase.FAILED
        assert [s.cluster_id for s in rt.service.store.undelivered()] == [ClusterId.parse(cluster).id]
        cloud.arm.clear_log()
        sink.hang_next(2.0)  # a slow webhook: an event for the link arrives while the timer re-sends
        with ThreadPoolExecutor(1) as pool:
            sweeping = pool.submit(handlers.sweep, runtime=rt, discover=False)
            row = _wait_for(lambda: (r := rt.service.store.get(ClusterId.parse(cluster))) and r.lease_owner and r)
            meanwhile = rt.service.reconcile(cluster)
            report = sweeping.result(timeout=30)
        assert meanwhile.busy, "the re-send holds the row's lease, so the event's run does not send it too"
        assert report.redelivered == 1 and report.reconciled == 0
        failed = [r for r in sink.received if isinstance(r.get("body"), dict) and r["body"].get("type") == "link.failed"]
        assert len({r["body"]["id"] for r in failed}) == 1, "a re-send keeps the notice's id"
        assert len(failed) == 4, "the first try and its 2 quick retries, then the timer's re-send: nothing more"
        assert cloud.arm.entries(principal="hublink") == [], "re-sending a notice calls no ARM"
        assert rt.service.store.undelivered() == []
        after = rt.service.store.get(ClusterId.parse(cluster))
        assert after.lease_owner is None and after.next_attempt_at == row.next_attempt_at is None, (
            "the Failed link still waits for a change: the re-send's lease did not make it due"
        )
        assert handlers.sweep(runtime=rt, discover=False).redelivered == 0
    finally:
        sink.stop()


def test_a_sweep_lists_the_hub_and_acts_only_on_links_whose_state_differs(cloud, runtime):
    op = Operator(cloud)
    fine, changed, drifted = (op.create_cluster() for _ in range(3))
    for c in (fine, changed, drifted):
        assert settle(runtime.service, c).phase is Phase.READY
    make_due(runtime, fine)
    make_due(runtime, changed)
    op.update_tags(changed, {"owner": "team-b"})  # the cluster changed: its due check acts on it
    drifted_record = runtime.service.store.get(ClusterId.parse(drifted)).record_name
    op.delete_record(drifted_record)  # not due, but the listed zone shows it gone
    cloud.arm.clear_log()

    report = handlers.sweep(runtime=runtime, discover=False)
    assert (report.due, report.checked, report.drifted, report.reconciled) == (2, 1, 1, 2), report
    assert op.record(drifted_record) is not None, "the drift was repaired before the link's own check came up"
    fine_id = ClusterId.parse(fine)
    per_link = [
        e.path
        for e in cloud.arm.entries(principal="hublink")
        if fine_id.name.lower() in e.path.lower() or fine_id.endpoint_name.lower() in e.path.lower()
    ]
    assert per_link == [], "a link that matches its row costs no read of its own"
    row = runtime.service.store.get(fine_id)
    assert row.phase is Phase.READY and row.next_attempt_at > runtime.service.clock.now() + timedelta(seconds=3000)


def test_a_link_waiting_on_its_operation_is_left_to_its_continuation_unless_that_is_late(cloud, runtime):
    cluster = Operator(cloud).create_cluster()
    assert runtime.service.reconcile(cluster).phase is Phase.PROVISIONING  # the PUT; its continuation is queued
    store, cid = runtime.service.store, ClusterId.parse(cluster)
    make_due(runtime, cluster)  # its poll time came a second ago: the queue's to take
    assert handlers.sweep(runtime=runtime, discover=False).due == 0
    state = store.get(cid)
    state.next_attempt_at = runtime.service.clock.now() - timedelta(seconds=120)  # the message was lost
    store.replace(state)
    report = handlers.sweep(runtime=runtime, discover=False)
    assert report.due == 1 and report.reconciled == 1
