"""Network's Private Link Service and load balancer answers against recorded traffic.

tests/devcloud/recordings/network_private_link_service.json (azure-cli): the product creates,
reads and deletes a PLS on a VNet-integrated cluster's kube-apiserver load balancer. The
comparisons (status, client headers, body keys and formats) are test_recorded.py's.
"""

from __future__ import annotations

import uuid

from devcloud.world import HUB_SUBSCRIPTION, SPOKE_SUBSCRIPTION_B1, SPOKE_TENANT
from tests.devcloud.test_recorded import arm, body_differences, compare, load, wait_done  # noqa: F401 (arm: a fixture)

NETWORK_API = "2026-03-01"  # azure-mgmt-network 33.1.0, the product's PLS and load balancer client


def test_private_link_service_create_poll_get_delete(cloud, arm, op):  # noqa: F811
    rec = {i["name"]: i for i in load("network_private_link_service")["interactions"]}
    cluster_id = op.create_vnet_cluster(subscription=SPOKE_SUBSCRIPTION_B1)
    node_rg = op.get_cluster(cluster_id).node_resource_group
    sub = f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}"
    lb = arm("GET", f"{sub}/resourceGroups/{node_rg}/providers/Microsoft.Network/loadBalancers/kube-apiserver",
             NETWORK_API, tenant=SPOKE_TENANT).json()
    path = f"{sub}/resourceGroups/rg-aks/providers/Microsoft.Network/privateLinkServices/pls-rec-{uuid.uuid4().hex[:6]}"
    body = {"location": "westeurope", "properties": {  # the recorded request's shape
        "loadBalancerFrontendIpConfigurations": [{"id": lb["properties"]["frontendIPConfigurations"][0]["id"]}],
        "ipConfigurations": [{"name": "lks1_ipconfig_0", "properties": {
            "subnet": {"id": op.vnet_integration(SPOKE_SUBSCRIPTION_B1)["pls_subnet_id"]},
            "privateIPAddressVersion": "IPv4"}}],
        "enableProxyProtocol": True}}
    keys = ("privateLinkServices/create", "privateLinkServices/delete")
    saved = {k: cloud.arm.lro_seconds.get(k) for k in keys}
    cloud.arm.lro_seconds.update({k: 0.2 for k in keys})
    try:
        created = arm("PUT", path, NETWORK_API, tenant=SPOKE_TENANT, body=body)
        answers = {"create": created}
        wait_done(arm_in(arm, SPOKE_TENANT), created.headers["Azure-AsyncOperation"])
        answers["poll_succeeded"] = arm("GET", created.headers["Azure-AsyncOperation"], "", tenant=SPOKE_TENANT)
        answers["get"] = arm("GET", path, NETWORK_API, tenant=SPOKE_TENANT)
        answers["delete"] = arm("DELETE", path, NETWORK_API, tenant=SPOKE_TENANT)
        wait_done(arm_in(arm, SPOKE_TENANT), answers["delete"].headers["Azure-AsyncOperation"])
        answers["delete_poll_succeeded"] = arm("GET", answers["delete"].headers["Azure-AsyncOperation"], "",
                                               tenant=SPOKE_TENANT)
    finally:
        for k, v in saved.items():
            cloud.arm.lro_seconds.pop(k, None) if v is None else cloud.arm.lro_seconds.__setitem__(k, v)
    problems = [d for n, resp in answers.items() for d in compare("network_private_link_service", rec[n], resp,
                                                                   NETWORK_API)]
    assert problems == [], "\n".join(problems)
    assert answers["get"].headers["ETag"] == answers["get"].json()["etag"]
    op.delete_cluster(cluster_id)


def arm_in(arm, tenant: str):  # noqa: F811
    """`arm` with its calls made from `tenant` (wait_done's polls)."""
    return lambda method, url, api, **kw: arm(method, url, api, tenant=tenant, **kw)


def test_the_kube_apiserver_load_balancer_reads_like_a_recorded_internal_one(cloud, arm, op):  # noqa: F811
    rec = {i["name"]: i for i in load("network_load_balancer")["interactions"]}
    internal = rec["list_by_group"]["response"]["body"]["value"][0]
    cluster_id = op.create_vnet_cluster(subscription=SPOKE_SUBSCRIPTION_B1)
    node_rg = op.get_cluster(cluster_id).node_resource_group
    group = f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/resourceGroups/{node_rg}/providers/Microsoft.Network/loadBalancers"
    got = arm("GET", f"{group}/kube-apiserver", NETWORK_API, tenant=SPOKE_TENANT)
    listed = arm("GET", group, NETWORK_API, tenant=SPOKE_TENANT)
    problems = compare("network_load_balancer", rec["get"], got, NETWORK_API)
    problems += [f"get, as the internal lb3: {d}" for d in body_differences(internal, got.json())
                 if not d.startswith("properties.frontendIPConfigurations[].properties.privateIPAllocationMethod")]
    problems += compare("network_load_balancer", rec["list_by_group"], listed, NETWORK_API)
    assert problems == [], "\n".join(problems)
    assert got.headers["ETag"] == got.json()["etag"]
    op.delete_cluster(cluster_id)


def test_a_manual_endpoint_reads_pending_as_recorded(cloud, arm, op):  # noqa: F811
    """The product's endpoint GET while the cluster side has not approved its manual request yet."""
    rec = load("network_private_endpoint_manual")["interactions"][0]
    cluster_id = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_B1)
    path = f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/rg-hub-network/providers/Microsoft.Network/" \
           f"privateEndpoints/pe-rec-{uuid.uuid4().hex[:6]}"
    body = {"location": "westeurope", "properties": {
        "subnet": {"id": cloud.world.hub["subnet_id"]},
        "manualPrivateLinkServiceConnections": [{"name": "plsConnection", "properties": {
            "privateLinkServiceId": cluster_id, "groupIds": ["management"]}}]}}
    cloud.arm.lro_seconds["privateEndpoints/create"] = 0.2
    try:
        created = arm("PUT", path, NETWORK_API, body=body)
        wait_done(arm, created.headers["Azure-AsyncOperation"])
    finally:
        cloud.arm.lro_seconds.pop("privateEndpoints/create", None)
    got = arm("GET", path, NETWORK_API)
    problems = compare("network_private_endpoint_manual", rec, got, NETWORK_API)
    assert problems == [], "\n".join(problems)
    assert got.headers["ETag"] == got.json()["etag"]
    assert arm("DELETE", path, NETWORK_API).status_code == 202
    op.delete_cluster(cluster_id)
