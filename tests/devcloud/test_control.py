"""The /_devcloud control API, route by route, driven over HTTPS as another process would drive it."""

from __future__ import annotations

import time

import pytest
import requests

from devcloud.arm import DEFAULT_LIMITS
from devcloud.httpserver import Request, Response
from devcloud.sink import Sink
from devcloud.world import HUB_SUBSCRIPTION, HUB_TENANT, SPOKE_SUBSCRIPTION_B1, SPOKE_TENANT, principal_object_id

WIDGET = "/subscriptions/{subscriptionId}/providers/Devcloud.ControlTest/widgets/{name}"
READ = "Devcloud.ControlTest/widgets/read"
WRITE = "Devcloud.ControlTest/widgets/write"


def token(cloud, app_name: str, tenant: str) -> str:
    app = next(a for a in cloud.world.applications if a.name == app_name)
    tok, _ = cloud.identity.issue(tenant_id=tenant, client_id=app.client_id, name=app.name,
                                  object_id=principal_object_id(app.client_id, tenant), audience="https://management.azure.com")
    return tok


@pytest.fixture(scope="module")
def widgets(cloud_session):
    def handler(ctx):
        if ctx.request.method == "PUT":
            ctx.emit("Microsoft.Resources.ResourceWriteSuccess", ctx.request.path, WRITE)
        return Response.json(200, {"id": ctx.request.path})

    cloud_session.arm.route("GET", WIDGET, handler, action=READ)
    cloud_session.arm.route("PUT", WIDGET, handler, action=WRITE)


@pytest.fixture
def http(cloud, widgets):
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
    s.verify = cloud.certs.ca_bundle
    yield s
    s.close()


@pytest.fixture
def ctl(cloud):
    return f"{cloud.url}/_devcloud"


def call_widget(cloud, http, *, method="GET", app="admin", tenant=HUB_TENANT, sub=HUB_SUBSCRIPTION, name="w1",
                api="2024-01-01") -> requests.Response:
    return http.request(method, f"{cloud.url}/subscriptions/{sub}/providers/Devcloud.ControlTest/widgets/{name}",
                        params={"api-version": api}, headers={"Authorization": f"Bearer {token(cloud, app, tenant)}"},
                        json={} if method == "PUT" else None)


# -- faults --------------------------------------------------------------------------------------
def test_faults_add_list_apply_delete(cloud, http, ctl):
    r = http.post(f"{ctl}/faults", json={"path": "/widgets/w1$", "status": 503, "retry_after": 2, "times": 1})
    assert r.status_code == 201
    rule = r.json()
    assert rule["id"] and rule["status"] == 503 and rule["times"] == 1 and rule["hits"] == 0
    assert http.get(f"{ctl}/faults").json() == {"value": [rule]}
    first = call_widget(cloud, http)
    assert (first.status_code, first.headers["Retry-After"], first.json()["error"]["code"]) == (503, "2", "ServiceUnavailable")
    assert call_widget(cloud, http).status_code == 200  # times=1 used up
    assert http.get(f"{ctl}/faults").json()["value"][0]["hits"] == 1
    assert http.delete(f"{ctl}/faults/{rule['id']}").status_code == 204
    assert http.delete(f"{ctl}/faults/{rule['id']}").json()["error"]["code"] == "FaultNotFound"
    assert http.get(f"{ctl}/faults").json() == {"value": []}


def test_faults_clear_and_control_routes_are_never_faulted(cloud, http, ctl):
    assert http.post(f"{ctl}/faults", json={"id": "everything", "action": "drop"}).status_code == 201
    assert http.post(f"{ctl}/faults", json={"id": "everything"}).json()["error"]["message"] == \
           "a fault with id 'everything' exists"
    with pytest.raises(requests.ConnectionError):
        call_widget(cloud, http)
    assert http.delete(f"{ctl}/faults").status_code == 204  # the control API itself still answers
    assert cloud.arm.faults == []
    assert call_widget(cloud, http).status_code == 200


