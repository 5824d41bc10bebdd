"""devcloud's resource providers, behaviour by behaviour, through raw HTTPS calls.

The SDK lifecycle and the published-example shapes have their own modules; this one covers the
rest: validation and error codes, LRO timing, connection mirroring and cascades, IP allocation,
DNS preconditions and paging, events, and the RBAC actions recorded for the product's identity.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from devcloud.arm import FaultRule
from devcloud.world import (
    HUB_SUBSCRIPTION,
    HUB_TENANT,
    SPOKE_SUBSCRIPTION_A,
    SPOKE_SUBSCRIPTION_B1,
    SPOKE_SUBSCRIPTION_B2,
    SPOKE_TENANT,
    RoleAssignment,
    RoleDefinition,
)
from stack.world import HUB_ROLE_ACTIONS, SPOKE_ROLE_ACTIONS

AKS_API = "2025-10-01"
NET_API = "2024-05-01"
DNS_API = "2024-06-01"
HUB_RG = "rg-hub-network"
SPOKE_RG = "rg-aks"
LRO_KEYS = ("managedClusters/create", "managedClusters/update", "managedClusters/delete", "managedClusters/stop",
            "managedClusters/start", "privateEndpoints/create", "privateEndpoints/update", "privateEndpoints/delete")


class Api:
    """Raw ARM calls with one application's token from one tenant."""

    def __init__(self, cloud: Any, app: str = "admin", tenant: str = HUB_TENANT) -> None:
        self.cloud = cloud
        self.session = requests.Session()
        self.verify = cloud.certs.ca_bundle  # per request: REQUESTS_CA_BUNDLE would override session.verify
        application = next(a for a in cloud.world.applications if a.name == app)
        token = self.session.post(f"{cloud.url}/{tenant}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": application.client_id,
            "client_secret": application.secret, "scope": "https://management.azure.com/.default"},
            verify=self.verify, timeout=10)
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def __call__(self, method: str, path: str, body: Any = None, *, api: str = NET_API,
                 headers: dict[str, str] | None = None, **query: str) -> requests.Response:
        url = path if path.startswith("https://") else f"{self.cloud.url}{path}"
        params = None if "api-version=" in url else {"api-version": api, **query}
        return self.session.request(method, url, json=body, params=params, headers=headers, verify=self.verify,
                                    timeout=10)


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def error_code(resp: requests.Response) -> str:
    return resp.json()["error"]["code"]


def cluster_path(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}"


def endpoint_path(name: str, rg: str = HUB_RG) -> str:
    return f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}"


def zone_path(region: str = "westeurope") -> str:
    return (f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{HUB_RG}/providers/Microsoft.Network/privateDnsZones/"
            f"privatelink.{region}.azmk8s.io")


def cluster_body(*, private: bool = True, location: str = "westeurope", dns_prefix: str | None = "app1",
                 **extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"agentPoolProfiles": [{"name": "system", "count": 1, "vmSize": "Standard_D2s_v3",
                                                    "mode": "System"}]}
    if dns_prefix:
        props["dnsPrefix"] = dns_prefix
    if private:
        props["apiServerAccessProfile"] = {"enablePrivateCluster": True}
    props.update(extra)
    return {"location": location, "properties": props}


def endpoint_body(target: str, *, manual: bool = True, message: str = "hublink please", group: str = "management",
                  subnet: str | None = None, **props: Any) -> dict[str, Any]:
    kind = "manualPrivateLinkServiceConnections" if manual else "privateLinkServiceConnections"
    entry = {"name": "hub", "properties": {"privateLinkServiceId": target, "groupIds": [group], "requestMessage": message}}
    return {"location": "westeurope", "properties": {
        kind: [entry], "subnet": {"id": subnet or f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{HUB_RG}/providers/"
                                              "Microsoft.Network/virtualNetworks/vnet-hub/subnets/snet-private-endpoints"},
        **props}}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fast(cloud):
    """Short LROs (restored afterwards) and a record of what each test created, deleted at the end."""
    saved = dict(cloud.arm.lro_seconds), dict(cloud.arm.retry_after_s)
    cloud.arm.lro_seconds.update({k: 0.05 for k in LRO_KEYS})
    created: list[tuple[Api, str, str]] = []
    yield created
    for api, path, version in reversed(created):
        api("DELETE", path, api=version)
    cloud.arm.lro_seconds.clear()
    cloud.arm.lro_seconds.update(saved[0])
    cloud.arm.retry_after_s.clear()
    cloud.arm.retry_after_s.update(saved[1])


@pytest.fixture
def admin(cloud) -> Api:
    return Api(cloud)


@pytest.fixture
def spoke_admin(cloud) -> Api:
    return Api(cloud, tenant=SPOKE_TENANT)


def make_cluster(api: Api, created: list, *, sub: str = SPOKE_SUBSCRIPTION_B1, wait: bool = True,
                 **body: Any) -> dict[str, Any]:
    path = cluster_path(sub, SPOKE_RG, unique("aks"))
    resp = api("PUT", path, cluster_body(**body), api=AKS_API)
    assert resp.status_code == 201, resp.text
    created.append((api, path, AKS_API))
    if wait:
        return wait_for(lambda: succeeded(api, path, AKS_API))
    return resp.json()


def make_endpoint(api: Api, created: list, target: str, **body: Any) -> dict[str, Any]:
    path = endpoint_path(unique("pe"))
    resp = api("PUT", path, endpoint_body(target, **body))
    assert resp.status_code == 201, resp.text
    created.append((api, path, NET_API))
    return wait_for(lambda: succeeded(api, path, NET_API))


def succeeded(api: Api, path: str, version: str) -> dict[str, Any] | None:
    body = api("GET", path, api=version).json()
    return body if body["properties"]["provisioningState"] == "Succeeded" else None


