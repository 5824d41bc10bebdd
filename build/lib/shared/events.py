"""Which Event Grid events of Microsoft.ContainerService/managedClusters are worth a look, as plain data.

The function app filters with it (`cluster_from_event`), and whatever subscribes the app to a
spoke's events (infra/spoke.bicep in Azure, stack/ locally) sets the same filter
(`subscription_filter`). Events are hints: at least once, out of order, sometimes twice.
"""

from __future__ import annotations

from typing import Any

from shared.errors import InvalidInput
from shared.ids import ClusterId

WRITE, DELETE, ACTION = (
    "Microsoft.Resources.ResourceWriteSuccess",
    "Microsoft.Resources.ResourceDeleteSuccess",
    "Microsoft.Resources.ResourceActionSuccess",
)
OPERATIONS: dict[str, tuple[str, ...]] = {
    WRITE: ("Microsoft.ContainerService/managedClusters/write",),
    DELETE: ("Microsoft.ContainerService/managedClusters/delete",),
    ACTION: ("Microsoft.ContainerService/managedClusters/start/action", "Microsoft.ContainerService/managedClusters/stop/action"),
}
EVENT_TYPES: tuple[str, ...] = tuple(sorted(OPERATIONS))
OPERATION_NAMES: tuple[str, ...] = tuple(sorted(n for names in OPERATIONS.values() for n in names))
_WATCHED = {t: {n.lower() for n in names} for t, names in OPERATIONS.items()}


def subscription_filter() -> dict[str, list[str]]:
    """What a spoke's Event Grid subscription should deliver (infra/spoke.bicep sets the same)."""
    return {"includedEventTypes": list(EVENT_TYPES), "operationNames": list(OPERATION_NAMES)}


def cluster_from_event(event_type: str, subject: str | None, data: Any) -> ClusterId | None:
    """The cluster an Event Grid event is about, or None when the event is not ours to act on."""
    if event_type not in _WATCHED:
        return None
    data = data if isinstance(data, dict) else {}
    operation = str(data.get("operationName") or "").lower()
    if operation and operation not in _WATCHED[event_type]:
        return None  # e.g. listClusterUserCredential/action, agentPools/write
    try:
        return ClusterId.parse(data.get("resourceUri") or subject or "")
    except InvalidInput:
        return None
