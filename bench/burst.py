"""`burst`: many private clusters finishing within seconds of each other, on the full stack, one instance.

`python -m stack up` (devcloud, Azurite, the function app in the local Functions host with its
default thread count, Event Grid delivery, queue continuations). `clusters` private clusters are
created by an operator at an even pace over `spread_s` (each create operation takes `create_s`, so
they all end within `spread_s` of each other), the hub endpoint takes `provisioning_s` to provision and Azure answers
Retry-After `retry_after_s`. Every timestamp comes from devcloud, as in bench/onboarding.py:

    reaction      the product's endpoint PUT - the cluster's completion event (eventTime)
    Ready lag     the A record PUT - the first poll Azure allows that can see the endpoint
                  Succeeded (t_put + k * Retry-After >= the endpoint's completion event)
    deliveries    Event Grid's delivery attempts to the app that took over 30 s or failed
    execution     the Functions host's "Executed ... Duration=" of the event and queue
                  invocations, summed over the burst and divided by the clusters
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import p50_p95
from bench.onboarding import SPOKES, Stack, _endpoint_name, _measure, _record_name
from stack.client import start_stack, stop_stack
from stack.product import EVENT_SUBSCRIPTION

EXECUTED = re.compile(r"Executed 'Functions\.(on_cluster_event|continue_link)' \((\w+), Id=[^,]+, Duration=(\d+)ms")
EVENT_GRID_TIMEOUT_S = 30.0
EVENT_STAMP_S = 0.05  # devcloud stamps an operation's completion event a few ms after it ends


def _create_all(stack: Stack, names: list[str], spread_s: float) -> list[str]:
    """Create the clusters at an even pace over `spread_s`, so their create operations (each
    `create_s` long) end within that window, as the scenario says: 200 ending within 10 s."""
    started = time.monotonic()

    def create(i: int) -> str:
        time.sleep(max(0.0, started + i * spread_s / len(names) - time.monotonic()))
        return stack.op.create_cluster(names[i], subscription=SPOKES[i % len(SPOKES)], wait=False)

    first = [create(0)]  # the SDK builds its model classes on first use, which is not thread-safe
    with ThreadPoolExecutor(8) as pool:
        return first + list(pool.map(create, range(1, len(names))))


def _timeline(stack: Stack, ids: list[str], seq: int, timeout_s: float) -> tuple[dict, dict, dict]:
    """Endpoint PUT and A record PUT time of each cluster, from devcloud's request log."""
    records: dict[str, str] = {}
    puts: dict[str, float] = {}
    ready: dict[str, float] = {}
    endpoints = {"/privateendpoints/" + _endpoint_name(cid).lower(): cid for cid in ids}
    deadline = time.monotonic() + timeout_s
    while len(ready) < len(ids) and time.monotonic() < deadline:
        time.sleep(2.0)
        for cid in ids:
            if cid not in records:
                fqdn = stack.op.get_cluster(cid).private_fqdn
                if fqdn:
                    records[cid] = _record_name(fqdn)
        by_record = {"/a/" + r: cid for cid, r in records.items()}
        for entry in stack.requests_since(seq):
            if entry["method"] != "PUT" or entry["status"] >= 300:
                continue
            path = entry["path"].lower()
            tail = path[path.rfind("/privateendpoints/"):] if "/privateendpoints/" in path else path[path.rfind("/a/"):]
            if tail in endpoints:
                puts.setdefault(endpoints[tail], entry["time"])
            elif tail in by_record:
                ready.setdefault(by_record[tail], entry["time"])
    return records, puts, ready


def _execution_seconds(log_path: str, offset: int) -> dict[str, float]:
    out = {"on_cluster_event": 0.0, "continue_link": 0.0, "invocations": 0, "failed": 0}
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        fh.seek(offset)
        for line in fh:
            m = EXECUTED.search(line)
            if m:
                out[m.group(1)] += int(m.group(3)) / 1000
                out["invocations"] += 1
                out["failed"] += m.group(2) != "Succeeded"
    return out


