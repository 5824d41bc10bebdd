"""Microsoft.Network/privateDnsZones: private zones, their A record sets and virtual network links.

The world's zones exist from the start, each linked to every VNet of the world's hub subnets (as
the hub's infra links them); PUT creates more (the product's per-cluster zones, AKS's system zone
in a node resource group). Record sets follow the Private DNS service:
- relative names may contain dots (`dnsprefix-1a2b3c4d.<guid>`), compare case-insensitively and
  come back lower-cased; `fqdn` is `<relative>.<zone>.` with the trailing dot;
- a new etag on every change; `If-Match: <etag>` and `If-None-Match: *` give 412 PreconditionFailed;
- PUT answers 201 when it created the record set and 200 when it replaced it; DELETE 200, or 204
  when there was nothing to delete.
Errors raised by the DNS service itself (record not found, precondition failed, bad record data)
have the body `{"code", "message"}` WITHOUT the usual `{"error": ...}` wrapper, as the real
service answers (for example `{"code":"NotFound","message":"The resource record 'x' does not
exist in resource group ..."}`); errors raised by ARM (missing resource group, missing zone) keep
the wrapper. Clients must accept both.

Virtual network links (`virtualNetworkLinks/{name}`) decide what a VNet resolves (see
devcloud.resolver). Creating one needs `Microsoft.Network/virtualNetworks/join/action` on the
VNet (a linked authorization, as Azure's Private DNS Zone Contributor role grants it). A VNet can
be linked to only one zone of a given name. Zone, link and their deletes answer synchronously here
(Azure may answer 202 with Azure-AsyncOperation; clients must accept both). A zone that still has
links is not deleted: 400 `CannotDeleteResource` [documented guess: Azure refuses, the exact code
is not in our sources].
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from devcloud.arm import ArmContext, ArmError
from devcloud.httpserver import Response
from devcloud.providers.common import key, new_etag, normalize_location, not_found, precondition_failure

TYPE = "Microsoft.Network/privateDnsZones"
LINK_TYPE = f"{TYPE}/virtualNetworkLinks"
VNET_JOIN_ACTION = "Microsoft.Network/virtualNetworks/join/action"
SOA = {"host": "azureprivatedns.net", "email": "azureprivatedns-host.microsoft.com", "serialNumber": 1,
       "refreshTime": 3600, "retryTime": 300, "expireTime": 2419200, "minimumTtl": 10}


def service_error(status: int, code: str, message: str) -> ArmError:
    """An error in the DNS service's own format (no `error` wrapper)."""
    err = ArmError(status, code, message)
    err.response = Response.json(status, {"code": code, "message": message})
    return err


@dataclass
class RecordSet:
    name: str  # lower-cased relative name
    ttl: int
    a_records: list[dict[str, str]]
    metadata: dict[str, str] | None
    etag: str = field(default_factory=new_etag)


@dataclass
class Link:
    name: str
    zone_id: str
    vnet_id: str
    registration: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    etag: str = field(default_factory=new_etag)

    def body(self) -> dict[str, Any]:
        return {"id": f"{self.zone_id}/virtualNetworkLinks/{self.name}", "name": self.name, "type": LINK_TYPE,
                "etag": self.etag, "location": "global", "tags": copy.deepcopy(self.tags),
                "properties": {"virtualNetwork": {"id": self.vnet_id}, "registrationEnabled": self.registration,
                               "virtualNetworkLinkState": "Completed", "provisioningState": "Succeeded"}}


