"""What every reliability test checks: devcloud's state read directly (no API in between), and a
driver that reconciles one cluster the way the queue and the timer would.

Ours = a hub endpoint named `pe-hublink-*`, an A record whose metadata carries `hublinkCluster`.
An orphan is something of ours whose cluster no longer exists, or that no state row accounts for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from shared.ids import ClusterId
from shared.model import Outcome, Phase

OURS_PREFIX = "pe-hublink-"


def _key(value: str | None) -> str:
    return (value or "").lower()


@dataclass
class Census:
    """One look at devcloud's resources, everything keyed by lower-cased ids."""

    clusters: set[str] = field(default_factory=set)
    endpoints: dict[str, Any] = field(default_factory=dict)  # our endpoints: id -> devcloud Endpoint
    all_endpoint_ids: set[str] = field(default_factory=set)
    records: dict[str, str] = field(default_factory=dict)  # "<zone>/<name>" -> owner cluster key (ours only)
    approved: list[tuple[str, str]] = field(default_factory=list)  # (cluster id, endpoint id) of Approved connections
    connections: dict[str, int] = field(default_factory=dict)  # cluster id -> connections on it
    link_services: dict[str, str] = field(default_factory=dict)  # our PLS id -> its cluster key (vnet-integration)

    @classmethod
    def take(cls, cloud: Any) -> Census:
        c = cls()
        providers = cloud.providers
        with cloud.arm.lock:
            for cid, cluster in providers["containerservice"].clusters.items():
                c.clusters.add(cid)
                c.connections[cid] = len(cluster.connections)
                c.approved += [(cid, _key(conn.endpoint_id)) for conn in cluster.connections.values()
                               if conn.status == "Approved"]
            for pid, pls in providers["privatelinkservices"].services.items():
                owner = (pls.tags or {}).get("hublink-cluster")
                if owner and (pls.tags or {}).get("managed-by") == "aks-hublink":
                    c.link_services[pid] = owner.lower()
                    c.approved += [(owner, _key(conn.endpoint_id)) for conn in pls.connections.values()
                                   if conn.status == "Approved"]
            for eid, ep in providers["network"].endpoints.items():
                c.all_endpoint_ids.add(eid)
                if ep.name.lower().startswith(OURS_PREFIX):
                    c.endpoints[eid] = ep
            for zid, zone in providers["privatedns"].zones.items():
                for name, rs in zone.records.items():
                    owner = (rs.metadata or {}).get("hublinkCluster")
                    if owner:
                        c.records[f"{zid}/{name}"] = owner.lower()
        return c

    def endpoints_for(self, cluster_id: str) -> list[Any]:
        """Our endpoints to the cluster itself, or to the PLS we made for it."""
        key = ClusterId.parse(cluster_id).key
        return [ep for ep in self.endpoints.values()
                if _key(ep.target_id) == _key(cluster_id) or self.link_services.get(_key(ep.target_id)) == key]

    def link_services_for(self, cluster_id: str) -> list[str]:
        key = ClusterId.parse(cluster_id).key
        return [pid for pid, owner in self.link_services.items() if owner == key]

    def records_for(self, cluster_id: str) -> list[str]:
        return [r for r, owner in self.records.items() if owner == ClusterId.parse(cluster_id).key.lower()]

    def foreign_approvals(self) -> list[tuple[str, str]]:
        """Approved connections whose endpoint the product did not create (must always be empty...
        unless a person approved it: callers pass those in `allowed`)."""
        return [(cid, eid) for cid, eid in self.approved if eid not in self.endpoints]

    def orphans(self, rows: dict[str, Any]) -> list[str]:
        """Things of ours nobody accounts for: no cluster behind them, or no state row for their cluster."""
        out = []
        by_key = {ClusterId.parse(cid).key: cid for cid in self.clusters}
        for ep in self.endpoints.values():
            target = _key(ep.target_id)
            target = _key(by_key.get(self.link_services.get(target, ""), target))  # an endpoint to our PLS
            if target not in self.clusters or target not in rows:
                out.append(f"endpoint {ep.name} -> {ep.target_id}")
        keys = {ClusterId.parse(cid).key.lower(): cid for cid in rows}
        cluster_keys = {ClusterId.parse(cid).key.lower() for cid in self.clusters}
        for record, owner in self.records.items():
            if owner not in cluster_keys or owner not in keys:
                out.append(f"record {record} (owner {owner})")
        for pid, owner in self.link_services.items():
            if owner not in cluster_keys or owner not in keys:
                out.append(f"private link service {pid} (owner {owner})")
        return out


def rows_by_cluster(store: Any) -> dict[str, Any]:
    return {s.cluster_id.lower(): s for s in store.list()}


def drive(rec: Any, cluster_id: str, *, bound: int = 25, budget_s: float = 8.0, max_sleep_s: float = 1.0,
          until: tuple[Phase, ...] | None = None) -> list[Outcome]:
    """Reconcile until nothing is asked for (no requeue), or a phase in `until` is reached, or `bound` runs.

    Sleeps what the outcome asked for, capped at `max_sleep_s` (the queue's delay, shortened: a
    link asked to look again early just answers "still provisioning" once more).
    """
    outcomes: list[Outcome] = []
    for _ in range(bound):
        outcome = rec.reconcile(cluster_id, budget_s=budget_s)
        outcomes.append(outcome)
        if outcome.requeue_after is None or (until and outcome.phase in until and not outcome.busy):
            break
        time.sleep(min(outcome.requeue_after, max_sleep_s))
    return outcomes


def notices_for(sink: Any, cluster_id: str, path: str | None = None) -> list[dict[str, Any]]:
    """Every notice the sink received about one cluster (generic webhook JSON events)."""
    cid = ClusterId.parse(cluster_id).id.lower()
    return [r["body"] for r in list(sink.received)
            if isinstance(r["body"], dict) and str(r["body"].get("clusterId", "")).lower() == cid
            and (path is None or r["path"] == path)]
