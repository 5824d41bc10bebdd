"""A sample Functions app (Python v2 model) exercising every trigger the local host supports.

Used only by tests/devcloud/test_funchost.py. Functions record what they saw in CALLS so the
tests (which run the host in-process) can check the arguments the host built.
"""

import asyncio
import json
import os
import threading
import time

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

CALLS: dict[str, list] = {"events": [], "ticks": [], "work": []}
_lock = threading.Lock()


def _record(kind: str, item: object) -> None:
    with _lock:
        CALLS[kind].append(item)


@app.route(route="hello/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    payload = {"name": req.route_params["name"], "q": req.params.get("q"), "method": req.method,
               "greeting": os.environ.get("SAMPLE_GREETING"), "url": req.url}
    return func.HttpResponse(json.dumps(payload), mimetype="application/json", headers={"X-Sample": "yes"})


@app.route(route="items/{id:int}", methods=["GET", "POST"])
async def item(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    if req.method == "POST":
        return func.HttpResponse(req.get_body(), status_code=201, mimetype="application/octet-stream")
    return func.HttpResponse(f"item {req.route_params['id']}")


@app.route(route="items/stats", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def item_stats(req: func.HttpRequest) -> str:
    return "stats"


@app.route(route="operator", auth_level=func.AuthLevel.ADMIN)
def operator(req: func.HttpRequest) -> str:
    return "for the master key only"


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


@app.route(route="nothing", auth_level=func.AuthLevel.ANONYMOUS)
def nothing(req: func.HttpRequest) -> func.HttpResponse:
    return None  # the worker cannot encode None for an HTTP answer: the invocation fails


@app.route(route="slow", auth_level=func.AuthLevel.ANONYMOUS)
def slow(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(2.5)  # longer than host.json functionTimeout
    return func.HttpResponse("late")


@app.route(route="enqueue", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="out", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())
    return func.HttpResponse(status_code=202)


@app.event_grid_trigger(arg_name="event")
def on_event(event: func.EventGridEvent) -> None:
    _record("events", {"id": event.id, "subject": event.subject, "type": event.event_type, "topic": event.topic,
                       "time": event.event_time, "version": event.data_version, "data": event.get_json()})
    if event.subject == "fail":
        raise ValueError(f"cannot handle event {event.id}")


@app.timer_trigger(arg_name="timer", schedule="%TICK_SCHEDULE%", run_on_startup=True)
def tick(timer: func.TimerRequest) -> None:
    start = time.monotonic()
    time.sleep(1.2)  # longer than the one-second period: only the singleton lock prevents overlap
    _record("ticks", {"start": start, "end": time.monotonic(), "past_due": timer.past_due})


@app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage, context: func.Context) -> None:
    body = msg.get_body().decode()
    _record("work", {"body": body, "at": time.monotonic(), "dequeue_count": msg.dequeue_count, "id": msg.id,
                     "invocation_id": context.invocation_id, "function": context.function_name})
    if body.startswith("fail"):
        raise RuntimeError(f"cannot process {body}")
