"""Every branch of the steps, through the controller, against in-memory fakes of the adapters."""

from __future__ import annotations

from dataclasses import replace

from shared.dns import Record
from shared.endpoints import Endpoint
from shared.errors import TransientError
from shared.ids import ClusterId
from shared.model import AuditEntry, Phase
from tests.unit.fakes import HUB_RG, cluster_id, world


def linked(**kw):
    w = world(**kw)
    cid = cluster_id()
    w.clusters.add(cid)
    return w, cid, ClusterId.parse(cid)


def row(w, cid):
    return w.store.rows.get(ClusterId.parse(cid).key)


ABSENCE_CONFIRM_S = 20.0  # the default HUBLINK_ABSENCE_CONFIRM_S (tests.unit.fakes.world)


# -- observe_cluster --------------------------------------------------------------------------------
def test_a_cluster_never_seen_and_not_there_leaves_nothing():
    w = world()
    outcome = w.controller.reconcile(cluster_id("gone"))
    assert outcome.phase is Phase.ABSENT and w.store.rows == {} and w.endpoints.calls.count("begin_delete") == 0


def test_a_deleted_cluster_is_cleaned_up_record_endpoint_then_row_once_its_absence_is_confirmed():
    w, cid, c = linked()
    w.settle(cid)
    del w.clusters.clusters[c.key]
    first = w.controller.reconcile(cid)
    assert first.phase is Phase.READY and first.requeue_after == ABSENCE_CONFIRM_S and "404" in first.message
    assert w.dns.records and w.endpoints.endpoints and row(w, cid).absent_since == w.clock.now()
    w.clock.advance(ABSENCE_CONFIRM_S)
    outcome = w.settle(cid)
    assert outcome.phase is Phase.ABSENT and outcome.message == "cleaned up: the cluster no longer exists"
    assert w.dns.records == {} and w.endpoints.endpoints == {} and w.store.rows == {}


def test_a_single_404_keeps_a_ready_link_and_a_good_read_resets_the_confirmation():
    w, cid, c = linked()
    w.settle(cid)
    endpoint_before, records_before = dict(w.endpoints.endpoints), dict(w.dns.records)
    live = w.clusters.clusters.pop(c.key)
    for _ in range(3):  # three 404s within the window: still waiting for a confirming read
        outcome = w.controller.reconcile(cid)
        assert outcome.phase is Phase.READY and 0 < outcome.requeue_after <= ABSENCE_CONFIRM_S
        w.clock.advance(ABSENCE_CONFIRM_S / 4)
    w.clusters.clusters[c.key] = live
    assert w.controller.reconcile(cid).phase is Phase.READY
    assert row(w, cid).absent_since is None and w.endpoints.calls.count("begin_delete") == 0
    assert w.endpoints.endpoints == endpoint_before and w.dns.records == records_before
    del w.clusters.clusters[c.key]
    w.clock.advance(ABSENCE_CONFIRM_S * 2)  # a 404 long after the earlier streak starts a new window
    assert w.controller.reconcile(cid).phase is Phase.READY and row(w, cid).absent_since == w.clock.now()


def test_a_delete_event_confirms_the_absence_at_once():
    w, cid, c = linked()
    w.settle(cid)
    del w.clusters.clusters[c.key]
    first = w.controller.reconcile(cid, deletion_reported=True)  # the event's invocation starts the cleanup
    assert first.phase is Phase.DELETING and w.endpoints.calls.count("begin_delete") == 1
    w.clock.advance(first.requeue_after)
    outcome = w.settle(cid)  # its continuation carries no event, and goes on with the confirmed cleanup
    assert outcome.phase is Phase.ABSENT and w.endpoints.endpoints == {} and w.store.rows == {}
    assert w.invocations == 1, "no second confirmation window: the delete is read once at its Retry-After"


def test_a_delete_event_for_a_cluster_that_is_there_changes_nothing():
    w, cid, _ = linked()
    w.settle(cid)
    assert w.controller.reconcile(cid, deletion_reported=True).phase is Phase.READY
    assert w.endpoints.calls.count("begin_delete") == 0 and w.dns.records


