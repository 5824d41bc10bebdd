"""Notifications against devcloud + Azurite + the webhook sink: each transition announced once, signed, on time."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devcloud.arm import FaultRule
from devcloud.sink import Sink
from shared import delivery, notify
from shared.config import parse_settings
from shared.errors import ConfigurationError
from shared.ids import ClusterId
from shared.model import Notices, Phase
from shared.notify import Notifier
from shared.service import Service
from stack.world import api_audience
from tests.support import product_env, settling_service

SECRET = "webhook-secret-for-tests"
API = "https://func-hublink.azurewebsites.net"
# The token part of every call a notice shows: the reader's own, for the API's audience (stack.world).
TOKEN = f"$(az account get-access-token --resource {api_audience()} --query accessToken -o tsv)"
DOCUMENTED = {
    "id",
    "type",
    "clusterId",
    "tenantId",
    "subscriptionId",
    "region",
    "accessPath",
    "phase",
    "previousPhase",
    "hubEndpointId",
    "connectionName",
    "privateIp",
    "fqdn",
    "error",
    "timestamp",
}


# -- a small Adaptive Card 1.4 schema check (the parts our cards use) ------------------------------
_ENUMS = {
    "size": {"Default", "Small", "Medium", "Large", "ExtraLarge"},
    "weight": {"Default", "Lighter", "Bolder"},
    "color": {"Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"},
    "spacing": {"None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"},
    "fontType": {"Default", "Monospace"},
    "style": {"default", "emphasis", "good", "attention", "warning", "accent"},
}
_REQUIRED = {
    "TextBlock": {"text": str},
    "FactSet": {"facts": list},
    "RichTextBlock": {"inlines": list},
    "Container": {"items": list},
    "ActionSet": {"actions": list},
}


def _check_props(node: dict[str, Any]) -> None:
    for key, allowed in _ENUMS.items():
        if key in node:
            assert node[key] in allowed, f"{node['type']}.{key}={node[key]!r}"
    for key in ("wrap", "isSubtle", "bleed"):
        if key in node:
            assert isinstance(node[key], bool)


def _check_element(el: dict[str, Any]) -> None:
    kind = el.get("type")
    assert kind in _REQUIRED, f"unexpected element {kind!r}"
    for prop, typ in _REQUIRED[kind].items():
        assert isinstance(el.get(prop), typ) and el[prop], f"{kind}.{prop} missing or empty"
    _check_props(el)
    if kind == "FactSet":
        for fact in el["facts"]:
            assert set(fact) == {"title", "value"} and all(isinstance(v, str) and v for v in fact.values()), fact
    if kind == "RichTextBlock":
        for run in el["inlines"]:
            assert run["type"] == "TextRun" and isinstance(run["text"], str) and run["text"]
            _check_props(dict(run, type="TextRun"))
    if kind == "Container":
        for item in el["items"]:
            _check_element(item)
    if kind == "ActionSet":
        _check_actions(el["actions"])


def _check_actions(actions: list[dict[str, Any]]) -> None:
    for action in actions:
        assert action["type"] == "Action.OpenUrl", action
        assert isinstance(action["title"], str) and action["title"]
        assert action["url"].startswith("https://portal.azure.com/#@")


def check_teams_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The Workflows envelope around a valid Adaptive Card 1.4; returns the card."""
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "contentUrl" in attachment and attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert isinstance(card["body"], list) and card["body"]
    for el in card["body"]:
        _check_element(el)
    _check_actions(card.get("actions", []))
    return card


def card_text(card: dict[str, Any]) -> str:
    """Everything a person reads on the card."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            out.extend(str(node[k]) for k in ("text", "title", "value", "url") if k in node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return "\n".join(out)


# -- fixtures --------------------------------------------------------------------------------------
class Shifted:
    """The notifier's clock, moved forward by tests (waiting thresholds without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def make(cloud, azurite, sink, op):
    def build(*, teams: bool = True, hook: bool = True, clock: Shifted | None = None, **overrides: str) -> Service:
        env = product_env(
            cloud,
            azurite,
            **{
                "HUBLINK_WEBHOOK_SECRET": SECRET,
                "HUBLINK_API_BASE_URL": API,
                "HUBLINK_TEAMS_WEBHOOKS": json.dumps([f"{sink.url}/teams"] if teams else []),
                "HUBLINK_WEBHOOKS": json.dumps([f"{sink.url}/hook"] if hook else []),
                **overrides,
            },
        )
        settings = parse_settings(env)
        return settling_service().from_settings(settings, notifier=Notifier(settings, now=clock))

    return build


