"""Approval of our connection on the target side (the path says where that is)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import TransientError
from shared.model import Phase
from shared.results import Done, Result

if TYPE_CHECKING:
    from shared.endpoints import Endpoint
    from shared.link import Link
    from shared.model import LinkState

MANUAL_RECHECK_S = 300.0  # manual approval: the timer re-checks in case someone approved in the portal


def approve_connection(link: Link) -> Result | None:
    """Approve our Pending connection (auto mode, or a person approved this endpoint's link)."""
    assert link.endpoint is not None and link.connection is not None and link.path is not None
    state, endpoint, ours = link.state, link.endpoint, link.connection
    if ours.status.lower() == "pending":
        if link.policy.approval == "manual" and not human_approved(state, endpoint):
            state.phase = Phase.AWAITING_APPROVAL
            return Done(Phase.AWAITING_APPROVAL, "waiting for a person to approve the connection", recheck_s=MANUAL_RECHECK_S)
        link.mark("approval")
        ours = link.path.decide(
            link.cluster, link.tenant, state, ours.name, "Approved", f"Approved by aks-hublink for hub endpoint {endpoint.name}"
        )
        link.log.info("link.connection.approved", connection=ours.name)
    if ours.status.lower() != "approved":
        raise TransientError(f"connection {ours.name} is {ours.status}", code="ConnectionNotApproved")
    state.connection_name, state.connection_status = ours.name, ours.status
    link.connection = ours
    link.mark("approval", done=True)
    return None


def human_approved(state: LinkState, endpoint: Endpoint) -> bool:
    """Manual mode: a person approved this endpoint's link (audit entry for the current endpoint)."""
    return any(a.action == "approve-link" and (a.endpoint_id or "").lower() == endpoint.id.lower() for a in state.audit)
