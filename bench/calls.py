"""Figure 2: ARM calls (devcloud's request log, principal "hublink") and Table operations per reconcile.

One private cluster is onboarded by the product's own runtime against an in-process devcloud:
first when the endpoint provisions within one Retry-After, then when it takes longer. No invocation
waits: the first starts the endpoint's operation and asks to look again at the Retry-After, and
each later one (as the queue continuation brings it) reads the endpoint itself at Azure's poll
times, the cluster and the rest only once the operation has ended. So the status read that sees
Succeeded also carries the endpoint's NIC and connection, and the cluster is read once more after
it: the same total as the minimum below. A second reconcile of the Ready link is the no-op every
drift check makes.
"""

from __future__ import annotations

import math
import time
from typing import Any

from bench.local import counts, describe, local_cloud, runtime
from devcloud.client import Operator

# The calls one onboarding logically needs, in order, and why none can be skipped.
MINIMUM_STEPS: list[tuple[str, str, str]] = [
    ("reads", "GET managedClusters/{name}",
     "the cluster: private? Succeeded and running? its region and privateFQDN"),
    ("reads", "GET privateEndpoints/{name} -> 404",
     "our endpoint may exist already (a second event, a crash after the PUT): never create two"),
    ("reads", "GET virtualNetworks/{hub vnet}",
     "which hub subnet has room (a region may have several; addresses and the VNet's endpoint limit)"),
    ("writes", "PUT privateEndpoints/{name}",
     "create the hub endpoint: manual connection, groupIds [management]"),
    ("polls", "GET .../operations/{id} x ceil(provisioning / Retry-After)",
     "Azure answers 'look again in Retry-After s': the first poll that can see Succeeded"),
    ("reads", "GET privateEndpoints/{name}",
     "the endpoint once Succeeded (the operation status carries no resource): its NIC and connection"),
    ("reads", "GET managedClusters/{name}/privateEndpointConnections",
     "find our connection by privateEndpoint.id: AKS names it, we do not"),
    ("writes", "PUT .../privateEndpointConnections/{connection}",
     "approve it (cross-tenant: nobody else can)"),
    ("reads", "GET networkInterfaces/{nic}",
     "the endpoint's private IP, the address the record must hold"),
    ("writes", "PUT privateDnsZones/{zone}/A/{record}",
     "create the A record with If-None-Match: * (no read first: the condition keeps a record of that "
     "name that exists, ours from a crash or someone else's, untouched; its 412 makes the read that decides)"),
]
# A drift check of a Ready link reads the same five things and writes nothing.
NOOP_READS = ["GET managedClusters/{name}", "GET privateEndpoints/{name}",
              "GET managedClusters/{name}/privateEndpointConnections", "GET networkInterfaces/{nic}",
              "GET privateDnsZones/{zone}/A/{record}"]


def minimum(provisioning_s: float, retry_after_s: float) -> dict[str, int]:
    out = {"reads": 0, "writes": 0, "deletes": 0, "polls": 0}
    for kind, _, _ in MINIMUM_STEPS:
        out[kind] += max(1, math.ceil(provisioning_s / retry_after_s)) if kind == "polls" else 1
    out["total"] = sum(out.values())
    return out


def _onboard(cloud: Any, rt: Any, cluster_id: str, budget_s: float, retry_after_s: float) -> tuple[dict, dict, int]:
    """Reconcile until Ready, waiting each requeue out like the visibility-delayed queue message."""
    cloud.arm.clear_log()
    ops = rt.service.store.operations
    invocations = 0
    while True:
        outcome = rt.service.reconcile(cluster_id, budget_s=budget_s)
        invocations += 1
        if outcome.requeue_after is None or invocations > 50:
            break
        time.sleep(outcome.requeue_after)  # the continuation; one landing early is answered idle and requeued
    time.sleep(retry_after_s + 0.5)  # nothing may poll once the link is Ready (no poller is left behind)
    entries = cloud.arm.entries(principal="hublink")
    return ({**counts(entries), "invocations": invocations, "phase": str(outcome.phase),
             "calls": [describe(e) for e in entries]}, {"table_ops": rt.service.store.operations - ops}, invocations)


def run(*, short_s: float = 3.0, long_s: float = 45.0, retry_after_s: int = 10, budget_s: float = 20.0,
        scale: float = 1.0) -> dict[str, Any]:
    """`short_s` provisions within one invocation; `long_s` does not. `scale` shrinks every duration."""
    retry = max(1, round(retry_after_s * scale))
    out: dict[str, Any] = {"retry_after_s": retry, "budget_s": budget_s * scale}
    with local_cloud() as (cloud, azurite):
        cloud.arm.retry_after_s.update({"Microsoft.Network": retry, "Microsoft.ContainerService": 1})
        cloud.arm.lro_seconds.update({"managedClusters/create": 0.1})
        op = Operator(cloud)
        rt = runtime(cloud, azurite, HUBLINK_EVENT_BUDGET_S=f"{budget_s * scale:g}")
        for label, seconds in (("short", short_s * scale), ("long", long_s * scale)):
            cloud.arm.lro_seconds["privateEndpoints/create"] = seconds
            cluster_id = op.create_cluster()
            onboarding, table, _ = _onboard(cloud, rt, cluster_id, budget_s * scale, retry)
            out[label] = {"provisioning_s": seconds, "onboarding": onboarding, "table_ops": table["table_ops"],
                          "minimum": minimum(seconds, retry)}
        cloud.arm.clear_log()
        ops = rt.service.store.operations
        outcome = rt.service.reconcile(cluster_id, budget_s=budget_s * scale)
        entries = cloud.arm.entries(principal="hublink")
        out["noop"] = {**counts(entries), "phase": str(outcome.phase), "calls": [describe(e) for e in entries],
                       "table_ops": rt.service.store.operations - ops}
    return out
