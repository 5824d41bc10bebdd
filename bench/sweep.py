"""Figure 3 (`sweep10k`): one timer run (`shared.handlers.sweep`) over 10,000 links, 50 ms per ARM call.

The world has `subscriptions` spokes across a few tenants, each with the product's spoke role, and
`links` clusters spread over them. Seeding is fast and goes through the product itself: clusters
are created by ARM PUTs with zero-length operations, then the product's reconciler onboards each
one with no latency and throttling out of the way. The mix is what a timer run meets in steady
state: most links Ready (those whose hourly drift check is due), some Pending (clusters still
being created, which are due every run, and stopped clusters, due hourly) and some Failed
(a region with no hub: terminal, not due until something changes), and a few due Ready links
whose A record someone deleted (the links that need acting on). Then latency goes to 50 ms,
throttling back to devcloud's defaults (Azure's: 250 reads burst, 25/s refill, per subscription
and principal) and one sweep runs with production settings. Reads are split into list reads
(a collection: the hub's endpoints, NICs and records, a spoke's clusters) and per-link reads.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from bench.local import local_cloud, runtime
from devcloud.arm import DEFAULT_LIMITS
from devcloud.client import ARM_SCOPE, Operator
from devcloud.world import HUB_TENANT, SPOKE_TENANT, RoleAssignment, World, default_world
from shared.pacing import PACER
from stack.world import add_product

TIMER_PERIOD_S = 300  # infra/main.bicep: timerSchedule '0 */5 * * * *'
PRODUCTION = {"HUBLINK_CONCURRENCY": "8", "HUBLINK_TIMER_BUDGET_S": "240", "HUBLINK_DRIFT_INTERVAL_S": "3600",
              "HUBLINK_EVENT_BUDGET_S": "20"}  # infra/main.bicep defaults
READ_LIMIT_PER_S = DEFAULT_LIMITS["read"][1]
# Reads one reconcile needs, by the phase a due link is in (bench/calls.py lists the Ready ones).
READS_PER_RECONCILE = {"Ready": 5, "Pending": 1}
MIX = {"ready": 0.90, "creating": 0.05, "stopped": 0.025, "no_hub": 0.025}
DRIFTED_SHARE = 0.05  # of the due Ready links: their record was deleted by hand (they need acting on)
EXTRA_TENANTS = ("d4d4d4d4-0000-4000-8000-000000000004", "e5e5e5e5-0000-4000-8000-000000000005")
NO_HUB_REGION = "eastus"


def build_world(subscriptions: int, links: int) -> World:
    """default_world() with `subscriptions` spokes over four tenants and a hub subnet big enough."""
    world = default_world()
    tenants = [HUB_TENANT, SPOKE_TENANT, *EXTRA_TENANTS]
    for i, tenant in enumerate(EXTRA_TENANTS):
        world.tenants[tenant] = f"bench-tenant-{i + 1}"
    world.spokes = []
    for i in range(subscriptions):
        sub = f"{0x50000000 + i:08x}-0000-4000-8000-{i:012x}"
        tenant = tenants[i % len(tenants)]
        world.subscriptions[sub] = {"tenant_id": tenant, "name": f"bench-spoke-{i}", "resource_groups": ["rg-aks"]}
        world.spokes.append({"tenant_id": tenant, "subscription_id": sub, "resource_group": "rg-aks"})
        world.assignments.append(RoleAssignment("admin", "Owner", f"/subscriptions/{sub}"))
    prefix_len = 32 - max(8, (links + 16).bit_length())
    world.subnets[0].prefix = f"10.10.0.0/{prefix_len}"
    return add_product(world)  # the product's spoke role on every spoke


class Admin:
    """The platform team creating clusters: plain ARM PUTs, not waiting for the operations."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.operator = Operator(cloud)
        self.session = requests.Session()

    def _call(self, method: str, path: str, body: Any = None) -> requests.Response:
        sub = path.split("/")[2]
        token = self.operator.credential(self.cloud.world.tenant_of(sub)).get_token(ARM_SCOPE).token
        for attempt in range(3):  # a loaded machine may time a PUT out after devcloud took it: 409 then means done
            try:
                resp = self.session.request(method, self.cloud.url + path, params={"api-version": "2025-10-01"},
                                            json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60,
                                            verify=self.cloud.certs.ca_bundle)
            except requests.Timeout:
                continue
            if resp.status_code < 300 or (attempt and resp.status_code == 409):
                return resp
            raise AssertionError(f"{method} {path}: {resp.status_code} {resp.text}")
        raise AssertionError(f"{method} {path}: timed out three times")

    def create(self, cluster_id: str, region: str) -> None:
        name = cluster_id.rsplit("/", 1)[-1]
        self._call("PUT", cluster_id, {
            "location": region, "properties": {
                "dnsPrefix": name, "apiServerAccessProfile": {"enablePrivateCluster": True},
                "agentPoolProfiles": [{"name": "system", "count": 1, "vmSize": "Standard_D2s_v5", "mode": "System"}]}})

    def stop(self, cluster_id: str) -> None:
        self._call("POST", cluster_id + "/stop")


