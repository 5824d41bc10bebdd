"""The last steps: the hub's DNS record (and, for a cluster without a private zone, its own hub zone),
the stable address, then Ready."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import telemetry
from shared.dns import hub_vnets
from shared.model import Phase
from shared.results import Done, Result, Wait

if TYPE_CHECKING:
    from shared.dns import DnsPlacement
    from shared.link import Link

ZONE_WAIT_S = 5.0  # Azure answered 202 for our zone or its VNet link: look again shortly


def write_dns(link: Link) -> Result | None:
    """The name kubectl uses resolves, from the hub, to our endpoint's private IP (ours, or untouched)."""
    assert link.endpoint is not None and link.placement is not None and link.hub is not None
    state, placement, owner = link.state, link.placement, link.cluster.key
    link.mark("dns")
    if placement.own_zone:
        if state.own_zone_id is None:
            state.own_zone_id = placement.zone_id
            link.save()  # the row names the zone before it exists: cleanup finds it whatever happens next
        if not link.ports.dns.ensure_zone(placement.zone_id, owner=owner, vnet_ids=hub_vnets(link.hub)):
            return Wait(ZONE_WAIT_S, f"the hub's DNS zone {placement.fqdn} is being created")
    ip = link.read("ip", lambda: link.ports.endpoints.private_ip(link.endpoint))  # or the timer's listed NIC
    assert state.zone_id and state.record_name
    # No address recorded: this link has not written the record (or removed it), so it is created
    # without a read first (shared.dns.HubDns.ensure).
    _, changed = link.ports.dns.ensure(state.zone_id, state.record_name, ip, owner=owner, expect_absent=not state.private_ip)
    if changed:
        link.log.info("link.dns.written", record=state.record_name, ip=ip, mode=state.dns_mode)
    state.private_ip = ip
    keep_address(link, ip)
    link.mark("dns", done=True)
    return None


def keep_address(link: Link, ip: str) -> None:
    """The stable hub IP: the first address is kept; a different one later is announced once (old, new)."""
    state = link.state
    if not link.policy.stable_ip:
        state.stable_ip = None
        return
    if state.stable_ip and state.stable_ip != ip:
        link.log.warning("link.ip_changed", previous=state.stable_ip, ip=ip)
        link.announce(
            "link.ip_changed",
            f"ip:{state.stable_ip}->{ip}:{state.endpoint_id}:{state.connection_name}",
            previousPrivateIp=state.stable_ip,
            newPrivateIp=ip,
        )
    state.stable_ip, state.stable_ip_failed = ip, False


def record_moved(link: Link, placement: DnsPlacement) -> bool:
    state = link.state
    if not (state.zone_id and state.record_name):
        return False
    return (state.zone_id.lower(), state.record_name.lower()) != (placement.zone_id.lower(), placement.record_name.lower())


def remove_record(link: Link) -> None:
    """Our record, then our per-cluster zone (if any), are removed; someone else's are left alone."""
    state, owner = link.state, link.cluster.key
    if state.zone_id and state.record_name:
        if link.ports.dns.delete(state.zone_id, state.record_name, owner=owner):
            link.log.info("link.dns.deleted", record=state.record_name)
    if state.own_zone_id:
        if link.ports.dns.delete_zone(state.own_zone_id, owner=owner):
            link.log.info("link.dns.zone_deleted", zone=state.own_zone_id)
        else:
            link.log.warning("link.dns.zone_not_ours", zone=state.own_zone_id)
        state.own_zone_id = None
    state.private_ip = None
    state.record_name = state.zone_id = None  # done: a pass after a wait does not look again


def ready(link: Link) -> Result:
    assert link.endpoint is not None and link.live is not None
    state = link.state
    if state.phase is not Phase.READY:
        if state.ready_at is None and state.created_at is not None:  # the first Ready: time from first sight
            telemetry.current().ready((link.clock.now() - state.created_at).total_seconds())
        state.ready_at = link.clock.now()
    state.phase = Phase.READY
    state.message = f"{state.fqdn} -> {state.private_ip} via {link.endpoint.name} ({state.dns_mode} DNS)"
    return Done(Phase.READY, state.message, recheck_s=link.policy.drift_interval_s)
