"""Transient 404: a single 404 on the cluster read is not a deletion.

A Ready link whose cluster read answers 404 once, or three times within the confirmation window
(HUBLINK_ABSENCE_CONFIRM_S, its default 20 s here), keeps its endpoint and record; a cluster that
is really deleted, and whose ResourceDeleteSuccess event never arrives, is still cleaned up within
60 s, by the read that confirms the absence.
"""

from __future__ import annotations

import time

import pytest

from devcloud.arm import FaultRule
from reliability import figures
from shared.ids import ClusterId
from shared.model import Phase
from tests.reliability.harness import Census, drive, notices_for

DEFAULT_CONFIRM_S = "20"  # the product's default (shared.settings)


@pytest.mark.parametrize("times", [1, 3])
def test_a_ready_link_survives_transient_404s(cloud, op, make, sink, times):
    rec = make(HUBLINK_ABSENCE_CONFIRM_S=DEFAULT_CONFIRM_S)
    cluster_id = op.create_cluster()
    assert drive(rec, cluster_id)[-1].phase is Phase.READY
    before = rec.store.get(ClusterId.parse(cluster_id))
    rule = FaultRule(id=f"transient-404-{times}", method="GET", path=ClusterId.parse(cluster_id).id + "$",
                     status=404, times=times, principal="hublink")
    cloud.arm.faults.append(rule)
    outcomes = [rec.reconcile(cluster_id) for _ in range(times)]  # an event, the timer, an HTTP retry...
    assert all(o.phase is Phase.READY and o.requeue_after for o in outcomes), [o.message for o in outcomes]
    assert rule.hits == times
    census = Census.take(cloud)
    assert len(census.endpoints_for(cluster_id)) == 1 and len(census.records_for(cluster_id)) == 1
    time.sleep(outcomes[-1].requeue_after)  # the continuation the Wait asked for
    after = rec.reconcile(cluster_id)
    assert after.phase is Phase.READY and rec.store.get(ClusterId.parse(cluster_id)).absent_since is None
    census = Census.take(cloud)
    [endpoint] = census.endpoints_for(cluster_id)
    assert endpoint.id.lower() == before.endpoint_id.lower() and len(census.records_for(cluster_id)) == 1
    deletes = [e for e in cloud.arm.entries(principal="hublink") if e.method == "DELETE"]
    assert deletes == [], "nothing of the link was deleted"
    kinds = [n["type"] for n in notices_for(sink, cluster_id)]
    assert kinds.count("link.ready") == 1 and "link.cleaned_up" not in kinds, kinds
    op.delete_cluster(cluster_id)
    drive(rec, cluster_id, max_sleep_s=25)
    figures.record("transient 404", n=times, kept_endpoint=True, kept_record=True, endpoint_deletes=0,
                   notices=kinds)


def test_a_really_deleted_cluster_is_cleaned_up_within_a_minute_without_its_event(cloud, op, make):
    rec = make(HUBLINK_ABSENCE_CONFIRM_S=DEFAULT_CONFIRM_S)
    cluster_id = op.create_cluster()
    assert drive(rec, cluster_id)[-1].phase is Phase.READY
    op.delete_cluster(cluster_id)
    deleted = time.monotonic()
    outcomes = drive(rec, cluster_id, max_sleep_s=30)  # as the continuation queue would, at the asked time
    cleaned_s = time.monotonic() - deleted
    assert outcomes[-1].phase is Phase.ABSENT, outcomes[-1].message
    assert cleaned_s < 60, cleaned_s
    census = Census.take(cloud)
    assert census.endpoints_for(cluster_id) == [] and census.records_for(cluster_id) == []
    assert rec.store.get(ClusterId.parse(cluster_id)) is None
    figures.record("transient 404", n="deleted", cleaned_s=round(cleaned_s, 1), reconciles=len(outcomes))
