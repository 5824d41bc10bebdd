"""The triggers' and the HTTP API's adapters over the service layer (shared.service), kept out of
function_app.py so the triggers stay a few lines.

Each turns its input into a cluster id (or a decision) and calls the service; none looks at what
an event says beyond "this cluster may have changed". Every HTTP route first asks shared.authz for
the verified caller and the app role it needs (401/403 before anything is parsed, read or written).
Every refused request is answered from the one error table, `shared.errors.http_status`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.authz import APPROVER, OPERATOR, READER, authorize
from shared.errors import HubLinkError, InvalidInput, Refused, http_status
from shared.events import DELETE, cluster_from_event
from shared.ids import ClusterId
from shared.log import get_logger
from shared.runtime import Runtime, get_runtime
from shared.sweep import SweepReport

__all__ = [
    "HttpAnswer",
    "SweepReport",
    "cluster_from_event",
    "handle_continuation",
    "handle_event",
    "http_approve_link",
    "http_doctor",
    "http_status_page",
    "http_get",
    "http_hubs",
    "http_list",
    "http_reconcile",
    "http_set_connection",
    "sweep",
]

log = get_logger("hublink.triggers")
MAX_BODY_BYTES = 16 * 1024
HANDOVER_AFTER_S = 1.0  # an event older than this when its invocation starts goes to the queue at once
Headers = Mapping[str, str] | None


def handle_event(
    event_type: str, subject: str | None, data: Any, event_id: str | None = None, event_time: datetime | None = None
) -> str:
    """Event Grid: one reconcile pass at once (the endpoint PUT), the rest through the queue.

    An event that reaches its invocation more than HANDOVER_AFTER_S after its `eventTime` means the
    instance is behind (a burst: invocations wait for a worker thread): it is handed to the queue
    at once instead, so every delivery is answered in milliseconds and none is redelivered after
    Event Grid's 30 s, and the queue works through the links at the pace the instance can.
    """
    cluster = cluster_from_event(event_type, subject, data)
    if cluster is None:
        log.debug("event.ignored", event_type=event_type, subject=subject, event_id=event_id)
        return "ignored"
    svc = get_runtime().service
    if svc.spokes.get(cluster.subscription_id) is None:
        log.warning("event.unconfigured_subscription", cluster=cluster.id, event_id=event_id)
        return "ignored"
    deleted = event_type == DELETE
    age = _age_s(event_time)
    if age is not None and age > HANDOVER_AFTER_S and svc.continuations is not None:
        svc.continuations.schedule(cluster.id, 0, reason="event", deletion_reported=deleted)
        log.info("event.handed_over", cluster=cluster.id, event_id=event_id, age_s=round(age, 2))
        return "queued"
    return str(svc.reconcile(cluster.id, follow_up="event", deletion_reported=deleted).phase)


def _age_s(event_time: datetime | None) -> float | None:
    if event_time is None:
        return None
    when = event_time if event_time.tzinfo else event_time.replace(tzinfo=UTC)
    return (datetime.now(UTC) - when).total_seconds()


def handle_continuation(body: bytes | str) -> str:
    """Queue trigger: the delayed "look again" a reconcile asked for."""
    from shared.continuation import deletion_reported, due_at, parse_message

    try:
        cluster_id = parse_message(body)
        svc = get_runtime().service
        outcome = svc.reconcile(
            cluster_id, follow_up="continuation", woken_for=due_at(body), deletion_reported=deletion_reported(body)
        )
        return str(outcome.phase)
    except InvalidInput as exc:  # a malformed message, or a subscription removed from the settings since
        log.warning("continuation.ignored", error=str(exc))
        return "ignored"


def sweep(*, runtime: Runtime | None = None, discover: bool | None = None, context: Any = None) -> SweepReport:
    """Timer backstop: reconcile what is due; now and then list spokes for clusters we never heard of.
    `context` is the Functions invocation: its id goes onto the sweep's pool threads."""
    from shared.invocation import thread_initializer

    return (runtime or get_runtime()).service.sweep(discover=discover, thread_init=thread_initializer(context))


# -- HTTP ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any

    def json(self) -> str:
        return json.dumps(self.body, indent=2, default=str)


def _error(status: int, code: str, message: str) -> HttpAnswer:
    return HttpAnswer(status, {"error": {"code": code, "message": message}})


def _answer(run: Callable[[], Any]) -> HttpAnswer:
    """Run one request against the service; a product error becomes its row of the error table."""
    try:
        return HttpAnswer(200, run())
    except HubLinkError as exc:
        status, code = http_status(exc)
        return _error(status, code, str(exc))


