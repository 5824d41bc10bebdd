"""The vnet-integration path against devcloud + Azurite, through the public `reconcile` only: API
Server VNet Integration clusters created with azure-mgmt-containerservice, reached through our
Private Link Service on kube-apiserver's frontend."""

from __future__ import annotations

import pytest

from devcloud.world import HUB_SUBSCRIPTION, SPOKE_SUBSCRIPTION_B1, Subnet
from shared.config import parse_settings
from shared.ids import ClusterId
from shared.linkservice import pls_name
from shared.model import Phase
from tests.support import product_env, settling_service


@pytest.fixture
def rec(cloud, azurite, lros):
    return settling_service().from_settings(parse_settings(product_env(cloud, azurite)))


@pytest.fixture
def switches(cloud):
    saved = dict(cloud.world.settings)
    yield cloud.world.settings
    cloud.world.settings.clear()
    cloud.world.settings.update(saved)


def vnet(cloud) -> dict[str, str]:
    return next(s for s in cloud.world.spokes if s.get("vnet_integration"))["vnet_integration"]


def our_pls(op, cluster_id):
    name = pls_name(ClusterId.parse(cluster_id))
    return [p for p in op.link_services() if p.name == name]


def our_endpoints(op, cluster_id):
    name = ClusterId.parse(cluster_id).endpoint_name
    return [pe for pe in op.hub_endpoints() if pe.name == name]


def assert_ready_through_pls(cloud, op, rec, cluster_id, subnet_id=None):
    """Our PLS on kube-apiserver's frontend, our hub endpoint Approved, the A record -> its IP."""
    state = rec.store.get(ClusterId.parse(cluster_id))
    assert state.phase is Phase.READY and state.access_path == "vnet-integration", state.message
    cluster = op.get_cluster(cluster_id)
    lb = op.network(SPOKE_SUBSCRIPTION_B1).load_balancers.get(cluster.node_resource_group, "kube-apiserver")
    [pls] = our_pls(op, cluster_id)
    assert [f.id.lower() for f in pls.load_balancer_frontend_ip_configurations] == [lb.frontend_ip_configurations[0].id.lower()]
    assert pls.ip_configurations[0].subnet.id.lower() == (subnet_id or vnet(cloud)["pls_subnet_id"]).lower()
    assert pls.visibility.subscriptions == pls.auto_approval.subscriptions == [HUB_SUBSCRIPTION]
    assert pls.tags["managed-by"] == "aks-hublink" and state.link_service_id.lower() == pls.id.lower()
    [pe] = our_endpoints(op, cluster_id)
    conn = pe.manual_private_link_service_connections[0]
    assert conn.private_link_service_id.lower() == pls.id.lower() and not conn.group_ids
    assert conn.private_link_service_connection_state.status == "Approved"
    ours = [c for c in pls.private_endpoint_connections if c.private_endpoint.id.lower() == pe.id.lower()]
    assert [c.private_link_service_connection_state.status for c in ours] == ["Approved"]
    record_name = ".".join(cluster.private_fqdn.split(".")[:2])
    assert state.record_name == record_name and state.zone_id.lower() == op.zone_id(vnet_integration=True).lower()
    record = op.record(record_name, vnet_integration=True)
    assert [a["ipv4Address"] for a in record["properties"]["aRecords"]] == [state.private_ip]
    return state


def test_a_vnet_integrated_cluster_is_linked_through_our_pls(cloud, op, rec):
    cluster_id = op.create_vnet_cluster()  # relies on HUBLINK_PLS_SUBNETS for vnet-aks
    try:
        assert rec.reconcile(cluster_id).phase is Phase.READY
        state = assert_ready_through_pls(cloud, op, rec, cluster_id)
        assert rec.get(cluster_id).public()["accessPath"] == "vnet-integration"
        writes = len([e for e in cloud.arm.entries(principal="hublink") if e.method != "GET"])
        assert rec.reconcile(cluster_id).phase is Phase.READY
        assert len([e for e in cloud.arm.entries(principal="hublink") if e.method != "GET"]) == writes, "Ready is a no-op"
        assert state.private_ip
    finally:
        op.delete_cluster(cluster_id)
        rec.reconcile(cluster_id, deletion_reported=True)


def test_the_cluster_tag_names_the_pls_subnet(cloud, op, rec):
    tagged = Subnet(vnet(cloud)["vnet_id"] + "/subnets/snet-pls-tagged", "10.40.4.0/24",
                    private_link_service_network_policies="Disabled")  # fmt: skip
    cloud.world.subnets.append(tagged)
    cluster_id = op.create_vnet_cluster(tags={"hublink-pls-subnet": tagged.id})
    try:
        assert rec.reconcile(cluster_id).phase is Phase.READY
        assert_ready_through_pls(cloud, op, rec, cluster_id, subnet_id=tagged.id)
    finally:
        op.delete_cluster(cluster_id)
        assert rec.reconcile(cluster_id, deletion_reported=True).phase is Phase.ABSENT
        cloud.world.subnets.remove(tagged)


