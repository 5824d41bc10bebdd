"""What the Python worker does around one invocation, for the local Functions host.

- The invocation id a log line belongs to. The worker keeps it in a thread-local that it sets on
  the thread running a sync function (`context.thread_local_storage`, which user code may set on
  its own threads too) and on the asyncio task running an async one (tasks it creates inherit
  it); anything else logs with no invocation id (azure-functions-python-worker,
  azure_functions_worker/dispatcher.py `get_current_invocation_id`, `run_sync_func`).
- The context: `invocation_id`, `function_name`, `function_directory`, `thread_local_storage`,
  `trace_context` (W3C traceparent/tracestate) and `retry_context` (retry_count, max_retry_count,
  exception; zeros when the host sends none), as azure_functions_worker/bindings/context.py,
  tracecontext.py and retrycontext.py build them.
- Trigger parameters converted by their annotation: `str`/`bytes` use the worker's "generic"
  binding, anything else the azure-functions library's converter for the trigger, whose
  `check_input_type_annotation` decides at load time whether the annotation fits
  (azure_functions_worker/functions.py `add_function`; azure-functions-python-library
  azure/functions/eventgrid.py and queue.py). The Event Grid converter picks `func.CloudEvent`
  when the event has `specversion`, `func.EventGridEvent` otherwise, whatever the annotation, and
  raises on an `eventTime` it cannot parse: the invocation fails.
- A non-None return from a function with no `$return` binding fails the invocation
  (dispatcher.py: "function ... without a $return binding returned a non-None value").
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import secrets
import threading
import typing
from typing import Any

import azure.functions as func
from azure.functions import _abc as azf_abc
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.queue import QueueMessage

_local = threading.local()  # the worker's `_invocation_id_local`: context.thread_local_storage
_task_invocation: contextvars.ContextVar[str | None] = contextvars.ContextVar("funchost_invocation", default=None)
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class BindingError(Exception):
    """A parameter annotation the worker would refuse at load time."""


def current_invocation_id() -> str | None:
    """The invocation the calling code runs for, found as the worker finds it (task, then thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        task_id = _task_invocation.get()
        if task_id is not None and asyncio.current_task() is not None:
            return task_id
    return getattr(_local, "invocation_id", None)


def run_sync(invocation_id: str, target: typing.Callable[[], Any]) -> Any:
    """Run a sync function on this (pool) thread with its invocation id set, then clear it."""
    _local.invocation_id = invocation_id
    try:
        return target()
    finally:
        _local.invocation_id = None


def bind_task(invocation_id: str) -> None:
    """Inside the coroutine that runs an async function: its task (and tasks it starts) carry the id."""
    _task_invocation.set(invocation_id)


class TraceContext(azf_abc.TraceContext):
    def __init__(self, trace_parent: str, trace_state: str, attributes: dict[str, str]) -> None:
        self._parent, self._state, self._attributes = trace_parent, trace_state, attributes

    trace_parent = property(lambda self: self._parent)
    trace_state = property(lambda self: self._state)
    attributes = property(lambda self: self._attributes)

    @classmethod
    def start(cls, incoming: str | None = None, state: str | None = None) -> TraceContext:
        """A new span: under the caller's trace when it sent a valid `traceparent`, else a new trace."""
        m = _TRACEPARENT.match((incoming or "").strip().lower())
        trace_id = m.group(1) if m and m.group(1) != "0" * 32 else secrets.token_hex(16)
        return cls(f"00-{trace_id}-{secrets.token_hex(8)}-01", state or "", {})


class RetryContext(azf_abc.RetryContext):
    def __init__(self, retry_count: int = 0, max_retry_count: int = 0, exception: Any = None) -> None:
        self._count, self._max, self._exception = retry_count, max_retry_count, exception

    retry_count = property(lambda self: self._count)
    max_retry_count = property(lambda self: self._max)
    exception = property(lambda self: self._exception)


class RpcException:
    """What a retry's `retry_context.exception` holds: the previous attempt's failure as text."""

    def __init__(self, exc: BaseException) -> None:
        self.source = type(exc).__module__
        self.message = f"{type(exc).__name__}: {exc}"
        self.stack_trace = ""


class Context(func.Context):
    def __init__(self, invocation_id: str, function_name: str, function_directory: str,
                 trace: TraceContext, retry: RetryContext) -> None:
        self._id, self._name, self._dir = invocation_id, function_name, function_directory
        self._trace, self._retry = trace, retry

    invocation_id = property(lambda self: self._id)
    function_name = property(lambda self: self._name)
    function_directory = property(lambda self: self._dir)
    thread_local_storage = property(lambda self: _local)
    trace_context = property(lambda self: self._trace)
    retry_context = property(lambda self: self._retry)


# -- trigger parameters ------------------------------------------------------------------------

def trigger_annotation(user: typing.Callable[..., Any], param: str, kind: str, name: str) -> Any:
    """The trigger parameter's annotation, checked as the worker checks it when it loads the function."""
    try:
        hints = typing.get_type_hints(user)
    except Exception:  # an annotation that does not resolve: the worker fails the load too
        raise BindingError(f"{name}: the annotations of {param!r} do not resolve") from None
    anno = hints.get(param)
    if anno is None or kind not in ("queue", "eventgrid"):
        return anno
    if not isinstance(anno, type):
        raise BindingError(f"{name}: binding {param} has invalid non-type annotation {anno!r}")
    if anno in (str, bytes):
        return anno
    fits = {"queue": lambda t: issubclass(t, func.QueueMessage),
            "eventgrid": EventGridEventInConverter.check_input_type_annotation}[kind]
    if not fits(anno):
        binding = {"queue": "queueTrigger", "eventgrid": "eventGridTrigger"}[kind]
        raise BindingError(f"{name}: type of {param} binding {binding!r} does not match its Python "
                           f"annotation {anno.__name__!r}")
    return anno


def queue_argument(anno: Any, message: QueueMessage, binary: bool = False) -> Any:
    """A queue message as the function's parameter: text, bytes or the message itself.

    `str` and `bytes` go through the worker's generic binding, which hands over the host's datum
    unchanged (azure_functions_worker/bindings/generic.py `decode`): the host sends the message as
    a string unless the binding declares `data_type=BINARY`, so a `bytes` parameter gets bytes only
    then and the text otherwise, which is how the worker behaves as we read its source; where a
    function needs bytes, it should declare the data type (or take func.QueueMessage)."""
    if anno is str:
        return message.get_body().decode("utf-8")
    if anno is bytes:
        return message.get_body() if binary else message.get_body().decode("utf-8")
    return message


def eventgrid_argument(anno: Any, event: dict[str, Any]) -> Any:
    """One delivered event as the function's parameter, through the library's own converter."""
    text = json.dumps(event)
    if anno in (str, bytes):
        return text if anno is str else text.encode()
    return EventGridEventInConverter.decode(meta.Datum(text, "json"), trigger_metadata={})


def check_return(function_name: str, has_return: bool, result: Any) -> None:
    if result is not None and not has_return:
        raise RuntimeError(f"function {function_name!r} without a $return binding returned a non-None value")
