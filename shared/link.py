"""What the steps work on: one cluster's row, the adapters, the few settings they use, and the
reads made so far in this invocation (each read once, reused by the later steps)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.config import region_key

if TYPE_CHECKING:
    from shared.aks import Cluster, ClusterApi, Connection
    from shared.clock import Clock
    from shared.config import Hub, Settings
    from shared.dns import DnsPlacement, HubDns
    from shared.endpoints import Endpoint, HubEndpoints
    from shared.ids import ClusterId
    from shared.log import EventLogger
    from shared.model import LinkState
    from shared.paths import AccessPath
    from shared.state import LinkStore

_UNREAD = object()


@dataclass(frozen=True)
class Seeds:
    """Reads the timer made from its lists (shared.observe), for the row as it was then (`row_etag`).

    The controller uses them only while the row still has that ETag: a row written since (another
    invocation took the link further) may have outrun the list, and a stale "endpoint Updating"
    would set a Ready link back to Provisioning. Then every read is made afresh.
    """

    row_etag: str | None
    reads: Mapping[str, Any]

    def for_row(self, etag: str | None) -> dict[str, Any]:
        return dict(self.reads) if etag is not None and etag == self.row_etag else {}


@dataclass(frozen=True)
class Policy:
    """The settings the steps use, and nothing else."""

    selection: str
    approval: str
    drift_interval_s: float
    hubs: Mapping[str, Hub]
    stable_ip: bool = True  # HUBLINK_STABLE_IP: a recreated endpoint asks for the link's first address
    endpoints_per_vnet: int = 1000  # HUBLINK_ENDPOINTS_PER_VNET
    absence_confirm_s: float = 20.0  # HUBLINK_ABSENCE_CONFIRM_S: a 404 needs a read this much later

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            settings.selection,
            settings.approval,
            settings.drift_interval_s,
            settings.hubs,
            stable_ip=settings.stable_ip == "on",
            endpoints_per_vnet=settings.endpoints_per_vnet,
            absence_confirm_s=settings.absence_confirm_s,
        )

    def hub_for(self, region: str) -> Hub | None:
        return self.hubs.get(region_key(region))


@dataclass(frozen=True)
class Ports:
    """The product's adapters (in-memory fakes in tests/unit, the Azure ones in production)."""

    clusters: ClusterApi
    endpoints: HubEndpoints
    dns: HubDns
    paths: tuple[AccessPath, ...]


@dataclass
class Link:
    cluster: ClusterId
    tenant: str
    state: LinkState
    fresh: bool
    ports: Ports
    policy: Policy
    clock: Clock
    log: EventLogger
    store: LinkStore
    live: Cluster | None = None
    path: AccessPath | None = None
    hub: Hub | None = None
    endpoint: Endpoint | None = None
    connection: Connection | None = None
    budget_s: Callable[[], float] = lambda: 0.0  # seconds this invocation may still spend (the controller's)
    reads: dict[str, Any] = field(default_factory=dict)
    waiting_for: str = "an operation on the hub endpoint is running"
    placement: DnsPlacement | None = None  # where the hub record goes (choose_hub, from the path)
    # A notice about this link or its hub (the controller's Notifier.announce on this row: kind, key, fields).
    announce: Callable[..., bool] = lambda kind, key, **fields: False
    deletion_reported: bool = False  # a ResourceDeleteSuccess event for the cluster started this reconcile

    # -- reads, once per invocation -----------------------------------------------------------
    def read(self, key: str, load: Any) -> Any:
        value = self.reads.get(key, _UNREAD)
        if value is _UNREAD:
            value = self.reads[key] = load()
        return value

    def forget(self, key: str) -> None:
        self.reads.pop(key, None)

    # -- the row (written under the controller's lease) ---------------------------------------
    def save(self) -> None:
        """Persist intent before acting in Azure (the row is the finalizer)."""
        self.state.updated_at = self.clock.now()
        self.store.replace(self.state)

    def remove(self) -> None:
        self.store.delete(self.state)

    def mark(self, step: str, *, done: bool = False, message: str = "") -> None:
        """Telemetry shown by the API: when each step last started and succeeded."""
        progress = self.state.step(step)
        now = self.clock.now().isoformat()
        if progress.started is None or (progress.succeeded and not done):
            progress.started, progress.succeeded = now, None
        if done:
            progress.succeeded = now
        if message:
            progress.message = message

    def until_next_poll(self) -> float | None:
        """Seconds to the next `operation_at + k * poll_s` (k >= 1); None when no operation is recorded.

        Azure's Retry-After counts from when it accepted the operation, so every read of a running
        operation falls on that grid, whichever invocation makes it.
        """
        s = self.state
        if s.operation_at is None or not s.poll_s:
            return None
        elapsed = max(0.0, (self.clock.now() - s.operation_at).total_seconds())
        return s.poll_s - elapsed % s.poll_s
