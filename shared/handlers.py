"""What each trigger does, kept out of function_app.py so the triggers stay a few lines.

Each handler turns its input into cluster ids and calls `reconcile`; none looks at what an event
says beyond "this cluster may have changed" (events are hints: at least once, out of order).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from shared.errors import InvalidInput
from shared.ids import ClusterId
from shared.log import get_logger
from shared.runtime import Runtime, get_runtime

log = get_logger("hublink.triggers")

# Event Grid: which events of Microsoft.ContainerService/managedClusters are worth a look.
_WATCHED_OPERATIONS = {
    "Microsoft.Resources.ResourceWriteSuccess": {"microsoft.containerservice/managedclusters/write"},
    "Microsoft.Resources.ResourceDeleteSuccess": {"microsoft.containerservice/managedclusters/delete"},
    "Microsoft.Resources.ResourceActionSuccess": {"microsoft.containerservice/managedclusters/start/action",
                                                 "microsoft.containerservice/managedclusters/stop/action"},
}


def event_subscription_filter() -> dict[str, list[str]]:
    """What a spoke's Event Grid subscription should deliver (infra/spoke.bicep sets the same)."""
    return {"includedEventTypes": sorted(_watched_event_types()),
            "operationNames": sorted(_OPERATION_NAMES)}


_OPERATION_NAMES = {"Microsoft.ContainerService/managedClusters/write", "Microsoft.ContainerService/managedClusters/delete",
                    "Microsoft.ContainerService/managedClusters/start/action",
                    "Microsoft.ContainerService/managedClusters/stop/action"}


def _watched_event_types() -> set[str]:
    """The event type names, from azure-eventgrid's SystemEventNames (checked against our table)."""
    from azure.eventgrid import SystemEventNames

    names = {SystemEventNames.ResourceWriteSuccessEventName.value, SystemEventNames.ResourceDeleteSuccessEventName.value,
             SystemEventNames.ResourceActionSuccessEventName.value}
    assert names == set(_WATCHED_OPERATIONS), names
    return names


def cluster_from_event(event_type: str, subject: str | None, data: Any) -> ClusterId | None:
    """The cluster an Event Grid event is about, or None when the event is not ours to act on."""
    if event_type not in _watched_event_types():
        return None
    data = data if isinstance(data, dict) else {}
    operation = str(data.get("operationName") or "").lower()
    if operation and operation not in _WATCHED_OPERATIONS[event_type]:
        return None  # e.g. listClusterUserCredential/action, agentPools/write
    try:
        return ClusterId.parse(data.get("resourceUri") or subject or "")
    except InvalidInput:
        return None


def _continue_if_needed(rt: Runtime, outcome: Any, reason: str) -> None:
    if outcome.requeue_after is not None and not outcome.busy:
        rt.continuations.schedule(outcome.cluster_id, outcome.requeue_after, reason=reason)


def handle_event(event_type: str, subject: str | None, data: Any, event_id: str | None = None) -> str:
    """Event Grid: act at once within the event budget; continue later through the queue."""
    cluster = cluster_from_event(event_type, subject, data)
    if cluster is None:
        log.debug("event.ignored", event_type=event_type, subject=subject, event_id=event_id)
        return "ignored"
    rt = get_runtime()
    if rt.settings.tenant_of(cluster.subscription_id) is None:
        log.warning("event.unconfigured_subscription", cluster=cluster.id, event_id=event_id)
        return "ignored"
    outcome = rt.reconciler.reconcile(cluster.id, budget_s=rt.settings.event_budget_s)
    _continue_if_needed(rt, outcome, "event")
    return str(outcome.phase)


def handle_continuation(body: bytes | str) -> str:
    """Queue trigger: the delayed "look again" a reconcile asked for."""
    from shared.continuation import parse_message

    try:
        cluster_id = parse_message(body)
    except InvalidInput as exc:
        log.warning("continuation.ignored", error=str(exc))
        return "ignored"
    rt = get_runtime()
    try:
        outcome = rt.reconciler.reconcile(cluster_id, budget_s=rt.settings.event_budget_s)
    except InvalidInput as exc:  # e.g. the subscription was removed from the settings since
        log.warning("continuation.ignored", cluster=cluster_id, error=str(exc))
        return "ignored"
    _continue_if_needed(rt, outcome, "continuation")
    return str(outcome.phase)


