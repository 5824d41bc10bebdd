"""devcloud's private-cluster DNS modes, kubeconfigs, static endpoint addresses, hub limits and resolver.

Each behaviour as AKS, Microsoft.Network and Azure DNS show it (sources in the provider modules'
docstrings: devcloud.providers.aksdns, endpoint_ips, privatedns and devcloud.resolver).
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import pytest
import requests

from devcloud.client import RemoteCloud
from devcloud.providers.endpoint_ips import LIMIT_CODE
from devcloud.resolver import hub_sees, resolve
from devcloud.world import HUB_SUBSCRIPTION, SPOKE_SUBSCRIPTION_B1
from tests.devcloud import test_providers
from tests.devcloud.test_providers import (
    AKS_API,
    DNS_API,
    HUB_RG,
    SPOKE_RG,
    cluster_body,
    cluster_path,
    endpoint_body,
    endpoint_path,
    error_code,
    make_cluster,
    make_endpoint,
    unique,
    wait_for,
    zone_path,
)

fast, admin, spoke_admin = test_providers.fast, test_providers.admin, test_providers.spoke_admin  # fixtures

HUB_VNET = (f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{HUB_RG}/providers/Microsoft.Network/"
            "virtualNetworks/vnet-hub")
LABEL = r"[0-9a-z]{8}"


def spoke_zone(api, name: str) -> str:
    """A private DNS zone in the spoke's resource group (what a custom-zone cluster names)."""
    zid = (f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/resourceGroups/{SPOKE_RG}/providers/Microsoft.Network/"
           f"privateDnsZones/{name}")
    assert api("PUT", zid, {"location": "global"}, api=DNS_API).status_code in (200, 201)
    return zid


def hub_zone(api, name: str) -> str:
    zid = f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{HUB_RG}/providers/Microsoft.Network/privateDnsZones/{name}"
    assert api("PUT", zid, {"location": "global"}, api=DNS_API).status_code in (200, 201)
    return zid


def link(api, zid: str, vnet: str = HUB_VNET, name: str = "hub") -> requests.Response:
    return api("PUT", f"{zid}/virtualNetworkLinks/{name}", {"location": "global", "properties": {
        "virtualNetwork": {"id": vnet}, "registrationEnabled": False}}, api=DNS_API)


def drop_zone(api, zid: str) -> None:
    for item in api("GET", f"{zid}/virtualNetworkLinks", api=DNS_API).json().get("value", []):
        api("DELETE", item["id"], api=DNS_API)
    api("DELETE", zid, api=DNS_API)


def kubeconfig_server(api, cluster_id: str, **query: str) -> str:
    resp = api("POST", f"{cluster_id}/listClusterUserCredential", api=AKS_API, **query)
    assert resp.status_code == 200, resp.text
    [config] = resp.json()["kubeconfigs"]
    assert config["name"] == "clusterUser"
    text = base64.b64decode(config["value"]).decode()
    return re.search(r"server: https://([^:]+):443", text).group(1)


def live(cloud, cluster: dict[str, Any]):
    return cloud.providers["containerservice"].clusters[cluster["id"].lower()]


# -- DNS modes as AKS answers them ---------------------------------------------------------------
def test_system_mode_zone_in_the_node_resource_group(cloud, fast, spoke_admin):
    cluster = make_cluster(spoke_admin, fast)
    props = cluster["properties"]
    assert props["apiServerAccessProfile"] == {"enablePrivateCluster": True, "privateDNSZone": "system",
                                               "enablePrivateClusterPublicFQDN": True}
    assert re.fullmatch(rf"app1-{LABEL}\.[0-9a-f-]{{36}}\.privatelink\.westeurope\.azmk8s\.io", props["privateFQDN"])
    assert re.fullmatch(rf"app1-{LABEL}\.hcp\.westeurope\.azmk8s\.io", props["fqdn"])
    mc = live(cloud, cluster)
    zone_name = props["privateFQDN"].split(".", 1)[1]
    zone = cloud.providers["privatedns"].zones[
        f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/resourcegroups/{props['nodeResourceGroup']}/providers/"
        f"microsoft.network/privatednszones/{zone_name}".lower()]
    assert zone.linked_to(mc.vnet_id) and "/resourceGroups/MC_" in mc.vnet_id
    # the cluster's VNet resolves privateFQDN through AKS's zone; the hub's zone has no record for it
    assert resolve(cloud, props["privateFQDN"], mc.vnet_id).addresses == [mc.api_ip]
    hub = resolve(cloud, props["privateFQDN"])
    assert (hub.status, hub.source) == ("NXDOMAIN", "private-zone")
    # public DNS answers the public FQDN with the cluster-side private IP
    public = resolve(cloud, props["fqdn"])
    assert (public.status, public.source, public.addresses) == ("NOERROR", "public", [mc.api_ip])
    assert mc.api_ip.startswith("10.224.")


