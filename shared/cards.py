"""Adaptive Cards (1.4) for Teams, drawn from the same JSON event the generic webhooks get.

A card must let the person who reads it act without opening anything else: which cluster, where,
in what state, portal links, and for anything that needs a person the exact HTTP call (with the
reader's own Entra ID token: the API takes no key) and CLI line. Office 365 connectors are retired,
so the card goes to a Teams Workflows webhook inside the message envelope `teams_message` builds.

Commands and error texts go in RichTextBlock/TextRun, which Teams shows verbatim (no markdown), so
underscores and asterisks in names and curl lines survive.
"""

from __future__ import annotations

from typing import Any

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.4"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

# type -> (title, container style)
KINDS: dict[str, tuple[str, str]] = {
    "link.ready": ("Link ready", "good"),
    "link.drift_repaired": ("Link repaired", "good"),
    "link.foreign_connection_pending": ("Connection request waiting for a person", "warning"),
    "link.awaiting_approval": ("Link waiting for approval", "accent"),
    "link.pending_too_long": ("Link waiting too long", "warning"),
    "link.failing": ("Link keeps failing", "warning"),
    "link.failed": ("Link failed", "attention"),
    "link.cleaned_up": ("Link removed", "emphasis"),
    "link.ip_changed": ("Hub IP changed", "warning"),
    "hub.capacity_low": ("Hub capacity low", "warning"),
    "hub.capacity_exhausted": ("Hub capacity exhausted", "attention"),
    "connection.approved": ("Connection approved", "good"),
    "connection.rejected": ("Connection rejected", "attention"),
}


def teams_message(event: dict[str, Any]) -> dict[str, Any]:
    """The body a Teams Workflows webhook ("When a Teams webhook request is received") accepts."""
    return {
        "type": "message",
        "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": adaptive_card(event)}],
    }


