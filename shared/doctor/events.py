"""The spoke's Event Grid: its subscription system topic, and our event subscription on it with
the filter the function app acts on (shared.events), delivering to this app's Event Grid webhook.

Azure reports deliveries only as the topic's metrics (Azure Monitor), which the doctor does not
read: a missed event is still caught by the timer's discovery (HUBLINK_DISCOVERY_INTERVAL_S).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.doctor.report import Check, failed, passed
from shared.errors import HubLinkError
from shared.events import subscription_filter

if TYPE_CHECKING:
    from shared.arm import ArmClient

EVENTGRID_API = "2025-02-15"
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
    target = found[0]["properties"]["destination"]["properties"].get("endpointBaseUrl")
    return passed(
        "spoke",
        subscription,
        "event-grid",
        f"system topic {topic['name']} -> {found[0]['name']} ({target}); last delivery: not read (Azure Monitor metric)",
    )


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
