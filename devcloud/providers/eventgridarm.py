"""Microsoft.EventGrid system topics and their event subscriptions, as ARM reads them.

devcloud's Event Grid (devcloud.eventgrid) delivers events; this is its management view, built
from the same event subscriptions, in the REST reference's shape (api-version 2025-02-15):

    GET /subscriptions/{s}/providers/Microsoft.EventGrid/systemTopics
    GET /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.EventGrid/systemTopics/{t}/eventSubscriptions

A system topic of type Microsoft.Resources.Subscriptions (source: the subscription; location
"global") exists once an event subscription was made on the subscription. An event subscription's
webhook destination shows only `endpointBaseUrl` (Azure never returns the query string, which
carries the key; `getFullUrl` does). Reads need `Microsoft.EventGrid/systemTopics/read` and
`.../systemTopics/eventSubscriptions/read`.
"""

from __future__ import annotations

import uuid
from typing import Any

from devcloud.arm import ArmContext, ArmError
from devcloud.httpserver import Response
from devcloud.providers.common import key

TOPIC_TYPE = "Microsoft.EventGrid/systemTopics"
SUBSCRIPTION_TYPE = f"{TOPIC_TYPE}/eventSubscriptions"


def _topic_id(subscription_id: str, group: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{group}/providers/{TOPIC_TYPE}/{name}"


class SystemTopics:
    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud

    def _topic(self, subscription_id: str) -> dict[str, Any] | None:
        found = self.cloud.eventgrid.topics.get(subscription_id.lower())
        if found is None:
            return None
        group, name = found
        return {
            "id": _topic_id(subscription_id, group, name),
            "name": name,
            "type": TOPIC_TYPE,
            "location": "global",
            "tags": {},
            "properties": {
                "provisioningState": "Succeeded",
                "source": f"/subscriptions/{subscription_id}",
                "topicType": "Microsoft.Resources.Subscriptions",
                "metricResourceId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            },
        }

    def list_topics(self, ctx: ArmContext) -> Response:
        topic = self._topic(ctx.subscription_id)
        return Response.json(200, {"value": [topic] if topic else []})

    def list_subscriptions(self, ctx: ArmContext) -> Response:
        topic = self._topic(ctx.subscription_id)
        wanted = _topic_id(ctx.subscription_id, ctx.params["resourceGroupName"], ctx.params["systemTopicName"])
        if topic is None or key(topic["id"]) != key(wanted):
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{TOPIC_TYPE}/{ctx.params['systemTopicName']}' under "
                f"resource group '{ctx.params['resourceGroupName']}' was not found. "
                "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        subs = self.cloud.eventgrid.list_subscriptions(ctx.subscription_id)
        return Response.json(200, {"value": [self._body(topic["id"], s) for s in subs]})

    @staticmethod
    def _body(topic_id: str, sub: Any) -> dict[str, Any]:
        return {
            "id": f"{topic_id}/eventSubscriptions/{sub.name}",
            "name": sub.name,
            "type": SUBSCRIPTION_TYPE,
            "properties": {
                "topic": topic_id,
                "provisioningState": "Succeeded",
                "eventDeliverySchema": "EventGridSchema",
                "destination": {
                    "endpointType": "WebHook",
                    "properties": {
                        "endpointBaseUrl": sub.endpoint.split("?", 1)[0],
                        "maxEventsPerBatch": 1,
                        "preferredBatchSizeInKilobytes": 64,
                    },
                },
                "filter": {
                    "includedEventTypes": sub.included_event_types,
                    "advancedFilters": [dict(f) for f in sub.advanced_filters],
                    "enableAdvancedFilteringOnArrays": False,
                },
                "retryPolicy": {
                    "maxDeliveryAttempts": sub.max_delivery_attempts,
                    "eventTimeToLiveInMinutes": sub.event_ttl_minutes,
                },
            },
        }


def register(cloud: Any) -> SystemTopics:
    topics = SystemTopics(cloud)
    sub = "/subscriptions/{subscriptionId}"
    cloud.arm.route("GET", f"{sub}/providers/{TOPIC_TYPE}", topics.list_topics, action=f"{TOPIC_TYPE}/read")
    one = f"{sub}/resourceGroups/{{resourceGroupName}}/providers/{TOPIC_TYPE}/{{systemTopicName}}"
    cloud.arm.route("GET", f"{one}/eventSubscriptions", topics.list_subscriptions, action=f"{SUBSCRIPTION_TYPE}/read")
    return topics
