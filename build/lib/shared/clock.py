"""Time, in one place: the `Clock` the controller, the lease and approvals read, and the ISO form
every timestamp the product writes (rows, notices, audit entries) takes.

Tests and benchmarks pass their own Clock; the product's logic reads the time only through one.
Network-level timeouts (ARM pacing, the SDK poller's deadline, a webhook round) measure real
elapsed time with time.monotonic themselves, since they bound real waits.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Wall time for what is recorded, monotonic time for budgets, and the one sleep."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


SYSTEM = Clock()


def iso(value: datetime | None) -> str | None:
    """`2026-01-02T03:04:05.123456Z`: UTC with a Z, as ARM writes it."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
