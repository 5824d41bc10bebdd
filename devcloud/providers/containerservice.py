"""Microsoft.ContainerService/managedClusters: the spoke clusters the product links to the hub.

What matters to the product, as AKS does it:
- PUT, DELETE, stop and start are long-running; the cluster changes when the operation ends,
  whether or not anyone polls. Another write while one runs is refused (409 OperationNotAllowed),
  except DELETE, which cancels it.
- A private cluster gets a private link service (PLS) when creation or start SUCCEEDS. Stop and
  delete remove it with all its private endpoint connections; start makes a NEW one, so endpoints
  made before a stop stay Disconnected and must be recreated.
- Connection approval is a synchronous PUT; a Rejected connection cannot be approved again.
- API Server VNet Integration clusters (`enableVnetIntegration`) get NO private link service: their
  `kube-apiserver` internal load balancer lives in the node resource group (loadbalancer.py).
- Connection ids are shaped like Microsoft's examples (`resourcegroups`, singular `managedCluster`),
  so the product must build URLs from the cluster id and the connection name, not from that id.

DNS modes, FQDNs, the cluster-side endpoint's IP and listClusterUserCredential: see
devcloud.providers.aksdns.

Events (ResourceWrite/Delete/ActionSuccess) are emitted when operations succeed, and a write event
also when a PUT is accepted unless `world.settings["emit_on_accept"]` is False.
"""

from __future__ import annotations

import copy
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from devcloud.arm import ArmContext, ArmError, Operation
from devcloud.httpserver import Response
from devcloud.providers import aksdns
from devcloud.providers.common import (
    ACTION_SUCCESS,
    DELETE_SUCCESS,
    WRITE_SUCCESS,
    emit_accepted,
    emit_later,
    key,
    new_etag,
    not_found,
    precondition_failure,
    require_location,
    start_lro,
    value_list,
)
from devcloud.providers.loadbalancer import vnet_integrated

NAMESPACE = "Microsoft.ContainerService"
TYPE = "Microsoft.ContainerService/managedClusters"
GROUP_ID = "management"
DEFAULT_VERSION = "1.32.6"
BUSY = {"Creating", "Updating", "Deleting", "Stopping", "Starting"}
SECRETS = (("servicePrincipalProfile", "secret"), ("windowsProfile", "adminPassword"))
COMPUTED = ("provisioningState", "powerState", "currentKubernetesVersion", "maxAgentPools", "fqdn", "azurePortalFQDN",
            "privateFQDN")
IMMUTABLE = ("dnsPrefix", "fqdnSubdomain", "nodeResourceGroup")
DNS_PREFIX = re.compile(r"^[a-zA-Z0-9]$|^[a-zA-Z0-9][-a-zA-Z0-9]{0,52}[a-zA-Z0-9]$")
ACTIONS = {m: f"{TYPE}/{m}" for m in ("read", "write", "delete")}
CONNECTIONS = f"{TYPE}/privateEndpointConnections"
APPROVAL_ACTION = f"{TYPE}/privateEndpointConnectionsApproval/action"


@dataclass
class Connection:
    name: str
    endpoint_id: str
    status: str  # Pending | Approved | Rejected
    description: str


@dataclass
class Cluster:
    id: str
    subscription_id: str
    resource_group: str
    name: str
    location: str
    body: dict[str, Any]
    pls_id: str | None = None  # the private link service in front of the API server, while there is one
    connections: dict[str, Connection] = field(default_factory=dict)  # lower-cased name -> connection
    op: Operation | None = None
    api_ip: str | None = None  # AKS's own (cluster-side) endpoint's address, while the cluster has one
    vnet_id: str | None = None  # the cluster's VNet (its system zone is linked to it)

    @property
    def props(self) -> dict[str, Any]:
        return self.body["properties"]

    @property
    def vnet_integrated(self) -> bool:
        return vnet_integrated(self.props)

    @property
    def state(self) -> str:
        return self.props["provisioningState"]

    @property
    def private(self) -> bool:
        return bool((self.props.get("apiServerAccessProfile") or {}).get("enablePrivateCluster"))

    def set_state(self, state: str) -> None:
        self.props["provisioningState"] = state
        for pool in self.props["agentPoolProfiles"]:
            pool["provisioningState"] = state
            if state == "Succeeded":
                pool["nodeImageVersion"] = "AKSUbuntu-2204gen2containerd-202507.21.0"
        self.body["eTag"] = new_etag()