def pe_state(api: Api, endpoint: dict[str, Any]) -> dict[str, str]:
    props = api("GET", endpoint["id"]).json()["properties"]
    link = (props["manualPrivateLinkServiceConnections"] or props["privateLinkServiceConnections"])[0]
    return link["properties"]["privateLinkServiceConnectionState"]


def connections(api: Api, cluster: dict[str, Any]) -> list[dict[str, Any]]:
    resp = api("GET", cluster["id"] + "/privateEndpointConnections", api=AKS_API)
    assert resp.status_code == 200, resp.text
    return resp.json()["value"]


# -- resource groups -------------------------------------------------------------------------------
def test_resource_groups(cloud, admin):
    name = unique("rg")
    path = f"/subscriptions/{HUB_SUBSCRIPTION}/resourcegroups/{name}"
    assert admin("HEAD", path, api="2024-03-01").status_code == 404
    assert admin("GET", path, api="2024-03-01").json()["error"]["code"] == "ResourceGroupNotFound"
    created = admin("PUT", path, {"location": "West Europe", "tags": {"a": "b"}}, api="2024-03-01")
    assert created.status_code == 201
    assert created.json() == {"id": f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{name}", "name": name,
                              "type": "Microsoft.Resources/resourceGroups", "location": "westeurope",
                              "properties": {"provisioningState": "Succeeded"}, "tags": {"a": "b"}}
    assert admin("PUT", path, {"location": "westeurope"}, api="2024-03-01").status_code == 200
    assert admin("HEAD", path, api="2024-03-01").status_code == 204
    moved = admin("PUT", path, {"location": "northeurope"}, api="2024-03-01")
    assert (moved.status_code, error_code(moved)) == (400, "InvalidResourceGroupLocation")
    assert admin("GET", f"/subscriptions/{HUB_SUBSCRIPTION}/resourcegroups/{HUB_RG}", api="2024-03-01").status_code == 200
    names = [g["name"] for g in admin("GET", f"/subscriptions/{HUB_SUBSCRIPTION}/resourcegroups",
                                      api="2024-03-01").json()["value"]]
    assert {HUB_RG, name} <= set(names)
    assert error_code(admin("PUT", path, {}, api="2024-03-01")) == "LocationRequired"


def test_resources_in_a_missing_group_are_refused(cloud, spoke_admin, admin):
    missing = cluster_path(SPOKE_SUBSCRIPTION_B1, "rg-nope", "aks")
    for resp in (spoke_admin("PUT", missing, cluster_body(), api=AKS_API), spoke_admin("GET", missing, api=AKS_API),
                 admin("PUT", endpoint_path("pe", rg="rg-nope"), endpoint_body(missing)),
                 admin("GET", zone_path().replace(HUB_RG, "rg-nope") + "/A/x", api=DNS_API)):
        assert (resp.status_code, error_code(resp)) == (404, "ResourceGroupNotFound")


# -- managed clusters ------------------------------------------------------------------------------
def test_cluster_validation(cloud, spoke_admin):
    path = cluster_path(SPOKE_SUBSCRIPTION_B1, SPOKE_RG, unique("aks"))
    cases = [
        ({"properties": cluster_body()["properties"]}, "LocationRequired"),
        (cluster_body(dns_prefix=None), "InvalidParameter"),
        (cluster_body(fqdnSubdomain="sub"), "InvalidParameter"),  # both dnsPrefix and fqdnSubdomain
        (cluster_body(dns_prefix="-bad"), "InvalidParameter"),
        (cluster_body(agentPoolProfiles=[]), "InvalidParameter"),
        (cluster_body(dns_prefix=None, fqdnSubdomain="sub"), "InvalidParameter"),  # needs a custom zone
        (cluster_body(apiServerAccessProfile={"enablePrivateCluster": True, "privateDNSZone": zone_path("northeurope")}),
         "InvalidPrivateDNSZoneResourceID"),  # zone of another region
    ]
    for body, code in cases:
        resp = spoke_admin("PUT", path, body, api=AKS_API)
        assert (resp.status_code, error_code(resp)) == (400, code), body
    assert spoke_admin("GET", path, api=AKS_API).status_code == 404


def test_cluster_create_is_long_running(cloud, fast, spoke_admin, admin):
    cloud.arm.lro_seconds["managedClusters/create"] = 0.3
    cloud.arm.retry_after_s["Microsoft.ContainerService"] = 2
    created = make_cluster(spoke_admin, fast, wait=False)
    props = created["properties"]
    assert props["provisioningState"] == "Creating"
    assert props["powerState"] == {"code": "Running"}
    resp = spoke_admin("GET", created["id"], api=AKS_API)
    assert resp.json()["properties"]["provisioningState"] == "Creating"
    early = admin("PUT", endpoint_path(unique("pe")), endpoint_body(created["id"]))
    assert (early.status_code, error_code(early)) == (400, "PrivateLinkServiceNotFound")
    assert spoke_admin("GET", created["id"] + "/privateLinkResources", api=AKS_API).json() == {"value": []}
    busy = spoke_admin("PUT", created["id"], cluster_body(), api=AKS_API)
    assert (busy.status_code, error_code(busy)) == (409, "OperationNotAllowed")
    done = wait_for(lambda: succeeded(spoke_admin, created["id"], AKS_API))
    assert done["properties"]["agentPoolProfiles"][0]["provisioningState"] == "Succeeded"
    name = created["name"]
    assert done["id"] == f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/resourcegroups/{SPOKE_RG}/providers/" \
                         f"Microsoft.ContainerService/managedClusters/{name}"
    assert done["properties"]["nodeResourceGroup"] == f"MC_{SPOKE_RG}_{name}_westeurope"
    assert re.fullmatch(r"app1-[0-9a-z]{8}\.[0-9a-f-]{36}\.privatelink\.westeurope\.azmk8s\.io",
                        done["properties"]["privateFQDN"])
    # recorded Azure: enablePrivateCluster alone also gives a public FQDN (resolving to the private IP)
    assert done["properties"]["apiServerAccessProfile"]["enablePrivateClusterPublicFQDN"] is True
    assert re.fullmatch(r"app1-[0-9a-z]{8}\.hcp\.westeurope\.azmk8s\.io", done["properties"]["fqdn"])
    assert done["properties"]["azurePortalFQDN"] == done["properties"]["fqdn"].replace(".hcp.", ".portal.hcp.")
    assert done["properties"]["apiServerAccessProfile"]["privateDNSZone"] == "system"
    links = spoke_admin("GET", created["id"] + "/privateLinkResources", api=AKS_API).json()["value"]
    assert [(r["groupId"], r["requiredMembers"]) for r in links] == [("management", ["management"])]