def test_drop_after_processing_does_the_work_then_cuts_the_connection(cloud, http, ctl):
    rule = http.post(f"{ctl}/faults", json={"method": "PUT", "path": "/widgets/lost$", "action": "drop_after",
                                             "times": 1}).json()
    with pytest.raises(requests.ConnectionError):
        call_widget(cloud, http, method="PUT", name="lost")
    [entry] = [e for e in cloud.arm.entries() if e.path.endswith("/widgets/lost")]
    assert entry.status == 200 and entry.fault == f"{rule['id']}:drop_after"  # ARM processed it
    fired = http.get(f"{ctl}/faults/{rule['id']}/fired").json()
    assert fired["fired"] == 1 and fired["statuses"] == [200] and fired["reached"]
    assert call_widget(cloud, http, method="PUT", name="lost").status_code == 200  # times=1 used up


def test_a_hook_holds_the_processed_answer_until_released(cloud, http, ctl):
    import threading

    rule = http.post(f"{ctl}/faults", json={"method": "PUT", "path": "/widgets/held$", "action": "hook",
                                             "hold": True, "times": 1}).json()
    assert http.get(f"{ctl}/faults/{rule['id']}/fired", params={"wait": 0}).json()["reached"] is False
    answers: list[int] = []
    caller = threading.Thread(target=lambda: answers.append(call_widget(cloud, http, method="PUT", name="held").status_code))
    caller.start()
    fired = http.get(f"{ctl}/faults/{rule['id']}/fired", params={"count": 1, "wait": 10}).json()
    assert fired["reached"] and fired["held"] == 1 and answers == []  # processed, the client still waits
    assert any(e.path.endswith("/widgets/held") and e.status == 200 for e in cloud.arm.entries())
    assert http.post(f"{ctl}/faults/{rule['id']}/release").json()["released"] is True
    caller.join(timeout=10)
    assert answers == [200]
    assert http.get(f"{ctl}/faults/nope/fired").status_code == 404


@pytest.mark.parametrize("body", [{"colour": "red"}, {"status": "500"}, {"action": "explode"}, {"path": "("},
                                  {"probability": True}, {"hold": 1}, {"action": "drop_after", "hold_s": "5"}])
