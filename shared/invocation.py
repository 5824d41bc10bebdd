"""Carry the Functions invocation onto the threads a function starts.

The Python worker forwards a log record to the host only when it can tell which invocation the
calling thread belongs to: on the thread that runs a sync function it sets
`context.thread_local_storage.invocation_id`, and the host ignores a log with no matching
invocation. Work a function hands to threads of its own (the sweep's pool) must set the id there,
or Application Insights never sees those lines: under worker 4.34 a timer run lost every product
line of its pool threads and kept only `sweep.done`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def thread_initializer(context: Any) -> Callable[[], None] | None:
    """A `ThreadPoolExecutor(initializer=...)` that marks each pool thread with the invocation.

    None without a Functions context (the CLI, tests calling the service directly): there is no
    host to forward to. The pool lives for one invocation, so its threads never carry a stale id.
    """
    storage = getattr(context, "thread_local_storage", None)
    invocation_id = getattr(context, "invocation_id", None)
    if storage is None or not invocation_id:
        return None

    def mark_thread() -> None:
        storage.invocation_id = invocation_id

    return mark_thread
