"""The timer's informer: the hub's state read in pages, and which links it shows need acting on.

A drift check per link reads five things (cluster, endpoint, connections, NIC, record): a timer
run over thousands of Ready links spends most of the hub subscription's read budget on links that
are fine. Like an informer cache in a Kubernetes controller, a timer run instead lists the hub's
state a page at a time:

    our endpoints    one list per hub resource group (with their provisioning and connection states)
    their NICs       one list per hub resource group (the private IPs)
    the records      one paged list per zone the rows name
    the clusters     one list per spoke subscription that has a due link

and compares each row with what it shows. A row whose observed state matches (a Ready link whose
cluster is unchanged, whose endpoint is Succeeded and Approved, whose NIC and record hold its IP;
a cluster still being created; a cluster still stopped) only has its next check moved on. Only the
others are reconciled, and their reconcile starts from the observation instead of reading the
cluster, the endpoint and its NIC again (shared.link.Seeds), unless another invocation wrote the
row since it was listed: the list may be older than what that invocation saw. A Ready link through a
private link service (API Server VNet Integration) is always reconciled at its check: its service
and that service's connections are in the spoke, where the hub's lists cannot see a foreign one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.errors import HubLinkError
from shared.link import Seeds
from shared.log import get_logger
from shared.model import Phase
from shared.paths.vnet_integration import VnetIntegrationPath
from shared.steps.cluster import CLUSTER_WAIT_S

if TYPE_CHECKING:
    from shared.aks import Cluster
    from shared.dns import Record
    from shared.endpoints import Endpoint
    from shared.model import LinkState
    from shared.service import Service

log = get_logger("hublink.observe")


@dataclass
class Observation:
    endpoints: dict[tuple[str, str], dict[str, Endpoint]] = field(default_factory=dict)  # (sub, rg) -> name -> endpoint
    nic_ips: dict[str, str] = field(default_factory=dict)  # NIC id -> private IP
    records: dict[str, dict[str, Record]] = field(default_factory=dict)  # zone id -> name -> record
    clusters: dict[str, Cluster] = field(default_factory=dict)  # cluster id -> cluster, for listed subscriptions
    listed: set[str] = field(default_factory=set)  # spoke subscriptions listed without error

    def endpoint_of(self, row: LinkState) -> tuple[bool, Endpoint | None]:
        """(whether the endpoint's hub group was listed, the endpoint if it is there)."""
        if not row.endpoint_id or not row.endpoint_name:
            return False, None
        parts = row.endpoint_id.strip("/").split("/")
        group = self.endpoints.get((parts[1].lower(), parts[3].lower()))
        return group is not None, (group or {}).get(row.endpoint_name.lower())

    def cluster_of(self, row: LinkState) -> tuple[bool, Cluster | None]:
        return row.subscription_id.lower() in self.listed, self.clusters.get(row.cluster_id.lower())


def observe(svc: Service, rows: list[LinkState], due: list[LinkState], *, concurrency: int) -> Observation:
    """List the hub groups of every configured hub, the zones the rows name, and the spoke
    subscriptions of the due rows (each list that fails is left out: its rows are reconciled)."""
    obs = Observation()
    hubs = [h.in_subnet(subnet) for h in svc.controller.policy.hubs.values() for subnet in h.subnets]
    groups = {(h.subscription_id.lower(), h.resource_group.lower()) for h in hubs}  # each subnet's group
    zones = {r.zone_id.lower(): r.zone_id for r in rows if r.zone_id}
    subscriptions = {r.subscription_id.lower() for r in due}
    endpoints, dns = svc.ports.endpoints, svc.ports.dns

    def hub_group(group: tuple[str, str]) -> None:
        listed = {e.name.lower(): e for e in endpoints.list_in_group(*group)}
        obs.nic_ips.update(endpoints.nic_ips(*group))
        obs.endpoints[group] = listed

    def zone(key: str) -> None:
        obs.records[key] = dns.records(zones[key])

    def spoke(subscription: str) -> None:
        tenant = svc.spokes.get(subscription) or next((t for s, t in svc.spokes.items() if s.lower() == subscription), None)
        if tenant is None:
            return
        for cluster in svc.clusters.list_in_subscription(subscription, tenant):
            obs.clusters[cluster.id.lower()] = cluster
        obs.listed.add(subscription)

    jobs = [(hub_group, g) for g in groups] + [(zone, z) for z in zones] + [(spoke, s) for s in subscriptions]
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="observe") as pool:
        for (job, arg), fut in [(j, pool.submit(j[0], j[1])) for j in jobs]:
            try:
                fut.result()
            except HubLinkError as exc:
                log.warning("observe.list_failed", what=job.__name__, target=str(arg), error=str(exc))
    return obs


def hub_drift(row: LinkState, obs: Observation) -> str | None:
    """Why a Ready link's hub side differs from what was listed; None when it matches (or was not listed)."""
    listed, endpoint = obs.endpoint_of(row)
    if not listed:
        return None
    if endpoint is None:
        return "its hub endpoint is gone"
    if not endpoint.succeeded or (endpoint.connection_status or "").lower() != "approved":
        return f"its hub endpoint is {endpoint.provisioning_state}, connection {endpoint.connection_status}"
    ip = obs.nic_ips.get(endpoint.nic_ids[0].lower()) if endpoint.nic_ids else None
    if ip is not None and ip != row.private_ip:
        return f"its endpoint's IP is now {ip}"
    records = obs.records.get((row.zone_id or "").lower())
    if records is not None and row.record_name:
        record = records.get(row.record_name.lower())
        if record is None or record.ips != (row.private_ip,):
            return "its A record is missing or changed"
    return None


def recheck_in(row: LinkState, obs: Observation, drift_interval_s: float) -> float | None:
    """Seconds until the next check of a due row whose observation asks for nothing; None: reconcile it."""
    listed, cluster = obs.cluster_of(row)
    if not listed or cluster is None or (row.cluster_etag and cluster.etag != row.cluster_etag):
        return None
    state, power = cluster.provisioning_state.lower(), cluster.power_state.lower()
    if row.phase is Phase.READY:
        if row.access_path == VnetIntegrationPath.name:
            # Its private link service and that service's connections (a foreign endpoint to report)
            # are in the spoke, which the hub's lists do not show: its drift check reads them.
            return None
        ok = state == "succeeded" and power == "running" and cluster.private and hub_drift(row, obs) is None
        return drift_interval_s if ok and obs.endpoint_of(row)[0] else None
    if row.phase is Phase.PENDING and not row.operation_at and not row.attempts:
        if state != "succeeded":
            return CLUSTER_WAIT_S  # still being created: waiting for its event, as a reconcile would
        if power == "stopped":
            return drift_interval_s
    return None


def seeds(row: LinkState, obs: Observation) -> Seeds:
    """What a reconcile of this row may take from the observation instead of reading it again
    (while the row is as listed: shared.link.Seeds)."""
    out: dict[str, Any] = {}
    listed, cluster = obs.cluster_of(row)
    if listed and cluster is not None:  # a cluster missing from a list is read again (one 404 proves nothing)
        out["cluster"] = cluster
    group_listed, endpoint = obs.endpoint_of(row)
    if group_listed and endpoint is not None:
        out["endpoint"] = endpoint
        ip = obs.nic_ips.get(endpoint.nic_ids[0].lower()) if endpoint.nic_ids and endpoint.succeeded else None
        if ip is not None:
            out["ip"] = ip
    return Seeds(row.etag, out)
