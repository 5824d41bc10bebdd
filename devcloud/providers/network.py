"""Microsoft.Network private endpoints and their network interfaces, targeting managed clusters.

As Azure does it:
- PUT is long-running (201 "Updating" + Azure-AsyncOperation, then "Succeeded"); it needs
  `subnets/join/action` on the subnet (403 LinkedAuthorizationFailed otherwise) and the subnet
  must be one of the world's (400 InvalidResourceReference).
- Everything about the target is checked synchronously: a cluster that does not exist, or has no
  private link service (public, stopped, still creating), fails the PUT with 400
  PrivateLinkServiceNotFound; groupIds other than ["management"] with 400 InvalidGroupIds.
- A manual connection makes a Pending connection on the cluster (description = requestMessage).
  An automatic one is approved only if the SAME token may perform
  `privateEndpointConnectionsApproval/action` on the cluster; across tenants that cannot be, so the
  PUT fails with 403 LinkedAuthorizationFailed.
- The endpoint's connection state always mirrors the cluster side; once that connection or the
  private link service it was made to is gone, it reads Disconnected, for good.
- An endpoint may also target a Private Link Service (privatelinkservice.py decides, with no groupIds):
  that is how VNet-integrated clusters are reached.
- Static addresses (`ipConfigurations`), a full subnet and the per-VNet endpoint limit are checked as
  Azure does: see devcloud.providers.endpoint_ips.
- The world's hub subnets and their VNets can be read (GET virtualNetworks, .../subnets/{name}), with
  the endpoints and NIC ip configurations using each subnet, as Azure lists them.
- Creating an endpoint creates a NIC `<endpoint>.nic.<guid>` (or customNetworkInterfaceName) with
  an IP from the subnet, never handed out twice while allocated; deleting the endpoint frees both.
- While an operation runs on an endpoint, another PUT gets 409 AnotherOperationInProgress; a
  DELETE is accepted and cancels it.
"""

from __future__ import annotations

import copy
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from devcloud.arm import ArmContext, ArmError, Operation
from devcloud.httpserver import Response
from devcloud.providers import endpoint_ips
from devcloud.providers.aksdns import api_server_name
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
from devcloud.providers.containerservice import APPROVAL_ACTION, GROUP_ID

NAMESPACE = "Microsoft.Network"
TYPE = "Microsoft.Network/privateEndpoints"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
JOIN_ACTION = "Microsoft.Network/virtualNetworks/subnets/join/action"
MANUAL, AUTO = "manualPrivateLinkServiceConnections", "privateLinkServiceConnections"


@dataclass
class Endpoint:
    id: str
    subscription_id: str
    resource_group: str
    name: str
    location: str
    subnet_id: str
    kind: str  # MANUAL | AUTO
    link_name: str  # the connection entry's name on the endpoint
    target_id: str  # privateLinkServiceId as given
    group_ids: list[str]
    request_message: str | None
    pls_id: str  # the private link service the connection was made to
    connection_name: str  # the connection's name on the cluster
    private_fqdn: str
    nic_id: str
    ip: str
    state: str = "Updating"
    etag: str = field(default_factory=new_etag)
    resource_guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    tags: dict[str, str] | None = None
    ip_configurations: list[dict[str, Any]] = field(default_factory=list)
    custom_nic_name: str | None = None
    op: Operation | None = None
    provisioned: bool = False  # has been Succeeded once: its DNS configs stay through later updates


