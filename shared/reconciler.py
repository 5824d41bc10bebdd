"""`reconcile(cluster_id)`: read the actual state, take the next step, say when to look again.

Every trigger (Event Grid, queue continuation, timer, HTTP, CLI) ends here with only the cluster's
identity. Nothing depends on which event arrived: the cluster, the hub endpoint, the cluster-side
connection and the DNS record are read each time, and each step is a no-op when already true.
Long-running work (the endpoint's provisioning) is started, waited for only while the budget
allows, and otherwise handed back as `Outcome.requeue_after` (the operation's Retry-After).
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from shared.aks import Cluster, ClusterApi, Connection
from shared.config import OPT_TAG, Hub, Settings
from shared.dns import HubDns, relative_name
from shared.endpoints import DEFAULT_POLL_S, Endpoint, HubEndpoints, endpoint_from_model, points_at, poll_delay
from shared.errors import InvalidInput, TerminalError, TransientError
from shared.ids import ClusterId
from shared.log import get_logger
from shared.model import LinkState, Outcome, Phase
from shared.state import ConcurrentUpdate, LinkStore

if TYPE_CHECKING:
    from shared.credentials import Credentials

CLUSTER_WAIT_S = 15.0  # cluster still Creating/Updating: look again soon
CONNECTION_WAIT_S = 5.0  # endpoint Succeeded but its connection not yet listed on the cluster side
MANUAL_RECHECK_S = 300.0  # manual approval: the timer re-checks in case someone approved in the portal
LEASE_MARGIN_S = 30.0
SAFETY_S = 1.0  # budget kept back to write the row before the caller's deadline
DISCONNECTED = {"disconnected", "rejected"}


class Clock:
    """Injectable time (tests and benchmarks drive it; the code never reads the wall clock directly)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class Notifier(Protocol):
    """Notices are planned into the row before the leased write (so a transition is announced once,
    whatever runs concurrently) and delivered after it; `deliver` returns True if the row changed."""

    def plan(self, state: LinkState, previous: Phase | None, outcome: Outcome) -> None: ...

    def deliver(self, state: LinkState) -> bool: ...


class _NoNotifier:
    def plan(self, state: LinkState, previous: Phase | None, outcome: Outcome) -> None:
        return None

    def deliver(self, state: LinkState) -> bool:
        return False


class _Requeue(Exception):
    """Stop here and look again after `after` seconds (not an error)."""

    def __init__(self, after: float, message: str) -> None:
        super().__init__(message)
        self.after = after
        self.message = message


@dataclass
class _Budget:
    clock: Clock
    deadline: float

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.clock.monotonic() - SAFETY_S)


