"""`day1`: installing the product over an estate of existing private clusters, on the full stack.

`clusters` private clusters already run in `subscriptions` spoke subscriptions over four tenants
(bench/sweep.py's world) when the product starts: no event announces them. The clusters are
created first, with the product's Event Grid subscriptions removed; then the first timer run is
started (the host's admin API) and discovery finds them all. Wall time runs from that first run
to the last A record PUT; the floor is what ARM's write bucket in the hub subscription allows for
one endpoint PUT and one record PUT per cluster (devcloud's bucket: 200 burst, 10/s refill), and
no later than the last endpoint's provisioning on Azure's Retry-After grid:

    floor = max((2N - burst) / refill, (N - burst) / refill + ceil(provisioning / Retry-After) * Retry-After)

The status API's progress ("312 of 1,000 Ready") is sampled along the way.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.sweep import build_world
from devcloud.arm import DEFAULT_LIMITS
from devcloud.client import Operator, RemoteCloud
from stack.client import start_stack, stop_stack
from stack.product import EVENT_SUBSCRIPTION

NEVER = "0 0 0 1 1 *"  # the timer runs when the bench starts it (the host's admin API), not on its own


def floor_s(clusters: int, provisioning_s: float, retry_after_s: float) -> float:
    burst, refill = DEFAULT_LIMITS["write"]
    writes = max(0.0, (2 * clusters - burst) / refill)
    endpoints = max(0.0, (clusters - burst) / refill)
    return max(writes, endpoints + max(1, math.ceil(provisioning_s / retry_after_s)) * retry_after_s)


def _create(op: Operator, spokes: list[str], clusters: int) -> list[str]:
    def one(i: int) -> str:
        return op.create_cluster(f"aks-day1-{i:04d}", subscription=spokes[i % len(spokes)], wait=False)

    first = [one(0)]  # the SDK builds its model classes on first use, which is not thread-safe
    with ThreadPoolExecutor(8) as pool:
        return first + list(pool.map(one, range(1, clusters)))


def _progress(remote: RemoteCloud) -> dict[str, Any] | None:
    """The status API's progress, as a reader calls it (App Service Authentication in front, as in Azure)."""
    try:
        resp = remote.api("GET", "links", caller="reader")
        return resp.json().get("progress") if resp.status_code == 200 else None
    except requests.RequestException:
        return None


def run(*, clusters: int = 1000, subscriptions: int = 100, provisioning_s: float = 1.0, retry_after_s: int = 10,
        timeout_s: float = 1800.0) -> dict[str, Any]:
    world = build_world(subscriptions, clusters)
    fd, path = tempfile.mkstemp(prefix="bench-day1-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(world.to_dict(), fh)
    proc, info = start_stack(timeout=300, app_settings={"HUBLINK_TIMER_SCHEDULE": NEVER}, world=path)
    try:
        remote = RemoteCloud(info)
        op = Operator(remote)
        remote.control("DELETE", f"/eventgrid/subscriptions/{EVENT_SUBSCRIPTION}")  # existing clusters: no events
        remote.control("PUT", "/lro", {
            "durations": {"managedClusters/create": 1.0, "privateEndpoints/create": provisioning_s},
            "retry_after": {"Microsoft.Network": retry_after_s, "Microsoft.ContainerService": 1}})
        ids = _create(op, [s["subscription_id"] for s in world.spokes], clusters)
        deadline = time.monotonic() + 600
        while any(op.get_cluster(c).provisioning_state != "Succeeded" for c in ids[-5:]) and time.monotonic() < deadline:
            time.sleep(2)
        time.sleep(3)
        seq = max((e["seq"] for e in remote.control("GET", "/requests")["value"]), default=0)
        started = time.time()
        headers = {"x-functions-key": info["master_key"], "Authorization": f"Bearer {remote.api_token('reader')}"}
        resp = requests.post(f"{info['functions']}/admin/functions/sweep", json={"input": ""}, headers=headers,
                             verify=remote.certs.ca_bundle, timeout=30)
        assert resp.status_code == 202, resp.text
        records: dict[str, float] = {}
        samples: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < clusters and time.monotonic() < deadline:
            time.sleep(10)
            for e in remote.control("GET", f"/requests?principal=hublink&since={seq}")["value"]:
                if e["method"] == "PUT" and e["status"] < 300 and "/A/" in e["path"]:
                    records.setdefault(e["path"].lower(), e["time"])
            progress = _progress(remote)
            samples.append({"t_s": round(time.time() - started, 1), "records": len(records),
                            "progress": progress and progress.get("text")})
        entries = remote.control("GET", f"/requests?principal=hublink&since={seq}")["value"]
    finally:
        code = stop_stack(proc)
        os.unlink(path)
    wall = (max(records.values()) - started) if records else None
    floor = floor_s(clusters, provisioning_s, retry_after_s)
    throttled = sum(1 for e in entries if e["status"] == 429)
    return {
        "clusters": clusters, "subscriptions": subscriptions, "tenants": len(world.tenants),
        "provisioning_s": provisioning_s, "retry_after_s": retry_after_s, "ready": len(records),
        "wall_s": round(wall, 1) if wall is not None else None, "floor_s": round(floor, 1),
        "ratio": round(wall / floor, 3) if wall and floor else None,
        "arm_calls": len(entries), "throttled": throttled,
        "throttled_share": round(throttled / len(entries), 4) if entries else 0.0,
        "hub_writes": sum(1 for e in entries if e["method"] in ("PUT", "DELETE", "POST")
                          and e["path"].split("/")[2].lower() == world.hub["subscription_id"].lower()),
        "progress": samples, "stack_exit_code": code,
    }