def _duplicates(stack: Stack, ids: list[str], seq: int, records: dict[str, str]) -> dict[str, Any]:
    """Endpoint creates and record writes per cluster (exactly one each), throttled calls, Ready notices."""
    entries = stack.requests_since(seq)
    creates: dict[str, int] = {}
    writes: dict[str, int] = {}
    names = {"/privateendpoints/" + _endpoint_name(cid).lower(): cid for cid in ids}
    by_record = {"/a/" + r: cid for cid, r in records.items()}
    for e in entries:
        path = e["path"].lower()
        if e["method"] != "PUT" or e["status"] >= 300:
            continue
        endpoint, record = path[path.rfind("/privateendpoints/"):], path[path.rfind("/a/"):]
        if endpoint in names and e["status"] == 201:  # 201: created (a PUT of an existing one answers 200)
            creates[names[endpoint]] = creates.get(names[endpoint], 0) + 1
        elif record in by_record:
            writes[by_record[record]] = writes.get(by_record[record], 0) + 1
    import requests

    posts = requests.get(stack.info["notifications"] + "/generic", verify=stack.remote.certs.ca_bundle, timeout=30).json()
    ready: dict[str, int] = {}
    wanted = {cid.lower() for cid in ids}
    for post in posts:
        body = post.get("body")
        if isinstance(body, dict) and body.get("type") == "link.ready" and str(body.get("clusterId", "")).lower() in wanted:
            key = body["clusterId"].lower()
            ready[key] = ready.get(key, 0) + 1
    return {
        "endpoint_creates": sorted(set(creates.values())), "record_writes": sorted(set(writes.values())),
        "clusters_with_one_endpoint_and_record": sum(1 for c in ids if creates.get(c) == 1 and writes.get(c) == 1),
        "throttled": sum(1 for e in entries if e["status"] == 429), "calls": len(entries),
        "ready_notices": sorted(set(ready.values())), "clusters_announced_once": sum(1 for n in ready.values() if n == 1),
    }


def run(*, clusters: int = 200, create_s: float = 5.0, spread_s: float = 10.0, provisioning_s: float = 30.0,
        retry_after_s: int = 10, timeout_s: float = 600.0, hosts: int | None = None) -> dict[str, Any]:
    proc, info = start_stack(timeout=180, hosts=hosts)
    try:
        stack = Stack(info)
        stack.remote.control("PUT", "/lro", {
            "durations": {"managedClusters/create": create_s, "privateEndpoints/create": provisioning_s},
            "retry_after": {"Microsoft.Network": retry_after_s, "Microsoft.ContainerService": 1}})
        seq = stack.last_seq()
        offset = _log_size(proc.log_path)
        names = [f"aks-burst-{i:03d}" for i in range(clusters)]
        started = time.time()
        ids = _create_all(stack, names, spread_s)
        created_s = time.time() - started
        records, puts, ready = _timeline(stack, ids, seq, timeout_s)
        events = stack.write_events()
        time.sleep(2.0)  # the last notices go out after their record PUT
        duplicates = _duplicates(stack, ids, seq, records)
        deliveries = [d for d in stack.remote.control("GET", "/eventgrid/deliveries")["value"]
                      if d.get("subscription") == EVENT_SUBSCRIPTION]
    finally:
        code = stop_stack(proc)
    samples = []
    for cid in ids:
        cluster_events = events.get(cid.lower(), [])
        endpoint_events = [t for subject, times in events.items()
                           if subject.endswith("/privateendpoints/" + _endpoint_name(cid).lower()) for t in times]
        samples.append({"cluster": cid.rsplit("/", 1)[-1], "t_event": max(cluster_events) if len(cluster_events) > 1 else None,
                        "t_put": puts.get(cid), "t_done": max(endpoint_events) if endpoint_events else None,
                        "t_ready": ready.get(cid)})
    measured = [m for s in samples if (m := _measure(s, retry_after_s, EVENT_STAMP_S)) is not None]
    slow = [d for d in deliveries if (d.get("latency") or 0) > EVENT_GRID_TIMEOUT_S or d.get("outcome") != "Succeeded"]
    execution = _execution_seconds(proc.log_path, offset)
    out: dict[str, Any] = {
        "clusters": clusters, "create_s": create_s, "spread_s": spread_s, "provisioning_s": provisioning_s,
        "retry_after_s": retry_after_s,
        "created_in_s": round(created_s, 2), "ready": len(ready), "measured": len(measured),
        "deliveries": len(deliveries), "deliveries_over_30s": len(slow),
        "delivery_outcomes": sorted({str(d.get("outcome")) for d in deliveries}),
        "execution": execution, "stack_exit_code": code, "hosts": hosts or 1, **duplicates,
        "execution_s_per_onboarding": round((execution["on_cluster_event"] + execution["continue_link"]) / clusters, 3),
        "samples": samples,
    }
    if measured:
        out["reaction_s"] = p50_p95([m["event_to_put_s"] for m in measured])
        out["ready_lag_s"] = p50_p95([m["overhead_s"] for m in measured])
        out["total_s"] = p50_p95([m["total_s"] for m in measured])
    return out


def _log_size(path: str) -> int:
    import os

    return os.path.getsize(path)
