"""The actions the product's paths need, and whether a caller's permissions grant them.

These are the actions of the custom roles infra/ deploys (main.bicep's HubLink Hub Operator,
spoke.bicep's HubLink Spoke Approver; stack/world.py registers the same lists on devcloud, and
tests/test_doctor.py checks all three agree). An access path that needs more on the spoke side
declares them as `spoke_actions` (shared.paths.base); the doctor asks for the union.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any

HUB_ACTIONS: tuple[str, ...] = (
    "Microsoft.Network/privateEndpoints/read",
    "Microsoft.Network/privateEndpoints/write",
    "Microsoft.Network/privateEndpoints/delete",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/privateDnsZones/A/read",
    "Microsoft.Network/privateDnsZones/A/write",
    "Microsoft.Network/privateDnsZones/A/delete",
    # the hub's own private.<region> zones (custom-zone and VNet-integrated clusters) and their VNet links
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/privateDnsZones/read",
    "Microsoft.Network/privateDnsZones/write",
    "Microsoft.Network/privateDnsZones/delete",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks/read",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks/write",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks/delete",
    "Microsoft.Network/virtualNetworks/join/action",
)
SPOKE_ACTIONS: tuple[str, ...] = (
    "Microsoft.ContainerService/managedClusters/read",
    "Microsoft.ContainerService/managedClusters/privateEndpointConnections/read",
    "Microsoft.ContainerService/managedClusters/privateEndpointConnections/write",
    # the vnet-integration path: our Private Link Service on kube-apiserver's load balancer frontend
    "Microsoft.Network/loadBalancers/read",
    "Microsoft.Network/loadBalancers/write",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/privateLinkServices/read",
    "Microsoft.Network/privateLinkServices/write",
    "Microsoft.Network/privateLinkServices/delete",
    "Microsoft.Network/privateLinkServices/privateEndpointConnections/write",
    # read by the doctor only: the subscription's system topic, our event subscription and its deliveries
    "Microsoft.EventGrid/systemTopics/read",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions/read",
    "Microsoft.Insights/metrics/read",
)


def spoke_actions(paths: Sequence[Any]) -> tuple[str, ...]:
    """SPOKE_ACTIONS plus whatever each access path declares it needs on the cluster side."""
    extra = [a for p in paths for a in getattr(p, "spoke_actions", ())]
    return tuple(dict.fromkeys([*SPOKE_ACTIONS, *extra]))


def granted(permissions: Iterable[dict[str, Any]], action: str) -> bool:
    """ARM's rule: some entry's `actions` match (wildcards, any case) and that entry's `notActions` do not."""
    a = action.lower()
    for entry in permissions:
        allowed = any(fnmatch.fnmatchcase(a, str(p).lower()) for p in entry.get("actions") or [])
        if allowed and not any(fnmatch.fnmatchcase(a, str(p).lower()) for p in entry.get("notActions") or []):
            return True
    return False


def missing(permissions: Iterable[dict[str, Any]], needed: Iterable[str]) -> list[str]:
    entries = list(permissions)
    return [a for a in needed if not granted(entries, a)]
