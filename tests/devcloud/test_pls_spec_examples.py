"""devcloud's Private Link Services answer in the shapes of Microsoft's published examples.

PrivateLinkServiceCreate / Get / UpdatePrivateEndpointConnection (azure-rest-api-specs,
specification/network/resource-manager/Microsoft.Network/stable/2026-01-01/examples, commit
c32f85eb28116f5ddfb3b92bc143d0b94bb61473), compared the way test_spec_examples.py compares the
others: same field names and JSON types, values adapted to devcloud's world.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from devcloud.world import HUB_SUBSCRIPTION, SPOKE_SUBSCRIPTION_B1
from tests.devcloud.test_spec_examples import (  # noqa: F401 (fixtures)
    REFERENCE,
    SPOKE_RG,
    _no_devcloud_errors,
    check,
    cluster_path,
    fast,
    hub,
    hub_path,
    load,
    spoke,
    unique,
)

NET = REFERENCE / "network/resource-manager/Microsoft.Network/stable/2026-01-01/examples"
# Fields Azure returns that these examples leave out.
PLS_EXTRA = {"etag", "type", "tags", "properties.resourceGuid", "properties.enableProxyProtocol",
             "properties.privateEndpointConnections", "properties.ipConfigurations[].etag",
             "properties.ipConfigurations[].type", "properties.ipConfigurations[].properties.provisioningState",
             "properties.ipConfigurations[].properties.primary"}
CONNECTION_EXTRA = {"etag", "type", "properties.provisioningState", "properties.linkIdentifier",
                    "properties.privateEndpointLocation",
                    "properties.privateLinkServiceConnectionState.actionsRequired"}
PLS_CONNECTION_EXTRA = {f"properties.privateEndpointConnections[].{f}" for f in CONNECTION_EXTRA}


def vnet_cluster_request(cloud: Any) -> dict[str, Any]:
    ids = next(s for s in cloud.world.spokes if s.get("vnet_integration"))["vnet_integration"]
    return {"location": "westeurope", "properties": {
        "dnsPrefix": "specpls", "networkProfile": {"networkPlugin": "azure"},
        "agentPoolProfiles": [{"name": "system", "count": 1, "vmSize": "Standard_D2s_v3", "mode": "System",
                               "vnetSubnetID": ids["node_subnet_id"]}],
        "apiServerAccessProfile": {"enablePrivateCluster": True, "enableVnetIntegration": True,
                                   "subnetId": ids["apiserver_subnet_id"]}}}, ids["pls_subnet_id"]


@pytest.fixture
def fast_pls(fast) -> Iterator[Any]:  # noqa: F811 (the imported fixture)
    keys = ("privateLinkServices/create", "privateLinkServices/delete")
    saved = {k: fast.arm.lro_seconds.get(k) for k in keys}
    fast.arm.lro_seconds.update({k: 0.05 for k in keys})
    yield fast
    for k, v in saved.items():
        if v is None:
            fast.arm.lro_seconds.pop(k, None)
        else:
            fast.arm.lro_seconds[k] = v


def test_private_link_service_examples(fast_pls, spoke, hub):  # noqa: F811 (the imported fixtures)
    cloud = fast_pls
    create, get = load(NET / "PrivateLinkServiceCreate.json"), load(NET / "PrivateLinkServiceGet.json")
    approve = load(NET / "PrivateLinkServiceUpdatePrivateEndpointConnection.json")
    body, pls_subnet = vnet_cluster_request(cloud)
    path = cluster_path(SPOKE_SUBSCRIPTION_B1, unique("aks"))
    aks = {"parameters": {"api-version": "2025-10-01"}}  # AKS calls carry an AKS api-version
    assert spoke("PUT", path, aks, body).status_code == 201
    cluster = spoke.wait(path, aks)
    node_rg = cluster["properties"]["nodeResourceGroup"]
    lb = spoke("GET", f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/resourceGroups/{node_rg}/providers/Microsoft.Network/"
                      "loadBalancers/kube-apiserver", create).json()

    request = copy.deepcopy(create["parameters"]["parameters"])
    request["location"] = "westeurope"
    request["properties"]["visibility"]["subscriptions"] = [HUB_SUBSCRIPTION]
    request["properties"]["autoApproval"]["subscriptions"] = [HUB_SUBSCRIPTION]
    request["properties"]["loadBalancerFrontendIpConfigurations"] = [
        {"id": lb["properties"]["frontendIPConfigurations"][0]["id"]}]
    ip_config = request["properties"]["ipConfigurations"][0]["properties"]
    ip_config["subnet"]["id"] = pls_subnet
    ip_config["privateIPAddress"] = "10.40.2.200"
    pls_path = f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/resourceGroups/{SPOKE_RG}/providers/Microsoft.Network/" \
               f"privateLinkServices/{unique('pls')}"
    resp = spoke("PUT", pls_path, create, request)
    check(resp, create, extra=PLS_EXTRA)
    assert resp.json()["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] == "10.40.2.200"
    pls = spoke.wait(pls_path, create)

    endpoint = {"location": "westeurope", "properties": {
        "subnet": {"id": cloud.world.hub["subnet_id"]},
        "manualPrivateLinkServiceConnections": [{"name": "hub", "properties": {"privateLinkServiceId": pls["id"]}}]}}
    pe_path = hub_path("privateEndpoints", unique("pe"))
    assert hub("PUT", pe_path, create, endpoint).status_code == 201
    hub.wait(pe_path, create)
    check(spoke("GET", pls_path, get), get, extra=PLS_EXTRA - {"properties.privateEndpointConnections"}
          | PLS_CONNECTION_EXTRA)

    conn = spoke("GET", pls_path, get).json()["properties"]["privateEndpointConnections"][0]
    update = copy.deepcopy(approve["parameters"]["parameters"])
    update["name"] = conn["name"]
    update["properties"]["privateEndpoint"]["id"] = conn["properties"]["privateEndpoint"]["id"]
    resp = spoke("PUT", f"{pls_path}/privateEndpointConnections/{conn['name']}", approve, update)
    check(resp, approve, extra=CONNECTION_EXTRA)
    assert resp.json()["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"

    assert hub("DELETE", pe_path, create).status_code == 202
    hub.wait(pe_path, create, gone=True)
    assert spoke("DELETE", pls_path, create).status_code == 202
    spoke.wait(pls_path, create, gone=True)
    assert spoke("DELETE", path, aks).status_code == 202
