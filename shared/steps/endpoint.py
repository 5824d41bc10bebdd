"""The hub endpoint: exists, targets the path's target, is provisioned, and has a live connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.endpoints import DEFAULT_POLL_S, made_for, points_at
from shared.errors import TerminalError
from shared.model import ForeignConnection, Phase
from shared.results import Operation, Result, Wait

if TYPE_CHECKING:
    from shared.aks import Connection
    from shared.config import Hub
    from shared.endpoints import Endpoint
    from shared.link import Link

CONNECTION_WAIT_S = 5.0  # endpoint Succeeded but its connection not yet listed on the cluster side
DISCONNECTED = {"disconnected", "rejected"}


def read_endpoint(link: Link, hub: Hub) -> Endpoint | None:
    return link.read("endpoint", lambda: link.ports.endpoints.get(hub, link.cluster.endpoint_name))


def ensure_endpoint(link: Link) -> Result | None:
    """Our endpoint, settled and connected; or the operation that gets it there.

    While an operation on it runs, the endpoint is read only at Azure's pace: every read falls on
    `operation_at + k * poll_s` (see Link.until_next_poll), whichever invocation makes it, so the
    read that sees the operation end is the first one Azure's pace allows.
    """
    assert link.hub is not None and link.path is not None
    link.mark("endpoint")
    state, hub = link.state, link.hub
    pause = link.until_next_poll()
    if pause is not None and not link.poll_due and "endpoint" not in link.reads:
        return Wait(pause, link.waiting_for, _observing(link))
    link.poll_due = False
    endpoint = read_endpoint(link, hub)
    if endpoint is not None and endpoint.in_progress:
        return _running(link, endpoint)
    state.operation_at = None
    if endpoint is None:
        return _create(link)
    if not points_at(endpoint, link.path.target(link).resource_id):
        if not made_for(endpoint, link.cluster):
            raise TerminalError(
                f"hub endpoint {endpoint.name} exists but targets {endpoint.target_id}", code="EndpointNameCollision"
            )
        return _replace(link, endpoint, None)  # ours, to a target the cluster no longer uses (a moved PLS)
    ours = our_connection(link, endpoint)
    if link.just_created:
        state.endpoint_id = endpoint.id
        if ours is None:
            return Wait(CONNECTION_WAIT_S, "waiting for the connection to appear on the cluster")
        if ours.status.lower() == "pending":
            state.phase = Phase.AWAITING_APPROVAL
    elif (
        endpoint.failed
        or (endpoint.connection_status or "").lower() in DISCONNECTED
        or ours is None
        or ours.status.lower() in DISCONNECTED
    ):
        return _replace(link, endpoint, ours)
    assert ours is not None
    state.endpoint_id = endpoint.id
    link.endpoint, link.connection = endpoint, ours
    link.mark("endpoint", done=True)
    return None


def _observing(link: Link) -> Operation:
    poll_s = link.state.poll_s or DEFAULT_POLL_S
    return Operation(f"hub endpoint {link.cluster.endpoint_name}", "observe", poll_s)


def _running(link: Link, endpoint: Endpoint) -> Wait:
    """An operation on the endpoint runs: read it again at Azure's next poll (the controller may wait)."""
    state = link.state
    state.phase = Phase.PROVISIONING
    link.waiting_for = f"hub endpoint is {endpoint.provisioning_state}"
    if state.operation_at is None:  # not our operation, or its row was lost: Azure's pace from now
        state.operation_at, state.poll_s = link.clock.now(), state.poll_s or DEFAULT_POLL_S
    return Wait(link.until_next_poll() or state.poll_s or DEFAULT_POLL_S, link.waiting_for, _observing(link))


def _replace(link: Link, endpoint: Endpoint, ours: Connection | None) -> Wait:
    """A failed endpoint or a dead connection: delete the endpoint (it is recreated next)."""
    state = link.state
    why = (
        "provisioning failed"
        if endpoint.failed
        else f"connection is {(ours.status if ours else None) or endpoint.connection_status or 'gone'}"
    )
    link.log.warning("link.endpoint.stale", endpoint=endpoint.name, reason=why)
    state.step("endpoint").retries += 1
    state.phase = Phase.PROVISIONING
    state.message = f"recreating the hub endpoint ({why})"
    link.save()
    return start_delete(link, link.hub, endpoint.name)  # type: ignore[arg-type]


def start_delete(link: Link, hub: Hub, name: str) -> Wait:
    op = link.ports.endpoints.begin_delete(hub, name, within_s=link.budget_s())
    link.state.poll_s, link.state.operation_at = op.poll_s, link.clock.now()
    return Wait(op.poll_s, f"hub endpoint {name} is being deleted", op)


def _create(link: Link) -> Wait:
    state, hub = link.state, link.hub
    assert hub is not None and link.path is not None and link.live is not None
    state.phase = Phase.PROVISIONING
    state.endpoint_id = state.private_ip = state.connection_name = state.connection_status = None
    link.save()
    op = link.ports.endpoints.begin_create(
        hub, link.cluster, link.live.location, link.path.target(link), within_s=link.budget_s()
    )
    link.log.info("link.endpoint.create_started", endpoint=link.cluster.endpoint_name)
    state.poll_s, state.operation_at = op.poll_s, link.clock.now()
    return Wait(op.poll_s, "hub endpoint is being provisioned", op)


def our_connection(link: Link, endpoint: Endpoint) -> Connection | None:
    """Our connection on the target, and the other pending ones recorded for people to decide."""
    assert link.path is not None
    connections = link.path.connections(link.cluster, link.tenant, link.state)
    ours = next((c for c in connections if c.belongs_to(endpoint.id)), None)
    link.state.foreign_connections = [
        ForeignConnection(c.name, c.endpoint_id, c.status, c.description)
        for c in connections
        if not c.belongs_to(endpoint.id) and c.status.lower() == "pending"
    ]
    return ours
