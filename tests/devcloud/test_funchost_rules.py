"""The local Functions host follows the Functions host's and the Python worker's rules.

One test (or more) per rule, against sample_app_rules/ in an in-process host and Azurite. Where
each rule comes from is in the docstrings of devcloud/funchost*.py.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devcloud.client import wait_for
from devcloud.eventgrid import NOT_RETRIED
from devcloud.funchost import FunctionHost, host_query
from devcloud.funchost_logs import AttributedOnly, LogForwarder
from devcloud.funchost_storage import MissingConnection, resolve_queue_connection
from devcloud.funchost_timers import ScheduleStatusStore, uses_monitor
from devcloud.funchost_worker import run_sync

APP = os.path.join(os.path.dirname(__file__), "sample_app_rules")
EVENTGRID_KEY = "egk-rules"
DOWN_SINCE = datetime(2026, 1, 1, 3, tzinfo=UTC)  # the last daily run before the app went down


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    """The schedule status a previous run of the host left: `daily` was next due long ago."""
    root = str(tmp_path_factory.mktemp("funchost-state"))
    ScheduleStatusStore(root, "sampleapprules").write("daily", DOWN_SINCE, DOWN_SINCE + timedelta(days=1), DOWN_SINCE)
    return root


@pytest.fixture(scope="module")
def host(azurite, state_dir):
    settings = {"AzureWebJobsStorage": azurite.connection_string, "FUNCHOST_STATE_DIR": state_dir,
                "RulesIdentity__queueServiceUri": "https://127.0.0.1:1/devstoreaccount1/",
                "RulesIdentity__credential": "managedidentity", "RulesIdentity__clientId": "id-client"}
    h = FunctionHost(APP, app_settings=settings, function_key="fk", master_key="mk", eventgrid_key=EVENTGRID_KEY).start()
    yield h
    h.stop()


def seen(host, kind: str) -> list:
    return host.module.SEEN[kind]


def deliver(host, function: str, body) -> requests.Response:
    return requests.post(host.webhook_url(function), data=json.dumps(body), timeout=10,
                         headers={"aeg-event-type": "Notification", "Content-Type": "application/json"})


def grid(**extra) -> dict:
    return {"id": str(uuid.uuid4()), "topic": "/subscriptions/s", "subject": "/subscriptions/s/x",
            "eventType": "Microsoft.Resources.ResourceWriteSuccess", "eventTime": "2026-01-02T03:04:05.6789012Z",
            "data": {"operationName": "write"}, "dataVersion": "1", **extra}


def cloud(**extra) -> dict:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/subscriptions/s",
            "type": "Microsoft.Resources.ResourceWriteSuccess", "subject": "/subscriptions/s/x",
            "time": "2026-01-02T03:04:05Z", "data": {"operationName": "write"}, **extra}


def failures(host, function: str) -> list:
    return [i for i in host.invocations if i.function == function and not i.succeeded]


# -- parameters are converted by their annotation ----------------------------------------------------

@pytest.mark.parametrize(("queue", "function", "kind"), [
    ("rules-str", "as_str", "str"), ("rules-bytes", "as_bytes", "bytes"), ("rules-message", "as_message", "QueueMessage"),
    ("rules-bytes-undeclared", "as_bytes_undeclared", "str"),  # generic binding: the host's string as it is
])
def test_queue_parameter_is_what_its_annotation_asks_for(host, azurite, queue, function, kind):
    text = f"body-{uuid.uuid4()}"
    QueueClient.from_connection_string(azurite.connection_string, queue,
                                       message_encode_policy=TextBase64EncodePolicy()).send_message(text)
    record = wait_for(lambda: [r for r in seen(host, "queue") if r["value"] == text], timeout=10)[0]
    assert (record["function"], record["type"]) == (function, kind)


def test_eventgrid_schema_event_reaches_an_eventgrid_event_parameter(host):
    event = grid()
    assert deliver(host, "grid_event", [event]).status_code == 202
    assert [r["type"] for r in seen(host, "events") if r["id"] == event["id"]] == ["EventGridEvent"]


def test_cloudevents_delivery_reaches_the_function_as_a_cloud_event(host):
    event = cloud()
    assert deliver(host, "cloud_event", event).status_code == 202  # CloudEvents: one object, not an array
    record = next(r for r in seen(host, "events") if r["id"] == event["id"])
    assert record == {"function": "cloud_event", "type": "CloudEvent", "id": event["id"], "source": "/subscriptions/s",
                      "event_type": "Microsoft.Resources.ResourceWriteSuccess", "subject": "/subscriptions/s/x",
                      "time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "data": {"operationName": "write"}}


def test_the_converter_picks_the_class_by_the_payload_not_the_annotation(host):
    """A CloudEvent delivered to a function annotated func.EventGridEvent still arrives as a CloudEvent."""
    event = cloud()
    assert deliver(host, "grid_event", [event]).status_code == 202
    assert [r["type"] for r in seen(host, "events") if r["id"] == event["id"]] == ["CloudEvent"]


def test_unreadable_event_time_fails_the_invocation_with_500_so_event_grid_redelivers(host):
    event = grid(eventTime="yesterday at noon")
    r = deliver(host, "grid_event", [event])
    assert r.status_code == 500
    assert not [x for x in seen(host, "events") if x["id"] == event["id"]]
    assert failures(host, "grid_event")
    assert 500 not in NOT_RETRIED  # devcloud's Event Grid redelivers a 500, as Azure does


def test_a_malformed_body_is_still_refused_before_any_invocation(host):
    r = requests.post(host.webhook_url("grid_event"), data=b"[{not json", headers={"aeg-event-type": "Notification"},
                      timeout=10)
    assert r.status_code == 400


def test_cloudevents_validation_handshake(host):
    validation = cloud(type="Microsoft.EventGrid.SubscriptionValidationEvent", data=json.dumps({"validationCode": "c0de"}))
    r = requests.post(host.webhook_url("cloud_event"), json=validation, timeout=10,
                      headers={"aeg-event-type": "SubscriptionValidation"})
    assert (r.status_code, r.json()) == (200, {"validationResponse": "c0de"})


# -- a value returned without $return ------------------------------------------------------------------

def test_a_value_returned_without_a_return_binding_fails_the_invocation(host):
    r = deliver(host, "returns_a_value", [grid()])
    assert r.status_code == 500
    assert "without a $return binding returned a non-None value" in r.text
    assert failures(host, "returns_a_value")[-1].error.startswith("RuntimeError: function 'returns_a_value' without")


# -- the invocation context -------------------------------------------------------------------------------

def test_context_has_trace_and_retry_contexts(host):
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    info = requests.get(host.url + "/api/context", headers={"traceparent": parent, "tracestate": "x=1"}, timeout=10).json()
    trace_id, span_id = info["trace_parent"].split("-")[1:3]
    assert trace_id == "0af7651916cd43dd8448eb211c80319c" and span_id != "b7ad6b7169203331"  # same trace, new span
    assert (info["retry_count"], info["max_retry_count"]) == (0, 0)  # what the worker gets with no retry policy
    assert info["thread_local"] == info["invocation_id"] and info["function"] == "context_info"
    fresh = requests.get(host.url + "/api/context", timeout=10).json()
    assert fresh["trace_parent"].split("-")[1] != trace_id


# -- query values ---------------------------------------------------------------------------------------------

def test_repeated_query_values_are_joined_and_empty_ones_left_out(host):
    raw = "a=1&a=2&empty=&flag&B=x&b=y&code=&s=%20"
    r = requests.get(f"{host.url}/api/query?{raw}", timeout=10).json()
    assert r["params"] == {"a": "1,2", "B": "x,y", "s": " "}
    assert r["url"] == f"{host.url}/api/query?{raw}"  # the raw query string, as sent
    assert host_query("x=&x=") == {"x": ","}  # StringValues ["", ""] joins to "," (not empty)


# -- log lines need their invocation id ----------------------------------------------------------------------

def test_log_lines_from_threads_without_an_invocation_id_are_dropped(host):
    assert requests.get(host.url + "/api/logs", timeout=10).text == "logged"
    invocation = wait_for(lambda: [i for i in host.invocations if i.function == "logs"])[-1]
    forwarded = {e.message for e in host.logs.forwarded if e.invocation_id == invocation.invocation_id}
    assert forwarded == {"rules.on_invocation_thread", "rules.on_own_thread_with_id"}
    dropped = [e for e in host.logs.dropped if e.message == "rules.on_own_thread"]
    assert dropped and dropped[-1].invocation_id is None


def test_async_functions_keep_their_id_in_child_tasks_not_in_threads(host):
    assert requests.get(host.url + "/api/logs-async", timeout=10).text == "logged"
    invocation = wait_for(lambda: [i for i in host.invocations if i.function == "logs_async"])[-1]
    forwarded = {e.message for e in host.logs.forwarded if e.invocation_id == invocation.invocation_id}
    assert forwarded == {"rules.async_child_task"}
    assert [e for e in host.logs.dropped if e.message == "rules.async_to_thread"]


def test_a_line_after_the_invocation_ended_is_dropped_and_the_stream_filter_agrees():
    forwarder, logger = LogForwarder(), logging.getLogger("sample.rules.unit")
    records: list[logging.LogRecord] = []
    sink = logging.Handler()
    sink.emit = records.append  # type: ignore[method-assign]
    sink.addFilter(AttributedOnly(forwarder, keep_unattributed=False))
    logger.addHandler(forwarder)
    logger.addHandler(sink)
    logger.setLevel(logging.INFO)
    try:
        forwarder.begin("inv-1", "f")
        run_sync("inv-1", lambda: logger.info("during"))
        forwarder.end("inv-1")
        run_sync("inv-1", lambda: logger.info("after"))  # same id, but the host no longer runs it
        logging.getLogger("devcloud.funchost").handle(logger.makeRecord("devcloud.funchost", logging.INFO, "", 0,
                                                                        "host line", None, None))
    finally:
        logger.removeHandler(forwarder)
        logger.removeHandler(sink)
    assert [e.message for e in forwarder.forwarded] == ["during"]
    assert [e.message for e in forwarder.dropped] == ["after"]
    assert [(r.getMessage(), r.funchost_tag) for r in records] == [("during", "[inv-1] ")]


# -- @app.retry ------------------------------------------------------------------------------------------------

def test_retry_policy_reruns_a_failing_timer_with_its_retry_context(host):
    assert requests.post(host.url + "/admin/functions/flaky", json={}, headers={"x-functions-key": "mk"},
                         timeout=10).status_code == 202
    runs = wait_for(lambda: seen(host, "flaky") if len(seen(host, "flaky")) >= 3 else None, timeout=10)
    assert [(r["retry_count"], r["max_retry_count"]) for r in runs] == [(0, 2), (1, 2), (2, 2)]
    assert runs[0]["exception"] is None
    assert runs[1]["exception"] == "RuntimeError: attempt 0 fails" and runs[2]["exception"] == "RuntimeError: attempt 1 fails"
    assert host.functions["flaky"].retry == {"strategy": "fixed_delay", "max_retry_count": 2, "delay_interval": 0.2}


def test_retry_policy_on_other_triggers_is_ignored_as_the_host_does(tmp_path):
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\napp = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "@app.route(route='r')\n@app.retry(strategy='fixed_delay', max_retry_count='3', delay_interval='00:00:01')\n"
        "def r(req): return 'ok'\n")
    with FunctionHost(str(tmp_path), app_settings={}, function_key="f", master_key="m") as h:
        assert h.functions["r"].retry is None
        assert requests.get(h.url + "/api/r", timeout=5).text == "ok"


# -- timers after downtime ---------------------------------------------------------------------------------------

def test_a_timer_missed_while_the_app_was_down_runs_past_due_on_start(host, state_dir):
    assert wait_for(lambda: seen(host, "daily"), timeout=10)[0] == {"past_due": True}
    status = wait_for(lambda: (s := ScheduleStatusStore(state_dir, "sampleapprules").read("daily"))
                      and s["LastUpdated"] > DOWN_SINCE + timedelta(days=1) and s)
    assert status["Last"] == DOWN_SINCE + timedelta(days=1)  # the occurrence that was missed
    assert status["Next"] > datetime.now(UTC) and status["Next"].hour == 3
    assert len(seen(host, "daily")) == 1  # once, not once per missed day


def test_schedule_monitor_defaults_to_schedules_of_a_minute_or_more(host):
    assert uses_monitor(None, timedelta(minutes=1)) and not uses_monitor(None, timedelta(seconds=15))
    assert uses_monitor(True, timedelta(seconds=1)) and not uses_monitor(False, timedelta(days=1))
    assert host.functions["daily"].use_monitor and host.functions["flaky"].use_monitor


# -- missing settings and connections --------------------------------------------------------------------------------

def test_a_missing_setting_or_connection_disables_only_that_function(host):
    assert "app setting 'RULES_NOT_SET' is not set" in host.errors["needs_a_setting"]
    assert "RulesNoSuchConnection" in host.errors["needs_a_connection"]
    assert not {"needs_a_setting", "needs_a_connection"} & set(host.functions)
    assert requests.get(host.url + "/api/context", timeout=10).status_code == 200  # the rest runs
    assert requests.post(host.url + "/admin/functions/needs_a_setting", json={}, headers={"x-functions-key": "mk"},
                         timeout=10).status_code == 404


# -- identity-based connections ----------------------------------------------------------------------------------------

def test_identity_based_connection_of_an_output_binding(host):
    queue, connection = host.functions["identity_out"].outputs["out"]
    assert (queue, connection.connection_string, connection.service_uri) == (
        "rules-identity", None, "https://127.0.0.1:1/devstoreaccount1")
    assert isinstance(connection.credential, ManagedIdentityCredential)
    client = connection.queue_client("rules-identity")
    assert client.url == "https://127.0.0.1:1/devstoreaccount1/rules-identity"


@pytest.mark.parametrize(("settings", "uri", "credential"), [
    ({"AzureWebJobsStorage__accountName": "acct"}, "https://acct.queue.core.windows.net", DefaultAzureCredential),
    ({"AzureWebJobsStorage__queueServiceUri": "https://127.0.0.1:9/a", "AzureWebJobsStorage__credential": "managedidentity"},
     "https://127.0.0.1:9/a", ManagedIdentityCredential),
    ({"AzureWebJobsStorage__serviceUri": "https://127.0.0.1:9/b", "AzureWebJobsStorage__tenantId": "t",
      "AzureWebJobsStorage__clientId": "c", "AzureWebJobsStorage__clientSecret": "s"}, "https://127.0.0.1:9/b",
     ClientSecretCredential),
])
def test_identity_based_host_storage_settings(settings, uri, credential):
    connection = resolve_queue_connection(settings.get, "AzureWebJobsStorage")
    assert connection.service_uri == uri and isinstance(connection.credential, credential)


def test_connection_strings_win_and_nothing_set_is_a_clear_error():
    both = {"Store": "UseDevelopmentStorage=true", "Store__accountName": "ignored"}
    assert resolve_queue_connection(both.get, "Store").connection_string == "UseDevelopmentStorage=true"
    assert resolve_queue_connection({"AzureWebJobsStore": "x=y"}.get, "Store").connection_string == "x=y"
    with pytest.raises(MissingConnection, match="Store__queueServiceUri"):
        resolve_queue_connection({}.get, "Store")



# -- the product's own Event Grid trigger under these rules -----------------------------------------------------

def test_the_products_event_trigger_takes_a_cloud_event_without_a_redelivery_loop(azurite, monkeypatch):
    """CloudEvents-schema deliveries reach on_cluster_event as func.CloudEvent; it hands the same
    event to the service layer (faked here: the product's own adapter) and answers 202."""
    from shared import handlers

    got: list[tuple] = []
    monkeypatch.setattr(handlers, "handle_event", lambda *args: got.append(args))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    settings = {"AzureWebJobsStorage": azurite.connection_string, "HUBLINK_TIMER_SCHEDULE": "0 0 0 1 1 *"}
    with FunctionHost(repo, app_settings=settings, function_key="f", master_key="m", eventgrid_key=EVENTGRID_KEY) as h:
        subject = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1"
        for event in (cloud(subject=subject), grid(subject=subject)):
            assert deliver(h, "on_cluster_event", event).status_code == 202
    expected = ("Microsoft.Resources.ResourceWriteSuccess", subject, {"operationName": "write"})
    assert [args[:3] for args in got] == [expected] * 2


def test_the_products_sweep_lines_reach_the_host_with_its_invocation_id(cloud, azurite, op, monkeypatch):
    """The sweep run through this host, as the real host would log it: the sweep reconciles on its
    own pool threads, and each of them carries the timer's invocation id (shared.invocation), so the
    host keeps every product line of the run, not only `sweep.done`."""
    from shared.runtime import reset_runtime
    from tests.support import product_env

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    lost = op.create_cluster()  # no event subscription: only the sweep finds it
    reset_runtime()  # a new service: its first sweep discovers the cluster above
    try:
        with FunctionHost(repo, app_settings=product_env(cloud, azurite, HUBLINK_TIMER_SCHEDULE="0 0 0 1 1 *"),
                          function_key="f", master_key="m") as h:
            assert requests.post(h.url + "/admin/functions/sweep", json={}, headers={"x-functions-key": "m"},
                                 timeout=10).status_code == 202
            run = wait_for(lambda: [i for i in h.invocations if i.function == "sweep"], timeout=60)[0]
            forwarded = [e for e in h.logs.forwarded if e.logger.startswith("hublink")]
            dropped = [e for e in h.logs.dropped if e.logger.startswith("hublink")]
    finally:
        reset_runtime()
    assert run.succeeded, run.error
    assert [e.invocation_id for e in forwarded if e.message.startswith("sweep.done")] == [run.invocation_id]
    assert any(lost.lower() in e.message.lower() for e in forwarded + dropped), (lost, forwarded + dropped)
    assert dropped == [], [e.message for e in dropped]
    assert any(lost.lower() in e.message.lower() for e in forwarded if e.message.startswith("link.")), forwarded
    assert {e.invocation_id for e in forwarded} == {run.invocation_id}
