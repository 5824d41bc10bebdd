"""Where a new hub endpoint goes: the link's own subnet, else the first of the region's with room
(shared.capacity); with no room the link waits Pending and the timer looks again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.capacity import first_with_room, level, usage_line
from shared.errors import TerminalError
from shared.model import Phase
from shared.results import Done

if TYPE_CHECKING:
    from shared.capacity import SubnetRoom
    from shared.config import Hub
    from shared.link import Link
    from shared.results import Result

CAPACITY_RECHECK_S = 300.0  # no room: the timer sweep looks again (a subnet added, an endpoint deleted)
ADDRESS_REFUSED = {"PrivateIPAddressIsAllocated", "PrivateIPAddressNotInSubnet", "PrivateIPAddressInReservedRange"}
NO_ROOM = {"SubnetIsFull", "PrivateEndpointsPerVirtualNetworkLimitReached"}


def choose_subnet(link: Link) -> Hub | Result:
    """The hub, placed in the subnet the new endpoint is created in (or a Pending result: no room).

    A link that has a subnet keeps it (its stable address is there); a new link reads the room of
    the region's subnets (one VNet read per hub VNet) and takes the first with room.
    """
    hub = link.hub
    assert hub is not None
    state = link.state
    if state.subnet_id and any(s.lower() == state.subnet_id.lower() for s in hub.subnets):
        return hub.in_subnet(state.subnet_id)
    try:
        rooms = link.ports.endpoints.subnet_room(hub, link.policy.endpoints_per_vnet)
    except TerminalError as exc:
        if exc.status != 403:
            raise
        link.log.warning("hub.capacity_unknown", region=hub.region, error=str(exc))  # role without virtualNetworks/read
        return hub.in_subnet(hub.subnets[0])
    taking = first_with_room(rooms)
    announce_level(link, hub, rooms, level(rooms, taking))
    if taking is None:
        state.phase = Phase.PENDING
        reason = f"no room in the hub for {hub.region}"
        link.log.warning("hub.no_room", region=hub.region, usage=usage_line(rooms))
        return Done(Phase.PENDING, f"{reason} ({usage_line(rooms)})", recheck_s=CAPACITY_RECHECK_S)
    return hub.in_subnet(taking.id)


def announce_level(link: Link, hub: Hub, rooms: list[SubnetRoom], now: str) -> None:
    """hub.capacity_low / hub.capacity_exhausted once per crossing (the hub row remembers the level)."""
    if not link.store.hub_level_changed(hub.region, now) or now == "ok":
        return
    total, used = sum(r.total for r in rooms), sum(r.used for r in rooms)
    link.log.warning(f"hub.capacity_{now}", region=hub.region, used=used, total=total)
    link.announce(
        f"hub.capacity_{now}",
        f"hub:{hub.region}:{now}:{link.clock.now().isoformat()}",
        hubRegion=hub.region,
        used=used,
        total=total,
        subnets=[r.public() for r in rooms],
    )
