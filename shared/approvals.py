"""Human in the loop: approve a link (HUBLINK_APPROVAL=manual), approve or reject any pending connection.

Every decision is recorded in the link's row (`audit`: who, when, why, what, which endpoint) and
logged; connection decisions are also announced (`connection.approved|rejected`). Writes follow
the reconciler's rules: ETag-conditional, and never while another invocation holds the row's
lease (we wait a few seconds, then answer 409 Busy). Bad input (unknown link, connection or
status, a connection that is not Pending) is refused before anything is written.

A cluster without a row is refused (404 "reconcile it first") rather than given a row here: every
private cluster of a configured spoke gets one from its events or the timer's discovery, and a
decision must hang on a row to be audited.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import HubLinkError
from shared.ids import ClusterId
from shared.log import get_logger
from shared.model import LinkState, Outcome, Phase
from shared.state import ConcurrentUpdate

if TYPE_CHECKING:
    from shared.reconciler import Reconciler

STATUSES = {"approved": "Approved", "rejected": "Rejected"}
PRINCIPAL_HEADERS = ("x-ms-client-principal-name", "x-ms-client-principal-id")  # App Service authentication
BUSY_WAIT_S = 5.0  # how long a decision waits for a running reconcile to release the row
LEASE_S = 60.0  # our own lease while the ARM call runs
MAX_AUDIT = 50  # newest entries kept in the row (a table property holds 32K characters); all are logged
MAX_REASON = 500
MAX_DESCRIPTION = 140  # what the connection's description shows in the portal

log = get_logger("hublink.approvals")


class ApprovalError(HubLinkError):
    """A refused decision, with the HTTP status and error code the API answers (nothing was written)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def caller(headers: Mapping[str, str] | None) -> str:
    """Who is asking: App Service authentication's principal, else the function key (the host names no key).

    The principal headers are trusted only as an audit label: the function key is what authorizes.
    """
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    for name in PRINCIPAL_HEADERS:
        if (lower.get(name) or "").strip():
            return lower[name].strip()[:200]
    return "function-key" if headers is not None else "unknown"


def approve_link(cluster_id: str, *, who: str, reason: str = "", via: str = "api", budget_s: float | None = None,
                 reconciler: Reconciler | None = None) -> tuple[dict[str, str], Outcome]:
    """Record that a person approved the link's current endpoint, then reconcile it on to Ready."""
    rec = _reconciler(reconciler)
    cluster, _ = _configured(rec, cluster_id)
    reason = _reason(reason)
    entry: dict[str, str] = {}

    def change(state: LinkState) -> None:
        if state.phase is not Phase.AWAITING_APPROVAL or not state.endpoint_id:
            raise ApprovalError(409, "NotAwaitingApproval", f"the link is {state.phase}, not AwaitingApproval: "
                                                            "there is nothing to approve")
        entry.clear()
        entry.update(_entry(rec, "approve-link", who, via, reason, endpointId=state.endpoint_id))
        state.audit.append(entry)
        del state.audit[:-MAX_AUDIT]

    _update(rec, cluster, change)
    log.info("link.approved", cluster=cluster.id, by=who, via=via, endpoint=entry["endpointId"], reason=reason)
    return entry, rec.reconcile(cluster.id, budget_s=budget_s)


