"""API Server VNet Integration clusters and Private Link Services, through Microsoft's SDK clients.

The spoke tenant's admin creates a VNet-integrated private cluster in the world's spoke VNet and a
Private Link Service on its `kube-apiserver` frontend; the hub tenant connects an endpoint to it
(no groupIds), automatically or for approval. Limits, lockdown and the frontend switch are here
too. Error codes devcloud had to guess are documented in devcloud/providers/privatelinkservice.py.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections.abc import Iterator

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerservice import models as aks_models
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as net_models

from devcloud.world import (
    HUB_SUBSCRIPTION,
    SPOKE_SUBSCRIPTION_B1,
    SPOKE_TENANT,
    Application,
    RoleAssignment,
    RoleDefinition,
    Subnet,
)
from tests.devcloud.test_sdk_lifecycle import clients, credential

SPOKE_RG = "rg-aks"
HUB_RG = "rg-hub-network"
POLL_S = 0.02
LRO_KEYS = ("managedClusters/create", "managedClusters/delete", "managedClusters/stop", "managedClusters/start",
            "managedClusters/update", "privateEndpoints/create", "privateEndpoints/delete",
            "privateLinkServices/create", "privateLinkServices/update", "privateLinkServices/delete",
            "privateLinkServices/connections/delete")


@pytest.fixture
def fast(cloud) -> Iterator[None]:
    saved = dict(cloud.arm.lro_seconds), dict(cloud.arm.retry_after_s), dict(cloud.world.settings)
    cloud.arm.lro_seconds.update({k: 0.05 for k in LRO_KEYS})
    cloud.arm.retry_after_s.update({"Microsoft.Network": 0, "Microsoft.ContainerService": 0})
    yield
    for target, old in zip((cloud.arm.lro_seconds, cloud.arm.retry_after_s, cloud.world.settings), saved, strict=True):
        target.clear()
        target.update(old)


def vnet(cloud) -> dict[str, str]:
    return next(s for s in cloud.world.spokes if s.get("vnet_integration"))["vnet_integration"]


def spoke_net(cloud) -> NetworkManagementClient:
    return NetworkManagementClient(credential(cloud, SPOKE_TENANT), SPOKE_SUBSCRIPTION_B1, base_url=cloud.url,
                                   connection_verify=cloud.certs.ca_bundle, polling_interval=POLL_S, retry_total=0)


def vnet_cluster(cloud, prefix: str, *, api_subnet: str | None = None, node_subnet: str | None = None,
                 lockdown: bool = False) -> aks_models.ManagedCluster:
    ids = vnet(cloud)
    props = aks_models.ManagedClusterProperties(
        dns_prefix=prefix,
        agent_pool_profiles=[aks_models.ManagedClusterAgentPoolProfile(
            name="system", count=1, vm_size="Standard_D2s_v3", mode="System",
            vnet_subnet_id=node_subnet or ids["node_subnet_id"])],
        network_profile=aks_models.ContainerServiceNetworkProfile(network_plugin="azure"),
        api_server_access_profile=aks_models.ManagedClusterAPIServerAccessProfile(
            enable_private_cluster=True, enable_vnet_integration=True,
            subnet_id=api_subnet or ids["apiserver_subnet_id"]))
    if lockdown:
        props.node_resource_group_profile = aks_models.ManagedClusterNodeResourceGroupProfile(restriction_level="ReadOnly")
    return aks_models.ManagedCluster(location="westeurope", properties=props)


def make_cluster(cloud, prefix: str, **kw) -> aks_models.ManagedCluster:
    aks, _, _ = clients(cloud)
    return aks.managed_clusters.begin_create_or_update(SPOKE_RG, f"aks-{uuid.uuid4().hex[:6]}",
                                                       vnet_cluster(cloud, prefix, **kw)).result()


def kube_apiserver(cloud, cluster) -> net_models.LoadBalancer:
    return spoke_net(cloud).load_balancers.get(cluster.properties.node_resource_group, "kube-apiserver")


def pls_body(cloud, frontend_id: str, *, visible=(HUB_SUBSCRIPTION,), auto=(HUB_SUBSCRIPTION,),
             subnet: str | None = None) -> net_models.PrivateLinkService:
    props = net_models.PrivateLinkServiceProperties(
        load_balancer_frontend_ip_configurations=[net_models.FrontendIPConfiguration(id=frontend_id)],
        ip_configurations=[net_models.PrivateLinkServiceIpConfiguration(
            name="nat", properties=net_models.PrivateLinkServiceIpConfigurationProperties(
                subnet=net_models.Subnet(id=subnet or vnet(cloud)["pls_subnet_id"]), primary=True))],
        visibility=net_models.PrivateLinkServicePropertiesVisibility(subscriptions=list(visible)),
        auto_approval=net_models.PrivateLinkServicePropertiesAutoApproval(subscriptions=list(auto)))
    return net_models.PrivateLinkService(location="westeurope", tags={"hublink": "owned"}, properties=props)


def pls_endpoint(cloud, pls_id: str, *, manual: bool = False, group_ids=None) -> net_models.PrivateEndpoint:
    link = net_models.PrivateLinkServiceConnection(name="hub", properties=net_models.PrivateLinkServiceConnectionProperties(
        private_link_service_id=pls_id, group_ids=group_ids, request_message="hublink"))
    props = net_models.PrivateEndpointProperties(subnet=net_models.Subnet(id=cloud.world.hub["subnet_id"]))
    if manual:
        props.manual_private_link_service_connections = [link]
    else:
        props.private_link_service_connections = [link]
    return net_models.PrivateEndpoint(location="westeurope", properties=props)


def link_state(net: NetworkManagementClient, name: str) -> str:
    p = net.private_endpoints.get(HUB_RG, name).properties
    link = (p.private_link_service_connections or p.manual_private_link_service_connections)[0]
    return link.properties.private_link_service_connection_state.status


def cleanup(cloud, cluster, *pls_names: str, endpoints: tuple[str, ...] = ()) -> None:
    aks, net, _ = clients(cloud)
    for name in endpoints:
        net.private_endpoints.begin_delete(HUB_RG, name).result()
    for name in pls_names:
        spoke_net(cloud).private_link_services.begin_delete(SPOKE_RG, name).result()
    aks.managed_clusters.begin_delete(SPOKE_RG, cluster.name).result()


def test_vnet_integrated_cluster_has_kube_apiserver_and_no_private_link(cloud, fast):
    aks, net, _ = clients(cloud)
    cluster = make_cluster(cloud, "vnet1")
    try:
        access = cluster.properties.api_server_access_profile
        assert access.enable_vnet_integration and access.subnet_id == vnet(cloud)["apiserver_subnet_id"]
        labels = cluster.properties.private_fqdn.split(".")
        assert labels[0].startswith("vnet1-") and ".".join(labels[2:]) == "private.westeurope.azmk8s.io"
        assert list(aks.private_link_resources.list(SPOKE_RG, cluster.name).value) == []

        lb = kube_apiserver(cloud, cluster)
        [frontend] = lb.properties.frontend_ip_configurations
        assert frontend.properties.subnet.id == vnet(cloud)["apiserver_subnet_id"]
        assert ipaddress.ip_address(frontend.properties.private_ip_address) in ipaddress.ip_network("10.40.0.0/28")
        listed = spoke_net(cloud).load_balancers.list(cluster.properties.node_resource_group)
        assert [b.id for b in listed] == [lb.id]
        got = spoke_net(cloud).load_balancer_frontend_ip_configurations.get(
            cluster.properties.node_resource_group, "kube-apiserver", frontend.name)
        assert got.id == frontend.id

        body = net_models.PrivateEndpoint(location="westeurope", properties=net_models.PrivateEndpointProperties(
            subnet=net_models.Subnet(id=cloud.world.hub["subnet_id"]),
            manual_private_link_service_connections=[net_models.PrivateLinkServiceConnection(
                name="hub", properties=net_models.PrivateLinkServiceConnectionProperties(
                    private_link_service_id=cluster.id, group_ids=["management"]))]))
        with pytest.raises(HttpResponseError) as failure:
            net.private_endpoints.begin_create_or_update(HUB_RG, f"pe-{uuid.uuid4().hex[:6]}", body).result()
        assert failure.value.status_code == 400 and failure.value.error.code == "PrivateLinkServiceNotFound"
        assert "VNet Integration" in failure.value.error.message
    finally:
        cleanup(cloud, cluster)
    with pytest.raises(ResourceNotFoundError):
        spoke_net(cloud).load_balancers.get(cluster.properties.node_resource_group, "kube-apiserver")


def test_vnet_integration_subnets_are_validated(cloud, fast):
    aks, _, _ = clients(cloud)
    ids = vnet(cloud)
    small = Subnet(ids["vnet_id"] + "/subnets/snet-tiny", "10.40.3.0/29",
                   delegations=["Microsoft.ContainerService/managedClusters"])
    cloud.world.subnets.append(small)
    try:
        for kw, words in (({"api_subnet": ids["node_subnet_id"]}, "delegated"), ({"api_subnet": small.id}, "too small"),
                          ({"node_subnet": cloud.world.hub["subnet_id"]}, "vnetSubnetID")):
            with pytest.raises(HttpResponseError) as failure:
                aks.managed_clusters.begin_create_or_update(SPOKE_RG, f"aks-{uuid.uuid4().hex[:6]}",
                                                            vnet_cluster(cloud, "bad", **kw))
            assert failure.value.status_code == 400 and words in failure.value.error.message
    finally:
        cloud.world.subnets.remove(small)


def test_pls_with_auto_approval_links_the_hub_across_tenants(cloud, fast):
    _, net, _ = clients(cloud)
    spoke = spoke_net(cloud)
    cluster = make_cluster(cloud, "vnet2")
    frontend = kube_apiserver(cloud, cluster).properties.frontend_ip_configurations[0]
    name, pe = f"pls-{uuid.uuid4().hex[:6]}", f"pe-{uuid.uuid4().hex[:6]}"
    poller = spoke.private_link_services.begin_create_or_update(SPOKE_RG, name, pls_body(cloud, frontend.id))
    pls = poller.result()
    try:
        assert pls.properties.provisioning_state == "Succeeded" and pls.tags == {"hublink": "owned"}
        alias = pls.properties.alias
        assert alias.startswith(f"{name}.") and alias.endswith(".westeurope.azure.privatelinkservice")
        assert pls.properties.load_balancer_frontend_ip_configurations[0].id == frontend.id
        nat = pls.properties.ip_configurations[0].properties
        assert nat.subnet.id == vnet(cloud)["pls_subnet_id"] and nat.private_ip_address.startswith("10.40.2.")
        assert [p.name for p in spoke.private_link_services.list(SPOKE_RG)].count(name) == 1
        assert name in [p.name for p in spoke.private_link_services.list_by_subscription()]

        endpoint = net.private_endpoints.begin_create_or_update(HUB_RG, pe, pls_endpoint(cloud, pls.id)).result()
        assert link_state(net, pe) == "Approved"
        assert endpoint.properties.custom_dns_configs == []
        [conn] = spoke.private_link_services.list_private_endpoint_connections(SPOKE_RG, name)
        assert conn.properties.private_endpoint.id.lower() == endpoint.id.lower()
        assert conn.properties.private_link_service_connection_state.description == "Auto-Approved"
        assert spoke.private_link_services.get(SPOKE_RG, name).properties.private_endpoint_connections[0].name == conn.name
        nic = endpoint.properties.network_interfaces[0].id.rsplit("/", 1)[1]
        ip = net.network_interfaces.get(HUB_RG, nic).properties.ip_configurations[0].properties.private_ip_address
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.10.1.0/24")

        spoke.private_link_services.begin_delete(SPOKE_RG, name).result()
        with pytest.raises(ResourceNotFoundError):
            spoke.private_link_services.get(SPOKE_RG, name)
        assert link_state(net, pe) == "Disconnected"
    finally:
        cleanup(cloud, cluster, name, endpoints=(pe,))


def test_manual_connection_is_pending_until_approved_on_the_pls(cloud, fast):
    _, net, _ = clients(cloud)
    spoke = spoke_net(cloud)
    cluster = make_cluster(cloud, "vnet3")
    frontend = kube_apiserver(cloud, cluster).properties.frontend_ip_configurations[0]
    name, pe, foreign = f"pls-{uuid.uuid4().hex[:6]}", f"pe-{uuid.uuid4().hex[:6]}", f"pe-{uuid.uuid4().hex[:6]}"
    spoke.private_link_services.begin_create_or_update(SPOKE_RG, name, pls_body(cloud, frontend.id, auto=())).result()
    try:
        with pytest.raises(HttpResponseError) as failure:  # automatic, not auto-approved, across tenants
            net.private_endpoints.begin_create_or_update(HUB_RG, pe, pls_endpoint(cloud, spoke_pls_id(name))).result()
        assert failure.value.status_code == 403 and failure.value.error.code == "LinkedAuthorizationFailed"

        for endpoint in (pe, foreign):
            net.private_endpoints.begin_create_or_update(HUB_RG, endpoint,
                                                         pls_endpoint(cloud, spoke_pls_id(name), manual=True)).result()
        assert link_state(net, pe) == "Pending"
        conns = {c.properties.private_endpoint.id.rsplit("/", 1)[1]: c
                 for c in spoke.private_link_services.list_private_endpoint_connections(SPOKE_RG, name)}
        assert {c.properties.private_link_service_connection_state.status for c in conns.values()} == {"Pending"}
        approved = spoke.private_link_services.update_private_endpoint_connection(
            SPOKE_RG, name, conns[pe].name, net_models.PrivateEndpointConnection(
                name=conns[pe].name, properties=net_models.PrivateEndpointConnectionProperties(
                    private_link_service_connection_state=net_models.PrivateLinkServiceConnectionState(
                        status="Approved", description="approved by hublink"))))
        assert approved.properties.private_link_service_connection_state.status == "Approved"
        assert link_state(net, pe) == "Approved" and link_state(net, foreign) == "Pending"

        reject = net_models.PrivateEndpointConnection(properties=net_models.PrivateEndpointConnectionProperties(
            private_link_service_connection_state=net_models.PrivateLinkServiceConnectionState(status="Rejected")))
        spoke.private_link_services.update_private_endpoint_connection(SPOKE_RG, name, conns[foreign].name, reject)
        reject.properties.private_link_service_connection_state.status = "Approved"
        with pytest.raises(HttpResponseError) as failure:
            spoke.private_link_services.update_private_endpoint_connection(SPOKE_RG, name, conns[foreign].name, reject)
        assert failure.value.status_code == 400

        spoke.private_link_services.begin_delete_private_endpoint_connection(SPOKE_RG, name, conns[pe].name).result()
        assert link_state(net, pe) == "Disconnected"
        with pytest.raises(ResourceNotFoundError):
            spoke.private_link_services.get_private_endpoint_connection(SPOKE_RG, name, conns[pe].name)
    finally:
        cleanup(cloud, cluster, name, endpoints=(pe, foreign))


def spoke_pls_id(name: str) -> str:
    return (f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/resourceGroups/{SPOKE_RG}/providers/Microsoft.Network/"
            f"privateLinkServices/{name}")


def expect_error(call, status: int, code: str) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as failure:
        call()
    assert (failure.value.status_code, failure.value.error.code) == (status, code), failure.value.message
    return failure.value


def test_pls_and_endpoint_requests_are_checked(cloud, fast):
    _, net, _ = clients(cloud)
    spoke = spoke_net(cloud)
    cluster = make_cluster(cloud, "vnet4")
    frontend = kube_apiserver(cloud, cluster).properties.frontend_ip_configurations[0]
    create = spoke.private_link_services.begin_create_or_update
    try:
        expect_error(lambda: create(SPOKE_RG, "pls-x", pls_body(cloud, frontend.id, visible=(), auto=(HUB_SUBSCRIPTION,))),
                     400, "PrivateLinkServiceAutoApprovalNotInVisibility")
        expect_error(lambda: create(SPOKE_RG, "pls-x", pls_body(cloud, frontend.id, subnet=vnet(cloud)["node_subnet_id"])),
                     400, "PrivateLinkServiceCannotBeCreatedInSubnetThatHasNetworkPoliciesEnabled")
        expect_error(lambda: create(SPOKE_RG, "pls-x", pls_body(cloud, frontend.id + "x")), 400, "InvalidResourceReference")
        assert [p.name for p in spoke.private_link_services.list(SPOKE_RG)].count("pls-x") == 0

        name = f"pls-{uuid.uuid4().hex[:6]}"
        create(SPOKE_RG, name, pls_body(cloud, frontend.id, visible=(SPOKE_SUBSCRIPTION_B1,), auto=())).result()
        expect_error(lambda: net.private_endpoints.begin_create_or_update(
            HUB_RG, "pe-x", pls_endpoint(cloud, spoke_pls_id(name), manual=True)), 400, "PrivateLinkServiceNotVisible")
        create(SPOKE_RG, name, pls_body(cloud, frontend.id)).result()  # visibility may change
        expect_error(lambda: net.private_endpoints.begin_create_or_update(
            HUB_RG, "pe-x", pls_endpoint(cloud, spoke_pls_id(name), group_ids=["management"])), 400, "InvalidGroupIds")
        cloud.world.settings["pls_max_connections"] = 1
        net.private_endpoints.begin_create_or_update(HUB_RG, "pe-one", pls_endpoint(cloud, spoke_pls_id(name))).result()
        expect_error(lambda: net.private_endpoints.begin_create_or_update(
            HUB_RG, "pe-x", pls_endpoint(cloud, spoke_pls_id(name))), 400, "PrivateLinkServiceConnectionLimitReached")
        with pytest.raises(ResourceNotFoundError):
            net.private_endpoints.get(HUB_RG, "pe-x")
    finally:
        cleanup(cloud, cluster, name, endpoints=("pe-one",))


def test_eight_private_link_services_per_load_balancer(cloud, fast):
    spoke = spoke_net(cloud)
    cluster = make_cluster(cloud, "vnet5")
    frontend = kube_apiserver(cloud, cluster).properties.frontend_ip_configurations[0]
    names = [f"pls-{uuid.uuid4().hex[:6]}" for _ in range(8)]
    try:
        for name in names:
            spoke.private_link_services.begin_create_or_update(SPOKE_RG, name, pls_body(cloud, frontend.id)).result()
        expect_error(lambda: spoke.private_link_services.begin_create_or_update(
            SPOKE_RG, "pls-ninth", pls_body(cloud, frontend.id)), 400, "PrivateLinkServiceLimitPerLoadBalancerReached")
        spoke.private_link_services.begin_create_or_update(SPOKE_RG, names[0], pls_body(cloud, frontend.id)).result()
    finally:
        cleanup(cloud, cluster, *names)


def test_lockdown_refuses_the_pls_unless_switched_off(cloud, fast):
    spoke = spoke_net(cloud)
    cluster = make_cluster(cloud, "vnet6", lockdown=True)
    lb = kube_apiserver(cloud, cluster)  # reads are fine under lockdown
    frontend = lb.properties.frontend_ip_configurations[0]
    name = f"pls-{uuid.uuid4().hex[:6]}"
    try:
        err = expect_error(lambda: spoke.private_link_services.begin_create_or_update(
            SPOKE_RG, name, pls_body(cloud, frontend.id)), 403, "DenyAssignmentAuthorizationFailed")
        assert "nrg-lockdown" in err.error.message and "Microsoft.Network/loadBalancers/write" in err.error.message
        with pytest.raises(ResourceNotFoundError):
            spoke.private_link_services.get(SPOKE_RG, name)
        settings_url = f"{cloud.url}/_devcloud/settings"
        put = requests.put(settings_url, json={"nrg_lockdown_refuses_pls": False}, verify=cloud.certs.ca_bundle, timeout=10)
        assert put.status_code == 200 and put.json()["nrg_lockdown_refuses_pls"] is False
        spoke.private_link_services.begin_create_or_update(SPOKE_RG, name, pls_body(cloud, frontend.id)).result()
    finally:
        cleanup(cloud, cluster, name)


def test_frontend_moves_on_start_when_switched_on(cloud, fast):
    aks, net, _ = clients(cloud)
    spoke = spoke_net(cloud)
    cluster = make_cluster(cloud, "vnet7")
    before = kube_apiserver(cloud, cluster).properties.frontend_ip_configurations[0]
    name, pe = f"pls-{uuid.uuid4().hex[:6]}", f"pe-{uuid.uuid4().hex[:6]}"
    spoke.private_link_services.begin_create_or_update(SPOKE_RG, name, pls_body(cloud, before.id)).result()
    net.private_endpoints.begin_create_or_update(HUB_RG, pe, pls_endpoint(cloud, spoke_pls_id(name))).result()
    try:
        aks.managed_clusters.begin_stop(SPOKE_RG, cluster.name).result()
        aks.managed_clusters.begin_start(SPOKE_RG, cluster.name).result()
        assert kube_apiserver(cloud, cluster).properties.frontend_ip_configurations[0].id == before.id  # default: kept
        assert link_state(net, pe) == "Approved"

        cloud.world.settings["apiserver_frontend_moves_on_start"] = True
        aks.managed_clusters.begin_stop(SPOKE_RG, cluster.name).result()
        aks.managed_clusters.begin_start(SPOKE_RG, cluster.name).result()
        after = kube_apiserver(cloud, cluster).properties.frontend_ip_configurations[0]
        assert after.id != before.id and after.properties.private_ip_address != before.properties.private_ip_address
        broken = spoke.private_link_services.get(SPOKE_RG, name)
        assert broken.properties.provisioning_state == "Failed"
        assert broken.properties.load_balancer_frontend_ip_configurations[0].id == before.id
        assert link_state(net, pe) == "Disconnected"
        repaired = spoke.private_link_services.begin_create_or_update(SPOKE_RG, name, pls_body(cloud, after.id)).result()
        assert repaired.properties.provisioning_state == "Succeeded"
        assert link_state(net, pe) == "Disconnected"  # the old connection is gone for good
    finally:
        cleanup(cloud, cluster, name, endpoints=(pe,))


def test_pls_needs_linked_load_balancer_write_and_subnet_join(cloud, fast):
    cluster = make_cluster(cloud, "vnet8")
    frontend = kube_apiserver(cloud, cluster).properties.frontend_ip_configurations[0]
    name = f"pls-{uuid.uuid4().hex[:6]}"
    role = RoleDefinition("PLS writer only", ["Microsoft.Network/privateLinkServices/write",
                                              "Microsoft.Network/privateLinkServices/read"])
    cloud.world.roles[role.name] = role
    # An application of its own holding only this role (the product's spoke role has every PLS action).
    product = Application("pls-writer", str(uuid.uuid4()), secrets.token_hex(16), SPOKE_TENANT)
    cloud.world.applications.append(product)
    grant = RoleAssignment(product.name, role.name, f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}")
    cloud.world.assignments.append(grant)
    from azure.identity import ClientSecretCredential

    as_product = NetworkManagementClient(
        ClientSecretCredential(SPOKE_TENANT, product.client_id, product.secret, authority=cloud.url,
                               disable_instance_discovery=True, connection_verify=cloud.certs.ca_bundle),
        SPOKE_SUBSCRIPTION_B1, base_url=cloud.url, connection_verify=cloud.certs.ca_bundle, polling_interval=POLL_S,
        retry_total=0)
    try:
        err = expect_error(lambda: as_product.private_link_services.begin_create_or_update(
            SPOKE_RG, name, pls_body(cloud, frontend.id)), 403, "LinkedAuthorizationFailed")
        assert "Microsoft.Network/loadBalancers/write" in err.error.message
        role.actions.append("Microsoft.Network/loadBalancers/write")
        err = expect_error(lambda: as_product.private_link_services.begin_create_or_update(
            SPOKE_RG, name, pls_body(cloud, frontend.id)), 403, "LinkedAuthorizationFailed")
        assert "subnets/join/action" in err.error.message
        role.actions.append("Microsoft.Network/virtualNetworks/subnets/join/action")
        as_product.private_link_services.begin_create_or_update(SPOKE_RG, name, pls_body(cloud, frontend.id)).result()
        done = {a for a, _ in cloud.arm.actions[product.name]}
        assert {"Microsoft.Network/loadBalancers/write", "Microsoft.Network/virtualNetworks/subnets/join/action",
                "Microsoft.Network/privateLinkServices/write"} <= done
    finally:
        cloud.world.assignments.remove(grant)
        cloud.world.applications.remove(product)
        del cloud.world.roles[role.name]
        cleanup(cloud, cluster, name)


def test_cluster_deletion_leaves_a_pls_on_its_frontend_broken(cloud, fast):
    aks, _, _ = clients(cloud)
    spoke = spoke_net(cloud)
    cluster = make_cluster(cloud, "vnet9")
    frontend = kube_apiserver(cloud, cluster).properties.frontend_ip_configurations[0]
    name = f"pls-{uuid.uuid4().hex[:6]}"
    spoke.private_link_services.begin_create_or_update(SPOKE_RG, name, pls_body(cloud, frontend.id)).result()
    aks.managed_clusters.begin_delete(SPOKE_RG, cluster.name).result()
    assert spoke.private_link_services.get(SPOKE_RG, name).properties.provisioning_state == "Failed"
    spoke.private_link_services.begin_delete(SPOKE_RG, name).result()
    with pytest.raises(ResourceNotFoundError):
        spoke.private_link_services.get(SPOKE_RG, name)


def test_switches_are_validated(cloud):
    url = f"{cloud.url}/_devcloud/settings"
    ca = cloud.certs.ca_bundle
    saved = dict(cloud.world.settings)
    try:
        assert requests.put(url, json={"nope": True}, verify=ca, timeout=10).status_code == 400
        assert requests.put(url, json={"pls_per_load_balancer": "8"}, verify=ca, timeout=10).status_code == 400
        assert requests.put(url, json={"apiserver_frontend_moves_on_start": 1}, verify=ca, timeout=10).status_code == 400
        assert requests.put(url, json={"pls_per_load_balancer": 2}, verify=ca, timeout=10).json()["pls_per_load_balancer"] == 2
        assert "pls_per_load_balancer" not in requests.put(url, json={"pls_per_load_balancer": None}, verify=ca,
                                                           timeout=10).json()
        assert requests.get(url, verify=ca, timeout=10).json() == saved
    finally:
        cloud.world.settings.clear()
        cloud.world.settings.update(saved)


def test_ready_info_lists_the_vnet_integration_spoke(cloud):
    [spoke] = [s for s in cloud.connection_info()["spokes"] if s.get("vnet_integration")]
    ids = spoke["vnet_integration"]
    assert set(ids) == {"vnet_id", "apiserver_subnet_id", "node_subnet_id", "pls_subnet_id"}
    assert all(ids[k].lower().startswith(ids["vnet_id"].lower() + "/subnets/") for k in ids if k != "vnet_id")
    assert "private.westeurope.azmk8s.io" in cloud.world.hub["vnet_integration_dns_zones"]["westeurope"]
