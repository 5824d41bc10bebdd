"""Microsoft.Network/privateDnsZones: the hub zones and their A record sets.

The world's zones exist from the start. Record sets follow the Private DNS service:
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
class Zone:
    id: str
    name: str
    subscription_id: str
    resource_group: str
    tags: dict[str, str] = field(default_factory=dict)
    etag: str = field(default_factory=new_etag)
    records: dict[str, RecordSet] = field(default_factory=dict)  # lower-cased relative name -> record set

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "type": TYPE, "location": "global", "etag": self.etag,
            "properties": {
                "maxNumberOfRecordSets": 25000, "numberOfRecordSets": len(self.records) + 1,  # + the SOA
                "maxNumberOfVirtualNetworkLinks": 1000, "numberOfVirtualNetworkLinks": 0,
                "maxNumberOfVirtualNetworkLinksWithRegistration": 100, "numberOfVirtualNetworkLinksWithRegistration": 0,
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
    return Zone(resource_id, parts[-1], parts[1], parts[3])


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
            self.zones[key(zid)] = _zone_from_id(zid)

    def lookup(self, zid: str) -> Zone | None:
        """The zone, also when it was added to the world after start-up (arm.lock held)."""
        if key(zid) not in self.zones:
            world_id = next((z for z in self.cloud.world.dns_zones if key(z) == key(zid)), None)
            if world_id is None:
                return None
            self.zones[key(zid)] = _zone_from_id(world_id)
        return self.zones[key(zid)]

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
    route("GET", zone, dns.get_zone, action=f"{TYPE}/read")
    route("PUT", zone, dns.put_zone, action=f"{TYPE}/write")
    route("GET", zone + "/A", dns.list_a, action=f"{TYPE}/A/read")
    route("GET", zone + "/ALL", dns.list_all, action=f"{TYPE}/ALL/read")
    route("PUT", record, dns.put_record, action=f"{TYPE}/A/write")
    route("GET", record, dns.get_record, action=f"{TYPE}/A/read")
    route("DELETE", record, dns.delete_record, action=f"{TYPE}/A/delete")
    return dns
