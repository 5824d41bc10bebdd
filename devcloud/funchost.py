"""A local Azure Functions host for Python v2-model apps (Core Tools cannot be installed here).

It does what `func start` and the Python worker do for the triggers the product uses:
- imports `function_app.py` from the app directory (module `function_app`, the directory on
  sys.path), finds the one `FunctionApp` and indexes it with a single `get_functions()` call;
- HTTP triggers under `/<routePrefix>/<route>` with `{name}` parameters, method filters and the
  anonymous / function / admin key levels (`x-functions-key` header or `code` query);
- Event Grid triggers at `POST /runtime/webhooks/eventgrid?functionName=..&code=<system key>`,
  answering as the Event Grid extension does (200 handshake, 202 when every invocation succeeded,
  500 when one failed so Event Grid retries, an event the worker cannot convert included, 202 to
  Unsubscribe, 400 for a missing event type header or a body that is not JSON objects); one event
  object (CloudEvents) or an array;
- `POST /admin/functions/<name>` (master key) runs a non-HTTP function once with `{"input": ..}`;
- timer triggers on their NCRONTAB schedule, one run at a time per function, on one instance of
  the app at a time (the listener's singleton lock by blob lease, devcloud.singleton);
- queue triggers polling Azure Storage queues (Azurite) with the host's back-off, base64
  messages, retries after `visibilityTimeout` and `<queue>-poison` after `maxDequeueCount`;
- queue output bindings (`func.Out`), sent after the function succeeds;
- App Service Authentication in front of every route when the app settings turn it on
  (`WEBSITE_AUTH_ENABLED=true`, devcloud.easyauth), as the platform sits in front of the host.
The host's and the Python worker's rules it follows, each with its source where it is implemented:
parameters converted by their annotation, `context.retry_context`/`trace_context`, a non-None
return without `$return` fails (devcloud.funchost_worker); log lines without a running
invocation's id dropped (devcloud.funchost_logs); identity-based connections
(devcloud.funchost_storage); past-due timers after downtime (devcloud.funchost_timers); a missing
`%SETTING%` disables only its function; `@app.retry` on timers; the host's query values; an
undecodable base64 message straight to the poison queue; an event the converter cannot read is a
failed invocation (500, redelivered).
Sync functions run on a thread pool (`PYTHON_THREADPOOL_THREAD_COUNT`), async ones on one event
loop, as in the worker. The product reads its settings from environment variables, so the app
settings become environment variables: `start_function_host_process` runs the host in its own
process (the faithful way); in-process `FunctionHost.start()` sets them and `stop()` restores them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import collections
import concurrent.futures
import hmac
import importlib.util
import inspect
import json
import logging
import logging.handlers
import os
import queue
import re
import secrets
import signal
import ssl
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.functions.decorators.core import BindingDirection
from azure.functions.decorators.function_app import Function, FunctionRegister
from azure.functions.decorators.retry_policy import RETRY_POLICY
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient

from devcloud import funchost_worker as worker
from devcloud.funchost_logs import STREAM_DEFAULTS, STREAM_FORMAT, AttributedOnly, LogForwarder
from devcloud.funchost_storage import MissingConnection, QueueConnection, resolve_queue_connection
from devcloud.funchost_timers import ScheduleStatusStore, host_id, uses_monitor
from devcloud.httpserver import HttpServer, Request, Response, Router
from devcloud.ncrontab import CronSchedule
from devcloud.singleton import run_timer_listener

log = logging.getLogger("devcloud.funchost")

READY_PREFIX = "FUNCHOST_READY "
MESSAGE_LEASE_S = 600  # how long a received message stays invisible while its function runs (host: 10 min)
_ROUTE_CONSTRAINTS = {"int": r"-?\d+", "alpha": r"[A-Za-z]+", "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}"}
_SETTING_REF = re.compile(r"%([^%]+)%")


class FunctionLoadError(RuntimeError):
    """The app cannot be indexed: no FunctionApp, an unsupported binding, a bad annotation."""


class FunctionInError(FunctionLoadError):
    """One function cannot run (an app setting or connection it names is missing); the host runs
    the others and reports this one in error, as the Functions host does when a binding
    expression `%NAME%` does not resolve ("Error indexing method 'Functions.x'")."""


def parse_timespan(text: str) -> float | None:
    """host.json TimeSpan (`[d.]hh:mm:ss[.fff]`) in seconds; `-1` means unbounded (None)."""
    text = str(text).strip()
    if text == "-1":
        return None
    m = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", text)
    if not m:
        raise FunctionLoadError(f"host.json: {text!r} is not a TimeSpan like 00:05:00")
    days, hours, minutes, seconds = m.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass
class HostSettings:
    """The parts of host.json this host honours (defaults are the Functions host's)."""

    route_prefix: str = "api"
    function_timeout_s: float | None = 300.0
    max_polling_interval_s: float = 60.0
    visibility_timeout_s: float = 0.0
    batch_size: int = 16
    new_batch_threshold: int | None = None  # default batchSize / 2
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @classmethod
    def load(cls, app_dir: str) -> HostSettings:
        path = os.path.join(app_dir, "host.json")
        doc: dict[str, Any] = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        ext = doc.get("extensions", {})
        http, queues = ext.get("http", {}), ext.get("queues", {})
        s = cls()
        s.route_prefix = str(http.get("routePrefix", s.route_prefix)).strip("/")
        if "functionTimeout" in doc:
            s.function_timeout_s = parse_timespan(doc["functionTimeout"])
        if "maxPollingInterval" in queues:
            s.max_polling_interval_s = max(0.1, parse_timespan(queues["maxPollingInterval"]) or 60.0)
        if "visibilityTimeout" in queues:
            s.visibility_timeout_s = parse_timespan(queues["visibilityTimeout"]) or 0.0
        s.batch_size = max(1, min(32, int(queues.get("batchSize", s.batch_size))))
        if "newBatchThreshold" in queues:
            s.new_batch_threshold = max(0, int(queues["newBatchThreshold"]))
        s.max_dequeue_count = int(queues.get("maxDequeueCount", s.max_dequeue_count))
        s.message_encoding = str(queues.get("messageEncoding", s.message_encoding)).lower()
        return s


@dataclass
class Invocation:
    """One finished invocation, as the host logs it (`host.invocations` keeps the recent ones)."""

    function: str
    trigger: str
    started: datetime
    duration_s: float
    succeeded: bool
    error: str | None
    invocation_id: str


@dataclass
class _Fn:
    """An indexed function: what the host needs to trigger it and to call the user code."""

    name: str
    kind: str  # http | timer | queue | eventgrid
    trigger: Any
    user: Callable[..., Any]
    trigger_param: str
    wants_context: bool
    outputs: dict[str, tuple[str, QueueConnection]] = field(default_factory=dict)  # param -> (queue, connection)
    annotation: Any = None  # of the trigger parameter: how the worker converts the trigger value
    has_return: bool = False  # a `$return` binding (HTTP's default output, or a queue output named so)
    retry: dict[str, Any] | None = None  # @app.retry, honoured for timer triggers
    use_monitor: bool = False  # timer: schedule status persisted, past-due after downtime
    http_out: str = "$return"
    route: re.Pattern[str] | None = None
    route_rank: tuple[int, ...] = ()
    methods: frozenset[str] = frozenset()
    auth_level: str = "function"
    schedule: CronSchedule | None = None
    queue_name: str = ""
    connection: QueueConnection | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)  # timer singleton