def posts(sink: Sink, path: str = "/hook") -> list[dict[str, Any]]:
    return [r for r in sink.received if r["path"] == path]


def events(sink: Sink, path: str = "/hook") -> list[dict[str, Any]]:
    return [r["body"] for r in posts(sink, path)]


def kinds(sink: Sink) -> list[str]:
    return [e["type"] for e in events(sink)]


def row(rec: Service, cluster_id: str):
    return rec.store.get(ClusterId.parse(cluster_id))


# -- what is announced -----------------------------------------------------------------------------
def test_ready_is_announced_once_signed_with_a_valid_card(cloud, op, make, sink):
    rec = make()
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    [event] = events(sink)
    assert DOCUMENTED <= set(event), DOCUMENTED - set(event)
    state = row(rec, cluster_id)
    assert (
        event["type"] == "link.ready" and event["phase"] == "Ready" and event["previousPhase"] == "Provisioning"
    )  # Ready comes at the continuation
    assert event["clusterId"] == ClusterId.parse(cluster_id).id and event["subscriptionId"] == state.subscription_id
    assert event["tenantId"] == state.tenant_id and event["region"] == "westeurope"
    assert event["hubEndpointId"] == state.endpoint_id and event["connectionName"] == state.connection_name
    assert event["privateIp"] == state.private_ip and event["fqdn"] == state.fqdn and event["error"] is None
    assert datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")) <= datetime.now(UTC)

    [post] = posts(sink)
    raw = post["raw"].encode("utf-8")
    assert post["headers"]["x-signature-256"] == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert post["headers"]["x-signature-256"] != notify.sign("another-secret", raw)
    assert post["headers"]["x-hublink-event"] == "link.ready"

    [teams] = posts(sink, "/teams")
    assert "x-signature-256" not in teams["headers"]
    card = check_teams_payload(teams["body"])
    text = card_text(card)
    for value in (
        "Link ready",
        state.cluster_name,
        state.private_ip,
        state.fqdn,
        state.subscription_id,
        f"https://portal.azure.com/#@{state.tenant_id}/resource{ClusterId.parse(cluster_id).id}",
        f"https://portal.azure.com/#@{cloud.world.hub['tenant_id']}/resource{state.endpoint_id}",
    ):
        assert value in text, value

    assert state.notices.pending == [] and list(state.notices.sent) == [f"ready:{_iso(state.ready_at)}"]
    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert len(sink.received) == 2, "a no-op reconcile announces nothing"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def test_foreign_pending_connection_says_what_it_is_and_how_to_decide(op, make, sink):
    rec = make()
    cluster_id = op.create_cluster()
    foreign = op.create_foreign_endpoint(cluster_id)
    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert sorted(kinds(sink)) == ["link.foreign_connection_pending", "link.ready"]
    [event] = [e for e in events(sink) if e["type"] == "link.foreign_connection_pending"]
    conn = event["foreignConnection"]
    assert conn["privateEndpointId"].lower() == foreign.id.lower() and conn["status"] == "Pending"
    cid = ClusterId.parse(cluster_id).id
    body = json.dumps({"clusterId": cid, "connectionName": conn["name"], "reason": "<why>"})
    assert event["approveCall"] == (
        f'curl -X POST "{API}/api/connections/approve" -H "Authorization: Bearer {TOKEN}" '
        f"-H \"Content-Type: application/json\" -d '{body}'"
    )
    assert event["rejectCall"] == event["approveCall"].replace("/connections/approve", "/connections/reject")
    assert event["approveCli"] == f"python -m shared approve {cid} {conn['name']} --reason '<why>'"
    assert event["rejectCli"] == f"python -m shared reject {cid} {conn['name']} --reason '<why>'"

    [card] = [check_teams_payload(e) for e in events(sink, "/teams") if "Connection request" in card_text(check_teams_payload(e))]
    text = card_text(card)
    for value in (event["approveCall"], event["rejectCall"], event["approveCli"], event["rejectCli"], foreign.id):
        assert value in text, value

    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert len(events(sink)) == 2, "announced once, however many reconciles see it"


