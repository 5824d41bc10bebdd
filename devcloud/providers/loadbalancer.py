"""Microsoft.Network/loadBalancers: the `kube-apiserver` internal load balancer of VNet-integrated clusters.

A private cluster with API Server VNet Integration (`apiServerAccessProfile.enableVnetIntegration`)
has no private link service: AKS projects its API server into a subnet delegated to
`Microsoft.ContainerService/managedClusters` (at least a /28) behind an internal load balancer
named `kube-apiserver` in the node resource group. Microsoft's documented way to reach it from
another VNet is a Private Link Service on that load balancer's frontend (see privatelinkservice.py).

What devcloud does, as documented:
- BYO VNet: `apiServerAccessProfile.subnetId` must be a world subnet delegated to AKS, /28 or
  larger, and every agent pool's `vnetSubnetID` a subnet of the same VNet (400 otherwise).
  Without `subnetId` AKS makes a managed VNet in the node resource group (not a world subnet).
- When creation succeeds the node resource group exists and holds `kube-apiserver`, with ONE
  frontend IP configuration in the API server subnet. Its name is not documented, so devcloud
  gives it a generated one: a client must look it up.
- `privateFQDN` is `<prefix>-<hash>.<guid>.private.<region>.azmk8s.io`; the cluster lists no
  `privateLinkResources`, and a `management` endpoint to it fails (no private link service).
- Node resource group lockdown (`nodeResourceGroupProfile.restrictionLevel: ReadOnly`) puts a
  deny assignment on the node resource group: reads are fine, writes there are refused with
  403 DenyAssignmentAuthorizationFailed (text as AKS answers it in public write-ups).

Unknown in Azure, hence switches in `world.settings` (set with PUT /_devcloud/settings):
- `apiserver_frontend_moves_on_start` (default False): on start, AKS replaces the frontend IP
  configuration (new name, new IP); a Private Link Service on the old one is left Failed with a
  dangling reference and its connections gone, so endpoints to it read Disconnected.
- `nrg_lockdown_refuses_pls` (default True): whether lockdown also refuses the linked write on
  `kube-apiserver` that creating a Private Link Service on its frontend needs.
"""

from __future__ import annotations

import copy
import ipaddress
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from devcloud.arm import ArmContext, ArmError
from devcloud.httpserver import Response
from devcloud.providers.common import key, new_etag, not_found, value_list
from devcloud.world import AKS_DELEGATION, subnet_hosts

TYPE = "Microsoft.Network/loadBalancers"
FRONTEND_TYPE = f"{TYPE}/frontendIPConfigurations"
LB_NAME = "kube-apiserver"
WRITE = f"{TYPE}/write"
MIN_APISERVER_PREFIX = 28


@dataclass
class Frontend:
    name: str
    subnet_id: str
    ip: str
    etag: str = field(default_factory=new_etag)


@dataclass
class LoadBalancer:
    id: str
    subscription_id: str
    resource_group: str
    location: str
    cluster_id: str
    frontend: Frontend
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    etag: str = field(default_factory=new_etag)

    def frontend_id(self) -> str:
        return f"{self.id}/frontendIPConfigurations/{self.frontend.name}"


def lb_id(subscription_id: str, resource_group: str, name: str = LB_NAME) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/{TYPE}/{name}"


def vnet_of(subnet_id: str) -> str:
    """The VNet id of a subnet id (everything before /subnets/)."""
    return subnet_id[: key(subnet_id).rfind("/subnets/")]


def vnet_integrated(props: dict[str, Any]) -> bool:
    return bool((props.get("apiServerAccessProfile") or {}).get("enableVnetIntegration"))


def _invalid(message: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message)


def locked_down(props: dict[str, Any]) -> bool:
    return str((props.get("nodeResourceGroupProfile") or {}).get("restrictionLevel") or "").lower() == "readonly"