class _Out(func.Out):
    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


def compile_route(route: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """ASP.NET-style template -> (case-insensitive regex over `/a/b`, precedence rank).

    `{x}` one segment, `{x?}` optional, `{*x}` the rest, `{x:int|alpha|guid}` constrained; literal
    segments rank before parameters so `items/stats` wins over `items/{id}`, as in the host.
    """
    pattern, rank = [], []
    for seg in [s for s in route.strip("/").split("/") if s]:
        m = re.fullmatch(r"\{(\*?)(\w+)(?::(\w+))?(\??)\}", seg)
        if not m:
            pattern.append("/" + re.escape(seg))
            rank.append(0)
            continue
        star, name, constraint, optional = m.groups()
        if star:
            pattern.append(f"(?:/(?P<{name}>.*))?")
            rank.append(3)
        else:
            value = f"(?P<{name}>{_ROUTE_CONSTRAINTS.get(constraint or '', '[^/]+')})"
            pattern.append(f"(?:/{value})?" if optional else "/" + value)
            rank.append(2 if optional else 1)
    return re.compile("^" + "".join(pattern) + "/?$", re.IGNORECASE), tuple(rank)


def _enum_value(v: Any) -> str:
    return str(getattr(v, "value", v))


def load_function_app(app_dir: str) -> tuple[Any, list[Function]]:
    """Import `function_app.py` the way the worker does and index it (get_functions() only once)."""
    path = os.path.join(app_dir, "function_app.py")
    if not os.path.exists(path):
        raise FunctionLoadError(f"no function_app.py in {app_dir}")
    spec = importlib.util.spec_from_file_location("function_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    try:
        spec.loader.exec_module(module)
        apps = [v for v in vars(module).values() if isinstance(v, FunctionRegister)]
        if len(apps) != 1:
            raise FunctionLoadError(f"function_app.py must define exactly one FunctionApp, found {len(apps)}")
        return module, apps[0].get_functions()
    except BaseException:
        sys.modules.pop("function_app", None)
        raise


class FunctionHost:
    def __init__(self, app_dir: str, *, app_settings: dict[str, str], function_key: str, master_key: str,
                 eventgrid_key: str | None = None, ssl_context: ssl.SSLContext | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.app_dir = os.path.abspath(app_dir)
        self.app_settings = dict(app_settings)
        self.function_key, self.master_key = function_key, master_key
        self.eventgrid_key = eventgrid_key or secrets.token_urlsafe(32)
        self.settings = HostSettings.load(self.app_dir)
        self.invocations: collections.deque[Invocation] = collections.deque(maxlen=1000)
        self.functions: dict[str, _Fn] = {}
        self.errors: dict[str, str] = {}  # functions in error (not running), with the reason
        self.logs = LogForwarder()  # the app's log lines: `forwarded` with an invocation, `dropped`
        self.timer_status: ScheduleStatusStore | None = None
        self.module: Any = None
        self._http: list[_Fn] = []
        self._stop = threading.Event()
        self._wake: dict[str, threading.Event] = {}  # queue name -> listener wake-up (host's queue watcher)
        self._threads: list[threading.Thread] = []
        self._clients: dict[tuple[str, str], QueueClient] = {}
        self._root_level: int | None = None
        self._clients_lock = threading.Lock()
        self._saved_env: dict[str, str | None] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._listen = (host, port, ssl_context)
        self.server: HttpServer | None = None
        self.easy_auth: Any = None  # devcloud.easyauth.EasyAuth when the app settings turn it on
        self.url = ""  # known once started

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> FunctionHost:
        for name, value in self.app_settings.items():
            self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        sys.path.insert(0, self.app_dir)
        self.timer_status = ScheduleStatusStore(self.setting("FUNCHOST_STATE_DIR"),
                                                host_id(self.app_dir, self.setting("AzureFunctionsWebHost__hostid")))
        try:
            self.module, functions = load_function_app(self.app_dir)
            for f in functions:
                try:
                    fn = self._index(f)
                except FunctionInError as exc:
                    self.errors[f.get_function_name()] = str(exc)
                    log.error("The '%s' function is in error and will not run: %s", f.get_function_name(), exc)
                    continue
                self.functions[fn.name] = fn
        except Exception:
            self._restore()
            raise
        self._attach_logs()
        self._http = sorted((f for f in self.functions.values() if f.kind == "http"), key=lambda f: f.route_rank)
        threads = self.setting("PYTHON_THREADPOOL_THREAD_COUNT")
        self._pool = concurrent.futures.ThreadPoolExecutor(int(threads) if threads else min(32, (os.cpu_count() or 1) + 4),
                                                           thread_name_prefix="funchost-worker")
        router = Router()
        router.add("POST", "/runtime/webhooks/eventgrid", self._eventgrid)
        router.add("POST", "/admin/functions/{name}", self._admin_invoke)
        router.add("*", "/{path*}", self._http_trigger)
        self._put_easy_auth_in_front(router)
        host, port, context = self._listen
        self.server = HttpServer(router, ssl_context=context, host=host, port=port,
                                 on_error=lambda req, exc: log.error("funchost failed on %s %s", req.method, req.path,
                                                                     exc_info=exc))
        self.url = self.server.url
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="funchost-asyncio", daemon=True)
        self._loop_thread.start()
        for fn in self.functions.values():
            if fn.kind == "timer":
                self._spawn(f"funchost-timer-{fn.name}", run_timer_listener, self, fn)  # singleton by blob lease
            elif fn.kind == "queue":
                self._wake.setdefault(fn.queue_name, threading.Event())
                self._spawn(f"funchost-queue-{fn.name}", self._queue_loop, fn)
        self.server.start()
        log.info("Functions host on %s: %s", self.url, ", ".join(f"{f.name} [{f.kind}]" for f in self.functions.values()))
        return self

    def _put_easy_auth_in_front(self, router: Router) -> None:
        """App Service Authentication before every route when WEBSITE_AUTH_ENABLED=true (devcloud.easyauth)."""
        from devcloud.easyauth import EasyAuth

        self.easy_auth = EasyAuth.from_settings(self.setting)
        if self.easy_auth is not None:
            router.middleware.append(self.easy_auth.middleware)
            log.info("App Service Authentication in front: issuer %s, audiences %s, excluded %s", self.easy_auth.issuer,
                     self.easy_auth.audiences, self.easy_auth.excluded)

    def stop(self) -> None:
        self._stop.set()
        for event in self._wake.values():
            event.set()
        if self.server is not None:
            self.server.stop()
        for t in self._threads:
            t.join(timeout=10)
        if self._loop is not None and self._loop_thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join(timeout=5)
            if not self._loop.is_running():
                self._loop.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for client in self._clients.values():
            client.close()
        self._detach_logs()
        self._restore()

    def _attach_logs(self) -> None:
        """The worker forwards the app's records from INFO up (host.json logLevel filters later)."""
        root = logging.getLogger()
        root.addHandler(self.logs)
        if root.level > logging.INFO:
            self._root_level = root.level
            root.setLevel(logging.INFO)

    def _detach_logs(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self.logs)
        if self._root_level is not None:
            root.setLevel(self._root_level)
            self._root_level = None

    def __enter__(self) -> FunctionHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _restore(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        if self.app_dir in sys.path:
            sys.path.remove(self.app_dir)
        if self.module is not None and sys.modules.get("function_app") is self.module:
            del sys.modules["function_app"]

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            except Exception:  # a host bug: say so loudly rather than let a trigger go quiet
                log.exception("funchost: %s stopped", name)

        t = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def setting(self, name: str) -> str | None:
        return self.app_settings.get(name, os.environ.get(name))

    def resolve(self, text: str, what: str) -> str:
        """Replace `%NAME%` with app settings, as binding expressions do; a missing one puts the
        function in error (the host: "'%NAME%' does not resolve to a value")."""
        def sub(m: re.Match[str]) -> str:
            value = self.setting(m.group(1))
            if value is None:
                raise FunctionInError(f"{what}: app setting {m.group(1)!r} is not set")
            return value
        return _SETTING_REF.sub(sub, text)

    def webhook_url(self, function_name: str) -> str:
        """The endpoint an Event Grid subscription uses to deliver to this function."""
        return f"{self.url}/runtime/webhooks/eventgrid?" + urlencode({"functionName": function_name, "code": self.eventgrid_key})

    # -- indexing ---------------------------------------------------------------------------
    def _index(self, f: Function) -> _Fn:
        name, trigger, user = f.get_function_name(), f.get_trigger(), f.get_user_function()
        kinds = {"httpTrigger": "http", "timerTrigger": "timer", "queueTrigger": "queue", "eventGridTrigger": "eventgrid"}
        if trigger is None or trigger.type not in kinds:
            raise FunctionLoadError(f"{name}: trigger {getattr(trigger, 'type', None)!r} is not supported by this host")
        fn = _Fn(name, kinds[trigger.type], trigger, user, trigger.name, False)
        for b in f.get_bindings():
            if b is trigger:
                continue
            if b.type == "http" and fn.kind == "http":
                fn.http_out = b.name
            elif b.type == "queue" and b.direction == BindingDirection.OUT.value:
                fn.outputs[b.name] = (self.resolve(b.queue_name, name),
                                      self._connection(b.connection or "AzureWebJobsStorage", name))
            else:
                raise FunctionLoadError(f"{name}: binding {b.type!r} ({b.name}) is not supported by this host")
        declared = {fn.trigger_param, "context", *fn.outputs, fn.http_out}
        params = list(inspect.signature(user).parameters)
        unknown = [p for p in params if p not in declared]
        if unknown:
            raise FunctionLoadError(f"{name}: parameters {unknown} are not bound to the trigger or an output binding")
        fn.wants_context = "context" in params
        fn.has_return = fn.http_out == "$return" if fn.kind == "http" else "$return" in fn.outputs
        try:
            fn.annotation = worker.trigger_annotation(user, fn.trigger_param, fn.kind, name)
        except worker.BindingError as exc:
            raise FunctionLoadError(str(exc)) from None
        self._index_retry(fn, f)
        if fn.kind == "http":
            fn.route, fn.route_rank = compile_route(self.resolve(trigger.route or name, name))
            fn.methods = frozenset(_enum_value(m).upper() for m in trigger.methods or [])
            fn.auth_level = _enum_value(trigger.auth_level or func.AuthLevel.FUNCTION).lower()
        elif fn.kind == "timer":
            fn.schedule = CronSchedule.parse(self.resolve(trigger.schedule, name))
            first = fn.schedule.next_after(datetime.now(UTC))  # a schedule that never fires fails indexing
            fn.use_monitor = uses_monitor(getattr(trigger, "use_monitor", None), fn.schedule.period_at(first))
        elif fn.kind == "queue":
            fn.queue_name = self.resolve(trigger.queue_name, name)
            fn.connection = self._connection(trigger.connection or "AzureWebJobsStorage", name)
        return fn

    def _connection(self, setting: str, what: str) -> QueueConnection:
        try:
            return resolve_queue_connection(self.setting, setting)
        except MissingConnection as exc:
            raise FunctionInError(f"{what}: {exc}") from None

    def _index_retry(self, fn: _Fn, f: Function) -> None:
        """`@app.retry`: the host applies retry policies to timer triggers (and Event Hubs, Cosmos DB,
        Kafka), not to HTTP, queue or Event Grid ones, which retry their own way
        (learn.microsoft.com/azure/azure-functions/functions-bindings-error-pages, "Retries")."""
        policy = f.get_settings_dict(RETRY_POLICY)
        if not policy:
            return
        if fn.kind != "timer":
            log.warning("%s: retry policies apply to timer triggers only here; ignored for a %s trigger", fn.name, fn.kind)
            return
        strategy = str(policy.get("strategy", "")).lower()
        if strategy not in ("fixed_delay", "exponential_backoff"):
            raise FunctionLoadError(f"{fn.name}: retry strategy {policy.get('strategy')!r} is not "
                                    "fixed_delay or exponential_backoff")
        spans = {k: parse_timespan(policy[k]) or 0.0 for k in ("delay_interval", "minimum_interval", "maximum_interval")
                 if policy.get(k) is not None}
        fn.retry = {"strategy": strategy, "max_retry_count": int(policy["max_retry_count"]), **spans}

    # -- invoking ---------------------------------------------------------------------------
    def _call(self, fn: _Fn, value: Any, trigger: str, *, retry: worker.RetryContext | None = None,
              traceparent: str | None = None) -> Any:
        """Run one invocation on the pool (sync) or the loop (async); wait up to functionTimeout.
        The trigger value is converted inside the invocation, as the worker does: a value the
        converter refuses fails the invocation."""
        assert self._pool is not None and self._loop is not None
        invocation_id = str(uuid.uuid4())
        outs = {p: _Out() for p in (*fn.outputs, fn.http_out)}
        kwargs: dict[str, Any] = {p: o for p, o in outs.items() if p != "$return"}
        if fn.wants_context:
            kwargs["context"] = worker.Context(invocation_id, fn.name, self.app_dir,
                                               worker.TraceContext.start(traceparent), retry or worker.RetryContext())

        def finish(result: Any) -> Any:  # the worker's output conversion: its errors fail the invocation
            if fn.kind != "http":
                worker.check_return(fn.name, fn.has_return, result)
                if "$return" in outs:
                    outs["$return"].set(result)
            self._send_outputs(fn, outs)
            if fn.kind == "http":
                return _http_response(result if fn.http_out == "$return" else outs[fn.http_out].get())
            return result

        def run_sync() -> Any:
            return finish(fn.user(**{fn.trigger_param: self._argument(fn, value)}, **kwargs))

        if inspect.iscoroutinefunction(fn.user):
            async def run_async() -> Any:
                worker.bind_task(invocation_id)
                result = await fn.user(**{fn.trigger_param: self._argument(fn, value)}, **kwargs)
                return await asyncio.to_thread(finish, result)
            start = lambda: asyncio.run_coroutine_threadsafe(run_async(), self._loop)  # noqa: E731
        else:
            start = lambda: self._pool.submit(worker.run_sync, invocation_id, run_sync)  # type: ignore[union-attr]  # noqa: E731
        return self._execute(fn, trigger, invocation_id, start)

    def _execute(self, fn: _Fn, trigger: str, invocation_id: str,
                 start: Callable[[], concurrent.futures.Future[Any]]) -> Any:
        started, t0 = datetime.now(UTC), time.monotonic()
        self.logs.begin(invocation_id, fn.name)
        error: BaseException | None = None
        try:
            future = start()
            result = future.result(timeout=self.settings.function_timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()  # an async function is cancelled; a thread cannot be (the host would recycle the worker)
            error = TimeoutError(f"Timeout value of {self.settings.function_timeout_s}s was exceeded by function {fn.name}")
        except Exception as exc:  # the user's exception: logged and reported as a failed invocation
            error = exc
        finally:
            self.logs.end(invocation_id)
        duration = time.monotonic() - t0
        self.invocations.append(Invocation(fn.name, trigger, started, duration, error is None,
                                           None if error is None else f"{type(error).__name__}: {error}", invocation_id))
        if error is not None:
            log.error("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms, trigger=%s): %s", fn.name, invocation_id,
                      duration * 1000, trigger, "".join(traceback.format_exception(error)).rstrip())
            raise error
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms, trigger=%s)", fn.name, invocation_id,
                 duration * 1000, trigger)
        return result

    @staticmethod
    def _argument(fn: _Fn, value: Any) -> Any:
        if fn.kind == "eventgrid":
            return worker.eventgrid_argument(fn.annotation, value)
        if fn.kind == "queue":
            binary = _enum_value(getattr(fn.trigger, "data_type", None) or "").upper() in ("BINARY", "2")
            return worker.queue_argument(fn.annotation, value, binary)
        return value

    def _send_outputs(self, fn: _Fn, outs: dict[str, _Out]) -> None:
        for param, (queue_name, connection) in fn.outputs.items():
            value = outs[param].get()
            if value is None:
                continue
            client = self._queue_client(connection, queue_name)
            for item in value if isinstance(value, list | tuple) else [value]:
                if not isinstance(item, str | bytes):
                    raise TypeError(f"{fn.name}: queue output {param!r} takes str or bytes, not {type(item).__name__}")
                client.send_message(self._encode(item.encode() if isinstance(item, str) else item))
            if queue_name in self._wake:  # the host's shared queue watcher: no need to wait for the next poll
                self._wake[queue_name].set()

    # -- HTTP triggers ----------------------------------------------------------------------
    def _key(self, request: Request) -> str:
        return request.header("x-functions-key") or request.query.get("code") or ""

    @staticmethod
    def _same(a: str, b: str) -> bool:
        return bool(a) and hmac.compare_digest(a.encode(), b.encode())

    def _http_trigger(self, request: Request) -> Response:
        path = request.raw_path
        prefix = "/" + self.settings.route_prefix if self.settings.route_prefix else ""
        if prefix and not (path.lower() == prefix.lower() or path.lower().startswith(prefix.lower() + "/")):
            return Response.empty(404)
        rest = path[len(prefix):] or "/"
        for fn in self._http:
            assert fn.route is not None
            m = fn.route.match(rest)
            if m and (not fn.methods or request.method in fn.methods):
                break
        else:
            return Response.empty(404)
        key = self._key(request)
        allowed = {"anonymous": True, "admin": self._same(key, self.master_key),
                   "function": self._same(key, self.function_key) or self._same(key, self.master_key)}
        if not allowed.get(fn.auth_level, False):
            return Response.empty(401)
        params = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
        url = self.url + path + ("?" + request.raw_query if request.raw_query else "")
        req = func.HttpRequest(request.method, url, headers=request.headers, params=host_query(request.raw_query),
                               route_params=params, body=request.body)
        try:
            return self._call(fn, req, "http", traceparent=request.header("traceparent"))
        except Exception:  # already logged with its traceback; the host answers a bare 500
            return Response.empty(500)

    # -- Event Grid -------------------------------------------------------------------------
    def _eventgrid(self, request: Request) -> Response:
        key = request.query.get("code", "")
        if not (self._same(key, self.eventgrid_key) or self._same(key, self.master_key)):
            return Response.empty(401)
        name = request.query.get("functionName", "")
        fn = self.functions.get(name)
        if fn is None or fn.kind != "eventgrid":
            return Response(404, f"cannot find function: '{name}'".encode(), {"Content-Type": "text/plain"})
        kind = (request.header("aeg-event-type") or "").lower()
        if kind not in ("subscriptionvalidation", "notification", "unsubscribe"):
            return Response.empty(400)
        if kind == "unsubscribe":
            return Response.empty(202)
        try:
            events = request.json()
            events = events if isinstance(events, list) else [events]
            if not all(isinstance(e, dict) for e in events):
                raise ValueError("events must be JSON objects")
            if kind == "subscriptionvalidation":
                return Response.json(200, {"validationResponse": _validation_code(request.json())})
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return Response(400, f"malformed Event Grid request: {exc}".encode(), {"Content-Type": "text/plain"})
        # The extension invokes once per event, all in parallel, and answers 500 if any failed; each
        # event reaches the worker as JSON and is converted there (an unreadable one fails its invocation).
        with concurrent.futures.ThreadPoolExecutor(max(1, len(events)), thread_name_prefix="funchost-eg") as fan:
            results = list(fan.map(lambda ev: self._attempt(fn, ev, "eventgrid"), events))
        failed = next((r for r in results if r is not None), None)
        if failed is not None:
            return Response(500, str(failed).encode(), {"Content-Type": "text/plain"})
        return Response.empty(202)

    def _attempt(self, fn: _Fn, value: Any, trigger: str, retry: worker.RetryContext | None = None) -> BaseException | None:
        try:
            self._call(fn, value, trigger, retry=retry)
            return None
        except Exception as exc:
            return exc

    # -- admin ------------------------------------------------------------------------------
    def _admin_invoke(self, request: Request) -> Response:
        if not self._same(self._key(request), self.master_key):
            return Response.empty(401)
        fn = self.functions.get(request.params["name"]) or next(
            (f for n, f in self.functions.items() if n.lower() == request.params["name"].lower()), None)
        if fn is None:
            return Response.empty(404)
        if fn.kind == "http":
            return Response.json(400, {"error": "HTTP-triggered functions are invoked through their route"})
        try:
            text = str((request.json() or {}).get("input", ""))
            value: Any
            if fn.kind == "timer":
                value = None  # built when the run starts, under the singleton lock
            elif fn.kind == "queue":
                now = datetime.now(UTC)
                value = QueueMessage(id=str(uuid.uuid4()), body=text.encode(), dequeue_count=1, insertion_time=now,
                                     expiration_time=now + timedelta(days=7), time_next_visible=now, pop_receipt=None)
            else:
                value = json.loads(text)
                if not isinstance(value, dict):
                    raise TypeError("an Event Grid input is one event, a JSON object")
        except (ValueError, AttributeError, TypeError) as exc:
            return Response.json(400, {"error": f"bad input: {exc}"})
        target = self._run_timer if fn.kind == "timer" else (lambda f, v: self._attempt(f, v, "admin"))
        threading.Thread(target=target, args=(fn, value), name=f"funchost-admin-{fn.name}", daemon=True).start()
        return Response.empty(202)

    # -- timers -----------------------------------------------------------------------------
    def _timer_loop(self, fn: _Fn, stop: threading.Event | None = None) -> None:
        """Like the host's timer listener: the next run is the first occurrence after the previous
        run ends (missed occurrences are skipped); a run is past due when it starts later than one
        period after its occurrence. With the schedule monitor, a stored `Next` already past when
        the listener starts (the app was down) runs at once, past due (devcloud.funchost_timers).
        `stop`: the singleton lock was lost (devcloud.singleton), else the host's own stop."""
        stop = stop or self._stop
        assert fn.schedule is not None and self.timer_status is not None
        status = self.timer_status.read(fn.name) if fn.use_monitor else None
        if status is not None and status["Next"] < datetime.now(UTC):
            log.info("Function '%s' is past due on startup (due %s). Executing now.", fn.name, status["Next"].isoformat())
            self._run_timer(fn, status["Next"], past_due=True, last=status["Last"])
        elif getattr(fn.trigger, "run_on_startup", False):
            self._run_timer(fn, None)
        due = fn.schedule.next_after(datetime.now(UTC))
        while not stop.wait(max(0.0, (due - datetime.now(UTC)).total_seconds())):
            self._run_timer(fn, due)
            due = fn.schedule.next_after(max(due, datetime.now(UTC)))

    def _run_timer(self, fn: _Fn, due: datetime | None, *, past_due: bool | None = None,
                   last: datetime | None = None) -> None:
        assert fn.schedule is not None and self.timer_status is not None
        with fn.lock:
            now = datetime.now(UTC)
            if past_due is None:
                past_due = due is not None and now - due > fn.schedule.period_at(due)
            occurrence, next_ = due or now, fn.schedule.next_after(now)
            status = {"Last": (last or occurrence).isoformat(), "Next": next_.isoformat(), "LastUpdated": now.isoformat()}
            request = TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})
            self._attempt_with_retries(fn, request)
            if fn.use_monitor:
                self.timer_status.write(fn.name, occurrence, next_, datetime.now(UTC))

    def _attempt_with_retries(self, fn: _Fn, request: TimerRequest) -> BaseException | None:
        """`@app.retry` on a timer: retry_count 0 first, then 1.. max_retry_count (-1: until it succeeds), after
        `delay_interval`, or `minimum_interval` doubling up to `maximum_interval`; each retry's
        context carries the previous attempt's exception (functions-bindings-error-pages)."""
        policy, count = fn.retry, 0
        first = worker.RetryContext(0, policy["max_retry_count"]) if policy else None  # the host sends one every time
        error = self._attempt(fn, request, "timer", first)
        while error is not None and policy is not None and (policy["max_retry_count"] < 0 or count < policy["max_retry_count"]):
            count += 1
            if policy["strategy"] == "fixed_delay":
                delay = policy.get("delay_interval", 0.0)
            else:
                delay = min(policy.get("minimum_interval", 0.0) * 2 ** (count - 1), policy.get("maximum_interval", float("inf")))
            if self._stop.wait(delay):
                break
            retry = worker.RetryContext(count, policy["max_retry_count"], worker.RpcException(error))
            error = self._attempt(fn, request, "timer", retry)
        return error

    # -- queues -----------------------------------------------------------------------------
    def _queue_client(self, connection: QueueConnection, queue: str) -> QueueClient:
        with self._clients_lock:
            client = self._clients.get((connection.key, queue))
            if client is None:
                client = connection.queue_client(queue)
                try:
                    client.create_queue()
                except ResourceExistsError:
                    pass
                self._clients[(connection.key, queue)] = client
            return client

    def _encode(self, body: bytes) -> str:
        return base64.b64encode(body).decode() if self.settings.message_encoding == "base64" else body.decode()

    def _decode(self, text: str) -> bytes | None:
        """The message body; None when base64 is configured and the text is not base64."""
        if self.settings.message_encoding == "base64":
            try:
                return base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                return None
        return text.encode()

    def _queue_loop(self, fn: _Fn) -> None:
        """The host's queue listener: poll, back off 100 ms doubling to maxPollingInterval while the
        queue is empty, poll again at once after a batch, and fetch the next batch as soon as no more
        than newBatchThreshold messages are still being processed."""
        wake = self._wake[fn.queue_name]
        threshold = self.settings.new_batch_threshold
        threshold = self.settings.batch_size // 2 if threshold is None else threshold
        fan = concurrent.futures.ThreadPoolExecutor(self.settings.batch_size + threshold, thread_name_prefix="funchost-q")
        try:
            self._listen_queue(fn, wake, fan, threshold)
        finally:
            fan.shutdown(wait=True)

    def _listen_queue(self, fn: _Fn, wake: threading.Event, fan: concurrent.futures.ThreadPoolExecutor,
                      threshold: int) -> None:
        delay = 0.0
        client: QueueClient | None = None
        running: list[concurrent.futures.Future[Any]] = []
        while not self._stop.is_set():
            if delay:
                wake.wait(delay)
                wake.clear()
                if self._stop.is_set():
                    return
            running = [f for f in running if not f.done()]
            while len(running) > threshold and not self._stop.is_set():
                concurrent.futures.wait(running, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED)
                running = [f for f in running if not f.done()]
            try:
                assert fn.connection is not None
                client = client or self._queue_client(fn.connection, fn.queue_name)
                batch = list(client.receive_messages(max_messages=self.settings.batch_size,
                                                     messages_per_page=self.settings.batch_size,
                                                     visibility_timeout=MESSAGE_LEASE_S))
            except Exception as exc:  # storage down or slow: keep polling like the host does
                log.warning("queue %s: polling failed: %s", fn.queue_name, exc)
                batch = []
            if not batch:
                delay = min(self.settings.max_polling_interval_s, max(0.1, delay * 2))
                continue
            delay = 0.0
            running += [fan.submit(self._process_message, fn, client, m) for m in batch]

    def _process_message(self, fn: _Fn, client: QueueClient, message: Any) -> None:
        try:
            if (message.dequeue_count or 0) > self.settings.max_dequeue_count:
                self._poison(fn, client, message)  # a host died while processing it too often
                return
            body = self._decode(message.content)
            if body is None:
                # The queues extension's MessageDecodingFailed handler: copy to the poison queue and
                # delete, without an invocation (azure-sdk-for-net, Microsoft.Azure.WebJobs.Extensions.
                # Storage.Queues src/QueueServiceClientProvider.cs `CreateMessageDecodingFailedHandler`).
                log.warning("Message %s on queue '%s' is not valid base64 (host.json messageEncoding): moving it to '%s-poison'",
                            message.id, fn.queue_name, fn.queue_name)
                self._poison(fn, client, message, why="decoding")
                return
            value = QueueMessage(id=message.id, body=body, dequeue_count=message.dequeue_count,
                                 insertion_time=message.inserted_on, expiration_time=message.expires_on,
                                 time_next_visible=message.next_visible_on, pop_receipt=message.pop_receipt)
            if self._attempt(fn, value, "queue") is None:
                client.delete_message(message)
            elif (message.dequeue_count or 0) >= self.settings.max_dequeue_count:
                self._poison(fn, client, message)
            else:
                client.update_message(message, visibility_timeout=round(self.settings.visibility_timeout_s))
        except Exception:
            log.exception("queue %s: could not settle message %s", fn.queue_name, message.id)

    def _poison(self, fn: _Fn, client: QueueClient, message: Any, why: str = "dequeue count") -> None:
        assert fn.connection is not None
        name = fn.queue_name + "-poison"
        if why == "dequeue count":
            log.warning("Message %s has reached MaxDequeueCount of %d: moving it to queue '%s'", message.id,
                        self.settings.max_dequeue_count, name)
        self._queue_client(fn.connection, name).send_message(message.content)
        client.delete_message(message)


