"""The wiring of function_app.py (what the Functions host indexes), and input handling without Azure."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

import function_app
from tests.support import indexed_functions


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
        ("approve_connection", "connections/approve", ["POST"]),
        ("reject_connection", "connections/reject", ["POST"]),
        ("doctor", "doctor", ["GET"]),
        ("status_page", "status", ["GET"]),
    ],
)
def test_http_routes_need_a_function_key(functions, name, route, methods):
    trigger = functions[name].get_trigger().get_dict_repr()
    assert trigger["route"] == route
    assert [str(getattr(m, "value", m)) for m in trigger["methods"]] == methods
    assert str(getattr(trigger["authLevel"], "value", trigger["authLevel"])) == "function"


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
def test_bad_reconcile_requests_are_400_without_touching_anything(monkeypatch, body, code):
    # No settings at all: a bad request must be refused before anything is configured or read.
    for var in ("HUBLINK_HUBS", "HUBLINK_SPOKES", "AzureWebJobsStorage"):
        monkeypatch.delenv(var, raising=False)
    resp = function_app.reconcile_link(func.HttpRequest("POST", "/api/links/reconcile", body=body))
    assert resp.status_code == 400
    assert json.loads(resp.get_body())["error"]["code"] == code


def test_oversized_body_is_413():
    resp = function_app.reconcile_link(func.HttpRequest("POST", "/api/links/reconcile", body=b" " * 20000))
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