def test_terminal_failure_once_with_the_exact_retry_call(op, make, sink):
    rec = make(HUBLINK_API_BASE_URL="", WEBSITE_HOSTNAME="func-hublink.azurewebsites.net")
    cluster_id = op.create_cluster(region="eastus")
    assert rec.reconcile(cluster_id).phase is Phase.FAILED
    [event] = events(sink)
    assert event["type"] == "link.failed" and event["errorCode"] == "NoHubForRegion" and "eastus" in event["error"]
    body = json.dumps({"clusterId": ClusterId.parse(cluster_id).id})
    assert event["retryCall"] == (
        'curl -X POST "https://func-hublink.azurewebsites.net/api/links/reconcile" '
        f'-H "Authorization: Bearer {TOKEN}" -H "Content-Type: application/json" -d \'{body}\''
    )
    card = card_text(check_teams_payload(events(sink, "/teams")[0]))
    assert "Link failed" in card and event["error"] in card and event["retryCall"] in card
    assert rec.reconcile(cluster_id).phase is Phase.FAILED
    assert len(events(sink)) == 1, "still the same failure: not announced again"


def test_consecutive_transient_failures_then_recovery(cloud, op, make, sink):
    rec = make(HUBLINK_FAILURE_ALERT_AFTER="2")
    cluster_id = op.create_cluster()
    name = ClusterId.parse(cluster_id).name
    cloud.arm.faults.append(
        FaultRule(id="throttle", method="GET", path=rf"/managedClusters/{name}$", status=429, retry_after=60, principal="hublink")
    )
    for _ in range(3):
        outcome = rec.reconcile(cluster_id)
        assert outcome.error and not outcome.terminal
    [event] = events(sink)
    assert event["type"] == "link.failing" and event["attempts"] == 2 and "throttled" in event["error"]
    assert event["retryCall"].endswith(f"-d '{json.dumps({'clusterId': ClusterId.parse(cluster_id).id})}'")
    assert "Link keeps failing" in card_text(check_teams_payload(events(sink, "/teams")[0]))
    cloud.arm.faults.clear()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert kinds(sink) == ["link.failing", "link.ready"]
    assert "streak" not in row(rec, cluster_id).notices.since


def test_drift_repaired_and_cleanup(op, make, sink):
    rec = make()
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    before = row(rec, cluster_id)
    op.stop_start(cluster_id)
    assert rec.reconcile(cluster_id).phase is Phase.READY
    after = row(rec, cluster_id)
    assert kinds(sink) == ["link.ready", "link.drift_repaired"]
    drift = events(sink)[1]
    assert drift["previousPrivateIp"] == before.private_ip and drift["privateIp"] == after.private_ip
    assert drift["previousConnectionName"] == before.connection_name != drift["connectionName"]
    assert "Link repaired" in card_text(check_teams_payload(events(sink, "/teams")[1]))

    op.delete_cluster(cluster_id)
    assert rec.reconcile(cluster_id, deletion_reported=True).phase is Phase.ABSENT
    assert kinds(sink) == ["link.ready", "link.drift_repaired", "link.cleaned_up"]
    gone = events(sink)[2]
    assert gone["phase"] == "Absent" and gone["previousPhase"] == "Deleting" and "no longer exists" in gone["reason"]
    assert (gone["hubEndpointId"], gone["privateIp"]) == (after.endpoint_id, after.private_ip), "what was removed"
    assert "Link removed" in card_text(check_teams_payload(events(sink, "/teams")[2]))
    assert rec.reconcile(cluster_id).phase is Phase.ABSENT
    assert len(events(sink)) == 3


def test_opt_out_cleanup_is_announced(op, make, sink):
    rec = make(teams=False)
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    op.update_tags(cluster_id, {"hublink": "disabled"})
    assert rec.reconcile(cluster_id).phase is Phase.SKIPPED
    assert rec.reconcile(cluster_id).phase is Phase.SKIPPED
    assert kinds(sink) == ["link.ready", "link.cleaned_up"]
    assert events(sink)[1]["phase"] == "Skipped" and "hublink=disabled" in events(sink)[1]["reason"]


