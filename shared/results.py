"""What a step answers, and the operation in progress a step may hand back.

A step reads actual state and either lets the next step run (it returns None) or stops the pass
with one of these (the controller turns it into the row, the notices and the requeue):

    Done(phase, message, recheck_s)   the link is where it should be for now; the timer looks
                                      again after `recheck_s` (drift check, manual approval)
    Wait(after_s, message, operation) look again after `after_s` (controller-runtime's
                                      RequeueAfter); with an `operation`, Azure is working on it
                                      and `after_s` is its next poll time (nobody waits for it);
                                      `by_event`: the event that ends it wakes the link, and the
                                      timer looks after `after_s` only should that event be lost
    Transient(error)                  try again with backoff (or the error's Retry-After)
    Terminal(error)                   stop: Failed, with the error's code, until something changes

Steps may also raise TransientError / TerminalError (every adapter does); the controller treats
a raised error exactly like the returned result.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import TerminalError, TransientError
from shared.model import Phase


@dataclass(frozen=True)
class Operation:
    """An Azure operation in progress: what it is, and how often Azure said to look (Retry-After).

    Nobody waits on it: the step that started (or saw) it records when Azure accepted it and its
    Retry-After in the row, and the link is looked at again at the next `operation_at + k * poll_s`.
    """

    what: str
    kind: str  # "create" | "delete" | "observe"
    poll_s: float
    subject: str = "endpoint"  # what it works on: the Link.reads key of its resource ("endpoint", a path's "pls:...")


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
    idle: bool = False  # nothing was read: Azure's poll time has not come (its continuation is queued)
    by_event: bool = False  # the operation's end comes as an event: no continuation, the timer looks after `after_s`


@dataclass(frozen=True)
class Transient:
    error: TransientError


@dataclass(frozen=True)
class Terminal:
    error: TerminalError


Result = Done | Wait | Transient | Terminal
