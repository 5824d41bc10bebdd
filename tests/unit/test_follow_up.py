"""Which look-again a trigger queues after a reconcile (shared.service), and when a continuation runs.

controller-runtime's split: the controller answers `requeue_after`; the service layer owns whether a
message goes on the queue for it. These run the real `Service.reconcile` over a controller that
answers a given outcome.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from shared.model import Outcome, Phase
from shared.service import Service
from tests.unit.fakes import FakeClock, cluster_id


class Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, float, str]] = []

    def schedule(self, cid: str, after_s: float, *, reason: str = "", deletion_reported: bool = False) -> None:
        self.sent.append((cid, after_s, reason))


def service(outcome: Outcome) -> tuple[SimpleNamespace, Queue, FakeClock, list]:
    clock, queue, seen = FakeClock(), Queue(), []

    def reconcile(cid, **kw):
        seen.append(clock.now())
        return outcome

    svc = SimpleNamespace(controller=SimpleNamespace(reconcile=reconcile), continuations=queue, clock=clock, event_budget_s=20.0)
    svc._align = lambda woken_for: Service._align(svc, woken_for)
    return svc, queue, clock, seen


def reconcile(svc, **kw) -> Outcome:
    return Service.reconcile(svc, cluster_id(), **kw)


def test_an_event_that_met_another_invocations_lease_queues_a_look_again():
    busy = Outcome(cluster_id(), Phase.PENDING, "busy", requeue_after=2.0, busy=True)
    svc, queue, _, _ = service(busy)
    reconcile(svc, follow_up="event")
    assert queue.sent == [(cluster_id(), 2.0, "event")], "that run may have read the cluster before the change"


def test_a_continuation_that_met_a_lease_leaves_the_follow_up_to_the_lease_holder():
    busy = Outcome(cluster_id(), Phase.PENDING, "busy", requeue_after=2.0, busy=True)
    svc, queue, _, _ = service(busy)
    reconcile(svc, follow_up="continuation")
    assert queue.sent == []


@pytest.mark.parametrize("follow_up", ["event", "continuation"])
def test_a_cluster_mid_operation_waits_for_its_event_not_for_a_continuation(follow_up):
    creating = Outcome(cluster_id(), Phase.PENDING, "cluster is Creating", requeue_after=60.0, by_event=True)
    svc, queue, _, _ = service(creating)
    reconcile(svc, follow_up=follow_up)
    assert queue.sent == []


def test_a_continuation_visible_before_azures_poll_time_waits_the_fraction_then_reads_once():
    waiting = Outcome(cluster_id(), Phase.PROVISIONING, "provisioning", requeue_after=10.0)
    svc, queue, clock, seen = service(waiting)
    asked_for = clock.now() + timedelta(seconds=0.4)  # asked for 10.4 s, visible at 10 s (whole seconds)
    reconcile(svc, follow_up="continuation", woken_for=asked_for)
    assert clock.slept == [pytest.approx(0.4)] and seen == [asked_for], "the reconcile runs at the poll time"
    assert len(queue.sent) == 1, "one look-again for the next poll, no chain of idle invocations"


@pytest.mark.parametrize("early_s", [0.0, -2.0, 5.0])
def test_a_continuation_on_time_late_or_far_early_does_not_wait(early_s):
    waiting = Outcome(cluster_id(), Phase.PROVISIONING, "provisioning", requeue_after=10.0)
    svc, _, clock, seen = service(waiting)
    reconcile(svc, follow_up="continuation", woken_for=clock.now() + timedelta(seconds=early_s))
    assert clock.slept == [] and len(seen) == 1, "only the queue's sub-second rounding is waited out"