def _body(body: bytes) -> dict[str, Any]:
    """The JSON object of a POST, with a valid clusterId (Refused 400/413 otherwise; nothing read or written)."""
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, "BodyTooLarge", f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "InvalidJson", f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or "clusterId" not in data:
        raise Refused(400, "MissingClusterId", 'body must be a JSON object like {"clusterId": "<ARM id>"}')
    data["clusterId"] = _cluster_id(data["clusterId"])
    return data


def _cluster_id(value: Any) -> str:
    return ClusterId.parse(value).id  # InvalidInput, code InvalidClusterId (400)


def http_reconcile(body: bytes, headers: Headers = None) -> HttpAnswer:
    """POST /api/links/reconcile {"clusterId"} (HubLink.Operator): reconcile now; the outcome and the link's state."""

    def run() -> dict[str, Any]:
        authorize(headers, OPERATOR)  # 401/403 before the body is even parsed
        cluster_id = _body(body)["clusterId"]  # refused before any setting is read
        return get_runtime().service.reconcile(cluster_id, follow_up="http").public()

    return _answer(run)


def http_list(phase: str | None, headers: Headers = None) -> HttpAnswer:
    """GET /api/links[?phase=] (HubLink.Reader): every link, and the progress of all ("312 of 1,000 Ready")."""

    def run() -> dict[str, Any]:
        authorize(headers, READER)
        svc = get_runtime().service
        rows = svc.list(phase)
        return {"value": [s.public() for s in rows], "count": len(rows), "progress": svc.progress(None if phase else rows)}

    return _answer(run)


def http_get(subscription_id: str, resource_group: str, cluster_name: str, headers: Headers = None) -> HttpAnswer:
    """GET /api/links/{subscriptionId}/{resourceGroup}/{clusterName} (HubLink.Reader): one link's state."""
    cluster_id = (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.ContainerService/managedClusters/{cluster_name}"
    )

    def run() -> dict[str, Any]:
        authorize(headers, READER)
        checked = _cluster_id(cluster_id)
        return get_runtime().service.get(checked).public()

    return _answer(run)


def http_hubs(headers: Headers = None) -> HttpAnswer:
    """GET /api/hubs (HubLink.Reader): each region's hub subnets, used/total, and the region's capacity level."""

    def run() -> dict[str, Any]:
        authorize(headers, READER)
        hubs = get_runtime().service.hubs()
        return {"value": hubs, "count": len(hubs)}

    return _answer(run)


def http_approve_link(body: bytes, headers: Headers = None) -> HttpAnswer:
    """POST /api/links/approve {"clusterId", "reason"?} (HubLink.Approver): approve a link waiting in manual mode."""

    def run() -> dict[str, Any]:
        caller = authorize(headers, APPROVER)
        data = _body(body)
        entry, outcome = get_runtime().service.approve_link(
            data["clusterId"], who=caller, via="http", reason=data.get("reason"), follow_up="approval"
        )
        return {"approved": entry.public(), "outcome": outcome.public()}

    return _answer(run)


def http_set_connection(body: bytes, status: str, headers: Headers = None) -> HttpAnswer:
    """POST /api/connections/approve|reject {"clusterId", "connectionName", "reason"} (HubLink.Approver)."""

    def run() -> dict[str, Any]:
        caller = authorize(headers, APPROVER)
        data = _body(body)
        name, reason = data.get("connectionName"), data.get("reason")
        if not isinstance(name, str) or not name:
            raise Refused(400, "MissingConnectionName", 'body needs "connectionName" (a string)')
        if not isinstance(reason, str) or not reason.strip():
            raise Refused(400, "MissingReason", 'body needs "reason": why, for the audit record')
        entry = get_runtime().service.decide_connection(data["clusterId"], name, status, who=caller, via="http", reason=reason)
        return {"decision": entry.public()}

    return _answer(run)


def http_doctor(subscription: str | None, headers: Headers = None) -> HttpAnswer:
    """GET /api/doctor[?subscription=] (HubLink.Reader): the doctor's report (200 whether or not every check holds)."""

    def run() -> dict[str, Any]:
        authorize(headers, READER)
        return get_runtime().service.doctor(subscription or None).public()

    return _answer(run)


def http_status_page(headers: Headers = None) -> HttpAnswer:
    """GET /api/status (HubLink.Reader): the HTML status page (body: str); a refused request is the usual JSON error."""

    def run() -> str:
        authorize(headers, READER)
        return get_runtime().service.status_page()

    return _answer(run)