def endpoint_id(subscription_id: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/{TYPE}/{name}"


def nic_id(subscription_id: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/{NIC_TYPE}/{name}"


def _bad(code: str, message: str) -> ArmError:
    return ArmError(400, code, message)


def _connection_entry(props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    manual, auto = props.get(MANUAL) or [], props.get(AUTO) or []
    if not isinstance(manual, list) or not isinstance(auto, list) or len(manual) + len(auto) != 1:
        raise _bad("InvalidPrivateLinkServiceConnections", "A private endpoint needs exactly one entry in "
                                                           f"{AUTO} or {MANUAL}.")
    kind, entry = (MANUAL, manual[0]) if manual else (AUTO, auto[0])
    if not isinstance(entry, dict) or not isinstance(entry.get("properties"), dict):
        raise _bad("InvalidRequestFormat", "Cannot parse the request: the connection entry has no properties.")
    return kind, entry


class PrivateEndpoints:
    def __init__(self, cloud: Any, groups: Any, clusters: Any) -> None:
        self.cloud = cloud
        self.groups = groups
        self.clusters = clusters
        self.endpoints: dict[str, Endpoint] = {}  # key(endpoint id) -> endpoint
        self.nics: dict[str, dict[str, Any]] = {}  # key(NIC id) -> ARM body
        self.allocated: dict[str, set[str]] = {}  # key(subnet id) -> IPs in use

    def _links(self, target_id: str) -> Any:
        """Who holds the connections of an endpoint to this target: a Private Link Service or a cluster."""
        if "/providers/microsoft.network/privatelinkservices/" in key(target_id):
            return self.cloud.providers["privatelinkservices"]
        return self.clusters

    # -- rendering -----------------------------------------------------------------------------
    def _connection_state(self, ep: Endpoint) -> dict[str, str]:
        conn = self._links(ep.target_id).connection(ep.target_id, ep.pls_id, ep.connection_name)
        if conn is None:
            return {"status": "Disconnected", "description": "The private link service connection was removed.",
                    "actionsRequired": "None"}
        return {"status": conn.status, "description": conn.description, "actionsRequired": "None"}

    def body(self, ep: Endpoint) -> dict[str, Any]:
        # The connection entry reads Succeeded while the endpoint itself is still Updating (recorded).
        link_state = "Succeeded" if ep.state == "Updating" else ep.state
        link_props: dict[str, Any] = {"provisioningState": link_state, "privateLinkServiceId": ep.target_id,
                                      "groupIds": list(ep.group_ids)}
        if ep.request_message is not None:
            link_props["requestMessage"] = ep.request_message
        link_props["privateLinkServiceConnectionState"] = self._connection_state(ep)
        link = {"name": ep.link_name, "id": f"{ep.id}/{ep.kind}/{ep.link_name}", "etag": f'W/"{ep.etag}"',
                "type": f"{TYPE}/{ep.kind}", "properties": link_props}
        # customDnsConfigs stay empty until the endpoint is first provisioned (recorded: the 201 answer has []).
        dns = [{"fqdn": ep.private_fqdn, "ipAddresses": [ep.ip]}] if ep.provisioned and ep.private_fqdn else []
        props: dict[str, Any] = {
            "provisioningState": ep.state,
            "resourceGuid": ep.resource_guid,
            AUTO: [link] if ep.kind == AUTO else [],
            MANUAL: [link] if ep.kind == MANUAL else [],
            "subnet": {"id": ep.subnet_id},
            "networkInterfaces": [{"id": ep.nic_id}],
            "customDnsConfigs": dns,
            "applicationSecurityGroups": [],
            "ipConfigurations": copy.deepcopy(ep.ip_configurations),
        }
        if ep.custom_nic_name:
            props["customNetworkInterfaceName"] = ep.custom_nic_name
        body: dict[str, Any] = {"name": ep.name, "id": ep.id, "etag": f'W/"{ep.etag}"', "type": TYPE,
                                "location": ep.location}
        if ep.tags is not None:
            body["tags"] = copy.deepcopy(ep.tags)
        body["properties"] = props
        return body

    def _nic_body(self, ep: Endpoint, nic_name: str, static: bool) -> dict[str, Any]:
        config = f"privateEndpointIpConfig.{uuid.uuid4()}"
        etag = f'W/"{new_etag()}"'
        return {
            "name": nic_name, "id": ep.nic_id, "etag": etag, "type": NIC_TYPE, "location": ep.location,
            "properties": {
                "provisioningState": "Succeeded",
                "ipConfigurations": [{
                    "name": config, "id": f"{ep.nic_id}/ipConfigurations/{config}", "etag": etag,
                    "type": f"{NIC_TYPE}/ipConfigurations",
                    "properties": {
                        "provisioningState": "Succeeded", "privateIPAddress": ep.ip,
                        "privateIPAllocationMethod": "Static" if static else "Dynamic",
                        "subnet": {"id": ep.subnet_id}, "primary": True, "privateIPAddressVersion": "IPv4",
                        "privateLinkConnectionProperties": {
                            "groupId": ep.group_ids[0] if ep.group_ids else "",
                            "requiredMemberName": ep.group_ids[0] if ep.group_ids else "",
                            "fqdns": [ep.private_fqdn] if ep.private_fqdn else []},
                    },
                }],
                "dnsSettings": {"dnsServers": [], "appliedDnsServers": [],
                                "internalDomainNameSuffix": f"{secrets.token_hex(8)}.ax.internal.cloudapp.net"},
                "macAddress": "", "enableAcceleratedNetworking": False, "disableTcpStateTracking": False,
                "enableIPForwarding": False, "vnetEncryptionSupported": False, "nicType": "Standard",
                "privateEndpoint": {"id": ep.id},
            },
        }

    # -- subnet addresses ----------------------------------------------------------------------
    def _subnet(self, subnet_id: str, endpoint: str) -> Any:
        subnet = next((s for s in self.cloud.world.subnets if key(s.id) == key(subnet_id)), None)
        if subnet is None:
            raise _bad("InvalidResourceReference", f"Resource {subnet_id} referenced by resource {endpoint} was not "
                                                   "found. Please make sure that the referenced resource exists, and "
                                                   "that both resources are in the same region.")
        return subnet

    def _allocate(self, subnet: Any, wanted: str | None, nic_config_id: str) -> str:
        used = self.allocated.setdefault(key(subnet.id), set())
        if wanted:
            holder = next((f"{e.nic_id}/ipConfigurations/privateEndpointIpConfig" for e in self.endpoints.values()
                           if key(e.subnet_id) == key(subnet.id) and e.ip == wanted), None)
            if holder is None and wanted in used:
                holder = "another resource in the subnet"
            endpoint_ips.check_static(subnet, wanted, nic_config_id, holder)
            ip = wanted
        else:
            ip = endpoint_ips.free_address(subnet, used)
        used.add(ip)
        return ip

    def endpoints_in_vnet(self, subnet_id: str) -> int:
        vnet = key(endpoint_ips.vnet_of(subnet_id))
        return sum(1 for e in self.endpoints.values() if key(endpoint_ips.vnet_of(e.subnet_id)) == vnet)

    def subnet_usage(self) -> list[dict[str, Any]]:
        """used/total per world subnet (arm.lock held)."""
        return [endpoint_ips.usage(s, self.allocated.get(key(s.id), set())) for s in self.cloud.world.subnets]

    def _release(self, ep: Endpoint) -> None:
        self.allocated.get(key(ep.subnet_id), set()).discard(ep.ip)
        self.nics.pop(key(ep.nic_id), None)
        self._links(ep.target_id).disconnect(ep.target_id, ep.pls_id, ep.connection_name)
        del self.endpoints[key(ep.id)]

    # -- HTTP ----------------------------------------------------------------------------------
    def _find(self, ctx: ArmContext) -> Endpoint:
        rg, name = ctx.params["resourceGroupName"], ctx.params["privateEndpointName"]
        self.groups.require(ctx.subscription_id, rg)
        ep = self.endpoints.get(key(endpoint_id(ctx.subscription_id, rg, name)))
        if ep is None:
            raise not_found(TYPE, name, rg)
        return ep

    def put(self, ctx: ArmContext) -> Response:
        rg, name = ctx.params["resourceGroupName"], ctx.params["privateEndpointName"]
        self.groups.require(ctx.subscription_id, rg)
        request = ctx.body()
        location = require_location(request)
        props = request.get("properties") or {}
        subnet_id = (props.get("subnet") or {}).get("id")
        if not isinstance(subnet_id, str) or not subnet_id:
            raise _bad("InvalidRequestFormat", "Cannot parse the request: properties.subnet.id is required.")
        kind, entry = _connection_entry(props)
        link = entry["properties"]
        with self.cloud.arm.lock:
            eid = endpoint_id(ctx.subscription_id, rg, name)
            existing = self.endpoints.get(key(eid))
            if existing is not None:
                self._update(ctx, existing, location, request, subnet_id, kind, link)
                ep, status = existing, 200
            else:
                ep, status = self._create(ctx, eid, rg, name, location, request, subnet_id, kind, entry), 201
            assert ep.op is not None
            response = Response.json(status, self.body(ep), self.cloud.arm.operations.headers(ctx, ep.op))
        emit_accepted(self.cloud, ctx, ep.id, f"{TYPE}/write")
        return response

    def _create(self, ctx: ArmContext, eid: str, rg: str, name: str, location: str, request: dict[str, Any],
                subnet_id: str, kind: str, entry: dict[str, Any]) -> Endpoint:
        link = entry["properties"]
        ctx.authorize(JOIN_ACTION, subnet_id)
        subnet = self._subnet(subnet_id, eid)
        group_ids = link.get("groupIds") or []
        target = link.get("privateLinkServiceId") or ""
        links = self._links(target)
        cluster = None
        if links is self.clusters:
            cluster = self.clusters.link_target(target, group_ids)
            if kind == AUTO:
                ctx.authorize(APPROVAL_ACTION, cluster.id)
        props = request["properties"]
        ip_configs = copy.deepcopy(props.get("ipConfigurations") or [])
        # A Private Link Service has no groups: its one static configuration names no group or member.
        wanted = endpoint_ips.static_address(eid, ip_configs, group_ids, [GROUP_ID] if cluster is not None else [""])
        endpoint_ips.check_vnet_room(self.cloud.world, subnet_id, self.endpoints_in_vnet(subnet_id))
        custom_nic = props.get("customNetworkInterfaceName")
        nic_name = custom_nic or f"{name}.nic.{uuid.uuid4()}"
        ip = self._allocate(subnet, wanted, f"{nic_id(ctx.subscription_id, rg, nic_name)}/ipConfigurations/"
                                            f"privateEndpointIpConfig.{uuid.uuid4()}")
        message = link.get("requestMessage")
        guid = str(uuid.uuid4())  # the cluster-side connection is named <endpoint>.<resourceGuid>
        if cluster is None:
            try:
                pls, conn_name, fqdn = links.connect_endpoint(ctx, target, group_ids, kind == MANUAL, eid, name,
                                                              location, message, guid)
            except ArmError:
                self.allocated.get(key(subnet.id), set()).discard(ip)
                raise
        else:
            status, description = ("Pending", message or "") if kind == MANUAL else ("Approved", "Auto-Approved")
            conn = self.clusters.connect(cluster, eid, name, status, description, guid)
            pls, conn_name, fqdn = cluster.pls_id, conn.name, api_server_name(cluster.props)
        ep = Endpoint(eid, ctx.subscription_id, rg, name, location, subnet_id, kind, entry.get("name") or name,
                      target, list(group_ids), message, pls, conn_name, fqdn, nic_id(ctx.subscription_id, rg, nic_name), ip,
                      tags=copy.deepcopy(request.get("tags")), ip_configurations=ip_configs, custom_nic_name=custom_nic,
                      resource_guid=guid)
        self.endpoints[key(eid)] = ep
        self.nics[key(ep.nic_id)] = self._nic_body(ep, nic_name, static=bool(wanted))
        self._run(ctx, ep, "privateEndpoints/create")
        return ep

    def _update(self, ctx: ArmContext, ep: Endpoint, location: str, request: dict[str, Any], subnet_id: str,
                kind: str, link: dict[str, Any]) -> None:
        """Only tags (and the like) may change: target, group, kind of connection and subnet are fixed."""
        if ep.state in ("Updating", "Deleting"):
            raise ArmError(409, "AnotherOperationInProgress", f"Operation on private endpoint '{ep.name}' failed "
                                                              "because another operation on it is in progress.")
        if location != ep.location:
            raise _bad("InvalidResourceLocation", f"The resource '{ep.name}' already exists in location "
                                                  f"'{ep.location}' in resource group '{ep.resource_group}'. A "
                                                  f"resource with the same name cannot be created in location "
                                                  f"'{location}'. Please select a new resource name.")
        same = (key(subnet_id) == key(ep.subnet_id) and kind == ep.kind
                and key(link.get("privateLinkServiceId") or "") == key(ep.target_id)
                and [g.lower() for g in link.get("groupIds") or []] == [g.lower() for g in ep.group_ids])
        if not same:
            raise _bad("PropertyChangeNotAllowed", f"The subnet and the private link service connection (target, "
                                                   f"groupIds, manual or not) of private endpoint '{ep.name}' cannot "
                                                   "be changed. Delete the endpoint and create it again.")
        ctx.authorize(JOIN_ACTION, subnet_id)  # every PUT naming the subnet is checked again
        if request.get("tags") is not None:
            ep.tags = copy.deepcopy(request["tags"])
        ep.etag = new_etag()
        ep.state = "Updating"
        self._run(ctx, ep, "privateEndpoints/update")

    def _run(self, ctx: ArmContext, ep: Endpoint, duration_key: str) -> None:
        def complete() -> None:
            ep.state = "Succeeded"
            ep.provisioned = True
            ep.etag = new_etag()
            emit_later(self.cloud, ctx, WRITE_SUCCESS, ep.id, f"{TYPE}/write")

        def fail(error: dict[str, str]) -> None:
            ep.state = "Failed"

        start_lro(self.cloud, ctx, ep, NAMESPACE, duration_key, 1.0, complete, fail)

    def get(self, ctx: ArmContext) -> Response:
        """Network answers a GET with the resource's etag also as the ETag header (recorded)."""
        with self.cloud.arm.lock:
            ep = self._find(ctx)
            return Response.json(200, self.body(ep), {"ETag": f'W/"{ep.etag}"'})

    def list_by_group(self, ctx: ArmContext) -> Response:
        rg = ctx.params["resourceGroupName"]
        self.groups.require(ctx.subscription_id, rg)
        with self.cloud.arm.lock:
            return value_list([self.body(e) for e in self.endpoints.values()
                               if (e.subscription_id.lower(), e.resource_group.lower())
                               == (ctx.subscription_id.lower(), rg.lower())])

    def list_by_subscription(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            return value_list([self.body(e) for e in self.endpoints.values()
                               if e.subscription_id.lower() == ctx.subscription_id.lower()])

    def delete(self, ctx: ArmContext) -> Response:
        """202 + Azure-AsyncOperation + Location; the endpoint, its NIC, IP and cluster connection go at the end."""
        rg, name = ctx.params["resourceGroupName"], ctx.params["privateEndpointName"]
        self.groups.require(ctx.subscription_id, rg)
        with self.cloud.arm.lock:
            ep = self.endpoints.get(key(endpoint_id(ctx.subscription_id, rg, name)))
            if ep is None:
                return Response.empty(204)
            if ep.state != "Deleting":
                ep.state = "Deleting"

                def complete() -> None:
                    self._release(ep)
                    emit_later(self.cloud, ctx, DELETE_SUCCESS, ep.id, f"{TYPE}/delete")

                def fail(error: dict[str, str]) -> None:
                    ep.state = "Failed"

                start_lro(self.cloud, ctx, ep, NAMESPACE, "privateEndpoints/delete", 1.0, complete, fail)
            assert ep.op is not None
            return Response.empty(202, self.cloud.arm.operations.headers(ctx, ep.op, location=True))

    # -- the hub's subnets and VNets, read-only (the world defines them) ----------------------
    def _subnet_body(self, subnet: Any) -> dict[str, Any]:
        eps = [e for e in self.endpoints.values() if key(e.subnet_id) == key(subnet.id)]
        return {"id": subnet.id, "name": subnet.id.rstrip("/").split("/")[-1], "etag": f'W/"{new_etag()}"',
                "type": "Microsoft.Network/virtualNetworks/subnets",
                "properties": {"provisioningState": "Succeeded", "addressPrefix": subnet.prefix,
                               "privateEndpointNetworkPolicies": "Disabled",
                               "privateLinkServiceNetworkPolicies": "Enabled",
                               "ipConfigurations": [{"id": f"{e.nic_id}/ipConfigurations/privateEndpointIpConfig"}
                                                    for e in eps],
                               "privateEndpoints": [{"id": e.id} for e in eps]}}

    def get_subnet(self, ctx: ArmContext) -> Response:
        rg, vnet, name = (ctx.params[k] for k in ("resourceGroupName", "virtualNetworkName", "subnetName"))
        self.groups.require(ctx.subscription_id, rg)
        sid = f"/subscriptions/{ctx.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/" \
              f"virtualNetworks/{vnet}/subnets/{name}"
        with self.cloud.arm.lock:
            subnet = next((s for s in self.cloud.world.subnets if key(s.id) == key(sid)), None)
            if subnet is None:
                raise not_found("Microsoft.Network/virtualNetworks/subnets", f"{vnet}/{name}", rg)
            return Response.json(200, self._subnet_body(subnet))

    def get_vnet(self, ctx: ArmContext) -> Response:
        rg, name = ctx.params["resourceGroupName"], ctx.params["virtualNetworkName"]
        self.groups.require(ctx.subscription_id, rg)
        vid = f"/subscriptions/{ctx.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/" \
              f"virtualNetworks/{name}"
        with self.cloud.arm.lock:
            subnets = [s for s in self.cloud.world.subnets if key(endpoint_ips.vnet_of(s.id)) == key(vid)]
            if not subnets:
                raise not_found("Microsoft.Network/virtualNetworks", name, rg)
            return Response.json(200, {
                "id": endpoint_ips.vnet_of(subnets[0].id), "name": name, "type": "Microsoft.Network/virtualNetworks",
                "location": "westeurope", "etag": f'W/"{new_etag()}"',
                "properties": {"provisioningState": "Succeeded",
                               "addressSpace": {"addressPrefixes": [s.prefix for s in subnets]},
                               "subnets": [self._subnet_body(s) for s in subnets]}})

    def list_nics(self, ctx: ArmContext) -> Response:
        """The endpoints' NICs of a resource group, in one page like the endpoints' list."""
        rg = ctx.params["resourceGroupName"]
        self.groups.require(ctx.subscription_id, rg)
        prefix = f"/subscriptions/{ctx.subscription_id}/resourcegroups/{rg}/".lower()
        with self.cloud.arm.lock:
            return value_list([nic for nid, nic in self.nics.items() if nid.lower().startswith(prefix)])

    def get_nic(self, ctx: ArmContext) -> Response:
        rg, name = ctx.params["resourceGroupName"], ctx.params["networkInterfaceName"]
        self.groups.require(ctx.subscription_id, rg)
        with self.cloud.arm.lock:
            nic = self.nics.get(key(nic_id(ctx.subscription_id, rg, name)))
            if nic is None:
                raise not_found(NIC_TYPE, name, rg)
            return Response.json(200, copy.deepcopy(nic), {"ETag": nic["etag"]})


def register(cloud: Any, groups: Any, clusters: Any) -> PrivateEndpoints:
    pe = PrivateEndpoints(cloud, groups, clusters)
    route = cloud.arm.route
    group = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/"
    one = group + TYPE + "/{privateEndpointName}"
    route("GET", "/subscriptions/{subscriptionId}/providers/" + TYPE, pe.list_by_subscription, action=f"{TYPE}/read")
    route("GET", group + TYPE, pe.list_by_group, action=f"{TYPE}/read")
    route("PUT", one, pe.put, action=f"{TYPE}/write")
    route("GET", one, pe.get, action=f"{TYPE}/read")
    route("DELETE", one, pe.delete, action=f"{TYPE}/delete")
    route("GET", group + NIC_TYPE + "/{networkInterfaceName}", pe.get_nic, action=f"{NIC_TYPE}/read")
    route("GET", group + NIC_TYPE, pe.list_nics, action=f"{NIC_TYPE}/read")
    vnet = group + "Microsoft.Network/virtualNetworks/{virtualNetworkName}"
    route("GET", vnet, pe.get_vnet, action="Microsoft.Network/virtualNetworks/read")
    route("GET", vnet + "/subnets/{subnetName}", pe.get_subnet, action="Microsoft.Network/virtualNetworks/subnets/read")
    return pe
