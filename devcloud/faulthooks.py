"""Faults that act after ARM processed the request, and the hook that tells a test when one did.

    drop_after   ARM does the work (the resource is written, the operation started, the event
                 sent), then the connection is cut before the answer: the client cannot tell
                 whether its request happened (a lost answer)
    hook         the request is processed and answered normally; only the hook fires

Both fire the rule's hook once the request is processed (a `drop` rule fires it too, with status 0,
before anything is processed: "the client sent it, ARM never did it"): `GET /_devcloud/faults/{id}/fired`
waits for it, so a test learns "ARM has done it, the client has not heard" and can act at that
moment (SIGKILL the Functions host). With `hold`, the answer (or the cut) waits until the test
releases it (`POST /_devcloud/faults/{id}/release`) or `hold_s` passes, so the client is still
blocked on its request when the test acts.

The runtime state (counts, waiters) lives here, not in `FaultRule`, which stays plain data the
control API lists.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

PROCESSING_ACTIONS = ("drop_after", "hook")


@dataclass
class Fired:
    """What one rule's hook has seen: processed requests (with their answers' status), how many
    are being held, and whether the test released them."""

    count: int = 0
    held: int = 0
    released: bool = False
    statuses: list[int] = field(default_factory=list)

    def as_dict(self, rule_id: str) -> dict[str, Any]:
        return {"id": rule_id, "fired": self.count, "held": self.held, "released": self.released,
                "statuses": list(self.statuses)}


class FaultHooks:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._fired: dict[str, Fired] = {}

    def fire(self, rule_id: str, status: int, *, hold: bool, hold_s: float) -> None:
        """A matching request was processed (answer `status`); with `hold`, block until released."""
        with self._cond:
            seen = self._fired.setdefault(rule_id, Fired())
            seen.count += 1
            seen.statuses.append(status)
            self._cond.notify_all()
            if hold and not seen.released:
                seen.held += 1
                self._cond.wait_for(lambda: seen.released, timeout=hold_s)
                seen.held -= 1

    def wait(self, rule_id: str, count: int, timeout_s: float) -> dict[str, Any]:
        """The rule's hook state once it fired `count` times (or `timeout_s` passed; `reached` says)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            seen = self._fired.setdefault(rule_id, Fired())
            while seen.count < count and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return {**seen.as_dict(rule_id), "reached": seen.count >= count}

    def release(self, rule_id: str) -> dict[str, Any]:
        """Let held answers go, and every later match pass without holding."""
        with self._cond:
            seen = self._fired.setdefault(rule_id, Fired())
            seen.released = True
            self._cond.notify_all()
            return seen.as_dict(rule_id)

    def forget(self, rule_id: str | None = None) -> None:
        """A rule removed (or all): release whatever it holds, drop its counts."""
        with self._cond:
            for rid in [rule_id] if rule_id else list(self._fired):
                seen = self._fired.pop(rid, None)
                if seen is not None:
                    seen.released = True
            self._cond.notify_all()
