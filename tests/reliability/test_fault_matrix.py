"""Fault matrix: every ARM step the product takes x every fault devcloud injects.

Each cell injects one fault `n` times on the exact method + path of one step (only for the
product's own principal), then reconciles the way the queue and the timer would, until nothing
is asked for. The link must end Ready (cleaned up, for the delete steps) or Failed with a
`link.failed` notice and then recover on the next retry once the fault is gone; never stuck,
never an orphan or a second endpoint, never a lost row. Figures: outcome and reconciles per cell.
"""

from __future__ import annotations

import itertools
import re

import pytest

from devcloud.arm import FaultRule
from devcloud.world import HUB_TENANT, SPOKE_SUBSCRIPTION_A, SPOKE_SUBSCRIPTION_B1, SPOKE_TENANT
from reliability import figures
from shared.ids import ClusterId
from shared.linkservice import pls_name
from shared.model import Phase
from tests.reliability.conftest import SCALE
from tests.reliability.harness import Census, drive, notices_for

# No invocation polls an operation's status URL: while an operation runs, the product reads the
# resource itself at Azure's Retry-After (shared.steps await_operation). The "LRO" rows fault those reads.
ENDPOINT_GET = "GET", lambda n: rf"/privateEndpoints/{n.endpoint}$"
# step -> (method, path regex from the cell's names, lifecycle part the fault is injected in)
STEPS = {
    "cluster read": ("GET", lambda n: rf"/managedClusters/{n.cluster}$", "create"),
    "hub VNet read": ("GET", lambda n: r"/virtualNetworks/[^/]+$", "create"),  # room of the hub subnets
    "endpoint create": ("PUT", lambda n: rf"/privateEndpoints/{n.endpoint}$", "create"),
    "endpoint create LRO": (*ENDPOINT_GET, "create"),
    "connection list": ("GET", lambda n: rf"/managedClusters/{n.cluster}/privateEndpointConnections$", "create"),
    "approve": ("PUT", lambda n: rf"/managedClusters/{n.cluster}/privateEndpointConnections/[^/]+$", "create"),
    "NIC read": ("GET", lambda n: rf"/networkInterfaces/{n.endpoint}\.nic\.", "create"),
    "record write": ("PUT", lambda n: rf"/A/{n.record}$", "create"),
    "endpoint delete": ("DELETE", lambda n: rf"/privateEndpoints/{n.endpoint}$", "delete"),
    "endpoint delete LRO": (*ENDPOINT_GET, "delete"),
    "record delete": ("DELETE", lambda n: rf"/A/{n.record}$", "delete"),
    # the vnet-integration path (an API Server VNet Integration cluster, through our PLS)
    "kube-apiserver read": ("GET", lambda n: r"/loadBalancers/kube-apiserver$", "create"),
    "PLS read": ("GET", lambda n: rf"/privateLinkServices/{n.pls}$", "create"),
    "PLS create": ("PUT", lambda n: rf"/privateLinkServices/{n.pls}$", "create"),
    "PLS create LRO": ("GET", lambda n: rf"/privateLinkServices/{n.pls}$", "create"),
    "PLS delete": ("DELETE", lambda n: rf"/privateLinkServices/{n.pls}$", "delete"),
}
# Steps of the vnet-integration path: their cells link a VNet-integrated cluster.
VNET_STEPS = {"kube-apiserver read", "PLS read", "PLS create", "PLS create LRO", "PLS delete"}
FAULTS = {
    "429": {"status": 429, "retry_after": 1},
    "500": {"status": 500},
    "503": {"status": 503},
    "drop": {"action": "drop"},
    "lro_failed": {"action": "lro_failed"},
    "409 busy": {"status": 409},  # AnotherOperationInProgress
    "404": {"status": 404},
    "drop_after": {"action": "drop_after"},  # a lost answer: ARM did the write, the client never heard
}
# The steps that write in Azure: a lost answer (drop_after) only means something there.
WRITE_STEPS = {"endpoint create", "approve", "record write", "endpoint delete", "record delete", "PLS create", "PLS delete"}
# lro_failed makes the operation started by the PUT/DELETE end Failed: it belongs to the LRO rows,
# where it is injected on the request that starts the operation.
LRO_START = {"endpoint create LRO": ("PUT", lambda n: rf"/privateEndpoints/{n.endpoint}$"),
             "endpoint delete LRO": ("DELETE", lambda n: rf"/privateEndpoints/{n.endpoint}$"),
             "PLS create LRO": ("PUT", lambda n: rf"/privateLinkServices/{n.pls}$")}
TOKEN_STEPS = {"token (spoke tenant)": SPOKE_TENANT, "token (hub tenant)": HUB_TENANT}
TOKEN_FAULTS = {"401": {"status": 401}, "500": {"status": 500}, "drop": {"action": "drop"}}


