"""Microsoft.Network/privateLinkServices and their private endpoint connections.

The way Microsoft documents to reach a private API Server VNet Integration cluster from another
VNet: a Private Link Service (PLS) on the `kube-apiserver` load balancer's frontend, in the
cluster's own VNet, and a private endpoint to it with no `groupIds`. Shapes follow the spec
examples PrivateLinkServiceCreate/Get/UpdatePrivateEndpointConnection (azure-rest-api-specs,
network 2026-01-01); codes marked [guess] have no public source and are documented guesses.

PLS:
- PUT is long-running (201 "Updating" + Azure-AsyncOperation, then "Succeeded"); another PUT while
  it runs gets 409 AnotherOperationInProgress, a DELETE is accepted and cancels it.
- `loadBalancerFrontendIpConfigurations` must name a current frontend of a load balancer
  (400 InvalidResourceReference); `ipConfigurations` (1-8) need subnets of that load balancer's
  VNet [guess: 400 PrivateLinkServiceIpConfigurationSubnetNotInLoadBalancerVnet] with
  private-link-service network policies disabled (400
  PrivateLinkServiceCannotBeCreatedInSubnetThatHasNetworkPoliciesEnabled, as recorded).
- It needs the linked `loadBalancers/write` on the load balancer and `subnets/join/action` on each
  NAT subnet (403 LinkedAuthorizationFailed). On a locked-down node resource group the linked write
  is refused with 403 DenyAssignmentAuthorizationFailed (switch `nrg_lockdown_refuses_pls`).
- `autoApproval` must be a subset of `visibility` [guess: 400 PrivateLinkServiceAutoApprovalNotInVisibility];
  at most 100 subscriptions in each; visibility `*` = every subscription.
- At most 8 PLS per load balancer [guess: 400 PrivateLinkServiceLimitPerLoadBalancerReached];
  world.settings["pls_per_load_balancer"] overrides the 8 for tests.
- DELETE is long-running; every connection goes with the PLS (endpoints read Disconnected).

Endpoints to a PLS (network.py asks `connect_endpoint`):
- the endpoint's subscription must be in `visibility` [guess: 400 PrivateLinkServiceNotVisible];
  `groupIds` must be empty [guess: 400 InvalidGroupIds]; at most 1,000 connections
  [guess: 400 PrivateLinkServiceConnectionLimitReached; world.settings["pls_max_connections"]].
- a subscription in `autoApproval` is Approved at once ("Auto-Approved"), manual or not; otherwise a
  manual connection is Pending, and an automatic one needs the same token to hold
  `privateLinkServices/privateEndpointConnectionsApproval/action` on the PLS (across tenants it
  cannot: 403 LinkedAuthorizationFailed).
Connections: list/get; PUT is synchronous (Approved/Rejected; a Rejected one stays rejected);
DELETE is long-running and leaves the endpoint Disconnected.
"""

from __future__ import annotations

import copy
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from devcloud.arm import ArmContext, ArmError, Operation
from devcloud.httpserver import Response
from devcloud.providers.common import (
    DELETE_SUCCESS,
    WRITE_SUCCESS,
    emit_accepted,
    emit_later,
    key,
    new_etag,
    not_found,
    require_location,
    start_lro,
    value_list,
)
from devcloud.providers.loadbalancer import WRITE as LB_WRITE
from devcloud.providers.loadbalancer import vnet_of
from devcloud.world import subnet_hosts

NAMESPACE = "Microsoft.Network"
TYPE = "Microsoft.Network/privateLinkServices"
CONNECTIONS = f"{TYPE}/privateEndpointConnections"
APPROVAL_ACTION = f"{TYPE}/privateEndpointConnectionsApproval/action"
JOIN_ACTION = "Microsoft.Network/virtualNetworks/subnets/join/action"
MAX_SUBSCRIPTIONS = 100