def adaptive_card(event: dict[str, Any]) -> dict[str, Any]:
    title, style = KINDS.get(event.get("type", ""), (str(event.get("type")), "default"))
    where = " in ".join(str(x) for x in (event.get("clusterName"), event.get("region")) if x)
    body: list[dict[str, Any]] = [
        {
            "type": "Container",
            "style": style,
            "bleed": True,
            "items": [
                {"type": "TextBlock", "text": title, "size": "Large", "weight": "Bolder", "wrap": True},
                {
                    "type": "TextBlock",
                    "text": where or str(event.get("clusterId")),
                    "isSubtle": True,
                    "spacing": "None",
                    "wrap": True,
                },
            ],
        },
        {"type": "TextBlock", "text": summary(event), "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(event)]},
    ]
    if event.get("error"):
        body += _section("Reason", [event["error"]], color="Attention", monospace=False)
    for label, lines in commands(event):
        body += _section(label, lines)
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    actions = [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in links(event)]
    if actions:
        card["actions"] = actions
    return card


def summary(event: dict[str, Any]) -> str:
    kind = event.get("type")
    fqdn, ip = event.get("fqdn") or "the API server", event.get("privateIp") or "?"
    foreign = event.get("foreignConnection") or {}
    decision = event.get("decision") or {}
    texts = {
        "link.ready": f"{fqdn} now resolves to {ip} in the hub, through the hub's private endpoint.",
        "link.drift_repaired": f"The hub endpoint was recreated and linked again: {fqdn} moved from "
        f"{event.get('previousPrivateIp') or '?'} to {ip}.",
        "link.foreign_connection_pending": f"Private endpoint {_name(foreign.get('privateEndpointId'))} asks to "
        "connect to this cluster. aks-hublink never approves a connection it did "
        "not create: approve or reject it with one of the commands below.",
        "link.awaiting_approval": "HUBLINK_APPROVAL is manual: the hub endpoint exists and its connection waits "
        "for a person. Approve the link with one of the commands below.",
        "link.pending_too_long": f"The link has been waiting for {_duration(event.get('waitingSeconds'))} "
        f"(now {event.get('phase')}): {event.get('message') or 'no progress reported'}",
        "link.failing": f"{event.get('attempts')} attempts in a row failed; aks-hublink keeps retrying with backoff.",
        "link.failed": "Retrying cannot help until something changes: fix the reason below, then retry.",
        "link.cleaned_up": f"{_sentence(event.get('reason'))} The hub endpoint and DNS record of this cluster"
        f"{' and the Private Link Service in front of it' if event.get('accessPath') == 'vnet-integration' else ''} are gone.",
        "link.ip_changed": f"The hub endpoint was recreated and its address {event.get('previousPrivateIp')} was taken "
        f"meanwhile: {fqdn} now resolves to {event.get('newPrivateIp') or ip}. Update firewall and proxy rules.",
        "hub.capacity_low": f"The hub subnets of {event.get('hubRegion')} are {event.get('used')} of "
        f"{event.get('total')} addresses used: add a subnet to HUBLINK_HUBS before they run out.",
        "hub.capacity_exhausted": f"No hub subnet of {event.get('hubRegion')} has room: new links wait as Pending "
        "until a subnet is added to HUBLINK_HUBS or an endpoint is deleted.",
        "connection.approved": f"{decision.get('by')} approved connection {decision.get('connectionName')}: "
        f"{decision.get('reason') or 'no reason given'}",
        "connection.rejected": f"{decision.get('by')} rejected connection {decision.get('connectionName')}: "
        f"{decision.get('reason') or 'no reason given'}",
    }
    return texts.get(kind, event.get("message") or "")  # type: ignore[arg-type]


def facts(event: dict[str, Any]) -> list[tuple[str, str]]:
    foreign = event.get("foreignConnection") or {}
    decision = event.get("decision") or {}
    phase = event.get("phase")
    if event.get("previousPhase") and event.get("previousPhase") != phase:
        phase = f"{phase} (was {event['previousPhase']})"
    rows = [
        ("Cluster", event.get("clusterName")),
        ("Resource group", event.get("resourceGroup")),
        ("Subscription", event.get("subscriptionId")),
        ("Tenant", event.get("tenantId")),
        ("Region", event.get("region")),
        ("Access path", event.get("accessPath")),
        ("State", phase),
        ("Hub endpoint", _name(event.get("hubEndpointId"))),
        ("Private Link Service", _name(event.get("linkServiceId"))),
        ("Connection", event.get("connectionName")),
        ("Private IP", event.get("privateIp")),
        ("Previous IP", event.get("previousPrivateIp")),
        ("Hub usage", f"{event['used']}/{event['total']}" if event.get("type", "").startswith("hub.") else None),
        ("FQDN", event.get("fqdn")),
        ("Waiting since", event.get("waitingSince")),
        ("Attempts", str(event["attempts"]) if event.get("type") in ("link.failing", "link.failed") else None),
        ("Error code", event.get("errorCode")),
        ("Requesting endpoint", foreign.get("privateEndpointId")),
        ("Request", foreign.get("name")),
        ("Request message", foreign.get("description")),
        ("Decided connection", decision.get("connectionName")),
        ("Its endpoint", decision.get("privateEndpointId")),
        ("Decided by", decision.get("by")),
        ("Decider's object id", decision.get("byId")),
        ("Decider's tenant", decision.get("byTenant")),
        ("Decider is", {"user": "a user", "application": "an application"}.get(decision.get("byType") or "")),
        ("When", event.get("timestamp")),
    ]
    return [(k, str(v)) for k, v in rows if v not in (None, "")]


def commands(event: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(label, [HTTP call, CLI line]) for everything the event says a person can do."""
    out = []
    for verb, label in (("approve", "To approve"), ("reject", "To reject"), ("retry", "To retry now")):
        lines = [x for x in (event.get(f"{verb}Call"), event.get(f"{verb}Cli")) if x]
        if lines:
            out.append((label, lines))
    return out


def links(event: dict[str, Any]) -> list[tuple[str, str]]:
    urls = event.get("portalUrls") or {}
    named = (("Open cluster in the portal", urls.get("cluster")), ("Open hub endpoint", urls.get("hubEndpoint")))
    return [(label, url) for label, url in named if url]


def _section(label: str, lines: list[str], *, color: str = "Default", monospace: bool = True) -> list[dict[str, Any]]:
    run: dict[str, Any] = {"type": "TextRun", "color": color}
    if monospace:
        run |= {"fontType": "Monospace", "size": "Small"}
    return [{"type": "TextBlock", "text": label, "weight": "Bolder", "wrap": True, "spacing": "Medium"}] + [
        {"type": "RichTextBlock", "inlines": [dict(run, text=line)], "spacing": "Small"} for line in lines
    ]


def _name(resource_id: str | None) -> str | None:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else None


def _sentence(text: str | None) -> str:
    text = (text or "").strip()
    return (text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else ""


def _duration(seconds: Any) -> str:
    try:
        minutes = int(seconds) // 60
    except (TypeError, ValueError):
        return "a long time"
    return f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"
