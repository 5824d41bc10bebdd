"""Hub capacity: which of a region's hub subnets a new endpoint goes to, and how full the region is.

A region may list several hub subnets (HUBLINK_HUBS `subnetIds`, in one or several hub VNets). A
new link takes the first subnet with room: a free address (a subnet holds its address count minus
Azure's five reserved ones: a /24 fits 251 endpoints) in a VNet that holds fewer private endpoints
than its limit (HUBLINK_ENDPOINTS_PER_VNET, Azure's 1,000). What is used is read from Azure (the
VNet's subnets list their NIC ip configurations and private endpoints), not counted from our rows,
so addresses other things hold count too.

The region's level, announced once per crossing (the hub row in the state table remembers the last
level, see `LinkStore.hub_level_changed`):

    ok          below 80 % of the region's addresses
    low         80 % or more, after this link's endpoint      -> hub.capacity_low
    exhausted   no subnet has room: the link waits Pending     -> hub.capacity_exhausted
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LOW_AT = 0.8
LEVELS = ("ok", "low", "exhausted")
RESERVED_PER_SUBNET = 5  # the first four and the last address of every Azure subnet


@dataclass(frozen=True)
class SubnetRoom:
    id: str
    prefix: str
    used: int  # NIC ip configurations in the subnet (each holds one address)
    vnet_id: str
    vnet_endpoints: int  # private endpoints in the whole VNet
    vnet_limit: int

    @property
    def total(self) -> int:
        try:
            size = ipaddress.ip_network(self.prefix, strict=False).num_addresses
        except ValueError:
            return 0
        return max(0, size - RESERVED_PER_SUBNET) if size >= 8 else 0

    @property
    def has_room(self) -> bool:
        return self.used < self.total and self.vnet_endpoints < self.vnet_limit

    def public(self) -> dict[str, object]:
        return {
            "subnetId": self.id,
            "prefix": self.prefix,
            "used": self.used,
            "total": self.total,
            "vnetId": self.vnet_id,
            "vnetEndpoints": self.vnet_endpoints,
            "vnetLimit": self.vnet_limit,
            "hasRoom": self.has_room,
        }


def first_with_room(rooms: list[SubnetRoom]) -> SubnetRoom | None:
    return next((r for r in rooms if r.has_room), None)


def level(rooms: list[SubnetRoom], taking: SubnetRoom | None) -> str:
    """The region's level once this link has its address (`taking` None: it found no room)."""
    if taking is None:
        return "exhausted"
    total = sum(r.total for r in rooms)
    used = sum(r.used for r in rooms) + 1
    return "low" if total and used / total >= LOW_AT else "ok"


def current_level(rooms: list[SubnetRoom]) -> str:
    """The region's level as it is (what the status API shows)."""
    if first_with_room(rooms) is None:
        return "exhausted"
    total = sum(r.total for r in rooms)
    return "low" if total and sum(r.used for r in rooms) / total >= LOW_AT else "ok"


def rises(previous: str | None, now: str) -> bool:
    """A crossing worth a notice: the level went up (ok -> low, ok/low -> exhausted)."""
    return LEVELS.index(now) > LEVELS.index(previous if previous in LEVELS else "ok")


def usage_line(rooms: list[SubnetRoom]) -> str:
    return ", ".join(f"{r.id.rsplit('/', 1)[-1]} {r.used}/{r.total}" for r in rooms)
