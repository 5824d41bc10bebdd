"""The last steps: the hub's DNS record, then Ready."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import telemetry
from shared.model import Phase
from shared.results import Done, Result

if TYPE_CHECKING:
    from shared.link import Link


def write_dns(link: Link) -> Result | None:
    """The A record for the cluster's name points at our endpoint's private IP (ours, or untouched)."""
    assert link.endpoint is not None
    state = link.state
    link.mark("dns")
    ip = link.ports.endpoints.private_ip(link.endpoint)
    assert state.zone_id and state.record_name
    _, changed = link.ports.dns.ensure(state.zone_id, state.record_name, ip, owner=link.cluster.key)
    if changed:
        link.log.info("link.dns.written", record=state.record_name, ip=ip)
    state.private_ip = ip
    link.mark("dns", done=True)
    return None


def ready(link: Link) -> Result:
    assert link.endpoint is not None and link.live is not None
    state = link.state
    if state.phase is not Phase.READY:
        if state.ready_at is None and state.created_at is not None:  # the first Ready: time from first sight
            telemetry.current().ready((link.clock.now() - state.created_at).total_seconds())
        state.ready_at = link.clock.now()
    state.phase = Phase.READY
    state.message = f"{link.live.private_fqdn} -> {state.private_ip} via {link.endpoint.name}"
    return Done(Phase.READY, state.message, recheck_s=link.policy.drift_interval_s)
