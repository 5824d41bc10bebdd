"""The link: one per cluster, what the state row holds, and what `reconcile` answers.

Phases, in the order a healthy link goes through them:

    Pending ──> Provisioning ──> AwaitingApproval ──> Ready
       │             (hub endpoint      (connection         │
       │              being created)     not yet approved)  │   drift: back to Provisioning
       ├──> Skipped   (public, opted out: nothing of ours remains)
       ├──> Failed    (terminal: waits for an event, an HTTP retry or a changed cluster)
       └──> Deleting  (cluster gone: record, endpoint, then the row itself)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.clock import iso as _iso


class Provisioned:
    """What the product reads of an Azure resource's provisioningState (endpoints, Private Link
    Services): a mixin for the adapters' small frozen dataclasses that carry `provisioning_state`."""

    provisioning_state: str

    @property
    def succeeded(self) -> bool:
        return self.provisioning_state.lower() == "succeeded"

    @property
    def in_progress(self) -> bool:
        return self.provisioning_state.lower() in ("updating", "creating", "deleting")

    @property
    def failed(self) -> bool:
        return self.provisioning_state.lower() == "failed"


class Phase(StrEnum):
    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    AWAITING_APPROVAL = "AwaitingApproval"
    READY = "Ready"
    SKIPPED = "Skipped"
    FAILED = "Failed"
    DELETING = "Deleting"
    ABSENT = "Absent"  # only in an Outcome: no cluster and nothing of ours (no row)

    def __str__(self) -> str:
        return self.value


STEPS = ("cluster", "endpoint", "approval", "dns", "cleanup")


@dataclass
class StepProgress:
    """When one step last started and succeeded (telemetry the API shows; every reconcile still runs
    every step, each a no-op when already true)."""

    started: str | None = None
    succeeded: str | None = None
    retries: int = 0
    message: str = ""


@dataclass
class ForeignConnection:
    """A Pending connection on the link's target that is not ours: recorded for a person to decide."""

    name: str
    private_endpoint_id: str
    status: str
    description: str = ""

    def public(self) -> dict[str, str]:
        return {
            "name": self.name,
            "privateEndpointId": self.private_endpoint_id,
            "status": self.status,
            "description": self.description,
        }


@dataclass
class AuditEntry:
    """One human decision (approve-link, approve-connection, reject-connection).

    `by` is the verified caller's name; `by_id`, `by_tenant` and `by_type` (user | application, or
    local / cli for the unauthenticated paths) identify it: over HTTP they come from the token App
    Service Authentication verified (shared.authz), never from a header a caller could set."""

    action: str
    by: str
    via: str
    at: str
    reason: str
    connection_name: str | None = None
    endpoint_id: str | None = None
    status: str | None = None
    by_id: str | None = None
    by_tenant: str | None = None
    by_type: str | None = None

    def public(self) -> dict[str, str]:
        out = {"action": self.action, "by": self.by, "via": self.via, "at": self.at, "reason": self.reason}
        extra = {
            "connectionName": self.connection_name,
            "endpointId": self.endpoint_id,
            "status": self.status,
            "byId": self.by_id,
            "byTenant": self.by_tenant,
            "byType": self.by_type,
        }
        return out | {k: v for k, v in extra.items() if v is not None}


@dataclass
class Notices:
    """What was announced for a link (shared.notify plans, shared.delivery sends).

    pending  notices still to send: {key, id, type, targets (left to send to), tries, event, lastError}
    sent     key -> when it was sent (the newest kept, and those of foreign connections still pending)
    errors   notices given up on (the newest kept)
    since    start of the current episode: waiting (not yet Ready), failed, streak (transient errors)
    ready    the endpoint, connection and IP last announced Ready (a different one later is a drift repair)
    """

    pending: list[dict[str, Any]] = field(default_factory=list)
    sent: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    since: dict[str, str] = field(default_factory=dict)
    ready: dict[str, Any] | None = None


