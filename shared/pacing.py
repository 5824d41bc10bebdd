"""Stay under ARM's request rate by following what ARM says is left, instead of collecting 429s.

ARM throttles each subscription and principal with token buckets (reads: 250, refilled at 25/s;
writes and deletes: 200, refilled at 10/s) and says on every answer how many requests of that kind
are left: `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` (and the `-global-`
variants; Private DNS sends one `-resource-requests` count for all its requests). Every ARM request
this process sends (direct calls and the SDKs', polls included) first asks the pacer, and every
answer tells it the count: while plenty is left, requests go at once (a burst uses ARM's burst);
when the count nears `RESERVE`, requests wait for ARM's refill, estimated from the last count, the
time since and what this process sent since then.

The count is ARM's own, so several instances (or other tools) sharing one principal see the same
budget shrink and all slow down: nobody paces on a guess of the others' traffic. The reserve (about
one second of refill) leaves room for the requests other instances have in flight.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

REFILL_PER_S = {"read": 25.0, "write": 10.0, "delete": 10.0, "dns": 10.0}  # ARM's published refill rates
RESERVE = {"read": 25, "write": 10, "delete": 10, "dns": 10}  # left for others: about a second of refill
HEADER = "x-ms-ratelimit-remaining-subscription-"
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?#]+)", re.IGNORECASE)
_DNS = re.compile(r"/providers/Microsoft\.Network/privateDnsZones", re.IGNORECASE)


def request_kind(method: str) -> str:
    method = method.upper()
    return "read" if method in ("GET", "HEAD") else "delete" if method == "DELETE" else "write"


def bucket_of(method: str, url: str) -> tuple[str, str] | None:
    """(subscription, bucket) a request draws from; None for a URL outside a subscription."""
    match = _SUBSCRIPTION.search(url)
    if match is None:
        return None
    return match.group(1).lower(), "dns" if _DNS.search(url) else request_kind(method)


def remaining_in(headers: Mapping[str, str], bucket: str) -> int | None:
    """The smallest count ARM gave for this bucket in one answer's headers (None if it gave none)."""
    names = ("resource-requests",) if bucket == "dns" else (f"{bucket}s", f"global-{bucket}s")
    counts = []
    for name in names:
        value = headers.get(HEADER + name)
        if value is not None and str(value).strip().isdigit():
            counts.append(int(value))
    return min(counts) if counts else None


@dataclass
class _Budget:
    remaining: int  # as ARM last said
    at: float  # when it said it
    sent: int = 0  # requests this process sent since


class Pacer:
    def __init__(
        self,
        refill: dict[str, float] | None = None,
        reserve: dict[str, int] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.refill = dict(refill or REFILL_PER_S)
        self.reserve = dict(reserve or RESERVE)
        self.enabled = True
        self._clock, self._sleep = clock, sleep
        self._budgets: dict[tuple[str, str], _Budget] = {}
        self._lock = threading.Lock()
        self.waited_s = 0.0  # total time requests spent waiting for ARM's refill
        self.slowed = 0  # requests that waited

    def available(self, key: tuple[str, str]) -> float | None:
        """Requests ARM would take now, as far as its last answer and our sends since tell."""
        budget = self._budgets.get(key)
        if budget is None:
            return None
        refilled = (self._clock() - budget.at) * self.refill[key[1]]
        return budget.remaining + refilled - budget.sent

    def acquire(self, method: str, url: str) -> None:
        """Wait, if ARM's count for this request's bucket is near the reserve, for its refill."""
        key = bucket_of(method, url)
        if key is None:
            return
        waited = False
        while True:
            with self._lock:
                left = self.available(key)
                if not self.enabled or left is None or left > self.reserve[key[1]]:
                    if key in self._budgets:
                        self._budgets[key].sent += 1
                    self.slowed += waited
                    return
                wait = (self.reserve[key[1]] + 1 - left) / self.refill[key[1]]
                self.waited_s += wait
            waited = True
            self._sleep(wait)

    def observe(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        """An answer from ARM: its count for the request's bucket replaces what we estimated."""
        key = bucket_of(method, url)
        count = remaining_in(headers, key[1]) if key else None
        if key is None or count is None:
            return
        with self._lock:
            self._budgets[key] = _Budget(count, self._clock())

    def forget(self) -> None:
        with self._lock:
            self._budgets.clear()

    def sdk_hook(self, request: Any) -> None:
        """azure-core `raw_request_hook` (for clients built without shared.arm.PacingPolicy)."""
        self.acquire(request.http_request.method, request.http_request.url)


PACER = Pacer()  # one per process: all its clients share what ARM says of each subscription