def _plan(world: World, links: int, seed: int) -> dict[str, list[str]]:
    """Cluster ids by kind, spread round-robin over the spokes."""
    rng = random.Random(seed)
    spokes = [s["subscription_id"] for s in world.spokes]
    ids = [f"/subscriptions/{spokes[i % len(spokes)]}/resourceGroups/rg-aks/providers/"
           f"Microsoft.ContainerService/managedClusters/aks-{i:05d}" for i in range(links)]
    rng.shuffle(ids)
    plan: dict[str, list[str]] = {}
    start = 0
    for kind, share in MIX.items():
        count = links - start if kind == "ready" else max(1, round(links * share))
        plan[kind] = ids[start:start + count] if kind != "ready" else []
        start += 0 if kind == "ready" else count
    plan["ready"] = ids[start:]
    return plan


def _seed(cloud: Any, azurite: Any, plan: dict[str, list[str]], workers: int) -> dict[str, Any]:
    """Clusters by ARM, links by the product's reconciler; everything as fast as the machine allows."""
    started = time.monotonic()
    arm = cloud.arm
    arm.limits = {kind: (1e9, 1e9) for kind in DEFAULT_LIMITS}
    arm.reset_throttling()
    arm.lro_seconds.update({"managedClusters/create": 0.0, "managedClusters/stop": 0.0, "privateEndpoints/create": 0.0})
    arm.retry_after_s.update({"Microsoft.Network": 1, "Microsoft.ContainerService": 1})
    admin = Admin(cloud)
    clusters = cloud.providers["containerservice"].clusters
    PACER.enabled = False  # the product's own pacing too: seeding is not measured
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda c: admin.create(c, NO_HUB_REGION if c in set(plan["no_hub"]) else "westeurope"),
                      plan["ready"] + plan["stopped"] + plan["no_hub"]))
        _wait(lambda: all(c.state == "Succeeded" for c in list(clusters.values())), "clusters Succeeded")
        list(pool.map(admin.stop, plan["stopped"]))
        _wait(lambda: all(c.state == "Succeeded" for c in list(clusters.values())), "clusters stopped")
        arm.lro_seconds["managedClusters/create"] = 24 * 3600.0  # these stay Creating
        list(pool.map(lambda c: admin.create(c, "westeurope"), plan["creating"]))
        rt = runtime(cloud, azurite, **PRODUCTION)
        todo = [c for cs in plan.values() for c in cs]
        outcomes = list(pool.map(lambda c: rt.service.reconcile(c, budget_s=30), todo))
        for _ in range(5):  # the continuations: each link that asked to look again, after its Retry-After
            again = [c for c, o in zip(todo, outcomes, strict=True) if o.requeue_after is not None and str(o.phase) != "Pending"]
            if not again:
                break
            time.sleep(1.1)
            redone = dict(zip(again, pool.map(lambda c: rt.service.reconcile(c, budget_s=30), again), strict=True))
            outcomes = [redone.get(c, o) for c, o in zip(todo, outcomes, strict=True)]
    phases: dict[str, int] = defaultdict(int)
    for o in outcomes:
        phases[str(o.phase)] += 1
    arm.limits = dict(DEFAULT_LIMITS)
    arm.reset_throttling()
    PACER.enabled = True
    PACER.forget()
    return {"seconds": round(time.monotonic() - started, 1), "phases": dict(phases), "table": rt.settings.table_name}


def _wait(predicate: Any, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"seeding: timed out waiting for {what}")
        time.sleep(0.1)


