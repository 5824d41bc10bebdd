"""The hub: its zones exist and are linked to the hub VNets, and its subnets have room for endpoints
(read as the endpoint step reads them: shared.endpoints.HubEndpoints.subnet_room)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.capacity import RESERVED_PER_SUBNET
from shared.doctor.report import Check, failed, passed
from shared.errors import HubLinkError

if TYPE_CHECKING:
    from shared.arm import ArmClient
    from shared.capacity import SubnetRoom
    from shared.config import Hub
    from shared.endpoints import HubEndpoints

DNS_API = "2024-06-01"
LOW_ROOM = 5  # fewer free addresses than this is reported before the subnet is full


def zone_ids(hub: Hub) -> list[str]:
    """The hub's zones: privatelink.<region> and its own private.<region> (custom zones, VNet integration)."""
    return list(dict.fromkeys([hub.dns_zone_id, hub.private_zone]))


def zone_check(arm: ArmClient, tenant: str, zone_id: str, vnets: list[str]) -> Check:
    name = zone_id.rstrip("/").split("/")[-1]
    fix_create = f"create the private DNS zone {name} (infra/main.bicep creates it) and link it to {', '.join(vnets)}"
    try:
        zone = arm.get_json(zone_id, tenant_id=tenant, api_version=DNS_API, what=f"read zone {name}", ok_missing=True)
        if zone is None:
            return failed("hub", zone_id, "zone", f"zone {name} does not exist", fix_create)
        body = arm.get_json(f"{zone_id}/virtualNetworkLinks", tenant_id=tenant, api_version=DNS_API, what=f"list links of {name}")
    except HubLinkError as exc:
        return failed("hub", zone_id, "zone", f"could not read zone {name}: {exc}", fix_create)
    linked = {str((link.get("properties") or {}).get("virtualNetwork", {}).get("id", "")).lower() for link in body["value"]}
    unlinked = [v for v in vnets if v.lower() not in linked]
    if unlinked:
        return failed(
            "hub",
            zone_id,
            "zone",
            f"zone {name} is not linked to {', '.join(unlinked)}: the hub cannot resolve the records it writes",
            f"az network private-dns link vnet create --zone-name {name} --resource-group {zone_id.split('/')[4]} "
            f"--name link-{unlinked[0].split('/')[-1]} --virtual-network {unlinked[0]} --registration-enabled false",
        )
    return passed("hub", zone_id, "zone", f"zone {name} exists and is linked to {', '.join(vnets)}")


def subnet_checks(endpoints: HubEndpoints, hub: Hub, vnet_limit: int) -> list[Check]:
    """Each hub subnet's free addresses, and its VNet's endpoint count, as the endpoint step sees them."""
    try:
        rooms = endpoints.subnet_room(hub, vnet_limit)
    except HubLinkError as exc:
        return [failed("hub", hub.subnet_id, "subnet", f"could not read the hub VNet: {exc}", "grant the hub role")]
    return [_room_check(r) for r in rooms]


def _room_check(room: SubnetRoom) -> Check:
    name = room.id.split("/")[-1]
    free = max(0, room.total - room.used)
    evidence = f"subnet {name} {room.prefix or '?'}: {room.used} of {room.total} addresses used, {free} free"
    if room.vnet_endpoints >= room.vnet_limit:
        fix = "add a subnet in another hub VNet to HUBLINK_HUBS (HUBLINK_ENDPOINTS_PER_VNET is the VNet's limit)"
        return failed("hub", room.id, "subnet", f"{evidence}; its VNet holds {room.vnet_endpoints} endpoints (the limit)", fix)
    if free < LOW_ROOM:
        fix = (
            f"add a subnet to the region's hub in HUBLINK_HUBS (a /24 holds {256 - RESERVED_PER_SUBNET} endpoints), "
            "or remove endpoints that are no longer needed"
        )
        return failed("hub", room.id, "subnet", evidence + (" (full)" if free == 0 else " (almost full)"), fix)
    return passed("hub", room.id, "subnet", evidence)
