"""A state row on disk: `LinkState` <-> a Table Storage entity, with its typed sub-documents
(steps, notices, foreign connections, audit; dataclasses in shared.model) as JSON properties.

The JSON shapes are the ones rows have always had, so rows written before the sub-documents
were typed read back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

from shared.ids import ClusterId
from shared.model import AuditEntry, ForeignConnection, LinkState, Notices, Phase, StepProgress

_JSON_FIELDS = {"foreign_connections", "steps", "notices", "audit"}
_SKIP_FIELDS = {"etag"}


def to_entity(state: LinkState) -> dict[str, Any]:
    cluster = ClusterId.parse(state.cluster_id)
    entity: dict[str, Any] = {
        "PartitionKey": cluster.partition_key,
        "RowKey": cluster.row_key,
        # A queryable copy of "something is waiting to be announced" (see undelivered()).
        "notices_pending": bool(state.notices.pending),
    }
    for f in fields(LinkState):
        if f.name in _SKIP_FIELDS:
            continue
        value = getattr(state, f.name)
        if f.name in _JSON_FIELDS:
            value = json.dumps(_DUMP[f.name](value), separators=(",", ":"), default=str)
        elif isinstance(value, Phase):
            value = value.value
        if value is None:
            continue  # REPLACE drops absent properties: None round-trips as missing
        entity[f.name] = value
    return entity


# -- the row's sub-documents: typed in shared.model, stored as JSON properties in this shape --------
def _dump_notices(n: Notices) -> dict[str, Any]:
    doc = {"pending": n.pending, "sent": n.sent, "errors": n.errors, "since": n.since, "ready": n.ready}
    return {k: v for k, v in doc.items() if v}  # absent when empty (the shape rows have always had)


def _load_notices(doc: dict[str, Any] | None) -> Notices:
    doc = doc or {}
    return Notices(
        pending=list(doc.get("pending") or []),
        sent=dict(doc.get("sent") or {}),
        errors=list(doc.get("errors") or []),
        since=dict(doc.get("since") or {}),
        ready=doc.get("ready"),
    )


def _load_foreign(doc: list[dict[str, str]] | None) -> list[ForeignConnection]:
    return [
        ForeignConnection(
            name=d.get("name", ""),
            private_endpoint_id=d.get("privateEndpointId", ""),
            status=d.get("status", ""),
            description=d.get("description", ""),
        )
        for d in doc or []
    ]


def _load_audit(doc: list[dict[str, str]] | None) -> list[AuditEntry]:
    return [
        AuditEntry(
            action=d.get("action", ""),
            by=d.get("by", ""),
            via=d.get("via", ""),
            at=d.get("at", ""),
            reason=d.get("reason", ""),
            connection_name=d.get("connectionName"),
            endpoint_id=d.get("endpointId"),
            status=d.get("status"),
            by_id=d.get("byId"),
            by_tenant=d.get("byTenant"),
            by_type=d.get("byType"),
        )
        for d in doc or []
    ]


_DUMP: dict[str, Callable[[Any], Any]] = {
    "steps": lambda steps: {k: asdict(v) for k, v in steps.items()},
    "notices": _dump_notices,
    "foreign_connections": lambda items: [f.public() for f in items],
    "audit": lambda items: [a.public() for a in items],
}
_LOAD: dict[str, Callable[[Any], Any]] = {
    "steps": lambda doc: {k: StepProgress(**v) for k, v in (doc or {}).items()},
    "notices": _load_notices,
    "foreign_connections": _load_foreign,
    "audit": _load_audit,
}


def from_entity(entity: Any) -> LinkState:
    data: dict[str, Any] = {}
    names = {f.name for f in fields(LinkState)}
    for key, value in dict(entity).items():
        if key not in names:
            continue
        if key in _JSON_FIELDS:
            value = _LOAD[key](json.loads(value or "null"))
        elif key == "phase":
            value = Phase(value)
        elif isinstance(value, datetime):
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
            value = datetime(
                value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tzinfo=UTC
            )
        data[key] = value
    state = LinkState(**data)
    state.etag = entity.metadata.get("etag") if hasattr(entity, "metadata") else None
    return state
