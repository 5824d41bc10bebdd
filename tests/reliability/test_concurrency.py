"""Everything at once for one cluster: 20 duplicated and reordered events, a timer run and HTTP retries.

The function app's entry points run on threads released together (as the Functions host runs
invocations in parallel). However they interleave, the cluster gets exactly one hub endpoint and
one A record, and each transition (ready, cleaned up) is announced once.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import function_app
from reliability import figures
from shared import handlers
from shared.ids import ClusterId
from shared.model import Phase
from shared.runtime import get_runtime
from tests.reliability.harness import Census, drive, notices_for
from tests.reliability.product import cluster_event, http_request

EVENTS = 20
HTTP_RETRIES = 3


def _storm(cluster_id: str, kinds: list[str]) -> dict[str, int]:
    """Fire the events (each id twice in places, order shuffled), a sweep and HTTP retries at once."""
    events = [cluster_event(cluster_id, kind) for kind in kinds]
    events += [cluster_event(cluster_id, "write", event_id=e.id) for e in events[:EVENTS - len(events)]]  # redelivered
    random.shuffle(events)
    calls = [lambda e=e: function_app.on_cluster_event(e) for e in events]
    calls.append(lambda: handlers.sweep(discover=True))
    calls += [lambda: function_app.reconcile_link(http_request("POST", "links/reconcile", {"clusterId": cluster_id}))
              for _ in range(HTTP_RETRIES)]
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - any exception from an entry point is a failure
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [], errors
    return {"invocations": len(calls), "events": len(events)}


def _writes(cloud, cluster_id: str, record_name: str) -> Counter:
    """This cluster's successful writes (other links of the session's devcloud may be writing too)."""
    cluster = ClusterId.parse(cluster_id)
    endpoint, record = f"/privateendpoints/{cluster.endpoint_name}".lower(), f"/a/{record_name}".lower()
    approval = f"/managedclusters/{cluster.name}/privateendpointconnections/".lower()
    out: Counter = Counter()
    for e in cloud.arm.entries(principal="hublink"):
        if e.method in ("PUT", "DELETE") and 200 <= e.status < 300:
            path = e.path.lower()
            kind = "endpoint" if path.endswith(endpoint) else "record" if path.endswith(record) else \
                "approval" if approval in path else "other"
            out[f"{e.method} {kind}"] += 1
    return out


def test_storm_for_one_cluster(cloud, op, app_env, sink):
    cluster_id = op.create_cluster()
    started = time.monotonic()
    fired = _storm(cluster_id, ["write"] * 12 + ["start"] * 2 + ["delete"] * 2)  # stale deletes arrive too
    rt = get_runtime()
    final = drive(rt.service, cluster_id)[-1]  # what the continuation queue does next
    assert final.phase is Phase.READY, final.message
    census = Census.take(cloud)
    assert len(census.endpoints_for(cluster_id)) == 1 and len(census.records_for(cluster_id)) == 1
    record_name = rt.service.store.get(ClusterId.parse(cluster_id)).record_name
    writes = _writes(cloud, cluster_id, record_name)
    assert writes["PUT endpoint"] == 1 and writes["PUT record"] == 1 and writes["PUT approval"] == 1, writes
    ready_s = time.monotonic() - started

    op.delete_cluster(cluster_id)
    _storm(cluster_id, ["delete"] * 10 + ["write"] * 6)  # the create events come late
    final = drive(rt.service, cluster_id)[-1]
    assert final.phase is Phase.ABSENT, final.message
    census = Census.take(cloud)
    assert census.endpoints_for(cluster_id) == [] and census.records_for(cluster_id) == []
    assert rt.service.store.get(ClusterId.parse(cluster_id)) is None
    writes = _writes(cloud, cluster_id, record_name)
    assert writes["DELETE endpoint"] == 1 and writes["DELETE record"] == 1, writes

    posts = Counter(n["type"] for n in notices_for(sink, cluster_id, "/hook"))
    ids = Counter(n["id"] for n in notices_for(sink, cluster_id, "/hook"))
    assert posts == Counter({"link.ready": 1, "link.cleaned_up": 1}), posts
    assert max(ids.values()) == 1, "a notice was posted twice"
    figures.record("concurrency", invocations_per_phase=fired["invocations"], events=fired["events"],
                   endpoint_creates=writes["PUT endpoint"], record_writes=writes["PUT record"],
                   notices=dict(posts), ready_after_s=round(ready_s, 1))


def test_a_notice_being_sent_is_not_sent_again_by_the_next_run(cloud, op, make, sink):
    """A slow webhook holds the first delivery; a reconcile that starts meanwhile (a duplicate event)
    must not post the same notice again."""
    rec = make()
    cluster_id = op.create_cluster()
    sink.hang_next(2.0)
    first = threading.Thread(target=rec.reconcile, args=(cluster_id,))
    first.start()
    deadline = time.monotonic() + 15
    while not notices_for(sink, cluster_id) and time.monotonic() < deadline:  # the first post is being held
        time.sleep(0.05)
    second = rec.reconcile(cluster_id)
    first.join()
    assert second.phase is Phase.READY or second.busy
    drive(rec, cluster_id)
    ids = Counter(n["id"] for n in notices_for(sink, cluster_id, "/hook"))
    assert list(ids.values()) == [1], f"posted {dict(ids)}"
    op.delete_cluster(cluster_id)
    drive(rec, cluster_id)
