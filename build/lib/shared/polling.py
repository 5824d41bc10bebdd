"""Poll a long-running operation at Azure's pace, and never past the invocation's budget.

azure-core's ARM poller reads the operation status once right after the PUT and then every
Retry-After, and its thread goes on polling when the caller stops waiting: an invocation that
requeued at the Retry-After leaves a thread that polls until the operation ends, next to the
invocation that picks the link up again. `PacedPolling` reads the status only after each
Retry-After Azure asked for, and ends (raising `OutOfBudget` in the poller's thread, which
`LROPoller.wait` re-raises) as soon as the next read would come after the deadline.
"""

from __future__ import annotations

import time
from typing import Any

from azure.mgmt.core.polling.arm_polling import ARMPolling


class OutOfBudget(Exception):
    """The operation is still running and the next status read would come after the deadline."""


class PacedPolling(ARMPolling):
    def __init__(self, within_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = time.monotonic() + max(0.0, within_s)
        self._waited = False

    def _delay(self) -> None:
        delay = self._extract_delay()
        if time.monotonic() + delay > self._deadline:
            raise OutOfBudget(f"next status read in {delay:.0f}s is past the budget")
        self._sleep(delay)

    def update_status(self) -> None:
        if not self._waited:  # the first read too waits for the Retry-After of the PUT/DELETE
            self._waited = True
            self._delay()
        super().update_status()
