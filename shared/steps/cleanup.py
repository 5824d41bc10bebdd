"""Cleanup: record, then endpoint, then what the path made (a PLS), then (cluster gone) the row;
each part tolerates absence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.endpoints import made_for, points_at
from shared.model import Phase
from shared.paths import path_named
from shared.results import Done, Result

if TYPE_CHECKING:
    from shared.config import Hub
    from shared.link import Link


def cleanup(link: Link, *, reason: str, gone: bool = False) -> Result:
    """Remove everything of ours for this cluster; Skipped (it stays) or the row deleted (gone).

    A row already Skipped with nothing recorded has nothing of ours to look for; a fresh row (no
    history) is searched anyway, in case a row was lost after an endpoint was created.
    """
    from shared.steps.endpoint import running, start_delete
    from shared.steps.record import remove_record

    state = link.state
    if (
        link.fresh
        or state.phase is not Phase.SKIPPED
        or state.endpoint_id
        or state.record_name
        or state.link_service_id
        or state.own_zone_id
    ):
        link.mark("cleanup", message=reason)
        if state.phase is not Phase.SKIPPED:
            state.phase = Phase.DELETING
        if (state.zone_id and state.record_name) or state.own_zone_id:
            remove_record(link)
        for hub in hubs_to_search(link):
            key = f"cleanup:{hub.subscription_id.lower()}/{hub.resource_group.lower()}"
            endpoint = link.read(key, lambda hub=hub: link.ports.endpoints.get(hub, link.cluster.endpoint_name))
            if endpoint is not None and (points_at(endpoint, link.cluster.id) or made_for(endpoint, link.cluster)):
                state.phase = Phase.DELETING
                if endpoint.provisioning_state.lower() == "deleting":  # ours, still running: Azure's pace
                    return running(link, endpoint)
                link.save()
                link.reads[key] = None  # deleted once the operation ends
                return start_delete(link, hub, endpoint.name)
        path = path_named(link.ports.paths, state.access_path)
        if (left := path.cleanup(link)) is not None:
            return left
        link.mark("cleanup", done=True, message=reason)
    state.endpoint_id = state.connection_name = state.connection_status = state.private_ip = None
    state.record_name = state.zone_id = state.subnet_id = state.operation_at = None
    if gone:
        link.remove()
        link.log.info("link.removed", reason=reason)
        return Done(Phase.ABSENT, f"cleaned up: {reason}", gone=True)
    state.phase = Phase.SKIPPED
    state.message = reason
    return Done(Phase.SKIPPED, reason, recheck_s=link.policy.drift_interval_s)


def hubs_to_search(link: Link) -> list[Hub]:
    """Our endpoint lives in the resource group of its hub subnet: the recorded one, else each subnet of
    the cluster's region (without a region, of every hub), each resource group once."""
    state = link.state
    hub = link.policy.hub_for(state.region) if state.region else None
    hubs = [hub] if hub is not None else list(link.policy.hubs.values())
    seen: dict[tuple[str, str], Hub] = {}
    for h in hubs:
        subnets = list(h.subnets)
        if state.subnet_id and any(s.lower() == state.subnet_id.lower() for s in subnets):
            subnets = [state.subnet_id]
        for subnet in subnets:
            placed = h.in_subnet(subnet)
            seen.setdefault((placed.subscription_id.lower(), placed.resource_group.lower()), placed)
    return list(seen.values())
