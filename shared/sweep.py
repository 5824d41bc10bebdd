"""The timer backstop: reconcile what is due, now and then discover clusters we never heard of,
and send again the notices that failed on links nobody reconciles soon.

What is due is first compared with the hub's and the spokes' state read in pages (shared.observe):
due links whose state matches their row only have their next check moved on, and links not due
whose hub state drifted are reconciled now; per-link reads are for the links that need acting on."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.controller import LEASE_MARGIN_S
from shared.errors import ConcurrentUpdate, HubLinkError, InvalidInput
from shared.ids import ClusterId
from shared.log import get_logger
from shared.model import Phase
from shared.observe import hub_drift, observe, recheck_in, seeds
from shared.state import Leased

if TYPE_CHECKING:
    from shared.link import Seeds
    from shared.model import LinkState
    from shared.service import Service

log = get_logger("hublink.sweep")
QUEUE_GRACE = timedelta(seconds=60)


@dataclass
class SweepReport:
    due: int = 0
    reconciled: int = 0
    discovered: int = 0
    deferred: int = 0  # left for the next run: the time budget ran out
    redelivered: int = 0  # links whose failed notices were sent again
    checked: int = 0  # due links whose listed state matched their row: next check moved on, no reconcile
    drifted: int = 0  # links not due whose listed hub state differs from their row: reconciled now
    phases: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Discovery:
    """Discovery runs on the first sweep of a process and then every HUBLINK_DISCOVERY_INTERVAL_S."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.last: float | None = None

    def due(self, now: float) -> bool:
        if self.last is None or now - self.last >= self.interval_s:
            self.last = now
            return True
        return False


def sweep(
    svc: Service,
    *,
    budget_s: float,
    concurrency: int,
    discover: bool,
    thread_init: Callable[[], None] | None = None,
) -> SweepReport:
    """One timer run. `thread_init` runs on each pool thread first (shared.invocation: the
    invocation id the Functions host needs to keep those threads' log lines)."""
    clock = svc.clock
    started = clock.monotonic()
    deadline = started + budget_s
    report = SweepReport()
    now = clock.now()
    # A link waiting on an endpoint operation has its continuation in the queue: the timer steps in
    # only when that is a minute late (a lost message), not beside it.
    due = [r for r in svc.store.due(now) if not (r.operation_at and r.next_attempt_at and r.next_attempt_at > now - QUEUE_GRACE)]
    report.due = len(due)
    rows = svc.store.list() if due or discover else []
    ids, seeds = _to_act_on(svc, rows, due, concurrency, report, thread_init) if due else ([], {})
    if discover:
        known = {s.cluster_id.lower(): s for s in rows}
        seen = {i.lower() for i in ids} | {s.cluster_id.lower() for s in due}
        for cid in discover_clusters(svc, known):
            if cid.lower() not in seen:
                ids.append(cid)
                seen.add(cid.lower())
                report.discovered += 1
    _run_bounded(svc, ids, deadline, concurrency, report, thread_init, seeds)
    report.redelivered = _redeliver(svc, {i.lower() for i in ids}, deadline)
    log.info(
        "sweep.done",
        due=report.due,
        checked=report.checked,
        drifted=report.drifted,
        discovered=report.discovered,
        reconciled=report.reconciled,
        deferred=report.deferred,
        redelivered=report.redelivered,
        seconds=round(clock.monotonic() - started, 2),
    )
    return report


