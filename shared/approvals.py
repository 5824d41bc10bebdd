"""Human in the loop: approve a link (HUBLINK_APPROVAL=manual), approve or reject any pending connection.

Every decision is recorded in the link's row (`audit`: who, when, why, what, which endpoint) and
logged; who is the verified caller over HTTP (shared.authz.Caller: object id, tenant, name, user or
application), the OS user in the local CLI. Connection decisions are also announced
(`connection.approved|rejected`). Writes go through the row's lease (shared.state.LinkStore):
ETag-conditional, and never while another invocation holds it (we wait a few seconds, then answer
409 Busy). Bad input (unknown link, connection or status, a connection that is not Pending) is
refused before anything is written.

A cluster without a row is refused (404 "reconcile it first") rather than given a row here: every
private cluster of a configured spoke gets one from its events or the timer's discovery, and a
decision must hang on a row to be audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.authz import Caller
from shared.clock import iso
from shared.errors import ConcurrentUpdate, HubLinkError, Refused
from shared.ids import ClusterId
from shared.log import get_logger
from shared.model import AuditEntry, LinkState, Phase
from shared.paths import path_named
from shared.state import Busy, LinkStore

if TYPE_CHECKING:
    from shared.aks import Connection
    from shared.clock import Clock
    from shared.controller import Notifier
    from shared.paths import AccessPath

ApprovalError = Refused  # the name callers knew: a refused decision with its status and code

STATUSES = {"approved": "Approved", "rejected": "Rejected"}
BUSY_WAIT_S = 5.0  # how long a decision waits for a running reconcile to release the row
LEASE_S = 60.0  # our own lease while the ARM call runs
MAX_AUDIT = 50  # newest entries kept in the row (a table property holds 32K characters); all are logged
MAX_REASON = 500
MAX_DESCRIPTION = 140  # what the connection's description shows in the portal

log = get_logger("hublink.approvals")


Who = Caller | str  # a verified caller, or a name (the local CLI's OS user)


def identity(who: Who) -> dict[str, str | None]:
    """The audit's view of who decided: name, object id, tenant, user or application."""
    if isinstance(who, Caller):
        return {"by": who.name, "by_id": who.object_id, "by_tenant": who.tenant_id or None, "by_type": who.kind}
    return {"by": str(who)[:200], "by_id": None, "by_tenant": None, "by_type": None}