def test_fault_validation(http, ctl, body):
    r = http.post(f"{ctl}/faults", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"


def test_bad_json_is_400(http, ctl):
    r = http.post(f"{ctl}/faults", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]["message"]
    assert http.put(f"{ctl}/latency", json=[1]).status_code == 400


# -- timing --------------------------------------------------------------------------------------
def test_latency(cloud, http, ctl):
    assert http.put(f"{ctl}/latency", json={"seconds": 0.15}).json() == {"seconds": 0.15}
    assert cloud.arm.latency_s == 0.15
    started = time.monotonic()
    assert call_widget(cloud, http).status_code == 200
    assert time.monotonic() - started >= 0.15
    assert http.put(f"{ctl}/latency", json={"seconds": -1}).status_code == 400
    assert http.put(f"{ctl}/latency", json={"seconds": 0}).json() == {"seconds": 0.0}


def test_lro_settings_merge_and_remove(cloud, http, ctl):
    saved = dict(cloud.arm.lro_seconds), dict(cloud.arm.retry_after_s)
    try:
        r = http.put(f"{ctl}/lro", json={"durations": {"privateEndpoints/create": 0.2, "widgets/create": 1},
                                        "retry_after": {"Microsoft.Network": 1}})
        assert r.status_code == 200
        assert r.json()["durations"]["privateEndpoints/create"] == 0.2
        assert cloud.arm.lro_duration("widgets/create", 99) == 1.0
        assert cloud.arm.retry_after("Microsoft.Network") == 1
        http.put(f"{ctl}/lro", json={"durations": {"widgets/create": None}})
        assert cloud.arm.lro_duration("widgets/create", 99) == 99
        assert http.put(f"{ctl}/lro", json={"durations": {"x": "slow"}}).status_code == 400
    finally:
        cloud.arm.lro_seconds.clear()
        cloud.arm.lro_seconds.update(saved[0])
        cloud.arm.retry_after_s.clear()
        cloud.arm.retry_after_s.update(saved[1])


def test_throttling_set_and_reset(cloud, http, ctl):
    try:
        r = http.put(f"{ctl}/throttling", json={"read": [1, 0.5]})
        assert r.json()["read"] == [1.0, 0.5] and r.json()["write"] == list(DEFAULT_LIMITS["write"])
        assert call_widget(cloud, http).status_code == 200
        throttled = call_widget(cloud, http)
        assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "SubscriptionRequestsThrottled"
        assert http.put(f"{ctl}/throttling", json={"reads": [1, 1]}).status_code == 400
        assert http.put(f"{ctl}/throttling", json={"read": [1]}).status_code == 400
    finally:
        r = http.delete(f"{ctl}/throttling")
    assert r.json() == {k: list(v) for k, v in DEFAULT_LIMITS.items()}
    assert cloud.arm.limits == DEFAULT_LIMITS
    assert call_widget(cloud, http).status_code == 200


# -- what happened -------------------------------------------------------------------------------
def test_requests_counters_and_actions(cloud, http, ctl):
    call_widget(cloud, http, name="a")
    call_widget(cloud, http, name="b", method="PUT", api="2023-05-01")
    call_widget(cloud, http, app="hublink", tenant=SPOKE_TENANT, sub=SPOKE_SUBSCRIPTION_B1)  # 403
    log = http.get(f"{ctl}/requests").json()["value"]
    assert [(e["method"], e["principal"], e["status"], e["kind"]) for e in log] == [
        ("GET", "admin", 200, "read"), ("PUT", "admin", 200, "write"), ("GET", "hublink", 403, "read")]
    assert log[0]["template"] == WIDGET and log[1]["api_version"] == "2023-05-01" and log[2]["tenant"] == SPOKE_TENANT
    assert log[2]["action"] == READ
    assert [e["seq"] for e in http.get(f"{ctl}/requests", params={"principal": "hublink"}).json()["value"]] == [log[2]["seq"]]
    assert [e["method"] for e in http.get(f"{ctl}/requests", params={"method": "put"}).json()["value"]] == ["PUT"]
    assert len(http.get(f"{ctl}/requests", params={"since": log[0]["seq"]}).json()["value"]) == 2

    counts = http.get(f"{ctl}/counters").json()
    assert counts == {"total": 3, "method": {"GET": 2, "PUT": 1}, "template": {WIDGET: 3},
                      "apiVersion": {"2024-01-01": 2, "2023-05-01": 1}, "tenant": {HUB_TENANT: 2, SPOKE_TENANT: 1},
                      "principal": {"admin": 2, "hublink": 1}, "status": {"200": 2, "403": 1},
                      "kind": {"read": 2, "write": 1}}
    assert http.get(f"{ctl}/counters", params={"principal": "admin"}).json()["total"] == 2

    scope = f"/subscriptions/{HUB_SUBSCRIPTION}/providers/Devcloud.ControlTest/widgets"
    assert http.get(f"{ctl}/actions").json() == {"admin": [{"action": READ, "scope": f"{scope}/a"},
                                                           {"action": WRITE, "scope": f"{scope}/b"}]}
    assert http.delete(f"{ctl}/requests").status_code == 204
    assert http.get(f"{ctl}/requests").json() == {"value": []}
    assert http.get(f"{ctl}/actions").json() == {}


def test_world_includes_secrets(cloud, http, ctl):
    world = http.get(f"{ctl}/world").json()
    assert world == cloud.world.to_dict()
    assert {a["name"]: a["secret"] for a in world["applications"]}["hublink"] == "devcloud-hublink-secret"


def test_control_api_answers_loopback_only(cloud):
    req = Request(method="GET", path="/_devcloud/world", raw_path="/_devcloud/world", query={}, headers={}, body=b"",
                  client=("10.1.2.3", 50000))
    resp = cloud.router.dispatch(req)
    assert resp.status == 403 and b"loopback clients only" in resp.body


# -- Event Grid ----------------------------------------------------------------------------------
@pytest.fixture
def sink(cloud):
    cloud.eventgrid.reset()
    s = Sink(cloud.certs).start()
    yield s
    s.stop()
    cloud.eventgrid.reset()


def test_eventgrid_routes(cloud, http, ctl, sink):
    body = {"subscriptionId": HUB_SUBSCRIPTION, "name": "ctl-events", "endpoint": f"{sink.url}/events",
            "includedEventTypes": ["Microsoft.Resources.ResourceWriteSuccess"],
            "advancedFilters": [{"operatorType": "StringIn", "key": "data.operationName", "values": [WRITE]}]}
    r = http.post(f"{ctl}/eventgrid/subscriptions", json=body)
    assert r.status_code == 201
    created = r.json()
    assert {k: created[k] for k in body} == body and created["provisioningState"] == "Succeeded"
    assert http.get(f"{ctl}/eventgrid/subscriptions").json() == {"value": [created]}
    assert http.get(f"{ctl}/eventgrid/subscriptions", params={"subscriptionId": SPOKE_SUBSCRIPTION_B1}).json() == {"value": []}

    r = http.put(f"{ctl}/eventgrid/behaviour", json={"duplicate": 0.0, "reorder": False, "timeScale": 0.01,
                                                     "duplicateNext": 1})
    assert r.json() == {"duplicate": 0.0, "reorder": False, "timeScale": 0.01, "jitter": 0.0}
    assert cloud.eventgrid.time_scale == 0.01
    sink.clear()
    sink.fail_next(500)  # first attempt fails, retried after 0.1 s, then the duplicate
    call_widget(cloud, http, method="PUT", name="evented")
    sink.wait_for(3)
    deadline = time.monotonic() + 5
    while len(http.get(f"{ctl}/eventgrid/deliveries").json()["value"]) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    deliveries = http.get(f"{ctl}/eventgrid/deliveries").json()["value"]
    assert [(d["attempt"], d["status"], d["duplicate"], d["subscription"]) for d in deliveries] == [
        (0, 500, False, "ctl-events"), (1, 200, False, "ctl-events"), (2, 200, True, "ctl-events")]
    assert set(deliveries[0]) == {"eventId", "subscription", "subscriptionId", "attempt", "status", "outcome",
                                  "latency", "time", "duplicate", "eventType", "subject"}

    sink.fail_next(400)
    call_widget(cloud, http, method="PUT", name="rejected")
    deadline = time.monotonic() + 5
    while not http.get(f"{ctl}/eventgrid/dead-letters").json()["value"] and time.monotonic() < deadline:
        time.sleep(0.01)
    [dead] = http.get(f"{ctl}/eventgrid/dead-letters").json()["value"]
    assert dead["deadLetterReason"] == "UndeliverableDueToHttpBadRequest" and dead["subject"].endswith("/rejected")

    assert http.delete(f"{ctl}/eventgrid/subscriptions/ctl-events").status_code == 204
    assert http.delete(f"{ctl}/eventgrid/subscriptions/ctl-events").json()["error"]["code"] == "EventSubscriptionNotFound"
    assert http.get(f"{ctl}/eventgrid/subscriptions").json() == {"value": []}


def test_eventgrid_subscription_errors(http, ctl, sink):
    sink.validate = False
    r = http.post(f"{ctl}/eventgrid/subscriptions", json={"subscriptionId": HUB_SUBSCRIPTION, "name": "ctl-events",
                                                         "endpoint": sink.url})
    assert r.status_code == 400 and r.json()["error"]["code"] == "ValidationHandshakeFailed"
    r = http.post(f"{ctl}/eventgrid/subscriptions", json={"subscriptionId": HUB_SUBSCRIPTION, "name": "ctl-events"})
    assert r.status_code == 400 and "endpoint" in r.json()["error"]["message"]
    r = http.post(f"{ctl}/eventgrid/subscriptions", json={"subscriptionId": HUB_SUBSCRIPTION, "name": "x",
                                                         "endpoint": sink.url})
    assert r.status_code == 400 and r.json()["error"]["code"] == "EventGridError"
    assert http.put(f"{ctl}/eventgrid/behaviour", json={"duplicate": 2}).status_code == 400
    assert http.put(f"{ctl}/eventgrid/behaviour", json={"timeScale": 0}).status_code == 400
    assert http.put(f"{ctl}/eventgrid/behaviour", json={"jitter": 1.5}).status_code == 400
    assert http.put(f"{ctl}/eventgrid/behaviour", json={"jitter": 0.2}).json()["jitter"] == 0.2
    assert http.put(f"{ctl}/eventgrid/behaviour", json={"reorder": "yes"}).status_code == 400
