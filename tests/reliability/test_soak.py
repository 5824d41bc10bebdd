"""Soak: many clusters created and deleted across tenants, subscriptions and regions, on the full
stack (the function app in the local Functions host, fed by devcloud's Event Grid, its timer and
continuation queue running), with random ARM faults and duplicated, reordered event deliveries.

Every link must become Ready, then leave nothing behind once its cluster is deleted (no hub
endpoint, no A record, no state row, no cluster-side connection), with each transition announced
once, no foreign connection ever approved, and no secret in the host's log or in a notice.
`make test` runs a small version; `make soak` runs 500 clusters (RELIABILITY_SOAK_CLUSTERS).

The same soak runs twice more: on 3 instances of the function app (host processes on one Azurite
and one devcloud behind a round-robin front end, the timer a singleton by blob lease), and with
Azurite stopped for RELIABILITY_OUTAGE_S seconds while the links are being made, then started again
on the same data (a storage outage): every link must converge just the same.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from devcloud.arm import FaultRule
from devcloud.client import Operator
from reliability import figures
from shared.model import Phase
from stack.world import product_world
from tests.reliability.conftest import SCALE
from tests.reliability.harness import Census
from tests.reliability.stack import Stack

FAULTS = [{"status": 429, "retry_after": 1}, {"status": 500}, {"status": 503}, {"action": "drop"}, {"status": 409}]
FAULT_RATE = 0.10  # of the product's ARM calls
FOREIGN_EVERY = 10  # one cluster in ten also gets someone else's pending endpoint
REGIONS = ("westeurope", "northeurope")
pytestmark = pytest.mark.timeout(600 + 4 * max(SCALE["soak_clusters"], SCALE["instances_clusters"]))
STACK_SETTINGS = {"HUBLINK_TIMER_SCHEDULE": "*/2 * * * * *", "HUBLINK_DISCOVERY_INTERVAL_S": "15",
                  "HUBLINK_BACKOFF_BASE_S": "0.5", "HUBLINK_BACKOFF_MAX_S": "4", "HUBLINK_FAILURE_ALERT_AFTER": "4"}


def soak_world():
    """The default world (2 tenants, 3 spokes, 2 hub regions) with a hub subnet big enough for 500 endpoints."""
    world = product_world()
    world.subnets[0].prefix = "10.10.0.0/20"
    return world


@pytest.fixture(scope="module")
def stack():
    # One host with 16 worker threads stands in for the instances Azure Functions would scale out to.
    s = Stack(soak_world(), PYTHON_THREADPOOL_THREAD_COUNT="16", **STACK_SETTINGS).start()
    yield s
    s.stop()


@pytest.fixture
def instances():
    """3 instances of the app, 6 worker threads each, on one Azurite and one devcloud; a timer's singleton
    lease of 15 s (the shortest blob lease) so the test also sees it renewed."""
    s = Stack(soak_world(), hosts=3, PYTHON_THREADPOOL_THREAD_COUNT="6",
              AzureFunctionsJobHost__singleton__listenerLockPeriod="00:00:15", **STACK_SETTINGS).start()
    yield s
    s.stop()


@pytest.fixture
def outage_stack():
    """One host on an Azurite that keeps its data on disk, so it can be stopped and started again."""
    s = Stack(soak_world(), persistent_storage=True, PYTHON_THREADPOOL_THREAD_COUNT="16", **STACK_SETTINGS).start()
    yield s
    s.stop()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _notices(stack) -> list[dict]:
    return [r["body"] for r in list(stack.sink.received) if r["path"] == "/generic" and isinstance(r["body"], dict)]


def test_soak(stack):
    figures.record("soak", **soak(stack, SCALE["soak_clusters"]))


def test_soak_on_three_instances(instances):
    """One endpoint and one record per cluster and every notice once, whichever instance ran what."""
    found = soak(instances, SCALE["instances_clusters"])
    log = instances.host_log()
    spread = dict(sorted(instances.fleet.forwarded.items()))
    figures.record("several instances", hosts=3, timer_lock_acquired=log.count("Singleton lock acquired"),
                   timer_runs=log.count("trigger=timer"), requests_per_host=spread, **found)
    assert log.count("Singleton lock acquired") >= 1, "no instance ever ran the timer"
    assert len(spread) == 3 and min(spread.values()) > 0, f"the front end did not spread the work: {spread}"


def test_soak_through_a_storage_outage(outage_stack):
    """Azurite stopped for RELIABILITY_OUTAGE_S while links are being made, then started on the same data."""
    outage: dict[str, Any] = {}
    found = soak(outage_stack, SCALE["outage_clusters"], outage=outage)
    assert outage.get("ended"), "the outage never happened"
    figures.record("storage outage", outage_s=round(outage["ended"] - outage["started"], 1), **_outage_figures(
        outage_stack, outage), **found)


def _outage_figures(stack, outage: dict[str, Any]) -> dict[str, Any]:
    """What the outage did: deliveries that failed during it (and how fast), and what was retried."""
    from azure.storage.queue import QueueClient

    wall = outage["wall_started"], outage["wall_ended"]
    failed = [d for d in list(stack.cloud.eventgrid.deliveries) if wall[0] <= d.time <= wall[1] + 1
              and d.outcome != "Succeeded"]
    ids = {d.event_id for d in failed}
    later_ok = {d.event_id for d in list(stack.cloud.eventgrid.deliveries) if d.event_id in ids
                and d.outcome == "Succeeded"}
    poison = QueueClient.from_connection_string(stack.azurite.connection_string, "hublink-continue-poison")
    try:
        poisoned = poison.get_queue_properties().approximate_message_count
    except Exception:  # noqa: BLE001 - no poison queue: nothing went there
        poisoned = 0
    latencies = sorted(d.latency_s for d in failed)
    assert later_ok == ids, "a delivery that failed during the outage was never delivered again"
    hung = [d for d in failed if d.outcome == "TimedOut"]
    assert hung == [], f"{len(hung)} invocations waited out Event Grid's 30 s for storage instead of failing fast"
    log = stack.host_log()
    return {"deliveries_failed_during_outage": len(failed), "failed_delivery_max_s": round(latencies[-1], 1)
            if latencies else 0, "redelivered_ok": len(later_ok), "poison_messages": poisoned,
            "dead_letters": len(stack.cloud.eventgrid.dead_letters),
            # what was sent just before the outage, recorded once storage was back (shared.state.release_sent)
            "sent_notice_record_retries": log.count("link.notices.record_retry"),
            # timer reads left aside because another invocation had moved the link on since (shared.link.Seeds)
            "outdated_timer_reads": log.count("link.seeds_outdated")}


def _break_storage(stack, outage: dict[str, Any], after_s: float, for_s: float) -> threading.Thread:
    def run() -> None:
        time.sleep(after_s)
        outage["started"], outage["wall_started"] = time.monotonic(), time.time()
        stack.azurite.stop()
        time.sleep(for_s)
        stack.azurite.start_again()
        outage["ended"], outage["wall_ended"] = time.monotonic(), time.time()

    t = threading.Thread(target=run, name="storage-outage", daemon=True)
    t.start()
    return t


def soak(stack, n: int, *, outage: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create n clusters, wait for every link, delete them, wait for nothing left; checks and figures.
    With `outage`, Azurite goes down for RELIABILITY_OUTAGE_S a few seconds into the creates."""
    cloud, op = stack.cloud, Operator(stack.cloud)
    cloud.arm.limits.update({"read": (100000, 10000.0), "write": (100000, 10000.0), "delete": (100000, 10000.0)})
    cloud.eventgrid.duplicate_probability = 0.2
    cloud.eventgrid.reorder = True
    rules = [FaultRule(id=f"soak-{i}", principal="hublink", probability=FAULT_RATE / len(FAULTS), **f)
             for i, f in enumerate(FAULTS)]
    cloud.arm.faults.extend(rules)
    spokes = [s["subscription_id"] for s in cloud.world.spokes]
    plan = [(f"soak-{i:04d}", spokes[i % len(spokes)], REGIONS[(i // len(spokes)) % len(REGIONS)]) for i in range(n)]
    store = stack.store()
    started = time.monotonic()
    breaker = _break_storage(stack, outage, 3.0, SCALE["outage_s"]) if outage is not None else None

    def create(item):
        name, sub, region = item
        cid = op.create_cluster(name, subscription=sub, region=region)
        if int(name[-4:]) % FOREIGN_EVERY == 0:
            op.create_foreign_endpoint(cid, name=f"pe-foreign-{name}")
        return cid

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, plan))
    created_s = time.monotonic() - started

    def all_ready():
        rows = store.list()
        return len(rows) == n and all(r.phase is Phase.READY for r in rows) and rows
    def all_ready_after_outage():
        return (breaker is None or not breaker.is_alive()) and _quiet(all_ready)

    rows = _wait(all_ready_after_outage, 60 + n * 1.0 + (SCALE["outage_s"] * 3 if outage is not None else 0),
                 f"{n} links Ready")
    ready_s = time.monotonic() - started
    census = Census.take(cloud)
    assert census.foreign_approvals() == [], "a foreign connection was approved"
    assert all(len(census.endpoints_for(cid)) == 1 and len(census.records_for(cid)) == 1 for cid in ids)
    latencies = sorted((r.ready_at - r.created_at).total_seconds() for r in rows)

    deleting = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(op.delete_cluster, ids))

    def nothing_left():
        c = Census.take(cloud)
        return not store.list() and not c.endpoints and not c.records and not c.clusters and c
    census = _wait(nothing_left, 60 + n * 1.0, "every link cleaned up")
    cleaned_s = time.monotonic() - deleting
    for name, *_ in plan[::FOREIGN_EVERY]:
        op.delete_endpoint(f"pe-foreign-{name}")

    notices = _notices(stack)
    per_cluster = Counter((e["clusterId"].lower(), e["type"]) for e in notices)
    posted = Counter(e["id"] for e in notices)
    for cid in ids:
        seen = [(e["type"], e["id"], e["timestamp"], e["previousPhase"]) for e in notices
                if e["clusterId"].lower() == cid.lower()]
        counts = per_cluster[(cid.lower(), "link.ready")], per_cluster[(cid.lower(), "link.cleaned_up")]
        assert counts == (1, 1), f"{seen}\n{_story(stack, cid)}"
    assert max(posted.values()) == 1, "a notice was posted twice"
    leaks = [what for what, value in stack.secrets().items() if value in stack.host_log() or
             any(value in r["raw"] for r in stack.sink.received)]
    assert leaks == [], leaks

    deliveries = list(cloud.eventgrid.deliveries)
    return dict(
        clusters=n, tenants=len({cloud.world.tenant_of(s) for s in spokes}), subscriptions=len(spokes),
        regions=len(REGIONS), faults_injected=sum(r.hits for r in rules),
        product_arm_calls=len(cloud.arm.entries(principal="hublink")),
        deliveries=len(deliveries), duplicate_deliveries=sum(1 for d in deliveries if d.duplicate),
        delivery_timeouts=sum(1 for d in deliveries if d.outcome == "TimedOut"),
        converged=f"{len(rows)}/{n}", ready_p50_s=round(latencies[len(latencies) // 2], 1),
        ready_p95_s=round(latencies[int(len(latencies) * 0.95) - 1 if n >= 20 else -1], 1),
        all_ready_s=round(ready_s, 1), create_calls_s=round(created_s, 1), all_cleaned_s=round(cleaned_s, 1),
        orphans=0, notices=dict(Counter(e["type"] for e in notices)), duplicate_notices=0, foreign_approved=0,
        secrets_leaked=0)


def _story(stack, cluster_id: str, most: int = 80) -> str:
    """The host log's lines about one cluster's phases and notices: what a failed count needs explained."""
    name = cluster_id.rsplit("/", 1)[-1]
    kinds = ("notice.", "link.reconciled", "link.seeds_outdated", "link.notices", "link.busy")
    lines = [line for line in stack.host_log().splitlines() if f"/{name} " in f"{line} " and any(k in line for k in kinds)]
    return "\n".join(lines[-most:])


def _quiet(check):
    """`check()`, or None while storage is still unreachable (Azurite starting again)."""
    from azure.core.exceptions import AzureError

    from shared.errors import TransientError

    try:
        return check()
    except (AzureError, TransientError):
        return None