def set_connection(cluster_id: str, connection_name: str, status: str, *, who: str, reason: str = "", via: str = "api",
                   reconciler: Reconciler | None = None) -> dict[str, str]:
    """Approve or reject one Pending private endpoint connection of a linked cluster by direct ARM call."""
    rec = _reconciler(reconciler)
    cluster, tenant = _configured(rec, cluster_id)
    wanted = STATUSES.get(str(status).lower())
    if wanted is None:
        raise ApprovalError(400, "InvalidStatus", f"status must be Approved or Rejected, got {status!r}")
    if not isinstance(connection_name, str) or not connection_name.strip() or len(connection_name) > 200 \
            or any(c in connection_name for c in "/?#\\ "):
        raise ApprovalError(400, "InvalidConnectionName", "connectionName must be the name of one of the cluster's "
                                                          "private endpoint connections")
    reason = _reason(reason)
    state = rec.store.get(cluster)
    if state is None:
        raise ApprovalError(404, "LinkNotFound", f"no link is recorded for {cluster.id}; reconcile it first")
    connections = rec.clusters.connections(cluster, tenant)
    conn = next((c for c in connections if c.name.lower() == connection_name.strip().lower()), None)
    if conn is None:
        names = ", ".join(c.name for c in connections) or "none"
        raise ApprovalError(404, "ConnectionNotFound", f"cluster {cluster.short} has no connection {connection_name!r} "
                                                       f"(it has: {names})")
    if conn.status.lower() != "pending":
        raise ApprovalError(409, "ConnectionNotPending", f"connection {conn.name} is {conn.status}, not Pending")
    if wanted == "Rejected" and state.endpoint_id and conn.belongs_to(state.endpoint_id):
        raise ApprovalError(409, "OwnConnection", f"{conn.name} is aks-hublink's own connection: it would only be "
                                                  "recreated; to unlink the cluster tag it hublink=disabled")

    lease = uuid.uuid4().hex

    def take(s: LinkState) -> None:
        s.lease_owner, s.lease_until = lease, rec.clock.now() + timedelta(seconds=LEASE_S)

    state = _update(rec, cluster, take)
    try:
        rec.clusters.set_connection_status(cluster, tenant, conn.name, wanted,
                                           f"{wanted} by {who} via aks-hublink: {reason}"[:MAX_DESCRIPTION])
    except HubLinkError:
        _release(rec, state)
        raise
    verb = "approve" if wanted == "Approved" else "reject"
    entry = _entry(rec, f"{verb}-connection", who, via, reason, connectionName=conn.name,
                   endpointId=conn.endpoint_id, status=wanted)
    decision = {"connectionName": conn.name, "privateEndpointId": conn.endpoint_id, "status": wanted, "by": who,
                "via": via, "reason": reason, "at": entry["at"]}

    def record(s: LinkState) -> None:
        s.audit.append(entry)
        del s.audit[:-MAX_AUDIT]
        s.foreign_connections = [f for f in s.foreign_connections if f.get("name", "").lower() != conn.name.lower()]
        announce = getattr(rec.notifier, "announce", None)
        if announce is not None:
            announce(s, f"connection.{wanted.lower()}", f"decision:{conn.name.lower()}:{wanted}:{entry['at']}",
                     decision=decision)
        if s.lease_owner == lease:
            s.lease_owner = s.lease_until = None

    record(state)
    try:
        state = rec.store.replace(state)
    except ConcurrentUpdate:  # our lease ran out meanwhile: record on the row as it is now
        state = _update(rec, cluster, record, lease=lease)
    log.info(f"connection.{wanted.lower()}", cluster=cluster.id, connection=conn.name, endpoint=conn.endpoint_id,
             by=who, via=via, reason=reason)
    try:
        if rec.notifier.deliver(state):
            rec.store.replace(state)
    except ConcurrentUpdate:
        log.info("link.notices.record_deferred", cluster=cluster.id)
    return entry


# -- helpers -------------------------------------------------------------------------------------
def _reconciler(reconciler: Reconciler | None) -> Reconciler:
    if reconciler is not None:
        return reconciler
    from shared.runtime import get_runtime

    return get_runtime().reconciler


def _configured(rec: Reconciler, cluster_id: str) -> tuple[ClusterId, str]:
    cluster = ClusterId.parse(cluster_id)  # InvalidInput (400) for anything but a managed cluster id
    tenant = rec.settings.tenant_of(cluster.subscription_id)
    if tenant is None:
        raise ApprovalError(404, "SubscriptionNotConfigured",
                            f"subscription {cluster.subscription_id} is not a configured spoke (HUBLINK_SPOKES)")
    return cluster, tenant


def _reason(reason: Any) -> str:
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ApprovalError(400, "InvalidReason", f"reason must be a string of at most {MAX_REASON} characters")
    return reason.strip()


def _entry(rec: Reconciler, action: str, who: str, via: str, reason: str, **what: str) -> dict[str, str]:
    return {"action": action, "by": who, "via": via, "at": rec.clock.now().isoformat().replace("+00:00", "Z"),
            "reason": reason, **what}


def _update(rec: Reconciler, cluster: ClusterId, change: Callable[[LinkState], None], *,
            lease: str | None = None) -> LinkState:
    """Read, wait while someone else holds the lease, apply `change`, write with the ETag; re-read on a race."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while True:
        state = rec.store.get(cluster)
        if state is None:
            raise ApprovalError(404, "LinkNotFound", f"no link is recorded for {cluster.id}; reconcile it first")
        leased = state.lease_owner not in (None, lease) and state.lease_until and state.lease_until > rec.clock.now()
        if not leased:
            change(state)
            try:
                return rec.store.replace(state)
            except ConcurrentUpdate:
                pass
        if time.monotonic() >= deadline:
            raise ApprovalError(409, "Busy", "another invocation is working on this link; try again in a few seconds")
        time.sleep(0.1)


def _release(rec: Reconciler, state: LinkState) -> None:
    state.lease_owner = state.lease_until = None
    try:
        rec.store.replace(state)
    except ConcurrentUpdate:
        log.warning("link.lease.release_lost", cluster=state.cluster_id)  # it expires by itself after LEASE_S
