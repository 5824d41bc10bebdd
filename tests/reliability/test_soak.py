"""Soak: many clusters created and deleted across tenants, subscriptions and regions, on the full
stack (the function app in the local Functions host, fed by devcloud's Event Grid, its timer and
continuation queue running), with random ARM faults and duplicated, reordered event deliveries.

Every link must become Ready, then leave nothing behind once its cluster is deleted (no hub
endpoint, no A record, no state row, no cluster-side connection), with each transition announced
once, no foreign connection ever approved, and no secret in the host's log or in a notice.
`make test` runs a small version; `make soak` runs 500 clusters (RELIABILITY_SOAK_CLUSTERS).
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

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
pytestmark = pytest.mark.timeout(300 + 4 * SCALE["soak_clusters"])


def soak_world():
    """The default world (2 tenants, 3 spokes, 2 hub regions) with a hub subnet big enough for 500 endpoints."""
    world = product_world()
    world.subnets[0].prefix = "10.10.0.0/20"
    return world


@pytest.fixture(scope="module")
def stack():
    # One host with 16 worker threads stands in for the instances Azure Functions would scale out to.
    s = Stack(soak_world(), PYTHON_THREADPOOL_THREAD_COUNT="16", HUBLINK_TIMER_SCHEDULE="*/2 * * * * *",
              HUBLINK_DISCOVERY_INTERVAL_S="15",
              HUBLINK_BACKOFF_BASE_S="0.5", HUBLINK_BACKOFF_MAX_S="4", HUBLINK_FAILURE_ALERT_AFTER="4").start()
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
    n = SCALE["soak_clusters"]
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
    rows = _wait(all_ready, 60 + n * 1.0, f"{n} links Ready")
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
        assert per_cluster[(cid.lower(), "link.ready")] == 1, seen
        assert per_cluster[(cid.lower(), "link.cleaned_up")] == 1, seen
    assert max(posted.values()) == 1, "a notice was posted twice"
    leaks = [what for what, value in stack.secrets().items() if value in stack.host_log() or
             any(value in r["raw"] for r in stack.sink.received)]
    assert leaks == [], leaks

    deliveries = list(cloud.eventgrid.deliveries)
    figures.record(
        "soak", clusters=n, tenants=len({cloud.world.tenant_of(s) for s in spokes}), subscriptions=len(spokes),
        regions=len(REGIONS), faults_injected=sum(r.hits for r in rules),
        product_arm_calls=len(cloud.arm.entries(principal="hublink")),
        deliveries=len(deliveries), duplicate_deliveries=sum(1 for d in deliveries if d.duplicate),
        delivery_timeouts=sum(1 for d in deliveries if d.outcome == "TimedOut"),
        converged=f"{len(rows)}/{n}", ready_p50_s=round(latencies[len(latencies) // 2], 1),
        ready_p95_s=round(latencies[int(len(latencies) * 0.95) - 1 if n >= 20 else -1], 1),
        all_ready_s=round(ready_s, 1), create_calls_s=round(created_s, 1), all_cleaned_s=round(cleaned_s, 1),
        orphans=0, notices=dict(Counter(e["type"] for e in notices)), duplicate_notices=0, foreign_approved=0,
        secrets_leaked=0)
