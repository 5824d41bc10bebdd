"""The spoke's Event Grid: its subscription system topic, and our event subscription on it with
the filter the function app acts on (shared.events), delivering to this app's Event Grid webhook,
and how its deliveries went in the last day.

Azure reports deliveries only as the topic's Azure Monitor metrics (DeliverySuccessCount and
DeliveryAttemptFailCount by EventSubscriptionName); a system topic cannot be sent a probe. Failed
attempts with no success fail the check; a quiet day (no cluster changed) does not, and the timer's
discovery (HUBLINK_DISCOVERY_INTERVAL_S) still finds what an event would have announced.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.doctor.report import Check, failed, passed
from shared.errors import HubLinkError
from shared.events import subscription_filter

if TYPE_CHECKING:
    from shared.arm import ArmClient

EVENTGRID_API = "2025-02-15"
METRICS_API = "2023-10-01"
DAY_H = 24
TOPIC_TYPE = "Microsoft.Resources.Subscriptions"
WEBHOOK_PATH = "/runtime/webhooks/eventgrid"
FIX = (
    "deploy infra/spoke.bicep in subscription {sub} (az deployment sub create --template-file infra/spoke.bicep "
    "--parameters productPrincipalId=<sp object id> webhookUrl=<the app's eventgrid webhook>)"
)


def event_grid_check(arm: ArmClient, subscription: str, tenant: str, api_base_url: str | None) -> Check:
    fix = FIX.format(sub=subscription)
    try:
        topic = _system_topic(arm, subscription, tenant)
        if topic is None:
            return failed("spoke", subscription, "event-grid", "the subscription has no Event Grid system topic", fix)
        subs = arm.get_json(
            f"{topic['id']}/eventSubscriptions", tenant_id=tenant, api_version=EVENTGRID_API, what="list event subscriptions"
        )
    except HubLinkError as exc:
        return failed("spoke", subscription, "event-grid", f"could not read Event Grid: {exc}", fix)
    found = [s for s in (subs or {}).get("value", []) if _is_ours(s, api_base_url)]
    if not found:
        names = ", ".join(s.get("name", "?") for s in (subs or {}).get("value", [])) or "none"
        where = f" to {api_base_url}{WEBHOOK_PATH}" if api_base_url else ""
        return failed(
            "spoke",
            subscription,
            "event-grid",
            f"system topic {topic['name']} has no event subscription with the cluster filter{where} (has: {names})",
            fix,
        )
    ours = found[0]
    target = ours["properties"]["destination"]["properties"].get("endpointBaseUrl")
    about = f"system topic {topic['name']} -> {ours['name']} ({target})"
    try:
        delivered, failures, last = _deliveries(arm, topic["id"], ours["name"], tenant)
    except HubLinkError as exc:
        return failed("spoke", subscription, "event-grid", f"{about}; could not read its delivery metrics: {exc}", fix)
    if failures and not delivered:
        return failed(
            "spoke",
            subscription,
            "event-grid",
            f"{about}: {failures:.0f} delivery attempts failed and none succeeded in {DAY_H} h",
            "check the function app answers its Event Grid webhook (running, and the eventgrid_extension key in "
            "the subscription's URL is current), then redeploy infra/spoke.bicep with the right webhookUrl",
        )
    seen = f"{delivered:.0f} delivered in {DAY_H} h, the last in the hour from {last}" if delivered else f"no events in {DAY_H} h"
    return passed("spoke", subscription, "event-grid", f"{about}; {seen}, {failures:.0f} failed attempts")


def _system_topic(arm: ArmClient, subscription: str, tenant: str) -> dict[str, Any] | None:
    body = arm.get_json(
        f"/subscriptions/{subscription}/providers/Microsoft.EventGrid/systemTopics",
        tenant_id=tenant,
        api_version=EVENTGRID_API,
        what="list system topics",
    )
    for topic in (body or {}).get("value", []):
        props = topic.get("properties") or {}
        if str(props.get("topicType", "")).lower() == TOPIC_TYPE.lower() and str(props.get("source", "")).lower() == (
            f"/subscriptions/{subscription}".lower()
        ):
            return topic
    return None


def _is_ours(sub: dict[str, Any], api_base_url: str | None) -> bool:
    """Delivers every event type and operation the app acts on, to this app's webhook when we know its URL."""
    props = sub.get("properties") or {}
    if str(props.get("provisioningState", "")).lower() != "succeeded":
        return False
    wanted = subscription_filter()
    flt = props.get("filter") or {}
    types = flt.get("includedEventTypes")
    if types is not None and not {t.lower() for t in wanted["includedEventTypes"]} <= {t.lower() for t in types}:
        return False
    operations: set[str] | None = None
    for f in flt.get("advancedFilters") or []:
        if f.get("key") == "data.operationName" and f.get("operatorType") == "StringIn":
            operations = {str(v).lower() for v in f.get("values") or []}
    if operations is not None and not {o.lower() for o in wanted["operationNames"]} <= operations:
        return False
    dest = props.get("destination") or {}
    base = str((dest.get("properties") or {}).get("endpointBaseUrl") or "")
    if dest.get("endpointType") != "WebHook" or not base.endswith(WEBHOOK_PATH):
        return False
    return api_base_url is None or base.lower() == f"{api_base_url}{WEBHOOK_PATH}".lower()


def _deliveries(arm: ArmClient, topic_id: str, name: str, tenant: str) -> tuple[float, float, str | None]:
    """(delivered, failed attempts, the last hour with a delivery) for our event subscription, last DAY_H hours."""
    end = datetime.now(UTC).replace(microsecond=0)
    span = f"{(end - timedelta(hours=DAY_H)).isoformat()}/{end.isoformat()}".replace("+00:00", "Z")
    query = (
        f"{topic_id}/providers/Microsoft.Insights/metrics?api-version={METRICS_API}&timespan={span}&interval=PT1H"
        f"&aggregation=Total&metricnames=DeliverySuccessCount,DeliveryAttemptFailCount"
        f"&$filter=EventSubscriptionName eq '{name}'"
    )
    body = arm.get_json(f"{arm.base}{query}", tenant_id=tenant, api_version=METRICS_API, what="read delivery metrics")
    totals: dict[str, float] = {}
    last = None
    for metric in (body or {}).get("value", []):
        points = [p for series in metric.get("timeseries", []) for p in series.get("data", [])]
        totals[metric["name"]["value"]] = sum(p.get("total") or 0 for p in points)
        if metric["name"]["value"] == "DeliverySuccessCount":
            last = next((p["timeStamp"] for p in reversed(points) if p.get("total")), None)
    return totals.get("DeliverySuccessCount", 0.0), totals.get("DeliveryAttemptFailCount", 0.0), last
