"""The function app's own entry points, configured against devcloud + Azurite through app settings
(environment variables), as the Functions host would run them: events, HTTP requests, the timer."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

EVENT_TYPES = {"write": "Microsoft.Resources.ResourceWriteSuccess", "delete": "Microsoft.Resources.ResourceDeleteSuccess",
               "start": "Microsoft.Resources.ResourceActionSuccess", "stop": "Microsoft.Resources.ResourceActionSuccess"}
OPERATIONS = {"write": "Microsoft.ContainerService/managedClusters/write",
              "delete": "Microsoft.ContainerService/managedClusters/delete",
              "start": "Microsoft.ContainerService/managedClusters/start/action",
              "stop": "Microsoft.ContainerService/managedClusters/stop/action"}


def cluster_event(cluster_id: str, kind: str = "write", *, event_id: str | None = None) -> func.EventGridEvent:
    """An Azure subscription event about a managed cluster, as Event Grid delivers it."""
    subscription = cluster_id.strip("/").split("/")[1]
    data = {"resourceUri": cluster_id, "operationName": OPERATIONS[kind], "status": "Succeeded",
            "subscriptionId": subscription, "resourceProvider": "Microsoft.ContainerService"}
    return raw_event(EVENT_TYPES[kind], cluster_id, data, event_id=event_id, topic=f"/subscriptions/{subscription}")


def raw_event(event_type: str, subject: str, data: Any, *, event_id: str | None = None,
              topic: str = "/subscriptions/x") -> func.EventGridEvent:
    return func.EventGridEvent(id=event_id or str(uuid.uuid4()), data=data, topic=topic, subject=subject,
                               event_type=event_type, event_time=datetime.now(UTC), data_version="2")


def http_request(method: str, route: str, body: Any = b"", *, params: dict[str, str] | None = None,
                 route_params: dict[str, str] | None = None) -> func.HttpRequest:
    """An HTTP request as it reaches the app behind App Service Authentication: from a verified approver
    (the `app_env` fixture sets WEBSITE_AUTH_ENABLED, as App Service does)."""
    from shared.authz import APPROVER
    from tests.support import easy_auth_headers

    raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    headers = {"content-type": "application/json", **easy_auth_headers(APPROVER)}
    return func.HttpRequest(method, f"https://func-hublink.azurewebsites.net/api/{route}", body=raw,
                            headers=headers, params=params or {}, route_params=route_params or {})
