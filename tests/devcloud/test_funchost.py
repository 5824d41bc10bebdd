"""The local Functions host against the sample app in sample_app/ (every trigger kind) and Azurite.

One host runs in-process for the module (its timer fires every second throughout); one test runs
the host as a subprocess the way the demo does. Functions record their arguments in the sample
module's CALLS, reached through `host.module`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devcloud.certs import make_certificates
from devcloud.client import wait_for
from devcloud.funchost import (
    FunctionHost,
    FunctionLoadError,
    compile_route,
    parse_timespan,
    start_function_host_process,
)
from devcloud.ncrontab import CronError, CronSchedule

APP = os.path.join(os.path.dirname(__file__), "sample_app")
FUNCTION_KEY, MASTER_KEY, EVENTGRID_KEY = "fk-test", "mk-test", "egk-test"
QUEUE = "work"


@pytest.fixture(scope="module")
def certs():
    return make_certificates()


@pytest.fixture(scope="module")
def host(azurite, certs):
    settings = {"AzureWebJobsStorage": azurite.connection_string, "WORK_QUEUE": QUEUE,
                "TICK_SCHEDULE": "*/1 * * * * *", "SAMPLE_GREETING": "hello from app settings",
                "PYTHON_THREADPOOL_THREAD_COUNT": "8"}
    h = FunctionHost(APP, app_settings=settings, function_key=FUNCTION_KEY, master_key=MASTER_KEY,
                     eventgrid_key=EVENTGRID_KEY, ssl_context=certs.server_context()).start()
    yield h
    h.stop()


@pytest.fixture
def call(host, certs):
    def do(method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, host.url + path, verify=certs.ca_bundle, timeout=10, **kw)
    return do


def calls(host, kind: str) -> list:
    return host.module.CALLS[kind]


def queue(azurite, name: str = QUEUE, *, base64_policy: bool = True) -> QueueClient:
    policy = TextBase64EncodePolicy() if base64_policy else None
    return QueueClient.from_connection_string(azurite.connection_string, name, message_encode_policy=policy)


def grid_event(subject: str, **extra) -> dict:
    return {"id": str(uuid.uuid4()), "topic": "/subscriptions/s/resourceGroups/rg", "subject": subject,
            "eventType": "Microsoft.Resources.ResourceWriteSuccess", "eventTime": "2026-01-02T03:04:05.678Z",
            "data": {"operationName": "write"}, "dataVersion": "1", **extra}


# -- HTTP triggers --------------------------------------------------------------------------------

def test_http_route_params_query_headers_and_app_settings_as_env(call, host):
    r = call("GET", "/api/hello/World?q=1")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["X-Sample"] == "yes"
    assert r.json() == {"name": "World", "q": "1", "method": "GET", "greeting": "hello from app settings",
                        "url": host.url + "/api/hello/World?q=1"}
    assert call("GET", "/API/Hello/x%20y").json()["name"] == "x y"  # routes are case-insensitive; params decoded


def test_http_function_level_accepts_function_or_master_key(call):
    assert call("GET", "/api/items/5").status_code == 401
    assert call("GET", "/api/items/5", headers={"x-functions-key": "wrong"}).status_code == 401
    r = call("GET", "/api/items/5", headers={"x-functions-key": FUNCTION_KEY})
    assert (r.status_code, r.text, r.headers["Content-Type"]) == (200, "item 5", "text/plain; charset=utf-8")
    assert call("GET", f"/api/items/5?code={FUNCTION_KEY}").status_code == 200
    assert call("GET", "/api/items/5", headers={"x-functions-key": MASTER_KEY}).status_code == 200


def test_http_admin_level_needs_the_master_key(call):
    assert call("GET", "/api/operator", headers={"x-functions-key": FUNCTION_KEY}).status_code == 401
    assert call("GET", "/api/operator").status_code == 401
    r = call("GET", "/api/operator", params={"code": MASTER_KEY})
    assert (r.status_code, r.text) == (200, "for the master key only")


def test_http_async_function_status_body_and_mimetype(call):
    r = call("POST", "/api/items/7", data=b"\x00\x01raw", headers={"x-functions-key": FUNCTION_KEY})
    assert (r.status_code, r.content, r.headers["Content-Type"]) == (201, b"\x00\x01raw", "application/octet-stream")


def test_http_unmatched_routes_methods_and_constraints_are_404(call):
    key = {"x-functions-key": FUNCTION_KEY}
    assert call("DELETE", "/api/items/5", headers=key).status_code == 404  # method not in the list
    assert call("GET", "/api/items/abc", headers=key).status_code == 404  # {id:int}
    assert call("GET", "/api/nope").status_code == 404
    assert call("GET", "/hello/World").status_code == 404  # outside the route prefix
    assert call("GET", "/api/items/stats").text == "stats"  # a literal segment beats {id}


def test_http_exceptions_and_unencodable_results_are_500(call, host):
    assert call("GET", "/api/boom").status_code == 500
    failure = wait_for(lambda: [i for i in host.invocations if i.function == "boom"])[-1]
    assert (failure.trigger, failure.succeeded, failure.error) == ("http", False, "RuntimeError: boom")
    assert call("GET", "/api/nothing").status_code == 500


def test_http_requests_run_concurrently_and_time_out(call):
    results: list[tuple[int, float]] = []

    def slow() -> None:
        t0 = time.monotonic()
        results.append((call("GET", "/api/slow").status_code, time.monotonic() - t0))

    threads = [threading.Thread(target=slow) for _ in range(2)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [500, 500]  # functionTimeout 00:00:02 < 2.5 s of work
    assert all(1.9 <= elapsed < 2.5 for _, elapsed in results)
    assert time.monotonic() - t0 < 3.0  # both ran at once


# -- Event Grid -------------------------------------------------------------------------------------

def post_events(call, events, event_type: str | None = "Notification", function: str = "on_event",
                code: str | None = EVENTGRID_KEY, data: bytes | None = None) -> requests.Response:
    params = {"functionName": function, **({"code": code} if code is not None else {})}
    headers = {"aeg-event-type": event_type} if event_type else {}
    body = data if data is not None else json.dumps(events).encode()
    return call("POST", "/runtime/webhooks/eventgrid", params=params, headers=headers, data=body)


def test_eventgrid_validation_handshake_does_not_invoke(call, host):
    before = len(calls(host, "events"))
    validation = grid_event("", eventType="Microsoft.EventGrid.SubscriptionValidationEvent",
                            data={"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})
    r = post_events(call, [validation], "SubscriptionValidation")
    assert r.status_code == 200
    assert r.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert len(calls(host, "events")) == before


def test_eventgrid_notification_invokes_once_per_event(call, host):
    events = [grid_event("one"), grid_event("two")]
    assert post_events(call, events).status_code == 202
    seen = {e["id"]: e for e in calls(host, "events")}
    first = seen[events[0]["id"]]
    assert first == {"id": events[0]["id"], "subject": "one", "type": "Microsoft.Resources.ResourceWriteSuccess",
                     "topic": "/subscriptions/s/resourceGroups/rg", "version": "1", "data": {"operationName": "write"},
                     "time": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)}
    assert events[1]["id"] in seen


def test_eventgrid_failed_invocation_answers_500_so_event_grid_retries(call, host):
    events = [grid_event("fine"), grid_event("fail")]
    r = post_events(call, events)
    assert r.status_code == 500
    assert f"cannot handle event {events[1]['id']}" in r.text
    assert {events[0]["id"], events[1]["id"]} <= {e["id"] for e in calls(host, "events")}  # both were tried


def test_eventgrid_bad_requests(call):
    assert post_events(call, [grid_event("x")], event_type=None).status_code == 400
    assert post_events(call, [grid_event("x")], event_type="Bogus").status_code == 400
    assert post_events(call, None, data=b"[{not json").status_code == 400
    assert post_events(call, [1, 2]).status_code == 400
    assert post_events(call, [grid_event("x")], "SubscriptionValidation").status_code == 400  # no validationCode
    assert post_events(call, [], event_type="Unsubscribe").status_code == 202


def test_eventgrid_keys_and_function_names(call):
    assert post_events(call, [grid_event("x")], code=None).status_code == 401
    assert post_events(call, [grid_event("x")], code="wrong").status_code == 401
    assert post_events(call, [grid_event("x")], code=FUNCTION_KEY).status_code == 401
    assert post_events(call, [grid_event("x")], code=MASTER_KEY).status_code == 202
    missing = post_events(call, [grid_event("x")], function="nope")
    assert (missing.status_code, missing.text) == (404, "cannot find function: 'nope'")
    assert post_events(call, [grid_event("x")], function="work").status_code == 404  # not an Event Grid trigger


def test_webhook_url_is_what_event_grid_subscriptions_use(host, certs):
    r = requests.post(host.webhook_url("on_event"), json=[grid_event("via-url")],
                      headers={"aeg-event-type": "Notification"}, verify=certs.ca_bundle, timeout=10)
    assert r.status_code == 202


# -- admin invocation --------------------------------------------------------------------------------

def test_admin_invokes_a_queue_function_with_the_input(call, host):
    marker = f"admin-{uuid.uuid4()}"
    r = call("POST", "/admin/functions/work", json={"input": marker}, headers={"x-functions-key": MASTER_KEY})
    assert r.status_code == 202
    record = wait_for(lambda: [c for c in calls(host, "work") if c["body"] == marker])[0]
    assert (record["dequeue_count"], record["function"]) == (1, "work")


def test_admin_invokes_an_eventgrid_function(call, host):
    event = grid_event("by-admin")
    r = call("POST", "/admin/functions/on_event", json={"input": json.dumps(event)}, headers={"x-functions-key": MASTER_KEY})
    assert r.status_code == 202
    wait_for(lambda: [e for e in calls(host, "events") if e["id"] == event["id"]])


def test_admin_errors(call):
    master, function = {"x-functions-key": MASTER_KEY}, {"x-functions-key": FUNCTION_KEY}
    assert call("POST", "/admin/functions/work", json={"input": "x"}, headers=function).status_code == 401
    assert call("POST", "/admin/functions/work", json={"input": "x"}).status_code == 401
    assert call("POST", "/admin/functions/nope", json={"input": "x"}, headers=master).status_code == 404
    assert call("POST", "/admin/functions/hello", json={"input": "x"}, headers=master).status_code == 400
    assert call("POST", "/admin/functions/on_event", json={"input": "{bad"}, headers=master).status_code == 400


# -- timers ------------------------------------------------------------------------------------------

def test_timer_fires_on_its_setting_schedule_and_never_overlaps(call, host):
    wait_for(lambda: len(calls(host, "ticks")) >= 2, timeout=8)
    count = len(calls(host, "ticks"))
    for _ in range(2):  # admin runs take the same singleton lock as scheduled ones
        assert call("POST", "/admin/functions/tick", json={}, headers={"x-functions-key": MASTER_KEY}).status_code == 202
    wait_for(lambda: len(calls(host, "ticks")) >= count + 2, timeout=8)
    ticks = sorted(calls(host, "ticks"), key=lambda t: t["start"])
    assert all(later["start"] >= earlier["end"] for earlier, later in zip(ticks, ticks[1:], strict=False))
    assert {i.trigger for i in host.invocations if i.function == "tick"} == {"timer"}


def test_timer_run_later_than_one_period_is_past_due(host):
    tick = host.functions["tick"]
    host._run_timer(tick, datetime.now(UTC) - timedelta(seconds=1.5))  # one-second period
    assert calls(host, "ticks")[-1]["past_due"] is True


# -- queues ------------------------------------------------------------------------------------------

def test_queue_message_sent_with_a_visibility_delay_runs_after_the_delay(host, azurite):
    marker = f"later-{uuid.uuid4()}"
    sent = time.monotonic()
    queue(azurite).send_message(marker, visibility_timeout=2)
    record = wait_for(lambda: [c for c in calls(host, "work") if c["body"] == marker], timeout=8)[0]
    assert 1.9 <= record["at"] - sent <= 2 + 0.5 + 2.0  # maxPollingInterval is 0.5 s in host.json (+ slack for CI)
    assert record["dequeue_count"] == 1


def test_queue_message_that_is_not_base64_goes_straight_to_the_poison_queue(host, azurite):
    text = f"plain text, not base64! {uuid.uuid4()}"
    queue(azurite, base64_policy=False).send_message(text)
    poison = queue(azurite, QUEUE + "-poison", base64_policy=False)
    moved = wait_for(lambda: [m for m in peek(poison) if m.content == text], timeout=10)
    assert len(moved) == 1  # copied as it was, once
    assert not [c for c in calls(host, "work") if c["body"] == text]  # never invoked


def test_queue_failing_message_is_retried_then_poisoned(host, azurite):
    marker = f"fail-{uuid.uuid4()}"
    queue(azurite).send_message(marker)
    poison = queue(azurite, QUEUE + "-poison", base64_policy=False)
    wait_for(lambda: poison_messages(poison, marker), timeout=10)
    attempts = [c["dequeue_count"] for c in calls(host, "work") if c["body"] == marker]
    assert attempts == [1, 2, 3]  # maxDequeueCount 3 in host.json
    failures = [i for i in host.invocations if i.function == "work" and not i.succeeded]
    assert failures and failures[-1].error == f"RuntimeError: cannot process {marker}"


def peek(client: QueueClient) -> list:
    try:
        return list(client.peek_messages(max_messages=32))
    except ResourceNotFoundError:  # the host creates the poison queue on first use
        return []


def poison_messages(client: QueueClient, marker: str) -> list:
    return [m for m in peek(client) if _b64(m.content) == marker]


def _b64(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode()
    except ValueError:  # a message that was never base64 (moved there undecoded)
        return None


def test_queue_output_binding_enqueues_for_the_queue_trigger(call, host):
    marker = f"out-{uuid.uuid4()}"
    assert call("POST", "/api/enqueue", data=marker).status_code == 202
    record = wait_for(lambda: [c for c in calls(host, "work") if c["body"] == marker], timeout=5)[0]
    assert record["invocation_id"] != ""


# -- loading errors, settings -------------------------------------------------------------------------

def write_app(tmp_path, source: str) -> str:
    (tmp_path / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n" + source)
    return str(tmp_path)


@pytest.mark.parametrize(("source", "message"), [
    ("@app.timer_trigger(arg_name='t', schedule='0 0 0 31 2 *')\ndef t(t): pass\n", "no occurrence"),
    ("@app.blob_trigger(arg_name='b', path='c/{n}', connection='S')\ndef b(b): pass\n", "'blobTrigger' is not supported"),
    ("@app.route(route='x')\ndef x(req, extra): pass\n", "parameters ['extra'] are not bound"),
    ("@app.event_grid_trigger(arg_name='e')\ndef e(e: func.QueueMessage): pass\n",
     "does not match its Python annotation 'QueueMessage'"),  # the worker checks annotations on load
    ("@app.queue_trigger(arg_name='m', queue_name='q', connection='S')\ndef m(m: int): pass\n",
     "does not match its Python annotation 'int'"),
    ("other = func.FunctionApp()\n", "exactly one FunctionApp, found 2"),
])
def test_load_errors_fail_start_and_restore_the_environment(tmp_path, source, message):
    app_dir = write_app(tmp_path, source)
    h = FunctionHost(app_dir, app_settings={"FUNCHOST_TEST_SETTING": "set"}, function_key="f", master_key="m")
    with pytest.raises((FunctionLoadError, CronError), match=re.escape(message)):
        h.start()
    assert "FUNCHOST_TEST_SETTING" not in os.environ
    assert app_dir not in sys.path
    assert sys.modules.get("function_app") is None or sys.modules["function_app"].__file__.startswith(APP)


def test_in_process_host_restores_the_environment_on_stop(tmp_path):
    app_dir = write_app(tmp_path, "import os\n@app.route(route='env', auth_level='ANONYMOUS')\n"
                                  "def env(req): return os.environ['FUNCHOST_TEST_SETTING']\n")
    os.environ["FUNCHOST_TEST_SETTING"] = "before"
    try:
        with FunctionHost(app_dir, app_settings={"FUNCHOST_TEST_SETTING": "during"}, function_key="f", master_key="m") as h:
            assert requests.get(h.url + "/api/env", timeout=5).text == "during"  # plain HTTP without ssl_context
        assert os.environ["FUNCHOST_TEST_SETTING"] == "before"
    finally:
        del os.environ["FUNCHOST_TEST_SETTING"]


def test_host_json_timespans_and_routes():
    assert parse_timespan("00:00:00.5") == 0.5
    assert parse_timespan("1.02:03:04") == 93784
    assert parse_timespan("-1") is None
    with pytest.raises(FunctionLoadError):
        parse_timespan("5 minutes")
    pattern, _ = compile_route("files/{dir}/{*rest}")
    assert pattern.match("/files/a/b/c").groupdict() == {"dir": "a", "rest": "b/c"}
    pattern, _ = compile_route("opt/{name?}")
    assert pattern.match("/opt") and pattern.match("/opt/x").group("name") == "x"


# -- the host in its own process -----------------------------------------------------------------------

def test_subprocess_host_gets_app_settings_as_env_and_stops_cleanly(azurite, certs):
    settings = {"AzureWebJobsStorage": azurite.connection_string, "WORK_QUEUE": "work-subprocess",
                "TICK_SCHEDULE": "0 0 0 1 1 *", "SAMPLE_GREETING": "hello from the subprocess"}
    handle = start_function_host_process(APP, settings, function_key=FUNCTION_KEY, master_key=MASTER_KEY,
                                         cert_file=certs.server_pem_file())
    try:
        assert "on_event" in handle.functions and handle.url.startswith("https://127.0.0.1:")
        r = requests.get(handle.url + "/api/hello/sub", verify=certs.ca_bundle, timeout=10)
        assert r.json()["greeting"] == "hello from the subprocess"
        assert os.environ.get("SAMPLE_GREETING") != "hello from the subprocess"
        validation = grid_event("", data={"validationCode": "abc"})
        r = requests.post(handle.webhook_url("on_event"), json=[validation], verify=certs.ca_bundle, timeout=10,
                          headers={"aeg-event-type": "SubscriptionValidation"})
        assert r.json() == {"validationResponse": "abc"}
    finally:
        handle.stop()
    assert handle.process.returncode == 0


def test_subprocess_host_that_cannot_start_raises(tmp_path):
    with pytest.raises(RuntimeError, match="did not start"):
        start_function_host_process(str(tmp_path), {}, function_key="f", master_key="m", timeout_s=20)


# -- NCRONTAB ------------------------------------------------------------------------------------------

def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("*/5 * * * * *", at(2026, 1, 1, 0, 0, 3), [at(2026, 1, 1, 0, 0, 5), at(2026, 1, 1, 0, 0, 10)]),
    ("*/5 * * * * *", at(2026, 1, 1, 0, 0, 5), [at(2026, 1, 1, 0, 0, 10)]),  # strictly after
    ("0 */15 * * * *", at(2026, 1, 1, 23, 50), [at(2026, 1, 2, 0, 0), at(2026, 1, 2, 0, 15)]),
    ("0 30 9 * * 1-5", at(2026, 1, 2, 10), [at(2026, 1, 5, 9, 30), at(2026, 1, 6, 9, 30)]),  # Fri -> Mon
    ("0 30 9 * * Mon-Fri", at(2026, 1, 2, 10), [at(2026, 1, 5, 9, 30)]),
    ("0 0 12 * * sun", at(2026, 1, 1), [at(2026, 1, 4, 12)]),
    ("10,20 5-6 0 1 Jan,jul *", at(2026, 1, 1), [at(2026, 1, 1, 0, 5, 10), at(2026, 1, 1, 0, 5, 20),
                                               at(2026, 1, 1, 0, 6, 10), at(2026, 1, 1, 0, 6, 20), at(2026, 7, 1, 0, 5, 10)]),
    ("0 0 0 31 * *", at(2026, 1, 31, 12), [at(2026, 3, 31), at(2026, 5, 31)]),  # months without a 31st
    ("0 0 0 29 2 *", at(2026, 1, 1), [at(2028, 2, 29)]),  # leap day
    ("0 0 0 13 * 5", at(2026, 1, 1), [at(2026, 2, 13), at(2026, 3, 13), at(2026, 11, 13)]),  # day AND weekday
    ("5/20 0 0 * * *", at(2026, 1, 1), [at(2026, 1, 1, 0, 0, 5), at(2026, 1, 1, 0, 0, 25), at(2026, 1, 1, 0, 0, 45)]),
    ("0 0 8-18/4 * * *", at(2026, 1, 1), [at(2026, 1, 1, 8), at(2026, 1, 1, 12), at(2026, 1, 1, 16), at(2026, 1, 2, 8)]),
    ("0 0 0 31 12 *", at(2026, 12, 31, 0, 0, 0, 500000), [at(2027, 12, 31)]),  # year rollover
])
def test_ncrontab_next_occurrences(expression, after, expected):
    schedule = CronSchedule.parse(expression)
    got, t = [], after
    for _ in expected:
        t = schedule.next_after(t)
        got.append(t)
    assert got == expected


def test_ncrontab_naive_times_are_utc_and_period():
    schedule = CronSchedule.parse("0 0 * * * *")
    assert schedule.next_after(datetime(2026, 1, 1, 5, 30)) == at(2026, 1, 1, 6)
    assert schedule.period_at(at(2026, 1, 1, 6)).total_seconds() == 3600


@pytest.mark.parametrize("expression", [
    "* * * * *",  # five fields: the Functions host wants seconds first
    "60 * * * * *", "* * 24 * * *", "* * * 0 * *", "* * * * 13 *", "* * * * * 7",
    "*/0 * * * * *", "5-1 * * * * *", "a * * * * *", "* * * * Ja *", "1,,2 * * * * *",
])
def test_ncrontab_rejects_invalid_expressions(expression):
    with pytest.raises(CronError):
        CronSchedule.parse(expression)