def test_awaiting_approval_then_waiting_too_long(op, make, sink):
    clock = Shifted()
    rec = make(clock=clock, HUBLINK_APPROVAL="manual", HUBLINK_PENDING_ALERT_S="1800")
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.AWAITING_APPROVAL
    [waiting] = events(sink)
    assert waiting["type"] == "link.awaiting_approval"
    cid = ClusterId.parse(cluster_id).id
    assert waiting["approveCall"] == (
        f'curl -X POST "{API}/api/links/approve" -H "Authorization: Bearer {TOKEN}" -H "Content-Type: '
        f"application/json\" -d '{json.dumps({'clusterId': cid, 'reason': '<why>'})}'"
    )
    assert waiting["approveCli"] == f"python -m shared approve-link {cid} --reason '<why>'"
    assert waiting["approveCall"] in card_text(check_teams_payload(events(sink, "/teams")[0]))

    assert rec.reconcile(cluster_id).phase is Phase.AWAITING_APPROVAL
    assert len(events(sink)) == 1
    clock.offset = timedelta(seconds=1801)
    assert rec.reconcile(cluster_id).phase is Phase.AWAITING_APPROVAL
    stuck = events(sink)[1]
    assert stuck["type"] == "link.pending_too_long" and stuck["waitingSeconds"] >= 1800
    # The episode began with the endpoint's create, one invocation before the approval was awaited.
    assert stuck["waitingSince"] <= waiting["timestamp"] and stuck["approveCall"] == waiting["approveCall"]
    card = card_text(check_teams_payload(events(sink, "/teams")[1]))
    assert "Link waiting too long" in card and "30 minutes" in card and stuck["approveCli"] in card
    assert rec.reconcile(cluster_id).phase is Phase.AWAITING_APPROVAL
    assert len(events(sink)) == 2


def test_no_targets_records_nothing(op, make, sink):
    rec = make(teams=False, hook=False)
    cluster_id = op.create_cluster()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert row(rec, cluster_id).notices == Notices() and sink.received == []


# -- delivery: failing, hanging, racing webhooks ---------------------------------------------------
def test_failing_webhook_is_retried_by_a_later_reconcile_with_the_same_id(op, make, sink):
    rec = make(teams=False)
    cluster_id = op.create_cluster()
    sink.fail_next(500, count=3)  # the first try and its two quick retries
    assert rec.reconcile(cluster_id).phase is Phase.READY, "a failing webhook never fails reconcile"
    [pending] = row(rec, cluster_id).notices.pending
    assert pending["tries"] == 1 and pending["lastError"].endswith("HTTP 500")
    stored = json.dumps(asdict(row(rec, cluster_id).notices))
    assert sink.url not in stored, "URLs (they may carry a signature) stay out of the row"
    assert rec.reconcile(cluster_id).phase is Phase.READY
    ids = [e["id"] for e in events(sink)]
    assert len(ids) == 4 and len(set(ids)) == 1 and ids[0] == pending["id"]
    state = row(rec, cluster_id)
    assert state.notices.pending == [] and pending["key"] in state.notices.sent


def test_hanging_webhook_costs_at_most_the_timeout(op, make, sink):
    rec = make(teams=False, HUBLINK_NOTIFY_TIMEOUT_S="0.5")
    cluster_id = op.create_cluster()
    sink.fail_next(500, count=6)  # two reconciles: the first try and its two quick retries each
    assert rec.reconcile(cluster_id).phase is Phase.READY
    started = time.monotonic()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    quick = time.monotonic() - started  # a no-op reconcile that tried the webhook and got 500s at once

    sink.hang_next(2.0)
    started = time.monotonic()
    assert rec.reconcile(cluster_id).phase is Phase.READY
    elapsed = time.monotonic() - started
    assert elapsed < quick + 0.5 + 0.5, f"reconcile took {elapsed:.2f}s with a hanging webhook"
    [pending] = row(rec, cluster_id).notices.pending
    assert "no answer within" in pending["lastError"]
    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert row(rec, cluster_id).notices.pending == []
    assert len({e["id"] for e in events(sink)}) == 1