def host_query(raw: str) -> dict[str, str]:
    """The query as the host hands it to the worker: names compared case-insensitively (ASP.NET's
    QueryCollection), repeated values joined with "," (StringValues.ToString()), and names whose
    value is empty left out (azure-functions-host, src/WebJobs.Script.Grpc/MessageExtensions/
    RpcMessageConversionExtensions.cs `ToRpcHttp`, at 5bf57a379fc969325a0a6ae7cd43cea952a3a36a)."""
    values: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        key = names.setdefault(name.lower(), name)
        values.setdefault(key, []).append(value)
    return {k: ",".join(v) for k, v in values.items() if ",".join(v)}


def _http_response(result: Any) -> Response:
    if isinstance(result, str):
        return Response(200, result.encode(), {"Content-Type": "text/plain; charset=utf-8"})
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function must return func.HttpResponse or str, not {type(result).__name__}")
    headers = dict(result.headers.items())
    if not any(k.lower() == "content-type" for k in headers):
        mime = result.mimetype
        headers["Content-Type"] = f"{mime}; charset={result.charset}" if mime.startswith("text/") else mime
    return Response(result.status_code, result.get_body(), headers)


def _validation_code(body: Any) -> str:
    """The handshake's code: `[0].data.validationCode` (Event Grid schema), or in a CloudEvents
    validation event the JSON text in `data` (azure-sdk-for-net, Microsoft.Azure.WebJobs.Extensions.
    EventGrid src/TriggerBinding/HttpRequestProcessor.cs, "double-encoded in the CloudEvent")."""
    if isinstance(body, list):
        return str(body[0]["data"]["validationCode"])
    data = body["data"]
    return str((json.loads(data) if isinstance(data, str) else data)["validationCode"])