def test_cluster_lro_headers_and_operation_status(cloud, fast, spoke_admin):
    cloud.arm.retry_after_s["Microsoft.ContainerService"] = 3
    path = cluster_path(SPOKE_SUBSCRIPTION_B1, SPOKE_RG, unique("aks"))
    resp = spoke_admin("PUT", path, cluster_body(), api=AKS_API)
    fast.append((spoke_admin, path, AKS_API))
    assert resp.headers["Retry-After"] == "3"
    status_url = resp.headers["Azure-AsyncOperation"]
    assert status_url.startswith(f"{cloud.url}/subscriptions/{SPOKE_SUBSCRIPTION_B1}/providers/"
                                 "Microsoft.ContainerService/locations/westeurope/operations/")
    wait_for(lambda: spoke_admin("GET", status_url).json()["status"] == "Succeeded")
    stop = spoke_admin("POST", path + "/stop", api=AKS_API)
    assert stop.status_code == 202 and "/operationresults/" in stop.headers["Location"]
    wait_for(lambda: spoke_admin("GET", stop.headers["Location"]).status_code == 204)
    assert spoke_admin("GET", path, api=AKS_API).json()["properties"]["powerState"] == {"code": "Stopped"}


def test_public_cluster_has_public_fqdns_and_no_private_link(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast, private=False, dns_prefix="Pub1")
    props = cluster["properties"]
    assert re.fullmatch(r"pub1-[0-9a-z]{8}\.hcp\.westeurope\.azmk8s\.io", props["fqdn"])
    assert props["azurePortalFQDN"] == props["fqdn"].replace(".hcp.", ".portal.hcp.")
    assert "privateFQDN" not in props
    assert spoke_admin("GET", cluster["id"] + "/privateLinkResources", api=AKS_API).json() == {"value": []}
    resp = admin("PUT", endpoint_path(unique("pe")), endpoint_body(cluster["id"]))
    assert (resp.status_code, error_code(resp)) == (400, "PrivateLinkServiceNotFound")


def test_private_cluster_fqdn_variants(cloud, fast, spoke_admin):
    both = make_cluster(spoke_admin, fast, apiServerAccessProfile={"enablePrivateCluster": True,
                                                                   "enablePrivateClusterPublicFQDN": True})
    assert both["properties"]["fqdn"].endswith(".hcp.westeurope.azmk8s.io")
    assert both["properties"]["privateFQDN"].endswith(".privatelink.westeurope.azmk8s.io")
    custom = make_cluster(spoke_admin, fast, dns_prefix=None, fqdnSubdomain="Team1",
                          apiServerAccessProfile={"enablePrivateCluster": True, "privateDNSZone": zone_path()})
    assert custom["properties"]["privateFQDN"] == "team1.privatelink.westeurope.azmk8s.io"
    assert "fqdn" not in custom["properties"]


def test_cluster_update_and_immutable_fields(cloud, fast, spoke_admin):
    cluster = make_cluster(spoke_admin, fast)
    private_fqdn = cluster["properties"]["privateFQDN"]
    changed = spoke_admin("PUT", cluster["id"], cluster_body(dns_prefix="other"), api=AKS_API)
    assert (changed.status_code, error_code(changed)) == (400, "PropertyChangeNotAllowed")
    public = spoke_admin("PUT", cluster["id"], cluster_body(private=False), api=AKS_API)  # omitted = unchanged
    assert public.status_code == 200
    wait_for(lambda: succeeded(spoke_admin, cluster["id"], AKS_API))
    flip = cluster_body(apiServerAccessProfile={"enablePrivateCluster": False})
    assert error_code(spoke_admin("PUT", cluster["id"], flip, api=AKS_API)) == "PropertyChangeNotAllowed"
    update = spoke_admin("PUT", cluster["id"], {**cluster_body(), "tags": {"team": "a"}}, api=AKS_API)
    assert update.status_code == 200
    assert update.json()["properties"]["provisioningState"] == "Updating"
    assert update.json()["tags"] == {"team": "a"}
    done = wait_for(lambda: succeeded(spoke_admin, cluster["id"], AKS_API))
    assert done["properties"]["privateFQDN"] == private_fqdn
    assert done["eTag"] != cluster["eTag"]
    stale = spoke_admin("PUT", cluster["id"], cluster_body(), api=AKS_API, headers={"If-Match": cluster["eTag"]})
    assert (stale.status_code, error_code(stale)) == (412, "PreconditionFailed")


def test_cluster_lists(cloud, fast, spoke_admin):
    cluster = make_cluster(spoke_admin, fast)
    by_rg = spoke_admin("GET", f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/resourceGroups/{SPOKE_RG}/providers/"
                               "Microsoft.ContainerService/managedClusters", api=AKS_API).json()["value"]
    by_sub = spoke_admin("GET", f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/providers/"
                                "Microsoft.ContainerService/managedClusters", api=AKS_API).json()["value"]
    assert cluster["id"] in {c["id"] for c in by_rg} and cluster["id"] in {c["id"] for c in by_sub}
    other = spoke_admin("GET", f"/subscriptions/{SPOKE_SUBSCRIPTION_B2}/providers/"
                               "Microsoft.ContainerService/managedClusters", api=AKS_API).json()["value"]
    assert cluster["id"] not in {c["id"] for c in other}