# `make test` runs one cell per step, every fault at least once; `make reliability` runs them all.
QUICK = [("cluster read", "404"), ("hub VNet read", "503"), ("endpoint create", "409 busy"), ("endpoint create LRO", "404"),
         ("connection list", "404"), ("approve", "drop"), ("NIC read", "503"), ("record write", "429"),
         ("endpoint delete", "500"), ("endpoint delete LRO", "lro_failed"), ("record delete", "404"),
         ("token (spoke tenant)", "401"), ("token (hub tenant)", "drop"),
         ("kube-apiserver read", "500"), ("PLS read", "429"), ("PLS create", "409 busy"),
         ("PLS create LRO", "lro_failed"), ("PLS delete", "drop"),
         *((step, "drop_after") for step in sorted(WRITE_STEPS))]
# Rows where someone else's pending connection sits next to ours: it must never be approved.
WITH_FOREIGN = {"connection list", "approve", "endpoint create LRO"}


def _cells():
    if SCALE["matrix"] == "quick":
        for step, fault in QUICK:
            yield pytest.param(step, fault, 4, id=f"{step}-{fault}-x4".replace(" ", "_"))
        return
    for times in SCALE["matrix_times"]:
        for step, fault in itertools.product(STEPS, FAULTS):
            if (fault == "lro_failed" and step not in LRO_START) or (fault == "drop_after" and step not in WRITE_STEPS):
                continue
            if SCALE["faults"] and fault not in SCALE["faults"]:
                continue
            yield pytest.param(step, fault, times, id=f"{step}-{fault}-x{times}".replace(" ", "_"))
        for step, fault in itertools.product(TOKEN_STEPS, TOKEN_FAULTS):
            if SCALE["faults"] and fault not in SCALE["faults"]:
                continue
            yield pytest.param(step, fault, times, id=f"{step}-{fault}-x{times}".replace(" ", "_"))


class Names:
    def __init__(self, cluster_id: str, fqdn: str) -> None:
        cid = ClusterId.parse(cluster_id)
        self.cluster = re.escape(cid.name)
        self.endpoint = re.escape(cid.endpoint_name)
        labels = fqdn.lower().split(".")
        vnet_integrated = ".privatelink." not in fqdn.lower()  # <a>.<b>.private.<region>.azmk8s.io
        self.record = re.escape(".".join(labels[:2]) if vnet_integrated else fqdn.lower().split(".privatelink.")[0])
        self.pls = re.escape(pls_name(cid))


def _rule(step: str, fault: str, times: int, names: Names) -> FaultRule:
    rule_id = f"matrix-{step}-{fault}".replace(" ", "-")
    if step in TOKEN_STEPS:
        return FaultRule(id=rule_id, method="POST", path=rf"^/{TOKEN_STEPS[step]}/oauth2/v2\.0/token$", times=times,
                         **TOKEN_FAULTS[fault])
    method, path, _ = STEPS[step]
    if fault == "lro_failed":
        method, path = LRO_START[step]
    return FaultRule(id=rule_id, method=method, path=path(names), times=times, principal="hublink", **FAULTS[fault])


def _check_link(census: Census, rec, cluster_id: str) -> None:
    """Ready: one endpoint of ours, approved, one record, the row; and nobody else's connection approved."""
    ours = census.endpoints_for(cluster_id)
    assert len(ours) == 1, f"expected exactly one hub endpoint, found {[e.name for e in ours]}"
    assert len(census.records_for(cluster_id)) == 1
    assert rec.store.get(ClusterId.parse(cluster_id)) is not None, "state row lost"
    assert census.foreign_approvals() == []
    vnet_integrated = rec.store.get(ClusterId.parse(cluster_id)).access_path == "vnet-integration"
    assert len(census.link_services_for(cluster_id)) == (1 if vnet_integrated else 0)


def _census_gone(cloud, rec, cluster_id: str) -> bool:
    census = Census.take(cloud)
    assert census.endpoints_for(cluster_id) == [] and census.records_for(cluster_id) == []
    assert census.link_services_for(cluster_id) == []
    return rec.store.get(ClusterId.parse(cluster_id)) is None


def _check_gone(census: Census, rec, cluster_id: str) -> None:
    assert census.endpoints_for(cluster_id) == [], "orphan hub endpoint"
    assert census.records_for(cluster_id) == [], "orphan A record"
    assert census.link_services_for(cluster_id) == [], "orphan private link service"
    assert rec.store.get(ClusterId.parse(cluster_id)) is None, "state row left behind"
    assert cluster_id.lower() not in census.clusters


