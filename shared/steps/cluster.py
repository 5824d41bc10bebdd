"""The first steps: read the cluster, decide whether it gets a link, and find its hub and path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.config import OPT_TAG
from shared.dns import dns_mode, kubectl_name
from shared.errors import TerminalError, TransientError
from shared.model import Phase
from shared.paths import path_for
from shared.results import Done, Result, Wait
from shared.steps.cleanup import cleanup
from shared.steps.record import record_moved, remove_record

if TYPE_CHECKING:
    from shared.aks import Cluster
    from shared.link import Link, Policy

# A cluster mid-operation (Creating, Updating, Starting...): the subscription's event at the
# operation's end wakes the link, so no continuation polls a create that takes minutes; the row is
# due after this long for the timer should that event be lost.
CLUSTER_WAIT_S = 60.0


def observe_cluster(link: Link) -> Result | None:
    """The cluster as it is now: gone, skipped, busy, stopped, or ready for its link."""
    link.mark("cluster")
    live = link.read("cluster", lambda: link.ports.clusters.get(link.cluster, link.tenant))
    state = link.state
    if live is None:
        unconfirmed = absence_unconfirmed(link)
        return unconfirmed or cleanup(link, reason="the cluster no longer exists", gone=True)
    state.absent_since = None
    state.region, state.cluster_etag = live.location, live.etag
    path = path_for(link.ports.paths, live) if live.private else None
    skip = skip_reason(live, link.policy) or (None if path else "no access path reaches this cluster")
    if skip:
        return cleanup(link, reason=skip)
    if live.provisioning_state.lower() != "succeeded":
        if state.phase not in (Phase.READY, Phase.PROVISIONING, Phase.AWAITING_APPROVAL):
            state.phase = Phase.PENDING
        return Wait(CLUSTER_WAIT_S, f"cluster is {live.provisioning_state}; its completion event wakes the link", by_event=True)
    if live.power_state.lower() == "stopped":
        state.phase = Phase.PENDING
        return Done(
            Phase.PENDING, "cluster is stopped; the link is repaired when it starts", recheck_s=link.policy.drift_interval_s
        )
    if not kubectl_name(live):
        what = "public FQDN (privateDNSZone none)" if dns_mode(live) == "none" else "privateFQDN"
        raise TransientError(f"the cluster reports no {what} yet", code="NoPrivateFqdn")
    link.live, link.path = live, path
    state.access_path = path.name  # type: ignore[union-attr]
    link.mark("cluster", done=True)
    return None


def absence_unconfirmed(link: Link) -> Wait | None:
    """None when the cluster's absence is confirmed; else a Wait for the read that confirms it.

    Confirmed: a fresh row (nothing of ours was recorded, so a mistaken cleanup costs nothing), a
    ResourceDeleteSuccess event for the cluster, or 404s in a row spanning HUBLINK_ABSENCE_CONFIRM_S.
    A single 404 is not proof of deletion (ARM answers a transient 404 now and then, e.g. while a
    read replica catches up), and tearing a Ready link down costs its users an outage.
    """
    state, now = link.state, link.clock.now()
    if link.fresh or link.deletion_reported or state.phase is Phase.DELETING:  # DELETING: confirmed when cleanup began
        return None
    if state.absent_since is None:
        state.absent_since = now
    left = link.policy.absence_confirm_s - (now - state.absent_since).total_seconds()
    if left <= 0:
        return None
    link.log.info("link.cluster.absence_unconfirmed", since=state.absent_since.isoformat(), confirm_in=round(left, 1))
    return Wait(left, f"the cluster read answered 404; reading again in {left:.0f}s before cleaning up")


def skip_reason(live: Cluster, policy: Policy) -> str | None:
    """Why this cluster gets no link (public, or not selected by its tag), or None."""
    if not live.private:
        return "public cluster: its API server is reachable without the hub"
    tag = live.tags.get(OPT_TAG, "").lower()
    if policy.selection == "opt-out" and tag == "disabled":
        return f"opted out by tag {OPT_TAG}=disabled"
    if policy.selection == "opt-in" and tag != "enabled":
        return f"not opted in (HUBLINK_SELECTION=opt-in needs tag {OPT_TAG}=enabled)"
    return None


def choose_hub(link: Link) -> Result | None:
    """The hub of the cluster's region, and where its record goes there."""
    assert link.live is not None and link.path is not None
    hub = link.policy.hub_for(link.live.location)
    if hub is None:
        raise TerminalError(
            f"no hub is configured for region {link.live.location!r} (HUBLINK_HUBS has: "
            f"{', '.join(sorted(link.policy.hubs)) or 'none'})",
            code="NoHubForRegion",
        )
    placement = link.path.placement(link, hub)
    state = link.state
    if record_moved(link, placement):  # the name or zone changed (a mode change): the old record goes first
        remove_record(link)
    state.zone_id, state.fqdn, state.record_name = placement.zone_id, placement.fqdn, placement.record_name
    state.dns_mode = placement.mode
    state.endpoint_name = link.cluster.endpoint_name
    link.placement = placement
    recorded = next((s for s in hub.subnets if state.subnet_id and s.lower() == state.subnet_id.lower()), None)
    link.hub = hub.in_subnet(recorded) if recorded else hub  # our endpoint is in its subnet's resource group
    return None


def prepare_target(link: Link) -> Result | None:
    """Whatever the path needs on the cluster side before the hub endpoint can target it."""
    assert link.path is not None
    return link.path.prepare(link)
