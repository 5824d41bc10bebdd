"""Continue a link N seconds later without waiting for the timer: a queue message with a visibility delay.

When reconcile answers "look again in N s" (an endpoint still provisioning, Azure's Retry-After),
the trigger puts `{"clusterId": ...}` on a Storage queue with `visibility_timeout=N`; the queue
trigger (polled every 0.5 s, see host.json) runs reconcile again when it becomes visible. This is
the Azure-native delay: no extra service, survives restarts, and the timer stays the backstop if
a message is ever lost.
"""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import map_azure_errors
from shared.log import get_logger

if TYPE_CHECKING:
    from shared.credentials import Credentials
    from shared.sdk import StorageAccess

QUEUE_NAME = "hublink-continue"  # fixed: the queue trigger binding names it too (function_app.py)
MAX_DELAY_S = 7 * 24 * 3600  # Storage queues accept visibility delays up to 7 days
GRANULARITY_S = 1  # and only in whole seconds: a message may be visible up to half of this early
log = get_logger("hublink.continuation")


class Continuations:
    def __init__(self, storage: StorageAccess, credentials: Credentials) -> None:
        self.storage = storage
        self.credentials = credentials
        self._client: Any = None
        self._lock = threading.Lock()
        self.sent = 0

    def _queue(self) -> Any:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.queue import QueueClient, TextBase64EncodePolicy

        with self._lock:
            if self._client is None:
                s = self.storage
                policy = TextBase64EncodePolicy()  # the Functions queue trigger expects base64 by default
                options = {"message_encode_policy": policy, **s.queue_client_kwargs()}
                if s.connection_string:
                    client = QueueClient.from_connection_string(s.connection_string, QUEUE_NAME, **options)
                else:
                    client = QueueClient(s.queue_service_uri, QUEUE_NAME, credential=self.credentials.for_storage(), **options)
                with map_azure_errors("create continuation queue"):
                    try:
                        client.create_queue()
                    except ResourceExistsError:
                        pass
                self._client = client
            return self._client

    def schedule(self, cluster_id: str, after_s: float, *, reason: str = "", deletion_reported: bool = False) -> None:
        """Ask for another reconcile of `cluster_id` in about `after_s` seconds."""
        # Whole seconds (Storage's visibility delay), to the nearest: at most half a second late, or
        # early, when reconcile answers idle (nothing read) and asks again for the rest.
        delay = min(MAX_DELAY_S, max(0, GRANULARITY_S * math.floor(after_s / GRANULARITY_S + 0.5)))
        at = datetime.now(UTC) + timedelta(seconds=max(0.0, after_s))  # the time it was asked for
        message = {"clusterId": cluster_id, "reason": reason, "at": at.isoformat()}
        if deletion_reported:  # an event handed over: a ResourceDeleteSuccess named the cluster
            message["deletionReported"] = True
        body = json.dumps(message)
        with map_azure_errors("enqueue continuation"):
            self._queue().send_message(body, visibility_timeout=delay)
        self.sent += 1
        log.info("link.continuation.scheduled", cluster=cluster_id, after_s=delay, reason=reason or None)


def due_at(body: bytes | str) -> datetime | None:
    """When the message's reconcile was asked for (None for a message without it)."""
    try:
        data = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        return datetime.fromisoformat(data["at"]) if isinstance(data, dict) and isinstance(data.get("at"), str) else None
    except (ValueError, UnicodeDecodeError, TypeError):
        return None


def deletion_reported(body: bytes | str) -> bool:
    """Whether the message hands over a ResourceDeleteSuccess event for its cluster."""
    try:
        data = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("deletionReported") is True


def parse_message(body: bytes | str) -> str:
    """The cluster id from a continuation message (raises InvalidInput for anything else)."""
    from shared.errors import InvalidInput

    try:
        data = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"continuation message is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("clusterId"), str):
        raise InvalidInput("continuation message has no clusterId")
    return data["clusterId"]