def test_public_and_deselected_clusters_are_skipped():
    for changes, kw, reason in (
        ({"private": False}, {}, "public cluster"),
        ({"tags": {"hublink": "disabled"}}, {}, "opted out by tag hublink=disabled"),
        ({}, {"selection": "opt-in"}, "not opted in"),
    ):
        w = world(**kw)
        cid = cluster_id()
        w.clusters.add(cid, **changes)
        outcome = w.controller.reconcile(cid)
        assert outcome.phase is Phase.SKIPPED and reason in outcome.message, (changes, outcome.message)
        assert row(w, cid).next_attempt_at is not None and w.endpoints.calls.count("begin_create") == 0


def test_opting_out_a_linked_cluster_removes_its_endpoint_and_record():
    w, cid, c = linked()
    w.settle(cid)
    w.clusters.add(cid, tags={"hublink": "disabled"})
    assert w.settle(cid).phase is Phase.SKIPPED
    again = w.controller.reconcile(cid)
    assert again.phase is Phase.SKIPPED and not again.idle and row(w, cid).operation_at is None, "the delete is over"
    assert w.dns.records == {} and w.endpoints.endpoints == {} and row(w, cid).endpoint_id is None


def test_a_cluster_being_created_waits_for_its_completion_event():
    w, cid, _ = linked()
    w.clusters.add(cid, provisioning_state="Creating")
    outcome = w.controller.reconcile(cid)
    assert outcome.phase is Phase.PENDING and outcome.by_event, "the create's completion event wakes the link"
    assert outcome.requeue_after == 60.0 and row(w, cid).next_attempt_at is not None, "the timer's backstop"


def test_a_stopped_cluster_waits_for_its_start():
    w, cid, _ = linked()
    w.clusters.add(cid, power_state="Stopped")
    outcome = w.controller.reconcile(cid)
    assert outcome.phase is Phase.PENDING and outcome.requeue_after is None and "stopped" in outcome.message


def test_no_private_fqdn_yet_is_transient():
    w, cid, _ = linked()
    w.clusters.add(cid, private_fqdn=None)
    outcome = w.controller.reconcile(cid)
    assert outcome.error and row(w, cid).last_error_code == "NoPrivateFqdn"


# -- choose_hub -------------------------------------------------------------------------------------
def test_a_region_without_hub_and_a_name_outside_the_zone_are_terminal():
    w, cid, _ = linked()
    w.clusters.add(cid, location="eastus")
    assert w.controller.reconcile(cid).terminal and row(w, cid).last_error_code == "NoHubForRegion"
    w, cid, _ = linked()
    w.clusters.add(cid, private_fqdn="api.example.com")
    assert w.controller.reconcile(cid).terminal and row(w, cid).last_error_code == "FqdnOutsideZone"


# -- ensure_endpoint --------------------------------------------------------------------------------
def test_the_endpoint_targets_the_cluster_with_the_management_group():
    w, cid, c = linked()
    w.settle(cid)
    [target] = w.endpoints.targets
    assert (target.resource_id, target.group_ids) == (c.id, ("management",))
    assert row(w, cid).access_path == "private-link"


def test_an_endpoint_of_that_name_for_another_target_is_a_collision():
    w, cid, c = linked()
    w.endpoints.endpoints[c.endpoint_name] = Endpoint(
        id="/x",
        name=c.endpoint_name,
        provisioning_state="Succeeded",
        target_id="/subscriptions/other/cluster",
        connection_status=None,
        nic_ids=(),
    )
    assert w.controller.reconcile(cid).terminal and row(w, cid).last_error_code == "EndpointNameCollision"


def test_a_failed_or_disconnected_endpoint_is_replaced():
    w, cid, c = linked()
    w.settle(cid)
    old = w.endpoints.endpoints[c.endpoint_name]
    w.endpoints.endpoints[c.endpoint_name] = replace(old, provisioning_state="Failed")
    assert w.settle(cid).phase is Phase.READY
    assert w.endpoints.calls.count("begin_delete") == 1 and w.endpoints.calls.count("begin_create") == 2
    assert row(w, cid).steps["endpoint"].retries == 1
    w.clusters.conns[c.key] = [replace(x, status="Disconnected") for x in w.clusters.conns[c.key]]
    assert w.settle(cid).phase is Phase.READY and w.endpoints.calls.count("begin_create") == 3