@dataclass
class SweepReport:
    due: int = 0
    reconciled: int = 0
    discovered: int = 0
    deferred: int = 0  # left for the next run: the time budget ran out
    redelivered: int = 0  # links whose failed notices were sent again
    phases: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def sweep(*, runtime: Runtime | None = None, discover: bool | None = None) -> SweepReport:
    """Timer backstop: reconcile what is due; now and then list spokes for clusters we never heard of."""
    rt = runtime or get_runtime()
    started = time.monotonic()
    deadline = started + rt.settings.timer_budget_s
    report = SweepReport()
    ids = [s.cluster_id for s in rt.reconciler.store.due(rt.reconciler.clock.now())]
    report.due = len(ids)
    if discover if discover is not None else _discovery_due(rt):
        known = {s.cluster_id.lower(): s for s in rt.reconciler.store.list()}
        for cid in _discover(rt, known):
            if cid.lower() not in {i.lower() for i in ids}:
                ids.append(cid)
                report.discovered += 1
    _run_bounded(rt, ids, deadline, report)
    report.redelivered = _redeliver(rt, set(i.lower() for i in ids), deadline)
    log.info("sweep.done", due=report.due, discovered=report.discovered, reconciled=report.reconciled,
             deferred=report.deferred, redelivered=report.redelivered, seconds=round(time.monotonic() - started, 2))
    return report


def _redeliver(rt: Runtime, done: set[str], deadline: float) -> int:
    """Retry notices that failed to send on links nobody reconciles soon (a Failed link waits for a
    change; a Ready one for its drift check), without running reconcile again."""
    from shared.state import ConcurrentUpdate

    count = 0
    now = rt.reconciler.clock.now()
    for state in rt.reconciler.store.undelivered():
        if time.monotonic() >= deadline or state.cluster_id.lower() in done:
            continue
        if state.lease_owner and state.lease_until and state.lease_until > now:
            continue  # a reconcile holds it and delivers itself
        if rt.reconciler.notifier.deliver(state):
            try:
                rt.reconciler.store.replace(state)
            except ConcurrentUpdate:
                log.info("sweep.redelivery_deferred", cluster=state.cluster_id)
            count += 1
    return count


def _run_bounded(rt: Runtime, ids: list[str], deadline: float, report: SweepReport) -> None:
    def one(cid: str) -> str:
        remaining = deadline - time.monotonic()
        if remaining < 2:
            return "deferred"
        outcome = rt.reconciler.reconcile(cid, budget_s=min(rt.settings.event_budget_s, remaining))
        _continue_if_needed(rt, outcome, "timer")
        return str(outcome.phase)

    with ThreadPoolExecutor(max_workers=rt.settings.concurrency, thread_name_prefix="sweep") as pool:
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


_last_discovery: float | None = None


def _discovery_due(rt: Runtime) -> bool:
    """Discovery runs on the first sweep of a process and then every HUBLINK_DISCOVERY_INTERVAL_S."""
    global _last_discovery
    now = time.monotonic()
    if _last_discovery is None or now - _last_discovery >= rt.settings.discovery_interval_s:
        _last_discovery = now
        return True
    return False


def _discover(rt: Runtime, known: dict[str, Any]) -> list[str]:
    """Clusters whose events were lost, and terminal failures whose cluster has changed since
    (deleted included: a link that failed while being cleaned up would otherwise keep its endpoint)."""
    from shared.errors import HubLinkError
    from shared.model import Phase

    found: list[str] = []
    for subscription, tenant in rt.settings.spokes.items():
        try:
            clusters = rt.reconciler.clusters.list_in_subscription(subscription, tenant)
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
        found += [row.cluster_id for key, row in known.items() if row.phase is Phase.FAILED and key not in listed
                  and row.subscription_id.lower() == subscription.lower()]
    return found


# -- HTTP ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any

    def json(self) -> str:
        return json.dumps(self.body, indent=2, default=str)


def _error(status: int, code: str, message: str) -> HttpAnswer:
    return HttpAnswer(status, {"error": {"code": code, "message": message}})


MAX_BODY_BYTES = 16 * 1024


def _cluster_from_body(body: bytes) -> tuple[ClusterId | None, HttpAnswer | None, Any]:
    if len(body) > MAX_BODY_BYTES:
        return None, _error(413, "BodyTooLarge", f"request body is larger than {MAX_BODY_BYTES} bytes"), None
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, _error(400, "InvalidJson", f"request body is not valid JSON: {exc}"), None
    if not isinstance(data, dict) or "clusterId" not in data:
        return None, _error(400, "MissingClusterId", 'body must be a JSON object like {"clusterId": "<ARM id>"}'), None
    try:
        return ClusterId.parse(data["clusterId"]), None, data
    except InvalidInput as exc:
        return None, _error(400, "InvalidClusterId", str(exc)), None


