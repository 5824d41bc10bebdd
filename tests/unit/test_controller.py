"""The controller's outcomes against in-memory fakes of the product's adapters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.errors import SubscriptionNotConfigured, TransientError
from shared.ids import ClusterId
from shared.model import Phase
from tests.unit.fakes import HUB, POLL_S, cluster_id, world


def test_a_fresh_cluster_is_linked_when_azure_says_to_look_again():
    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    first = w.controller.reconcile(cid)
    assert first.phase is Phase.PROVISIONING and first.requeue_after == POLL_S, "the PUT, then back at the Retry-After"
    assert w.clock.slept == [], "nothing waits for Azure"
    w.clock.advance(first.requeue_after)
    outcome = w.settle(cid)
    assert outcome.phase is Phase.READY and outcome.requeue_after is None and not outcome.error
    assert w.invocations == 1, "the first poll Azure allows sees the endpoint Succeeded and finishes the link"
    row = w.store.rows[ClusterId.parse(cid).key]
    assert row.phase is Phase.READY and row.private_ip == "10.1.0.4" and row.lease_owner is None
    assert row.next_attempt_at == w.clock.now() + timedelta(seconds=3600), "the drift check"
    assert [c.status for c in w.clusters.conns[ClusterId.parse(cid).key]] == ["Approved"]
    assert list(w.dns.records) == [row.record_name]
    again = w.controller.reconcile(cid)
    assert again.phase is Phase.READY and w.endpoints.calls.count("begin_create") == 1, "a Ready link is a no-op"


def test_a_running_operation_is_read_only_at_azures_poll_times():
    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    w.endpoints.duration_s = 45.0
    outcome = w.controller.reconcile(cid)
    assert outcome.phase is Phase.PROVISIONING and outcome.requeue_after == POLL_S
    assert outcome.message == "hub endpoint is being provisioned"
    row = w.store.rows[ClusterId.parse(cid).key]
    assert row.operation_at == w.clock.now() and row.poll_s == POLL_S and row.lease_owner is None
    # A continuation that lands early (the queue's delay is whole seconds) reads nothing.
    w.clock.advance(POLL_S - 0.6)
    reads = (w.endpoints.calls.count("get"), w.clusters.calls.count("get"))
    early = w.controller.reconcile(cid)
    assert early.idle and early.requeue_after == pytest.approx(0.6) and early.phase is Phase.PROVISIONING
    assert (w.endpoints.calls.count("get"), w.clusters.calls.count("get")) == reads, "no ARM call before the poll time"
    w.clock.advance(0.6)
    gets, cluster_gets = w.endpoints.calls.count("get"), w.clusters.calls.count("get")
    assert w.settle(cid).phase is Phase.READY
    assert w.endpoints.calls.count("get") - gets == 5, "one endpoint read at each poll time: 10, 20, 30, 40 and 50 s"
    assert w.clusters.calls.count("get") - cluster_gets == 1, "the cluster is read again only once the operation ended"
    assert w.clock.slept == []


def _running(w, cid):
    from shared.endpoints import Endpoint

    name = ClusterId.parse(cid).endpoint_name
    return Endpoint(
        id=f"/x/{name}",
        name=name,
        provisioning_state="Updating",
        target_id=ClusterId.parse(cid).id,
        connection_status="Pending",
        nic_ids=(),
    )


def test_an_operation_seen_running_is_requeued_at_the_poll_time():
    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    w.endpoints.endpoints[ClusterId.parse(cid).endpoint_name] = _running(w, cid)
    outcome = w.controller.reconcile(cid)
    assert outcome.requeue_after == POLL_S and outcome.message == "hub endpoint is Updating"
    assert w.clock.slept == []


def test_transient_error_backs_off_and_counts_attempts():
    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    w.clusters.fail["get"] = TransientError("ARM is down", code="ServiceUnavailable", status=503)
    first = w.controller.reconcile(cid)
    assert first.error and not first.terminal and 8.0 <= first.requeue_after <= 12.0
    second = w.controller.reconcile(cid)
    assert 16.0 <= second.requeue_after <= 24.0
    row = w.store.rows[ClusterId.parse(cid).key]
    assert row.attempts == 2 and row.last_error_code == "ServiceUnavailable" and row.lease_owner is None
    w.clusters.fail["get"] = TransientError("throttled", retry_after=42.0, status=429)
    assert w.controller.reconcile(cid).requeue_after == 42.0, "Azure's Retry-After wins over the backoff"
    del w.clusters.fail["get"]
    assert w.settle(cid).phase is Phase.READY
    assert w.store.rows[ClusterId.parse(cid).key].attempts == 0


def test_terminal_error_fails_the_link_until_something_changes():
    w = world(hubs={})
    cid = cluster_id()
    w.clusters.add(cid)
    outcome = w.controller.reconcile(cid)
    assert outcome.terminal and outcome.phase is Phase.FAILED and outcome.requeue_after is None
    row = w.store.rows[ClusterId.parse(cid).key]
    assert row.last_error_code == "NoHubForRegion" and row.next_attempt_at is None


def test_busy_lease_answers_busy_and_touches_nothing():
    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    w.settle(cid)
    w.store.touch(cid, lease_owner="another-run", lease_until=w.clock.now() + timedelta(seconds=30))
    writes, calls = w.store.writes, list(w.clusters.calls)
    outcome = w.controller.reconcile(cid)
    assert outcome.busy and outcome.requeue_after == 30.0 and outcome.phase is Phase.READY
    assert (w.store.writes, w.clusters.calls) == (writes, calls)


def test_an_expired_lease_is_taken_over():
    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    w.settle(cid)
    w.store.touch(cid, lease_owner="crashed-run", lease_until=w.clock.now() - timedelta(seconds=1))
    assert w.controller.reconcile(cid).phase is Phase.READY


def test_lost_lease_at_the_final_write_is_a_retry_not_an_exception():
    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    real = w.clusters.get

    def slow_get(cluster, tenant):  # our lease runs out meanwhile and another run writes the row
        w.store.touch(cid, lease_owner="another-run", message="theirs")
        return real(cluster, tenant)

    w.clusters.get = slow_get  # type: ignore[method-assign]
    outcome = w.controller.reconcile(cid)
    assert outcome.requeue_after == 2.0 and outcome.error and not outcome.busy
    assert w.store.rows[ClusterId.parse(cid).key].message == "theirs", "nothing of ours written over theirs"


def test_concurrent_update_at_an_intent_write_is_a_retry_not_an_exception():
    w = world()
    cid = cluster_id()
    w.clusters.add(cid)

    def before_write(state):
        if state.phase is Phase.PROVISIONING and state.message != "theirs":
            w.store.before_write = None
            w.store.touch(cid, message="theirs")

    w.store.before_write = before_write
    outcome = w.controller.reconcile(cid)
    assert outcome.requeue_after == 2.0 and outcome.error and "changed" in outcome.message
    assert w.endpoints.calls.count("begin_create") == 0, "nothing is created after the intent write failed"


def test_a_subscription_that_is_not_a_spoke_is_refused_before_anything_is_read():
    w = world()
    other = cluster_id().replace("20000000-0000-4000-8000-0000000000b1", "30000000-0000-4000-8000-0000000000c1")
    with pytest.raises(SubscriptionNotConfigured) as err:
        w.controller.reconcile(other)
    assert err.value.status == 404 and w.store.rows == {} and w.clusters.calls == []


def test_notices_are_planned_before_the_write_and_delivered_under_the_lease():
    seen = []

    class Notes:
        def plan(self, state, previous, outcome):
            state.notices.pending = [{"key": f"{outcome.phase}"}]

        def announce(self, state, kind, key, **fields):
            return False

        def deliver(self, state):
            seen.append((state.lease_owner is not None, w.store.rows[ClusterId.parse(state.cluster_id).key].lease_owner))
            state.notices.pending = []
            return True

    w = world(notifier=Notes())
    cid = cluster_id()
    w.clusters.add(cid)
    assert w.settle(cid).phase is Phase.READY
    assert seen and seen[0][0] and seen[0][1] is not None, "delivered while the row is still leased"
    row = w.store.rows[ClusterId.parse(cid).key]
    assert row.lease_owner is None and row.notices.pending == []


class _ReadyNotes:
    """Announces Ready once per transition (key in sent or pending: not again), as shared.notify does;
    `deliver` counts what a webhook received and can start a storage outage at the moment it sends."""

    def __init__(self, store):
        self.store, self.received, self.outage_writes = store, [], 0

    def plan(self, state, previous, outcome):
        keys = {p["key"] for p in state.notices.pending} | set(state.notices.sent)
        if outcome.phase is Phase.READY and previous is not Phase.READY and "ready" not in keys:
            state.notices.pending.append({"key": "ready", "id": f"n{len(self.received) + 1}"})

    def announce(self, state, kind, key, **fields):
        return False

    def deliver(self, state):
        for notice in list(state.notices.pending):
            self.received.append(notice["id"])
            state.notices.pending.remove(notice)
            state.notices.sent[notice["key"]] = "now"
        self.store.failing = self.outage_writes  # storage drops out right after the webhook answered
        return True


def _flaky_store(w):
    """Each conditional write fails as an unreachable account does while `store.failing` > 0."""
    w.store.failing = 0

    def write(state):
        if w.store.failing > 0:
            w.store.failing -= 1
            raise TransientError("update state row: connection failed: ServiceRequestError")

    w.store.before_write = write


def test_what_was_sent_reaches_the_row_when_storage_drops_out_during_the_send():
    """Storage unreachable between the webhook's answer and the row write: the write is tried again
    while the lease holds, so no later run sends the notice a second time."""
    w = world()
    _flaky_store(w)
    notes = w.controller.notifier = _ReadyNotes(w.store)
    notes.outage_writes = 3
    cid = cluster_id()
    w.clusters.add(cid)
    assert w.settle(cid).phase is Phase.READY
    row = w.store.rows[ClusterId.parse(cid).key]
    assert row.notices.pending == [] and "ready" in row.notices.sent and row.lease_owner is None
    assert w.clock.slept == [0.5, 1.0, 2.0], "backing off while storage is unreachable"
    w.clock.advance(3600)
    assert w.controller.reconcile(cid).phase is Phase.READY
    assert notes.received == ["n1"], "the notice went out once"


def test_past_its_lease_a_run_gives_up_recording_and_the_notice_goes_again_with_its_id():
    """An outage longer than the lease: the invocation fails (its trigger retries); another run may
    take the row by then, so the notice still pending is sent again, with the same id (at least once)."""
    w = world()
    _flaky_store(w)
    notes = w.controller.notifier = _ReadyNotes(w.store)
    notes.outage_writes = 10**6
    cid = cluster_id()
    w.clusters.add(cid)
    with pytest.raises(TransientError):
        w.settle(cid)
    row = w.store.rows[ClusterId.parse(cid).key]
    assert [p["id"] for p in row.notices.pending] == ["n1"] and row.lease_owner is not None
    assert w.clock.now() < row.lease_until, "nothing written once the lease could have run out"
    notes.outage_writes = w.store.failing = 0  # storage is back
    busy = w.controller.reconcile(cid)
    assert busy.busy, "the lease keeps others off until it runs out"
    w.clock.advance((row.lease_until - w.clock.now()).total_seconds())
    assert w.controller.reconcile(cid).phase is Phase.READY
    assert notes.received == ["n1", "n1"] and w.store.rows[ClusterId.parse(cid).key].notices.pending == []


def test_only_the_continuation_a_waiting_link_expects_keeps_its_chain_going():
    from shared.service import _awaited

    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    w.endpoints.duration_s = 45.0
    first = w.controller.reconcile(cid)
    asked_for = w.clock.now() + timedelta(seconds=first.requeue_after)  # what the continuation carries
    w.clock.advance(first.requeue_after - 0.7)  # it lands early (whole seconds, rounded down)
    early = w.controller.reconcile(cid)
    assert early.idle and _awaited(early, asked_for), "the chain's own continuation requeues itself"
    stale = asked_for - timedelta(seconds=5)  # e.g. the look-again of an earlier "cluster is Creating"
    assert not _awaited(early, stale), "a stale continuation ends there: the row waits for another"
    assert _awaited(early, None), "a message without its time keeps going (messages of older versions)"


def test_an_invocation_that_dies_holding_the_lease_leaves_its_row_due_when_the_lease_runs_out():
    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    assert w.settle(cid).phase is Phase.READY
    ready = w.store.get(ClusterId.parse(cid))
    assert ready.next_attempt_at == w.clock.now() + timedelta(seconds=3600)  # the drift check
    taken = w.store.acquire(ClusterId.parse(cid), "dies", 50.0)  # ...and its process is killed here
    row = w.store.get(ClusterId.parse(cid))
    assert row.lease_owner == "dies" and row.next_attempt_at == row.lease_until == taken.state.lease_until
    assert w.store.due(w.clock.now()) == []
    w.clock.advance(50.0)
    assert [r.cluster_id for r in w.store.due(w.clock.now())] == [ClusterId.parse(cid).id]
    assert w.controller.reconcile(cid).phase is Phase.READY  # the timer's run: the lease has run out
    assert w.store.get(ClusterId.parse(cid)).next_attempt_at == w.clock.now() + timedelta(seconds=3600)


def test_the_timers_reads_are_used_only_for_the_row_they_were_made_for():
    """The timer lists the hub, then reconciles due links from that list. A link another invocation
    took to Ready in between must not be judged by the stale list (its endpoint still "Updating"):
    that flapped it to Provisioning and announced it Ready a second time."""
    from shared.link import Seeds

    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    w.endpoints.duration_s = 45.0
    assert w.controller.reconcile(cid).phase is Phase.PROVISIONING
    w.clock.advance(POLL_S)
    listed_row = w.store.rows[ClusterId.parse(cid).key]
    listed = w.endpoints.get(HUB, ClusterId.parse(cid).endpoint_name)
    assert listed is not None and listed.in_progress
    stale = Seeds(listed_row.etag, {"endpoint": listed})
    w.clock.advance(40.0)
    assert w.settle(cid).phase is Phase.READY  # a continuation finished it meanwhile
    ready_at = w.store.rows[ClusterId.parse(cid).key].ready_at
    gets = w.endpoints.calls.count("get")
    outcome = w.controller.reconcile(cid, seeds=stale)
    assert outcome.phase is Phase.READY and w.store.rows[ClusterId.parse(cid).key].ready_at == ready_at
    assert w.endpoints.calls.count("get") == gets + 1, "the endpoint is read afresh"

    # Reads made for the row as it still is are used instead of reading again.
    row = w.store.rows[ClusterId.parse(cid).key]
    fresh = Seeds(row.etag, {"endpoint": w.endpoints.get(HUB, ClusterId.parse(cid).endpoint_name)})
    gets = w.endpoints.calls.count("get")
    assert w.controller.reconcile(cid, seeds=fresh).phase is Phase.READY
    assert w.endpoints.calls.count("get") == gets, "the listed endpoint stood in for the read"
