"""Event Grid as Azure subscription system topics: validation handshake, webhook delivery, retries.

Every resource event ARM emits for subscription S goes to the event subscriptions on S, one event
per POST (a JSON array of one), with the headers Event Grid sends. Delivery behaves as Microsoft
documents it, because the product's trigger must survive it: an endpoint gets 30 s to answer,
failures are retried on Microsoft's published schedule (`retry_delay_s`: 10 s, 30 s, 1 min, 5 min,
10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h) until the subscription's max delivery attempts
(1-30, default 30) or its time to live (1-1,440 min) run out, then the event is dead-lettered;
400/401/403/413 are never retried (dead-lettered at once), and order and exactly-once are not
guaranteed. Microsoft adds jitter to the schedule without saying how much: `jitter` (a fraction,
each delay drawn from [d * (1 - jitter), d * (1 + jitter)]) is a switch, off by default so tests
see the documented steps. `time_scale` shrinks every
duration (answer timeout, retry delays, time-to-live) so tests can exercise retries in
milliseconds; `duplicate_*` and `reorder` make the at-least-once, unordered contract visible.
Deliveries run on background threads, never inside the ARM request that emitted the event.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from devcloud.arm import utcnow_iso

log = logging.getLogger("devcloud.eventgrid")

ANSWER_TIMEOUT_S = 30.0
# learn.microsoft.com/azure/event-grid/delivery-and-retry, "Retry schedule" (then every 12 h up to 24 h).
RETRY_DELAYS_S = (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600)
LATER_RETRY_S = 12 * 3600
NOT_RETRIED = frozenset({400, 401, 403, 413})  # webhook errors Event Grid dead-letters at once
SYSTEM_TOPIC_GROUP = "rg-hublink-events"  # infra/spoke.bicep's default eventsResourceGroupName
VALIDATION_EVENT_TYPE = "Microsoft.EventGrid.SubscriptionValidationEvent"
_NAME = re.compile(r"^[A-Za-z0-9-]{3,64}$")


class EventGridError(Exception):
    """An event subscription request Event Grid would refuse."""


class ValidationHandshakeFailed(EventGridError):
    """The endpoint did not echo the validation code: Azure does not create the subscription."""


# -- filters -------------------------------------------------------------------------------------
def _lookup(event: dict[str, Any], key: str) -> Any:
    """`data.operationName` -> event["data"]["operationName"]; None when absent."""
    value: Any = event
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _string_test(op: str, actual: str, wanted: list[str]) -> bool:
    a = actual.lower()
    w = [str(v).lower() for v in wanted]
    return {
        "StringIn": lambda: a in w,
        "StringNotIn": lambda: a not in w,
        "StringBeginsWith": lambda: any(a.startswith(v) for v in w),
        "StringEndsWith": lambda: any(a.endswith(v) for v in w),
        "StringContains": lambda: any(v in a for v in w),
    }[op]()


STRING_OPERATORS = ("StringIn", "StringNotIn", "StringBeginsWith", "StringEndsWith", "StringContains")


def advanced_filter_matches(flt: dict[str, Any], event: dict[str, Any]) -> bool:
    """One advanced filter, Azure style: string comparisons ignore case; a missing key only passes NOT operators."""
    actual = _lookup(event, flt["key"])
    if actual is None or isinstance(actual, dict | list):
        return flt["operatorType"] == "StringNotIn"
    return _string_test(flt["operatorType"], str(actual), flt["values"])


def _check_filters(filters: list[dict[str, Any]]) -> None:
    for flt in filters:
        if flt.get("operatorType") not in STRING_OPERATORS:
            raise EventGridError(f"advanced filter operatorType {flt.get('operatorType')!r} is not supported "
                                 f"by devcloud (supported: {', '.join(STRING_OPERATORS)})")
        if not isinstance(flt.get("key"), str) or not isinstance(flt.get("values"), list) or not flt["values"]:
            raise EventGridError(f"advanced filter {flt!r} needs a string 'key' and a non-empty list 'values'")


# -- model ---------------------------------------------------------------------------------------
@dataclass
class EventSubscription:
    """An event subscription on one Azure subscription's system topic (the handle callers get)."""

    subscription_id: str
    name: str
    endpoint: str
    included_event_types: list[str] | None = None
    advanced_filters: list[dict[str, Any]] = field(default_factory=list)
    max_delivery_attempts: int = 30
    event_ttl_minutes: int = 1440

    def matches(self, event: dict[str, Any]) -> bool:
        if self.included_event_types is not None and \
                event["eventType"].lower() not in {t.lower() for t in self.included_event_types}:
            return False
        return all(advanced_filter_matches(f, event) for f in self.advanced_filters)

    def as_dict(self) -> dict[str, Any]:
        return {"subscriptionId": self.subscription_id, "name": self.name, "endpoint": self.endpoint,
                "includedEventTypes": self.included_event_types, "advancedFilters": self.advanced_filters,
                "maxDeliveryAttempts": self.max_delivery_attempts, "eventTimeToLiveInMinutes": self.event_ttl_minutes,
                "provisioningState": "Succeeded"}


