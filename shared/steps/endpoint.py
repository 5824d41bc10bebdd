"""The hub endpoint: exists, targets the path's target, is provisioned, and has a live connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.config import Hub
from shared.endpoints import DEFAULT_POLL_S, made_for, points_at
from shared.errors import TerminalError, TransientError
from shared.model import ForeignConnection, Phase
from shared.results import Operation, Result, Wait
from shared.steps.subnet import ADDRESS_REFUSED, NO_ROOM, choose_subnet

if TYPE_CHECKING:
    from shared.aks import Connection
    from shared.endpoints import Endpoint
    from shared.link import Link
    from shared.paths import EndpointTarget

CONNECTION_WAIT_S = 5.0  # endpoint Succeeded but its connection not yet listed on the cluster side
DISCONNECTED = {"disconnected", "rejected"}


def read_endpoint(link: Link, hub: Hub) -> Endpoint | None:
    return link.read("endpoint", lambda: link.ports.endpoints.get(hub, link.cluster.endpoint_name))


def ensure_endpoint(link: Link) -> Result | None:
    """Our endpoint, settled and connected; or the operation that gets it there.

    While an operation on it runs, the endpoint is read only at Azure's pace (shared.steps.operation
    reads it first, at `operation_at + k * poll_s`); a step that starts one returns at once.
    """
    assert link.hub is not None and link.path is not None
    link.mark("endpoint")
    state, hub = link.state, link.hub
    endpoint = read_endpoint(link, hub)
    if endpoint is not None and endpoint.in_progress:
        return running(link, endpoint)
    created = state.operation_at is not None and state.endpoint_id is None  # the create we started has ended
    created = created and endpoint is not None and not endpoint.failed  # a failed one is replaced below
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
    if created:
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


def observing(link: Link) -> Operation:
    poll_s = link.state.poll_s or DEFAULT_POLL_S
    return Operation(f"hub endpoint {link.cluster.endpoint_name}", "observe", poll_s)


def running(link: Link, endpoint: Endpoint) -> Wait:
    """An operation on the endpoint runs: read it again at Azure's next poll time."""
    state = link.state
    if state.phase is not Phase.DELETING:
        state.phase = Phase.PROVISIONING
    link.waiting_for = f"hub endpoint is {endpoint.provisioning_state}"
    if state.operation_at is None:  # not our operation, or its row was lost: Azure's pace from now
        state.operation_at, state.poll_s = link.clock.now(), state.poll_s or DEFAULT_POLL_S
    return Wait(link.until_next_poll() or state.poll_s or DEFAULT_POLL_S, link.waiting_for, observing(link))


def _replace(link: Link, endpoint: Endpoint, ours: Connection | None) -> Wait:
    """A failed endpoint or a dead connection: delete the endpoint (it is recreated next)."""
    state = link.state
    why = (
        "provisioning failed"
        if endpoint.failed
        else f"connection is {(ours.status if ours else None) or endpoint.connection_status or 'gone'}"
    )
    link.log.warning("link.endpoint.stale", endpoint=endpoint.name, reason=why)
    if endpoint.failed and endpoint.static_ip:  # Azure refused the address late: do not ask for it again
        state.stable_ip_failed = True
    state.step("endpoint").retries += 1
    state.phase = Phase.PROVISIONING
    state.message = f"recreating the hub endpoint ({why})"
    if not link.policy.stable_ip:
        _forget_dead_record(link)  # the new endpoint gets another address: the record waits for it
    link.save()
    return start_delete(link, link.hub, endpoint.name)  # type: ignore[arg-type]


def start_delete(link: Link, hub: Hub, name: str) -> Wait:
    op = link.ports.endpoints.begin_delete(hub, name)
    link.state.poll_s, link.state.operation_at = op.poll_s, link.clock.now()
    return Wait(op.poll_s, f"hub endpoint {name} is being deleted", op)


def _create(link: Link) -> Result:
    """Create our endpoint in the subnet chosen for it, at the link's stable address when it has one."""
    state = link.state
    assert link.hub is not None and link.path is not None and link.live is not None
    placed = choose_subnet(link)
    if not isinstance(placed, Hub):
        return placed
    hub = link.hub = placed
    target = link.path.target(link)
    keep = link.policy.stable_ip and not state.stable_ip_failed and state.subnet_id == hub.subnet_id
    static = state.stable_ip if keep and target.member_names else None
    state.phase = Phase.PROVISIONING
    state.endpoint_id = state.private_ip = state.connection_name = state.connection_status = None
    state.subnet_id = hub.subnet_id
    link.save()
    try:
        op = _begin_create(link, hub, target, static)
    except TerminalError as exc:
        if static and exc.code in ADDRESS_REFUSED:  # someone took our address while the endpoint was away
            link.log.warning("link.endpoint.address_taken", ip=static, error=str(exc))
            _forget_dead_record(link)
            op = _begin_create(link, hub, target, None)
        elif exc.code in NO_ROOM:  # the room read a moment ago is gone: choose again from a fresh read
            state.subnet_id = None
            raise TransientError(f"{exc} (choosing another hub subnet)", code=exc.code, retry_after=2.0) from exc
        else:
            raise
    state.poll_s, state.operation_at = op.poll_s, link.clock.now()
    return Wait(op.poll_s, "hub endpoint is being provisioned", op)


def _begin_create(link: Link, hub: Hub, target: EndpointTarget, static: str | None) -> Operation:
    assert link.live is not None
    op = link.ports.endpoints.begin_create(hub, link.cluster, link.live.location, target, static_ip=static)
    link.log.info("link.endpoint.create_started", endpoint=link.cluster.endpoint_name, subnet=hub.subnet_id, ip=static)
    return op


def _forget_dead_record(link: Link) -> None:
    """Our record still names the address now held by someone else: remove it until ours is ready."""
    state = link.state
    if state.zone_id and state.record_name:
        link.ports.dns.delete(state.zone_id, state.record_name, owner=link.cluster.key)


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
