"""Figure 3 (`sweep10k`): one timer run (`shared.handlers.sweep`) over 10,000 links, 50 ms per ARM call.

The world has `subscriptions` spokes across a few tenants, each with the product's spoke role, and
`links` clusters spread over them. A VNet holds at most 1,000 private endpoints (Azure's limit,
devcloud's `private_endpoints_per_vnet` and the product's HUBLINK_ENDPOINTS_PER_VNET; `per_vnet`
changes all three), so the westeurope hub has ceil(links / per_vnet) VNets, one endpoint subnet
each, all listed in HUBLINK_HUBS `subnetIds`; the Ready links (90 %) fill them in order, as the
product's first-subnet-with-room does, and leave the rest free.

Seeding is fast and goes through the product itself: clusters are created by ARM PUTs with
zero-length operations, then the product's reconciler onboards each one (and follows its
continuations) with no latency, throttling or pacing, in `seed_processes` processes of its own. By
default (`seed_by_vnet`) a VNet's worth of links is onboarded with HUBLINK_HUBS naming that VNet's
subnet only, as if the hub team had added each VNet when the one before was full (each seeding
process fills one VNet at a time, so the region's recorded capacity level goes up and down and
hub.capacity_low is logged more than once per VNet; nothing measured reads it): with every
subnet listed, each new link reads every hub VNet, up to 10,000 endpoints listed, to find room,
and that read would be most of the seeding's time. The endpoints end in the same VNets either way
(`seed_by_vnet=false` shows the product choosing them itself). No row or Azure resource is written
behind the product's back, except what a timer run meets: `_make_due` sets the due rows'
`next_attempt_at` and deletes the drifted links' A records by hand.

The mix is what a timer run meets in steady state: most links Ready (those whose hourly drift check
is due), some Pending (clusters still being created, which are due every run, and stopped clusters,
due hourly) and some Failed (a region with no hub: terminal, not due until something changes), and
a few due Ready links whose A record someone deleted (the links that need acting on). Then latency
goes to 50 ms, throttling back to devcloud's defaults (Azure's: 250 reads burst, 25/s refill, per
subscription and principal) and one sweep runs with production settings, every hub subnet listed.
Reads are split into list reads (a collection: the hub's endpoints, NICs and records, a spoke's
clusters) and per-link reads.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import logging
import math
import multiprocessing
import random
import time
import uuid
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from bench.local import local_cloud, runtime, settings_env
from devcloud.arm import DEFAULT_LIMITS
from devcloud.client import ARM_SCOPE, Operator
from devcloud.providers.endpoint_ips import DEFAULT_PER_VNET
from devcloud.world import HUB_TENANT, SPOKE_TENANT, RoleAssignment, Subnet, World, default_world
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


def hub_subnet_ids(world: World) -> list[str]:
    """The hub's endpoint subnets in westeurope, in the order a new link looks for room."""
    return list(world.hub.get("subnet_ids") or [world.hub["subnet_id"]])


def build_world(subscriptions: int, links: int, per_vnet: int = DEFAULT_PER_VNET) -> World:
    """default_world() with `subscriptions` spokes over four tenants, and as many hub VNets as `links`
    endpoints need (a VNet holds `per_vnet` private endpoints: Azure's limit, 1,000), one endpoint
    subnet each, big enough for its VNet's share: the default world's vnet-hub, then vnet-hub-01...
    in the same resource group."""
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
    vnets = max(1, math.ceil(links / per_vnet))  # the Ready links (90 %) leave a tenth of the room free
    host_bits = max(8, (min(links, per_vnet) + 16).bit_length())  # a subnet's addresses, its 5 reserved ones too
    first = world.subnets[0]
    blocks = ipaddress.ip_network("10.10.0.0/16").subnets(new_prefix=32 - host_bits)
    subnets = []
    for i, block in zip(range(vnets), blocks, strict=False):
        sid = first.id if i == 0 else first.id.replace("/virtualNetworks/vnet-hub/", f"/virtualNetworks/vnet-hub-{i:02d}/")
        subnets.append(Subnet(sid, str(block)))
    world.subnets = [*subnets, *world.subnets[1:]]
    world.hub["subnet_ids"] = [s.id for s in subnets]
    world.settings["private_endpoints_per_vnet"] = per_vnet
    return add_product(world)  # the product's spoke role on every spoke


