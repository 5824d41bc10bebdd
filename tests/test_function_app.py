"""The wiring of function_app.py (what the Functions host indexes), and input handling without Azure."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

import function_app
from shared.authz import APPROVER, OPERATOR, READER
from tests.support import easy_auth_headers, indexed_functions


@pytest.fixture
def behind_easy_auth(monkeypatch):
    """The platform's own switch, as App Service sets it when authentication is on."""
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "true")
    monkeypatch.delenv("HUBLINK_API_AUTH", raising=False)


@pytest.fixture(scope="module")
def functions():
    return {f.get_function_name(): f for f in indexed_functions()}


def test_function_names_and_trigger_types(functions):
    assert {name: f.get_trigger().get_binding_name() for name, f in functions.items()} == {
        "on_cluster_event": "eventGridTrigger",
        "continue_link": "queueTrigger",
        "sweep": "timerTrigger",
        "reconcile_link": "httpTrigger",
        "list_links": "httpTrigger",
        "get_link": "httpTrigger",
        "approve_link": "httpTrigger",
        "list_hubs": "httpTrigger",
        "approve_connection": "httpTrigger",
        "reject_connection": "httpTrigger",
        "doctor": "httpTrigger",
        "status_page": "httpTrigger",
    }


def test_timer_schedule_comes_from_an_app_setting(functions):
    trigger = functions["sweep"].get_trigger().get_dict_repr()
    assert trigger["schedule"] == "%HUBLINK_TIMER_SCHEDULE%"
    assert trigger["runOnStartup"] is False


def test_queue_trigger_uses_the_continuation_queue(functions):
    from shared.continuation import QUEUE_NAME

    trigger = functions["continue_link"].get_trigger().get_dict_repr()
    assert trigger["queueName"] == QUEUE_NAME and trigger["connection"] == "AzureWebJobsStorage"


@pytest.mark.parametrize(
    "name,route,methods",
    [
        ("reconcile_link", "links/reconcile", ["POST"]),
        ("list_links", "links", ["GET"]),
        ("get_link", "links/{subscriptionId}/{resourceGroup}/{clusterName}", ["GET"]),
        ("approve_link", "links/approve", ["POST"]),
        ("list_hubs", "hubs", ["GET"]),
        ("approve_connection", "connections/approve", ["POST"]),
        ("reject_connection", "connections/reject", ["POST"]),
        ("doctor", "doctor", ["GET"]),
        ("status_page", "status", ["GET"]),
    ],
)
def test_http_routes_are_gated_by_easy_auth_not_a_function_key(functions, name, route, methods):
    trigger = functions[name].get_trigger().get_dict_repr()
    assert trigger["route"] == route
    assert [str(getattr(m, "value", m)) for m in trigger["methods"]] == methods
    # A function key is a shared secret with no identity: App Service Authentication is the gate.
    assert str(getattr(trigger["authLevel"], "value", trigger["authLevel"])) == "anonymous"


ROLE_OF = {
    "reconcile_link": OPERATOR,
    "list_links": READER,
    "get_link": READER,
    "list_hubs": READER,
    "doctor": READER,
    "status_page": READER,
    "approve_link": APPROVER,
    "approve_connection": APPROVER,
    "reject_connection": APPROVER,
}
BELOW = {READER: [], OPERATOR: [READER], APPROVER: [READER, OPERATOR]}


def call(name: str, headers: dict[str, str], body: bytes = b'{"clusterId": 5}') -> tuple[int, dict]:
    route = {"subscriptionId": "s", "resourceGroup": "g", "clusterName": "c"}
    resp = getattr(function_app, name)(func.HttpRequest("POST", f"/api/{name}", headers=headers, body=body, route_params=route))
    return resp.status_code, json.loads(resp.get_body())