def test_start_moves_the_cluster_side_ip_and_its_records_follow(cloud, fast, spoke_admin):
    cluster = make_cluster(spoke_admin, fast)
    mc = live(cloud, cluster)
    before = mc.api_ip
    for verb in ("stop", "start"):
        assert spoke_admin("POST", f"{cluster['id']}/{verb}", api=AKS_API).status_code == 202
        wait_for(lambda: spoke_admin("GET", cluster["id"], api=AKS_API).json()["properties"]["provisioningState"]
                 == "Succeeded")
    assert mc.api_ip != before
    assert resolve(cloud, cluster["properties"]["privateFQDN"], mc.vnet_id).addresses == [mc.api_ip]
    assert resolve(cloud, cluster["properties"]["fqdn"]).addresses == [mc.api_ip]


@pytest.mark.parametrize("name", ["privatelink.westeurope.azmk8s.io", "team-1.privatelink.westeurope.azmk8s.io",
                                  "private.westeurope.azmk8s.io", "Team1.private.westeurope.azmk8s.io"])
def test_allowed_custom_zone_names(cloud, fast, spoke_admin, name):
    zid = spoke_zone(spoke_admin, name)
    try:
        cluster = make_cluster(spoke_admin, fast, apiServerAccessProfile={"enablePrivateCluster": True,
                                                                           "privateDNSZone": zid})
        fqdn = cluster["properties"]["privateFQDN"]
        assert re.fullmatch(rf"app1-{LABEL}\." + re.escape(name.lower()), fqdn)
        # AKS writes its record into the custom zone (the cluster-side IP)
        record = spoke_admin("GET", f"{zid}/A/{fqdn.split('.', 1)[0]}", api=DNS_API).json()
        assert record["properties"]["aRecords"] == [{"ipv4Address": live(cloud, cluster).api_ip}]
        sub = make_cluster(spoke_admin, fast, dns_prefix=None, fqdnSubdomain="Domain1",
                           apiServerAccessProfile={"enablePrivateCluster": True, "privateDNSZone": zid})
        assert sub["properties"]["privateFQDN"] == f"domain1.{name.lower()}"
        assert "fqdn" not in sub["properties"]  # as in Microsoft's fqdnSubdomain example
        spoke_admin("DELETE", cluster["id"], api=AKS_API)
        wait_for(lambda: spoke_admin("GET", cluster["id"], api=AKS_API).status_code == 404)
        assert spoke_admin("GET", f"{zid}/A/{fqdn.split('.', 1)[0]}", api=DNS_API).status_code == 404
    finally:
        drop_zone(spoke_admin, zid)


@pytest.mark.parametrize("name", ["privatelink.azmk8s.io", "privatelink.northeurope.azmk8s.io",
                                  "a.b.privatelink.westeurope.azmk8s.io", "hcp.westeurope.azmk8s.io",
                                  f"{'x' * 33}.private.westeurope.azmk8s.io", "westeurope.azmk8s.io"])
def test_other_custom_zone_names_get_aks_error(cloud, spoke_admin, name):
    zid = (f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/resourceGroups/{SPOKE_RG}/providers/Microsoft.Network/"
           f"privateDnsZones/{name}")
    body = cluster_body(apiServerAccessProfile={"enablePrivateCluster": True, "privateDNSZone": zid})
    resp = spoke_admin("PUT", cluster_path(SPOKE_SUBSCRIPTION_B1, SPOKE_RG, unique("aks")), body, api=AKS_API)
    assert (resp.status_code, error_code(resp)) == (400, "InvalidPrivateDNSZoneResourceID")
    assert "[a-zA-Z0-9-]{1,32}.privatelink.<region>.azmk8s.io" in resp.json()["error"]["message"]