class LoadBalancers:
    def __init__(self, cloud: Any, groups: Any) -> None:
        self.cloud = cloud
        self.groups = groups
        self.balancers: dict[str, LoadBalancer] = {}  # key(lb id) -> load balancer
        self.allocated: dict[str, set[str]] = {}  # key(subnet id) -> frontend IPs in use

    # -- what the cluster provider calls (arm.lock held) ---------------------------------------
    def validate(self, props: dict[str, Any]) -> None:
        """A VNet-integrated cluster's subnets, checked when it is created (400 InvalidParameter)."""
        subnet_id = (props.get("apiServerAccessProfile") or {}).get("subnetId")
        pools = props.get("agentPoolProfiles") or []
        if not subnet_id:
            if any(p.get("vnetSubnetID") for p in pools):
                raise _invalid("apiServerAccessProfile.subnetId is required when agent pools use a custom VNet.")
            return
        subnet = self._world_subnet(subnet_id)
        if subnet is None:
            raise _invalid(f"apiServerAccessProfile.subnetId '{subnet_id}' was not found.")
        if AKS_DELEGATION.lower() not in [d.lower() for d in subnet.delegations]:
            raise _invalid(f"The API server subnet '{subnet_id}' must be delegated to {AKS_DELEGATION}.")
        if ipaddress.ip_network(subnet.prefix).prefixlen > MIN_APISERVER_PREFIX:
            raise _invalid(f"The API server subnet '{subnet_id}' ({subnet.prefix}) is too small: it must be "
                           f"/{MIN_APISERVER_PREFIX} or larger.")
        for pool in pools:
            node = pool.get("vnetSubnetID")
            if not node or self._world_subnet(node) is None or key(vnet_of(node)) != key(vnet_of(subnet_id)):
                raise _invalid(f"Agent pool '{pool.get('name')}' must set vnetSubnetID to a subnet of the API "
                               f"server subnet's VNet '{vnet_of(subnet_id)}'.")

    @staticmethod
    def private_fqdn(prefix: str, location: str) -> str:
        return f"{prefix.lower()}-{secrets.token_hex(4)}.{uuid.uuid4()}.private.{location}.azmk8s.io"

    def ensure(self, cluster: Any) -> LoadBalancer:
        """`kube-apiserver` and its node resource group, once the cluster's creation succeeds."""
        props = cluster.props
        node_rg = props["nodeResourceGroup"]
        self._ensure_group(cluster.subscription_id, node_rg, cluster.location)
        lid = lb_id(cluster.subscription_id, node_rg)
        lb = self.balancers.get(key(lid))
        if lb is None:
            lb = LoadBalancer(lid, cluster.subscription_id, node_rg, cluster.location, cluster.id,
                              self._new_frontend(cluster))
            self.balancers[key(lid)] = lb
        return lb

    def on_start(self, cluster: Any) -> tuple[str, str] | None:
        """With the switch on, replace the frontend; returns (old frontend id, new) when it moved."""
        lb = self.of_cluster(cluster.id)
        if lb is None or not self.cloud.world.settings.get("apiserver_frontend_moves_on_start", False):
            return None
        old_id, old = lb.frontend_id(), lb.frontend
        lb.frontend = self._new_frontend(cluster)  # allocated before the old IP is freed: the IP changes
        self.allocated.get(key(old.subnet_id), set()).discard(old.ip)
        lb.etag = new_etag()
        return old_id, lb.frontend_id()

    def drop(self, cluster: Any) -> str | None:
        """The cluster is gone: so is `kube-apiserver`. Returns the id of its last frontend."""
        lb = self.of_cluster(cluster.id)
        if lb is None:
            return None
        self._release(lb)
        del self.balancers[key(lb.id)]
        return lb.frontend_id()

    def of_cluster(self, cluster_id: str) -> LoadBalancer | None:
        return next((lb for lb in self.balancers.values() if key(lb.cluster_id) == key(cluster_id)), None)

    def frontend(self, frontend_id: str) -> LoadBalancer | None:
        """The load balancer whose (current) frontend has this id."""
        lb = self.balancers.get(key(frontend_id.split("/frontendIPConfigurations/")[0]) if
                                "/frontendipconfigurations/" in key(frontend_id) else "")
        return lb if lb is not None and key(lb.frontend_id()) == key(frontend_id) else None

    def deny(self, ctx: ArmContext, action: str, scope: str) -> None:
        """The node resource group deny assignment of a locked-down cluster (403 on writes there)."""
        clusters = self.cloud.providers["containerservice"].clusters.values()
        for cluster in clusters:
            rg = f"/subscriptions/{cluster.subscription_id}/resourcegroups/{cluster.props['nodeResourceGroup']}"
            if locked_down(cluster.props) and (key(scope) + "/").startswith(key(rg) + "/"):
                raise ArmError(403, "DenyAssignmentAuthorizationFailed", (
                    f"The client '{ctx.principal.object_id}' with object id '{ctx.principal.object_id}' has "
                    f"permission to perform action '{action}' on scope '{scope}'; however, the access is denied "
                    f"because of the deny assignment with name 'kubernetes.azure.com/{cluster.name}: node resource "
                    f"group deny assignment created by Azure Kubernetes Services for nrg-lockdown, see: "
                    f"https://aka.ms/aks/nrg_lockdown' and Id '{uuid.uuid5(uuid.NAMESPACE_URL, rg).hex}' at scope "
                    f"'{rg}'."))

    # -- internals ----------------------------------------------------------------------------
    def _world_subnet(self, subnet_id: str) -> Any:
        return next((s for s in self.cloud.world.subnets if key(s.id) == key(subnet_id)), None)

    def _ensure_group(self, subscription_id: str, name: str, location: str) -> None:
        if self.groups.lookup(subscription_id, name) is None:
            body = self.groups._body(subscription_id, name, location, None)
            body["managedBy"] = "AKS"
            self.groups.groups[key(body["id"])] = body

    def _new_frontend(self, cluster: Any) -> Frontend:
        access = cluster.props.get("apiServerAccessProfile") or {}
        subnet_id = access.get("subnetId")
        if subnet_id:
            subnet = self._world_subnet(subnet_id)
            used = self.allocated.setdefault(key(subnet_id), set())
            ip = next(h for h in subnet_hosts(subnet.prefix) if h not in used)
            used.add(ip)
        else:  # AKS-managed VNet in the node resource group
            subnet_id = (f"/subscriptions/{cluster.subscription_id}/resourceGroups/{cluster.props['nodeResourceGroup']}"
                         f"/providers/Microsoft.Network/virtualNetworks/aks-vnet-{secrets.token_hex(4)}/subnets/"
                         "aks-apiserver-subnet")
            ip = "10.226.0.4"
        return Frontend(secrets.token_hex(16), subnet_id, ip)

    def _release(self, lb: LoadBalancer) -> None:
        self.allocated.get(key(lb.frontend.subnet_id), set()).discard(lb.frontend.ip)

    # -- rendering ----------------------------------------------------------------------------
    def frontend_body(self, lb: LoadBalancer) -> dict[str, Any]:
        fe = lb.frontend
        return {"name": fe.name, "id": lb.frontend_id(), "etag": f'W/"{fe.etag}"', "type": FRONTEND_TYPE,
                "properties": {"provisioningState": "Succeeded", "privateIPAddress": fe.ip,
                               "privateIPAllocationMethod": "Dynamic", "subnet": {"id": fe.subnet_id},
                               "privateIPAddressVersion": "IPv4",
                               "loadBalancingRules": [{"id": f"{lb.id}/loadBalancingRules/kube-apiserver-rule"}]}}

    def body(self, lb: LoadBalancer) -> dict[str, Any]:
        pool = f"{lb.id}/backendAddressPools/kube-apiserver-backendpool"
        probe = f"{lb.id}/probes/kube-apiserver-health-probe"
        return {
            "name": LB_NAME, "id": lb.id, "etag": f'W/"{lb.etag}"', "type": TYPE, "location": lb.location,
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {
                "provisioningState": "Succeeded", "resourceGuid": lb.guid,
                "frontendIPConfigurations": [self.frontend_body(lb)],
                "backendAddressPools": [{"name": "kube-apiserver-backendpool", "id": pool, "etag": f'W/"{lb.etag}"',
                                         "properties": {"provisioningState": "Succeeded"},
                                         "type": f"{TYPE}/backendAddressPools"}],  # as recorded (azure-cli lb show)
                "loadBalancingRules": [{"name": "kube-apiserver-rule", "id": f"{lb.id}/loadBalancingRules/kube-apiserver-rule",
                                        "properties": {"frontendIPConfiguration": {"id": lb.frontend_id()},
                                                       "backendAddressPool": {"id": pool}, "probe": {"id": probe},
                                                       "protocol": "Tcp", "frontendPort": 443, "backendPort": 443}}],
                "probes": [{"name": "kube-apiserver-health-probe", "id": probe,
                            "properties": {"protocol": "Https", "port": 443, "requestPath": "/readyz"}}],
                "inboundNatRules": [], "outboundRules": [], "inboundNatPools": [],
            },
        }

    # -- HTTP ---------------------------------------------------------------------------------
    def _find(self, ctx: ArmContext) -> LoadBalancer:
        rg, name = ctx.params["resourceGroupName"], ctx.params["loadBalancerName"]
        self.groups.require(ctx.subscription_id, rg)
        lb = self.balancers.get(key(lb_id(ctx.subscription_id, rg, name)))
        if lb is None:
            raise not_found(TYPE, name, rg)
        return lb

    def get(self, ctx: ArmContext) -> Response:
        """With the resource's etag also as the ETag header, as Network answers a GET (recorded)."""
        with self.cloud.arm.lock:
            lb = self._find(ctx)
            return Response.json(200, self.body(lb), {"ETag": f'W/"{lb.etag}"'})

    def list_by_group(self, ctx: ArmContext) -> Response:
        rg = ctx.params["resourceGroupName"]
        self.groups.require(ctx.subscription_id, rg)
        prefix = key(f"/subscriptions/{ctx.subscription_id}/resourceGroups/{rg}/")
        with self.cloud.arm.lock:
            return value_list([self.body(lb) for k, lb in self.balancers.items() if k.startswith(prefix)])

    def list_by_subscription(self, ctx: ArmContext) -> Response:
        prefix = key(f"/subscriptions/{ctx.subscription_id}/")
        with self.cloud.arm.lock:
            return value_list([self.body(lb) for k, lb in self.balancers.items() if k.startswith(prefix)])

    def list_frontends(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            return value_list([self.frontend_body(self._find(ctx))])

    def get_frontend(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            lb = self._find(ctx)
            name = ctx.params["frontendIPConfigurationName"]
            if name.lower() != lb.frontend.name.lower():
                raise not_found(FRONTEND_TYPE, name, lb.resource_group)
            return Response.json(200, copy.deepcopy(self.frontend_body(lb)))


def register(cloud: Any, groups: Any) -> LoadBalancers:
    lbs = LoadBalancers(cloud, groups)
    route = cloud.arm.route
    group = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" + TYPE
    one = group + "/{loadBalancerName}"
    read = f"{TYPE}/read"
    route("GET", "/subscriptions/{subscriptionId}/providers/" + TYPE, lbs.list_by_subscription, action=read)
    route("GET", group, lbs.list_by_group, action=read)
    route("GET", one, lbs.get, action=read)
    route("GET", one + "/frontendIPConfigurations", lbs.list_frontends, action=read)
    route("GET", one + "/frontendIPConfigurations/{frontendIPConfigurationName}", lbs.get_frontend, action=read)
    return lbs