def _to_act_on(
    svc: Service,
    rows: list[LinkState],
    due: list[LinkState],
    concurrency: int,
    report: SweepReport,
    thread_init: Callable[[], None] | None,
) -> tuple[list[str], dict[str, Seeds]]:
    """List the hub and the due links' spokes (shared.observe); move on the due links that need
    nothing; return the links to reconcile (due ones first, then drifted ones) with their seeds."""
    obs = observe(svc, rows, due, concurrency=concurrency)
    now, drift_s = svc.clock.now(), svc.controller.policy.drift_interval_s
    act: list[LinkState] = []
    checked: list[tuple[LinkState, float]] = []
    for row in due:
        after = recheck_in(row, obs, drift_s)
        (act.append(row) if after is None else checked.append((row, after)))
    due_ids = {r.cluster_id.lower() for r in due}
    drifted = [r for r in rows if r.phase is Phase.READY and r.cluster_id.lower() not in due_ids and hub_drift(r, obs)]
    report.drifted = len(drifted)

    def move_on(item: tuple[LinkState, float]) -> bool:
        row, after = item
        if svc.store.held_by_other(row):
            return False
        row.next_attempt_at = now + timedelta(seconds=after)
        try:
            svc.store.replace(row)  # with the ETag it was read with: a row changed since is left to its writer
        except ConcurrentUpdate:
            return False
        return True

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sweep", initializer=thread_init) as pool:
        report.checked = sum(pool.map(move_on, checked))
    targets = act + drifted
    return [r.cluster_id for r in targets], {r.cluster_id.lower(): seeds(r, obs) for r in targets}


def _redeliver(svc: Service, done: set[str], deadline: float) -> int:
    """Retry notices that failed to send on links nobody reconciles soon (a Failed link waits for a
    change; a Ready one for its drift check), without running reconcile again."""
    count = 0
    for listed in svc.store.undelivered():
        if svc.clock.monotonic() >= deadline or listed.cluster_id.lower() in done:
            continue
        if svc.store.held_by_other(listed):
            continue  # a reconcile holds it and delivers itself
        # Sent under the row's lease, as reconcile sends: without it an event arriving meanwhile
        # would send the same pending notice too.
        owner = uuid.uuid4().hex
        lease_s = svc.settings.notify_timeout_s + LEASE_MARGIN_S  # the webhooks' time, then the row write
        taken = svc.store.acquire(ClusterId.parse(listed.cluster_id), owner, lease_s, due_when_lost=False)
        if not isinstance(taken, Leased):
            continue  # gone, or taken by a reconcile since it was listed
        state = taken.state
        count += svc.notifier.deliver(state)
        if not svc.store.release_sent(state, owner):
            log.info("sweep.redelivery_deferred", cluster=state.cluster_id)
    return count


def _run_bounded(
    svc: Service,
    ids: list[str],
    deadline: float,
    concurrency: int,
    report: SweepReport,
    thread_init: Callable[[], None] | None,
    seeds: dict[str, Seeds],
) -> None:
    def one(cid: str) -> str:
        remaining = deadline - svc.clock.monotonic()
        if remaining < 2:
            return "deferred"
        seed = seeds.get(cid.lower())
        outcome = svc.reconcile(cid, budget_s=min(svc.event_budget_s, remaining), follow_up="timer", seeds=seed)
        return str(outcome.phase)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sweep", initializer=thread_init) as pool:
        futures = {pool.submit(one, cid): cid for cid in ids}
        for fut in as_completed(futures):
            try:
                phase = fut.result()
            except Exception as exc:  # one bad link must not stop the sweep
                report.errors.append(f"{futures[fut]}: {type(exc).__name__}: {exc}")
                log.error("sweep.link_failed", cluster=futures[fut], error=str(exc))
                continue
            if phase == "deferred":
                report.deferred += 1
            else:
                report.reconciled += 1
                report.phases[phase] = report.phases.get(phase, 0) + 1


def discover_clusters(svc: Service, known: dict[str, Any]) -> list[str]:
    """Clusters whose events were lost, and terminal failures whose cluster has changed since
    (deleted included: a link that failed while being cleaned up would otherwise keep its endpoint)."""
    found: list[str] = []
    for subscription, tenant in svc.spokes.items():
        try:
            clusters = svc.clusters.list_in_subscription(subscription, tenant)
        except HubLinkError as exc:
            log.warning("discovery.subscription_failed", subscription=subscription, error=str(exc))
            continue
        listed: set[str] = set()
        for cluster in clusters:
            try:
                cid = ClusterId.parse(cluster.id).id
            except InvalidInput:
                continue
            listed.add(cid.lower())
            row = known.get(cid.lower())
            if row is None or (row.phase is Phase.FAILED and row.cluster_etag != cluster.etag):
                found.append(cid)
        found += [
            row.cluster_id
            for key, row in known.items()
            if row.phase is Phase.FAILED and key not in listed and row.subscription_id.lower() == subscription.lower()
        ]
    return found
