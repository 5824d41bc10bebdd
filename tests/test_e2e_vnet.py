"""End to end for API Server VNet Integration clusters: `python -m stack up` (devcloud, Azurite, the
function app in the local Functions host); the tests act only as a user would (ARM through
Microsoft's SDK, devcloud's switches, the app's HTTP API) and watch the product put its Private Link
Service in front of the API server, link the hub to it, repair it and remove it with no other call.

The timer runs every 3 s and a Ready link is re-checked after 3 s, so hand-made damage that sends
no cluster event (a PLS or an endpoint deleted) is found by the drift check, as in Azure.
"""

from __future__ import annotations

import json
import tempfile

import pytest

from devcloud.world import SPOKE_SUBSCRIPTION_B1, Subnet, default_world
from shared.ids import ClusterId
from shared.linkservice import pls_name
from tests.support import Operator, RemoteCloud, start_stack, stop_stack, wait_for

FAST = {
    "durations": {
        "managedClusters/create": 0.3,
        "managedClusters/delete": 0.3,
        "managedClusters/stop": 0.1,
        "managedClusters/start": 0.1,
        "privateEndpoints/create": 0.5,
        "privateEndpoints/delete": 0.3,
        "privateLinkServices/create": 0.5,
        "privateLinkServices/update": 0.3,
        "privateLinkServices/delete": 0.3,
    },
    "retry_after": {"Microsoft.Network": 1, "Microsoft.ContainerService": 1},
}
TAGGED_SUBNET = "snet-pls-tagged"
WAIT_S = 60


