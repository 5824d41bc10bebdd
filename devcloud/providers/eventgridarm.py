"""Microsoft.EventGrid system topics and their event subscriptions, as ARM reads them.

devcloud's Event Grid (devcloud.eventgrid) delivers events; this is its management view, built
from the same event subscriptions, in the REST reference's shape (api-version 2025-02-15):

    GET /subscriptions/{s}/providers/Microsoft.EventGrid/systemTopics
    GET /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.EventGrid/systemTopics/{t}/eventSubscriptions

and the topic's Azure Monitor metrics, counted from devcloud's delivery log:

    GET {system topic id}/providers/Microsoft.Insights/metrics?metricnames=DeliverySuccessCount,DeliveryAttemptFailCount
        &timespan=<start>/<end>&interval=PT1H&aggregation=Total[&$filter=EventSubscriptionName eq '<name>']

(metric names and the EventSubscriptionName dimension as Microsoft's Event Grid metrics reference
lists them; the answer in the Metrics - List shape, one timeseries of hourly totals.)

A system topic of type Microsoft.Resources.Subscriptions (source: the subscription; location
"global") exists once an event subscription was made on the subscription. An event subscription's
webhook destination shows only `endpointBaseUrl` (Azure never returns the query string, which
carries the key; `getFullUrl` does). Reads need `Microsoft.EventGrid/systemTopics/read` and
`.../systemTopics/eventSubscriptions/read`.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
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


METRICS = {"DeliverySuccessCount": "Delivered Events", "DeliveryAttemptFailCount": "Delivery Failed Events"}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def metrics(cloud: Any, ctx: ArmContext) -> Response:
    """Hourly totals of the topic's deliveries (success / failed attempts) over the asked timespan."""
    q = ctx.request.query
    names = [n.strip() for n in q.get("metricnames", "").split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if not names or unknown:
        raise ArmError(400, "BadRequest", f"Failed to find metric configuration for provider: Microsoft.EventGrid, "
                                          f"resource Type: systemTopics, metric: {','.join(unknown) or '(none)'}")
    end = datetime.now(UTC)
    start = end - timedelta(hours=1)
    if "/" in q.get("timespan", ""):
        start, end = (_when(t) for t in q["timespan"].split("/", 1))
    wanted = re.search(r"EventSubscriptionName eq '([^']+)'", q.get("$filter", ""), re.IGNORECASE)
    hours = max(1, int((end - start).total_seconds() // 3600) + (1 if (end - start).total_seconds() % 3600 else 0))
    with cloud.eventgrid._lock:
        log = [d for d in cloud.eventgrid.deliveries if d.subscription_id == ctx.subscription_id.lower()
               and (wanted is None or d.subscription.lower() == wanted.group(1).lower())]
    topic = ctx.request.path[: ctx.request.path.lower().index("/providers/microsoft.insights/")]
    value = []
    for name in names:
        ok = name == "DeliverySuccessCount"
        totals = [0.0] * hours
        for d in log:
            at = datetime.fromtimestamp(d.time, UTC)
            if start <= at < end and (d.outcome == "Succeeded") == ok:
                totals[int((at - start).total_seconds() // 3600)] += 1
        data = [{"timeStamp": (start + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ"), "total": t}
                for i, t in enumerate(totals)]
        meta = [{"name": {"value": "eventsubscriptionname", "localizedValue": "eventsubscriptionname"},
                 "value": wanted.group(1)}] if wanted else []
        value.append({"id": f"{topic}/providers/Microsoft.Insights/metrics/{name}", "type": "Microsoft.Insights/metrics",
                      "name": {"value": name, "localizedValue": METRICS[name]}, "unit": "Count",
                      "timeseries": [{"metadatavalues": meta, "data": data}], "errorCode": "Success"})
    return Response.json(200, {"cost": 0, "timespan": f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
                               "interval": "PT1H", "value": value, "namespace": TOPIC_TYPE, "resourceregion": "global"})


def register(cloud: Any) -> SystemTopics:
    topics = SystemTopics(cloud)
    sub = "/subscriptions/{subscriptionId}"
    cloud.arm.route("GET", f"{sub}/providers/{TOPIC_TYPE}", topics.list_topics, action=f"{TOPIC_TYPE}/read")
    one = f"{sub}/resourceGroups/{{resourceGroupName}}/providers/{TOPIC_TYPE}/{{systemTopicName}}"
    cloud.arm.route("GET", f"{one}/eventSubscriptions", topics.list_subscriptions, action=f"{SUBSCRIPTION_TYPE}/read")
    cloud.arm.route("GET", f"{one}/providers/Microsoft.Insights/metrics", lambda ctx: metrics(cloud, ctx),
                    action="Microsoft.Insights/metrics/read")
    return topics