def test_a_notice_that_keeps_failing_is_given_up_and_recorded(cloud, op, make, sink, monkeypatch):
    monkeypatch.setattr(delivery, "MAX_TRIES", 2)
    rec = make(teams=False, HUBLINK_FAILURE_ALERT_AFTER="1")
    cluster_id = op.create_cluster()
    cloud.arm.faults.append(
        FaultRule(
            id="throttle",
            method="GET",
            path=rf"/managedClusters/{ClusterId.parse(cluster_id).name}$",
            status=429,
            retry_after=60,
            principal="hublink",
        )
    )
    sink.fail_next(404, count=50)
    rec.reconcile(cluster_id)
    rec.reconcile(cluster_id)
    state = row(rec, cluster_id)
    assert state.notices.pending == []
    [error] = state.notices.errors
    assert error["type"] == "link.failing" and error["tries"] == 2 and "HTTP 404" in error["error"]
    assert len(sink.received) == 2
    rec.reconcile(cluster_id)
    assert len(sink.received) == 2, "given up: neither re-sent nor planned again while the streak lasts"
    assert row(rec, cluster_id).notices.pending == []


def test_concurrent_reconciles_announce_once(op, make, sink):
    recs = [make(teams=False), None]
    recs[1] = settling_service().from_settings(
        recs[0].settings, notifier=Notifier(recs[0].settings)
    )  # another instance of the app
    cluster_id = op.create_cluster()
    barrier = threading.Barrier(4)

    def run(rec: Service) -> None:
        barrier.wait()
        rec.reconcile(cluster_id)

    threads = [threading.Thread(target=run, args=(recs[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in range(2):
        recs[0].reconcile(cluster_id)
        recs[1].reconcile(cluster_id)
    assert kinds(sink) == ["link.ready"]


def test_recording_that_lost_a_race_resends_the_same_id(op, make, sink):
    rec = make(teams=False)
    cluster_id = op.create_cluster()
    real = rec.notifier.deliver

    def racing(state):
        changed = real(state)
        other = rec.store.get(ClusterId.parse(state.cluster_id))
        other.lease_owner = other.lease_until = None  # the lease ran out while sending, and another run wrote the row
        rec.store.replace(other)
        return changed

    rec.notifier.deliver = racing  # type: ignore[method-assign]
    assert rec.reconcile(cluster_id).phase is Phase.READY
    [first] = events(sink)
    assert [p["id"] for p in row(rec, cluster_id).notices.pending] == [first["id"]]
    rec.notifier.deliver = real  # type: ignore[method-assign]
    assert rec.reconcile(cluster_id).phase is Phase.READY
    assert [e["id"] for e in events(sink)] == [first["id"]] * 2, "at least once, with a stable id"
    assert row(rec, cluster_id).notices.pending == []


# -- settings --------------------------------------------------------------------------------------
def test_notification_settings_are_validated_together(cloud, azurite):
    secret_url = "http://hooks.internal/workflows?sig=SECRETSIG"
    env = product_env(
        cloud,
        azurite,
        HUBLINK_TEAMS_WEBHOOKS=json.dumps([secret_url]),
        HUBLINK_WEBHOOKS='"one"',
        HUBLINK_PENDING_ALERT_S="soon",
        HUBLINK_FAILURE_ALERT_AFTER="0",
        HUBLINK_NOTIFY_TIMEOUT_S="-1",
        HUBLINK_API_BASE_URL="ftp://x",
    )
    with pytest.raises(ConfigurationError) as err:
        parse_settings(env)
    problems = err.value.problems
    assert len(problems) == 6, problems
    for name in (
        "HUBLINK_TEAMS_WEBHOOKS[0]",
        "HUBLINK_WEBHOOKS",
        "HUBLINK_PENDING_ALERT_S",
        "HUBLINK_FAILURE_ALERT_AFTER",
        "HUBLINK_NOTIFY_TIMEOUT_S",
        "HUBLINK_API_BASE_URL",
    ):
        assert any(p.startswith(name) for p in problems), name
    assert "SECRETSIG" not in str(err.value), "a webhook URL is never echoed"
    settings = parse_settings(product_env(cloud, azurite))
    assert (settings.teams_webhooks, settings.webhooks, settings.webhook_secret) == ((), (), None)
    assert (settings.pending_alert_s, settings.failure_alert_after, settings.notify_timeout_s) == (1800, 5, 5)
    assert settings.api_base_url is None
    assert SECRET not in repr(parse_settings(product_env(cloud, azurite, HUBLINK_WEBHOOK_SECRET=SECRET)))