@dataclass
class Delivery:
    """One delivery attempt, as tests and the control API read it."""

    event_id: str
    subscription: str  # event subscription name
    subscription_id: str
    attempt: int  # the aeg-delivery-count sent (0 = first attempt)
    status: int | None  # HTTP status, None when the endpoint never answered
    outcome: str  # Succeeded, TimedOut, ConnectionFailed, or the HTTP reason (BadRequest, ...)
    latency_s: float
    time: float
    duplicate: bool = False
    event_type: str = ""
    subject: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"eventId": self.event_id, "subscription": self.subscription, "subscriptionId": self.subscription_id,
                "attempt": self.attempt, "status": self.status, "outcome": self.outcome,
                "latency": self.latency_s, "time": self.time, "duplicate": self.duplicate,
                "eventType": self.event_type, "subject": self.subject}


@dataclass
class _Pending:
    sub: EventSubscription
    event: dict[str, Any]
    published: float  # time.monotonic() when Event Grid accepted the event
    publish_time: str
    attempts: int = 0
    duplicate_after_success: bool = False
    is_duplicate: bool = False
    last: Delivery | None = None


@dataclass
class _Answer:
    status: int | None
    body: bytes
    outcome: str
    latency_s: float


def retry_delay_s(attempts: int, jitter: float = 0.0, rng: random.Random | None = None) -> float:
    """Seconds before the next try after `attempts` failed ones (1 = after the first), as published."""
    base = RETRY_DELAYS_S[attempts - 1] if attempts <= len(RETRY_DELAYS_S) else LATER_RETRY_S
    return base * (rng or random).uniform(1 - jitter, 1 + jitter) if jitter else float(base)


def _outcome(status: int) -> str:
    if 200 <= status <= 204:
        return "Succeeded"
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "GenericError"