def _make_due(rt: Any, plan: dict[str, list[str]], seed: int) -> dict[str, int]:
    """Steady state: every Creating link is due (it asked to be looked at again in 15 s); of the Ready
    and stopped links, those whose hourly check comes up in this 5-minute period."""
    from azure.data.tables import UpdateMode

    from shared.ids import ClusterId

    rng = random.Random(seed)
    share = TIMER_PERIOD_S / float(PRODUCTION["HUBLINK_DRIFT_INTERVAL_S"])
    due = list(plan["creating"])
    for kind in ("ready", "stopped"):
        picked = rng.sample(plan[kind], round(len(plan[kind]) * share))
        due += picked
        if kind == "ready":
            drifted = picked[: max(1, round(len(picked) * DRIFTED_SHARE))]
    now = datetime.now(UTC)
    for cid in due:
        c = ClusterId.parse(cid)
        rt.service.store.table.update_entity(
            {"PartitionKey": c.partition_key, "RowKey": c.row_key,
             "next_attempt_at": now - timedelta(seconds=rng.uniform(1, TIMER_PERIOD_S))}, mode=UpdateMode.MERGE)
    by_phase: dict[str, int] = defaultdict(int)
    wanted, broken = {cid.lower() for cid in due}, {cid.lower() for cid in drifted}
    for row in rt.service.store.list():
        if row.cluster_id.lower() in wanted:
            by_phase[str(row.phase)] += 1
        if row.cluster_id.lower() in broken and row.zone_id and row.record_name:
            rt.service.ports.dns.delete(row.zone_id, row.record_name, owner=ClusterId.parse(row.cluster_id).key)
    by_phase["drifted"] = len(drifted)
    return dict(by_phase)


def max_per_window(times: list[float], window_s: float = 1.0) -> int:
    """Most events in any window [t, t + window_s) (a sliding window over sorted timestamps)."""
    times = sorted(times)
    best, low = 0, 0
    for high, t in enumerate(times):
        while t - times[low] >= window_s:
            low += 1
        best = max(best, high - low + 1)
    return best


def run(*, links: int = 2000, subscriptions: int = 200, latency_s: float = 0.05, seed_workers: int = 32,
        seed: int = 7) -> dict[str, Any]:
    world = build_world(subscriptions, links)
    plan = _plan(world, links, seed)
    with local_cloud(world) as (cloud, azurite):
        seeded = _seed(cloud, azurite, plan, seed_workers)
        rt = runtime(cloud, azurite, HUBLINK_TABLE_NAME=seeded["table"], **PRODUCTION)
        due = _make_due(rt, plan, seed)
        expected_reads = sum(READS_PER_RECONCILE.get(phase, 0) * n for phase, n in due.items())  # one read per link
        from shared.handlers import sweep

        cloud.arm.latency_s = latency_s
        cloud.arm.clear_log()
        started = time.monotonic()
        report = sweep(runtime=rt, discover=False)
        wall = time.monotonic() - started
        cloud.arm.latency_s = 0.0
        entries = cloud.arm.entries(principal="hublink")
    reads = [e for e in entries if e.kind == "read"]
    # A list of the hub's or a spoke's collection; a cluster's own connections list is a per-link read.
    list_reads = [e for e in reads if not e.template.rstrip("/").endswith("}") and "/managedclusters/" not in e.path.lower()]
    per_sub: dict[str, list[float]] = defaultdict(list)
    for e in reads:
        per_sub[e.path.split("/")[2].lower()].append(e.time)
    rates = {sub: max_per_window(ts) for sub, ts in per_sub.items()}
    busiest = max(rates, key=lambda s: rates[s]) if rates else None
    hub = world.hub["subscription_id"].lower()
    return {
        "links": links, "subscriptions": subscriptions, "tenants": len(world.tenants), "latency_s": latency_s,
        "settings": PRODUCTION, "seeding": seeded, "due": due, "expected_reads": expected_reads,
        "wall_s": round(wall, 2), "arm_reads": len(reads), "arm_calls": len(entries),
        "list_reads": len(list_reads), "per_link_reads": len(reads) - len(list_reads),
        "hub_reads": sum(1 for e in reads if e.path.split("/")[2].lower() == world.hub["subscription_id"].lower()),
        "acting_links": report.reconciled, "checked_links": report.checked, "drifted_links": report.drifted,
        "arm_writes": sum(1 for e in entries if e.kind in ("write", "delete")),
        "throttled_429": sum(1 for e in entries if e.status == 429),
        "max_reads_per_s_per_subscription": rates.get(busiest, 0) if busiest else 0,
        "busiest_subscription": "hub" if busiest == hub else busiest,
        "max_reads_per_s_hub": rates.get(hub, 0), "max_reads_per_s_spoke": max((r for s, r in rates.items() if s != hub),
                                                                               default=0),
        "report": {"due": report.due, "reconciled": report.reconciled, "deferred": report.deferred,
                   "checked": report.checked, "drifted": report.drifted,
                   "phases": report.phases, "errors": report.errors[:5]},
    }


if __name__ == "__main__":  # a quick look at one size: python -m bench.sweep LINKS SUBSCRIPTIONS
    import sys

    from devcloud import netguard

    netguard.install()
    print(json.dumps(run(links=int(sys.argv[1]), subscriptions=int(sys.argv[2])), indent=1, default=str))