def _configured(rt: Runtime, cluster: ClusterId) -> HttpAnswer | None:
    if rt.settings.tenant_of(cluster.subscription_id) is None:
        return _error(404, "SubscriptionNotConfigured",
                      f"subscription {cluster.subscription_id} is not a configured spoke (HUBLINK_SPOKES)")
    return None


def http_reconcile(body: bytes) -> HttpAnswer:
    cluster, problem, _ = _cluster_from_body(body)
    if problem:
        return problem
    assert cluster is not None
    rt = get_runtime()
    if problem := _configured(rt, cluster):
        return problem
    outcome = rt.reconciler.reconcile(cluster.id, budget_s=rt.settings.event_budget_s)
    _continue_if_needed(rt, outcome, "http")
    return HttpAnswer(200, outcome.public())


def http_list(phase: str | None) -> HttpAnswer:
    from shared.model import Phase

    selected = None
    if phase:
        try:
            selected = Phase(next(p for p in Phase if p.value.lower() == phase.lower()))
        except StopIteration:
            return _error(400, "InvalidPhase", f"phase must be one of {', '.join(p.value for p in Phase)}")
    rows = get_runtime().reconciler.store.list(phase=selected)
    rows.sort(key=lambda s: s.cluster_id.lower())
    return HttpAnswer(200, {"value": [s.public() for s in rows], "count": len(rows)})


def http_get(subscription_id: str, resource_group: str, cluster_name: str) -> HttpAnswer:
    try:
        cluster = ClusterId.parse(f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
                                  f"/providers/Microsoft.ContainerService/managedClusters/{cluster_name}")
    except InvalidInput as exc:
        return _error(400, "InvalidClusterId", str(exc))
    rt = get_runtime()
    if problem := _configured(rt, cluster):
        return problem
    state = rt.reconciler.store.get(cluster)
    if state is None:
        return _error(404, "LinkNotFound", f"no link is recorded for {cluster.id}")
    return HttpAnswer(200, state.public())


# -- human in the loop (shared.approvals) ----------------------------------------------------------
def _decision(body: bytes, run) -> HttpAnswer:
    """Parse a decision request, run it, and map refusals onto JSON errors (nothing written on any of them)."""
    from shared.approvals import ApprovalError
    from shared.errors import HubLinkError, TransientError

    cluster, problem, data = _cluster_from_body(body)
    if problem:
        return problem
    try:
        return HttpAnswer(200, run(cluster.id, data))  # type: ignore[union-attr]
    except ApprovalError as exc:
        return _error(exc.status, exc.code, str(exc))
    except InvalidInput as exc:
        return _error(400, "InvalidInput", str(exc))
    except TransientError as exc:
        return _error(503, exc.code or "AzureUnavailable", str(exc))
    except HubLinkError as exc:
        return _error(502, getattr(exc, "code", None) or "AzureCallFailed", str(exc))


def http_approve_link(body: bytes, headers: Any = None, *, who: str | None = None, via: str = "http") -> HttpAnswer:
    """POST /api/links/approve {"clusterId", "reason"?}: a person approves a link waiting in manual mode."""
    from shared import approvals

    def run(cluster_id: str, data: dict[str, Any]) -> dict[str, Any]:
        rt = get_runtime()
        entry, outcome = approvals.approve_link(cluster_id, who=who or approvals.caller(headers), via=via,
                                                reason=data.get("reason"), budget_s=rt.settings.event_budget_s)
        _continue_if_needed(rt, outcome, "approval")
        return {"approved": entry, "outcome": outcome.public()}

    return _decision(body, run)


def http_set_connection(body: bytes, status: str, headers: Any = None, *, who: str | None = None, via: str = "http",
                        reason_required: bool = True) -> HttpAnswer:
    """POST /api/connections/approve|reject {"clusterId", "connectionName", "reason"}: decide any pending connection."""
    from shared import approvals

    def run(cluster_id: str, data: dict[str, Any]) -> dict[str, Any]:
        name, reason = data.get("connectionName"), data.get("reason")
        if not isinstance(name, str) or not name:
            raise approvals.ApprovalError(400, "MissingConnectionName", "body needs \"connectionName\" (a string)")
        if reason_required and (not isinstance(reason, str) or not reason.strip()):
            raise approvals.ApprovalError(400, "MissingReason", "body needs \"reason\": why, for the audit record")
        entry = approvals.set_connection(cluster_id, name, status, who=who or approvals.caller(headers), via=via,
                                         reason=reason)
        return {"decision": entry}

    return _decision(body, run)