def test_a_new_endpoint_whose_connection_is_not_listed_yet_waits_briefly():
    w, cid, _ = linked()
    w.endpoints.auto_connect = False
    w.clock.advance(w.controller.reconcile(cid).requeue_after)
    outcome = w.controller.reconcile(cid)
    assert outcome.requeue_after == 5.0 and row(w, cid).endpoint_id


def test_a_delete_that_outlasts_the_budget_is_requeued_at_the_poll_time():
    w, cid, c = linked()
    w.settle(cid)
    del w.clusters.clusters[c.key]
    w.endpoints.finishes = False
    outcome = w.controller.reconcile(cid, budget_s=5, deletion_reported=True)
    assert outcome.requeue_after == 10.0 and row(w, cid).phase is Phase.DELETING and w.dns.records == {}
    w.clock.advance(outcome.requeue_after)
    again = w.controller.reconcile(cid)
    assert again.requeue_after == 10.0 and row(w, cid).phase is Phase.DELETING
    assert w.endpoints.calls.count("begin_delete") == 1, "a delete still running is read again, never sent again"


# -- approve_connection -----------------------------------------------------------------------------
def test_manual_mode_waits_for_a_person_then_approves():
    w, cid, c = linked(approval="manual")
    outcome = w.settle(cid)
    assert outcome.phase is Phase.AWAITING_APPROVAL and outcome.requeue_after is None
    assert "set_connection_status" not in w.clusters.calls
    state = row(w, cid)
    approval = AuditEntry("approve-link", "alice", "api", "2026-01-01T00:00:00Z", "", endpoint_id=state.endpoint_id.upper())
    state.audit.append(approval)
    assert w.settle(cid).phase is Phase.READY


def test_a_connection_the_cluster_does_not_approve_is_transient():
    w, cid, _ = linked()
    w.clusters.answer_status = "Pending"
    outcome = w.settle(cid)
    assert outcome.error and row(w, cid).last_error_code == "ConnectionNotApproved"


def test_foreign_pending_connections_are_recorded_not_approved():
    w, cid, c = linked()
    w.clusters.connect(c, f"{HUB_RG}/providers/Microsoft.Network/privateEndpoints/someone-else", name="theirs")
    assert w.settle(cid).phase is Phase.READY
    assert [f.name for f in row(w, cid).foreign_connections] == ["theirs"]
    assert [x.status for x in w.clusters.conns[c.key] if x.name == "theirs"] == ["Pending"]


# -- write_dns ----------------------------------------------------------------------------------------
def test_someone_elses_record_is_a_conflict_and_left_alone():
    w, cid, c = linked()
    w.settle(cid)
    name = row(w, cid).record_name
    w.dns.records[name] = Record(name, ("10.9.9.9",), "someone", "etag")
    assert w.controller.reconcile(cid).terminal and row(w, cid).last_error_code == "DnsRecordConflict"
    assert w.dns.records[name].ips == ("10.9.9.9",)


def test_a_drifted_record_is_written_again():
    w, cid, c = linked()
    w.settle(cid)
    name = row(w, cid).record_name
    w.dns.records[name] = Record(name, ("10.9.9.9",), c.key, "etag")
    assert w.controller.reconcile(cid).phase is Phase.READY and w.dns.records[name].ips == ("10.1.0.4",)


def test_an_adapter_error_mid_pass_keeps_what_was_learnt():
    w, cid, c = linked()

    def boom(endpoint):
        raise TransientError("NIC read failed", code="NotFoundMidFlight", status=404)

    w.endpoints.private_ip = boom  # type: ignore[method-assign]
    outcome = w.settle(cid)
    assert outcome.error and row(w, cid).endpoint_id and row(w, cid).last_error_code == "NotFoundMidFlight"


def test_a_create_that_ends_failed_is_deleted_and_made_again():
    w, cid, c = linked()
    w.endpoints.fail_creates = 1
    assert w.settle(cid).phase is Phase.READY
    assert w.endpoints.calls.count("begin_create") == 2 and w.endpoints.calls.count("begin_delete") == 1
    assert row(w, cid).steps["endpoint"].retries == 1