@pytest.fixture(scope="module")
def stack():
    world = default_world()
    vnet_id = next(s for s in world.spokes if s.get("vnet_integration"))["vnet_integration"]["vnet_id"]
    world.subnets.append(
        Subnet(f"{vnet_id}/subnets/{TAGGED_SUBNET}", "10.40.5.0/24", private_link_service_network_policies="Disabled")
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(world.to_dict(), fh)
    settings = {"HUBLINK_DRIFT_INTERVAL_S": "3", "HUBLINK_TIMER_SCHEDULE": "*/3 * * * * *"}
    proc, info = start_stack(app_settings=settings, world=fh.name)
    remote = RemoteCloud(info)
    remote.control("PUT", "/lro", FAST)
    yield remote
    code = stop_stack(proc)
    assert code == 0, f"stack up exited {code}; log: {proc.log_path}"


@pytest.fixture
def op(stack):
    operator = Operator(stack)
    yield operator
    operator.switches(apiserver_frontend_moves_on_start=None, nrg_lockdown_refuses_pls=None)


def ready(stack, cluster_id, **expect):
    link = stack.link(cluster_id)
    ok = link and link["phase"] == "Ready" and all(link.get(k) != v for k, v in expect.items())
    return link if ok else None


def our_pls(op, cluster_id):
    name = pls_name(ClusterId.parse(cluster_id))
    return [p for p in op.link_services() if p.name == name]


def our_endpoint(op, cluster_id):
    name = ClusterId.parse(cluster_id).endpoint_name
    return [pe for pe in op.hub_endpoints() if pe.name == name]


def assert_linked_through_pls(stack, op, cluster_id, link, subnet_id):
    """Our PLS on kube-apiserver's frontend, our hub endpoint Approved, the A record -> its IP."""
    assert link["accessPath"] == "vnet-integration"
    cluster = op.get_cluster(cluster_id)
    lb = op.network(SPOKE_SUBSCRIPTION_B1).load_balancers.get(cluster.node_resource_group, "kube-apiserver")
    [pls] = our_pls(op, cluster_id)
    assert pls.id.lower() == link["linkServiceId"].lower()
    assert [f.id.lower() for f in pls.load_balancer_frontend_ip_configurations] == [lb.frontend_ip_configurations[0].id.lower()]
    assert pls.ip_configurations[0].subnet.id.lower() == subnet_id.lower()
    [pe] = our_endpoint(op, cluster_id)
    conn = pe.manual_private_link_service_connections[0]
    assert conn.private_link_service_id.lower() == pls.id.lower() and not conn.group_ids
    assert conn.private_link_service_connection_state.status == "Approved"
    name = ".".join(cluster.private_fqdn.split(".")[:2])
    assert link["recordName"] == name and link["fqdn"] == cluster.private_fqdn
    record = op.record(name, vnet_integration=True)
    assert [a["ipv4Address"] for a in record["properties"]["aRecords"]] == [link["privateIp"]]
    return pls


def test_vnet_integrated_clusters_become_ready_with_no_other_call(stack, op):
    ids = op.vnet_integration()
    tagged_subnet = f"{ids['vnet_id']}/subnets/{TAGGED_SUBNET}"
    by_setting = op.create_vnet_cluster()
    by_tag = op.create_vnet_cluster(tags={"hublink-pls-subnet": tagged_subnet})
    for cluster_id, subnet in ((by_setting, ids["pls_subnet_id"]), (by_tag, tagged_subnet)):
        link = wait_for(lambda c=cluster_id: ready(stack, c), timeout=WAIT_S, interval=0.3, what="link Ready")
        assert_linked_through_pls(stack, op, cluster_id, link, subnet)
    for cluster_id in (by_setting, by_tag):
        op.delete_cluster(cluster_id)


def test_drift_is_repaired_and_deletion_removes_everything(stack, op):
    subnet = op.vnet_integration()["pls_subnet_id"]
    op.switches(apiserver_frontend_moves_on_start=True)
    cluster_id = op.create_vnet_cluster()
    link = wait_for(lambda: ready(stack, cluster_id), timeout=WAIT_S, interval=0.3, what="link Ready")
    before = assert_linked_through_pls(stack, op, cluster_id, link, subnet)

    op.stop_start(cluster_id)  # kube-apiserver gets a new frontend and IP; our PLS is left on the old one
    link = wait_for(
        lambda: ready(stack, cluster_id, connectionName=link["connectionName"]), timeout=WAIT_S, interval=0.3, what="repaired"
    )
    after = assert_linked_through_pls(stack, op, cluster_id, link, subnet)
    assert after.load_balancer_frontend_ip_configurations[0].id != before.load_balancer_frontend_ip_configurations[0].id

    op.delete_link_service(after.id)  # by hand: the hub endpoint reads Disconnected
    link = wait_for(
        lambda: ready(stack, cluster_id, connectionName=link["connectionName"]), timeout=WAIT_S, interval=0.3, what="PLS back"
    )
    assert_linked_through_pls(stack, op, cluster_id, link, subnet)

    op.delete_endpoint(ClusterId.parse(cluster_id).endpoint_name)  # by hand
    link = wait_for(
        lambda: ready(stack, cluster_id, connectionName=link["connectionName"]),
        timeout=WAIT_S,
        interval=0.3,
        what="endpoint back",
    )
    assert_linked_through_pls(stack, op, cluster_id, link, subnet)

    op.delete_cluster(cluster_id)
    wait_for(lambda: stack.link(cluster_id) is None, timeout=WAIT_S, interval=0.3, what="link removed")
    assert op.record(link["recordName"], vnet_integration=True) is None
    assert our_endpoint(op, cluster_id) == [] and our_pls(op, cluster_id) == []


def notices_for(stack, cluster_id, kind):
    import requests

    resp = requests.get(f"{stack.info['notifications']}/generic", verify=stack.certs.ca_bundle, timeout=5)
    bodies = [n.get("body") for n in resp.json()] if resp.ok else []
    return [
        b
        for b in bodies
        if isinstance(b, dict) and b.get("type") == kind and b.get("clusterId", "").lower() == cluster_id.lower()
    ]


def test_lockdown_fails_with_the_reason_and_a_notice_and_leaves_nothing(stack, op):
    op.switches(nrg_lockdown_refuses_pls=True)
    cluster_id = op.create_vnet_cluster(lockdown=True)
    link = wait_for(
        lambda: (lk := stack.link(cluster_id)) and lk["phase"] == "Failed" and lk, timeout=WAIT_S, interval=0.3, what="Failed"
    )
    assert link["lastErrorCode"] == "NodeResourceGroupLocked" and "What to do:" in link["message"]
    [notice] = wait_for(lambda: notices_for(stack, cluster_id, "link.failed"), timeout=WAIT_S, what="link.failed notice")
    assert notice["errorCode"] == "NodeResourceGroupLocked" and "Unrestricted" in notice["error"]
    assert notice["accessPath"] == "vnet-integration"
    assert our_pls(op, cluster_id) == [] and our_endpoint(op, cluster_id) == [] and link["linkServiceId"] is None
    op.delete_cluster(cluster_id)
    wait_for(lambda: stack.link(cluster_id) is None, timeout=WAIT_S, interval=0.3, what="link removed")


def test_a_foreign_endpoint_to_our_pls_is_never_approved_and_is_reported(stack, op):
    ids = op.vnet_integration()
    cluster_id = op.create_vnet_cluster()
    wait_for(lambda: ready(stack, cluster_id), timeout=WAIT_S, interval=0.3, what="link Ready")
    [pls] = our_pls(op, cluster_id)
    pls.visibility.subscriptions.append(SPOKE_SUBSCRIPTION_B1)  # the spoke's owner lets their own subscription in
    spoke = op.network(SPOKE_SUBSCRIPTION_B1)
    spoke.private_link_services.begin_create_or_update(pls.id.split("/")[4], pls.name, pls).result()
    theirs = op.create_pls_endpoint(pls.id, subnet_id=ids["node_subnet_id"], subscription=SPOKE_SUBSCRIPTION_B1)
    link = wait_for(
        lambda: (lk := stack.link(cluster_id)) and lk["foreignConnections"] and lk, timeout=WAIT_S, interval=0.3, what="reported"
    )
    [foreign] = link["foreignConnections"]
    assert foreign["privateEndpointId"].lower() == theirs.id.lower() and foreign["status"] == "Pending"
    [notice] = wait_for(lambda: notices_for(stack, cluster_id, "link.foreign_connection_pending"), timeout=WAIT_S, what="notice")
    assert notice["foreignConnection"]["name"] == foreign["name"]
    [pls] = our_pls(op, cluster_id)
    states = {
        c.private_endpoint.id.lower(): c.private_link_service_connection_state.status for c in pls.private_endpoint_connections
    }
    assert states[theirs.id.lower()] == "Pending", "never approved by the product"
    spoke.private_endpoints.begin_delete(theirs.id.split("/")[4], theirs.name).result()
    op.delete_cluster(cluster_id)
    wait_for(lambda: stack.link(cluster_id) is None, timeout=WAIT_S, interval=0.3, what="link removed")