@dataclass
class Zone:
    id: str
    name: str
    subscription_id: str
    resource_group: str
    tags: dict[str, str] = field(default_factory=dict)
    etag: str = field(default_factory=new_etag)
    records: dict[str, RecordSet] = field(default_factory=dict)  # lower-cased relative name -> record set
    links: dict[str, Link] = field(default_factory=dict)  # lower-cased link name -> link

    def linked_to(self, vnet_id: str) -> bool:
        return any(key(link.vnet_id) == key(vnet_id) for link in self.links.values())

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "type": TYPE, "location": "global", "etag": self.etag,
            "properties": {
                "maxNumberOfRecordSets": 25000, "numberOfRecordSets": len(self.records) + 1,  # + the SOA
                "maxNumberOfVirtualNetworkLinks": 1000, "numberOfVirtualNetworkLinks": len(self.links),
                "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
                "numberOfVirtualNetworkLinksWithRegistration": sum(1 for x in self.links.values() if x.registration),
                "provisioningState": "Succeeded",
            },
            "tags": copy.deepcopy(self.tags),
        }

    def record_body(self, rs: RecordSet) -> dict[str, Any]:
        props: dict[str, Any] = {}
        if rs.metadata is not None:
            props["metadata"] = copy.deepcopy(rs.metadata)
        props.update(ttl=rs.ttl, fqdn=self.fqdn(rs.name), isAutoRegistered=False, aRecords=copy.deepcopy(rs.a_records))
        return {"id": f"{self.id}/A/{rs.name}", "etag": rs.etag, "name": rs.name, "type": f"{TYPE}/A",
                "properties": props}

    def soa_body(self) -> dict[str, Any]:
        return {"id": f"{self.id}/SOA/@", "etag": self.etag, "name": "@", "type": f"{TYPE}/SOA",
                "properties": {"ttl": 3600, "fqdn": self.fqdn("@"), "isAutoRegistered": False, "soaRecord": dict(SOA)}}

    def fqdn(self, relative: str) -> str:
        return f"{self.name}." if relative == "@" else f"{relative}.{self.name}."