# -- running the host in its own process --------------------------------------------------------

@dataclass
class FunctionHostProcess:
    """A host started by `start_function_host_process`; `stop()` ends it (SIGTERM, then kill)."""

    url: str
    eventgrid_key: str
    functions: list[str]
    process: subprocess.Popen

    def webhook_url(self, function_name: str) -> str:
        return f"{self.url}/runtime/webhooks/eventgrid?" + urlencode({"functionName": function_name, "code": self.eventgrid_key})

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_function_host_process(app_dir: str, app_settings: dict[str, str], *, function_key: str, master_key: str,
                                eventgrid_key: str | None = None, cert_file: str | None = None, port: int = 0,
                                timeout_s: float = 30.0) -> FunctionHostProcess:
    """Run `python -m devcloud.funchost` with env = os.environ + app settings, cwd = the app, and
    wait for its READY line. `cert_file` is a PEM holding the server key and certificate chain
    (`Certificates.server_pem_file()`); without it the host serves plain HTTP."""
    eventgrid_key = eventgrid_key or secrets.token_urlsafe(32)
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, **app_settings}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "devcloud.funchost", "--app-dir", os.path.abspath(app_dir), "--port", str(port),
           "--function-key", function_key, "--master-key", master_key, "--eventgrid-key", eventgrid_key]
    if cert_file:
        cmd += ["--cert", cert_file]
    proc = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    ready: dict[str, Any] = {}
    seen = threading.Event()

    def read() -> None:  # until READY; the host then sends its stdout to stderr, so this ends
        assert proc.stdout is not None
        with proc.stdout as out:
            for line in out:
                if line.startswith(READY_PREFIX):
                    ready.update(json.loads(line[len(READY_PREFIX):]))
                    seen.set()
        seen.set()

    reader = threading.Thread(target=read, name="funchost-ready", daemon=True)
    reader.start()
    seen.wait(timeout_s)
    if not ready:
        FunctionHostProcess("", eventgrid_key, [], proc).stop()
        reader.join(timeout=5)
        raise RuntimeError(f"the Functions host did not start (exit code {proc.returncode}); see its stderr")
    return FunctionHostProcess(ready["url"], eventgrid_key, ready["functions"], proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcloud.funchost",
                                     description="Run a Python v2-model Functions app; app settings come from the environment.")
    parser.add_argument("--app-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--cert", help="PEM with the server key and certificate chain (HTTPS); plain HTTP without it")
    parser.add_argument("--function-key", required=True)
    parser.add_argument("--master-key", required=True)
    parser.add_argument("--eventgrid-key", help="the eventgrid_extension system key (random if omitted)")
    args = parser.parse_args(argv)
    # The worker hands its log lines to the host without waiting (the real one streams RpcLogs over
    # gRPC): invocation threads put records on a queue and one thread writes them. A StreamHandler on
    # the root logger made every thread queue on its lock for a write to stderr, and under a burst the
    # invocations spent a third of their time there.
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter(STREAM_FORMAT, defaults=STREAM_DEFAULTS))
    handler = logging.handlers.QueueHandler(queue.SimpleQueue())
    handler.setFormatter(logging.Formatter("%(message)s"))  # the message only: the writer formats the line
    writer = logging.handlers.QueueListener(handler.queue, stream)
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDKs log every storage poll at INFO
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert)
    host = FunctionHost(args.app_dir, app_settings={}, function_key=args.function_key, master_key=args.master_key,
                        eventgrid_key=args.eventgrid_key, ssl_context=context, host=args.host, port=args.port)
    # On the queue's side: the invocation a line belongs to is known on the thread that logs it.
    handler.addFilter(AttributedOnly(host.logs, os.environ.get("FUNCHOST_KEEP_UNATTRIBUTED_LOGS") == "1"))
    writer.start()
    host.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(READY_PREFIX + json.dumps({"url": host.url, "functions": sorted(host.functions)}), flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # print() in user code must not fill the READY pipe
    while not stop.wait(0.5):
        pass
    host.stop()
    writer.stop()  # writes what is queued
    return 0


if __name__ == "__main__":
    sys.exit(main())