class Reconciler:
    def __init__(self, settings: Settings, *, store: LinkStore, clusters: ClusterApi, endpoints: HubEndpoints,
                 dns: HubDns, clock: Clock | None = None, notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clusters = clusters
        self.endpoints = endpoints
        self.dns = dns
        self.clock = clock or Clock()
        self.notifier = notifier or _NoNotifier()

    @classmethod
    def from_settings(cls, settings: Settings, *, credentials: Credentials | None = None,
                      clock: Clock | None = None, notifier: Notifier | None = None) -> Reconciler:
        from shared.arm import ArmClient
        from shared.credentials import Credentials

        credentials = credentials or Credentials(settings)
        arm = ArmClient(settings, credentials)
        return cls(settings, store=LinkStore.from_settings(settings, credentials), clusters=ClusterApi(arm),
                   endpoints=HubEndpoints(settings, credentials), dns=HubDns(arm, settings.hub_tenant_id),
                   clock=clock, notifier=notifier)

    # -- entry point ---------------------------------------------------------------------------
    def reconcile(self, cluster_id: str, *, budget_s: float | None = None) -> Outcome:
        """Take the next steps for one cluster within `budget_s` seconds.

        Raises InvalidInput (nothing read or written) for an id that is not a managed cluster of a
        configured spoke subscription. Transient and terminal failures are recorded in the row and
        returned in the Outcome, never raised.
        """
        cluster = ClusterId.parse(cluster_id)
        tenant = self.settings.tenant_of(cluster.subscription_id)
        if tenant is None:
            raise InvalidInput(f"subscription {cluster.subscription_id} is not a configured spoke (HUBLINK_SPOKES)")
        budget = _Budget(self.clock, self.clock.monotonic() + (budget_s or self.settings.event_budget_s))
        log = get_logger("hublink.reconcile", cluster=cluster.id)
        lease = uuid.uuid4().hex
        state, fresh, busy_for = self._acquire(cluster, tenant, lease, budget)
        if busy_for:
            log.info("link.busy", retry_in=round(busy_for, 1))
            return Outcome(cluster.id, state.phase if state else Phase.PENDING,
                           "another invocation is working on this cluster", requeue_after=busy_for, busy=True,
                           state=state)
        previous = None if fresh else state.phase
        snapshot = (state.phase, state.endpoint_id, state.private_ip, state.connection_status)
        deleted = False
        try:
            outcome = self._converge(cluster, tenant, state, budget, fresh, log)
            deleted = outcome.phase is Phase.ABSENT
            if not deleted:
                state.attempts = 0
                state.last_error = state.last_error_code = None
        except _Requeue as rq:
            state.message = rq.message
            state.next_attempt_at = self.clock.now() + timedelta(seconds=rq.after)
            outcome = Outcome(cluster.id, state.phase, rq.message, requeue_after=rq.after)
        except TransientError as exc:
            state.attempts += 1
            delay = exc.retry_after if exc.retry_after is not None else self._backoff(state.attempts)
            state.last_error, state.last_error_code = str(exc), exc.code
            state.message = f"retrying in {delay:.0f}s after: {exc}"
            state.next_attempt_at = self.clock.now() + timedelta(seconds=delay)
            log.warning("link.transient_error", error=str(exc), attempt=state.attempts, retry_in=round(delay, 1))
            outcome = Outcome(cluster.id, state.phase, state.message, requeue_after=delay, error=str(exc))
        except TerminalError as exc:
            state.attempts += 1
            state.phase = Phase.FAILED
            state.last_error, state.last_error_code = str(exc), exc.code
            state.message = str(exc)
            state.next_attempt_at = None  # waits for an event, an HTTP retry or a changed cluster
            log.error("link.failed", error=str(exc), code=exc.code)
            outcome = Outcome(cluster.id, Phase.FAILED, str(exc), error=str(exc), terminal=True)
        outcome = replace(outcome, state=None if deleted else state)
        self.notifier.plan(state, previous, outcome)
        announcing = bool(state.notices.get("pending"))
        if not deleted:
            if (state.phase, state.endpoint_id, state.private_ip, state.connection_status) != snapshot or fresh:
                state.generation += 1
            if not announcing:
                state.lease_owner = state.lease_until = None
            state.updated_at = self.clock.now()
            self.store.replace(state)
        if announcing:
            self._deliver(state, deleted, log)
        log.info("link.reconciled", phase=outcome.phase, requeue_after=outcome.requeue_after, message=outcome.message)
        return outcome

    def _deliver(self, state: LinkState, deleted: bool, log) -> None:
        """Send planned notices still holding the lease, then record what was sent and release it.

        Released before sending, the row would let the next run (a duplicate event, the timer) post
        the same pending notice while this one is still waiting on a slow webhook.
        """
        self.notifier.deliver(state)
        if deleted:
            return
        state.lease_owner = state.lease_until = None
        try:
            self.store.replace(state)
        except ConcurrentUpdate:  # the lease ran out while a webhook hung: a later run records (and resends)
            log.info("link.notices.record_deferred")

    def _acquire(self, cluster: ClusterId, tenant: str, lease: str,
                 budget: _Budget) -> tuple[LinkState | None, bool, float]:
        """Read the row and take its lease (creating the row first if needed).

        Returns (row, fresh, busy_for): busy_for > 0 means another invocation holds the lease and
        the row (if any) is only for display.
        """
        now = self.clock.now()
        state = self.store.get(cluster)
        fresh = state is None
        if state is None:
            state = LinkState(cluster_id=cluster.id, subscription_id=cluster.subscription_id,
                              resource_group=cluster.resource_group, cluster_name=cluster.name, tenant_id=tenant,
                              created_at=now, endpoint_name=cluster.endpoint_name)
        elif state.lease_owner and state.lease_until and state.lease_until > now:
            return state, False, max(1.0, (state.lease_until - now).total_seconds())
        state.lease_owner = lease
        state.lease_until = now + timedelta(seconds=budget.remaining() + LEASE_MARGIN_S)
        try:
            state = self.store.insert(state) if fresh else self.store.replace(state)
        except ConcurrentUpdate:
            return None, False, 2.0
        return state, fresh, 0.0

    def _backoff(self, attempts: int) -> float:
        base = self.settings.backoff_base_s * (2 ** min(attempts - 1, 16))
        return min(self.settings.backoff_max_s, base) * random.uniform(0.8, 1.2)

    def _save(self, state: LinkState) -> None:
        """Persist intent before acting in Azure (the row is the finalizer)."""
        state.updated_at = self.clock.now()
        self.store.replace(state)

    def _mark(self, state: LinkState, step: str, *, done: bool = False, message: str = "") -> None:
        progress = state.step(step)
        now = self.clock.now().isoformat()
        if progress.started is None or (progress.succeeded and not done):
            progress.started, progress.succeeded = now, None
        if done:
            progress.succeeded = now
        if message:
            progress.message = message

    # -- the steps -----------------------------------------------------------------------------
    def _converge(self, cluster: ClusterId, tenant: str, state: LinkState, budget: _Budget, fresh: bool,
                  log) -> Outcome:
        # 1. the cluster
        self._mark(state, "cluster")
        live = self.clusters.get(cluster, tenant)
        if live is None:
            return self._cleanup(cluster, state, budget, fresh, log, reason="the cluster no longer exists", gone=True)
        state.region, state.cluster_etag = live.location, live.etag
        skip = self._skip_reason(live)
        if skip:
            return self._cleanup(cluster, state, budget, fresh, log, reason=skip)
        if live.provisioning_state.lower() != "succeeded":
            if state.phase not in (Phase.READY, Phase.PROVISIONING, Phase.AWAITING_APPROVAL):
                state.phase = Phase.PENDING
            raise _Requeue(CLUSTER_WAIT_S, f"cluster is {live.provisioning_state}; looking again shortly")
        if live.power_state.lower() == "stopped":
            state.phase = Phase.PENDING
            state.next_attempt_at = self.clock.now() + timedelta(seconds=self.settings.drift_interval_s)
            return Outcome(cluster.id, Phase.PENDING, "cluster is stopped; the link is repaired when it starts")
        if not live.private_fqdn:
            raise TransientError("the cluster reports no privateFQDN yet", code="NoPrivateFqdn")
        self._mark(state, "cluster", done=True)

        # 2. the hub for its region
        hub = self.settings.hub_for(live.location)
        if hub is None:
            raise TerminalError(f"no hub is configured for region {live.location!r} (HUBLINK_HUBS has: "
                                f"{', '.join(sorted(self.settings.hubs)) or 'none'})", code="NoHubForRegion")
        state.zone_id, state.fqdn = hub.dns_zone_id, live.private_fqdn
        state.record_name = relative_name(live.private_fqdn, hub.zone_name)
        state.endpoint_name = cluster.endpoint_name

        # 3. the hub endpoint, and 4. its approval on the cluster side
        endpoint, ours = self._ensure_endpoint(cluster, tenant, state, hub, live, budget, log)
        if ours.status.lower() == "pending":
            if self.settings.approval == "manual" and not _human_approved(state, endpoint):
                state.phase = Phase.AWAITING_APPROVAL
                state.next_attempt_at = self.clock.now() + timedelta(seconds=MANUAL_RECHECK_S)
                return Outcome(cluster.id, state.phase, "waiting for a person to approve the connection")
            self._mark(state, "approval")
            ours = self.clusters.set_connection_status(
                cluster, tenant, ours.name, "Approved", f"Approved by aks-hublink for hub endpoint {endpoint.name}")
            log.info("link.connection.approved", connection=ours.name)
        if ours.status.lower() != "approved":
            raise TransientError(f"connection {ours.name} is {ours.status}", code="ConnectionNotApproved")
        state.connection_name, state.connection_status = ours.name, ours.status
        self._mark(state, "approval", done=True)

        # 5. DNS in the hub
        self._mark(state, "dns")
        ip = self.endpoints.private_ip(endpoint)
        _, changed = self.dns.ensure(hub.dns_zone_id, state.record_name, ip, owner=cluster.key)
        if changed:
            log.info("link.dns.written", record=state.record_name, ip=ip)
        state.private_ip = ip
        self._mark(state, "dns", done=True)

        # 6. Ready
        if state.phase is not Phase.READY:
            state.ready_at = self.clock.now()
        state.phase = Phase.READY
        state.message = f"{live.private_fqdn} -> {ip} via {endpoint.name}"
        state.next_attempt_at = self.clock.now() + timedelta(seconds=self.settings.drift_interval_s)
        return Outcome(cluster.id, Phase.READY, state.message)

    def _skip_reason(self, live: Cluster) -> str | None:
        if not live.private:
            return "public cluster: its API server is reachable without the hub"
        tag = live.tags.get(OPT_TAG, "").lower()
        if self.settings.selection == "opt-out" and tag == "disabled":
            return f"opted out by tag {OPT_TAG}=disabled"
        if self.settings.selection == "opt-in" and tag != "enabled":
            return f"not opted in (HUBLINK_SELECTION=opt-in needs tag {OPT_TAG}=enabled)"
        return None

    def _ensure_endpoint(self, cluster: ClusterId, tenant: str, state: LinkState, hub: Hub, live: Cluster,
                         budget: _Budget, log) -> tuple[Endpoint, Connection]:
        """Make sure our hub endpoint exists, is provisioned and has a live connection on the cluster."""
        self._mark(state, "endpoint")
        endpoint = self._settled_endpoint(hub, cluster, state, budget)
        if endpoint is not None:
            if not points_at(endpoint, cluster):
                raise TerminalError(f"hub endpoint {endpoint.name} exists but targets {endpoint.target_id}",
                                    code="EndpointNameCollision")
            ours = self._our_connection(cluster, tenant, state, endpoint)
            stale = endpoint.failed or (endpoint.connection_status or "").lower() in DISCONNECTED or ours is None \
                or ours.status.lower() in DISCONNECTED
            if not stale:
                state.endpoint_id = endpoint.id
                self._mark(state, "endpoint", done=True)
                return endpoint, ours  # type: ignore[return-value]
            why = ("provisioning failed" if endpoint.failed else
                   f"connection is {(ours.status if ours else None) or endpoint.connection_status or 'gone'}")
            log.warning("link.endpoint.stale", endpoint=endpoint.name, reason=why)
            state.step("endpoint").retries += 1
            state.phase = Phase.PROVISIONING
            state.message = f"recreating the hub endpoint ({why})"
            self._save(state)
            self._delete_endpoint(hub, endpoint.name, budget, state)
        state.phase = Phase.PROVISIONING
        state.endpoint_id = state.private_ip = state.connection_name = state.connection_status = None
        self._save(state)
        poller = self.endpoints.begin_create(hub, cluster, live.location, within_s=budget.remaining())
        log.info("link.endpoint.create_started", endpoint=cluster.endpoint_name)
        state.poll_s, state.operation_at = poll_delay(poller), self.clock.now()
        if not self.endpoints.wait(poller, budget.remaining(), f"create hub endpoint {cluster.endpoint_name}"):
            raise _Requeue(self._until_next_poll(state) or state.poll_s, "hub endpoint is being provisioned")
        state.operation_at = None
        endpoint = endpoint_from_model(poller.result())
        state.endpoint_id = endpoint.id
        log.info("link.endpoint.created", endpoint=endpoint.id)
        ours = self._our_connection(cluster, tenant, state, endpoint)
        if ours is None:
            raise _Requeue(CONNECTION_WAIT_S, "waiting for the connection to appear on the cluster")
        self._mark(state, "endpoint", done=True)
        state.phase = Phase.AWAITING_APPROVAL if ours.status.lower() == "pending" else state.phase
        return endpoint, ours

    def _settled_endpoint(self, hub: Hub, cluster: ClusterId, state: LinkState, budget: _Budget) -> Endpoint | None:
        """Read our endpoint; while an operation on it runs, read it again at Azure's pace within the budget.

        Azure's Retry-After counts from when it accepted the operation, so every read of a running
        operation falls on `operation_at + k * poll_s`, whichever invocation makes it (a continuation,
        which lands up to a second early, a second event, the timer): the read that sees the
        operation end is the first one Azure's pace allows, and no read is spent in between.
        """
        what = "an operation on the hub endpoint is running"
        while True:
            pause = self._until_next_poll(state)
            if pause is not None:
                if budget.remaining() < pause:
                    raise _Requeue(pause, what)
                self.clock.sleep(pause)
            endpoint = self.endpoints.get(hub, cluster.endpoint_name)
            if endpoint is None or not endpoint.in_progress:
                state.operation_at = None
                return endpoint
            state.phase = Phase.PROVISIONING
            what = f"hub endpoint is {endpoint.provisioning_state}"
            if state.operation_at is None:  # not our operation, or its row was lost: Azure's pace from now
                state.operation_at, state.poll_s = self.clock.now(), state.poll_s or DEFAULT_POLL_S

    def _until_next_poll(self, state: LinkState) -> float | None:
        """Seconds to the next `operation_at + k * poll_s` (k >= 1); None when no operation is recorded."""
        if state.operation_at is None or not state.poll_s:
            return None
        elapsed = max(0.0, (self.clock.now() - state.operation_at).total_seconds())
        return state.poll_s - elapsed % state.poll_s

    def _our_connection(self, cluster: ClusterId, tenant: str, state: LinkState, endpoint: Endpoint) -> Connection | None:
        connections = self.clusters.connections(cluster, tenant)
        ours = next((c for c in connections if c.belongs_to(endpoint.id)), None)
        state.foreign_connections = [
            {"name": c.name, "privateEndpointId": c.endpoint_id, "status": c.status, "description": c.description}
            for c in connections if not c.belongs_to(endpoint.id) and c.status.lower() == "pending"]
        return ours

    def _delete_endpoint(self, hub: Hub, name: str, budget: _Budget, state: LinkState) -> None:
        poller = self.endpoints.begin_delete(hub, name, within_s=budget.remaining())
        state.poll_s, state.operation_at = poll_delay(poller), self.clock.now()
        if not self.endpoints.wait(poller, budget.remaining(), f"delete hub endpoint {name}"):
            raise _Requeue(self._until_next_poll(state) or state.poll_s, f"hub endpoint {name} is being deleted")
        state.operation_at = None

    # -- cleanup ------------------------------------------------------------------------------
    def _cleanup(self, cluster: ClusterId, state: LinkState, budget: _Budget, fresh: bool, log, *,
                 reason: str, gone: bool = False) -> Outcome:
        """Record, then endpoint, then (cluster gone) the row: each step tolerates absence.

        A row already Skipped with nothing recorded has nothing of ours to look for; a fresh row
        (no history) is searched anyway, in case a row was lost after an endpoint was created.
        """
        if fresh or state.phase is not Phase.SKIPPED or state.endpoint_id or state.record_name:
            self._mark(state, "cleanup", message=reason)
            if state.phase is not Phase.SKIPPED:
                state.phase = Phase.DELETING
            if state.zone_id and state.record_name:
                if self.dns.delete(state.zone_id, state.record_name, owner=cluster.key):
                    log.info("link.dns.deleted", record=state.record_name)
                state.private_ip = None
            for hub in self._hubs_to_search(state):
                endpoint = self.endpoints.get(hub, cluster.endpoint_name)
                if endpoint is not None and points_at(endpoint, cluster):
                    state.phase = Phase.DELETING
                    self._save(state)
                    self._delete_endpoint(hub, endpoint.name, budget, state)
                    log.info("link.endpoint.deleted", endpoint=endpoint.name)
            self._mark(state, "cleanup", done=True, message=reason)
        state.endpoint_id = state.connection_name = state.connection_status = state.private_ip = None
        state.record_name = state.zone_id = None
        if gone:
            self.store.delete(state)
            log.info("link.removed", reason=reason)
            return Outcome(cluster.id, Phase.ABSENT, f"cleaned up: {reason}")
        state.phase = Phase.SKIPPED
        state.message = reason
        state.next_attempt_at = self.clock.now() + timedelta(seconds=self.settings.drift_interval_s)
        return Outcome(cluster.id, Phase.SKIPPED, reason)

    def _hubs_to_search(self, state: LinkState) -> list[Hub]:
        """Our endpoint lives in the hub of the cluster's region; without a region, look in every hub."""
        hub = self.settings.hub_for(state.region) if state.region else None
        if hub is not None:
            return [hub]
        seen: dict[tuple[str, str], Hub] = {}
        for h in self.settings.hubs.values():
            seen.setdefault((h.subscription_id.lower(), h.resource_group.lower()), h)
        return list(seen.values())


def _human_approved(state: LinkState, endpoint: Endpoint) -> bool:
    """Manual mode: a person approved this endpoint's link (audit entry for the current endpoint)."""
    return any(a.get("action") == "approve-link" and a.get("endpointId", "").lower() == endpoint.id.lower()
               for a in state.audit)
