"""The reconciler against devcloud + Azurite, through the public `reconcile` only."""

from __future__ import annotations

import threading
import time

import pytest

from devcloud.arm import FaultRule
from shared.config import parse_settings
from shared.ids import ClusterId
from shared.model import Phase
from shared.service import Service
from tests.support import SPOKE_SUBSCRIPTION_A, product_env, settling_service

ENDPOINT_WRITES = ("PUT", "DELETE")


@pytest.fixture
def make(cloud, azurite, lros):
    def build(**overrides: str) -> Service:
        """The service, its reconcile followed by its continuations (tests.support.settle)."""
        return settling_service().from_settings(parse_settings(product_env(cloud, azurite, **overrides)))

    return build


@pytest.fixture
def rec(make):
    return make()


def product_writes(cloud) -> list[str]:
    return [f"{e.method} {e.path}" for e in cloud.arm.entries(principal="hublink") if e.method in ENDPOINT_WRITES]


def our_endpoints(op, cluster_id):
    name = ClusterId.parse(cluster_id).endpoint_name
    return [pe for pe in op.hub_endpoints() if pe.name == name]


def assert_ready(op, rec, cluster_id):
    state = rec.store.get(ClusterId.parse(cluster_id))
    assert state.phase is Phase.READY, state.message
    cluster = op.get_cluster(cluster_id)
    record = op.record(state.record_name)
    assert record is not None, "A record missing"
    nic_ip = state.private_ip
    assert [a["ipv4Address"] for a in record["properties"]["aRecords"]] == [nic_ip]
    assert record["properties"]["metadata"]["hublinkCluster"] == ClusterId.parse(cluster_id).key
    assert cluster.private_fqdn.lower() == f"{state.record_name}.privatelink.westeurope.azmk8s.io"
    [pe] = our_endpoints(op, cluster_id)
    conn = pe.manual_private_link_service_connections[0]
    assert conn.group_ids == ["management"]
    assert conn.private_link_service_connection_state.status == "Approved"
    ours = [c for c in op.connections(cluster_id) if c.private_endpoint.id.lower() == pe.id.lower()]
    assert [c.private_link_service_connection_state.status for c in ours] == ["Approved"]
    return state


def test_cross_tenant_onboarding_then_noop(cloud, op, rec):
    cluster_id = op.create_cluster()  # spoke tenant B, hub tenant A
    outcome = rec.reconcile(cluster_id)
    assert outcome.phase is Phase.READY, outcome.message
    state = assert_ready(op, rec, cluster_id)
    assert state.tenant_id == cloud.world.tenant_of(ClusterId.parse(cluster_id).subscription_id)
    assert state.steps["approval"].succeeded and state.steps["dns"].succeeded
    # The endpoint was created by the product's own identity in the hub tenant.
    assert any(
        e.principal == "hublink"
        and e.method == "PUT"
        and "privateEndpoints/" in e.path
        and e.tenant == cloud.world.hub["tenant_id"]
        for e in cloud.arm.log
    )

    cloud.arm.clear_log()
    again = rec.reconcile(cluster_id)
    assert again.phase is Phase.READY
    assert product_writes(cloud) == [], "a no-op reconcile must not write to ARM"
    assert cloud.arm.entries(principal="hublink"), "the no-op reconcile still reads the actual state"


def test_same_tenant_cluster(op, rec):
    cluster_id = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_A)
    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert_ready(op, rec, cluster_id)


def test_public_cluster_is_skipped_and_nothing_created(cloud, op, rec):
    cluster_id = op.create_cluster(private=False)
    outcome = rec.reconcile(cluster_id)
    assert outcome.phase is Phase.SKIPPED
    assert "public" in outcome.message
    assert our_endpoints(op, cluster_id) == []
    assert product_writes(cloud) == []


def test_opt_out_tag_cleans_up_a_ready_link(op, rec):
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    record_name = rec.store.get(ClusterId.parse(cluster_id)).record_name
    op.update_tags(cluster_id, {"hublink": "disabled"})
    outcome = rec.reconcile(cluster_id)
    assert outcome.phase is Phase.SKIPPED and "hublink=disabled" in outcome.message
    assert our_endpoints(op, cluster_id) == []
    assert op.record(record_name) is None
    assert op.connections(cluster_id) == []


def test_opt_in_mode_links_only_tagged_clusters(op, make):
    rec = make(HUBLINK_SELECTION="opt-in")
    untagged = op.create_cluster()
    assert rec.reconcile(untagged).phase is Phase.SKIPPED
    tagged = op.create_cluster(tags={"hublink": "enabled"})
    assert rec.reconcile(tagged).phase is Phase.READY