def hubs_setting(world: World, subnet_ids: list[str] | None = None) -> str:
    """HUBLINK_HUBS as stack.product.topology_settings writes it, with the hub subnets (`subnetIds`, all
    of them unless given) for westeurope."""
    hub = world.hub
    subnets = {region: {"subnetIds": subnet_ids or hub_subnet_ids(world)} if region == "westeurope"
               else {"subnetId": hub["subnet_id"]} for region in hub["dns_zones"]}
    return json.dumps({region: {**subnets[region], "dnsZoneId": zone,
                                "vnetIntegrationDnsZoneId": hub["vnet_integration_dns_zones"][region]}
                       for region, zone in hub["dns_zones"].items()})


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


def _seed(cloud: Any, azurite: Any, world: World, plan: dict[str, list[str]], workers: int, settings: dict[str, str],
          by_vnet: bool, processes: int) -> dict[str, Any]:
    """Clusters by ARM, links by the product's reconciler; everything as fast as the machine allows.

    `by_vnet`: the links are onboarded a hub VNet's worth at a time, the product configured with that
    VNet's subnet only (as if the hub team added each VNet when the one before was full). Otherwise
    every new link reads every hub VNet to find room (shared.capacity), and with 10 VNets of up to
    1,000 endpoints that read is most of the seeding's time."""
    started = time.monotonic()
    arm = cloud.arm
    arm.limits = {kind: (1e9, 1e9) for kind in DEFAULT_LIMITS}
    arm.reset_throttling()
    arm.lro_seconds.update({"managedClusters/create": 0.0, "managedClusters/stop": 0.0, "privateEndpoints/create": 0.0})
    arm.retry_after_s.update({"Microsoft.Network": 1, "Microsoft.ContainerService": 1})
    admin = Admin(cloud)
    clusters = cloud.providers["containerservice"].clusters
    PACER.enabled = False  # the product's own pacing too: seeding is not measured
    no_hub = set(plan["no_hub"])
    marks: dict[str, float] = {}

    def mark(what: str) -> None:
        marks[what] = round(time.monotonic() - started - sum(marks.values()), 1)

    subnets = hub_subnet_ids(world)
    per_vnet = int(settings["HUBLINK_ENDPOINTS_PER_VNET"])
    if by_vnet and len(subnets) > 1:  # the links that get an endpoint, a VNet's worth each; the others first
        batches = [(subnets[:1], plan["stopped"] + plan["no_hub"] + plan["creating"])]
        batches += [(subnets[i:i + 1], plan["ready"][i * per_vnet:(i + 1) * per_vnet]) for i in range(len(subnets))]
    else:  # one list, shared out between the processes
        todo = [c for cs in plan.values() for c in cs]
        batches = [(subnets, todo[i::processes]) for i in range(processes)]
    table = settings.get("HUBLINK_TABLE_NAME") or "t" + uuid.uuid4().hex[:16]
    jobs = [(settings_env(cloud, azurite, **{**settings, "HUBLINK_TABLE_NAME": table,
                                              "HUBLINK_HUBS": hubs_setting(world, hub_subnets)}), todo)
            for hub_subnets, todo in batches if todo]
    threads = max(1, workers // processes)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda c: admin.create(c, NO_HUB_REGION if c in no_hub else "westeurope"),
                      plan["ready"] + plan["stopped"] + plan["no_hub"]))
        _wait(lambda: all(c.state == "Succeeded" for c in list(clusters.values())), "clusters Succeeded")
        list(pool.map(admin.stop, plan["stopped"]))
        _wait(lambda: all(c.state == "Succeeded" for c in list(clusters.values())), "clusters stopped")
        arm.lro_seconds["managedClusters/create"] = 24 * 3600.0  # these stay Creating
        list(pool.map(lambda c: admin.create(c, "westeurope"), plan["creating"]))
    mark("clusters")
    outcomes: dict[str, str] = {}
    if processes > 1:
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as procs:
            log_file = next((h.baseFilename for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)), None)
            for done in procs.map(seed_links, *zip(*jobs, strict=True), itertools.repeat(threads), itertools.repeat(log_file)):
                outcomes.update(done)
    else:
        for env, todo in jobs:
            outcomes.update(seed_links(env, todo, workers))
    mark("links")
    phases: dict[str, int] = defaultdict(int)
    for phase in outcomes.values():
        phases[phase] += 1
    arm.limits = dict(DEFAULT_LIMITS)
    arm.reset_throttling()
    PACER.enabled = True
    PACER.forget()
    return {"seconds": round(time.monotonic() - started, 1), "steps_s": marks,
            "links_per_s": round(len(outcomes) / max(marks["links"], 0.1), 1), "by_vnet": by_vnet and len(subnets) > 1,
            "phases": dict(phases), "table": table}


