"""Crash matrix: the function host process SIGKILLed at the worst moments, then started again.

For every ARM write step of every access path, devcloud holds the product's request at that step
(a `hook` fault: ARM has processed the write, the answer is held back; or a held `drop`: the row
was written, the ARM call never happens), the test SIGKILLs the host process at that moment, lets
the request go (its answer meets a dead socket), and starts the host again. Event Grid redelivers
the event the dead invocation never answered, the continuation queue and the timer do the rest:
every cell must converge (Ready, or cleaned up for the delete steps) with exactly one endpoint
and one record (or none), no orphan, no row lost, and each transition announced at most once.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter

import pytest

from devcloud.arm import FaultRule
from devcloud.client import Operator
from reliability import figures
from shared.ids import ClusterId
from shared.linkservice import pls_name
from shared.model import Phase
from tests.reliability.conftest import SCALE
from tests.reliability.harness import Census
from tests.reliability.stack import Stack

# Every ARM write each access path makes: (method, path regex from the names, lifecycle part).
# A new access path adds its own write steps here (and how to make its kind of cluster, CREATE).
_HUB_STEPS = {
    "endpoint create": ("PUT", lambda n: rf"/privateEndpoints/{n['endpoint']}$", "create"),
    "record write": ("PUT", lambda n: rf"/A/{n['cluster']}-", "create"),
    "endpoint delete": ("DELETE", lambda n: rf"/privateEndpoints/{n['endpoint']}$", "delete"),
    "record delete": ("DELETE", lambda n: rf"/A/{n['cluster']}-", "delete"),
}
WRITE_STEPS = {
    "private-link": {
        **_HUB_STEPS,
        "approve": ("PUT", lambda n: rf"/managedClusters/{n['cluster']}/privateEndpointConnections/[^/]+$", "create"),
    },
    "vnet-integration": {
        # No approve step: our PLS lists the hub subscription in autoApproval, so Azure approves our
        # endpoint's connection itself (the write that does it is the PLS create).
        "PLS create": ("PUT", lambda n: rf"/privateLinkServices/{n['pls']}$", "create"),
        **_HUB_STEPS,
        "PLS delete": ("DELETE", lambda n: rf"/privateLinkServices/{n['pls']}$", "delete"),
    },
}
CREATE = {
    "private-link": lambda op, name, sub: op.create_cluster(name, subscription=sub),
    "vnet-integration": lambda op, name, sub: op.create_vnet_cluster(name),  # the spoke with the integration VNet
}
# The steps whose row is written just before the ARM call: killed there, the call never happens.
ROW_BEFORE = {"endpoint create", "endpoint delete"}
QUICK = [("private-link", "endpoint create", "after ARM"), ("private-link", "endpoint delete", "before ARM"),
         ("vnet-integration", "PLS create", "after ARM")]
CONVERGE_S = 150
pytestmark = pytest.mark.timeout(3600)


def _cells():
    for path, steps in WRITE_STEPS.items():
        for step in steps:
            for when in ("after ARM", "before ARM") if step in ROW_BEFORE else ("after ARM",):
                if SCALE["crashes"] == "quick" and (path, step, when) not in QUICK:
                    continue
                yield pytest.param(path, step, when, id=f"{path}-{step}-{when}".replace(" ", "_"))


@pytest.fixture(scope="module")
def stack():
    # A short singleton lease so the restarted host takes the timer back soon after the killed one's
    # runs out; a short event budget so the dead invocation's row lease ends soon too.
    s = Stack(HUBLINK_TIMER_SCHEDULE="*/5 * * * * *", HUBLINK_EVENT_BUDGET_S="5", HUBLINK_BACKOFF_BASE_S="0.5",
              HUBLINK_BACKOFF_MAX_S="4", HUBLINK_DISCOVERY_INTERVAL_S="10",
              AzureFunctionsJobHost__singleton__listenerLockPeriod="00:00:15",
              AzureFunctionsJobHost__singleton__listenerLockRecoveryPollingInterval="00:00:02").start()
    yield s
    s.stop()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _ready(stack, store, cluster_id: str):
    row = store.get(ClusterId.parse(cluster_id))
    census = Census.take(stack.cloud)
    return (row is not None and row.phase is Phase.READY and len(census.endpoints_for(cluster_id)) == 1
            and len(census.records_for(cluster_id)) == 1 and census)


def _gone(stack, store, cluster_id: str):
    census = Census.take(stack.cloud)
    return (store.get(ClusterId.parse(cluster_id)) is None and not census.endpoints_for(cluster_id)
            and not census.records_for(cluster_id) and not census.link_services_for(cluster_id) and census)


def _diagnose(stack, store, cluster_id: str) -> str:
    row = store.get(ClusterId.parse(cluster_id))
    deliveries = [d.as_dict() for d in list(stack.cloud.eventgrid.deliveries) if d.subject.lower() == cluster_id.lower()]
    calls = [(e.method, e.path.rsplit("/", 2)[-2:], e.status, e.fault) for e in stack.cloud.arm.entries(principal="hublink")
             if ClusterId.parse(cluster_id).name in e.path][-15:]
    census = Census.take(stack.cloud)
    return (f"row: {row.public() if row else None}\ndeliveries: {deliveries}\ncalls: {calls}\n"
            f"endpoints: {[e.name for e in census.endpoints_for(cluster_id)]} records: {census.records_for(cluster_id)}\n"
            f"host log tail: {stack.host_log()[-3000:]}")


def _announced(stack, cluster_id: str) -> Counter:
    return Counter(r["body"]["type"] for r in list(stack.sink.received)
                   if r["path"] == "/generic" and isinstance(r["body"], dict)
                   and str(r["body"].get("clusterId", "")).lower() == cluster_id.lower())


@pytest.mark.parametrize("path,step,when", list(_cells()))
def test_crash_cell(stack, path, step, when):
    cloud, op, store = stack.cloud, Operator(stack.cloud), stack.store()
    method, pattern, part = WRITE_STEPS[path][step]
    name = f"crash-{uuid.uuid4().hex[:6]}"
    spoke = next(s for s in cloud.world.spokes if bool(s.get("vnet_integration")) == (path == "vnet-integration"))
    cid = ClusterId.parse(f"/subscriptions/{spoke['subscription_id']}/resourceGroups/rg-aks/providers/"
                          f"Microsoft.ContainerService/managedClusters/{name}")
    names = {"cluster": re.escape(name), "endpoint": re.escape(cid.endpoint_name), "pls": re.escape(pls_name(cid))}
    create = CREATE[path]
    rule = FaultRule(id=f"crash-{name}", method=method, path=pattern(names), principal="hublink", times=1, hold=True,
                     hold_s=60, action="hook" if when == "after ARM" else "drop")
    started = time.monotonic()
    if part == "create":
        cloud.arm.faults.append(rule)
        cluster_id = create(op, name, cid.subscription_id)
    else:
        cluster_id = create(op, name, cid.subscription_id)
        _wait(lambda: _ready(stack, store, cluster_id), CONVERGE_S, "Ready before the delete")
        cloud.arm.faults.append(rule)
        op.delete_cluster(cluster_id)
    fired = cloud.arm.hooks.wait(rule.id, 1, CONVERGE_S)
    assert fired["reached"], f"the product never reached {step}"
    killed_pid = stack.fleet.pids()[0]
    stack.fleet.kill(0)  # SIGKILL while devcloud holds the answer (or before it does the work)
    cloud.arm.hooks.release(rule.id)
    cloud.arm.faults.remove(rule)
    stack.restart_host(0)
    assert stack.fleet.pids()[0] != killed_pid
    goal = _ready if part == "create" else _gone
    try:
        census = _wait(lambda: goal(stack, store, cluster_id), CONVERGE_S, f"convergence after the crash at {step}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_diagnose(stack, store, cluster_id)}") from None
    converged_s = time.monotonic() - started
    rows = {r.cluster_id.lower(): r for r in store.list()}
    assert census.orphans(rows) == [], census.orphans(rows)
    assert census.foreign_approvals() == []
    announced = _announced(stack, cluster_id)
    assert announced["link.ready"] <= 1 and announced["link.cleaned_up"] <= 1, announced
    if part == "create":  # leave the hub subnet free for the next cells
        op.delete_cluster(cluster_id)
        _wait(lambda: _gone(stack, store, cluster_id), CONVERGE_S, "cleanup after the cell")
    figures.record("crash matrix", path=path, step=step, when=when, status=fired["statuses"][0],
                   outcome="Ready" if part == "create" else "cleaned up", converged_s=round(converged_s, 1),
                   endpoints=0 if part == "delete" else 1, duplicates=0, orphans=0, rows_lost=0,
                   notices=dict(announced))


def _lost_cells():
    """Lost answers on the full stack for the paths the in-process fault matrix does not drive (its
    drop_after cells cover the private-link path's write steps)."""
    for path in ("vnet-integration",):
        for step in WRITE_STEPS[path]:
            for times in (1, 4):
                if SCALE["crashes"] == "quick" and (step, times) != ("PLS create", 1):
                    continue
                yield pytest.param(path, step, times, id=f"{path}-{step}-x{times}".replace(" ", "_"))


@pytest.mark.parametrize("path,step,times", list(_lost_cells()))
def test_lost_answer_cell(stack, path, step, times):
    """ARM does the write, the connection is cut before the answer, `times` times in a row."""
    cloud, op, store = stack.cloud, Operator(stack.cloud), stack.store()
    method, pattern, part = WRITE_STEPS[path][step]
    name = f"lost-{uuid.uuid4().hex[:6]}"
    spoke = next(s for s in cloud.world.spokes if bool(s.get("vnet_integration")) == (path == "vnet-integration"))
    cid = ClusterId.parse(f"/subscriptions/{spoke['subscription_id']}/resourceGroups/rg-aks/providers/"
                          f"Microsoft.ContainerService/managedClusters/{name}")
    names = {"cluster": re.escape(name), "endpoint": re.escape(cid.endpoint_name), "pls": re.escape(pls_name(cid))}
    rule = FaultRule(id=f"lost-{name}", method=method, path=pattern(names), principal="hublink", times=times,
                     action="drop_after")
    started = time.monotonic()
    if part == "create":
        cloud.arm.faults.append(rule)
        cluster_id = CREATE[path](op, name, cid.subscription_id)
    else:
        cluster_id = CREATE[path](op, name, cid.subscription_id)
        _wait(lambda: _ready(stack, store, cluster_id), CONVERGE_S, "Ready before the delete")
        cloud.arm.faults.append(rule)
        op.delete_cluster(cluster_id)
    goal = _ready if part == "create" else _gone
    try:
        census = _wait(lambda: goal(stack, store, cluster_id) and rule.hits >= 1, CONVERGE_S, f"convergence at {step}")
        census = goal(stack, store, cluster_id)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_diagnose(stack, store, cluster_id)}") from None
    finally:
        cloud.arm.faults.remove(rule)
    converged_s = time.monotonic() - started
    rows = {r.cluster_id.lower(): r for r in store.list()}
    assert census.orphans(rows) == [] and census.foreign_approvals() == []
    announced = _announced(stack, cluster_id)
    assert announced["link.ready"] <= 1 and announced["link.cleaned_up"] <= 1, announced
    if part == "create":
        op.delete_cluster(cluster_id)
        _wait(lambda: _gone(stack, store, cluster_id), CONVERGE_S, "cleanup after the cell")
    figures.record("lost answers", path=path, step=step, fault="drop_after", n=times, hits=rule.hits,
                   outcome="Ready" if part == "create" else "Absent", reconciles="-", converged_s=round(converged_s, 1))