def cluster_id(subscription_id: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourcegroups/{resource_group}/providers/{TYPE}/{name}"


def _invalid(message: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message)


def _request_properties(request: dict[str, Any]) -> dict[str, Any]:
    """The caller's properties without secrets, read-only values, or an empty addonProfiles (not echoed)."""
    props = copy.deepcopy(request.get("properties") or {})
    if not isinstance(props, dict):
        raise _invalid("properties must be an object.")
    for section, secret in SECRETS:
        if isinstance(props.get(section), dict):
            props[section].pop(secret, None)
    for name in COMPUTED:
        props.pop(name, None)
    if not props.get("addonProfiles"):
        props.pop("addonProfiles", None)
    return props


def _validate(props: dict[str, Any], location: str) -> None:
    access = props.get("apiServerAccessProfile") or {}
    private = bool(access.get("enablePrivateCluster"))
    prefix, subdomain = props.get("dnsPrefix"), props.get("fqdnSubdomain")
    if bool(prefix) == bool(subdomain):
        raise _invalid("Exactly one of dnsPrefix and fqdnSubdomain must be specified.")
    if prefix and not DNS_PREFIX.match(prefix):
        raise _invalid(f"dnsPrefix '{prefix}' is invalid: 1-54 letters, digits and hyphens, starting and ending "
                       "with a letter or digit.")
    zone = access.get("privateDNSZone") or "system"
    aksdns.validate(props, location)
    if subdomain and (not private or zone.lower() in ("system", "none")):
        raise _invalid("fqdnSubdomain can only be used with a private cluster and a custom privateDNSZone.")
    pools = props.get("agentPoolProfiles")
    if not isinstance(pools, list) or not pools:
        raise _invalid("agentPoolProfiles must contain at least one agent pool.")
    if any(not isinstance(p, dict) or not p.get("name") for p in pools):
        raise _invalid("Every agent pool needs a name.")


def _pools(pools: list[dict[str, Any]], version: str, old: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The caller's pools with AKS's defaults; a pool that already exists keeps its node image."""
    images = {p["name"].lower(): p["nodeImageVersion"] for p in old or [] if "nodeImageVersion" in p}
    out = []
    for given in pools:
        pool = copy.deepcopy(given)
        pool.pop("nodeImageVersion", None)
        if pool["name"].lower() in images:
            pool["nodeImageVersion"] = images[pool["name"].lower()]
        pool.setdefault("count", 1)
        pool.setdefault("vmSize", "Standard_DS2_v2")
        pool.setdefault("maxPods", 110)
        pool.setdefault("osType", "Linux")
        pool.setdefault("type", "VirtualMachineScaleSets")  # recorded (aks list, azure-cli 2.35) when none is given
        pool.setdefault("powerState", {"code": "Running"})
        pool["orchestratorVersion"] = pool.get("orchestratorVersion") or version
        pool["currentOrchestratorVersion"] = pool["orchestratorVersion"]
        pool["eTag"] = new_etag()
        out.append(pool)
    return out


def _network_profile(given: dict[str, Any], subscription_id: str, node_rg: str) -> dict[str, Any]:
    """AKS's defaults for what the caller left out (kubenet, standard load balancer, managed outbound IPs)."""
    net = copy.deepcopy(given)
    net.setdefault("networkPlugin", "kubenet")
    net.setdefault("loadBalancerSku", "standard")
    net.setdefault("outboundType", "loadBalancer")
    net.setdefault("serviceCidr", "10.0.0.0/16")
    net.setdefault("dnsServiceIP", "10.0.0.10")
    net.setdefault("serviceCidrs", [net["serviceCidr"]])
    net.setdefault("ipFamilies", ["IPv4"])
    if net["networkPlugin"] == "kubenet":
        net.setdefault("podCidr", "10.244.0.0/16")
        net.setdefault("podCidrs", [net["podCidr"]])
    if net["outboundType"] == "loadBalancer":
        lb = net.setdefault("loadBalancerProfile", {})
        custom = (lb.get("outboundIPs") or {}).get("publicIPs")
        if custom:
            lb["effectiveOutboundIPs"] = [{"id": ip["id"]} for ip in custom]
        else:
            count = lb.setdefault("managedOutboundIPs", {"count": 1}).get("count", 1)
            lb["effectiveOutboundIPs"] = [
                {"id": f"/subscriptions/{subscription_id}/resourceGroups/{node_rg}/providers/Microsoft.Network/"
                       f"publicIPAddresses/{uuid.uuid4()}"} for _ in range(count)]
        lb.setdefault("allocatedOutboundPorts", 0)
        lb.setdefault("idleTimeoutInMinutes", 30)
    return net


class ManagedClusters:
    def __init__(self, cloud: Any, groups: Any) -> None:
        self.cloud = cloud
        self.groups = groups
        self.clusters: dict[str, Cluster] = {}  # key(cluster id) -> cluster

    # -- lookups -------------------------------------------------------------------------------
    def _find(self, ctx: ArmContext) -> Cluster:
        rg, name = ctx.params["resourceGroupName"], ctx.params["resourceName"]
        self.groups.require(ctx.subscription_id, rg)
        cluster = self.clusters.get(key(cluster_id(ctx.subscription_id, rg, name)))
        if cluster is None:
            raise not_found(TYPE, name, rg)
        return cluster

    @staticmethod
    def _refuse_if_busy(cluster: Cluster, operation: str) -> None:
        if cluster.state in BUSY:
            raise ArmError(409, "OperationNotAllowed", f"Operation '{operation}' is not allowed: another operation "
                                                       f"({cluster.state}) is in progress on managed cluster "
                                                       f"'{cluster.name}'. Please wait for it to finish.")

    # -- managed clusters ----------------------------------------------------------------------
    def put(self, ctx: ArmContext) -> Response:
        rg, name = ctx.params["resourceGroupName"], ctx.params["resourceName"]
        self.groups.require(ctx.subscription_id, rg)
        request = ctx.body()
        location = require_location(request)
        props = _request_properties(request)
        with self.cloud.arm.lock:
            cluster = self.clusters.get(key(cluster_id(ctx.subscription_id, rg, name)))
            failure = precondition_failure(ctx, cluster.body["eTag"] if cluster else None)
            if failure:
                raise ArmError(412, "PreconditionFailed", failure)
            if cluster is None:
                cluster, status = self._create(ctx, rg, name, location, request, props), 201
            else:
                self._update(ctx, cluster, location, request, props)
                status = 200
            op = cluster.op
            response = Response.json(status, copy.deepcopy(cluster.body),
                                     self.cloud.arm.operations.headers(ctx, op))
        emit_accepted(self.cloud, ctx, cluster.id, f"{TYPE}/write")
        return response

    def _create(self, ctx: ArmContext, rg: str, name: str, location: str, request: dict[str, Any],
                props: dict[str, Any]) -> Cluster:
        _validate(props, location)
        if vnet_integrated(props):
            self.cloud.providers["loadbalancers"].validate(props)
        cid = cluster_id(ctx.subscription_id, rg, name)
        version = props.get("kubernetesVersion") or DEFAULT_VERSION
        node_rg = props.get("nodeResourceGroup") or f"MC_{rg}_{name}_{location}"
        aksdns.apply_defaults(props)
        props.update(kubernetesVersion=version, currentKubernetesVersion=version, maxAgentPools=100,
                     nodeResourceGroup=node_rg, enableRBAC=props.get("enableRBAC", True),
                     powerState={"code": "Running"}, provisioningState="Creating",
                     agentPoolProfiles=_pools(props["agentPoolProfiles"], version),
                     networkProfile=_network_profile(props.get("networkProfile") or {}, ctx.subscription_id, node_rg),
                     **aksdns.fqdns(props, location))
        if vnet_integrated(props) and "privateFQDN" in props and "fqdnSubdomain" not in props:
            props["privateFQDN"] = self.cloud.providers["loadbalancers"].private_fqdn(props["dnsPrefix"], location)
        body: dict[str, Any] = {"id": cid, "name": name, "type": "Microsoft.ContainerService/ManagedClusters",
                                "location": location, "eTag": "", "sku": request.get("sku") or {"name": "Base", "tier": "Free"},
                                "properties": props}
        for optional in ("tags", "identity"):
            if request.get(optional) is not None:
                body[optional] = copy.deepcopy(request[optional])
        cluster = Cluster(cid, ctx.subscription_id, rg, name, location, body)
        cluster.set_state("Creating")
        self.clusters[key(cid)] = cluster

        def complete() -> None:
            cluster.set_state("Succeeded")
            if cluster.private:
                self._new_link_service(cluster)
            self._apiserver_event(cluster, "created")
            emit_later(self.cloud, ctx, WRITE_SUCCESS, cid, f"{TYPE}/write")

        start_lro(self.cloud, ctx, cluster, NAMESPACE, "managedClusters/create", 2.0, complete,
                  lambda error: cluster.set_state("Failed"))
        return cluster

    def _update(self, ctx: ArmContext, cluster: Cluster, location: str, request: dict[str, Any],
                props: dict[str, Any]) -> None:
        self._refuse_if_busy(cluster, "update")
        if cluster.props["powerState"]["code"] == "Stopped":
            raise ArmError(409, "OperationNotAllowed", f"Managed cluster '{cluster.name}' is stopped: start it "
                                                       "before updating it.")
        if location != cluster.location:
            raise ArmError(400, "PropertyChangeNotAllowed", f"Changing property 'location' is not allowed "
                                                            f"(it is '{cluster.location}').")
        old = cluster.props
        old_access = old.get("apiServerAccessProfile") or {}
        access = props.setdefault("apiServerAccessProfile", {})
        for name in ("enablePrivateCluster", "privateDNSZone", "enablePrivateClusterPublicFQDN"):
            if access.get(name) is None and old_access.get(name) is not None:
                access[name] = old_access[name]
            if str(access.get(name) or "").lower() != str(old_access.get(name) or "").lower():
                raise ArmError(400, "PropertyChangeNotAllowed", f"Changing property 'apiServerAccessProfile.{name}' "
                                                                "is not allowed.")
        if not access:
            props.pop("apiServerAccessProfile")
        for name in IMMUTABLE:
            if props.get(name) and str(props[name]).lower() != str(old.get(name) or "").lower():
                raise ArmError(400, "PropertyChangeNotAllowed", f"Changing property '{name}' is not allowed.")
            if old.get(name):
                props[name] = old[name]
        _validate(props, location)
        version = props.get("kubernetesVersion") or old["kubernetesVersion"]
        props.update({k: old[k] for k in COMPUTED if k in old})
        props.update(kubernetesVersion=version, currentKubernetesVersion=version,
                     agentPoolProfiles=_pools(props["agentPoolProfiles"], version, old["agentPoolProfiles"]),
                     networkProfile=_network_profile(props.get("networkProfile") or {}, cluster.subscription_id,
                                                     old["nodeResourceGroup"]))
        cluster.body["properties"] = props
        for optional in ("tags", "sku", "identity"):
            if request.get(optional) is not None:
                cluster.body[optional] = copy.deepcopy(request[optional])
        cluster.set_state("Updating")

        def complete() -> None:
            cluster.set_state("Succeeded")
            if cluster.private and cluster.pls_id is None:  # an update reconciles a cluster whose creation failed
                self._new_link_service(cluster)
            self._apiserver_event(cluster, "created")
            emit_later(self.cloud, ctx, WRITE_SUCCESS, cluster.id, f"{TYPE}/write")

        start_lro(self.cloud, ctx, cluster, NAMESPACE, "managedClusters/update", 2.0, complete,
                  lambda error: cluster.set_state("Failed"))

    def get(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            return Response.json(200, copy.deepcopy(self._find(ctx).body))

    def list_by_group(self, ctx: ArmContext) -> Response:
        rg = ctx.params["resourceGroupName"]
        self.groups.require(ctx.subscription_id, rg)
        with self.cloud.arm.lock:
            return value_list([c.body for c in self.clusters.values()
                               if (c.subscription_id.lower(), c.resource_group.lower()) == (ctx.subscription_id.lower(),
                                                                                            rg.lower())])

    def list_by_subscription(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            return value_list([c.body for c in self.clusters.values()
                               if c.subscription_id.lower() == ctx.subscription_id.lower()])

    def delete(self, ctx: ArmContext) -> Response:
        rg, name = ctx.params["resourceGroupName"], ctx.params["resourceName"]
        self.groups.require(ctx.subscription_id, rg)
        with self.cloud.arm.lock:
            cluster = self.clusters.get(key(cluster_id(ctx.subscription_id, rg, name)))
            failure = precondition_failure(ctx, cluster.body["eTag"] if cluster else None)
            if failure and ctx.request.header("if-match"):
                raise ArmError(412, "PreconditionFailed", failure)
            if cluster is None:
                return Response.empty(204)
            if cluster.state != "Deleting":
                cluster.set_state("Deleting")

                def complete() -> None:
                    self._drop_link_service(cluster)
                    self._apiserver_event(cluster, "deleted")
                    aksdns.unpublish(self.cloud, cluster)
                    del self.clusters[key(cluster.id)]
                    emit_later(self.cloud, ctx, DELETE_SUCCESS, cluster.id, f"{TYPE}/delete")

                start_lro(self.cloud, ctx, cluster, NAMESPACE, "managedClusters/delete", 2.0, complete,
                          lambda error: cluster.set_state("Failed"))
            assert cluster.op is not None
            return Response.empty(202, self.cloud.arm.operations.headers(ctx, cluster.op, location=True))

    def _power(self, ctx: ArmContext, verb: str) -> Response:
        """POST stop / start: 202 + Location; the PLS goes away on stop and a new one comes on start."""
        target = "Stopped" if verb == "stop" else "Running"
        with self.cloud.arm.lock:
            cluster = self._find(ctx)
            self._refuse_if_busy(cluster, verb)
            if cluster.props["powerState"]["code"] == target:
                raise ArmError(409, "OperationNotAllowed", f"Managed cluster '{cluster.name}' is already {target}.")
            cluster.set_state("Stopping" if verb == "stop" else "Starting")

            def complete() -> None:
                cluster.props["powerState"] = {"code": target}
                for pool in cluster.props["agentPoolProfiles"]:
                    pool["powerState"] = {"code": target}
                cluster.set_state("Succeeded")
                self._drop_link_service(cluster)
                if verb == "start" and cluster.private:
                    self._new_link_service(cluster)
                if verb == "start":
                    self._apiserver_event(cluster, "started")
                emit_later(self.cloud, ctx, ACTION_SUCCESS, cluster.id, f"{TYPE}/{verb}/action")

            op = start_lro(self.cloud, ctx, cluster, NAMESPACE, f"managedClusters/{verb}", 2.0, complete,
                           lambda error: cluster.set_state("Failed"))
            return Response.empty(202, self.cloud.arm.operations.headers(ctx, op, location=True))

    def stop(self, ctx: ArmContext) -> Response:
        return self._power(ctx, "stop")

    def start(self, ctx: ArmContext) -> Response:
        return self._power(ctx, "start")

    def list_user_credentials(self, ctx: ArmContext) -> Response:
        """POST listClusterUserCredential (`?server-fqdn=public|private`): a kubeconfig for kubectl."""
        with self.cloud.arm.lock:
            cluster = self._find(ctx)
            return Response.json(200, aksdns.user_credentials(cluster, ctx.request.query.get("server-fqdn")))

    # -- private link service and its connections ----------------------------------------------
    def _apiserver_event(self, cluster: Cluster, event: str) -> None:
        """VNet-integrated clusters: `kube-apiserver` and the Private Link Services on it follow the cluster."""
        if cluster.vnet_integrated:
            self.cloud.providers["privatelinkservices"].cluster_event(cluster, event)

    def _new_link_service(self, cluster: Cluster) -> None:
        if cluster.vnet_integrated:
            return  # the API server sits behind an internal load balancer in the cluster's VNet instead
        aksdns.publish(self.cloud, cluster)
        node_rg = cluster.props["nodeResourceGroup"]
        cluster.pls_id = (f"/subscriptions/{cluster.subscription_id}/resourceGroups/{node_rg}/providers/"
                          f"Microsoft.Network/privateLinkServices/kube-apiserver-{secrets.token_hex(4)}")

    @staticmethod
    def _drop_link_service(cluster: Cluster) -> None:
        cluster.pls_id = None
        cluster.connections.clear()

    @staticmethod
    def _connection_body(cluster: Cluster, conn: Connection) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{cluster.subscription_id}/resourcegroups/{cluster.resource_group}/providers/"
                  f"{NAMESPACE}/managedCluster/{cluster.name}/privateEndpointConnections/{conn.name}",
            "name": conn.name,
            "type": "Microsoft.Network/privateLinkServices/privateEndpointConnections",
            "properties": {
                "privateEndpoint": {"id": conn.endpoint_id},
                "privateLinkServiceConnectionState": {"status": conn.status, "description": conn.description},
                "provisioningState": "Succeeded",
            },
        }

    def _find_connection(self, ctx: ArmContext) -> tuple[Cluster, Connection]:
        cluster = self._find(ctx)
        name = ctx.params["privateEndpointConnectionName"]
        conn = cluster.connections.get(name.lower())
        if conn is None:
            raise ArmError(404, "ResourceNotFound", f"Private endpoint connection '{name}' of managed cluster "
                                                    f"'{cluster.name}' was not found.")
        return cluster, conn

    def list_connections(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            cluster = self._find(ctx)
            return value_list([self._connection_body(cluster, c) for c in cluster.connections.values()])

    def get_connection(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            return Response.json(200, self._connection_body(*self._find_connection(ctx)))

    def put_connection(self, ctx: ArmContext) -> Response:
        """Synchronous, as AKS: only the connection state's status and description can change."""
        request = ctx.body()
        state = (request.get("properties") or {}).get("privateLinkServiceConnectionState")
        if not isinstance(state, dict) or not isinstance(state.get("status"), str):
            raise _invalid("properties.privateLinkServiceConnectionState.status is required.")
        with self.cloud.arm.lock:
            cluster, conn = self._find_connection(ctx)
            status = next((s for s in ("Approved", "Rejected", "Pending") if s.lower() == state["status"].lower()), None)
            if status is None or (status == "Pending" and conn.status != "Pending"):
                raise _invalid(f"Status '{state['status']}' is not valid here: use Approved or Rejected.")
            if conn.status == "Rejected" and status != "Rejected":
                raise ArmError(400, "BadRequest", "Approving rejected private endpoint connections is not supported.")
            conn.status = status
            if isinstance(state.get("description"), str):
                conn.description = state["description"]
            return Response.json(200, self._connection_body(cluster, conn))

    def delete_connection(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            cluster = self._find(ctx)
            if cluster.connections.pop(ctx.params["privateEndpointConnectionName"].lower(), None) is None:
                return Response.empty(204)
            return Response.empty(200)

    def list_link_resources(self, ctx: ArmContext) -> Response:
        """The `management` group while the cluster has a private link service; nothing otherwise."""
        with self.cloud.arm.lock:
            cluster = self._find(ctx)
            if cluster.pls_id is None:
                return value_list([])
            return value_list([{"name": GROUP_ID, "type": f"{TYPE}/privateLinkResources", "groupId": GROUP_ID,
                                "requiredMembers": [GROUP_ID], "privateLinkServiceID": cluster.pls_id}])

    # -- what Microsoft.Network asks when an endpoint targets a cluster (arm.lock held) --------
    def link_target(self, target_id: str, group_ids: list[str]) -> Cluster:
        """The cluster an endpoint may connect to now, or 400 PrivateLinkServiceNotFound / InvalidGroupIds."""
        cluster = self.clusters.get(key(target_id or ""))
        if cluster is None:
            raise ArmError(400, "PrivateLinkServiceNotFound", f"The private link resource '{target_id}' does not exist "
                                                              "or is not a managed cluster.")
        if cluster.pls_id is None and cluster.vnet_integrated:
            raise ArmError(400, "PrivateLinkServiceNotFound", f"Managed cluster '{target_id}' uses API Server VNet "
                                                              "Integration: it has no private link service. Create a "
                                                              "Private Link Service on its kube-apiserver load balancer.")
        if cluster.pls_id is None:
            raise ArmError(400, "PrivateLinkServiceNotFound", f"Managed cluster '{target_id}' has no private link "
                                                              "service: it is public, stopped, or still being created.")
        if [g.lower() for g in group_ids] != [GROUP_ID]:
            raise ArmError(400, "InvalidGroupIds", f"groupIds {group_ids} are not valid for a managed cluster: "
                                                   f"use ['{GROUP_ID}'].")
        return cluster

    @staticmethod
    def connect(cluster: Cluster, endpoint_id: str, endpoint_name: str, status: str, description: str,
                resource_guid: str | None = None) -> Connection:
        """The connection is named `<endpoint name>.<endpoint resourceGuid>`, as Azure names it."""
        conn = Connection(f"{endpoint_name}.{resource_guid or uuid.uuid4()}", endpoint_id, status, description)
        cluster.connections[conn.name.lower()] = conn
        return conn

    def connection(self, target_id: str, pls_id: str, name: str) -> Connection | None:
        """The cluster-side connection an endpoint made, or None once it (or its PLS) is gone."""
        cluster = self.clusters.get(key(target_id))
        if cluster is None or cluster.pls_id != pls_id:
            return None
        return cluster.connections.get(name.lower())

    def disconnect(self, target_id: str, pls_id: str, name: str) -> None:
        if self.connection(target_id, pls_id, name) is not None:
            del self.clusters[key(target_id)].connections[name.lower()]


def register(cloud: Any, groups: Any) -> ManagedClusters:
    mc = ManagedClusters(cloud, groups)
    route = cloud.arm.route
    base = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" + TYPE
    one = base + "/{resourceName}"
    conns = one + "/privateEndpointConnections"
    route("GET", "/subscriptions/{subscriptionId}/providers/" + TYPE, mc.list_by_subscription, action=ACTIONS["read"])
    route("GET", base, mc.list_by_group, action=ACTIONS["read"])
    route("PUT", one, mc.put, action=ACTIONS["write"])
    route("GET", one, mc.get, action=ACTIONS["read"])
    route("DELETE", one, mc.delete, action=ACTIONS["delete"])
    route("POST", one + "/stop", mc.stop, action=f"{TYPE}/stop/action", kind="action")
    route("POST", one + "/start", mc.start, action=f"{TYPE}/start/action", kind="action")
    route("GET", conns, mc.list_connections, action=f"{CONNECTIONS}/read")
    route("GET", conns + "/{privateEndpointConnectionName}", mc.get_connection, action=f"{CONNECTIONS}/read")
    route("PUT", conns + "/{privateEndpointConnectionName}", mc.put_connection, action=f"{CONNECTIONS}/write")
    route("DELETE", conns + "/{privateEndpointConnectionName}", mc.delete_connection, action=f"{CONNECTIONS}/delete")
    route("GET", one + "/privateLinkResources", mc.list_link_resources, action=f"{TYPE}/privateLinkResources/read")
    route("POST", one + "/listClusterUserCredential", mc.list_user_credentials,
          action=f"{TYPE}/listClusterUserCredential/action", kind="action")
    return mc
