"""`Controller.reconcile(cluster_id)`: read the actual state, take the next step, say when to look again.

Every trigger (Event Grid, queue continuation, timer, HTTP, CLI) ends here with only the cluster's
identity; nothing depends on which event arrived. The controller owns what controller-runtime's
`Reconcile` contract and kopf's handler outcomes put around the business logic:

    lease      take the row's lease (or answer busy), hold it while notices go out, release it
    steps      run the steps (shared.steps) once, until one answers with a Result (shared.results);
               nothing waits for Azure: a step that starts an operation records Azure's poll
               time and answers Wait, and the continuation queue brings the link back then
    row        Done / Wait / Transient / Terminal -> phase, attempts, backoff, next_attempt_at
    notices    planned into the row before its leased write, delivered after it
    requeue    `Outcome.requeue_after`, a returned value the triggers hand to the continuation queue

It never raises for a transient or terminal failure: they are recorded in the row and returned.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared import telemetry
from shared.clock import SYSTEM, Clock
from shared.errors import ConcurrentUpdate, SubscriptionNotConfigured, TerminalError, TransientError
from shared.ids import ClusterId
from shared.link import Link, Policy, Ports, Seeds
from shared.log import get_logger
from shared.model import LinkState, Outcome, Phase
from shared.results import Done, Result, Terminal, Transient, Wait
from shared.state import Busy, Leased, LinkStore
from shared.steps import PIPELINE, run_pass

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shared.log import EventLogger

LEASE_MARGIN_S = 30.0
SAFETY_S = 1.0  # budget kept back to write the row before the caller's deadline
ROW_CHANGED_RETRY_S = 2.0  # the row changed under us (our lease ran out): look again after this


class Notifier(Protocol):
    """Notices are planned into the row before the leased write (so a transition is announced once,
    whatever runs concurrently) and delivered after it; `deliver` returns True if the row changed."""

    def plan(self, state: LinkState, previous: Phase | None, outcome: Outcome) -> None: ...

    def announce(self, state: LinkState, kind: str, key: str, **fields: object) -> bool: ...

    def deliver(self, state: LinkState) -> bool: ...


class NoNotifier:
    def plan(self, state: LinkState, previous: Phase | None, outcome: Outcome) -> None:
        return None

    def announce(self, state: LinkState, kind: str, key: str, **fields: object) -> bool:
        return False

    def deliver(self, state: LinkState) -> bool:
        return False


@dataclass(frozen=True)
class Backoff:
    base_s: float
    max_s: float

    def delay(self, attempts: int) -> float:
        base = self.base_s * (2 ** min(attempts - 1, 16))
        return min(self.max_s, base) * random.uniform(0.8, 1.2)


@dataclass
class Budget:
    clock: Clock
    deadline: float

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.clock.monotonic() - SAFETY_S)


class Controller:
    def __init__(
        self,
        *,
        store: LinkStore,
        ports: Ports,
        policy: Policy,
        spokes: Mapping[str, str],
        backoff: Backoff,
        default_budget_s: float,
        clock: Clock = SYSTEM,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.ports = ports
        self.policy = policy
        self.spokes = spokes
        self.backoff = backoff
        self.default_budget_s = default_budget_s
        self.clock = clock
        self.notifier: Notifier = notifier or NoNotifier()

    def tenant_of(self, cluster: ClusterId) -> str:
        """The spoke tenant of the cluster's subscription; SubscriptionNotConfigured (nothing read) if none."""
        tenant = self.spokes.get(cluster.subscription_id.lower())
        if tenant is None:
            raise SubscriptionNotConfigured(cluster.subscription_id)
        return tenant

    # -- entry point ---------------------------------------------------------------------------
    def reconcile(
        self,
        cluster_id: str,
        *,
        budget_s: float | None = None,
        deletion_reported: bool = False,
        seeds: Seeds | None = None,
    ) -> Outcome:
        """Take the next steps for one cluster within `budget_s` seconds. `seeds`: reads already made
        (the timer's listed "cluster" and "endpoint", shared.observe) that the steps use instead,
        while the row is as it was when they were made.

        `deletion_reported`: a ResourceDeleteSuccess event named the cluster, so a 404 on its read
        confirms the deletion at once (otherwise a second read some seconds later must confirm it).

        Raises InvalidInput (SubscriptionNotConfigured for a subscription not in HUBLINK_SPOKES;
        nothing read or written) for an id that is not a managed cluster of a configured spoke.
        Transient and terminal failures are recorded in the row and returned, never raised.
        """
        with telemetry.current().reconcile(cluster_id) as span:  # nothing when telemetry is off
            outcome = self._reconcile(cluster_id, budget_s, deletion_reported, seeds)
            path = outcome.state.access_path if outcome.state else None
            span.set(cluster_id=outcome.cluster_id, path=path, phase=outcome.phase, outcome=_kind(outcome))
            return outcome

    def _reconcile(self, cluster_id: str, budget_s: float | None, deletion_reported: bool, seeds: Seeds | None) -> Outcome:
        cluster = ClusterId.parse(cluster_id)
        tenant = self.tenant_of(cluster)
        budget = Budget(self.clock, self.clock.monotonic() + (budget_s or self.default_budget_s))
        log = get_logger("hublink.reconcile", cluster=cluster.id)
        owner = uuid.uuid4().hex
        taken = self.store.acquire(
            cluster, owner, budget.remaining() + LEASE_MARGIN_S, new=lambda: self._new_row(cluster, tenant)
        )
        if isinstance(taken, Busy) or taken is None:
            retry_in = taken.retry_in if taken else 2.0
            log.info("link.busy", retry_in=round(retry_in, 1))
            shown = taken.state if taken else None
            return Outcome(
                cluster.id,
                shown.phase if shown else Phase.PENDING,
                "another invocation is working on this cluster",
                requeue_after=retry_in,
                busy=True,
                state=shown,
            )
        state = taken.state
        link = Link(
            cluster,
            tenant,
            state,
            taken.fresh,
            self.ports,
            self.policy,
            self.clock,
            log,
            self.store,
            budget_s=budget.remaining,
            deletion_reported=deletion_reported,
            reads=self._reads(seeds, taken, log),
        )
        link.announce = lambda kind, key, **fields: self.notifier.announce(state, kind, key, **fields)
        previous = None if taken.fresh else state.phase
        snapshot = _snapshot(state)
        result = self._run(link, budget)
        outcome = self._record(link, result, log)
        return self._finish(link, outcome, previous, snapshot, owner, log)

    @staticmethod
    def _reads(seeds: Seeds | None, taken: Leased, log: EventLogger) -> dict[str, Any]:
        """The timer's reads, unless the row changed since it listed them (then all are made afresh)."""
        if seeds is None:
            return {}
        reads = seeds.for_row(taken.read_etag)
        if not reads and seeds.reads:
            log.info("link.seeds_outdated", listed=sorted(seeds.reads))
        return reads

    def _new_row(self, cluster: ClusterId, tenant: str) -> LinkState:
        return LinkState(
            cluster_id=cluster.id,
            subscription_id=cluster.subscription_id,
            resource_group=cluster.resource_group,
            cluster_name=cluster.name,
            tenant_id=tenant,
            created_at=self.clock.now(),
            endpoint_name=cluster.endpoint_name,
        )

    # -- the steps ---------------------------------------------------------------------------------
    def _run(self, link: Link, budget: Budget) -> Result:
        """One pass of the steps: the invocation lasts as long as its ARM calls, never longer."""
        try:
            return run_pass(link, telemetry.current().steps(PIPELINE))
        except TransientError as exc:
            return Transient(exc)
        except TerminalError as exc:
            return Terminal(exc)

    # -- the row ----------------------------------------------------------------------------------
    def _record(self, link: Link, result: Result, log: EventLogger) -> Outcome:
        """What the result means for the row, and the Outcome the caller gets."""
        state, now, cid = link.state, self.clock.now(), link.cluster.id
        if isinstance(result, Done):
            if not result.gone:
                state.attempts = 0
                state.last_error = state.last_error_code = None
                state.next_attempt_at = now + timedelta(seconds=result.recheck_s) if result.recheck_s else None
            return Outcome(cid, result.phase, result.message)
        if isinstance(result, Wait):
            state.message = result.message
            state.next_attempt_at = now + timedelta(seconds=result.after_s)
            return Outcome(
                cid, state.phase, result.message, requeue_after=result.after_s, idle=result.idle, by_event=result.by_event
            )
        state.attempts += 1
        exc = result.error
        state.last_error, state.last_error_code = str(exc), exc.code
        if isinstance(result, Transient):
            delay = exc.retry_after if exc.retry_after is not None else self.backoff.delay(state.attempts)
            state.message = f"retrying in {delay:.0f}s after: {exc}"
            state.next_attempt_at = now + timedelta(seconds=delay)
            log.warning("link.transient_error", error=str(exc), attempt=state.attempts, retry_in=round(delay, 1))
            return Outcome(cid, state.phase, state.message, requeue_after=delay, error=str(exc))
        state.phase = Phase.FAILED
        state.message = str(exc)
        state.next_attempt_at = None  # waits for an event, an HTTP retry or a changed cluster
        log.error("link.failed", error=str(exc), code=exc.code)
        return Outcome(cid, Phase.FAILED, str(exc), error=str(exc), terminal=True)

    def _finish(
        self, link: Link, outcome: Outcome, previous: Phase | None, snapshot: tuple, owner: str, log: EventLogger
    ) -> Outcome:
        """Plan notices, write the row (releasing the lease unless notices go out), deliver, release."""
        state = link.state
        deleted = outcome.phase is Phase.ABSENT
        outcome = replace(outcome, state=None if deleted else state)
        self.notifier.plan(state, previous, outcome)
        announcing = bool(state.notices.pending)
        if not deleted:
            if _snapshot(state) != snapshot or link.fresh:
                state.generation += 1
            state.updated_at = self.clock.now()
            try:
                if announcing:
                    self.store.replace(state)  # still leased: notices go out under it
                else:
                    self.store.release(state, owner, strict=True)
            except ConcurrentUpdate as exc:
                return self._row_changed(link, outcome, exc, log)
        if announcing:
            self.notifier.deliver(state)
            if not deleted and not self.store.release_sent(state, owner):
                log.info("link.notices.record_deferred")  # the lease ran out while a webhook hung
        log.info("link.reconciled", phase=outcome.phase, requeue_after=outcome.requeue_after, message=outcome.message)
        return outcome

    def _row_changed(self, link: Link, outcome: Outcome, exc: ConcurrentUpdate, log: EventLogger) -> Outcome:
        """The row changed while we worked (our lease ran out and another invocation took it, or the
        row went): nothing of this run is recorded; look again soon and decide from what is there."""
        log.warning("link.row_changed", error=str(exc))
        return Outcome(
            link.cluster.id,
            outcome.phase,
            f"the link's row changed while this run worked on it; looking again in {ROW_CHANGED_RETRY_S:.0f}s",
            requeue_after=ROW_CHANGED_RETRY_S,
            error=str(exc),
        )


def _snapshot(state: LinkState) -> tuple:
    return state.phase, state.endpoint_id, state.private_ip, state.connection_status


def _kind(outcome: Outcome) -> str:
    """The outcome as a span attribute: busy | terminal | transient | wait | done."""
    if outcome.busy:
        return "busy"
    if outcome.terminal:
        return "terminal"
    if outcome.error:
        return "transient"
    return "wait" if outcome.requeue_after is not None else "done"
