"""The whole hub-link lifecycle through Microsoft's own SDK clients, unmodified, against devcloud.

A private cluster is created in a spoke of the second tenant (its admin), the hub tenant creates
a manual endpoint to it (a cross-tenant link), the spoke approves the connection, the hub reads
the NIC's IP and writes the A record, then stop/start disconnects the endpoint and everything is
deleted. If these clients run, the product's calls will too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice import models as aks_models
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as net_models

from devcloud.world import HUB_SUBSCRIPTION, HUB_TENANT, SPOKE_SUBSCRIPTION_B1, SPOKE_TENANT

SPOKE_RG = "rg-aks"
HUB_RG = "rg-hub-network"
SCOPE = "https://management.azure.com/.default"
POLL_S = 0.02


@pytest.fixture
def fast(cloud) -> Iterator[None]:
    """Short operations, and Retry-After 0 so the SDK polls at `polling_interval`; restored afterwards."""
    saved = dict(cloud.arm.lro_seconds), dict(cloud.arm.retry_after_s)
    cloud.arm.lro_seconds.update({k: 0.05 for k in ("managedClusters/create", "managedClusters/delete",
                                                    "managedClusters/stop", "managedClusters/start",
                                                    "privateEndpoints/create", "privateEndpoints/delete")})
    cloud.arm.retry_after_s.update({"Microsoft.Network": 0, "Microsoft.ContainerService": 0})
    yield
    cloud.arm.lro_seconds.clear()
    cloud.arm.lro_seconds.update(saved[0])
    cloud.arm.retry_after_s.clear()
    cloud.arm.retry_after_s.update(saved[1])


def credential(cloud, tenant: str) -> ClientSecretCredential:
    admin = next(a for a in cloud.world.applications if a.name == "admin")
    return ClientSecretCredential(tenant, admin.client_id, admin.secret, authority=cloud.url,
                                  disable_instance_discovery=True, connection_verify=cloud.certs.ca_bundle)


def clients(cloud) -> tuple[ContainerServiceClient, NetworkManagementClient, ClientSecretCredential]:
    ca = cloud.certs.ca_bundle
    hub_credential = credential(cloud, HUB_TENANT)
    aks = ContainerServiceClient(credential(cloud, SPOKE_TENANT), SPOKE_SUBSCRIPTION_B1, base_url=cloud.url,
                                 connection_verify=ca, polling_interval=POLL_S, retry_total=0)
    net = NetworkManagementClient(hub_credential, HUB_SUBSCRIPTION, base_url=cloud.url, connection_verify=ca,
                                  polling_interval=POLL_S, retry_total=0)
    return aks, net, hub_credential


def private_cluster(dns_prefix: str) -> aks_models.ManagedCluster:
    return aks_models.ManagedCluster(location="westeurope", properties=aks_models.ManagedClusterProperties(
        dns_prefix=dns_prefix,
        agent_pool_profiles=[aks_models.ManagedClusterAgentPoolProfile(name="system", count=1, vm_size="Standard_D2s_v3",
                                                                       mode="System")],
        api_server_access_profile=aks_models.ManagedClusterAPIServerAccessProfile(enable_private_cluster=True)))


def hub_endpoint(cloud, target: str, *, manual: bool = True) -> net_models.PrivateEndpoint:
    link = net_models.PrivateLinkServiceConnection(name="hub", properties=net_models.PrivateLinkServiceConnectionProperties(
        private_link_service_id=target, group_ids=["management"], request_message="hublink: please approve"))
    props = net_models.PrivateEndpointProperties(subnet=net_models.Subnet(id=cloud.world.hub["subnet_id"]))
    if manual:
        props.manual_private_link_service_connections = [link]
    else:
        props.private_link_service_connections = [link]
    return net_models.PrivateEndpoint(location="westeurope", properties=props)


def endpoint_status(net: NetworkManagementClient, name: str) -> str:
    endpoint = net.private_endpoints.get(HUB_RG, name)
    return endpoint.properties.manual_private_link_service_connections[0].properties.private_link_service_connection_state.status


def test_cross_tenant_manual_link_lifecycle(cloud, fast):
    aks, net, hub_credential = clients(cloud)
    name, pe_name = f"aks-{uuid.uuid4().hex[:6]}", f"pe-{uuid.uuid4().hex[:6]}"

    cluster = aks.managed_clusters.begin_create_or_update(SPOKE_RG, name, private_cluster("sdk1")).result()
    assert cluster.properties.provisioning_state == "Succeeded"
    private_fqdn = cluster.properties.private_fqdn
    assert private_fqdn.startswith("sdk1-") and private_fqdn.endswith(".privatelink.westeurope.azmk8s.io")

    endpoint = net.private_endpoints.begin_create_or_update(HUB_RG, pe_name, hub_endpoint(cloud, cluster.id)).result()
    assert endpoint.properties.provisioning_state == "Succeeded"
    assert endpoint_status(net, pe_name) == "Pending"

    listed = aks.private_endpoint_connections.list(SPOKE_RG, name).value
    [ours] = [c for c in listed if c.properties.private_endpoint.id.lower() == endpoint.id.lower()]
    assert ours.properties.private_link_service_connection_state.status == "Pending"
    approved = aks.private_endpoint_connections.update(SPOKE_RG, name, ours.name, aks_models.PrivateEndpointConnection(
        properties=aks_models.PrivateEndpointConnectionProperties(
            private_link_service_connection_state=aks_models.PrivateLinkServiceConnectionState(
                status="Approved", description="approved by hublink"))))
    assert approved.properties.private_link_service_connection_state.status == "Approved"
    assert endpoint_status(net, pe_name) == "Approved"

    nic_name = endpoint.properties.network_interfaces[0].id.rsplit("/", 1)[1]
    ip = net.network_interfaces.get(HUB_RG, nic_name).properties.ip_configurations[0].properties.private_ip_address
    assert endpoint.properties.custom_dns_configs[0].ip_addresses == [ip]

    zone_id = cloud.world.hub["dns_zones"]["westeurope"]
    relative = private_fqdn.removesuffix(".privatelink.westeurope.azmk8s.io")
    url = f"{cloud.url}{zone_id}/A/{relative}"
    headers = {"Authorization": f"Bearer {hub_credential.get_token(SCOPE).token}"}
    params = {"api-version": "2024-06-01"}
    put = requests.put(url, params=params, headers=headers, verify=cloud.certs.ca_bundle, timeout=10,
                       json={"properties": {"ttl": 300, "aRecords": [{"ipv4Address": ip}]}})
    assert put.status_code == 201 and put.json()["properties"]["fqdn"] == private_fqdn + "."
    got = requests.get(url, params=params, headers=headers, verify=cloud.certs.ca_bundle, timeout=10)
    assert got.json()["properties"]["aRecords"] == [{"ipv4Address": ip}]
    assert requests.delete(url, params=params, headers=headers, verify=cloud.certs.ca_bundle, timeout=10).status_code == 200

    aks.managed_clusters.begin_stop(SPOKE_RG, name).result()
    assert aks.managed_clusters.get(SPOKE_RG, name).properties.power_state.code == "Stopped"
    assert endpoint_status(net, pe_name) == "Disconnected"
    assert aks.private_endpoint_connections.list(SPOKE_RG, name).value == []
    aks.managed_clusters.begin_start(SPOKE_RG, name).result()
    assert aks.managed_clusters.get(SPOKE_RG, name).properties.power_state.code == "Running"
    assert endpoint_status(net, pe_name) == "Disconnected"

    net.private_endpoints.begin_delete(HUB_RG, pe_name).result()
    with pytest.raises(ResourceNotFoundError):
        net.private_endpoints.get(HUB_RG, pe_name)
    with pytest.raises(ResourceNotFoundError):
        net.network_interfaces.get(HUB_RG, nic_name)
    aks.managed_clusters.begin_delete(SPOKE_RG, name).result()
    with pytest.raises(ResourceNotFoundError):
        aks.managed_clusters.get(SPOKE_RG, name)
    assert name not in [c.name for c in aks.managed_clusters.list_by_resource_group(SPOKE_RG)]


def test_automatic_connection_across_tenants_fails(cloud, fast):
    aks, net, _ = clients(cloud)
    name = f"aks-{uuid.uuid4().hex[:6]}"
    cluster = aks.managed_clusters.begin_create_or_update(SPOKE_RG, name, private_cluster("sdk2")).result()
    try:
        with pytest.raises(HttpResponseError) as failure:
            net.private_endpoints.begin_create_or_update(HUB_RG, f"pe-{uuid.uuid4().hex[:6]}",
                                                         hub_endpoint(cloud, cluster.id, manual=False)).result()
        assert failure.value.status_code == 403
        assert failure.value.error.code == "LinkedAuthorizationFailed"
        assert aks.private_endpoint_connections.list(SPOKE_RG, name).value == []
    finally:
        aks.managed_clusters.begin_delete(SPOKE_RG, name).result()
