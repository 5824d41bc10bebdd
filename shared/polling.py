"""Start a long-running operation without a thread that waits on it.

azure-core's LROPoller starts a thread that polls the operation until it ends unless its polling
method says the operation has finished; a thread left polling after the invocation returned reads
ARM next to the invocation that picks the link up again. `StartOnly` always says so: the PUT or
DELETE is sent, Azure's first answer (its Retry-After, read by `shared.endpoints.poll_delay`) is
kept, and nothing polls. The link is looked at again by the continuation queue at that time
(shared.continuation), which reads the resource itself: its provisioningState says whether the
operation has ended.
"""

from __future__ import annotations

from azure.mgmt.core.polling.arm_polling import ARMPolling


class StartOnly(ARMPolling):
    def finished(self) -> bool:
        return True
