"""The first step while an operation of ours on the hub endpoint runs: nothing else is read.

The step that starts an operation (create or delete of the hub endpoint) records when Azure
accepted it and its Retry-After, and returns; the continuation queue wakes the link at
`operation_at + k * poll_s`. Every invocation in between (the queue's, the timer's, an event's)
meets this step first:

    before the poll time      look again then, reading nothing (no ARM call at all)
    at the poll time          read the endpoint; still running -> look again at the next poll time
    the operation has ended   go on with the other steps (the endpoint read is reused)

So a link in provisioning costs one read per Retry-After, and the read that sees the operation
end is the first one Azure allows. Whether a poll is due comes from the row's `next_attempt_at`,
which the controller sets to that poll time whenever a step asks to look again then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.results import Result, Wait
from shared.steps.endpoint import observing, running

if TYPE_CHECKING:
    from shared.link import Link


def await_operation(link: Link) -> Result | None:
    state = link.state
    hub = link.policy.hub_for(state.region) if state.operation_at is not None and state.region else None
    if hub is None:
        return None
    recorded = next((s for s in hub.subnets if state.subnet_id and s.lower() == state.subnet_id.lower()), None)
    hub = hub.in_subnet(recorded) if recorded else hub  # our endpoint is in its subnet's resource group
    early = (state.next_attempt_at - link.clock.now()).total_seconds() if state.next_attempt_at else 0.0
    if early > 0:
        return Wait(early, state.message or link.waiting_for, observing(link), idle=True)
    endpoint = link.read("endpoint", lambda: link.ports.endpoints.get(hub, link.cluster.endpoint_name))
    link.reads.setdefault(f"cleanup:{hub.subscription_id.lower()}/{hub.resource_group.lower()}", endpoint)
    if endpoint is not None and endpoint.in_progress:
        return running(link, endpoint)
    return None