def zone_id(subscription_id: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/{TYPE}/{name}"


def _zone_from_id(resource_id: str) -> Zone:
    parts = resource_id.strip("/").split("/")
    return Zone(resource_id, parts[-1].lower(), parts[1], parts[3])


def vnet_of(subnet_id: str) -> str:
    """The VNet id of a subnet id."""
    return subnet_id[:subnet_id.lower().index("/subnets/")]


def hub_vnets(world: Any) -> list[str]:
    """The VNets of the world's hub subnets, in order, without duplicates."""
    out: list[str] = []
    for subnet in world.subnets:
        vnet = vnet_of(subnet.id)
        if all(key(v) != key(vnet) for v in out):
            out.append(vnet)
    return out


def _record_set(request: dict[str, Any]) -> tuple[int, list[dict[str, str]], dict[str, str] | None]:
    props = request.get("properties") or {}
    ttl = props.get("ttl", 3600)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= 2147483647:
        raise service_error(400, "BadRequest", f"The value '{ttl}' of ttl is invalid.")
    records = []
    for rec in props.get("aRecords") or []:
        address = rec.get("ipv4Address") if isinstance(rec, dict) else None
        try:
            ipaddress.IPv4Address(address)
        except (ValueError, TypeError) as exc:
            raise service_error(400, "BadRequest", f"The A record '{address}' is not a valid IPv4 address.") from exc
        records.append({"ipv4Address": address})
    metadata = props.get("metadata")
    return ttl, records, copy.deepcopy(metadata) if isinstance(metadata, dict) else None


class PrivateDnsZones:
    def __init__(self, cloud: Any, groups: Any) -> None:
        self.cloud = cloud
        self.groups = groups
        self.zones: dict[str, Zone] = {}  # key(zone id) -> zone
        for zid in cloud.world.dns_zones:
            self.lookup(zid)

    def lookup(self, zid: str) -> Zone | None:
        """The zone, also when it was added to the world after start-up (arm.lock held)."""
        if key(zid) not in self.zones:
            world_id = next((z for z in self.cloud.world.dns_zones if key(z) == key(zid)), None)
            if world_id is None:
                return None
            zone = self.zones[key(zid)] = _zone_from_id(world_id)
            self.link_world_zone(zone)
        return self.zones[key(zid)]

    def link_world_zone(self, zone: Zone) -> None:
        """World zones are linked to every hub VNet (as the hub's infra does); idempotent."""
        for vnet in hub_vnets(self.cloud.world):
            if not zone.linked_to(vnet):
                name = f"link-{vnet.rstrip('/').split('/')[-1]}".lower()
                zone.links[name] = Link(name, zone.id, vnet)

    def all_zones(self) -> list[Zone]:
        """Every zone, the world's included (arm.lock held)."""
        for zid in self.cloud.world.dns_zones:
            self.lookup(zid)
        return list(self.zones.values())

    # -- what other providers do without HTTP (arm.lock held) ----------------------------------
    def ensure_zone(self, zid: str, tags: dict[str, str] | None = None) -> Zone:
        zone = self.lookup(zid)
        if zone is None:
            zone = self.zones[key(zid)] = _zone_from_id(zid)
            zone.tags = dict(tags or {})
        return zone

    def drop_zone(self, zid: str) -> None:
        self.zones.pop(key(zid), None)

    @staticmethod
    def set_a(zone: Zone, relative: str, addresses: list[str], ttl: int = 10) -> None:
        zone.records[relative.lower()] = RecordSet(relative.lower(), ttl, [{"ipv4Address": a} for a in addresses],
                                                   None)

    @staticmethod
    def link(zone: Zone, name: str, vnet_id: str) -> None:
        if not zone.linked_to(vnet_id):
            zone.links[name.lower()] = Link(name, zone.id, vnet_id)

    def _zone(self, ctx: ArmContext, *, nested: bool) -> Zone:
        rg, name = ctx.params["resourceGroupName"], ctx.params["privateZoneName"]
        self.groups.require(ctx.subscription_id, rg)
        zone = self.lookup(zone_id(ctx.subscription_id, rg, name))
        if zone is None and nested:  # ARM's text, as recorded
            verb = {"PUT": "write", "DELETE": "delete"}.get(ctx.request.method, "read")
            raise ArmError(404, "ParentResourceNotFound",
                           f"Failed to perform '{verb}' on resource(s) of type 'privateDnsZones/A', because the parent "
                           f"resource '{zone_id(ctx.subscription_id, rg, name)}' could not be found.")
        if zone is None:
            raise not_found(TYPE, name, rg)
        return zone

    # -- zones ---------------------------------------------------------------------------------
    def get_zone(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            zone = self._zone(ctx, nested=False)
            return Response.json(200, zone.body(), {"ETag": zone.etag})

    def put_zone(self, ctx: ArmContext) -> Response:
        """Synchronous here (Azure may also answer 202); location must be global."""
        rg, name = ctx.params["resourceGroupName"], ctx.params["privateZoneName"]
        self.groups.require(ctx.subscription_id, rg)
        request = ctx.body()
        location = normalize_location(str(request.get("location") or "global"))
        if location != "global":
            raise ArmError(400, "LocationNotAvailableForResourceType",
                           f"The provided location '{location}' is not available for resource type '{TYPE}'. "
                           "List of available regions for the resource type is 'global'.")
        with self.cloud.arm.lock:
            zid = zone_id(ctx.subscription_id, rg, name)
            zone = self.lookup(zid)
            failure = precondition_failure(ctx, zone.etag if zone else None)
            if failure:
                raise service_error(412, "PreconditionFailed", failure)
            created = zone is None
            if zone is None:
                zone = self.zones[key(zid)] = Zone(zid, name.lower(), ctx.subscription_id, rg)
            zone.tags = copy.deepcopy(request.get("tags") or {})
            zone.etag = new_etag()
            return Response.json(201 if created else 200, zone.body(), {"ETag": zone.etag})

    def list_zones(self, ctx: ArmContext) -> Response:
        rg = ctx.params["resourceGroupName"]
        self.groups.require(ctx.subscription_id, rg)
        with self.cloud.arm.lock:
            items = [z.body() for z in self.all_zones()
                     if (z.subscription_id.lower(), z.resource_group.lower()) == (ctx.subscription_id.lower(),
                                                                                  rg.lower())]
        return self._page(ctx, sorted(items, key=lambda b: b["name"]))

    def delete_zone(self, ctx: ArmContext) -> Response:
        rg, name = ctx.params["resourceGroupName"], ctx.params["privateZoneName"]
        self.groups.require(ctx.subscription_id, rg)
        with self.cloud.arm.lock:
            zone = self.lookup(zone_id(ctx.subscription_id, rg, name))
            failure = precondition_failure(ctx, zone.etag if zone else None)
            if failure and ctx.request.header("if-match") is not None:
                raise service_error(412, "PreconditionFailed", failure)
            if zone is None:
                return Response.empty(204)
            if zone.links:
                raise ArmError(400, "CannotDeleteResource", f"The private DNS zone '{zone.name}' cannot be deleted "
                                                            "because it has virtual network links. Delete the links "
                                                            "first.")
            if any(key(z) == key(zone.id) for z in self.cloud.world.dns_zones):
                self.cloud.world.dns_zones = [z for z in self.cloud.world.dns_zones if key(z) != key(zone.id)]
            del self.zones[key(zone.id)]
            return Response.empty(200)

    # -- virtual network links -----------------------------------------------------------------
    def _find_link(self, ctx: ArmContext) -> tuple[Zone, Link]:
        zone = self._zone(ctx, nested=True)
        link = zone.links.get(ctx.params["linkName"].lower())
        if link is None:
            raise not_found(LINK_TYPE, f"{zone.name}/{ctx.params['linkName']}", zone.resource_group)
        return zone, link

    def put_link(self, ctx: ArmContext) -> Response:
        request = ctx.body()
        props = request.get("properties") or {}
        vnet_id = (props.get("virtualNetwork") or {}).get("id")
        if not isinstance(vnet_id, str) or "/providers/microsoft.network/virtualnetworks/" not in vnet_id.lower():
            raise ArmError(400, "BadRequest", "properties.virtualNetwork.id must be the id of a virtual network.")
        registration = bool(props.get("registrationEnabled", False))
        ctx.authorize(VNET_JOIN_ACTION, vnet_id)
        with self.cloud.arm.lock:
            zone = self._zone(ctx, nested=True)
            name = ctx.params["linkName"]
            existing = zone.links.get(name.lower())
            failure = precondition_failure(ctx, existing.etag if existing else None)
            if failure:
                raise service_error(412, "PreconditionFailed", failure)
            if existing is not None and key(existing.vnet_id) != key(vnet_id):
                raise ArmError(400, "BadRequest", "The virtual network of a virtual network link cannot be changed.")
            self._refuse_same_name_link(zone, vnet_id, name)
            link = zone.links[name.lower()] = Link(name, zone.id, vnet_id, registration,
                                                   copy.deepcopy(request.get("tags") or {}))
            zone.etag = new_etag()
            return Response.json(200 if existing else 201, link.body())

    def _refuse_same_name_link(self, zone: Zone, vnet_id: str, name: str) -> None:
        """A VNet resolves a zone name through one zone only: a second zone of that name is refused."""
        for other in self.all_zones():
            if other.name == zone.name and key(other.id) != key(zone.id) and other.linked_to(vnet_id):
                raise ArmError(400, "BadRequest", f"A virtual network cannot be linked to multiple zones with "
                                                  f"overlapping namespaces. You tried to link virtual network "
                                                  f"with '{other.name}' and '{zone.name}' zones.")
        if any(key(x.vnet_id) == key(vnet_id) and x.name.lower() != name.lower() for x in zone.links.values()):
            raise ArmError(409, "Conflict", f"The virtual network '{vnet_id}' is already linked to the private DNS "
                                            f"zone '{zone.name}'.")

    def get_link(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            return Response.json(200, self._find_link(ctx)[1].body())

    def list_links(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            zone = self._zone(ctx, nested=True)
            items = [link.body() for _, link in sorted(zone.links.items())]
        return self._page(ctx, items)

    def delete_link(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            zone = self._zone(ctx, nested=True)
            link = zone.links.get(ctx.params["linkName"].lower())
            failure = precondition_failure(ctx, link.etag if link else None)
            if failure and ctx.request.header("if-match") is not None:
                raise service_error(412, "PreconditionFailed", failure)
            if link is None:
                return Response.empty(204)
            del zone.links[ctx.params["linkName"].lower()]
            zone.etag = new_etag()
            return Response.empty(200)

    # -- A record sets -------------------------------------------------------------------------
    def _missing(self, ctx: ArmContext, zone: Zone) -> ArmError:
        return service_error(404, "NotFound", f"The resource record '{ctx.params['relativeRecordSetName']}' does not "
                                              f"exist in resource group '{zone.resource_group}' of subscription "
                                              f"'{zone.subscription_id}'.")

    def put_record(self, ctx: ArmContext) -> Response:
        request = ctx.body()
        ttl, records, metadata = _record_set(request)
        with self.cloud.arm.lock:
            zone = self._zone(ctx, nested=True)
            name = ctx.params["relativeRecordSetName"].lower()
            existing = zone.records.get(name)
            failure = precondition_failure(ctx, existing.etag if existing else None)
            if failure and existing is not None:  # the service's own texts (recorded, azure-cli 2.50 and 2.51)
                what = "has been modified (etag mismatch)" if ctx.request.header("if-match") is not None else \
                    "exists already and hence cannot be created again"
                failure = f"The Record set {ctx.params['relativeRecordSetName']} {what}."
            if failure:
                raise service_error(412, "PreconditionFailed", failure)
            rs = zone.records[name] = RecordSet(name, ttl, records, metadata)
            return Response.json(200 if existing else 201, zone.record_body(rs), {"ETag": rs.etag})

    def get_record(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            zone = self._zone(ctx, nested=True)
            rs = zone.records.get(ctx.params["relativeRecordSetName"].lower())
            if rs is None:
                raise self._missing(ctx, zone)
            return Response.json(200, zone.record_body(rs), {"ETag": rs.etag})

    def delete_record(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            zone = self._zone(ctx, nested=True)
            name = ctx.params["relativeRecordSetName"].lower()
            existing = zone.records.get(name)
            failure = precondition_failure(ctx, existing.etag if existing else None)
            if failure and ctx.request.header("if-match") is not None:
                raise service_error(412, "PreconditionFailed", failure)
            if existing is None:
                return Response.empty(204)
            del zone.records[name]
            return Response.empty(200)

    def _page(self, ctx: ArmContext, items: list[dict[str, Any]]) -> Response:
        """`$top` limits a page; `nextLink` (with `$skipToken`) leads to the next one."""
        try:
            skip = int(ctx.request.query.get("$skipToken", "0"))
            top = int(ctx.request.query.get("$top", "100"))
        except ValueError as exc:
            raise service_error(400, "BadRequest", "$top and $skipToken must be integers.") from exc
        top = max(1, min(top, 1000))
        body: dict[str, Any] = {"value": items[skip:skip + top]}
        if skip + top < len(items):
            query = {k: v for k, v in ctx.request.query.items() if k != "$skipToken"}
            query["$skipToken"] = str(skip + top)
            body["nextLink"] = f"{ctx.base_url}{ctx.request.raw_path}?{urlencode(query)}"
        return Response.json(200, body)

    def list_a(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            zone = self._zone(ctx, nested=True)
            items = [zone.record_body(rs) for _, rs in sorted(zone.records.items())]
        return self._page(ctx, items)

    def list_all(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            zone = self._zone(ctx, nested=True)
            items = [zone.soa_body()] + [zone.record_body(rs) for _, rs in sorted(zone.records.items())]
        return self._page(ctx, items)


def register(cloud: Any, groups: Any) -> PrivateDnsZones:
    dns = PrivateDnsZones(cloud, groups)
    route = cloud.arm.route
    zone = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" + TYPE + "/{privateZoneName}"
    record = zone + "/A/{relativeRecordSetName}"
    links = zone + "/virtualNetworkLinks"
    route("GET", zone.rsplit("/", 1)[0], dns.list_zones, action=f"{TYPE}/read")
    route("GET", zone, dns.get_zone, action=f"{TYPE}/read")
    route("PUT", zone, dns.put_zone, action=f"{TYPE}/write")
    route("DELETE", zone, dns.delete_zone, action=f"{TYPE}/delete")
    route("GET", links, dns.list_links, action=f"{LINK_TYPE}/read")
    route("PUT", links + "/{linkName}", dns.put_link, action=f"{LINK_TYPE}/write")
    route("GET", links + "/{linkName}", dns.get_link, action=f"{LINK_TYPE}/read")
    route("DELETE", links + "/{linkName}", dns.delete_link, action=f"{LINK_TYPE}/delete")
    route("GET", zone + "/A", dns.list_a, action=f"{TYPE}/A/read")
    route("GET", zone + "/ALL", dns.list_all, action=f"{TYPE}/ALL/read")
    route("PUT", record, dns.put_record, action=f"{TYPE}/A/write")
    route("GET", record, dns.get_record, action=f"{TYPE}/A/read")
    route("DELETE", record, dns.delete_record, action=f"{TYPE}/A/delete")
    return dns
