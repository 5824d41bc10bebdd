"""Notifications: Teams Adaptive Cards and signed JSON webhooks, announced once per transition.

`plan` runs inside the reconcile that holds the row's lease, before the row's ETag-conditional
write, and records what to announce in `state.notices` under a key per transition (for example
`ready:<readyAt>`); a key already planned is never planned again, so two triggers cannot both
announce one transition. `deliver` runs after the write and sends what is pending. A notice that
could not be sent stays pending (same `id`) and is retried by a later reconcile, up to MAX_TRIES;
a webhook that is slow or down costs a reconcile at most HUBLINK_NOTIFY_TIMEOUT_S and never
fails it.

`state.notices` holds:
    pending  notices still to send: {key, id, type, targets (left to send to), tries, event}
    sent     key -> when it was sent (newest MAX_SENT kept)
    errors   notices given up on (newest MAX_ERRORS kept)
    since    start of the current episode: waiting (not yet Ready), failed, streak (transient errors)
    ready    the endpoint and IP last announced Ready (a different one later is a drift repair)

The JSON event every generic webhook gets is documented in docs/cards/README.md.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from shared.arm import ArmRetry
from shared.clock import SYSTEM, iso, parse_iso
from shared.commands import (  # noqa: F401  (re-exported: what notices tell a person to run)
    PLACEHOLDER_BASE,
    approve_link_commands,
    cli_line,
    connection_commands,
    http_call,
    portal_url,
    retry_commands,
    sign,
)
from shared.ids import ClusterId, same_arm_id
from shared.log import get_logger
from shared.model import Phase

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.model import LinkState, Outcome

MAX_TRIES = 10  # delivery attempts (one per reconcile) before a notice is given up and recorded
MAX_SENT = 40
MAX_ERRORS = 10
MAX_PENDING = 20
MAX_ERROR_CHARS = 1000
WAITING = (Phase.PENDING, Phase.PROVISIONING, Phase.AWAITING_APPROVAL)
GONE = (Phase.ABSENT, Phase.SKIPPED)
SIGNATURE_HEADER = "X-Signature-256"

log = get_logger("hublink.notify")


# -- targets -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    kind: str  # "teams" (Adaptive Card in the Workflows envelope) | "webhook" (the JSON event, signed)
    url: str

    @property
    def key(self) -> str:
        """What the row records instead of the URL (Workflows URLs carry a signature)."""
        return f"{self.kind}:{hashlib.sha256(self.url.encode('utf-8')).hexdigest()[:12]}"


def build_session() -> requests.Session:
    """Retries only quick failures (refused connections, 429/5xx with a short Retry-After), never a read timeout."""
    retry = ArmRetry(total=2, connect=2, read=0, status=2, backoff_factor=0.1, backoff_max=1,
                     status_forcelist=(429, 500, 502, 503, 504), allowed_methods={"POST"},
                     respect_retry_after_header=True, raise_on_status=False, max_wait=1.0)
    session = requests.Session()
    session.mount("https://", HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16))
    return session


def _iso(value: datetime) -> str:
    return iso(value) or ""


class Notifier:
    """Plans notices inside the leased row write, then delivers them after it (see reconciler)."""

    def __init__(self, settings: Settings, *, session: requests.Session | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.targets = {t.key: t for t in [Target("teams", u) for u in settings.teams_webhooks]
                        + [Target("webhook", u) for u in settings.webhooks]}
        self.session = session or build_session()
        self.now = now or SYSTEM.now

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        return cls(settings)

    # -- planning (inside the lease, before the row is written) --------------------------------
    def plan(self, state: LinkState, previous: Phase | None, outcome: Outcome) -> None:
        if not self.targets:
            return
        now = self.now()
        phase = outcome.phase
        resting = phase is Phase.PENDING and outcome.requeue_after is None and outcome.error is None  # stopped cluster
        since = self._episodes(state, now, waiting=phase in WAITING and not resting, failed=phase is Phase.FAILED,
                               streak=state.attempts > 0 and phase is not Phase.FAILED)
        base = {"previousPhase": str(previous) if previous else None, "timestamp": _iso(now)}
        if phase in GONE:
            # Only a link people were told about is announced gone: a late or duplicated event for a
            # cluster already cleaned up makes a fresh row that a fault can leave behind, and its
            # cleanup is not news (it was announced once already, with the row that had the endpoint).
            told = any(state.notices.get(k) for k in ("sent", "pending", "ready"))
            if previous not in (None, Phase.SKIPPED) and told:
                last = state.notices.get("ready") or {}  # what was removed (cleanup has cleared the row's fields)
                self.announce(state, "link.cleaned_up", f"cleanup:{state.generation}:{phase}",
                              phase=str(phase), reason=outcome.message, hubEndpointId=last.get("endpointId"),
                              connectionName=last.get("connectionName"), privateIp=last.get("privateIp"),
                              portalUrls={"cluster": portal_url(state.tenant_id, state.cluster_id), "hubEndpoint": None},
                              **base)
            state.notices.pop("ready", None)
            return
        for conn in state.foreign_connections:
            extra = connection_commands(self.settings.api_base_url, state.cluster_id, conn.get("name", ""))
            self.announce(state, "link.foreign_connection_pending", f"foreign:{conn.get('name', '').lower()}",
                          foreignConnection=dict(conn), **extra, **base)
        if phase is Phase.READY and state.ready_at:
            self._plan_ready(state, previous, base)
        if phase is Phase.AWAITING_APPROVAL and self.settings.approval == "manual" and "waiting" in since:
            self.announce(state, "link.awaiting_approval", f"approval:{since['waiting']}",
                          **approve_link_commands(self.settings.api_base_url, state.cluster_id), **base)
        if "waiting" in since:
            waited = (now - parse_iso(since["waiting"])).total_seconds()
            if waited >= self.settings.pending_alert_s:
                extra = retry_commands(self.settings.api_base_url, state.cluster_id)
                if phase is Phase.AWAITING_APPROVAL and self.settings.approval == "manual":
                    extra |= approve_link_commands(self.settings.api_base_url, state.cluster_id)
                self.announce(state, "link.pending_too_long", f"stuck:{since['waiting']}", waitingSince=since["waiting"],
                              waitingSeconds=round(waited), **extra, **base)
        if phase is Phase.FAILED and outcome.terminal:
            self.announce(state, "link.failed", f"failed:{since['failed']}:{state.last_error_code}",
                          **retry_commands(self.settings.api_base_url, state.cluster_id), **base)
        elif outcome.error and state.attempts >= self.settings.failure_alert_after and "streak" in since:
            self.announce(state, "link.failing", f"failing:{since['streak']}",
                          **retry_commands(self.settings.api_base_url, state.cluster_id), **base)

    def _plan_ready(self, state: LinkState, previous: Phase | None, base: dict[str, Any]) -> None:
        """Ready after not being Ready -> link.ready; Ready on a recreated endpoint -> link.drift_repaired.

        The endpoint's name (so its id) is the same after a recreation: its connection tells them apart.
        A link already Ready when notifications were switched on only records the baseline.
        """
        last = state.notices.get("ready") or {}
        moved = bool(last) and not (same_arm_id(last.get("endpointId"), state.endpoint_id)
                                    and last.get("connectionName") == state.connection_name)
        if moved:
            self.announce(state, "link.drift_repaired", f"ready:{_iso(state.ready_at)}",  # type: ignore[arg-type]
                          previousPrivateIp=last.get("privateIp"), previousConnectionName=last.get("connectionName"),
                          **base)
        elif previous is not Phase.READY:
            self.announce(state, "link.ready", f"ready:{_iso(state.ready_at)}", **base)  # type: ignore[arg-type]
        state.notices["ready"] = {"endpointId": state.endpoint_id, "connectionName": state.connection_name,
                                  "privateIp": state.private_ip}

    def _episodes(self, state: LinkState, now: datetime, **active: bool) -> dict[str, str]:
        """When each ongoing condition started: one notice per episode, however many reconciles see it."""
        since = state.notices.setdefault("since", {})
        for name, on in active.items():
            if not on:
                since.pop(name, None)
            else:
                since.setdefault(name, _iso(now))
        return since

    def announce(self, state: LinkState, kind: str, key: str, **fields: Any) -> bool:
        """Queue one notice unless its key was already planned; returns True if queued.

        Also the entry point for announcements outside reconcile (connection.approved/rejected),
        which must hold the row's lease as reconcile does.
        """
        if not self.targets:
            return False
        notices = state.notices
        pending = notices.setdefault("pending", [])
        if key in notices.setdefault("sent", {}) or any(p["key"] == key for p in pending):
            return False
        event = self.event(state, kind, **fields)
        pending.append({"key": key, "id": event["id"], "type": kind, "targets": sorted(self.targets), "tries": 0,
                        "event": event})
        while len(pending) > MAX_PENDING:
            self._give_up(state, pending.pop(0), "too many notices pending")
        log.info("notice.planned", cluster=state.cluster_id, type=kind, key=key, id=event["id"])
        return True

    def event(self, state: LinkState, kind: str, **fields: Any) -> dict[str, Any]:
        """The documented JSON event (also what Teams cards are drawn from)."""
        cluster = ClusterId.parse(state.cluster_id)
        error = (state.last_error or None) if kind in ("link.failed", "link.failing") else None
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()), "type": kind, "timestamp": _iso(self.now()),
            "clusterId": cluster.id, "clusterName": cluster.name, "resourceGroup": cluster.resource_group,
            "tenantId": state.tenant_id, "subscriptionId": cluster.subscription_id, "region": state.region,
            "phase": str(state.phase), "previousPhase": None, "message": state.message,
            "hubEndpointId": state.endpoint_id, "connectionName": state.connection_name, "privateIp": state.private_ip,
            "fqdn": state.fqdn, "error": error[:MAX_ERROR_CHARS] if error else None,
            "errorCode": state.last_error_code if error else None, "attempts": state.attempts,
            "portalUrls": {"cluster": portal_url(state.tenant_id, cluster.id),
                           "hubEndpoint": portal_url(self.settings.hub_tenant_id, state.endpoint_id)},
        }
        event.update(fields)
        return event

    # -- delivery (after the row is written) -----------------------------------------------------
    def deliver(self, state: LinkState) -> bool:
        """Send what is pending within HUBLINK_NOTIFY_TIMEOUT_S; True when state.notices changed. Never raises."""
        pending = state.notices.get("pending") or []
        if not pending:
            return False
        deadline = time.monotonic() + self.settings.notify_timeout_s
        changed = False
        for notice in list(pending):
            if time.monotonic() >= deadline:
                break  # out of time: the rest waits for the next reconcile, untried
            failures = []
            for key in list(notice["targets"]):
                target = self.targets.get(key)
                left = deadline - time.monotonic()
                if target is None or left <= 0:
                    if target is None:  # removed from the settings since it was planned
                        notice["targets"].remove(key)
                        changed = True
                    continue
                error = self._send(target, notice["event"], left)
                changed = True
                if error is None:
                    notice["targets"].remove(key)
                else:
                    failures.append(f"{key}: {error}")
            if not notice["targets"]:
                pending.remove(notice)
                sent = state.notices.setdefault("sent", {})
                sent[notice["key"]] = _iso(self.now())
                self._prune(state)
            elif failures:
                notice["tries"] += 1
                notice["lastError"] = "; ".join(failures)[:MAX_ERROR_CHARS]
                log.warning("notice.send_failed", cluster=state.cluster_id, type=notice["type"], id=notice["id"],
                            tries=notice["tries"], error=notice["lastError"])
                if notice["tries"] >= MAX_TRIES:
                    pending.remove(notice)
                    self._give_up(state, notice, notice["lastError"])
        return changed

    def _send(self, target: Target, event: dict[str, Any], timeout: float) -> str | None:
        """POST one notice to one target; None on success, else why not."""
        from shared.cards import teams_message

        payload = teams_message(event) if target.kind == "teams" else event
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "aks-hublink", "X-HubLink-Event": event["type"],
                   "X-HubLink-Delivery": event["id"]}
        if target.kind == "webhook" and self.settings.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(self.settings.webhook_secret, body)
        try:
            resp = self.session.post(target.url, data=body, headers=headers, timeout=(min(timeout, 3.0), timeout),
                                     verify=self.settings.verify)  # per request: REQUESTS_CA_BUNDLE beats Session.verify
        except Exception as exc:  # a webhook must never fail reconcile
            reason = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's, inside requests'
            if isinstance(exc, requests.Timeout) or isinstance(reason, urllib3.exceptions.TimeoutError):
                return f"no answer within {timeout:.1f}s"
            return type(reason or exc).__name__  # the message would name the URL, its signature included
        if 200 <= resp.status_code < 300:
            log.info("notice.sent", target=target.key, type=event["type"], id=event["id"], status=resp.status_code)
            return None
        return f"HTTP {resp.status_code}"

    def _give_up(self, state: LinkState, notice: dict[str, Any], why: str) -> None:
        """Record the failure, and the key as done so the same transition is not planned again."""
        state.notices.setdefault("sent", {})[notice["key"]] = _iso(self.now())
        errors = state.notices.setdefault("errors", [])
        errors.append({"key": notice["key"], "id": notice["id"], "type": notice["type"], "tries": notice["tries"],
                       "error": why, "at": _iso(self.now())})
        del errors[:-MAX_ERRORS]
        log.error("notice.given_up", cluster=state.cluster_id, type=notice["type"], id=notice["id"], error=why)

    def _prune(self, state: LinkState) -> None:
        """Keep the newest MAX_SENT keys, and always those of foreign connections still pending."""
        sent: dict[str, str] = state.notices["sent"]
        live = {f"foreign:{c.get('name', '').lower()}" for c in state.foreign_connections}
        keep = sorted(sent, key=lambda k: sent[k], reverse=True)[:MAX_SENT]
        state.notices["sent"] = {k: v for k, v in sent.items() if k in keep or k in live}
