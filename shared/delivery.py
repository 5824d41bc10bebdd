"""Delivery of planned notices (shared.notify plans them): Teams Workflows webhooks get an Adaptive
Card, generic webhooks the JSON event signed with HUBLINK_WEBHOOK_SECRET. A webhook that is slow or
down costs one round at most HUBLINK_NOTIFY_TIMEOUT_S; what failed stays pending for a later round.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from shared import telemetry
from shared.arm import ArmRetry
from shared.clock import iso
from shared.commands import sign
from shared.log import get_logger

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.model import LinkState

MAX_TRIES = 10  # delivery attempts (one per reconcile) before a notice is given up and recorded
MAX_SENT = 40
MAX_ERRORS = 10
MAX_ERROR_CHARS = 1000
SIGNATURE_HEADER = "X-Signature-256"

log = get_logger("hublink.notify")


def _iso(value: datetime) -> str:
    return iso(value) or ""


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
    retry = ArmRetry(
        total=2,
        connect=2,
        read=0,
        status=2,
        backoff_factor=0.1,
        backoff_max=1,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods={"POST"},
        respect_retry_after_header=True,
        raise_on_status=False,
        max_wait=1.0,
    )
    session = requests.Session()
    session.mount("https://", HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16))
    return session


class Delivery:
    """Sends `state.notices.pending` (mixed into shared.notify.Notifier, which sets the attributes)."""

    settings: Settings
    targets: dict[str, Target]
    session: requests.Session
    now: Callable[[], datetime]

    def deliver(self, state: LinkState) -> bool:
        """Send what is pending within HUBLINK_NOTIFY_TIMEOUT_S; True when state.notices changed. Never raises."""
        pending = state.notices.pending
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
                telemetry.current().notice("sent" if error is None else "failed", notice["type"])
                changed = True
                if error is None:
                    notice["targets"].remove(key)
                else:
                    failures.append(f"{key}: {error}")
            if not notice["targets"]:
                pending.remove(notice)
                sent = state.notices.sent
                sent[notice["key"]] = _iso(self.now())
                self._prune(state)
            elif failures:
                notice["tries"] += 1
                notice["lastError"] = "; ".join(failures)[:MAX_ERROR_CHARS]
                log.warning(
                    "notice.send_failed",
                    cluster=state.cluster_id,
                    type=notice["type"],
                    id=notice["id"],
                    tries=notice["tries"],
                    error=notice["lastError"],
                )
                if notice["tries"] >= MAX_TRIES:
                    pending.remove(notice)
                    self._give_up(state, notice, notice["lastError"])
        return changed

    def _send(self, target: Target, event: dict[str, Any], timeout: float) -> str | None:
        """POST one notice to one target; None on success, else why not."""
        from shared.cards import teams_message

        payload = teams_message(event) if target.kind == "teams" else event
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "aks-hublink",
            "X-HubLink-Event": event["type"],
            "X-HubLink-Delivery": event["id"],
        }
        if target.kind == "webhook" and self.settings.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(self.settings.webhook_secret, body)
        try:
            resp = self.session.post(
                target.url, data=body, headers=headers, timeout=(min(timeout, 3.0), timeout), verify=self.settings.verify
            )  # per request: REQUESTS_CA_BUNDLE beats Session.verify
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
        state.notices.sent[notice["key"]] = _iso(self.now())
        errors = state.notices.errors
        errors.append(
            {
                "key": notice["key"],
                "id": notice["id"],
                "type": notice["type"],
                "tries": notice["tries"],
                "error": why,
                "at": _iso(self.now()),
            }
        )
        del errors[:-MAX_ERRORS]
        log.error("notice.given_up", cluster=state.cluster_id, type=notice["type"], id=notice["id"], error=why)

    def _prune(self, state: LinkState) -> None:
        """Keep the newest MAX_SENT keys, and always those of foreign connections still pending."""
        sent: dict[str, str] = state.notices.sent
        live = {f"foreign:{c.name.lower()}" for c in state.foreign_connections}
        keep = sorted(sent, key=lambda k: sent[k], reverse=True)[:MAX_SENT]
        state.notices.sent = {k: v for k, v in sent.items() if k in keep or k in live}
