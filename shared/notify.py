"""Notifications: Teams Adaptive Cards and signed JSON webhooks, announced once per transition.

`plan` runs inside the reconcile that holds the row's lease, before the row's ETag-conditional
write, and records what to announce in `state.notices` under a key per transition (for example
`ready:<readyAt>`); a key already planned is never planned again, so two triggers cannot both
announce one transition. `deliver` runs after the write and sends what is pending. A notice that
could not be sent stays pending (same `id`) and is retried by a later reconcile, up to MAX_TRIES;
a webhook that is slow or down costs a reconcile at most HUBLINK_NOTIFY_TIMEOUT_S and never
fails it.

`state.notices` is a `shared.model.Notices` (pending, sent, errors, since, ready: its docstring says
what each holds); shared.rows stores it.

The JSON event every generic webhook gets is documented in docs/cards/README.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests

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
from shared.delivery import (  # noqa: F401  (re-exported: the delivery limits)
    MAX_ERROR_CHARS,
    MAX_ERRORS,
    MAX_SENT,
    MAX_TRIES,
    SIGNATURE_HEADER,
    Delivery,
    Target,
    build_session,
)
from shared.ids import ClusterId, same_arm_id
from shared.log import get_logger
from shared.model import Phase

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.model import LinkState, Outcome

MAX_PENDING = 20
WAITING = (Phase.PENDING, Phase.PROVISIONING, Phase.AWAITING_APPROVAL)
GONE = (Phase.ABSENT, Phase.SKIPPED)

log = get_logger("hublink.notify")


def _iso(value: datetime) -> str:
    return iso(value) or ""


class Notifier(Delivery):
    """Plans notices inside the leased row write, then delivers them after it (see reconciler)."""

    def __init__(
        self, settings: Settings, *, session: requests.Session | None = None, now: Callable[[], datetime] | None = None
    ) -> None:
        self.settings = settings
        self.targets = {
            t.key: t
            for t in [Target("teams", u) for u in settings.teams_webhooks] + [Target("webhook", u) for u in settings.webhooks]
        }
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
        since = self._episodes(
            state,
            now,
            waiting=phase in WAITING and not resting,
            failed=phase is Phase.FAILED,
            streak=state.attempts > 0 and phase is not Phase.FAILED,
        )
        base = {"previousPhase": str(previous) if previous else None, "timestamp": _iso(now)}
        if phase in GONE:
            self._plan_gone(state, previous, outcome, base)
            return
        for conn in state.foreign_connections:
            extra = connection_commands(self.settings.api_base_url, state.cluster_id, conn.name, self.settings.api_audience)
            self.announce(
                state,
                "link.foreign_connection_pending",
                f"foreign:{conn.name.lower()}",
                foreignConnection=conn.public(),
                **extra,
                **base,
            )
        if phase is Phase.READY and state.ready_at:
            self._plan_ready(state, previous, base)
        if "waiting" in since:
            self._plan_waiting(state, phase, since["waiting"], now, base)
        self._plan_errors(state, outcome, since, base)

    def _plan_gone(self, state: LinkState, previous: Phase | None, outcome: Outcome, base: dict[str, Any]) -> None:
        """Only a link people were told about is announced gone: a late or duplicated event for a
        cluster already cleaned up makes a fresh row that a fault can leave behind, and its cleanup
        is not news (it was announced once already, with the row that had the endpoint)."""
        phase = outcome.phase
        told = bool(state.notices.sent or state.notices.pending or state.notices.ready)
        if previous not in (None, Phase.SKIPPED) and told:
            last = state.notices.ready or {}  # what was removed (cleanup has cleared the row's fields)
            self.announce(
                state,
                "link.cleaned_up",
                f"cleanup:{state.generation}:{phase}",
                phase=str(phase),
                reason=outcome.message,
                hubEndpointId=last.get("endpointId"),
                connectionName=last.get("connectionName"),
                privateIp=last.get("privateIp"),
                portalUrls={"cluster": portal_url(state.tenant_id, state.cluster_id), "hubEndpoint": None},
                **base,
            )
        state.notices.ready = None

    def _plan_waiting(self, state: LinkState, phase: Phase, waiting: str, now: datetime, base: dict[str, Any]) -> None:
        manual = phase is Phase.AWAITING_APPROVAL and self.settings.approval == "manual"
        if manual:
            self.announce(
                state,
                "link.awaiting_approval",
                f"approval:{waiting}",
                **approve_link_commands(self.settings.api_base_url, state.cluster_id, self.settings.api_audience),
                **base,
            )
        waited = (now - parse_iso(waiting)).total_seconds()
        if waited >= self.settings.pending_alert_s:
            extra = retry_commands(self.settings.api_base_url, state.cluster_id, self.settings.api_audience)
            if manual:
                extra |= approve_link_commands(self.settings.api_base_url, state.cluster_id, self.settings.api_audience)
            self.announce(
                state,
                "link.pending_too_long",
                f"stuck:{waiting}",
                waitingSince=waiting,
                waitingSeconds=round(waited),
                **extra,
                **base,
            )

    def _plan_errors(self, state: LinkState, outcome: Outcome, since: dict[str, str], base: dict[str, Any]) -> None:
        if outcome.phase is Phase.FAILED and outcome.terminal:
            self.announce(
                state,
                "link.failed",
                f"failed:{since['failed']}:{state.last_error_code}",
                **retry_commands(self.settings.api_base_url, state.cluster_id, self.settings.api_audience),
                **base,
            )
        elif outcome.error and state.attempts >= self.settings.failure_alert_after and "streak" in since:
            self.announce(
                state,
                "link.failing",
                f"failing:{since['streak']}",
                **retry_commands(self.settings.api_base_url, state.cluster_id, self.settings.api_audience),
                **base,
            )

    def _plan_ready(self, state: LinkState, previous: Phase | None, base: dict[str, Any]) -> None:
        """Ready after not being Ready -> link.ready; Ready on a recreated endpoint -> link.drift_repaired.

        The endpoint's name (so its id) is the same after a recreation: its connection tells them apart.
        A link already Ready when notifications were switched on only records the baseline.
        """
        last = state.notices.ready or {}
        moved = bool(last) and not (
            same_arm_id(last.get("endpointId"), state.endpoint_id) and last.get("connectionName") == state.connection_name
        )
        if moved:
            self.announce(
                state,
                "link.drift_repaired",
                f"ready:{_iso(state.ready_at)}",  # type: ignore[arg-type]
                previousPrivateIp=last.get("privateIp"),
                previousConnectionName=last.get("connectionName"),
                **base,
            )
        elif previous is not Phase.READY:
            self.announce(state, "link.ready", f"ready:{_iso(state.ready_at)}", **base)  # type: ignore[arg-type]
        state.notices.ready = {
            "endpointId": state.endpoint_id,
            "connectionName": state.connection_name,
            "privateIp": state.private_ip,
        }

    def _episodes(self, state: LinkState, now: datetime, **active: bool) -> dict[str, str]:
        """When each ongoing condition started: one notice per episode, however many reconciles see it."""
        since = state.notices.since
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
        pending = notices.pending
        if key in notices.sent or any(p["key"] == key for p in pending):
            return False
        event = self.event(state, kind, **fields)
        pending.append({"key": key, "id": event["id"], "type": kind, "targets": sorted(self.targets), "tries": 0, "event": event})
        while len(pending) > MAX_PENDING:
            self._give_up(state, pending.pop(0), "too many notices pending")
        log.info("notice.planned", cluster=state.cluster_id, type=kind, key=key, id=event["id"])
        return True

    def event(self, state: LinkState, kind: str, **fields: Any) -> dict[str, Any]:
        """The documented JSON event (also what Teams cards are drawn from)."""
        cluster = ClusterId.parse(state.cluster_id)
        error = (state.last_error or None) if kind in ("link.failed", "link.failing") else None
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "type": kind,
            "timestamp": _iso(self.now()),
            "clusterId": cluster.id,
            "clusterName": cluster.name,
            "resourceGroup": cluster.resource_group,
            "tenantId": state.tenant_id,
            "subscriptionId": cluster.subscription_id,
            "region": state.region,
            "accessPath": state.access_path,
            "phase": str(state.phase),
            "previousPhase": None,
            "message": state.message,
            "hubEndpointId": state.endpoint_id,
            "linkServiceId": state.link_service_id,
            "connectionName": state.connection_name,
            "privateIp": state.private_ip,
            "fqdn": state.fqdn,
            "error": error[:MAX_ERROR_CHARS] if error else None,
            "errorCode": state.last_error_code if error else None,
            "attempts": state.attempts,
            "portalUrls": {
                "cluster": portal_url(state.tenant_id, cluster.id),
                "hubEndpoint": portal_url(self.settings.hub_tenant_id, state.endpoint_id),
            },
        }
        event.update(fields)
        return event