def test_none_mode_has_no_private_fqdn(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast, apiServerAccessProfile={"enablePrivateCluster": True,
                                                                       "privateDNSZone": "none"})
    props = cluster["properties"]
    assert "privateFQDN" not in props
    assert props["apiServerAccessProfile"]["privateDNSZone"] == "none"
    assert props["apiServerAccessProfile"]["enablePrivateClusterPublicFQDN"] is True
    mc = live(cloud, cluster)
    assert resolve(cloud, props["fqdn"]).addresses == [mc.api_ip]  # public DNS -> cluster-side private IP
    endpoint = make_endpoint(admin, fast, cluster["id"])
    assert endpoint["properties"]["customDnsConfigs"][0]["fqdn"] == props["fqdn"]
    refused = spoke_admin("PUT", cluster_path(SPOKE_SUBSCRIPTION_B1, SPOKE_RG, unique("aks")), cluster_body(
        apiServerAccessProfile={"enablePrivateCluster": True, "privateDNSZone": "none",
                                "enablePrivateClusterPublicFQDN": False}), api=AKS_API)
    assert (refused.status_code, error_code(refused)) == (400, "InvalidParameter")


# -- listClusterUserCredential -------------------------------------------------------------------
def test_kubeconfig_server_is_the_name_kubectl_uses(cloud, fast, spoke_admin):
    system = make_cluster(spoke_admin, fast)
    none = make_cluster(spoke_admin, fast, apiServerAccessProfile={"enablePrivateCluster": True,
                                                                    "privateDNSZone": "none"})
    public = make_cluster(spoke_admin, fast, private=False)
    assert kubeconfig_server(spoke_admin, system["id"]) == system["properties"]["privateFQDN"]
    assert kubeconfig_server(spoke_admin, system["id"], **{"server-fqdn": "public"}) == system["properties"]["fqdn"]
    assert kubeconfig_server(spoke_admin, none["id"]) == none["properties"]["fqdn"]
    assert kubeconfig_server(spoke_admin, public["id"]) == public["properties"]["fqdn"]
    no_private = spoke_admin("POST", f"{none['id']}/listClusterUserCredential", api=AKS_API,
                             **{"server-fqdn": "private"})
    assert (no_private.status_code, error_code(no_private)) == (400, "InvalidParameter")
    bogus = spoke_admin("POST", f"{system['id']}/listClusterUserCredential", api=AKS_API, **{"server-fqdn": "x"})
    assert bogus.status_code == 400
    actions = {a for a, _ in cloud.arm.actions.get("admin", set())}
    assert "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action" in actions


# -- static addresses, a full subnet, the per-VNet limit -----------------------------------------
def static(ip: str, *, group: str = "management", member: str = "management") -> dict[str, Any]:
    return {"ipConfigurations": [{"name": "static", "properties": {"groupId": group, "memberName": member,
                                                                    "privateIPAddress": ip}}]}


def test_static_ip_configurations(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast)
    ok = make_endpoint(admin, fast, cluster["id"], **static("10.10.1.200"))
    assert ok["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] == "10.10.1.200"
    nic = admin("GET", ok["properties"]["networkInterfaces"][0]["id"]).json()
    assert nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] == "10.10.1.200"
    cases = [
        (static("10.10.1.201", member="default"), "PrivateEndpointIpConfigurationMissingMemberNamesRequiredByFps"),
        (static("10.10.1.201", group=""), "PrivateEndpointIpConfigurationMissingMemberNamesRequiredByFps"),
        (static("10.10.2.7"), "PrivateIPAddressNotInSubnet"),
        (static("10.10.1.2"), "PrivateIPAddressInReservedRange"),
        (static("10.10.1.255"), "PrivateIPAddressInReservedRange"),
        (static("10.10.1.200"), "PrivateIPAddressIsAllocated"),
        (static("not-an-ip"), "InvalidPrivateIPAddressFormat"),
    ]
    for props, code in cases:
        name = unique("pe")
        resp = admin("PUT", endpoint_path(name), endpoint_body(cluster["id"], **props))
        assert (resp.status_code, error_code(resp)) == (400, code), props
        assert admin("GET", endpoint_path(name)).status_code == 404
    missing = admin("PUT", endpoint_path(unique("pe")), endpoint_body(cluster["id"], **static("10.10.1.201",
                                                                                               member="default")))
    message = missing.json()["error"]["message"]
    assert "MemberName: default" in message and "[GroupId: management, MemberName: management]" in message


@pytest.fixture
def small_subnets(cloud):
    """Two /29 hub subnets in a VNet of their own (3 endpoint addresses each), removed afterwards."""
    vnet = (f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{HUB_RG}/providers/Microsoft.Network/"
            f"virtualNetworks/vnet-{uuid.uuid4().hex[:6]}")
    base = f"10.{200 + len(cloud.world.subnets) % 50}"
    ids = []
    for i in range(2):
        sid = f"{vnet}/subnets/snet-{i}"
        resp = requests.post(f"{cloud.url}/_devcloud/subnets", json={"id": sid, "prefix": f"{base}.{i}.0/29"},
                             verify=cloud.certs.ca_bundle, timeout=10)
        assert resp.status_code == 201, resp.text
        ids.append(sid)
    yield vnet, ids
    cloud.world.subnets = [s for s in cloud.world.subnets if s.id not in ids]
    cloud.world.settings.pop("private_endpoints_per_vnet", None)


