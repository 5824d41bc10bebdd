"""What a step answers, and the operation in progress a step may hand back.

A step reads actual state and either lets the next step run (it returns None) or stops the pass
with one of these (the controller turns it into the row, the notices and the requeue):

    Done(phase, message, recheck_s)   the link is where it should be for now; the timer looks
                                      again after `recheck_s` (drift check, manual approval)
    Wait(after_s, message, operation) look again after `after_s` (controller-runtime's
                                      RequeueAfter); with an `operation`, Azure is working and
                                      the controller may wait on it within the budget
    Transient(error)                  try again with backoff (or the error's Retry-After)
    Terminal(error)                   stop: Failed, with the error's code, until something changes

Steps may also raise TransientError / TerminalError (every adapter does); the controller treats
a raised error exactly like the returned result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.errors import TerminalError, TransientError
from shared.model import Phase


class OperationHandle(Protocol):
    """The adapter's own view of a running operation (an azure-core poller inside shared.endpoints)."""

    def wait(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s`; True when the operation ended (a failed one raises, mapped)."""
        ...

    def result(self) -> Any:
        """What the finished operation produced (the endpoint for a create, None for a delete)."""
        ...


@dataclass(frozen=True)
class Operation:
    """An Azure operation in progress: what it is, and how often Azure said to look (Retry-After).

    `handle` is set for an operation this invocation started (the controller may wait on it);
    an operation only seen running (provisioningState Updating) has none and is read again.
    """

    what: str
    kind: str  # "create" | "delete" | "observe"
    poll_s: float
    handle: OperationHandle | None = field(default=None, compare=False, repr=False)
    subject: str = "endpoint"  # what it works on: the Link.reads key its result replaces ("endpoint", "pls")

    def wait(self, timeout_s: float) -> bool:
        return self.handle.wait(timeout_s) if self.handle is not None else False

    def result(self) -> Any:
        return self.handle.result() if self.handle is not None else None


@dataclass(frozen=True)
class Done:
    phase: Phase
    message: str
    recheck_s: float | None = None
    gone: bool = False  # the cluster and everything of ours are gone, the row included


@dataclass(frozen=True)
class Wait:
    after_s: float
    message: str
    operation: Operation | None = None


@dataclass(frozen=True)
class Transient:
    error: TransientError


@dataclass(frozen=True)
class Terminal:
    error: TerminalError


Result = Done | Wait | Transient | Terminal
