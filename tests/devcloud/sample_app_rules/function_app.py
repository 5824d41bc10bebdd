"""A sample Functions app whose functions each show one rule of the Functions host or the Python
worker (tests/devcloud/test_funchost_rules.py). Functions record what they saw in SEEN."""

import asyncio
import json
import logging
import threading

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
log = logging.getLogger("sample.rules")

SEEN: dict[str, list] = {"queue": [], "events": [], "flaky": [], "daily": []}
_lock = threading.Lock()


def _record(kind: str, item: object) -> None:
    with _lock:
        SEEN[kind].append(item)


# -- annotations decide what a trigger parameter is ---------------------------------------------

@app.queue_trigger(arg_name="msg", queue_name="rules-str", connection="AzureWebJobsStorage")
def as_str(msg: str) -> None:
    _record("queue", {"function": "as_str", "type": type(msg).__name__, "value": msg})


@app.queue_trigger(arg_name="msg", queue_name="rules-bytes", connection="AzureWebJobsStorage", data_type="BINARY")
def as_bytes(msg: bytes) -> None:
    _record("queue", {"function": "as_bytes", "type": type(msg).__name__, "value": msg.decode()})


@app.queue_trigger(arg_name="msg", queue_name="rules-bytes-undeclared", connection="AzureWebJobsStorage")
def as_bytes_undeclared(msg: bytes) -> None:
    """Annotated bytes, no data type: the host's string reaches the function as it is."""
    _record("queue", {"function": "as_bytes_undeclared", "type": type(msg).__name__, "value": msg})


@app.queue_trigger(arg_name="msg", queue_name="rules-message", connection="AzureWebJobsStorage")
def as_message(msg: func.QueueMessage) -> None:
    _record("queue", {"function": "as_message", "type": type(msg).__name__, "value": msg.get_body().decode(),
                      "dequeue_count": msg.dequeue_count})


@app.event_grid_trigger(arg_name="event")
def grid_event(event: func.EventGridEvent) -> None:
    _record("events", {"function": "grid_event", "type": type(event).__name__, "id": event.id})


@app.event_grid_trigger(arg_name="event")
def cloud_event(event: func.CloudEvent) -> None:
    _record("events", {"function": "cloud_event", "type": type(event).__name__, "id": event.id,
                       "source": event.source, "event_type": event.type, "subject": event.subject,
                       "time": event.time, "data": event.get_json()})


# -- a value returned without a $return binding fails the invocation ----------------------------

@app.event_grid_trigger(arg_name="event")
def returns_a_value(event: func.EventGridEvent) -> str:
    return "nobody receives this"


# -- the invocation context ------------------------------------------------------------------------

@app.route(route="context")
def context_info(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    info = {"invocation_id": context.invocation_id, "function": context.function_name,
            "trace_parent": context.trace_context.trace_parent, "trace_state": context.trace_context.trace_state,
            "retry_count": context.retry_context.retry_count,
            "max_retry_count": context.retry_context.max_retry_count,
            "thread_local": getattr(context.thread_local_storage, "invocation_id", None)}
    return func.HttpResponse(json.dumps(info), mimetype="application/json")


@app.route(route="query")
def query(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"params": dict(req.params), "url": req.url}), mimetype="application/json")


# -- log lines and the invocation they belong to ---------------------------------------------------

@app.route(route="logs")
def logs(req: func.HttpRequest, context: func.Context) -> str:
    log.info("rules.on_invocation_thread")

    def own_thread() -> None:
        log.info("rules.on_own_thread")

    def own_thread_with_id() -> None:
        context.thread_local_storage.invocation_id = context.invocation_id  # the worker's documented way
        log.info("rules.on_own_thread_with_id")

    for target in (own_thread, own_thread_with_id):
        t = threading.Thread(target=target)
        t.start()
        t.join()
    return "logged"


@app.route(route="logs-async")
async def logs_async(req: func.HttpRequest) -> str:
    async def child() -> None:
        log.info("rules.async_child_task")

    await asyncio.create_task(child())
    await asyncio.to_thread(log.info, "rules.async_to_thread")
    return "logged"


# -- timers: retries, and past due after downtime ---------------------------------------------------

@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *")
@app.retry(strategy="fixed_delay", max_retry_count="2", delay_interval="00:00:00.2")
def flaky(timer: func.TimerRequest, context: func.Context) -> None:
    retry = context.retry_context
    _record("flaky", {"retry_count": retry.retry_count, "max_retry_count": retry.max_retry_count,
                      "exception": getattr(retry.exception, "message", None)})
    if retry.retry_count < 2:
        raise RuntimeError(f"attempt {retry.retry_count} fails")


@app.timer_trigger(arg_name="timer", schedule="0 0 3 * * *")
def daily(timer: func.TimerRequest) -> None:
    _record("daily", {"past_due": timer.past_due})


# -- a setting or connection that is missing disables only its function ------------------------------

@app.timer_trigger(arg_name="timer", schedule="%RULES_NOT_SET%")
def needs_a_setting(timer: func.TimerRequest) -> None:
    raise AssertionError("never runs")


@app.queue_trigger(arg_name="msg", queue_name="rules-nowhere", connection="RulesNoSuchConnection")
def needs_a_connection(msg: func.QueueMessage) -> None:
    raise AssertionError("never runs")


@app.route(route="identity", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="rules-identity", connection="RulesIdentity")
def identity_out(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set("via an identity-based connection")
    return func.HttpResponse(status_code=202)