def test_region_without_hub_fails_terminally(cloud, op, rec):
    cluster_id = op.create_cluster(region="eastus")
    outcome = rec.reconcile(cluster_id)
    assert outcome.phase is Phase.FAILED and outcome.terminal
    assert "eastus" in outcome.message and "westeurope" in outcome.message
    state = rec.store.get(ClusterId.parse(cluster_id))
    assert state.last_error_code == "NoHubForRegion" and state.next_attempt_at is None
    assert product_writes(cloud) == []


def test_cluster_still_creating_is_requeued_then_ready(cloud, op, rec):
    cloud.arm.lro_seconds["managedClusters/create"] = 1.5
    cluster_id = op.create_cluster(wait=False)
    first = rec.reconcile_once(cluster_id)
    assert first.phase is Phase.PENDING and first.requeue_after and first.requeue_after > 0
    assert "Creating" in first.message
    cloud.arm.lro_seconds["managedClusters/create"] = 0.2
    from tests.support import wait_for

    wait_for(lambda: op.get_cluster(cluster_id).provisioning_state == "Succeeded", what="cluster Succeeded")
    assert rec.reconcile(cluster_id).phase is Phase.READY


def test_foreign_pending_connection_is_never_approved(op, rec):
    cluster_id = op.create_cluster()
    foreign = op.create_foreign_endpoint(cluster_id)
    assert rec.reconcile(cluster_id).phase is Phase.READY
    states = {c.private_endpoint.id.lower(): c.private_link_service_connection_state.status for c in op.connections(cluster_id)}
    assert states[foreign.id.lower()] == "Pending"
    recorded = rec.store.get(ClusterId.parse(cluster_id)).foreign_connections
    assert [f.private_endpoint_id.lower() for f in recorded] == [foreign.id.lower()]
    assert recorded[0].status == "Pending"


def test_stop_start_drift_recreates_endpoint_and_updates_record(op, rec):
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    before = rec.store.get(ClusterId.parse(cluster_id))
    op.stop_start(cluster_id)
    [pe] = our_endpoints(op, cluster_id)
    assert pe.manual_private_link_service_connections[0].private_link_service_connection_state.status == "Disconnected"
    outcome = rec.reconcile(cluster_id)
    assert outcome.phase is Phase.READY, outcome.message
    after = assert_ready(op, rec, cluster_id)  # the record holds the new endpoint's NIC IP
    assert after.connection_name != before.connection_name
    assert after.steps["endpoint"].retries >= 1


def test_record_follows_a_new_ip_after_recreation(op, rec):
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    before = rec.store.get(ClusterId.parse(cluster_id))
    op.delete_endpoint(ClusterId.parse(cluster_id).endpoint_name)
    squatter = op.create_foreign_endpoint(cluster_id)  # takes the address the old endpoint freed
    assert rec.reconcile(cluster_id).phase is Phase.READY
    after = assert_ready(op, rec, cluster_id)
    assert after.private_ip != before.private_ip
    record = op.record(after.record_name)
    assert [a["ipv4Address"] for a in record["properties"]["aRecords"]] == [after.private_ip]
    op.delete_endpoint(squatter.name)


def test_endpoint_deleted_by_hand_is_repaired(op, rec):
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    op.delete_endpoint(ClusterId.parse(cluster_id).endpoint_name)
    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert_ready(op, rec, cluster_id)


def test_record_deleted_by_hand_is_repaired(op, rec):
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    name = rec.store.get(ClusterId.parse(cluster_id)).record_name
    op.delete_record(name)
    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert op.record(name) is not None


def test_record_owned_by_someone_else_fails_untouched(cloud, op, rec):
    cluster_id = op.create_cluster()
    fqdn = op.get_cluster(cluster_id).private_fqdn
    name = fqdn.lower().removesuffix(".privatelink.westeurope.azmk8s.io")
    op.put_record(name, "192.0.2.10", metadata={"owner": "network-team"})
    outcome = rec.reconcile(cluster_id)
    assert outcome.phase is Phase.FAILED and outcome.terminal
    assert "not managed by this product" in outcome.message
    record = op.record(name)
    assert [a["ipv4Address"] for a in record["properties"]["aRecords"]] == ["192.0.2.10"]
    assert record["properties"]["metadata"] == {"owner": "network-team"}
    # The create went first (If-None-Match: *, no read before it); its 412 made the read that decided.
    calls = [(e.method, e.status) for e in cloud.arm.entries(principal="hublink") if f"/A/{name}" in e.path]
    assert calls == [("PUT", 412), ("GET", 200)]