def test_drift_is_repaired_and_deletion_removes_everything(cloud, op, rec, switches):
    switches["apiserver_frontend_moves_on_start"] = True
    cluster_id = op.create_vnet_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    first = assert_ready_through_pls(cloud, op, rec, cluster_id)

    op.stop_start(cluster_id)  # kube-apiserver gets a new frontend: our PLS is left on the old one
    assert rec.reconcile(cluster_id).phase is Phase.READY
    moved = assert_ready_through_pls(cloud, op, rec, cluster_id)
    assert moved.connection_name != first.connection_name, "the endpoint was recreated"

    op.delete_link_service(moved.link_service_id)
    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert_ready_through_pls(cloud, op, rec, cluster_id)

    op.delete_endpoint(ClusterId.parse(cluster_id).endpoint_name)
    assert rec.reconcile(cluster_id).phase is Phase.READY
    last = assert_ready_through_pls(cloud, op, rec, cluster_id)

    op.delete_cluster(cluster_id)
    assert rec.reconcile(cluster_id, deletion_reported=True).phase is Phase.ABSENT
    assert op.record(last.record_name, vnet_integration=True) is None
    assert our_endpoints(op, cluster_id) == [] and our_pls(op, cluster_id) == []
    assert rec.store.get(ClusterId.parse(cluster_id)) is None


def test_lockdown_fails_with_the_reason_and_leaves_nothing(cloud, op, rec, switches):
    switches["nrg_lockdown_refuses_pls"] = True
    cluster_id = op.create_vnet_cluster(lockdown=True)
    try:
        outcome = rec.reconcile(cluster_id)
        state = rec.get(cluster_id)
        assert outcome.terminal and state.phase is Phase.FAILED and state.last_error_code == "NodeResourceGroupLocked"
        assert "What to do:" in state.message and state.link_service_id is None
        assert our_pls(op, cluster_id) == [] and our_endpoints(op, cluster_id) == []
    finally:
        op.delete_cluster(cluster_id)
        assert rec.reconcile(cluster_id, deletion_reported=True).phase is Phase.ABSENT


def test_an_aks_managed_vnet_gets_its_named_reason(cloud, op, rec):
    cluster_id = op.create_vnet_cluster(managed_vnet=True)
    try:
        assert rec.reconcile(cluster_id).terminal
        assert rec.get(cluster_id).last_error_code == "ManagedVnetNotSupported"
        assert our_pls(op, cluster_id) == [] and our_endpoints(op, cluster_id) == []
    finally:
        op.delete_cluster(cluster_id)
        rec.reconcile(cluster_id, deletion_reported=True)


def test_a_foreign_endpoint_to_our_pls_is_reported_and_never_approved(cloud, op, rec):
    cluster_id = op.create_vnet_cluster()
    try:
        assert rec.reconcile(cluster_id).phase is Phase.READY
        [pls] = our_pls(op, cluster_id)
        # The spoke's owner lets their own subscription see our PLS; someone there asks to connect.
        pls.visibility.subscriptions.append(SPOKE_SUBSCRIPTION_B1)
        spoke = op.network(SPOKE_SUBSCRIPTION_B1).private_link_services
        spoke.begin_create_or_update(pls.id.split("/")[4], pls.name, pls).result()
        theirs = op.create_pls_endpoint(pls.id, subnet_id=vnet(cloud)["node_subnet_id"], subscription=SPOKE_SUBSCRIPTION_B1)
        assert rec.reconcile(cluster_id).phase is Phase.READY
        [foreign] = rec.get(cluster_id).foreign_connections
        assert foreign.private_endpoint_id.lower() == theirs.id.lower() and foreign.status == "Pending"
        [pls] = our_pls(op, cluster_id)
        states = {c.private_endpoint.id.lower(): c.private_link_service_connection_state.status
                  for c in pls.private_endpoint_connections}  # fmt: skip
        assert states[theirs.id.lower()] == "Pending"
        assert SPOKE_SUBSCRIPTION_B1 in pls.visibility.subscriptions, "a person's addition is kept"
        op.network(SPOKE_SUBSCRIPTION_B1).private_endpoints.begin_delete(theirs.id.split("/")[4], theirs.name).result()
    finally:
        op.delete_cluster(cluster_id)
        rec.reconcile(cluster_id, deletion_reported=True)