@pytest.mark.parametrize("step,fault,times", list(_cells()))
def test_fault_cell(cloud, op, make, sink, step, fault, times):
    part = STEPS[step][2] if step in STEPS else "create"
    subscription = SPOKE_SUBSCRIPTION_B1 if step != "token (hub tenant)" else SPOKE_SUBSCRIPTION_A
    cluster_id = op.create_vnet_cluster() if step in VNET_STEPS else op.create_cluster(subscription=subscription)
    names = Names(cluster_id, op.get_cluster(cluster_id).private_fqdn)
    foreign = op.create_foreign_endpoint(cluster_id) if step in WITH_FOREIGN else None
    rec = make()
    rule = _rule(step, fault, times, names)
    reconciles = 0
    if part == "delete":
        setup = drive(rec, cluster_id)
        assert setup[-1].phase is Phase.READY, setup[-1].message
        cloud.arm.faults.append(rule)
        op.delete_cluster(cluster_id)
        goal = Phase.ABSENT
    else:
        cloud.arm.faults.append(rule)
        goal = Phase.READY
    outcomes = drive(rec, cluster_id)
    reconciles += len(outcomes)
    final = outcomes[-1]
    assert rule.hits >= 1, f"the fault on {step} was never hit"
    result = str(final.phase)
    if final.phase is Phase.FAILED:
        kinds = [n["type"] for n in notices_for(sink, cluster_id)]
        assert "link.failed" in kinds, f"Failed without a notice: {final.message}"
        cloud.arm.faults.remove(rule)  # the fault is over; a retry (event, HTTP, CLI) completes the link
        recovery = drive(rec, cluster_id)
        reconciles += len(recovery)
        final = recovery[-1]
        result = f"Failed+notice -> {final.phase} on retry"
    elif final.phase is Phase.ABSENT and goal is Phase.READY:
        # ARM said the cluster is gone: everything of ours is removed (no orphan), and the cluster is
        # found again by the next event or the timer's discovery, which lists every spoke.
        assert (step, fault) == ("cluster read", "404"), f"link dropped: {final.message}"
        assert _census_gone(cloud, rec, cluster_id)
        cloud.arm.faults.remove(rule)
        recovery = drive(rec, cluster_id)
        reconciles += len(recovery)
        final = recovery[-1]
        result = f"Absent (read as deleted) -> {final.phase} at discovery"
    assert final.phase is goal, f"{step} x {fault} x{times}: ended {final.phase}: {final.message}"
    census = Census.take(cloud)
    if goal is Phase.READY:
        _check_link(census, rec, cluster_id)
        op.delete_cluster(cluster_id)  # keep the hub subnet free for the next cells
        assert drive(rec, cluster_id)[-1].phase is Phase.ABSENT
        census = Census.take(cloud)
    _check_gone(census, rec, cluster_id)
    if foreign is not None:
        op.delete_endpoint(foreign.name)
    announced = [n["type"] for n in notices_for(sink, cluster_id)]
    assert announced.count("link.ready") <= 1 and announced.count("link.cleaned_up") <= 1, announced
    figures.record("lost answers" if fault == "drop_after" else "fault matrix", step=step, fault=fault, n=times,
                   hits=rule.hits, outcome=result, reconciles=reconciles)


def test_cleanup_that_failed_is_finished_by_discovery(cloud, op, app_env, sink):
    """A terminal error while cleaning up (here a role lost mid-way) leaves a Failed row with the endpoint
    still there; once the cause is fixed, the timer's discovery finishes the cleanup without anyone asking."""
    from shared import handlers
    from shared.runtime import get_runtime

    rec = get_runtime().service
    cluster_id = op.create_cluster()
    assert drive(rec, cluster_id)[-1].phase is Phase.READY
    actions = cloud.world.roles["HubLink Hub Operator"].actions
    actions.remove("Microsoft.Network/privateEndpoints/delete")
    try:
        op.delete_cluster(cluster_id)
        failed = drive(rec, cluster_id)[-1]
    finally:
        actions.append("Microsoft.Network/privateEndpoints/delete")
    assert failed.phase is Phase.FAILED and failed.terminal and "privateEndpoints/delete" in failed.message
    assert len(Census.take(cloud).endpoints_for(cluster_id)) == 1
    report = handlers.sweep(discover=True)
    assert report.discovered >= 1
    final = drive(rec, cluster_id)[-1]  # the continuation the sweep queued, if the delete took longer than its budget
    assert final.phase is Phase.ABSENT, final.message
    _check_gone(Census.take(cloud), rec, cluster_id)
    figures.record("checks", check="a cleanup that failed terminally (403) is finished by discovery", result="pass",
                   detail="Failed+notice while the role was missing; the next discovery removed endpoint, record and row")
