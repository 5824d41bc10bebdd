"""devcloud Event Grid: handshake, delivery schema and headers, filters, retries, dead letters, chaos knobs.

Events come from a dummy ARM route that calls `ctx.emit`, exactly as the resource providers do,
and land in a webhook sink. `time_scale` shrinks Event Grid's schedule (10 s first retry, 30 s
answer timeout) so retries take a fraction of a second.
"""

from __future__ import annotations

import time

import pytest
import requests

from devcloud.azurite import free_port
from devcloud.eventgrid import EventGridError, ValidationHandshakeFailed, advanced_filter_matches, retry_delay_s
from devcloud.httpserver import Response
from devcloud.sink import Sink
from devcloud.world import HUB_SUBSCRIPTION, HUB_TENANT, SPOKE_SUBSCRIPTION_A, principal_object_id

THING = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Devcloud.EventTest/things/{name}"
WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"


def wait_until(condition, timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def sink(cloud_session):
    s = Sink(cloud_session.certs).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def emit(cloud_session):
    """emit(name, event_type, operation, subscription) -> resource id: a PUT on a dummy route that calls ctx.emit."""

    def handler(ctx):
        q = ctx.request.query
        ctx.emit(q["type"], ctx.request.path, q["op"])
        return Response.json(200, {"id": ctx.request.path})

    cloud_session.arm.route("PUT", THING, handler, action="Devcloud.EventTest/things/write")
    admin = next(a for a in cloud_session.world.applications if a.name == "admin")
    token, _ = cloud_session.identity.issue(tenant_id=HUB_TENANT, client_id=admin.client_id, name="admin",
                                            object_id=principal_object_id(admin.client_id, HUB_TENANT),
                                            audience="https://management.azure.com")
    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
    http.verify = cloud_session.certs.ca_bundle
    http.headers["Authorization"] = f"Bearer {token}"

    def do(name: str, event_type: str = WRITE, operation: str = "Devcloud.EventTest/things/write",
           subscription: str = HUB_SUBSCRIPTION) -> str:
        path = f"/subscriptions/{subscription}/resourceGroups/rg-events/providers/Devcloud.EventTest/things/{name}"
        r = http.put(f"{cloud_session.url}{path}", params={"api-version": "2024-01-01", "type": event_type,
                                                            "op": operation}, json={})
        assert r.status_code == 200, r.text
        return path

    yield do
    http.close()


@pytest.fixture
def eg(cloud, sink):
    cloud.eventgrid.reset()
    sink.clear()
    yield cloud.eventgrid
    cloud.eventgrid.reset()
    sink.clear()


def notifications(sink: Sink) -> list[dict]:
    return [r for r in sink.received if r["headers"].get("aeg-event-type") == "Notification"]


def subscribe(eg, sink, name: str = "hublink-events", **kwargs):
    sub = eg.add_subscription(HUB_SUBSCRIPTION, name, f"{sink.url}/api/events?code=k1", **kwargs)
    sink.clear()  # forget the handshake
    return sub


# -- handshake -----------------------------------------------------------------------------------
def test_handshake_posts_validation_event_and_creates_subscription(eg, sink):
    sub = eg.add_subscription(HUB_SUBSCRIPTION, "hublink-events", f"{sink.url}/api/events?code=k1",
                              included_event_types=[WRITE])
    [post] = sink.received
    assert post["path"] == "/api/events" and post["query"] == {"code": "k1"}
    assert post["headers"]["aeg-event-type"] == "SubscriptionValidation"
    assert post["headers"]["aeg-subscription-name"] == "HUBLINK-EVENTS"
    [event] = post["body"]
    assert event["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent"
    assert event["topic"] == f"/subscriptions/{HUB_SUBSCRIPTION}"
    assert event["subject"] == ""
    assert isinstance(event["data"]["validationCode"], str) and event["data"]["validationCode"]
    assert eg.list_subscriptions(HUB_SUBSCRIPTION) == [sub]
    assert sub.as_dict() == {"subscriptionId": HUB_SUBSCRIPTION, "name": "hublink-events",
                             "endpoint": f"{sink.url}/api/events?code=k1", "includedEventTypes": [WRITE],
                             "advancedFilters": [], "maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440,
                             "provisioningState": "Succeeded"}


@pytest.mark.parametrize("misbehave", ["no-code", "status-500"])
def test_failed_handshake_creates_nothing(eg, sink, misbehave):
    if misbehave == "no-code":
        sink.validate = False  # answers 200 {} without the code
    else:
        sink.fail_next(500)
    with pytest.raises(ValidationHandshakeFailed, match="Webhook validation handshake failed"):
        eg.add_subscription(HUB_SUBSCRIPTION, "hublink-events", f"{sink.url}/api/events")
    assert eg.list_subscriptions() == []


def test_unreachable_or_invalid_endpoint_is_refused(eg, sink):
    with pytest.raises(ValidationHandshakeFailed, match="ConnectionFailed"):
        eg.add_subscription(HUB_SUBSCRIPTION, "hublink-events", f"https://127.0.0.1:{free_port()}/api/events")
    with pytest.raises(EventGridError, match="https"):
        eg.add_subscription(HUB_SUBSCRIPTION, "hublink-events", sink.url.replace("https", "http"))
    with pytest.raises(EventGridError, match="does not exist"):
        eg.add_subscription("99999999-0000-4000-8000-000000000000", "hublink-events", sink.url)
    with pytest.raises(EventGridError, match="operatorType"):
        eg.add_subscription(HUB_SUBSCRIPTION, "hublink-events", sink.url,
                            advanced_filters=[{"operatorType": "NumberIn", "key": "data.x", "values": [1]}])
    assert eg.list_subscriptions() == []


# -- delivery ------------------------------------------------------------------------------------
def test_delivery_schema_and_headers(eg, sink, emit):
    subscribe(eg, sink)
    resource = emit("thing-1")
    [post] = sink.wait_for(1)
    h = post["headers"]
    assert h["aeg-event-type"] == "Notification"
    assert h["aeg-subscription-name"] == "HUBLINK-EVENTS"
    assert h["aeg-delivery-count"] == "0"
    assert h["aeg-data-version"] == "2"
    assert h["aeg-metadata-version"] == "1"
    assert h["content-type"].startswith("application/json")
    [event] = post["body"]
    assert set(event) == {"id", "topic", "subject", "eventType", "eventTime", "data", "dataVersion", "metadataVersion"}
    assert event["topic"] == f"/subscriptions/{HUB_SUBSCRIPTION}"
    assert event["subject"] == resource
    assert event["eventType"] == WRITE
    assert event["eventTime"].endswith("Z")
    assert event["data"]["operationName"] == "Devcloud.EventTest/things/write"
    assert event["data"]["resourceUri"] == resource
    assert event["data"]["subscriptionId"] == HUB_SUBSCRIPTION
    [d] = wait_until(lambda: eg.deliveries)
    assert (d.event_id, d.subscription, d.attempt, d.status, d.outcome, d.duplicate) == \
           (event["id"], "hublink-events", 0, 200, "Succeeded", False)
    assert d.latency_s >= 0 and d.time > 0


def test_delivery_never_runs_inside_the_arm_request(eg, sink, emit):
    subscribe(eg, sink)
    sink.hang_next(0.4)
    started = time.monotonic()
    emit("thing-slow-webhook")
    assert time.monotonic() - started < 0.3
    wait_until(lambda: eg.deliveries)


def test_events_go_only_to_their_subscriptions_topic(eg, sink, emit):
    subscribe(eg, sink)
    emit("elsewhere", subscription=SPOKE_SUBSCRIPTION_A)
    emit("here")
    [post] = sink.wait_for(1)
    time.sleep(0.1)
    assert len(sink.received) == 1 and post["body"][0]["subject"].endswith("/things/here")


def test_filters_on_event_type_and_operation_name(eg, sink, emit):
    subscribe(eg, sink, included_event_types=[DELETE.lower()],
              advanced_filters=[{"operatorType": "StringIn", "key": "data.operationName",
                                 "values": ["devcloud.eventtest/things/DELETE"]}])
    emit("a", event_type=WRITE, operation="Devcloud.EventTest/things/delete")
    emit("b", event_type=DELETE, operation="Devcloud.EventTest/things/other/action")
    emit("c", event_type=DELETE, operation="Devcloud.EventTest/things/delete")
    [post] = sink.wait_for(1)
    time.sleep(0.1)
    assert len(sink.received) == 1 and post["body"][0]["subject"].endswith("/things/c")


EVENT = {"eventType": "X", "subject": "/a/B", "data": {"operationName": "Microsoft.Network/privateEndpoints/write"}}


@pytest.mark.parametrize(("op", "values", "expected"), [
    ("StringIn", ["microsoft.network/privateendpoints/WRITE"], True),
    ("StringIn", ["Microsoft.Network/privateEndpoints/delete"], False),
    ("StringNotIn", ["Microsoft.Network/privateEndpoints/delete"], True),
    ("StringNotIn", ["MICROSOFT.NETWORK/PRIVATEENDPOINTS/WRITE"], False),
    ("StringBeginsWith", ["nope", "microsoft.network/"], True),
    ("StringEndsWith", ["/WRITE"], True),
    ("StringContains", ["privateendpoints"], True),
    ("StringContains", ["dns"], False),
])
def test_advanced_string_filters_ignore_case(op, values, expected):
    assert advanced_filter_matches({"operatorType": op, "key": "data.operationName", "values": values}, EVENT) is expected


@pytest.mark.parametrize(("op", "expected"), [("StringIn", False), ("StringNotIn", True), ("StringContains", False)])
def test_advanced_filter_on_missing_key(op, expected):
    assert advanced_filter_matches({"operatorType": op, "key": "data.missing", "values": ["x"]}, EVENT) is expected


# -- retries and dead letters --------------------------------------------------------------------
def test_retry_after_500_on_scaled_schedule(eg, sink, emit):
    subscribe(eg, sink)
    eg.time_scale = 0.01  # first retry after 10 s -> 0.1 s
    sink.fail_next(500)
    emit("thing-retry")
    first, second = sink.wait_for(2)
    assert [first["headers"]["aeg-delivery-count"], second["headers"]["aeg-delivery-count"]] == ["0", "1"]
    assert first["body"][0]["id"] == second["body"][0]["id"]
    assert second["time"] - first["time"] >= 0.09
    d0, d1 = wait_until(lambda: eg.deliveries if len(eg.deliveries) == 2 else None)
    assert (d0.attempt, d0.status, d0.outcome) == (0, 500, "InternalServerError")
    assert (d1.attempt, d1.status, d1.outcome) == (1, 200, "Succeeded")
    assert eg.dead_letters == []


def test_retry_after_answer_timeout(eg, sink, emit):
    subscribe(eg, sink)
    eg.time_scale = 0.01  # the 30 s answer timeout -> 0.3 s
    sink.hang_next(0.8)
    emit("thing-timeout")
    d0, d1 = wait_until(lambda: eg.deliveries if len(eg.deliveries) == 2 else None)
    assert (d0.attempt, d0.status, d0.outcome) == (0, None, "TimedOut")
    assert 0.25 <= d0.latency_s < 0.8
    assert (d1.attempt, d1.status, d1.outcome) == (1, 200, "Succeeded")


@pytest.mark.parametrize(("status", "outcome"), [(400, "BadRequest"), (401, "Unauthorized"), (403, "Forbidden"),
                                                  (413, "RequestEntityTooLarge")])
def test_client_errors_are_dead_lettered_without_retry(eg, sink, emit, status, outcome):
    subscribe(eg, sink)
    eg.time_scale = 0.01
    sink.fail_next(status, count=3)
    emit("thing-rejected")
    [dead] = wait_until(lambda: eg.dead_letters)
    assert dead["deadLetterReason"] == f"UndeliverableDueToHttp{outcome}"
    assert (dead["deliveryAttempts"], dead["lastDeliveryOutcome"], dead["lastHttpStatusCode"]) == (1, outcome, status)
    assert dead["eventSubscription"] == "hublink-events" and dead["subject"].endswith("/things/thing-rejected")
    time.sleep(0.25)  # a retry would have come after 0.1 s
    assert len(sink.received) == 1 and len(eg.deliveries) == 1


def test_max_delivery_attempts(eg, sink, emit):
    subscribe(eg, sink, max_delivery_attempts=3)
    eg.time_scale = 0.001
    sink.fail_next(503, count=10)
    emit("thing-down")
    [dead] = wait_until(lambda: eg.dead_letters)
    assert (dead["deadLetterReason"], dead["deliveryAttempts"], dead["lastHttpStatusCode"]) == \
           ("MaxDeliveryAttemptsExceeded", 3, 503)
    assert [d.attempt for d in eg.deliveries] == [0, 1, 2]


def test_time_to_live(eg, sink, emit):
    subscribe(eg, sink, event_ttl_minutes=1)
    eg.time_scale = 0.005  # TTL 60 s -> 0.3 s; retries after 0.05, 0.15, 0.3 s
    sink.fail_next(500, count=20)
    emit("thing-expiring")
    [dead] = wait_until(lambda: eg.dead_letters)
    assert dead["deadLetterReason"] == "TimeToLiveExceeded"
    assert 1 <= dead["deliveryAttempts"] <= 4 and dead["lastDeliveryOutcome"] == "InternalServerError"
    assert [d.status for d in eg.deliveries] == [500] * dead["deliveryAttempts"]


def test_retry_schedule_is_microsofts_published_one():
    """delivery-and-retry: 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h."""
    published = [10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 43200]
    assert [retry_delay_s(n) for n in range(1, 12)] == published
    # With the default 30 attempts and 24 h to live, the time to live ends the retries first.
    assert sum(retry_delay_s(n) for n in range(1, 12)) > 24 * 3600 > sum(retry_delay_s(n) for n in range(1, 11))
    import random

    rng = random.Random(7)
    drawn = [retry_delay_s(1, 0.2, rng) for _ in range(200)]
    assert 8.0 <= min(drawn) < 9.0 and 11.0 < max(drawn) <= 12.0  # jitter: +-20% around the step


def test_retries_follow_the_schedule_then_dead_letter(eg, sink, emit):
    subscribe(eg, sink, max_delivery_attempts=5)
    eg.time_scale = 0.002  # 10 s, 30 s, 1 min, 5 min -> 20, 60, 120, 600 ms
    sink.fail_next(503, count=10)
    emit("thing-schedule")
    [dead] = wait_until(lambda: eg.dead_letters, timeout_s=10)
    assert (dead["deadLetterReason"], dead["deliveryAttempts"]) == ("MaxDeliveryAttemptsExceeded", 5)
    times = [d.time for d in eg.deliveries]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    for gap, step in zip(gaps, (10, 30, 60, 300), strict=True):
        assert step * 0.002 * 0.9 <= gap < step * 0.002 + 0.1, (gaps, step)


def test_removed_subscription_drops_pending_retries(eg, sink, emit):
    sub = subscribe(eg, sink)
    eg.time_scale = 0.01
    sink.fail_next(500)
    emit("thing-orphan")
    sink.wait_for(1)
    assert eg.remove_subscription(sub.subscription_id, sub.name) is True
    time.sleep(0.25)
    assert len(sink.received) == 1 and eg.dead_letters == []
    assert eg.remove_subscription(sub.subscription_id, sub.name) is False


# -- chaos knobs ---------------------------------------------------------------------------------
def test_duplicate_next_delivers_the_event_twice(eg, sink, emit):
    subscribe(eg, sink)
    eg.duplicate_next(1)
    emit("thing-dup")
    first, second = sink.wait_for(2)
    assert first["body"] == second["body"]
    assert [first["headers"]["aeg-delivery-count"], second["headers"]["aeg-delivery-count"]] == ["0", "1"]
    emit("thing-once")
    sink.wait_for(3)
    time.sleep(0.1)
    assert len(sink.received) == 3
    assert [d.duplicate for d in eg.deliveries] == [False, True, False]


def test_duplicate_probability(eg, sink, emit):
    subscribe(eg, sink)
    eg.duplicate_probability = 1.0
    emit("thing-p1")
    emit("thing-p2")
    posts = sink.wait_for(4)
    assert sorted(p["body"][0]["subject"].rsplit("/", 1)[1] for p in posts) == ["thing-p1"] * 2 + ["thing-p2"] * 2


def test_reorder_delivers_a_held_batch_in_reverse(eg, sink, emit):
    subscribe(eg, sink)
    eg.reorder = True
    for name in ("first", "second", "third"):
        emit(name)
    assert sink.received == []  # held
    posts = sink.wait_for(3)
    assert [p["body"][0]["subject"].rsplit("/", 1)[1] for p in posts] == ["third", "second", "first"]


# -- the sink itself -----------------------------------------------------------------------------
def test_sink_http_interface(cloud, sink):
    http = requests.Session()
    http.trust_env = False
    http.verify = cloud.certs.ca_bundle
    sink.clear()
    r = http.put(f"{sink.url}/_sink/behaviour", json={"status": 503, "count": 1})
    assert r.json() == {"planned": [{"status": 503, "hangSeconds": 0.0}]}
    assert http.post(f"{sink.url}/hooks/a", json={"n": 1}).status_code == 503
    assert http.post(f"{sink.url}/hooks/b", data=b"plain text").status_code == 200
    assert [p["body"] for p in http.get(sink.url).json()] == [{"n": 1}, "plain text"]
    assert [p["path"] for p in http.get(f"{sink.url}/hooks/b").json()] == ["/hooks/b"]
    assert http.delete(sink.url).status_code == 204
    assert http.get(sink.url).json() == [] and sink.received == []