def test_not_found_codes(cloud, admin, spoke_admin):
    missing = cluster_path(SPOKE_SUBSCRIPTION_B1, SPOKE_RG, "nope")
    for resp in (spoke_admin("GET", missing, api=AKS_API), spoke_admin("POST", missing + "/stop", api=AKS_API),
                 spoke_admin("GET", missing + "/privateEndpointConnections", api=AKS_API),
                 admin("GET", endpoint_path("nope")),
                 admin("GET", f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{HUB_RG}/providers/"
                              "Microsoft.Network/networkInterfaces/nope"),
                 admin("GET", zone_path().replace("westeurope", "nowhere"), api=DNS_API)):
        assert (resp.status_code, error_code(resp)) == (404, "ResourceNotFound"), resp.request.url
    assert spoke_admin("DELETE", missing, api=AKS_API).status_code == 204
    assert admin("DELETE", endpoint_path("nope")).status_code == 204
    nested = admin("GET", zone_path().replace("westeurope", "nowhere") + "/A/x", api=DNS_API)
    assert (nested.status_code, error_code(nested)) == (404, "ParentResourceNotFound")


# -- endpoints and connections ---------------------------------------------------------------------
def test_manual_connection_lifecycle_mirrors_both_sides(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast)
    endpoint = make_endpoint(admin, fast, cluster["id"], message="from the hub")
    [conn] = connections(spoke_admin, cluster)
    assert re.fullmatch(re.escape(endpoint["name"]) + r"\.[0-9a-f-]{36}", conn["name"])
    assert conn["properties"]["privateEndpoint"]["id"] == endpoint["id"]
    assert conn["properties"]["privateLinkServiceConnectionState"] == {"status": "Pending",
                                                                      "description": "from the hub"}
    assert pe_state(admin, endpoint)["status"] == "Pending"
    url = cluster["id"] + "/privateEndpointConnections/" + conn["name"].upper()  # names are case-insensitive
    approve = {"properties": {"privateLinkServiceConnectionState": {"status": "Approved", "description": "ok"}}}
    resp = spoke_admin("PUT", url, approve, api=AKS_API)
    assert resp.status_code == 200 and resp.json()["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"
    assert pe_state(admin, endpoint) == {"status": "Approved", "description": "ok", "actionsRequired": "None"}
    assert spoke_admin("PUT", url, approve, api=AKS_API).status_code == 200  # idempotent
    reject = {"properties": {"privateLinkServiceConnectionState": {"status": "Rejected"}}}
    assert spoke_admin("PUT", url, reject, api=AKS_API).status_code == 200
    assert pe_state(admin, endpoint)["status"] == "Rejected"
    again = spoke_admin("PUT", url, approve, api=AKS_API)
    assert (again.status_code, error_code(again)) == (400, "BadRequest")
    bogus = spoke_admin("PUT", url, {"properties": {"privateLinkServiceConnectionState": {"status": "Disconnected"}}},
                        api=AKS_API)
    assert (bogus.status_code, error_code(bogus)) == (400, "InvalidParameter")
    assert spoke_admin("DELETE", url, api=AKS_API).status_code == 200
    assert spoke_admin("DELETE", url, api=AKS_API).status_code == 204
    assert pe_state(admin, endpoint)["status"] == "Disconnected"
    gone = spoke_admin("GET", url, api=AKS_API)
    assert (gone.status_code, error_code(gone)) == (404, "ResourceNotFound")
    missing = spoke_admin("PUT", cluster["id"] + "/privateEndpointConnections/nope", approve, api=AKS_API)
    assert (missing.status_code, error_code(missing)) == (404, "ResourceNotFound")


def test_endpoint_create_is_long_running_and_has_a_nic(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast)
    cloud.arm.lro_seconds["privateEndpoints/create"] = 0.3
    cloud.arm.retry_after_s["Microsoft.Network"] = 1
    name = unique("pe")
    resp = admin("PUT", endpoint_path(name), endpoint_body(cluster["id"]))
    fast.append((admin, endpoint_path(name), NET_API))
    assert resp.status_code == 201 and resp.headers["Retry-After"] == "1"
    assert "/providers/Microsoft.Network/locations/westeurope/operations/" in resp.headers["Azure-AsyncOperation"]
    assert resp.json()["properties"]["provisioningState"] == "Updating"
    busy = admin("PUT", endpoint_path(name), endpoint_body(cluster["id"]))
    assert (busy.status_code, error_code(busy)) == (409, "AnotherOperationInProgress")
    endpoint = wait_for(lambda: succeeded(admin, endpoint_path(name), NET_API))
    [nic_ref] = endpoint["properties"]["networkInterfaces"]
    assert re.fullmatch(rf".*/networkInterfaces/{name}\.nic\.[0-9a-f-]{{36}}", nic_ref["id"])
    nic = admin("GET", nic_ref["id"]).json()
    [config] = nic["properties"]["ipConfigurations"]
    ip = config["properties"]["privateIPAddress"]
    assert config["properties"]["subnet"]["id"] == endpoint["properties"]["subnet"]["id"]
    assert config["properties"]["primary"] is True
    assert endpoint["properties"]["customDnsConfigs"] == [{"fqdn": cluster["properties"]["privateFQDN"],
                                                          "ipAddresses": [ip]}]
    tagged = admin("PUT", endpoint_path(name), {**endpoint_body(cluster["id"]), "tags": {"owner": "hub"}})
    assert tagged.status_code == 200 and tagged.json()["tags"] == {"owner": "hub"}
    wait_for(lambda: succeeded(admin, endpoint_path(name), NET_API))
    retarget = admin("PUT", endpoint_path(name), endpoint_body(cluster["id"], manual=False))
    assert (retarget.status_code, error_code(retarget)) == (400, "PropertyChangeNotAllowed")


def test_endpoint_validation(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast)
    bad = [
        (endpoint_body(cluster["id"], subnet=f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{HUB_RG}/providers/"
                                            "Microsoft.Network/virtualNetworks/vnet-hub/subnets/nope"),
         "InvalidResourceReference"),
        (endpoint_body(cluster["id"], group="kube-apiserver"), "InvalidGroupIds"),
        (endpoint_body(cluster["id"] + "x"), "PrivateLinkServiceNotFound"),
        (endpoint_body(cluster["id"], ipConfigurations=[{"name": "ip", "properties": {
            "groupId": "management", "memberName": "management", "privateIPAddress": "10.99.0.5"}}]),
         "PrivateIPAddressNotInSubnet"),
        ({**endpoint_body(cluster["id"]), "location": None}, "LocationRequired"),
    ]
    for body, code in bad:
        resp = admin("PUT", endpoint_path(unique("pe")), body)
        assert (resp.status_code, error_code(resp)) == (400, code), code
    assert connections(spoke_admin, cluster) == []


def test_subnet_join_is_a_linked_authorization(cloud, fast, spoke_admin):
    cluster = make_cluster(spoke_admin, fast)
    world = cloud.world
    world.roles["pe-no-join"] = RoleDefinition("pe-no-join", ["Microsoft.Network/privateEndpoints/*"])
    assignment = RoleAssignment("hublink", "pe-no-join", f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{HUB_RG}")
    world.assignments.append(assignment)
    saved = world.roles["HubLink Hub Operator"]
    world.roles["HubLink Hub Operator"] = RoleDefinition(saved.name, [a for a in saved.actions if "join" not in a])
    try:
        resp = Api(cloud, "hublink")("PUT", endpoint_path(unique("pe")), endpoint_body(cluster["id"]))
        assert (resp.status_code, error_code(resp)) == (403, "LinkedAuthorizationFailed")
        assert "subnets/join/action" in resp.json()["error"]["message"]
    finally:
        world.assignments.remove(assignment)
        world.roles["HubLink Hub Operator"] = saved
        del world.roles["pe-no-join"]


def test_automatic_connection_same_tenant_is_approved(cloud, fast, admin):
    cluster = make_cluster(admin, fast, sub=SPOKE_SUBSCRIPTION_A)
    endpoint = make_endpoint(admin, fast, cluster["id"], manual=False)
    assert endpoint["properties"]["manualPrivateLinkServiceConnections"] == []
    assert pe_state(admin, endpoint) == {"status": "Approved", "description": "Auto-Approved", "actionsRequired": "None"}
    assert connections(admin, cluster)[0]["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"


def test_automatic_connection_across_tenants_fails(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast)
    resp = admin("PUT", endpoint_path(unique("pe")), endpoint_body(cluster["id"], manual=False))
    assert (resp.status_code, error_code(resp)) == (403, "LinkedAuthorizationFailed")
    assert connections(spoke_admin, cluster) == []


def test_ip_addresses_are_unique_and_freed(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast)
    endpoints = [make_endpoint(admin, fast, cluster["id"]) for _ in range(4)]
    pe = cloud.providers["network"]
    ips = [pe.endpoints[e["id"].lower()].ip for e in endpoints]
    assert len(set(ips)) == 4
    assert all(ip.startswith("10.10.1.") and int(ip.rsplit(".", 1)[1]) >= 4 for ip in ips)
    static = endpoint_body(cluster["id"], ipConfigurations=[{"name": "ip", "properties": {
        "groupId": "management", "memberName": "management", "privateIPAddress": ips[0]}}])
    taken = admin("PUT", endpoint_path(unique("pe")), static)
    assert (taken.status_code, error_code(taken)) == (400, "PrivateIPAddressIsAllocated")
    first = endpoints[0]
    nic_id = first["properties"]["networkInterfaces"][0]["id"]
    assert admin("DELETE", first["id"]).status_code == 202
    wait_for(lambda: admin("GET", first["id"]).status_code == 404)
    assert admin("GET", nic_id).status_code == 404
    assert ips[0] not in cloud.providers["network"].allocated[cloud.world.subnets[0].id.lower()]
    reused = make_endpoint(admin, fast, cluster["id"], ipConfigurations=static["properties"]["ipConfigurations"])
    nic = admin("GET", reused["properties"]["networkInterfaces"][0]["id"]).json()
    assert nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] == ips[0]
    assert nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAllocationMethod"] == "Static"
    assert len(connections(spoke_admin, cluster)) == 4  # the deleted endpoint's connection went with it


def test_stop_start_disconnects_endpoints_for_good(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast)
    endpoint = make_endpoint(admin, fast, cluster["id"])
    pls = cloud.providers["containerservice"].clusters[cluster["id"].lower()].pls_id
    assert spoke_admin("POST", cluster["id"] + "/stop", api=AKS_API).status_code == 202
    assert spoke_admin("GET", cluster["id"], api=AKS_API).json()["properties"]["provisioningState"] == "Stopping"
    wait_for(lambda: succeeded(spoke_admin, cluster["id"], AKS_API))
    assert spoke_admin("GET", cluster["id"], api=AKS_API).json()["properties"]["powerState"] == {"code": "Stopped"}
    assert connections(spoke_admin, cluster) == []
    assert pe_state(admin, endpoint)["status"] == "Disconnected"
    assert spoke_admin("GET", cluster["id"] + "/privateLinkResources", api=AKS_API).json() == {"value": []}
    stopped = admin("PUT", endpoint_path(unique("pe")), endpoint_body(cluster["id"]))
    assert (stopped.status_code, error_code(stopped)) == (400, "PrivateLinkServiceNotFound")
    assert error_code(spoke_admin("POST", cluster["id"] + "/stop", api=AKS_API)) == "OperationNotAllowed"
    assert error_code(spoke_admin("PUT", cluster["id"], cluster_body(), api=AKS_API)) == "OperationNotAllowed"
    assert spoke_admin("POST", cluster["id"] + "/start", api=AKS_API).status_code == 202
    wait_for(lambda: succeeded(spoke_admin, cluster["id"], AKS_API))
    new_pls = cloud.providers["containerservice"].clusters[cluster["id"].lower()].pls_id
    assert new_pls and new_pls != pls
    assert pe_state(admin, endpoint)["status"] == "Disconnected"  # must be recreated
    fresh = make_endpoint(admin, fast, cluster["id"])
    assert pe_state(admin, fresh)["status"] == "Pending"
    assert [c["properties"]["privateEndpoint"]["id"] for c in connections(spoke_admin, cluster)] == [fresh["id"]]


def test_cluster_delete_cascades_to_connections(cloud, fast, spoke_admin, admin):
    cluster = make_cluster(spoke_admin, fast)
    endpoint = make_endpoint(admin, fast, cluster["id"])
    resp = spoke_admin("DELETE", cluster["id"], api=AKS_API)
    assert resp.status_code == 202 and resp.headers["Location"] and resp.headers["Azure-AsyncOperation"]
    assert spoke_admin("GET", cluster["id"], api=AKS_API).json()["properties"]["provisioningState"] == "Deleting"
    again = spoke_admin("DELETE", cluster["id"], api=AKS_API)
    assert again.headers["Azure-AsyncOperation"] == resp.headers["Azure-AsyncOperation"]
    wait_for(lambda: spoke_admin("GET", cluster["id"], api=AKS_API).status_code == 404)
    assert pe_state(admin, endpoint)["status"] == "Disconnected"
    assert admin("GET", endpoint["id"]).json()["properties"]["provisioningState"] == "Succeeded"


def test_delete_during_create_cancels_it(cloud, fast, spoke_admin):
    cloud.arm.lro_seconds["managedClusters/create"] = 0.2
    created = make_cluster(spoke_admin, fast, wait=False)
    first = spoke_admin("PUT", created["id"], cluster_body(), api=AKS_API)
    assert first.status_code == 409
    status_url = spoke_admin("DELETE", created["id"], api=AKS_API).headers["Azure-AsyncOperation"]
    wait_for(lambda: spoke_admin("GET", status_url).json()["status"] == "Succeeded")
    assert spoke_admin("GET", created["id"], api=AKS_API).status_code == 404
    time.sleep(0.25)  # the create operation ends after the delete: it must not bring the cluster back
    assert spoke_admin("GET", created["id"], api=AKS_API).status_code == 404


def test_injected_lro_failure_leaves_failed_resources(cloud, fast, spoke_admin, admin):
    cloud.arm.faults.append(FaultRule(id="fail-aks", method="PUT", path="/managedClusters/", action="lro_failed",
                                      code="QuotaExceeded", times=1))
    failed = make_cluster(spoke_admin, fast, wait=False)
    assert wait_for(lambda: spoke_admin("GET", failed["id"], api=AKS_API).json()["properties"]["provisioningState"]
                    == "Failed")
    assert spoke_admin("GET", failed["id"] + "/privateLinkResources", api=AKS_API).json() == {"value": []}
    assert spoke_admin("PUT", failed["id"], cluster_body(), api=AKS_API).status_code == 200  # a retry reconciles it
    wait_for(lambda: succeeded(spoke_admin, failed["id"], AKS_API))
    assert spoke_admin("GET", failed["id"] + "/privateLinkResources", api=AKS_API).json()["value"]
    cluster = make_cluster(spoke_admin, fast)
    cloud.arm.faults.append(FaultRule(id="fail-pe", method="PUT", path="/privateEndpoints/", action="lro_failed",
                                      times=1))
    path = endpoint_path(unique("pe"))
    resp = admin("PUT", path, endpoint_body(cluster["id"]))
    fast.append((admin, path, NET_API))
    status = wait_for(lambda: (s := admin("GET", resp.headers["Azure-AsyncOperation"]).json())["status"] != "InProgress"
                      and s)
    assert status["status"] == "Failed" and status["error"]["code"] == "InternalServerError"
    assert admin("GET", path).json()["properties"]["provisioningState"] == "Failed"


# -- events ----------------------------------------------------------------------------------------
@pytest.fixture
def events(cloud):
    seen: list[tuple[str, dict[str, Any]]] = []

    def hook(subscription_id: str, event: dict[str, Any]) -> None:
        seen.append((subscription_id, event))

    cloud.arm.event_hooks.append(hook)
    yield seen
    cloud.arm.event_hooks.remove(hook)
    cloud.world.settings.pop("emit_on_accept", None)


def kinds(seen: list, resource_id: str) -> list[tuple[str, str]]:
    return [(e["eventType"].rsplit(".", 1)[1], e["data"]["operationName"]) for _, e in seen if e["subject"] == resource_id]


def test_cluster_and_endpoint_events(cloud, fast, events, spoke_admin, admin):
    write = "Microsoft.ContainerService/managedClusters/write"
    cluster = make_cluster(spoke_admin, fast)
    wait_for(lambda: len(kinds(events, cluster["id"])) == 2)
    assert kinds(events, cluster["id"]) == [("ResourceWriteSuccess", write)] * 2  # accepted, then succeeded
    assert all(sub == SPOKE_SUBSCRIPTION_B1 for sub, e in events if e["subject"] == cluster["id"])
    for verb in ("stop", "start"):
        spoke_admin("POST", f"{cluster['id']}/{verb}", api=AKS_API)
        wait_for(lambda v=verb: ("ResourceActionSuccess", f"Microsoft.ContainerService/managedClusters/{v}/action")
                 in kinds(events, cluster["id"]))
    endpoint = make_endpoint(admin, fast, cluster["id"])
    admin("DELETE", endpoint["id"])
    wait_for(lambda: ("ResourceDeleteSuccess", "Microsoft.Network/privateEndpoints/delete") in kinds(events, endpoint["id"]))
    assert kinds(events, endpoint["id"]).count(("ResourceWriteSuccess", "Microsoft.Network/privateEndpoints/write")) == 2
    spoke_admin("DELETE", cluster["id"], api=AKS_API)
    wait_for(lambda: ("ResourceDeleteSuccess", "Microsoft.ContainerService/managedClusters/delete")
             in kinds(events, cluster["id"]))


def test_no_event_on_accept_when_disabled(cloud, fast, events, spoke_admin):
    cloud.world.settings["emit_on_accept"] = False
    cluster = make_cluster(spoke_admin, fast)
    wait_for(lambda: kinds(events, cluster["id"]))
    time.sleep(0.05)
    assert len(kinds(events, cluster["id"])) == 1


# -- private DNS -----------------------------------------------------------------------------------
def record(ip: str, **metadata: str) -> dict[str, Any]:
    return {"properties": {"ttl": 300, "aRecords": [{"ipv4Address": ip}], "metadata": metadata}}


def test_dns_records_dotted_names_and_preconditions(cloud, admin):
    name = f"App1-1a2b3c4d.{uuid.uuid4()}"
    path = f"{zone_path()}/A/{name}"
    created = admin("PUT", path, record("10.10.1.9", owner="hublink"), api=DNS_API, headers={"If-None-Match": "*"})
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == name.lower()
    assert body["id"] == f"{zone_path()}/A/{name.lower()}"
    assert body["properties"]["fqdn"] == f"{name.lower()}.privatelink.westeurope.azmk8s.io."
    assert body["properties"]["metadata"] == {"owner": "hublink"}
    assert body["properties"]["isAutoRegistered"] is False
    exists = admin("PUT", path, record("10.10.1.9"), api=DNS_API, headers={"If-None-Match": "*"})
    assert exists.status_code == 412 and exists.json()["code"] == "PreconditionFailed"
    stale = admin("PUT", path, record("10.10.1.10"), api=DNS_API, headers={"If-Match": str(uuid.uuid4())})
    assert stale.status_code == 412 and stale.json()["code"] == "PreconditionFailed"
    updated = admin("PUT", path.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), record("10.10.1.10"),
                    api=DNS_API, headers={"If-Match": body["etag"]})
    assert updated.status_code == 200 and updated.json()["etag"] != body["etag"]
    assert admin("GET", path.lower(), api=DNS_API).json()["properties"]["aRecords"] == [{"ipv4Address": "10.10.1.10"}]
    refused = admin("DELETE", path, api=DNS_API, headers={"If-Match": body["etag"]})
    assert refused.status_code == 412
    assert admin("DELETE", path, api=DNS_API, headers={"If-Match": updated.json()["etag"]}).status_code == 200
    assert admin("DELETE", path, api=DNS_API).status_code == 204
    missing = admin("GET", path, api=DNS_API)
    assert missing.status_code == 404
    assert missing.json()["code"] == "NotFound"  # the DNS service's own error format, without "error"
    assert admin("PUT", path, record("10.10.1.9"), api=DNS_API, headers={"If-Match": "*"}).status_code == 412
    bad = admin("PUT", path, record("not-an-ip"), api=DNS_API)
    assert (bad.status_code, bad.json()["code"]) == (400, "BadRequest")


def test_dns_lists_and_paging(cloud, admin):
    zone = zone_path("northeurope")
    names = [f"page-{i}.{uuid.uuid4()}" for i in range(3)]
    for i, name in enumerate(names):
        assert admin("PUT", f"{zone}/A/{name}", record(f"10.10.1.{20 + i}"), api=DNS_API).status_code == 201
    try:
        listed = admin("GET", f"{zone}/A", api=DNS_API).json()
        assert {names[0], names[1], names[2]} <= {r["name"] for r in listed["value"]}
        everything = admin("GET", f"{zone}/ALL", api=DNS_API).json()["value"]
        assert everything[0]["type"] == "Microsoft.Network/privateDnsZones/SOA"
        seen, url = [], f"{zone}/A"
        page = admin("GET", url, api=DNS_API, **{"$top": "2"}).json()
        while True:
            assert len(page["value"]) <= 2
            seen += [r["name"] for r in page["value"]]
            if "nextLink" not in page:
                break
            page = admin("GET", page["nextLink"]).json()
        assert seen == [r["name"] for r in listed["value"]]
        zone_body = admin("GET", zone, api=DNS_API).json()
        assert zone_body["properties"]["numberOfRecordSets"] == len(listed["value"]) + 1
        assert zone_body["location"] == "global"
    finally:
        for name in names:
            admin("DELETE", f"{zone}/A/{name}", api=DNS_API)


def test_dns_zone_put(cloud, admin):
    path = zone_path().replace("westeurope.azmk8s.io", f"{uuid.uuid4().hex[:6]}.example")
    assert admin("PUT", path, {"location": "Global"}, api=DNS_API).status_code == 201
    assert admin("PUT", path, {"location": "global", "tags": {"a": "b"}}, api=DNS_API).json()["tags"] == {"a": "b"}
    wrong = admin("PUT", path, {"location": "westeurope"}, api=DNS_API)
    assert (wrong.status_code, error_code(wrong)) == (400, "LocationNotAvailableForResourceType")


# -- RBAC: what the product's identity needs -------------------------------------------------------
def test_product_actions_are_recorded_and_least_privilege(cloud, fast, spoke_admin):
    cluster = make_cluster(spoke_admin, fast)
    hub = Api(cloud, "hublink")
    spoke = Api(cloud, "hublink", tenant=SPOKE_TENANT)
    cloud.arm.clear_log()
    assert spoke("GET", cluster["id"], api=AKS_API).status_code == 200
    endpoint = make_endpoint(hub, fast, cluster["id"])
    nic = hub("GET", endpoint["properties"]["networkInterfaces"][0]["id"])
    assert nic.status_code == 200
    [conn] = connections(spoke, cluster)
    approve = {"properties": {"privateLinkServiceConnectionState": {"status": "Approved"}}}
    assert spoke("PUT", f"{cluster['id']}/privateEndpointConnections/{conn['name']}", approve, api=AKS_API).ok
    record_path = f"{zone_path()}/A/{uuid.uuid4()}"
    assert hub("PUT", record_path, record("10.10.1.77"), api=DNS_API).status_code == 201
    assert hub("DELETE", record_path, api=DNS_API).status_code == 200
    actions = {a for a, _ in cloud.arm.actions["hublink"]}
    assert actions <= set(HUB_ROLE_ACTIONS) | set(SPOKE_ROLE_ACTIONS)
    assert {"Microsoft.Network/privateEndpoints/write", "Microsoft.Network/virtualNetworks/subnets/join/action",
            "Microsoft.Network/networkInterfaces/read", "Microsoft.Network/privateDnsZones/A/write",
            "Microsoft.ContainerService/managedClusters/privateEndpointConnections/write"} <= actions
    scopes = dict(cloud.arm.actions["hublink"])
    assert scopes["Microsoft.Network/virtualNetworks/subnets/join/action"] == cloud.world.subnets[0].id
    denied = spoke("POST", cluster["id"] + "/stop", api=AKS_API)
    assert (denied.status_code, error_code(denied)) == (403, "AuthorizationFailed")
    listing = hub("GET", f"{zone_path()}/ALL", api=DNS_API)
    assert (listing.status_code, error_code(listing)) == (403, "AuthorizationFailed")


# -- what `hublink doctor` reads: the caller's permissions, Event Grid over ARM ----------------------
def test_permissions_are_the_callers_roles_at_the_scope_in_the_documented_shape(cloud):
    from pathlib import Path

    from stack.world import PRODUCT_APP

    recorded = json.loads((Path(__file__).parent / "recordings/authorization_permissions.json").read_text())["body"]
    product = Api(cloud, app=PRODUCT_APP, tenant=SPOKE_TENANT)
    resp = product("GET", f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/providers/Microsoft.Authorization/permissions",
                   api="2022-04-01")
    assert resp.status_code == 200, resp.text
    [entry] = resp.json()["value"]  # one assignment applies: the spoke role at subscription scope
    assert set(recorded["value"][0]) <= set(entry) and entry["actions"] == SPOKE_ROLE_ACTIONS
    hub = Api(cloud, app=PRODUCT_APP)
    group = f"/subscriptions/{cloud.world.hub['subscription_id']}/resourceGroups/{HUB_RG}"
    [hub_entry] = hub("GET", f"{group}/providers/Microsoft.Authorization/permissions", api="2022-04-01").json()["value"]
    assert hub_entry["actions"] == HUB_ROLE_ACTIONS
    above = hub("GET", f"/subscriptions/{cloud.world.hub['subscription_id']}/providers/Microsoft.Authorization/permissions",
                api="2022-04-01")
    assert above.json() == {"value": []}  # assigned on the group: nothing applies at the subscription
    admin = Api(cloud)
    owner = admin("GET", f"{group}/providers/Microsoft.Authorization/permissions", api="2022-04-01").json()["value"]
    assert {"actions": ["*"], "notActions": [], "dataActions": [], "notDataActions": []} in owner


def test_event_grid_system_topics_and_their_subscriptions_over_arm(cloud, sink):
    from stack.world import PRODUCT_APP

    sub = SPOKE_SUBSCRIPTION_B1
    product = Api(cloud, app=PRODUCT_APP, tenant=SPOKE_TENANT)
    topics = f"/subscriptions/{sub}/providers/Microsoft.EventGrid/systemTopics"
    assert product("GET", topics, api="2025-02-15").json() == {"value": []}
    cloud.eventgrid.add_subscription(sub, "hublink-clusters", f"{sink.url}/hook?code=secret",
                                     included_event_types=["Microsoft.Resources.ResourceWriteSuccess"])
    [topic] = product("GET", topics, api="2025-02-15").json()["value"]
    assert topic["name"] == f"hublink-{sub}" and topic["location"] == "global"
    assert topic["properties"]["source"] == f"/subscriptions/{sub}"
    assert topic["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    [es] = product("GET", f"{topic['id']}/eventSubscriptions", api="2025-02-15").json()["value"]
    destination = es["properties"]["destination"]
    assert destination["endpointType"] == "WebHook" and "code=" not in json.dumps(destination)
    assert destination["properties"]["endpointBaseUrl"] == f"{sink.url}/hook"
    assert es["properties"]["filter"]["includedEventTypes"] == ["Microsoft.Resources.ResourceWriteSuccess"]
    cloud.eventgrid.remove_subscription(sub, "hublink-clusters")
    assert product("GET", f"{topic['id']}/eventSubscriptions", api="2025-02-15").json() == {"value": []}  # topic stays
    nobody = Api(cloud, app=PRODUCT_APP)  # the hub tenant's token: the spoke is in another tenant
    assert nobody("GET", topics, api="2025-02-15").status_code == 401