def test_a_record_of_ours_that_a_dead_run_wrote_is_taken_up(op, rec):
    """A run that died between its record PUT and its row write: the row has no address, the record
    is there with our owner. The create's 412 leads to the read, which finds it ours and updates it."""
    cluster_id = op.create_cluster()
    fqdn = op.get_cluster(cluster_id).private_fqdn
    name = fqdn.lower().removesuffix(".privatelink.westeurope.azmk8s.io")
    owner = ClusterId.parse(cluster_id).key
    op.put_record(name, "192.0.2.99", metadata={"hublinkCluster": owner, "managedBy": "aks-hublink"})
    assert rec.reconcile(cluster_id).phase is Phase.READY
    state = assert_ready(op, rec, cluster_id)
    assert state.private_ip != "192.0.2.99"


def test_cluster_deleted_cleans_record_endpoint_and_row(op, rec):
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    name = rec.store.get(ClusterId.parse(cluster_id)).record_name
    op.delete_cluster(cluster_id)
    first = rec.reconcile_once(cluster_id)  # one 404 is not proof: the link stays until a later read confirms
    assert first.phase is Phase.READY and 0 < first.requeue_after <= 3 and "404" in first.message
    assert op.record(name) is not None and len(our_endpoints(op, cluster_id)) == 1
    time.sleep(first.requeue_after)
    outcome = rec.reconcile(cluster_id)
    assert outcome.phase is Phase.ABSENT
    assert op.record(name) is None
    assert our_endpoints(op, cluster_id) == []
    assert rec.store.get(ClusterId.parse(cluster_id)) is None
    # And again: nothing left to do, nothing written.
    assert rec.reconcile(cluster_id).phase is Phase.ABSENT


@pytest.mark.parametrize("times", [1, 3])
def test_a_transient_404_on_the_cluster_read_keeps_a_ready_link(cloud, op, rec, times):
    """ARM answers 404 for a cluster that is there (once, or three times within the confirmation
    window): the endpoint and the record stay, and the next read that finds the cluster resets it."""
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    state = rec.store.get(ClusterId.parse(cluster_id))
    path = ClusterId.parse(cluster_id).id + "$"
    cloud.arm.faults.append(FaultRule(id="gone404", method="GET", path=path, status=404, times=times))
    for _ in range(times):
        outcome = rec.reconcile_once(cluster_id)
        assert outcome.phase is Phase.READY and outcome.requeue_after and "404" in outcome.message
    assert cloud.arm.faults[0].hits == times
    time.sleep(outcome.requeue_after)
    assert rec.reconcile(cluster_id).phase is Phase.READY
    after = rec.store.get(ClusterId.parse(cluster_id))
    assert after.absent_since is None and after.endpoint_id == state.endpoint_id
    assert op.record(state.record_name) is not None and len(our_endpoints(op, cluster_id)) == 1
    assert not [e for e in cloud.arm.entries(principal="hublink", method="DELETE")]


def test_cluster_deleted_mid_onboarding(cloud, op, rec):
    cloud.arm.lro_seconds["privateEndpoints/create"] = 3.0
    cluster_id = op.create_cluster()
    first = rec.reconcile_once(cluster_id)
    assert first.phase is Phase.PROVISIONING and first.requeue_after
    op.delete_cluster(cluster_id)
    cloud.arm.lro_seconds["privateEndpoints/create"] = 0.3
    from tests.support import wait_for

    outcome = wait_for(
        lambda: (o := rec.reconcile(cluster_id)).phase is Phase.ABSENT and o,
        timeout=15,
        interval=0.5,
        what="cleanup after deletion",
    )
    assert outcome.phase is Phase.ABSENT
    assert our_endpoints(op, cluster_id) == []
    assert rec.store.get(ClusterId.parse(cluster_id)) is None


def test_an_endpoint_operation_requeues_with_retry_after(cloud, op, rec):
    cloud.arm.lro_seconds["privateEndpoints/create"] = 2.5
    cloud.arm.retry_after_s["Microsoft.Network"] = 2
    cluster_id = op.create_cluster()
    first = rec.reconcile_once(cluster_id)
    assert first.phase is Phase.PROVISIONING
    assert 1 < first.requeue_after <= 2, "requeue at the Retry-After Azure gave (counted from the PUT)"
    import time

    time.sleep(first.requeue_after)
    assert rec.reconcile(cluster_id, budget_s=10).phase is Phase.READY
    assert len(our_endpoints(op, cluster_id)) == 1