@dataclass
class LinkState:
    cluster_id: str
    subscription_id: str
    resource_group: str
    cluster_name: str
    tenant_id: str
    phase: Phase = Phase.PENDING
    message: str = ""
    region: str | None = None
    endpoint_id: str | None = None
    endpoint_name: str | None = None
    connection_name: str | None = None
    connection_status: str | None = None
    private_ip: str | None = None
    fqdn: str | None = None
    zone_id: str | None = None
    record_name: str | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_error_code: str | None = None
    foreign_connections: list[ForeignConnection] = field(default_factory=list)
    generation: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    ready_at: datetime | None = None
    cluster_etag: str | None = None
    poll_s: float | None = None  # Retry-After Azure gave for the last endpoint operation
    operation_at: datetime | None = None  # when Azure accepted the endpoint operation still running (polls count from it)
    steps: dict[str, StepProgress] = field(default_factory=dict)
    access_path: str | None = None  # the shared.paths path that reaches the cluster (its name)
    link_service_id: str | None = None  # the Private Link Service we made for it (vnet-integration path)
    dns_mode: str | None = None  # how the cluster names its API server (shared.dns.MODES)
    own_zone_id: str | None = None  # a hub zone made for this cluster alone (mode none): ours to delete
    subnet_id: str | None = None  # the hub subnet our endpoint is in (a region may have several)
    stable_ip: str | None = None  # the first hub address the link got: a recreated endpoint asks for it
    stable_ip_failed: bool = False  # an endpoint that asked for it ended Failed: the next one takes any address
    absent_since: datetime | None = None  # first of the cluster reads answering 404 in a row (unconfirmed absence)
    lease_owner: str | None = None
    lease_until: datetime | None = None
    notices: Notices = field(default_factory=Notices)  # what was announced (notifications)
    audit: list[AuditEntry] = field(default_factory=list)  # human decisions (approve/reject), newest last
    etag: str | None = field(default=None, compare=False)

    def step(self, name: str) -> StepProgress:
        return self.steps.setdefault(name, StepProgress())

    def public(self) -> dict[str, Any]:
        """The JSON shape the HTTP API and CLI show (no lease internals, no etag)."""
        out = {
            "clusterId": self.cluster_id,
            "subscriptionId": self.subscription_id,
            "resourceGroup": self.resource_group,
            "clusterName": self.cluster_name,
            "tenantId": self.tenant_id,
            "region": self.region,
            "accessPath": self.access_path,
            "phase": str(self.phase),
            "message": self.message,
            "hubEndpointId": self.endpoint_id,
            "linkServiceId": self.link_service_id,
            "connectionName": self.connection_name,
            "connectionStatus": self.connection_status,
            "privateIp": self.private_ip,
            "fqdn": self.fqdn,
            "recordName": self.record_name,
            "dnsMode": self.dns_mode,
            "dnsZoneId": self.zone_id,
            "hubSubnetId": self.subnet_id,
            "stableIp": self.stable_ip,
            "attempts": self.attempts,
            "lastError": self.last_error,
            "lastErrorCode": self.last_error_code,
            "nextAttemptAt": _iso(self.next_attempt_at),
            "foreignConnections": [f.public() for f in self.foreign_connections],
            "generation": self.generation,
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "readyAt": _iso(self.ready_at),
            "steps": {k: asdict(v) for k, v in self.steps.items()},
            "audit": [a.public() for a in self.audit],
        }
        return out


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did and when to look again (controller-runtime's Result)."""

    cluster_id: str
    phase: Phase
    message: str = ""
    requeue_after: float | None = None  # seconds; None = no follow-up needed before the timer's drift check
    error: str | None = None
    terminal: bool = False
    busy: bool = False  # another invocation holds the lease; nothing was done
    state: LinkState | None = None
    idle: bool = False  # nothing read: waiting for Azure's poll time, whose continuation is already queued
    by_event: bool = False  # waiting for an operation whose end Azure announces by event: no continuation

    def public(self) -> dict[str, Any]:
        return {
            "clusterId": self.cluster_id,
            "phase": str(self.phase),
            "message": self.message,
            "requeueAfterSeconds": self.requeue_after,
            "error": self.error,
            "terminal": self.terminal,
            "busy": self.busy,
            "link": self.state.public() if self.state else None,
        }


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
