"""Stay under ARM's request rate per subscription instead of collecting 429s.

ARM throttles each subscription and principal with token buckets (reads: 250, refilled at 25/s;
writes and deletes: 200, refilled at 10/s). A timer run re-checks hundreds of Ready links and each
check reads three resources in the one hub subscription: unpaced, eight workers read the hub at
~80/s and empty its bucket within seconds. So every ARM request this process sends (direct calls
and the network SDK's, polls included) first takes a slot here: at most `LIMITS[kind]` requests of
a kind per subscription in any one-second window; one over the limit waits for the oldest to leave
the window. The limits sit below Azure's refill rates so other clients keep some room.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

LIMITS = {"read": 20, "write": 8, "delete": 8}  # per subscription and second (ARM refills 25, 10, 10)
WINDOW_S = 1.0
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?#]+)", re.IGNORECASE)


def request_kind(method: str) -> str:
    method = method.upper()
    return "read" if method in ("GET", "HEAD") else "delete" if method == "DELETE" else "write"


class Pacer:
    def __init__(
        self,
        limits: dict[str, int] | None = None,
        *,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = dict(limits or LIMITS)
        self.window_s = window_s
        self._clock, self._sleep = clock, sleep
        self._sent: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.waited_s = 0.0  # total time requests spent waiting for a slot

    def acquire(self, method: str, url: str) -> None:
        """Block until a request `method url` fits in its subscription's window (URLs without one pass)."""
        match = _SUBSCRIPTION.search(url)
        if match is None:
            return
        kind = request_kind(method)
        key, limit = (match.group(1).lower(), kind), self.limits[kind]
        while True:
            with self._lock:
                now = self._clock()
                sent = self._sent[key]
                while sent and sent[0] <= now - self.window_s:
                    sent.popleft()
                if len(sent) < limit:
                    sent.append(now)
                    return
                wait = sent[0] + self.window_s - now
                self.waited_s += wait
            self._sleep(wait)

    def sdk_hook(self, request: Any) -> None:
        """azure-core `raw_request_hook`: called for every attempt the SDK pipeline sends."""
        self.acquire(request.http_request.method, request.http_request.url)


PACER = Pacer()  # one per process: all its clients share each subscription's limits
