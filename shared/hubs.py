"""HUBLINK_HUBS: each region's hub, its endpoint subnets and its zones (read by shared.config).

A region lists one hub subnet (`subnetId`) or several (`subnetIds`, in one or several hub VNets:
a new link takes the first with room, see shared.capacity), its `privatelink.<region>.azmk8s.io`
zone (`dnsZoneId`) and optionally its `private.<region>.azmk8s.io` zone (`vnetIntegrationDnsZoneId`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

SUBNET_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+"
    r"/subnets/[^/]+$",
    re.IGNORECASE,
)
ZONE_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/privateDnsZones/"
    r"(?P<zone>(?:privatelink|private)\.[a-z0-9]+\.azmk8s\.io)$",
    re.IGNORECASE,
)


def region_key(region: str) -> str:
    return region.replace(" ", "").lower()


@dataclass(frozen=True)
class Hub:
    """One region's hub: its endpoint subnets (first with room wins), and its zones.

    `subnet_id` is the first subnet (the only one in a single-subnet setting); endpoints are
    created in the resource group of the subnet they use. `private_zone_id` is the hub's
    `private.<region>.azmk8s.io` zone (clusters in a custom zone of that name, and VNet-integrated
    ones); by default it sits next to the privatelink zone.
    """

    region: str
    subnet_id: str
    dns_zone_id: str
    private_zone_id: str | None = None
    subnet_ids: tuple[str, ...] = ()

    @property
    def subnets(self) -> tuple[str, ...]:
        return self.subnet_ids or (self.subnet_id,)

    @property
    def private_zone(self) -> str:
        if self.private_zone_id:
            return self.private_zone_id
        group = self.dns_zone_id.rsplit("/providers/", 1)[0]
        return f"{group}/providers/Microsoft.Network/privateDnsZones/private.{self.region}.azmk8s.io"

    def in_subnet(self, subnet_id: str) -> Hub:
        """This hub with its endpoint in `subnet_id` (its resource group is the endpoint's)."""
        return replace(self, subnet_id=subnet_id)

    @property
    def subscription_id(self) -> str:
        return self.subnet_id.split("/")[2]

    @property
    def resource_group(self) -> str:
        return self.subnet_id.split("/")[4]

    @property
    def zone_name(self) -> str:
        return self.dns_zone_id.rstrip("/").split("/")[-1].lower()


def parse_hubs(raw: dict[str, Any], problems: list[str]) -> dict[str, Hub]:
    """HUBLINK_HUBS (already a JSON object) -> one Hub per region; every problem is appended to `problems`."""
    hubs: dict[str, Hub] = {}
    for region, hub in raw.items():
        entry = hub if isinstance(hub, dict) else {}
        subnets = _hub_subnets(problems, region, entry)
        zone = _hub_zone(problems, region, entry.get("dnsZoneId"), "dnsZoneId", "privatelink")
        private = entry.get("vnetIntegrationDnsZoneId")
        private = _hub_zone(problems, region, private, "vnetIntegrationDnsZoneId", "private") if private else None
        if subnets and zone and private is not False:
            key = region_key(region)
            hubs[key] = Hub(key, subnets[0], zone, private or None, tuple(subnets) if len(subnets) > 1 else ())
    return hubs


def _hub_subnets(problems: list[str], region: str, entry: dict[str, Any]) -> list[str]:
    """`subnetId` and/or `subnetIds` (in that order, each once): the subnets a new endpoint may use."""
    given = entry.get("subnetIds")
    listed = given if isinstance(given, list) else []
    if given is not None and not isinstance(given, list):
        problems.append(f"HUBLINK_HUBS[{region!r}].subnetIds must be a JSON list of subnet resource ids")
    candidates = ([entry["subnetId"]] if "subnetId" in entry else []) + listed
    out: list[str] = []
    for subnet in candidates:
        if not isinstance(subnet, str) or not SUBNET_ID.match(subnet):
            problems.append(f"HUBLINK_HUBS[{region!r}] names {subnet!r}, which is not a subnet resource id")
            return []
        if subnet.lower() not in {s.lower() for s in out}:
            out.append(subnet)
    if not out:
        problems.append(f"HUBLINK_HUBS[{region!r}] needs subnetId (or subnetIds): the hub subnet(s) for endpoints")
    return out


def _hub_zone(problems: list[str], region: str, zone: Any, name: str, prefix: str) -> str | bool:
    """The zone id if it is `<prefix>.<region>.azmk8s.io`, else False (the problem recorded)."""
    m = ZONE_ID.match(zone) if isinstance(zone, str) else None
    expected = f"{prefix}.{region_key(region)}.azmk8s.io"
    if not m:
        problems.append(
            f"HUBLINK_HUBS[{region!r}].{name} must be the id of a private DNS zone {prefix}.<region>.azmk8s.io, got {zone!r}"
        )
        return False
    if m.group("zone").lower() != expected:
        problems.append(f"HUBLINK_HUBS[{region!r}].{name} names zone {m.group('zone')!r}, expected {expected}")
        return False
    return zone
