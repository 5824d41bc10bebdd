"""The hub: its zones exist and are linked to the hub VNet, and its subnets have room for endpoints."""

from __future__ import annotations

import ipaddress
from dataclasses import fields
from typing import TYPE_CHECKING

from shared.doctor.report import Check, failed, passed
from shared.errors import HubLinkError

if TYPE_CHECKING:
    from shared.arm import ArmClient
    from shared.config import Hub

NETWORK_API = "2024-05-01"
DNS_API = "2024-06-01"
AZURE_RESERVED = 5  # the first four addresses and the last of every subnet
LOW_ROOM = 5  # fewer free addresses than this is reported before the subnet is full


def vnet_of(subnet_id: str) -> str:
    return subnet_id[: subnet_id.lower().index("/subnets/")]


def zone_ids(hub: Hub) -> list[str]:
    """Every zone a hub names (privatelink.<region>, and any other zone a path adds to Hub)."""
    ids = [getattr(hub, f.name) for f in fields(hub) if f.name.endswith("zone_id")]
    return list(dict.fromkeys(i for i in ids if i))


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


def subnet_check(arm: ArmClient, tenant: str, subnet_id: str) -> tuple[Check, dict]:
    """The subnet's free addresses (prefix size - Azure's 5 - the IP configurations in it)."""
    name = subnet_id.split("/")[-1]
    try:
        body = arm.get_json(subnet_id, tenant_id=tenant, api_version=NETWORK_API, what=f"read subnet {name}", ok_missing=True)
    except HubLinkError as exc:
        return failed("hub", subnet_id, "subnet", f"could not read subnet {name}: {exc}", "grant the hub role"), {}
    if body is None:
        return failed("hub", subnet_id, "subnet", f"subnet {name} does not exist", "fix HUBLINK_HUBS' subnetId"), {}
    props = body.get("properties") or {}
    prefix = props.get("addressPrefix") or (props.get("addressPrefixes") or [""])[0]
    size = max(0, ipaddress.ip_network(prefix).num_addresses - AZURE_RESERVED)
    used = len(props.get("ipConfigurations") or [])
    free = max(0, size - used)
    capacity = {"subnetId": subnet_id, "prefix": prefix, "size": size, "used": used, "free": free}
    evidence = f"subnet {name} {prefix}: {used} of {size} addresses used, {free} free"
    if free < LOW_ROOM:
        fix = (
            f"give the region a larger subnet (a /24 holds {256 - AZURE_RESERVED} endpoints) and point HUBLINK_HUBS "
            "at it, or remove endpoints that are no longer needed"
        )
        return failed("hub", subnet_id, "subnet", evidence + (" (full)" if free == 0 else " (almost full)"), fix), capacity
    return passed("hub", subnet_id, "subnet", evidence), capacity