@pytest.mark.parametrize("name", sorted(ROLE_OF))
def test_each_route_needs_its_role_and_fails_closed(monkeypatch, name):
    for var in ("HUBLINK_HUBS", "HUBLINK_SPOKES", "AzureWebJobsStorage", "WEBSITE_AUTH_ENABLED", "HUBLINK_API_AUTH"):
        monkeypatch.delenv(var, raising=False)
    # Not behind App Service Authentication: a principal header proves nothing, so 401 whatever it says.
    status, body = call(name, easy_auth_headers(APPROVER))
    assert (status, body["error"]["code"]) == (401, "AuthenticationNotConfigured")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "true")
    assert call(name, {})[0] == 401
    assert call(name, {"X-MS-CLIENT-PRINCIPAL-NAME": "mallory", "X-MS-CLIENT-PRINCIPAL-ID": "1"})[0] == 401
    for lower in [None, *BELOW[ROLE_OF[name]]]:
        status, body = call(name, easy_auth_headers(*([lower] if lower else [])))
        assert (status, body["error"]["code"]) == (403, "Forbidden") and ROLE_OF[name] in body["error"]["message"]
    # With the role (or a higher one) the call gets past the gate: to the 400 of its bad input, or (GET,
    # no settings here) to the configuration error.
    for enough in (ROLE_OF[name], APPROVER):
        status, body = call(name, easy_auth_headers(enough))
        assert status in (400, 500) and body["error"]["code"] in ("InvalidClusterId", "InvalidConfiguration"), body


@pytest.mark.parametrize(
    "body,code",
    [
        (b"{not json", "InvalidJson"),
        (b"[]", "MissingClusterId"),
        (b'{"clusterId": 5}', "InvalidClusterId"),
        (b'{"clusterId": "/subscriptions/../resourceGroups/x"}', "InvalidClusterId"),
        (
            json.dumps(
                {
                    "clusterId": "/subscriptions/20000000-0000-4000-8000-0000000000b1/resourceGroups/rg/providers/"
                    "Microsoft.Network/privateEndpoints/pe"
                }
            ).encode(),
            "InvalidClusterId",
        ),
        (b"\xff\xfe", "InvalidJson"),
    ],
)
def test_bad_reconcile_requests_are_400_without_touching_anything(monkeypatch, behind_easy_auth, body, code):
    # No settings at all: a bad request must be refused before anything is configured or read.
    for var in ("HUBLINK_HUBS", "HUBLINK_SPOKES", "AzureWebJobsStorage"):
        monkeypatch.delenv(var, raising=False)
    headers = easy_auth_headers(OPERATOR)
    resp = function_app.reconcile_link(func.HttpRequest("POST", "/api/links/reconcile", headers=headers, body=body))
    assert resp.status_code == 400
    assert json.loads(resp.get_body())["error"]["code"] == code


def test_oversized_body_is_413(behind_easy_auth):
    headers = easy_auth_headers(OPERATOR)
    resp = function_app.reconcile_link(func.HttpRequest("POST", "/api/links/reconcile", headers=headers, body=b" " * 20000))
    assert resp.status_code == 413


@pytest.mark.parametrize(
    "event_type,operation,subject,expected",
    [
        ("Microsoft.Resources.ResourceWriteSuccess", "Microsoft.ContainerService/managedClusters/write", "C", True),
        ("Microsoft.Resources.ResourceDeleteSuccess", "Microsoft.ContainerService/managedClusters/delete", "C", True),
        ("Microsoft.Resources.ResourceActionSuccess", "Microsoft.ContainerService/managedClusters/start/action", "C", True),
        (
            "Microsoft.Resources.ResourceActionSuccess",
            "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
            "C",
            False,
        ),
        (
            "Microsoft.Resources.ResourceWriteSuccess",
            "Microsoft.ContainerService/managedClusters/agentPools/write",
            "C/agentPools/p",
            False,
        ),
        ("Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Network/privateEndpoints/write", "PE", False),
        ("Microsoft.Resources.ResourceWriteFailure", "Microsoft.ContainerService/managedClusters/write", "C", False),
        ("Microsoft.Storage.BlobCreated", None, "C", False),
    ],
)
def test_event_filter(event_type, operation, subject, expected):
    from shared.handlers import cluster_from_event

    cluster = (
        "/subscriptions/20000000-0000-4000-8000-0000000000b1/resourceGroups/rg/providers/"
        "Microsoft.ContainerService/managedClusters/aks1"
    )
    pe = "/subscriptions/20000000-0000-4000-8000-0000000000b1/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe1"
    subject = {"C": cluster, "C/agentPools/p": cluster + "/agentPools/p", "PE": pe}[subject]
    data = {"operationName": operation, "resourceUri": subject} if operation else {}
    found = cluster_from_event(event_type, subject, data)
    assert (found is not None) is expected
    if expected:
        assert found.id == cluster
