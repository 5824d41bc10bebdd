"""Long-running operations: started without a thread that waits on them (`StartOnly`), or polled
at Azure's pace and never past a budget (`PacedPolling`, kept for adapters that still wait).

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


class StartOnly(ARMPolling):
    """Send the PUT/DELETE, keep Azure's first answer (its Retry-After and status), never poll.

    LROPoller starts a polling thread unless its method says the operation has finished; this one
    always does, so no thread is left behind and `poll_delay` still reads the Retry-After Azure
    gave. The link is looked at again by the continuation queue at that time (shared.continuation),
    which reads the endpoint itself: its provisioningState says whether the operation has ended.
    """

    def finished(self) -> bool:
        return True