class Approvals:
    def __init__(
        self,
        *,
        store: LinkStore,
        paths: Sequence[AccessPath],
        clock: Clock,
        notifier: Notifier,
        tenant_of: Callable[[ClusterId], str],
    ) -> None:
        self.store, self.paths, self.clock, self.notifier, self.tenant_of = store, paths, clock, notifier, tenant_of

    def approve_link(self, cluster_id: str, *, who: Who, reason: Any = "", via: str = "api") -> AuditEntry:
        """Record that a person approved the link's current endpoint (the caller then reconciles it)."""
        cluster = ClusterId.parse(cluster_id)  # InvalidInput (400) for anything but a managed cluster id
        self.tenant_of(cluster)
        reason = _reason(reason)
        entries: list[AuditEntry] = []

        def change(state: LinkState) -> None:
            if state.phase is not Phase.AWAITING_APPROVAL or not state.endpoint_id:
                raise Refused(
                    409, "NotAwaitingApproval", f"the link is {state.phase}, not AwaitingApproval: there is nothing to approve"
                )
            entries[:] = [self._entry("approve-link", who, via, reason, endpoint_id=state.endpoint_id)]
            state.audit.append(entries[0])
            del state.audit[:-MAX_AUDIT]

        self.store.update(cluster, change, wait_s=BUSY_WAIT_S, missing=_no_row(cluster))
        e = entries[0]
        log.info("link.approved", cluster=cluster.id, by=e.by, by_id=e.by_id, via=via, endpoint=e.endpoint_id, reason=reason)
        return entries[0]

    def decide_connection(
        self, cluster_id: str, connection_name: Any, status: str, *, who: Who, reason: Any = "", via: str = "api"
    ) -> AuditEntry:
        """Approve or reject one Pending private endpoint connection of a linked cluster."""
        cluster = ClusterId.parse(cluster_id)
        tenant = self.tenant_of(cluster)
        wanted = _wanted(status, connection_name)
        reason = _reason(reason)
        state, path, conn = self._pending(cluster, tenant, connection_name, wanted)

        owner = uuid.uuid4().hex
        taken = self.store.acquire(cluster, owner, LEASE_S, wait_s=BUSY_WAIT_S)
        if taken is None:
            raise Refused(404, "LinkNotFound", _no_row(cluster))
        if isinstance(taken, Busy):
            raise Refused(409, "Busy", "another invocation is working on this link; try again in a few seconds")
        state = taken.state
        try:
            path.decide(
                cluster,
                tenant,
                state,
                conn.name,
                wanted,
                f"{wanted} by {identity(who)['by']} via aks-hublink: {reason}"[:MAX_DESCRIPTION],
            )
        except HubLinkError:
            self.store.release(state, owner)
            raise
        verb = "approve" if wanted == "Approved" else "reject"
        entry = self._entry(
            f"{verb}-connection", who, via, reason, connection_name=conn.name, endpoint_id=conn.endpoint_id, status=wanted
        )
        state = self._record(cluster, state, owner, conn, entry)
        log.info(
            f"connection.{wanted.lower()}",
            cluster=cluster.id,
            connection=conn.name,
            endpoint=conn.endpoint_id,
            by=entry.by,
            by_id=entry.by_id,
            via=via,
            reason=reason,
        )
        if state.lease_owner == owner:  # a notice is pending: sent under the lease, then recorded
            self.notifier.deliver(state)
            if not self.store.release_sent(state, owner):
                log.info("link.notices.record_deferred", cluster=cluster.id)
        return entry

    def _record(self, cluster: ClusterId, state: LinkState, owner: str, conn: Connection, entry: AuditEntry) -> LinkState:
        """Audit the decision, drop the connection from the foreign ones, announce it; the lease is released
        here unless the announcement waits to be sent under it."""
        wanted = entry.status or ""
        decision = {
            "connectionName": conn.name,
            "privateEndpointId": conn.endpoint_id,
            "status": wanted,
            "by": entry.by,
            "byId": entry.by_id,
            "byTenant": entry.by_tenant,
            "byType": entry.by_type,
            "via": entry.via,
            "reason": entry.reason,
            "at": entry.at,
        }
        decision = {k: v for k, v in decision.items() if v is not None}

        def record(s: LinkState) -> None:
            s.audit.append(entry)
            del s.audit[:-MAX_AUDIT]
            s.foreign_connections = [f for f in s.foreign_connections if f.name.lower() != conn.name.lower()]
            self.notifier.announce(
                s, f"connection.{wanted.lower()}", f"decision:{conn.name.lower()}:{wanted}:{entry.at}", decision=decision
            )
            if s.notices.pending:  # kept (or taken again) while they go out, as reconcile does
                s.lease_owner, s.lease_until = owner, self.clock.now() + timedelta(seconds=LEASE_S)
            elif s.lease_owner == owner:
                s.lease_owner = s.lease_until = None

        record(state)
        try:
            return self.store.replace(state)
        except ConcurrentUpdate:  # our lease ran out meanwhile: record on the row as it is now
            return self.store.update(cluster, record, owner=owner, wait_s=BUSY_WAIT_S, missing=_no_row(cluster))

    def _pending(
        self, cluster: ClusterId, tenant: str, connection_name: str, wanted: str
    ) -> tuple[LinkState, AccessPath, Connection]:
        """The row, its path and the named connection, refused unless it is Pending and may be decided."""
        state = self.store.get(cluster)
        if state is None:
            raise Refused(404, "LinkNotFound", _no_row(cluster))
        path = path_named(self.paths, state.access_path)
        connections = path.connections(cluster, tenant, state)
        conn = next((c for c in connections if c.name.lower() == connection_name.strip().lower()), None)
        if conn is None:
            names = ", ".join(c.name for c in connections) or "none"
            raise Refused(
                404, "ConnectionNotFound", f"cluster {cluster.short} has no connection {connection_name!r} (it has: {names})"
            )
        if conn.status.lower() != "pending":
            raise Refused(409, "ConnectionNotPending", f"connection {conn.name} is {conn.status}, not Pending")
        if wanted == "Rejected" and state.endpoint_id and conn.belongs_to(state.endpoint_id):
            raise Refused(
                409,
                "OwnConnection",
                f"{conn.name} is aks-hublink's own connection: it would only be "
                "recreated; to unlink the cluster tag it hublink=disabled",
            )
        return state, path, conn

    def _entry(self, action: str, who: Who, via: str, reason: str, **what: str | None) -> AuditEntry:
        return AuditEntry(action=action, via=via, at=iso(self.clock.now()) or "", reason=reason, **identity(who), **what)


def _wanted(status: str, connection_name: Any) -> str:
    """The status asked for, refused (400) unless Approved/Rejected for a plausible connection name."""
    wanted = STATUSES.get(str(status).lower())
    if wanted is None:
        raise Refused(400, "InvalidStatus", f"status must be Approved or Rejected, got {status!r}")
    if (
        not isinstance(connection_name, str)
        or not connection_name.strip()
        or len(connection_name) > 200
        or any(c in connection_name for c in "/?#\\ ")
    ):
        raise Refused(
            400,
            "InvalidConnectionName",
            "connectionName must be the name of one of the cluster's private endpoint connections",
        )
    return wanted


def _no_row(cluster: ClusterId) -> str:
    return f"no link is recorded for {cluster.id}; reconcile it first"


def _reason(reason: Any) -> str:
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise Refused(400, "InvalidReason", f"reason must be a string of at most {MAX_REASON} characters")
    return reason.strip()
