"""The service layer: everything the product does, as the triggers, the HTTP API and the CLI call it.

    reconcile(cluster_id)               the controller, plus the follow-up on the continuation queue
    sweep()                             the timer backstop (shared.sweep)
    approve_link(cluster_id, ...)       a person approves a link in manual mode, then it is reconciled
    decide_connection(cluster_id, ...)  a person approves or rejects any pending connection
    get(cluster_id) / list(phase)       the recorded links
    doctor(subscription)                what the product needs, proven per hub and spoke (shared.doctor)
    status_page()                       the links, hub capacity and the doctor's summary as one HTML page
    progress()                          Ready out of all links to make ("312 of 1,000 Ready")

Each raises the product's errors (shared.errors) for refused input; the adapters (function_app via
shared.handlers, shared.__main__) turn them into HTTP answers (`errors.http_status`) or exit codes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.approvals import Approvals, Who
from shared.clock import SYSTEM, Clock
from shared.continuation import GRANULARITY_S
from shared.controller import Backoff, Controller, NoNotifier, Notifier
from shared.errors import Refused
from shared.ids import ClusterId
from shared.link import Policy, Ports, Seeds
from shared.log import get_logger
from shared.model import Phase
from shared.sweep import Discovery, SweepReport, sweep

if TYPE_CHECKING:
    from shared.aks import ClusterApi
    from shared.config import Settings
    from shared.continuation import Continuations
    from shared.credentials import Credentials
    from shared.doctor import Report
    from shared.model import AuditEntry, LinkState, Outcome
    from shared.state import LinkStore

log = get_logger("hublink.service")
CHAIN_TOLERANCE_S = 0.5  # a continuation asked for within this of the row's next attempt is the one it waits for


def _follows_up(outcome: Outcome, follow_up: str, woken_for: datetime | None) -> bool:
    """Whether this trigger queues the look-again an outcome asks for.

    Not for a link waiting for an event (a cluster mid-operation). An event that met the lease of
    another invocation does (that run may have read the cluster before the change the event
    reports); other busy outcomes do not (the lease holder follows up itself). An idle outcome only
    by the continuation the row is waiting for (see `reconcile`).
    """
    if outcome.by_event:
        return False
    if outcome.busy:
        return follow_up == "event"
    return not outcome.idle or (follow_up == "continuation" and _awaited(outcome, woken_for))


def _awaited(outcome: Outcome, woken_for: datetime | None) -> bool:
    state = outcome.state
    if woken_for is None or state is None or state.next_attempt_at is None:
        return True
    return abs((state.next_attempt_at - woken_for).total_seconds()) <= CHAIN_TOLERANCE_S


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        store: LinkStore,
        ports: Ports,
        clock: Clock = SYSTEM,
        notifier: Notifier | None = None,
        continuations: Continuations | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.ports = ports
        self.clusters: ClusterApi = ports.clusters
        self.clock = clock
        self.notifier: Notifier = notifier or NoNotifier()
        self.continuations = continuations
        self.spokes = settings.spokes
        self.event_budget_s = settings.event_budget_s
        self.controller = Controller(
            store=store,
            ports=ports,
            policy=Policy.from_settings(settings),
            spokes=settings.spokes,
            backoff=Backoff(settings.backoff_base_s, settings.backoff_max_s),
            default_budget_s=settings.event_budget_s,
            clock=clock,
            notifier=self.notifier,
        )
        self.approvals = Approvals(
            store=store, paths=ports.paths, clock=clock, notifier=self.notifier, tenant_of=self.controller.tenant_of
        )
        self.discovery = Discovery(settings.discovery_interval_s)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        credentials: Credentials | None = None,
        clock: Clock = SYSTEM,
        notifier: Notifier | None = None,
        continuations: Continuations | None = None,
    ) -> Service:
        """The product wired to Azure (or devcloud): ARM, the network SDK, private DNS, Table Storage."""
        from shared.aks import ClusterApi
        from shared.arm import ArmClient
        from shared.credentials import Credentials
        from shared.dns import HubDns
        from shared.endpoints import HubEndpoints
        from shared.linkservice import LinkServices
        from shared.paths import default_paths
        from shared.state import LinkStore

        credentials = credentials or Credentials(settings)
        arm = ArmClient(settings.azure, credentials)
        clusters = ClusterApi(arm)
        ports = Ports(
            clusters=clusters,
            endpoints=HubEndpoints(settings.azure, credentials, settings.hub_tenant_id),
            dns=HubDns(arm, settings.hub_tenant_id),
            paths=default_paths(clusters, LinkServices(settings.azure, credentials), settings.pls_subnets),
        )
        return cls(
            settings,
            store=LinkStore.connect(settings.storage, credentials, clock=clock),
            ports=ports,
            clock=clock,
            notifier=notifier,
            continuations=continuations,
        )

    # -- reconcile -----------------------------------------------------------------------------
    def reconcile(
        self,
        cluster_id: str,
        *,
        budget_s: float | None = None,
        follow_up: str | None = None,
        deletion_reported: bool = False,
        seeds: Seeds | None = None,
        woken_for: datetime | None = None,
    ) -> Outcome:
        """Reconcile one cluster; with `follow_up` (the trigger's name), queue the look-again it asks for.
        `deletion_reported`: a ResourceDeleteSuccess event named it (a 404 then confirms the deletion).

        `woken_for`: the time a continuation was asked for. An idle outcome (Azure's poll time has not
        come, nothing was read) is followed up only by the continuation that the row is waiting for
        (its time is the row's next attempt): an event, a timer run or a stale continuation that meets
        a link waiting for Azure would otherwise start a second chain of continuations beside it.
        """
        self._align(woken_for)
        outcome = self.controller.reconcile(
            cluster_id, budget_s=budget_s or self.event_budget_s, deletion_reported=deletion_reported, seeds=seeds
        )
        if follow_up and outcome.requeue_after is not None and self.continuations is not None:
            if _follows_up(outcome, follow_up, woken_for):
                self.continuations.schedule(outcome.cluster_id, outcome.requeue_after, reason=follow_up)
        return outcome

    def _align(self, woken_for: datetime | None) -> None:
        """Storage queue delays are whole seconds, so a continuation asked for at 10.4 s is visible at
        10 s: 0.4 s before Azure's poll time. It waits out that fraction here (under a second; never a
        wait for Azure) instead of reading nothing and queueing another message for the rest, which
        chained half a dozen invocations, each with its lease writes, in front of every poll."""
        if woken_for is None:
            return
        early = (woken_for - self.clock.now()).total_seconds()
        if 0 < early <= GRANULARITY_S:
            self.clock.sleep(early)

    def sweep(self, *, discover: bool | None = None, thread_init: Callable[[], None] | None = None) -> SweepReport:
        due = self.discovery.due(self.clock.monotonic()) if discover is None else discover
        return sweep(
            self,
            budget_s=self.settings.timer_budget_s,
            concurrency=self.settings.concurrency,
            discover=due,
            thread_init=thread_init,
        )

    # -- people ----------------------------------------------------------------------------------
    def approve_link(
        self,
        cluster_id: str,
        *,
        who: Who,
        reason: Any = "",
        via: str = "api",
        budget_s: float | None = None,
        follow_up: str | None = None,
    ) -> tuple[AuditEntry, Outcome]:
        """Record the approval of the link's current endpoint, then reconcile it on to Ready."""
        entry = self.approvals.approve_link(cluster_id, who=who, reason=reason, via=via)
        return entry, self.reconcile(cluster_id, budget_s=budget_s, follow_up=follow_up)

    def decide_connection(
        self, cluster_id: str, connection_name: Any, status: str, *, who: Who, reason: Any = "", via: str = "api"
    ) -> AuditEntry:
        return self.approvals.decide_connection(cluster_id, connection_name, status, who=who, reason=reason, via=via)

    # -- reads -----------------------------------------------------------------------------------
    def get(self, cluster_id: str) -> LinkState:
        """The recorded link (Refused 404 LinkNotFound without a row)."""
        cluster = ClusterId.parse(cluster_id)
        self.controller.tenant_of(cluster)
        state = self.store.get(cluster)
        if state is None:
            raise Refused(404, "LinkNotFound", f"no link is recorded for {cluster.id}")
        return state

    def progress(self, rows: list[LinkState] | None = None) -> dict[str, Any]:
        """How far onboarding is: Ready links out of every link the product is to make ("312 of 1,000
        Ready"); Skipped clusters (public, opted out) are not counted, the other phases are listed."""
        rows = self.store.list() if rows is None else rows
        by_phase: dict[str, int] = {}
        for row in rows:
            by_phase[str(row.phase)] = by_phase.get(str(row.phase), 0) + 1
        ready = by_phase.get(str(Phase.READY), 0)
        linked = sum(n for phase, n in by_phase.items() if phase != str(Phase.SKIPPED))
        return {"ready": ready, "of": linked, "byPhase": dict(sorted(by_phase.items())), "text": f"{ready:,} of {linked:,} Ready"}

    def hubs(self) -> list[dict[str, Any]]:
        """Each region's hub: its subnets with used/total (read from Azure), and the last level recorded."""
        from shared.capacity import current_level

        out: list[dict[str, Any]] = []
        for region, hub in sorted(self.settings.hubs.items()):
            rooms = self.ports.endpoints.subnet_room(hub, self.settings.endpoints_per_vnet)
            out.append(
                {
                    "region": region,
                    "used": sum(r.used for r in rooms),
                    "total": sum(r.total for r in rooms),
                    "level": current_level(rooms),
                    "recordedLevel": self.store.hub_level(region),
                    "subnets": [r.public() for r in rooms],
                }
            )
        return out

    def list(self, phase: str | None = None) -> list[LinkState]:
        """Every recorded link, optionally in one phase (case-insensitive), sorted by cluster id."""
        selected = None
        if phase:
            selected = next((p for p in Phase if p.value.lower() == phase.lower()), None)
            if selected is None:
                raise Refused(400, "InvalidPhase", f"phase must be one of {', '.join(p.value for p in Phase)}")
        rows = self.store.list(phase=selected)
        rows.sort(key=lambda s: s.cluster_id.lower())
        return rows

    def doctor(self, subscription: str | None = None) -> Report:
        """Read-only checks of the hub and each spoke (SubscriptionNotConfigured for an unknown subscription)."""
        from shared.doctor import run_doctor

        return run_doctor(self, subscription=subscription)

    def status_page(self) -> str:
        """The HTML status page (shared.statuspage); a doctor that cannot run is shown, not raised."""
        from shared.errors import HubLinkError
        from shared.statuspage import render

        rows = self.list()
        report, problem = None, None
        try:
            report = self.doctor()
        except HubLinkError as exc:
            problem = str(exc)
        try:
            capacity = [{"region": hub["region"], **s} for hub in self.hubs() for s in hub["subnets"]]
        except HubLinkError as exc:
            capacity, problem = [], problem or f"hub capacity: {exc}"
        return render(rows, capacity=capacity, report=report, problem=problem, now=self.clock.now())