# -- the service ---------------------------------------------------------------------------------
class EventGrid:
    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.time_scale = 1.0  # multiplies every Event Grid duration (0.01: 10 s retry -> 0.1 s)
        self.duplicate_probability = 0.0
        self.reorder = False  # hold events briefly, then deliver the batch in reverse order
        self.reorder_window_s = 0.2  # real seconds (not scaled): how long events are held
        self.jitter = 0.0  # fraction of each retry delay drawn at random (Azure's amount is not published)
        self.deliveries: list[Delivery] = []
        self.dead_letters: list[dict[str, Any]] = []
        self._subs: dict[tuple[str, str], EventSubscription] = {}
        self._duplicate_next = 0
        self._held: list[_Pending] = []
        self.topics: dict[str, tuple[str, str]] = {}  # subscription id -> (resource group, system topic name)
        self._lock = threading.Lock()
        self._stopped = False
        cloud.arm.event_hooks.append(self.publish)

    # -- event subscriptions -----------------------------------------------------------------
    def add_subscription(self, subscription_id: str, name: str, endpoint_url: str, *,
                         included_event_types: list[str] | None = None,
                         advanced_filters: list[dict[str, Any]] | None = None,
                         max_delivery_attempts: int = 30, event_ttl_minutes: int = 1440,
                         topic_group: str = SYSTEM_TOPIC_GROUP, topic_name: str | None = None) -> EventSubscription:
        """Create (or replace) an event subscription after the endpoint passes the validation handshake.

        Its subscription's system topic is created with it (named as infra/spoke.bicep names it by
        default) and stays when the event subscription is removed, as in Azure; ARM reads both
        (devcloud.providers.eventgridarm)."""
        if self.cloud.world.tenant_of(subscription_id) is None:
            raise EventGridError(f"subscription {subscription_id!r} does not exist in this world")
        if not _NAME.match(name or ""):
            raise EventGridError(f"event subscription name {name!r} must be 3-64 letters, digits or hyphens")
        if urlsplit(endpoint_url).scheme != "https":
            raise EventGridError(f"webhook endpoint {endpoint_url!r} must use https (Event Grid refuses http)")
        if not 1 <= max_delivery_attempts <= 30:
            raise EventGridError("max_delivery_attempts must be between 1 and 30")
        if not 1 <= event_ttl_minutes <= 1440:
            raise EventGridError("event_ttl_minutes must be between 1 and 1440")
        filters = list(advanced_filters or [])
        _check_filters(filters)
        sub = EventSubscription(subscription_id.lower(), name, endpoint_url,
                                list(included_event_types) if included_event_types is not None else None,
                                filters, max_delivery_attempts, event_ttl_minutes)
        self._handshake(sub)
        with self._lock:
            self._subs[(sub.subscription_id, name.lower())] = sub
            self.topics.setdefault(sub.subscription_id, (topic_group, topic_name or f"hublink-{sub.subscription_id}"))
        log.info("event subscription %s on %s -> %s", name, subscription_id, endpoint_url)
        return sub

    def remove_subscription(self, subscription_id: str, name: str) -> bool:
        """Delete an event subscription; its pending retries are dropped. False when it did not exist."""
        with self._lock:
            return self._subs.pop((subscription_id.lower(), name.lower()), None) is not None

    def list_subscriptions(self, subscription_id: str | None = None) -> list[EventSubscription]:
        with self._lock:
            return [s for s in self._subs.values()
                    if subscription_id is None or s.subscription_id == subscription_id.lower()]

    def _handshake(self, sub: EventSubscription) -> None:
        code = str(uuid.uuid4())
        event = {"id": str(uuid.uuid4()), "topic": f"/subscriptions/{sub.subscription_id}", "subject": "",
                 "data": {"validationCode": code}, "eventType": VALIDATION_EVENT_TYPE, "eventTime": utcnow_iso(),
                 "metadataVersion": "1", "dataVersion": "1"}
        answer = self._post(sub, event, "SubscriptionValidation", 0)
        problem = None
        if answer.status != 200:
            problem = f"the endpoint answered {answer.status or answer.outcome}, not 200"
        else:
            try:
                echoed = json.loads(answer.body.decode("utf-8") or "null")
            except ValueError:
                echoed = None
            if not isinstance(echoed, dict) or echoed.get("validationResponse") != code:
                problem = "the answer did not carry the validation code as {\"validationResponse\": <code>}"
        if problem:
            raise ValidationHandshakeFailed(f"Webhook validation handshake failed for {sub.endpoint}: {problem}.")

    # -- knobs -------------------------------------------------------------------------------
    def duplicate_next(self, n: int = 1) -> None:
        """Deliver each of the next n (event, subscription) deliveries twice."""
        with self._lock:
            self._duplicate_next += n

    def reset(self) -> None:
        """Back to a fresh Event Grid: no subscriptions, empty logs, default knobs (pending retries drop)."""
        with self._lock:
            self._subs.clear()
            self.topics.clear()
            self._held.clear()
            self._duplicate_next = 0
            self.deliveries.clear()
            self.dead_letters.clear()
        self.time_scale = 1.0
        self.duplicate_probability = 0.0
        self.reorder = False
        self.jitter = 0.0

    def stop(self) -> None:
        self._stopped = True

    # -- publishing and delivery -------------------------------------------------------------
    def publish(self, subscription_id: str, event: dict[str, Any]) -> None:
        """The ARM event hook: queue the event for every matching subscription and return at once."""
        now, stamp = time.monotonic(), utcnow_iso()
        with self._lock:
            targets = [s for s in self._subs.values() if s.subscription_id == subscription_id.lower() and s.matches(event)]
            pending = []
            for sub in targets:
                dup = self._duplicate_next > 0 or (self.duplicate_probability > 0
                                                   and random.random() < self.duplicate_probability)
                self._duplicate_next = max(0, self._duplicate_next - 1)
                pending.append(_Pending(sub, event, now, stamp, duplicate_after_success=dup))
            if self.reorder and pending:
                first = not self._held
                self._held.extend(pending)
                if first:
                    self.cloud.scheduler.call_later(self.reorder_window_s, self._flush_held)
                return
        for p in pending:
            self.cloud.scheduler.call_later(0, lambda p=p: self._attempt(p))

    def _flush_held(self) -> None:
        with self._lock:
            batch, self._held = self._held, []
        for p in reversed(batch):
            self._attempt(p)

    def _live(self, p: _Pending) -> bool:
        with self._lock:
            return not self._stopped and self._subs.get((p.sub.subscription_id, p.sub.name.lower())) is p.sub

    def _ttl_left_s(self, p: _Pending) -> float:
        return p.sub.event_ttl_minutes * 60 * self.time_scale - (time.monotonic() - p.published)

    def _attempt(self, p: _Pending) -> None:
        if not self._live(p):
            return
        if self._ttl_left_s(p) <= 0:
            self._dead_letter(p, "TimeToLiveExceeded")
            return
        answer = self._post(p.sub, p.event, "Notification", p.attempts)
        p.last = Delivery(p.event["id"], p.sub.name, p.sub.subscription_id, p.attempts, answer.status, answer.outcome,
                          answer.latency_s, time.time(), p.is_duplicate, p.event.get("eventType", ""),
                          p.event.get("subject", ""))
        p.attempts += 1
        with self._lock:
            self.deliveries.append(p.last)
        if answer.outcome == "Succeeded":
            if p.duplicate_after_success:
                again = _Pending(p.sub, p.event, p.published, p.publish_time, attempts=p.attempts, is_duplicate=True)
                self.cloud.scheduler.call_later(0, lambda: self._attempt(again))
            return
        if answer.status in NOT_RETRIED:
            self._dead_letter(p, f"UndeliverableDueToHttp{answer.outcome}")
            return
        if p.attempts >= p.sub.max_delivery_attempts:
            self._dead_letter(p, "MaxDeliveryAttemptsExceeded")
            return
        delay = retry_delay_s(p.attempts, self.jitter) * self.time_scale
        # Past the time-to-live the next "attempt" only dead-letters, exactly when the TTL runs out.
        self.cloud.scheduler.call_later(min(delay, max(0.0, self._ttl_left_s(p))), lambda: self._attempt(p))

    def _dead_letter(self, p: _Pending, reason: str) -> None:
        record = dict(p.event)
        record.update({
            "deadLetterReason": reason,
            "deliveryAttempts": p.attempts,
            "lastDeliveryOutcome": p.last.outcome if p.last else "NotAttempted",
            "lastHttpStatusCode": (p.last.status or 0) if p.last else 0,
            "publishTime": p.publish_time,
            "lastDeliveryAttemptTime": utcnow_iso(),
            "eventSubscription": p.sub.name,
        })
        with self._lock:
            self.dead_letters.append(record)
        log.info("dead-lettered event %s for %s: %s", p.event["id"], p.sub.name, reason)

    def _post(self, sub: EventSubscription, event: dict[str, Any], event_type: str, delivery_count: int) -> _Answer:
        url = urlsplit(sub.endpoint)
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        headers = {"Content-Type": "application/json; charset=utf-8", "aeg-event-type": event_type,
                   "aeg-subscription-name": sub.name.upper(), "aeg-delivery-count": str(delivery_count),
                   "aeg-data-version": str(event.get("dataVersion", "")),
                   "aeg-metadata-version": str(event.get("metadataVersion", "1"))}
        body = json.dumps([event]).encode("utf-8")
        started = time.monotonic()
        conn = http.client.HTTPSConnection(url.hostname or "127.0.0.1", url.port or 443,
                                           timeout=ANSWER_TIMEOUT_S * self.time_scale,
                                           context=self.cloud.certs.client_context())
        try:
            conn.request("POST", target, body, headers)
            resp = conn.getresponse()
            data = resp.read()
            return _Answer(resp.status, data, _outcome(resp.status), time.monotonic() - started)
        except TimeoutError:
            return _Answer(None, b"", "TimedOut", time.monotonic() - started)
        except (OSError, http.client.HTTPException) as exc:
            log.info("delivery to %s failed: %s", sub.endpoint, exc)
            return _Answer(None, b"", "ConnectionFailed", time.monotonic() - started)
        finally:
            conn.close()