@dataclass
class PlsConnection:
    name: str
    endpoint_id: str
    status: str  # Pending | Approved | Rejected
    description: str
    endpoint_location: str
    link_identifier: str = field(default_factory=lambda: str(secrets.randbelow(2**31)))
    etag: str = field(default_factory=new_etag)


@dataclass
class Pls:
    id: str
    subscription_id: str
    resource_group: str
    name: str
    location: str
    frontend_ids: list[str]
    ip_configs: list[dict[str, Any]]  # {name, subnet_id, ip, static, primary}
    visibility: list[str]
    auto_approval: list[str]
    fqdns: list[str]
    proxy_protocol: bool
    tags: dict[str, str] | None
    alias: str
    nic_id: str
    state: str = "Updating"
    broken: bool = False  # its frontend is gone (cluster deleted, frontend replaced)
    etag: str = field(default_factory=new_etag)
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    connections: dict[str, PlsConnection] = field(default_factory=dict)  # lower-cased name -> connection
    op: Operation | None = None


def pls_id(subscription_id: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/{TYPE}/{name}"


def _bad(code: str, message: str) -> ArmError:
    return ArmError(400, code, message)


def _subscriptions(props: dict[str, Any], name: str) -> list[str]:
    subs = (props.get(name) or {}).get("subscriptions") or []
    if not isinstance(subs, list) or not all(isinstance(s, str) and s for s in subs):
        raise _bad("InvalidRequestFormat", f"Cannot parse the request: properties.{name}.subscriptions must be a "
                                           "list of subscription ids.")
    if len(subs) > MAX_SUBSCRIPTIONS:
        raise _bad("PrivateLinkServiceTooManySubscriptions", f"properties.{name} lists {len(subs)} subscriptions; "
                                                             f"at most {MAX_SUBSCRIPTIONS} are allowed.")  # [guess]
    return [s.lower() for s in subs]


class PrivateLinkServices:
    def __init__(self, cloud: Any, groups: Any, lbs: Any) -> None:
        self.cloud = cloud
        self.groups = groups
        self.lbs = lbs
        self.services: dict[str, Pls] = {}  # key(PLS id) -> PLS
        self.allocated: dict[str, set[str]] = {}  # key(subnet id) -> NAT IPs in use

    def _setting(self, name: str, default: int) -> int:
        return int(self.cloud.world.settings.get(name, default))

    # -- rendering -----------------------------------------------------------------------------
    def connection_body(self, pls: Pls, conn: PlsConnection) -> dict[str, Any]:
        return {"name": conn.name, "id": f"{pls.id}/privateEndpointConnections/{conn.name}", "etag": f'W/"{conn.etag}"',
                "type": CONNECTIONS,
                "properties": {"provisioningState": "Succeeded", "privateEndpoint": {"id": conn.endpoint_id},
                               "privateLinkServiceConnectionState": {"status": conn.status,
                                                                     "description": conn.description,
                                                                     "actionsRequired": "None"},
                               "linkIdentifier": conn.link_identifier,
                               "privateEndpointLocation": conn.endpoint_location}}

    def body(self, pls: Pls) -> dict[str, Any]:
        # The NAT IP configurations are Succeeded while the service is still Updating (recorded, azure-cli 2.36).
        config_state = "Succeeded" if pls.state == "Updating" else pls.state
        configs = [{"name": c["name"], "id": f"{pls.id}/ipConfigurations/{c['name']}", "etag": f'W/"{pls.etag}"',
                    "type": f"{TYPE}/ipConfigurations",
                    "properties": {"provisioningState": config_state, "privateIPAddress": c["ip"],
                                   "privateIPAllocationMethod": "Static" if c["static"] else "Dynamic",
                                   "subnet": {"id": c["subnet_id"]}, "primary": c["primary"],
                                   "privateIPAddressVersion": "IPv4"}} for c in pls.ip_configs]
        body: dict[str, Any] = {"name": pls.name, "id": pls.id, "etag": f'W/"{pls.etag}"', "type": TYPE,
                                "location": pls.location}
        if pls.tags is not None:
            body["tags"] = copy.deepcopy(pls.tags)
        body["properties"] = {
            "provisioningState": "Failed" if pls.broken and pls.state == "Succeeded" else pls.state,
            "resourceGuid": pls.guid,
            "fqdns": list(pls.fqdns), "alias": pls.alias,
            "visibility": {"subscriptions": list(pls.visibility)},
            "autoApproval": {"subscriptions": list(pls.auto_approval)},
            "enableProxyProtocol": pls.proxy_protocol,
            "loadBalancerFrontendIpConfigurations": [{"id": f} for f in pls.frontend_ids],
            "ipConfigurations": configs,
            "privateEndpointConnections": [self.connection_body(pls, c) for c in pls.connections.values()],
            "networkInterfaces": [{"id": pls.nic_id}],
        }
        return body

    # -- validation of a PUT ---------------------------------------------------------------------
    def _frontends(self, ctx: ArmContext, props: dict[str, Any], pid: str) -> tuple[list[str], Any]:
        refs = props.get("loadBalancerFrontendIpConfigurations") or []
        if not isinstance(refs, list) or not refs or not all(isinstance(r, dict) and r.get("id") for r in refs):
            raise _bad("InvalidRequestFormat", "Cannot parse the request: properties.loadBalancerFrontendIpConfigurations "
                                               "needs at least one {id}.")
        lbs = []
        for ref in refs:
            lb = self.lbs.frontend(ref["id"])
            if lb is None:
                raise _bad("InvalidResourceReference", f"Resource {ref['id']} referenced by resource {pid} was not "
                                                       "found. Please make sure that the referenced resource exists, "
                                                       "and that both resources are in the same region.")
            lbs.append(lb)
        if len({key(lb.id) for lb in lbs}) != 1:
            raise _bad("PrivateLinkServiceFrontendsOnDifferentLoadBalancers", "All frontend IP configurations of a "
                                                                              "private link service must belong to one "
                                                                              "load balancer.")  # [guess]
        return [r["id"] for r in refs], lbs[0]

    def _ip_configs(self, props: dict[str, Any], lb: Any, pid: str) -> list[dict[str, Any]]:
        given = props.get("ipConfigurations") or []
        if not isinstance(given, list) or not 1 <= len(given) <= 8:
            raise _bad("InvalidRequestFormat", "Cannot parse the request: properties.ipConfigurations needs 1 to 8 "
                                               "entries.")
        out = []
        for i, entry in enumerate(given):
            cprops = (entry or {}).get("properties") or {}
            subnet_id = (cprops.get("subnet") or {}).get("id")
            subnet = next((s for s in self.cloud.world.subnets if key(s.id) == key(subnet_id or "")), None)
            if subnet is None:
                raise _bad("InvalidResourceReference", f"Resource {subnet_id} referenced by resource {pid} was not "
                                                       "found. Please make sure that the referenced resource exists, "
                                                       "and that both resources are in the same region.")
            if subnet.private_link_service_network_policies.lower() != "disabled":
                raise _bad("PrivateLinkServiceCannotBeCreatedInSubnetThatHasNetworkPoliciesEnabled",
                           f"Private link service {pid} cannot be created in a subnet {subnet.id} since it has private "
                           "link service network policies enabled.")
            if key(vnet_of(subnet.id)) != key(vnet_of(lb.frontend.subnet_id)):
                raise _bad("PrivateLinkServiceIpConfigurationSubnetNotInLoadBalancerVnet",  # [guess]
                           f"Subnet {subnet.id} of private link service {pid} is not in the virtual network of load "
                           f"balancer {lb.id}.")
            out.append({"name": entry.get("name") or f"ipconfig{i + 1}", "subnet_id": subnet.id,
                        "wanted": cprops.get("privateIPAddress"), "prefix": subnet.prefix,
                        "static": bool(cprops.get("privateIPAddress")), "primary": bool(cprops.get("primary", i == 0))})
        return out

    def _check_limit(self, lb: Any, pid: str) -> None:
        limit = self._setting("pls_per_load_balancer", 8)
        others = [p for p in self.services.values() if key(p.id) != key(pid) and not p.broken
                  and any(key(f).startswith(key(lb.id) + "/") for f in p.frontend_ids)]
        if len(others) >= limit:
            raise _bad("PrivateLinkServiceLimitPerLoadBalancerReached",  # [guess]
                       f"Load balancer {lb.id} already has {len(others)} private link services; at most {limit} "
                       "are allowed per load balancer.")

    def _authorize(self, ctx: ArmContext, lb: Any, configs: list[dict[str, Any]], pid: str) -> None:
        self.lbs.deny(ctx, f"{TYPE}/write", pid)
        ctx.authorize(LB_WRITE, lb.id)
        if self.cloud.world.settings.get("nrg_lockdown_refuses_pls", True):
            self.lbs.deny(ctx, LB_WRITE, lb.id)
        for c in configs:
            ctx.authorize(JOIN_ACTION, c["subnet_id"])

    def _allocate(self, configs: list[dict[str, Any]], keep: dict[str, str]) -> None:
        """NAT IPs: an existing configuration keeps its IP; else the wanted one or the first free address."""
        for c in configs:
            used = self.allocated.setdefault(key(c["subnet_id"]), set())
            hosts, wanted, kept = subnet_hosts(c.pop("prefix")), c.pop("wanted", None), keep.get(c["name"].lower())
            if kept:
                ip = kept
            elif wanted:
                if wanted not in hosts:
                    raise _bad("PrivateIPAddressNotInSubnet", f"Private static IP address {wanted} does not belong "
                                                              f"to the range of subnet {c['subnet_id']}.")
                if wanted in used:
                    raise _bad("PrivateIPAddressInUse", f"The private IP address {wanted} is already allocated to "
                                                        "another resource in the subnet.")
                ip = wanted
            else:
                ip = next((h for h in hosts if h not in used), None)
                if ip is None:
                    raise _bad("SubnetIsFull", f"Subnet {c['subnet_id']} does not have enough capacity for 1 IP "
                                               "addresses.")
            used.add(ip)
            c["ip"] = ip

    def _release(self, pls: Pls) -> None:
        for c in pls.ip_configs:
            self.allocated.get(key(c["subnet_id"]), set()).discard(c["ip"])

    # -- HTTP: the service -----------------------------------------------------------------------
    def _find(self, ctx: ArmContext) -> Pls:
        rg, name = ctx.params["resourceGroupName"], ctx.params["serviceName"]
        self.groups.require(ctx.subscription_id, rg)
        pls = self.services.get(key(pls_id(ctx.subscription_id, rg, name)))
        if pls is None:
            raise not_found(TYPE, name, rg)
        return pls

    def put(self, ctx: ArmContext) -> Response:
        rg, name = ctx.params["resourceGroupName"], ctx.params["serviceName"]
        self.groups.require(ctx.subscription_id, rg)
        request = ctx.body()
        location = require_location(request)
        props = request.get("properties") or {}
        pid = pls_id(ctx.subscription_id, rg, name)
        visibility, auto = _subscriptions(props, "visibility"), _subscriptions(props, "autoApproval")
        if "*" in auto or ("*" not in visibility and not set(auto) <= set(visibility)):
            raise _bad("PrivateLinkServiceAutoApprovalNotInVisibility",  # [guess]
                       "Every subscription in properties.autoApproval must also be in properties.visibility.")
        with self.cloud.arm.lock:
            frontends, lb = self._frontends(ctx, props, pid)
            if lb.location != location:
                raise _bad("InvalidResourceLocation", f"Private link service {pid} must be in the location of load "
                                                      f"balancer {lb.id} ({lb.location}).")
            configs = self._ip_configs(props, lb, pid)
            self._check_limit(lb, pid)
            self._authorize(ctx, lb, configs, pid)
            existing = self.services.get(key(pid))
            if existing is not None:
                self._update(existing, location, frontends, configs)
                pls, status = existing, 200
            else:
                self._allocate(configs, {})
                pls = Pls(pid, ctx.subscription_id, rg, name, location, frontends, configs, [], [], [], False, None,
                          f"{name}.{uuid.uuid4()}.{location}.azure.privatelinkservice",
                          f"/subscriptions/{ctx.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/"
                          f"networkInterfaces/{name}.nic.{uuid.uuid4()}")
                self.services[key(pid)] = pls
                status = 201
            pls.visibility, pls.auto_approval = visibility, auto
            pls.fqdns = [f for f in props.get("fqdns") or [] if isinstance(f, str)]
            pls.proxy_protocol = bool(props.get("enableProxyProtocol", False))
            if request.get("tags") is not None:
                pls.tags = copy.deepcopy(request["tags"])
            self._run(ctx, pls, "privateLinkServices/create" if status == 201 else "privateLinkServices/update")
            assert pls.op is not None
            response = Response.json(status, self.body(pls), self.cloud.arm.operations.headers(ctx, pls.op))
        emit_accepted(self.cloud, ctx, pid, f"{TYPE}/write")
        return response

    def _update(self, pls: Pls, location: str, frontends: list[str], configs: list[dict[str, Any]]) -> None:
        """Frontends, visibility, auto-approval, fqdns and tags may change; the NAT subnets may not."""
        if pls.state in ("Updating", "Deleting"):
            raise ArmError(409, "AnotherOperationInProgress", f"Operation on private link service '{pls.name}' "
                                                              "failed because another operation on it is in progress.")
        if location != pls.location:
            raise _bad("InvalidResourceLocation", f"The resource '{pls.name}' already exists in location "
                                                  f"'{pls.location}'.")
        if [key(c["subnet_id"]) for c in configs] != [key(c["subnet_id"]) for c in pls.ip_configs]:
            raise _bad("PropertyChangeNotAllowed", f"The ipConfigurations subnets of private link service "
                                                   f"'{pls.name}' cannot be changed.")
        self._allocate(configs, {c["name"].lower(): c["ip"] for c in pls.ip_configs})
        pls.ip_configs, pls.frontend_ids, pls.broken = configs, frontends, False
        pls.etag = new_etag()
        pls.state = "Updating"

    def _run(self, ctx: ArmContext, pls: Pls, duration_key: str) -> None:
        def complete() -> None:
            pls.state = "Succeeded"
            pls.etag = new_etag()
            emit_later(self.cloud, ctx, WRITE_SUCCESS, pls.id, f"{TYPE}/write")

        def fail(error: dict[str, str]) -> None:
            pls.state = "Failed"

        start_lro(self.cloud, ctx, pls, NAMESPACE, duration_key, 1.0, complete, fail)

    def get(self, ctx: ArmContext) -> Response:
        """With the resource's etag also as the ETag header, as Network answers a GET (recorded)."""
        with self.cloud.arm.lock:
            pls = self._find(ctx)
            return Response.json(200, self.body(pls), {"ETag": f'W/"{pls.etag}"'})

    def list_by_group(self, ctx: ArmContext) -> Response:
        rg = ctx.params["resourceGroupName"]
        self.groups.require(ctx.subscription_id, rg)
        prefix = key(f"/subscriptions/{ctx.subscription_id}/resourceGroups/{rg}/")
        with self.cloud.arm.lock:
            return value_list([self.body(p) for k, p in self.services.items() if k.startswith(prefix)])

    def list_by_subscription(self, ctx: ArmContext) -> Response:
        prefix = key(f"/subscriptions/{ctx.subscription_id}/")
        with self.cloud.arm.lock:
            return value_list([self.body(p) for k, p in self.services.items() if k.startswith(prefix)])

    def delete(self, ctx: ArmContext) -> Response:
        rg, name = ctx.params["resourceGroupName"], ctx.params["serviceName"]
        self.groups.require(ctx.subscription_id, rg)
        with self.cloud.arm.lock:
            pls = self.services.get(key(pls_id(ctx.subscription_id, rg, name)))
            if pls is None:
                return Response.empty(204)
            self.lbs.deny(ctx, f"{TYPE}/delete", pls.id)
            if pls.state != "Deleting":
                pls.state = "Deleting"

                def complete() -> None:
                    self._release(pls)
                    pls.connections.clear()
                    del self.services[key(pls.id)]
                    emit_later(self.cloud, ctx, DELETE_SUCCESS, pls.id, f"{TYPE}/delete")

                def fail(error: dict[str, str]) -> None:
                    pls.state = "Failed"

                start_lro(self.cloud, ctx, pls, NAMESPACE, "privateLinkServices/delete", 1.0, complete, fail)
            assert pls.op is not None
            return Response.empty(202, self.cloud.arm.operations.headers(ctx, pls.op, location=True))

    # -- HTTP: its connections -------------------------------------------------------------------
    def _find_connection(self, ctx: ArmContext) -> tuple[Pls, PlsConnection]:
        pls = self._find(ctx)
        name = ctx.params["peConnectionName"]
        conn = pls.connections.get(name.lower())
        if conn is None:
            raise not_found(CONNECTIONS, f"{pls.name}/{name}", pls.resource_group)
        return pls, conn

    def list_connections(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            pls = self._find(ctx)
            return value_list([self.connection_body(pls, c) for c in pls.connections.values()])

    def get_connection(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            return Response.json(200, self.connection_body(*self._find_connection(ctx)))

    def put_connection(self, ctx: ArmContext) -> Response:
        """Synchronous: only the connection state's status and description change."""
        state = (ctx.body().get("properties") or {}).get("privateLinkServiceConnectionState")
        if not isinstance(state, dict) or not isinstance(state.get("status"), str):
            raise _bad("InvalidRequestFormat", "properties.privateLinkServiceConnectionState.status is required.")
        with self.cloud.arm.lock:
            pls, conn = self._find_connection(ctx)
            status = next((s for s in ("Approved", "Rejected", "Pending") if s.lower() == state["status"].lower()), None)
            if status is None or (status == "Pending" and conn.status != "Pending"):
                raise _bad("InvalidPrivateEndpointConnectionStatus", f"Status '{state['status']}' is not valid here: "
                                                                     "use Approved or Rejected.")
            if conn.status == "Rejected" and status != "Rejected":
                raise _bad("BadRequest", "Approving rejected private endpoint connections is not supported.")
            conn.status = status
            if isinstance(state.get("description"), str):
                conn.description = state["description"]
            conn.etag = new_etag()
            return Response.json(200, self.connection_body(pls, conn))

    def delete_connection(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            pls = self._find(ctx)
            name = ctx.params["peConnectionName"].lower()
            if name not in pls.connections:
                return Response.empty(204)
            op = self.cloud.arm.operations.start(ctx, NAMESPACE, pls.location,
                                                 self.cloud.arm.lro_duration("privateLinkServices/connections/delete", 0.5),
                                                 lambda: pls.connections.pop(name, None) and None, lambda error: None)
            return Response.empty(202, self.cloud.arm.operations.headers(ctx, op, location=True))

    # -- what Microsoft.Network asks when an endpoint targets a PLS (arm.lock held) --------------
    def connect_endpoint(self, ctx: ArmContext, target_id: str, group_ids: list[str], manual: bool, endpoint_id: str,
                         endpoint_name: str, location: str, message: str | None,
                         resource_guid: str | None = None) -> tuple[str, str, str]:
        """Make the connection an endpoint asks for; returns (PLS id, connection name, fqdn for DNS configs)."""
        pls = self.services.get(key(target_id))
        sub = ctx.subscription_id.lower()
        if pls is None or pls.state not in ("Succeeded", "Updating") or pls.broken:
            raise _bad("PrivateLinkServiceNotFound", f"Private link service {target_id} does not exist or is not "
                                                     "ready.")
        if "*" not in pls.visibility and sub not in pls.visibility:
            raise _bad("PrivateLinkServiceNotVisible", f"Private link service {target_id} is not visible to "
                                                       f"subscription {ctx.subscription_id}.")  # [guess]
        if group_ids:
            raise _bad("InvalidGroupIds", f"groupIds {group_ids} are not valid for a private link service: leave "
                                          "them out.")  # [guess]
        limit = self._setting("pls_max_connections", 1000)
        if len(pls.connections) >= limit:
            raise _bad("PrivateLinkServiceConnectionLimitReached",  # [guess]
                       f"Private link service {target_id} already has {limit} private endpoint connections.")
        if sub in pls.auto_approval:
            status, description = "Approved", "Auto-Approved"
        elif manual:
            status, description = "Pending", message or ""
        else:
            ctx.authorize(APPROVAL_ACTION, pls.id)
            status, description = "Approved", "Auto-Approved"
        conn = PlsConnection(f"{endpoint_name}.{resource_guid or uuid.uuid4()}", endpoint_id, status, description, location)
        pls.connections[conn.name.lower()] = conn
        return pls.id, conn.name, (pls.fqdns[0] if pls.fqdns else "")

    def connection(self, target_id: str, pls_key: str, name: str) -> PlsConnection | None:
        pls = self.services.get(key(target_id))
        return None if pls is None or pls.broken else pls.connections.get(name.lower())

    def disconnect(self, target_id: str, pls_key: str, name: str) -> None:
        pls = self.services.get(key(target_id))
        if pls is not None:
            pls.connections.pop(name.lower(), None)

    # -- what the cluster provider tells us (arm.lock held) --------------------------------------
    def cluster_event(self, cluster: Any, event: str) -> None:
        """`kube-apiserver` follows the cluster; a PLS whose frontend goes away is left broken."""
        gone = None
        if event == "created":
            self.lbs.ensure(cluster)
        elif event == "started":
            moved = self.lbs.on_start(cluster)
            gone = moved[0] if moved else None
        elif event == "deleted":
            gone = self.lbs.drop(cluster)
        if gone is None:
            return
        for pls in self.services.values():
            if any(key(f) == key(gone) for f in pls.frontend_ids):
                pls.broken = True
                pls.connections.clear()


def register(cloud: Any, groups: Any, lbs: Any) -> PrivateLinkServices:
    pls = PrivateLinkServices(cloud, groups, lbs)
    route = cloud.arm.route
    group = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" + TYPE
    one = group + "/{serviceName}"
    conns = one + "/privateEndpointConnections"
    route("GET", "/subscriptions/{subscriptionId}/providers/" + TYPE, pls.list_by_subscription, action=f"{TYPE}/read")
    route("GET", group, pls.list_by_group, action=f"{TYPE}/read")
    route("PUT", one, pls.put, action=f"{TYPE}/write")
    route("GET", one, pls.get, action=f"{TYPE}/read")
    route("DELETE", one, pls.delete, action=f"{TYPE}/delete")
    route("GET", conns, pls.list_connections, action=f"{CONNECTIONS}/read")
    route("GET", conns + "/{peConnectionName}", pls.get_connection, action=f"{CONNECTIONS}/read")
    route("PUT", conns + "/{peConnectionName}", pls.put_connection, action=f"{CONNECTIONS}/write")
    route("DELETE", conns + "/{peConnectionName}", pls.delete_connection, action=f"{CONNECTIONS}/delete")
    return pls