def usage(cloud, subnet_id: str) -> dict[str, Any]:
    resp = requests.get(f"{cloud.url}/_devcloud/subnets", verify=cloud.certs.ca_bundle, timeout=10)
    return next(s for s in resp.json()["value"] if s["id"] == subnet_id)


def test_full_subnet_and_vnet_limit(cloud, fast, spoke_admin, admin, small_subnets):
    vnet, (first, second) = small_subnets
    cluster = make_cluster(spoke_admin, fast)
    assert usage(cloud, first) == {"id": first, "prefix": usage(cloud, first)["prefix"], "used": 0, "total": 3}
    for _ in range(3):
        make_endpoint(admin, fast, cluster["id"], subnet=first)
    assert usage(cloud, first)["used"] == 3
    full = admin("PUT", endpoint_path(unique("pe")), endpoint_body(cluster["id"], subnet=first))
    assert (full.status_code, error_code(full)) == (400, "SubnetIsFull")
    assert full.json()["error"]["message"].endswith("does not have enough capacity for 1 IP addresses.")
    settings = requests.put(f"{cloud.url}/_devcloud/settings", json={"private_endpoints_per_vnet": 4},
                            verify=cloud.certs.ca_bundle, timeout=10)
    assert settings.json()["private_endpoints_per_vnet"] == 4
    make_endpoint(admin, fast, cluster["id"], subnet=second)
    limited = admin("PUT", endpoint_path(unique("pe")), endpoint_body(cluster["id"], subnet=second))
    assert (limited.status_code, error_code(limited)) == (400, LIMIT_CODE)
    assert usage(cloud, second)["used"] == 1
    # counted per VNet: this VNet's own four, whatever the main hub VNet holds (earlier tests leave endpoints there)
    message = limited.json()["error"]["message"]
    assert vnet in message and "already has 4 private endpoints" in message
    # the subnet and its VNet as ARM shows them
    subnet = admin("GET", first).json()
    assert subnet["properties"]["addressPrefix"].endswith("/29") and len(subnet["properties"]["privateEndpoints"]) == 3
    assert len(subnet["properties"]["ipConfigurations"]) == 3
    network = admin("GET", vnet).json()
    assert [s["id"] for s in network["properties"]["subnets"]] == [first, second]
    assert admin("GET", vnet + "/subnets/missing").status_code == 404
    # the world's zones are linked to the new VNet too
    zone = cloud.providers["privatedns"].lookup(zone_path())
    assert zone.linked_to(vnet)


# -- virtual network links and the hub resolver --------------------------------------------------
def test_links_need_vnet_join_and_one_zone_per_name(cloud, admin):
    zid = hub_zone(admin, f"x{uuid.uuid4().hex[:6]}.example.test")
    try:
        created = link(admin, zid)
        assert created.status_code == 201
        body = created.json()
        assert body["properties"]["virtualNetwork"]["id"] == HUB_VNET
        assert body["properties"]["virtualNetworkLinkState"] == "Completed"
        assert admin("GET", zid, api=DNS_API).json()["properties"]["numberOfVirtualNetworkLinks"] == 1
        assert link(admin, zid).status_code == 200
        assert link(admin, zid, name="again").status_code == 409
        assert ("Microsoft.Network/virtualNetworks/join/action", HUB_VNET) in cloud.arm.actions["admin"]
        refused = admin("DELETE", zid, api=DNS_API)
        assert (refused.status_code, error_code(refused)) == (400, "CannotDeleteResource")
        listed = admin("GET", zid.rsplit("/", 1)[0], api=DNS_API).json()["value"]
        assert zid.rsplit("/", 1)[1].lower() in {z["name"] for z in listed}
    finally:
        drop_zone(admin, zid)
    assert admin("GET", zid, api=DNS_API).status_code == 404


