"""Which log lines of the app reach the host's logs (and so Application Insights).

The worker forwards every record of the app's loggers to the host as an RpcLog carrying the
invocation id it finds for the calling code (devcloud.funchost_worker.current_invocation_id).
The host then keeps only the RpcLogs whose invocation id is one it is executing right now and
drops the rest (azure-functions-host, src/WebJobs.Script.Grpc/Channel/GrpcWorkerChannel.cs,
`Log(GrpcEvent)`: `_executingInvocations.TryGetValue(rpcLog.InvocationId, ...)`). So a line
logged on a thread the function started itself, or after its invocation ended, never arrives.

This host does the same: `LogForwarder` (on the root logger while the host runs) records every
app line with its invocation id in `forwarded` and the others in `dropped`; in its own process,
`AttributedOnly` keeps dropped lines out of the host's log stream as well. The host's own lines
(`devcloud.*`) are host logs, neither forwarded nor dropped. Switch: the app setting
`FUNCHOST_KEEP_UNATTRIBUTED_LOGS=1` keeps dropped lines in the stream, marked `[no invocation]`.
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass

from devcloud.funchost_worker import current_invocation_id

HOST_LOGGERS = ("devcloud",)  # the host itself, and devcloud's Azure when it runs in the same process
STREAM_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(funchost_tag)s%(message)s"
STREAM_DEFAULTS = {"funchost_tag": ""}


@dataclass(frozen=True)
class AppLog:
    invocation_id: str | None
    function: str | None
    logger: str
    level: str
    message: str


def _is_host(record: logging.LogRecord) -> bool:
    return record.name.startswith(HOST_LOGGERS)


class LogForwarder(logging.Handler):
    """Sorts the app's log records into forwarded (a running invocation's) and dropped."""

    def __init__(self, maxlen: int = 5000) -> None:
        super().__init__(logging.DEBUG)
        self.forwarded: collections.deque[AppLog] = collections.deque(maxlen=maxlen)
        self.dropped: collections.deque[AppLog] = collections.deque(maxlen=maxlen)
        self._running: dict[str, str] = {}  # invocation id -> function name
        self._lock = threading.Lock()

    def begin(self, invocation_id: str, function: str) -> None:
        with self._lock:
            self._running[invocation_id] = function

    def end(self, invocation_id: str) -> None:
        with self._lock:
            self._running.pop(invocation_id, None)

    def owner(self, invocation_id: str | None) -> str | None:
        """The function of a running invocation, None when the host would not accept the line."""
        with self._lock:
            return self._running.get(invocation_id) if invocation_id else None

    def emit(self, record: logging.LogRecord) -> None:
        if _is_host(record):
            return
        invocation_id = current_invocation_id()
        function = self.owner(invocation_id)
        entry = AppLog(invocation_id, function, record.name, record.levelname, record.getMessage())
        (self.forwarded if function is not None else self.dropped).append(entry)


class AttributedOnly(logging.Filter):
    """For the host process's log stream: app lines only with a running invocation's id, tagged
    with it for STREAM_FORMAT."""

    def __init__(self, forwarder: LogForwarder, keep_unattributed: bool) -> None:
        super().__init__()
        self.forwarder, self.keep = forwarder, keep_unattributed

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_host(record):
            return True
        invocation_id = current_invocation_id()
        if self.forwarder.owner(invocation_id) is not None:
            record.funchost_tag = f"[{invocation_id}] "
            return True
        record.funchost_tag = "[no invocation] "
        return self.keep
