"""A private endpoint's address: static `ipConfigurations`, subnet room and the per-VNet limit.

As Azure checks them when an endpoint is created (all 400s, nothing is created):
- static ipConfigurations must name, for the connection's group, every member the target's
  private link resource requires (`requiredMembers`; `management` for a managed cluster), and
  nothing else: PrivateEndpointIpConfigurationMissingMemberNamesRequiredByFps (text as Azure
  words it, recorded in public issues); a Private Link Service target has no groups, so its one
  configuration names neither group nor member (as New-AzPrivateEndpointIpConfiguration's own
  example gives only a name and an address) [documented guess];
- a static address outside the subnet: PrivateIPAddressNotInSubnet; one of the subnet's five
  reserved addresses: PrivateIPAddressInReservedRange; one another NIC holds:
  PrivateIPAddressIsAllocated (message shape from Microsoft's docs);
- no free address left: SubnetIsFull ("... does not have enough capacity for 1 IP addresses.",
  recorded);
- a VNet holds at most `world.settings["private_endpoints_per_vnet"]` endpoints (default 1,000, the
  documented limit; 5,000 with High Scale). The code Azure answers with is not in our sources:
  `PrivateEndpointsPerVirtualNetworkLimitReached` is a documented guess.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from devcloud.arm import ArmError
from devcloud.world import subnet_hosts

DEFAULT_PER_VNET = 1000
LIMIT_CODE = "PrivateEndpointsPerVirtualNetworkLimitReached"


def _bad(code: str, message: str) -> ArmError:
    return ArmError(400, code, message)


def vnet_of(subnet_id: str) -> str:
    return subnet_id[:subnet_id.lower().index("/subnets/")] if "/subnets/" in subnet_id.lower() else subnet_id


def static_address(endpoint_id: str, ip_configs: list[Any], group_ids: list[str], required: list[str]) -> str | None:
    """The one static address asked for, after checking the configurations against the target's members."""
    if not ip_configs:
        return None
    if not isinstance(ip_configs, list) or not all(isinstance(c, dict) for c in ip_configs):
        raise _bad("InvalidRequestFormat", "Cannot parse the request: ipConfigurations must be a list of objects.")
    given = [(c.get("properties") or {}) for c in ip_configs]
    for props in given:
        try:
            ipaddress.IPv4Address(props.get("privateIPAddress"))
        except (ValueError, TypeError) as exc:
            raise _bad("InvalidPrivateIPAddressFormat", f"Private IP address {props.get('privateIPAddress')} is not "
                                                        "valid.") from exc
    group = (group_ids or [""])[0]
    have = {(str(p.get("groupId") or "").lower(), str(p.get("memberName") or "").lower()) for p in given}
    want = {(group.lower(), m.lower()) for m in required}
    if have != want or len(given) != len(want):
        shown = "; ".join(f"PrivateIPAddress: {p.get('privateIPAddress')}, GroupId: {p.get('groupId') or ''}, "
                          f"MemberName: {p.get('memberName') or ''}" for p in given)
        needed = "; ".join(f"GroupId: {group}, MemberName: {m}" for m in required)
        raise _bad("PrivateEndpointIpConfigurationMissingMemberNamesRequiredByFps",
                   f"Private Endpoint {endpoint_id} contains static ipconfigurations: [{shown}] and its missing these "
                   f"membernames/groupids requested by Private Link service [{needed}]. Private Endpoint needs to be "
                   "reconfigured with missing memberNames.")
    return given[0]["privateIPAddress"]


def check_static(subnet: Any, wanted: str, nic_config_id: str, holder: str | None) -> None:
    """Refuse a static address Azure would refuse; `holder` = the NIC ip configuration that has it."""
    net = ipaddress.ip_network(subnet.prefix)
    if ipaddress.IPv4Address(wanted) not in net:
        raise _bad("PrivateIPAddressNotInSubnet", f"Private static IP address {wanted} does not belong to the range of "
                                                  f"subnet prefix {subnet.prefix}.")
    if wanted not in subnet_hosts(subnet.prefix):
        raise _bad("PrivateIPAddressInReservedRange", f"Private static IP address {wanted} falls within reserved IP "
                                                      f"range of subnet prefix {subnet.prefix}.")
    if holder is not None:
        raise _bad("PrivateIPAddressIsAllocated", f"IP configuration {nic_config_id} is using the private IP address "
                                                  f"{wanted} which is already allocated to resource {holder}.")


def free_address(subnet: Any, used: set[str]) -> str:
    ip = next((h for h in subnet_hosts(subnet.prefix) if h not in used), None)
    if ip is None:
        raise _bad("SubnetIsFull", f"Subnet {subnet.id.rstrip('/').split('/')[-1]} with address prefix {subnet.prefix} "
                                   "does not have enough capacity for 1 IP addresses.")
    return ip


def check_vnet_room(world: Any, subnet_id: str, endpoints_in_vnet: int) -> None:
    limit = int(world.settings.get("private_endpoints_per_vnet", DEFAULT_PER_VNET))
    if endpoints_in_vnet >= limit:
        raise _bad(LIMIT_CODE, f"Virtual network {vnet_of(subnet_id)} already has {endpoints_in_vnet} private "
                               f"endpoints, the most a virtual network may hold ({limit}).")


def usage(subnet: Any, used: set[str]) -> dict[str, Any]:
    """used/total for one subnet (what the control API reports)."""
    return {"id": subnet.id, "prefix": subnet.prefix, "used": len(used), "total": len(subnet_hosts(subnet.prefix))}
