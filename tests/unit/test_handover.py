"""Event Grid's invocation under load: an event that waited for its invocation goes to the queue at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from shared import handlers
from shared.continuation import deletion_reported, due_at, parse_message
from tests.unit.fakes import SUB, TENANT, cluster_id

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"


class Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, float, dict]] = []

    def schedule(self, cid: str, after_s: float, *, reason: str = "", deletion_reported: bool = False) -> None:
        self.sent.append((cid, after_s, {"reason": reason, "deletion_reported": deletion_reported}))


def runtime(monkeypatch):
    reconciled: list[tuple[str, dict]] = []
    queue = Queue()

    def reconcile(cid, **kw):
        reconciled.append((cid, kw))
        return SimpleNamespace(phase="Provisioning")

    svc = SimpleNamespace(spokes={SUB: TENANT}, continuations=queue, reconcile=reconcile)
    monkeypatch.setattr(handlers, "get_runtime", lambda: SimpleNamespace(service=svc))
    return reconciled, queue


def event(kind: str = WRITE, operation: str = "Microsoft.ContainerService/managedClusters/write") -> tuple:
    return kind, cluster_id(), {"operationName": operation}


def test_a_fresh_event_is_reconciled_in_its_invocation(monkeypatch):
    reconciled, queue = runtime(monkeypatch)
    assert handlers.handle_event(*event(), "e1", datetime.now(UTC)) == "Provisioning"
    assert [cid for cid, _ in reconciled] == [cluster_id()] and queue.sent == []


def test_an_event_that_waited_is_handed_to_the_queue_with_what_it_said(monkeypatch):
    reconciled, queue = runtime(monkeypatch)
    late = datetime.now(UTC) - timedelta(seconds=handlers.HANDOVER_AFTER_S + 5)
    assert handlers.handle_event(*event(), "e1", late) == "queued"
    assert handlers.handle_event(*event(DELETE, "Microsoft.ContainerService/managedClusters/delete"), "e2", late) == "queued"
    assert reconciled == [], "nothing is read in a handed-over invocation"
    assert [(cid, after, extra["deletion_reported"]) for cid, after, extra in queue.sent] == [
        (cluster_id(), 0, False),
        (cluster_id(), 0, True),
    ]


def test_a_handed_over_delete_reaches_the_continuation_as_reported():
    body = json.dumps(
        {"clusterId": cluster_id(), "reason": "event", "at": datetime.now(UTC).isoformat(), "deletionReported": True}
    )
    assert parse_message(body) == cluster_id() and deletion_reported(body) and due_at(body) is not None
    assert not deletion_reported(json.dumps({"clusterId": cluster_id()})) and due_at(json.dumps({"clusterId": "x"})) is None
