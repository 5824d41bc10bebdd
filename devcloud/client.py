"""Drive devcloud like a user would: Microsoft's SDK clients for ARM, the control API, the app's HTTP API.

Used by the tests, `make demo` and `make bench`. `Operator` is a platform engineer with Owner
rights (devcloud's admin app) who creates clusters and hand-made endpoints; the product under test
acts with its own least-privilege identity, exactly as it would in Azure.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests
from azure.identity import ClientSecretCredential

from devcloud.world import HUB_SUBSCRIPTION, HUB_TENANT, SPOKE_SUBSCRIPTION_B1

ARM_SCOPE = "https://management.azure.com/.default"


class Operator:
    """An Owner in every subscription, using Microsoft's SDK clients against devcloud."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        info = cloud.connection_info()
        self.client_id, self.secret = info["client_id"], info["client_secret"]
        self._creds: dict[str, ClientSecretCredential] = {}

    def credential(self, tenant: str) -> ClientSecretCredential:
        if tenant not in self._creds:
            self._creds[tenant] = ClientSecretCredential(tenant, self.client_id, self.secret, authority=self.cloud.url,
                                                         disable_instance_discovery=True,
                                                         connection_verify=self.cloud.certs.ca_bundle)
        return self._creds[tenant]

    def tenant_of(self, subscription: str) -> str:
        return self.cloud.world.tenant_of(subscription)

    def aks(self, subscription: str):
        from azure.mgmt.containerservice import ContainerServiceClient

        return ContainerServiceClient(self.credential(self.tenant_of(subscription)), subscription,
                                      base_url=self.cloud.url, connection_verify=self.cloud.certs.ca_bundle,
                                      polling_interval=0.05, retry_total=0)

    def network(self, subscription: str = HUB_SUBSCRIPTION):
        from azure.mgmt.network import NetworkManagementClient

        return NetworkManagementClient(self.credential(self.tenant_of(subscription)), subscription,
                                       base_url=self.cloud.url, connection_verify=self.cloud.certs.ca_bundle,
                                       polling_interval=0.05, retry_total=0)

    # -- clusters -------------------------------------------------------------------------------
    def create_cluster(self, name: str | None = None, *, subscription: str = SPOKE_SUBSCRIPTION_B1,
                       resource_group: str = "rg-aks", region: str = "westeurope", private: bool = True,
                       tags: dict[str, str] | None = None, wait: bool = True, private_dns_zone: str | None = None,
                       fqdn_subdomain: str | None = None) -> str:
        """A cluster; `private_dns_zone` is system (default), none or a zone id; `fqdn_subdomain` replaces dnsPrefix."""
        from azure.mgmt.containerservice.models import (
            ManagedCluster,
            ManagedClusterAgentPoolProfile,
            ManagedClusterAPIServerAccessProfile,
        )

        name = name or f"aks-{uuid.uuid4().hex[:8]}"
        body = ManagedCluster(
            location=region, dns_prefix=None if fqdn_subdomain else name, fqdn_subdomain=fqdn_subdomain, tags=tags or {},
            agent_pool_profiles=[ManagedClusterAgentPoolProfile(name="system", count=1, vm_size="Standard_D2s_v5",
                                                                mode="System")],
            api_server_access_profile=ManagedClusterAPIServerAccessProfile(enable_private_cluster=private,
                                                                           private_dns_zone=private_dns_zone),
        )
        poller = self.aks(subscription).managed_clusters.begin_create_or_update(resource_group, name, body)
        cluster = poller.result() if wait else None
        return cluster.id if cluster else (f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
                                           f"/providers/Microsoft.ContainerService/managedClusters/{name}")

    def vnet_integration(self, subscription: str = SPOKE_SUBSCRIPTION_B1) -> dict[str, str]:
        """The spoke VNet for API Server VNet Integration clusters (DEVCLOUD_READY's spokes[].vnet_integration)."""
        spokes = self.cloud.connection_info()["spokes"]
        return next(s["vnet_integration"] for s in spokes
                    if s["subscription_id"].lower() == subscription.lower() and s.get("vnet_integration"))

    def create_vnet_cluster(self, name: str | None = None, *, subscription: str = SPOKE_SUBSCRIPTION_B1,
                            resource_group: str = "rg-aks", region: str = "westeurope",
                            tags: dict[str, str] | None = None, lockdown: bool = False, managed_vnet: bool = False,
                            wait: bool = True) -> str:
        """A private cluster with API Server VNet Integration in the spoke's VNet (or an AKS-managed one)."""
        from azure.mgmt.containerservice import models as m

        name = name or f"aks-vnet-{uuid.uuid4().hex[:8]}"
        ids = {} if managed_vnet else self.vnet_integration(subscription)
        body = m.ManagedCluster(
            location=region, dns_prefix=name, tags=tags or {},
            agent_pool_profiles=[m.ManagedClusterAgentPoolProfile(name="system", count=1, vm_size="Standard_D2s_v5",
                                                                  mode="System", vnet_subnet_id=ids.get("node_subnet_id"))],
            network_profile=m.ContainerServiceNetworkProfile(network_plugin="azure"),
            api_server_access_profile=m.ManagedClusterAPIServerAccessProfile(
                enable_private_cluster=True, enable_vnet_integration=True, subnet_id=ids.get("apiserver_subnet_id")),
            node_resource_group_profile=m.ManagedClusterNodeResourceGroupProfile(restriction_level="ReadOnly")
            if lockdown else None)
        poller = self.aks(subscription).managed_clusters.begin_create_or_update(resource_group, name, body)
        cluster = poller.result() if wait else None
        return cluster.id if cluster else (f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
                                           f"/providers/Microsoft.ContainerService/managedClusters/{name}")

    def link_services(self, subscription: str = SPOKE_SUBSCRIPTION_B1) -> list[Any]:
        return list(self.network(subscription).private_link_services.list_by_subscription())

    def delete_link_service(self, pls_id: str) -> None:
        sub, rg, name = _parts(pls_id)
        self.network(sub).private_link_services.begin_delete(rg, name).result()

    def switches(self, **values: Any) -> dict[str, Any]:
        """Set devcloud's behaviour switches (PUT /_devcloud/settings); None restores a default."""
        resp = requests.put(f"{self.cloud.url}/_devcloud/settings", json=values, verify=self.cloud.certs.ca_bundle,
                            timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def get_cluster(self, cluster_id: str):
        sub, rg, name = _parts(cluster_id)
        return self.aks(sub).managed_clusters.get(rg, name)

    def kubeconfig_server(self, cluster_id: str, server_fqdn: str | None = None) -> str:
        """The server name of the kubeconfig `az aks get-credentials` writes (listClusterUserCredential)."""
        import re

        sub, rg, name = _parts(cluster_id)
        creds = self.aks(sub).managed_clusters.list_cluster_user_credentials(rg, name, server_fqdn=server_fqdn)
        text = bytes(creds.kubeconfigs[0].value).decode()
        return re.search(r"server: https://([^:/\s]+)", text).group(1)

    def update_tags(self, cluster_id: str, tags: dict[str, str]) -> None:
        sub, rg, name = _parts(cluster_id)
        cluster = self.aks(sub).managed_clusters.get(rg, name)
        cluster.tags = tags
        self.aks(sub).managed_clusters.begin_create_or_update(rg, name, cluster).result()

    def delete_cluster(self, cluster_id: str, *, wait: bool = True) -> None:
        sub, rg, name = _parts(cluster_id)
        poller = self.aks(sub).managed_clusters.begin_delete(rg, name)
        if wait:
            poller.result()

    def stop_start(self, cluster_id: str) -> None:
        sub, rg, name = _parts(cluster_id)
        client = self.aks(sub).managed_clusters
        client.begin_stop(rg, name).result()
        client.begin_start(rg, name).result()

    def connections(self, cluster_id: str) -> list[Any]:
        sub, rg, name = _parts(cluster_id)
        return list(self.aks(sub).private_endpoint_connections.list(rg, name).value or [])

    # -- hub side -------------------------------------------------------------------------------
    def hub_endpoints(self) -> list[Any]:
        return list(self.network().private_endpoints.list_by_subscription())

    def create_foreign_endpoint(self, cluster_id: str, name: str | None = None) -> Any:
        """Someone else's manual endpoint to the cluster (a Pending connection the product must not approve)."""
        from azure.mgmt.network.models import PrivateEndpoint, PrivateLinkServiceConnection, Subnet

        name = name or f"pe-foreign-{uuid.uuid4().hex[:6]}"
        hub = self.cloud.world.hub
        body = PrivateEndpoint(location="westeurope", subnet=Subnet(id=hub["subnet_id"]),
                               manual_private_link_service_connections=[PrivateLinkServiceConnection(
                                   name=name, private_link_service_id=cluster_id, group_ids=["management"],
                                   request_message="someone else's endpoint")])
        return self.network().private_endpoints.begin_create_or_update(hub["resource_group"], name, body).result()

    def delete_endpoint(self, name: str) -> None:
        hub = self.cloud.world.hub
        self.network().private_endpoints.begin_delete(hub["resource_group"], name).result()

    def endpoint_ip(self, name: str) -> str | None:
        """The private IP of a hub endpoint (from its NIC), or None when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        hub = self.cloud.world.hub
        try:
            pe = self.network().private_endpoints.get(hub["resource_group"], name)
        except ResourceNotFoundError:
            return None
        nic = self.network().network_interfaces.get(hub["resource_group"], pe.network_interfaces[0].id.rsplit("/", 1)[-1])
        return nic.ip_configurations[0].private_ip_address

    def take_address(self, cluster_id: str, ip: str, name: str | None = None) -> Any:
        """Someone else's endpoint holding `ip` in the hub subnet (a static ipConfiguration)."""
        from azure.mgmt.network.models import (
            PrivateEndpoint,
            PrivateEndpointIPConfiguration,
            PrivateLinkServiceConnection,
            Subnet,
        )

        name = name or f"pe-squatter-{uuid.uuid4().hex[:6]}"
        hub = self.cloud.world.hub
        body = PrivateEndpoint(location="westeurope", subnet=Subnet(id=hub["subnet_id"]),
                               manual_private_link_service_connections=[PrivateLinkServiceConnection(
                                   name=name, private_link_service_id=cluster_id, group_ids=["management"])],
                               ip_configurations=[PrivateEndpointIPConfiguration(
                                   name="static", group_id="management", member_name="management",
                                   private_ip_address=ip)])
        return self.network().private_endpoints.begin_create_or_update(hub["resource_group"], name, body).result()

    def zone(self, zone_id: str) -> dict[str, Any] | None:
        resp = self._dns("GET", zone_id)
        return resp.json() if resp.status_code == 200 else None

    def record_in(self, zone_id: str, name: str) -> dict[str, Any] | None:
        resp = self._dns("GET", f"{zone_id}/A/{name}")
        return resp.json() if resp.status_code == 200 else None

    # -- DNS (no SDK in requirements: direct REST, as the product does) -------------------------
    def _dns(self, method: str, path: str, body: Any = None) -> requests.Response:
        token = self.credential(HUB_TENANT).get_token(ARM_SCOPE).token
        return requests.request(method, f"{self.cloud.url}{path}", params={"api-version": "2024-06-01"}, json=body,
                                headers={"Authorization": f"Bearer {token}"}, verify=self.cloud.certs.ca_bundle,
                                timeout=10)

    def zone_id(self, region: str = "westeurope", *, vnet_integration: bool = False) -> str:
        """The hub's privatelink.<region>.azmk8s.io zone, or (vnet_integration) its private.<region>.azmk8s.io."""
        return self.cloud.world.hub["vnet_integration_dns_zones" if vnet_integration else "dns_zones"][region]

    def record(self, name: str, region: str = "westeurope", *, vnet_integration: bool = False) -> dict[str, Any] | None:
        resp = self._dns("GET", f"{self.zone_id(region, vnet_integration=vnet_integration)}/A/{name}")
        return resp.json() if resp.status_code == 200 else None

    def records(self, region: str = "westeurope", *, vnet_integration: bool = False) -> list[dict[str, Any]]:
        return self._dns("GET", f"{self.zone_id(region, vnet_integration=vnet_integration)}/A").json().get("value", [])

    def create_pls_endpoint(self, pls_id: str, *, subnet_id: str, subscription: str, name: str | None = None) -> Any:
        """Someone's manual endpoint to a Private Link Service, from `subnet_id` in `subscription`."""
        from azure.mgmt.network.models import PrivateEndpoint, PrivateLinkServiceConnection, Subnet

        name = name or f"pe-foreign-{uuid.uuid4().hex[:6]}"
        body = PrivateEndpoint(location="westeurope", subnet=Subnet(id=subnet_id),
                               manual_private_link_service_connections=[PrivateLinkServiceConnection(
                                   name=name, private_link_service_id=pls_id, request_message="someone else's endpoint")])
        return self.network(subscription).private_endpoints.begin_create_or_update(
            subnet_id.split("/")[4], name, body).result()

    def put_record(self, name: str, ip: str, region: str = "westeurope", metadata: dict[str, str] | None = None) -> None:
        resp = self._dns("PUT", f"{self.zone_id(region)}/A/{name}",
                         {"properties": {"ttl": 300, "metadata": metadata or {}, "aRecords": [{"ipv4Address": ip}]}})
        assert resp.status_code in (200, 201), resp.text

    def delete_record(self, name: str, region: str = "westeurope") -> None:
        self._dns("DELETE", f"{self.zone_id(region)}/A/{name}")


def _parts(cluster_id: str) -> tuple[str, str, str]:
    p = cluster_id.strip("/").split("/")
    return p[1], p[3], p[-1]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- the whole stack in its own processes (`python -m devcloud up`), as the demo and a user run it --
class _Certs:
    def __init__(self, ca_bundle: str) -> None:
        self.ca_bundle = ca_bundle


class _World:
    def __init__(self, info: dict[str, Any]) -> None:
        self.hub = info["hub"]
        self._tenants = {s["subscription_id"].lower(): s["tenant_id"] for s in info["spokes"]}
        self._tenants[info["hub"]["subscription_id"].lower()] = info["hub"]["tenant_id"]

    def tenant_of(self, subscription: str) -> str:
        return self._tenants[subscription.lower()]


class RemoteCloud:
    """What `Operator` needs, from a DEVCLOUD_READY line instead of an in-process DevCloud."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.url = info["arm"]
        self.certs = _Certs(info["ca_bundle"])
        self.world = _World(info)
        self._api_creds: dict[str, ClientSecretCredential] = {}

    def connection_info(self) -> dict[str, Any]:
        return self.info

    # -- control API and the function app's HTTP API ------------------------------------------
    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(method, f"{self.info['control']}{path}", json=body, verify=self.certs.ca_bundle,
                                timeout=10)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def api_token(self, caller: str) -> str:
        """A bearer token for the app's API (the READY line's `api`) as one of its service principals,
        e.g. "approver": what `az account get-access-token --resource <audience>` gives a person."""
        api = self.info["api"]
        cred = self._api_creds.get(caller)
        if cred is None:
            p = api["principals"][caller]
            cred = self._api_creds[caller] = ClientSecretCredential(
                api["tenant_id"], p["client_id"], p["client_secret"], authority=self.info["authority"],
                disable_instance_discovery=True, connection_verify=self.certs.ca_bundle)
        return cred.get_token(api["audience"] + "/.default").token

    def api(self, method: str, path: str, *, caller: str | None = "approver", token: str | None = None,
            key: str | None = None, **kwargs: Any) -> requests.Response:
        """Call the app's HTTP API with a token of `caller` (or `token` as given; caller=None: no token).
        `key`: also send a function key ("function": the app's own), which by itself opens nothing."""
        headers = dict(kwargs.pop("headers", {}) or {})
        token = token or (self.api_token(caller) if caller else None)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["x-functions-key"] = self.info["function_key"] if key == "function" else key
        return requests.request(method, f"{self.info['functions']}/api/{path.lstrip('/')}", headers=headers,
                                verify=self.certs.ca_bundle, timeout=60, **kwargs)

    def link(self, cluster_id: str) -> dict[str, Any] | None:
        sub, rg, name = _parts(cluster_id)
        resp = self.api("GET", f"links/{sub}/{rg}/{name}", caller="reader")
        return resp.json() if resp.status_code == 200 else None
