"""The timer backstop: reconcile what is due, now and then discover clusters we never heard of,
and send again the notices that failed on links nobody reconciles soon."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.errors import HubLinkError, InvalidInput
from shared.ids import ClusterId
from shared.log import get_logger
from shared.model import Phase

if TYPE_CHECKING:
    from shared.service import Service

log = get_logger("hublink.sweep")


@dataclass
class SweepReport:
    due: int = 0
    reconciled: int = 0
    discovered: int = 0
    deferred: int = 0  # left for the next run: the time budget ran out
    redelivered: int = 0  # links whose failed notices were sent again
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
    ids = [s.cluster_id for s in svc.store.due(clock.now())]
    report.due = len(ids)
    if discover:
        known = {s.cluster_id.lower(): s for s in svc.store.list()}
        seen = {i.lower() for i in ids}
        for cid in discover_clusters(svc, known):
            if cid.lower() not in seen:
                ids.append(cid)
                seen.add(cid.lower())
                report.discovered += 1
    _run_bounded(svc, ids, deadline, concurrency, report, thread_init)
    report.redelivered = _redeliver(svc, {i.lower() for i in ids}, deadline)
    log.info(
        "sweep.done",
        due=report.due,
        discovered=report.discovered,
        reconciled=report.reconciled,
        deferred=report.deferred,
        redelivered=report.redelivered,
        seconds=round(clock.monotonic() - started, 2),
    )
    return report


def _redeliver(svc: Service, done: set[str], deadline: float) -> int:
    """Retry notices that failed to send on links nobody reconciles soon (a Failed link waits for a
    change; a Ready one for its drift check), without running reconcile again."""
    count = 0
    for state in svc.store.undelivered():
        if svc.clock.monotonic() >= deadline or state.cluster_id.lower() in done:
            continue
        if svc.store.held_by_other(state):
            continue  # a reconcile holds it and delivers itself
        if svc.notifier.deliver(state):
            if not svc.store.release(state, owner=""):
                log.info("sweep.redelivery_deferred", cluster=state.cluster_id)
            count += 1
    return count


def _run_bounded(
    svc: Service,
    ids: list[str],
    deadline: float,
    concurrency: int,
    report: SweepReport,
    thread_init: Callable[[], None] | None,
) -> None:
    def one(cid: str) -> str:
        remaining = deadline - svc.clock.monotonic()
        if remaining < 2:
            return "deferred"
        outcome = svc.reconcile(cid, budget_s=min(svc.event_budget_s, remaining), follow_up="timer")
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