def test_resolver_most_specific_zone_wins_and_no_public_fallback(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast, apiServerAccessProfile={"enablePrivateCluster": True,
                                                                       "privateDNSZone": "none"})
    fqdn = cluster["properties"]["fqdn"]
    api_ip = live(cloud, cluster).api_ip
    exact = hub_zone(admin, fqdn)
    broad = hub_zone(admin, "hcp.westeurope.azmk8s.io")
    try:
        assert resolve(cloud, fqdn).addresses == [api_ip]  # no zone linked yet: public DNS
        assert admin("PUT", f"{exact}/A/@", {"properties": {"ttl": 10, "aRecords": [{"ipv4Address": "10.10.1.77"}]}},
                     api=DNS_API).status_code == 201
        assert resolve(cloud, fqdn).addresses == [api_ip]  # a zone that is not linked changes nothing
        assert link(admin, broad).status_code == 201
        hidden = resolve(cloud, fqdn)  # the linked broad zone has no record: NXDOMAIN, no fallback
        assert (hidden.status, hidden.source, hidden.zone_id) == ("NXDOMAIN", "private-zone", broad)
        assert link(admin, exact).status_code == 201
        answer = resolve(cloud, fqdn.upper() + ".")
        assert (answer.status, answer.addresses, answer.zone_id) == ("NOERROR", ["10.10.1.77"], exact)
        other = resolve(cloud, f"other-{uuid.uuid4().hex[:8]}.hcp.westeurope.azmk8s.io")
        assert other.status == "NXDOMAIN"
        assert resolve(cloud, fqdn, "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/"
                                    "virtualNetworks/elsewhere").addresses == [api_ip]
        over_http = requests.get(f"{cloud.url}/_devcloud/dns/resolve", params={"name": fqdn},
                                 verify=cloud.certs.ca_bundle, timeout=10).json()
        assert over_http == hub_sees(cloud, fqdn) == answer.as_dict() | {"name": fqdn}
        assert hub_sees(RemoteCloud(cloud.connection_info()), fqdn, HUB_VNET) == over_http
        # a second zone of the same name cannot be linked to the same VNet
        assert admin("PUT", f"/subscriptions/{HUB_SUBSCRIPTION}/resourcegroups/rg-dns-twin", {"location": "westeurope"},
                     api="2021-04-01").status_code in (200, 201)
        twin = exact.replace(f"/resourceGroups/{HUB_RG}/", "/resourceGroups/rg-dns-twin/")
        assert admin("PUT", twin, {"location": "global"}, api=DNS_API).status_code == 201
        same_name = link(admin, twin)
        assert (same_name.status_code, error_code(same_name)) == (400, "BadRequest")
        admin("DELETE", twin, api=DNS_API)
    finally:
        drop_zone(admin, exact)
        drop_zone(admin, broad)


def test_static_address_to_a_private_link_service_names_no_member(cloud):
    """A Private Link Service has no groups: one configuration with only a name and an address."""
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.network import models as net_models

    from tests.devcloud import test_pls as pls_tests

    saved = dict(cloud.arm.lro_seconds)
    cloud.arm.lro_seconds.update({k: 0.05 for k in pls_tests.LRO_KEYS})
    _, net, _ = pls_tests.clients(cloud)
    spoke = pls_tests.spoke_net(cloud)
    cluster = pls_tests.make_cluster(cloud, "vnetip")
    frontend = pls_tests.kube_apiserver(cloud, cluster).properties.frontend_ip_configurations[0]
    name, pe = f"pls-{uuid.uuid4().hex[:6]}", f"pe-{uuid.uuid4().hex[:6]}"
    pls = spoke.private_link_services.begin_create_or_update(pls_tests.SPOKE_RG, name,
                                                             pls_tests.pls_body(cloud, frontend.id)).result()
    try:
        body = pls_tests.pls_endpoint(cloud, pls.id)
        body.properties.ip_configurations = [net_models.PrivateEndpointIPConfiguration(
            name="static", group_id="management", member_name="management", private_ip_address="10.10.1.210")]
        with pytest.raises(HttpResponseError) as err:
            net.private_endpoints.begin_create_or_update(HUB_RG, pe, body).result()
        assert err.value.error.code == "PrivateEndpointIpConfigurationMissingMemberNamesRequiredByFps"
        body.properties.ip_configurations = [net_models.PrivateEndpointIPConfiguration(
            name="static", private_ip_address="10.10.1.210")]
        endpoint = net.private_endpoints.begin_create_or_update(HUB_RG, pe, body).result()
        nic = endpoint.properties.network_interfaces[0].id.rsplit("/", 1)[1]
        ip = net.network_interfaces.get(HUB_RG, nic).properties.ip_configurations[0].properties.private_ip_address
        assert ip == "10.10.1.210"
    finally:
        pls_tests.cleanup(cloud, cluster, name, endpoints=(pe,))
        cloud.arm.lro_seconds.clear()
        cloud.arm.lro_seconds.update(saved)
