"""shared.linkservice against devcloud: kube-apiserver's frontend, our PLS, approving only our endpoint."""

from __future__ import annotations

import uuid

import pytest

from devcloud.world import HUB_SUBSCRIPTION, SPOKE_SUBSCRIPTION_B1, SPOKE_TENANT, RoleAssignment, RoleDefinition
from shared.config import parse_settings
from shared.credentials import Credentials
from shared.errors import TerminalError
from shared.ids import ClusterId
from shared.linkservice import LinkServices, PlsConnection, pls_name
from tests.devcloud.test_pls import (  # noqa: F401 (fixture)
    HUB_RG,
    SPOKE_RG,
    fast,
    make_cluster,
    pls_endpoint,
    vnet,
)
from tests.devcloud.test_sdk_lifecycle import clients
from tests.support import wait_for

PLS_ACTIONS = [
    "Microsoft.Network/loadBalancers/read",
    "Microsoft.Network/loadBalancers/write",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/privateLinkServices/read",
    "Microsoft.Network/privateLinkServices/write",
    "Microsoft.Network/privateLinkServices/delete",
    "Microsoft.Network/privateLinkServices/privateEndpointConnections/write",
]


@pytest.fixture
def paced(cloud, fast):  # noqa: F811
    """Retry-After 1 s: the product's pollers wait for it (0 would make azure-core fall back to 10 s)."""
    cloud.arm.retry_after_s.update({"Microsoft.Network": 1, "Microsoft.ContainerService": 1})


@pytest.fixture
def spoke_pls_role(cloud):
    role = RoleDefinition("test PLS operator", list(PLS_ACTIONS))
    grant = RoleAssignment("hublink", role.name, f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}")
    cloud.world.roles[role.name] = role
    cloud.world.assignments.append(grant)
    yield
    cloud.world.assignments.remove(grant)
    del cloud.world.roles[role.name]


def test_our_pls_on_the_apiserver_frontend(cloud, paced, spoke_pls_role):
    from stack.product import cloud_info, in_process_settings

    settings = parse_settings(in_process_settings(cloud_info(cloud), "UseDevelopmentStorage=true"))
    api = LinkServices(settings.azure, Credentials(settings))
    cluster_model = make_cluster(cloud, "ls1")
    cluster = ClusterId.parse(cluster_model.id)
    node_rg = cluster_model.properties.node_resource_group
    _, net, _ = clients(cloud)
    try:
        frontend = api.apiserver_frontend(cluster, node_rg, SPOKE_TENANT)
        assert frontend is not None and frontend.subnet_id == vnet(cloud)["apiserver_subnet_id"]
        assert api.get(cluster, SPOKE_RG, SPOKE_TENANT) is None
        api.begin_put(
            cluster,
            SPOKE_TENANT,
            subnet_id=vnet(cloud)["pls_subnet_id"],
            frontend=frontend,
            location="westeurope",
            hub_subscription=HUB_SUBSCRIPTION,
        )
        wait_for(lambda: (p := api.get(cluster, SPOKE_RG, SPOKE_TENANT)) is not None and p.succeeded, what="PLS Succeeded")
        pls = api.get(cluster, SPOKE_RG, SPOKE_TENANT)
        assert pls is not None and pls.name == pls_name(cluster) and pls.ours(cluster) and pls.on(frontend)
        assert pls.visibility == pls.auto_approval == (HUB_SUBSCRIPTION,)
        assert len(pls.name) <= 80

        pe = net.private_endpoints.begin_create_or_update(
            HUB_RG, f"pe-{uuid.uuid4().hex[:6]}", pls_endpoint(cloud, pls.id, manual=True)
        ).result()
        [conn] = api.get(cluster, SPOKE_RG, SPOKE_TENANT).connections
        assert conn.status == "Approved"  # the hub subscription is auto-approved even for a manual connection
        foreign = PlsConnection(
            conn.name,
            "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/privateEndpoints/someone-elses",
            "Pending",
            "",
        )
        with pytest.raises(TerminalError):
            api.approve(cluster, SPOKE_RG, SPOKE_TENANT, foreign, pe.id)
        assert api.approve(cluster, SPOKE_RG, SPOKE_TENANT, conn, pe.id).status == "Approved"
        net.private_endpoints.begin_delete(HUB_RG, pe.name).result()
        api.begin_delete(cluster, SPOKE_RG, SPOKE_TENANT)
        wait_for(lambda: api.get(cluster, SPOKE_RG, SPOKE_TENANT) is None, what="PLS deleted")
        assert api.get(cluster, SPOKE_RG, SPOKE_TENANT) is None
    finally:
        aks, _, _ = clients(cloud)
        aks.managed_clusters.begin_delete(SPOKE_RG, cluster.name).result()