def seed_links(env: dict[str, str], todo: list[str], workers: int, log_file: str | None = None) -> dict[str, str]:
    """The product's reconcile of each link with these app settings, then of each link that asked to be
    looked at again within a few seconds (its continuation, at its Retry-After); the links' phases.
    Runs in a seeding process of its own (or the bench's): nothing here is measured. A process of its
    own writes the product's warnings to the bench's log file, if it has one."""
    from devcloud import netguard
    from shared.config import parse_settings
    from shared.runtime import build_runtime

    netguard.install()
    if multiprocessing.parent_process() is not None and not logging.getLogger().handlers:
        handler = logging.FileHandler(log_file) if log_file else logging.NullHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logging.basicConfig(level=logging.WARNING, handlers=[handler])
    PACER.enabled = False
    rt = build_runtime(parse_settings(env))
    with ThreadPoolExecutor(workers) as pool:
        done = dict(zip(todo, pool.map(lambda c: rt.service.reconcile(c, budget_s=30), todo), strict=True))
        for _ in range(8):
            soon = {c: o.requeue_after for c, o in done.items() if o.requeue_after is not None and o.requeue_after <= 5}
            if not soon:
                break
            time.sleep(max(soon.values()) + 0.1)
            done.update(zip(soon, pool.map(lambda c: rt.service.reconcile(c, budget_s=30), soon), strict=True))
    return {c: str(o.phase) for c, o in done.items()}


def _endpoints_per_vnet(cloud: Any, world: World) -> dict[str, int]:
    """The hub's private endpoints by VNet (devcloud's own count, as a VNet read lists them)."""
    count: dict[str, int] = {s.rsplit("/subnets/", 1)[0].rsplit("/", 1)[-1]: 0 for s in hub_subnet_ids(world)}
    with cloud.arm.lock:
        subnets = [e.subnet_id for e in cloud.providers["network"].endpoints.values()]
    for subnet in subnets:
        vnet = subnet.rsplit("/subnets/", 1)[0].rsplit("/", 1)[-1]
        count[vnet] = count.get(vnet, 0) + 1
    return count


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
        seed: int = 7, per_vnet: int = DEFAULT_PER_VNET, seed_by_vnet: bool = True, seed_processes: int = 2) -> dict[str, Any]:
    world = build_world(subscriptions, links, per_vnet)
    settings = {"HUBLINK_HUBS": hubs_setting(world), "HUBLINK_ENDPOINTS_PER_VNET": str(per_vnet), **PRODUCTION}
    plan = _plan(world, links, seed)
    with local_cloud(world) as (cloud, azurite):
        seeded = _seed(cloud, azurite, world, plan, seed_workers, settings, seed_by_vnet, seed_processes)
        seeded["hub_vnets"] = _endpoints_per_vnet(cloud, world)
        rt = runtime(cloud, azurite, HUBLINK_TABLE_NAME=seeded["table"], **settings)
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