def test_parallel_reconciles_create_exactly_one_endpoint(cloud, op, rec):
    cluster_id = op.create_cluster()
    outcomes = []
    barrier = threading.Barrier(4)

    def run():
        barrier.wait()
        outcomes.append(rec.reconcile(cluster_id))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    creates = [e for e in cloud.arm.entries(principal="hublink", method="PUT") if "/privateEndpoints/" in e.path]
    assert len(creates) == 1
    assert len(our_endpoints(op, cluster_id)) == 1
    assert sum(1 for o in outcomes if o.busy) == 3
    assert rec.reconcile(cluster_id).phase is Phase.READY


def test_throttled_and_failing_approval_is_retried(cloud, op, rec):
    cluster_id = op.create_cluster()
    cloud.arm.faults.append(
        FaultRule(id="t429", method="PUT", path=r"/privateEndpointConnections/", status=429, retry_after=1, times=1)
    )
    cloud.arm.faults.append(FaultRule(id="t500", method="PUT", path=r"/privateEndpointConnections/", status=500, times=1))
    assert rec.reconcile(cluster_id).phase is Phase.READY
    approvals = [e.status for e in cloud.arm.entries(principal=None, method="PUT") if "privateEndpointConnections" in e.path] + [
        e.status for e in cloud.arm.entries(principal="hublink", method="PUT") if "privateEndpointConnections" in e.path
    ]
    assert sorted(approvals) == [200, 429, 500]


def test_missing_role_is_terminal_and_names_the_action(cloud, op, rec):
    role = cloud.world.roles["HubLink Spoke Approver"]
    saved = list(role.actions)
    role.actions.remove("Microsoft.ContainerService/managedClusters/privateEndpointConnections/write")
    try:
        cluster_id = op.create_cluster()
        outcome = rec.reconcile(cluster_id)
    finally:
        role.actions[:] = saved
    assert outcome.phase is Phase.FAILED and outcome.terminal
    assert "Microsoft.ContainerService/managedClusters/privateEndpointConnections/write" in outcome.message
    state = rec.store.get(ClusterId.parse(cluster_id))
    assert state.last_error_code == "AuthorizationFailed"
    # Retrying after the role is granted completes the link.
    assert rec.reconcile(cluster_id).phase is Phase.READY


def test_invalid_ids_and_unconfigured_subscriptions_change_nothing(cloud, rec):
    from shared.errors import InvalidInput

    for bad in (
        "",
        "/subscriptions/x",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/../providers/"
        "Microsoft.ContainerService/managedClusters/c",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
        "Microsoft.ContainerService/managedClusters/c",
    ):
        with pytest.raises(InvalidInput):
            rec.reconcile(bad)
    assert cloud.arm.entries(principal="hublink") == []
    assert rec.store.list() == []


def test_managed_identity_federation_mode(cloud, op, make, monkeypatch):
    from stack.product import cloud_info

    info = cloud_info(cloud)
    monkeypatch.setenv("IDENTITY_ENDPOINT", info["identity_endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", info["identity_header"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cloud.certs.ca_bundle)
    rec = make(
        HUBLINK_CREDENTIAL="managed_identity",
        HUBLINK_CLIENT_SECRET="",
        HUBLINK_MANAGED_IDENTITY_CLIENT_ID=info["product"]["managed_identity_client_id"],
    )
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY


def test_a_row_changed_mid_run_is_a_retry_not_an_exception(op, rec):
    """The row changes between our lease and the intent write before creating the endpoint (our lease
    ran out and another run took the row): reconcile answers "look again", it does not raise."""
    from datetime import UTC, datetime, timedelta

    from azure.data.tables import UpdateMode

    cluster_id = op.create_cluster()
    cluster = ClusterId.parse(cluster_id)
    real = rec.store.replace
    changed = []

    def replace(state):
        if state.phase is Phase.PROVISIONING and not changed:
            changed.append(True)  # someone else writes the row first
            rec.store.table.update_entity(
                {
                    "PartitionKey": cluster.partition_key,
                    "RowKey": cluster.row_key,
                    "message": "written by another run",
                    "lease_owner": "another-run",
                    "lease_until": datetime.now(UTC) - timedelta(seconds=1),
                },
                mode=UpdateMode.MERGE,
            )
        return real(state)

    rec.store.replace = replace
    outcome = rec.reconcile(cluster_id)
    assert changed, "the intent write happened"
    assert outcome.requeue_after is not None and outcome.error and not outcome.terminal
    assert rec.store.get(cluster).message == "written by another run", "nothing of the run was recorded over it"
    rec.store.replace = real
    assert rec.reconcile(cluster_id).phase is Phase.READY
