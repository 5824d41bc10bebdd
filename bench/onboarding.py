"""Figure 1: onboarding overhead on the full stack, from a cluster's Succeeded event to Ready, minus Azure's floor.

Runs `python -m stack up` (devcloud, Azurite, the function app in the local Functions host with
Event Grid delivery and queue continuations), creates private clusters as a user would, and reads
every timestamp from devcloud itself:

- t_event: `eventTime` of the ResourceWriteSuccess emitted when the cluster's create operation
  completes (the later of the cluster's two write events; the first is sent when the PUT is accepted),
  recorded by a webhook sink subscribed to the same system topics;
- t_put: the product's PUT of its hub endpoint (request log);
- t_done: `eventTime` of the endpoint's own completion event (hub subscription's system topic);
- t_ready: the product's PUT of the A record (request log): approved and resolvable.

The floor is what a client polling exactly at each Retry-After from t_put needs to see the endpoint
Succeeded: first t_put + k * RetryAfter >= t_done. Overhead = t_ready - that poll time; the reaction
time t_put - t_event is reported next to it.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from bench.common import p50_p95
from devcloud.client import Operator, RemoteCloud
from devcloud.world import SPOKE_SUBSCRIPTION_A, SPOKE_SUBSCRIPTION_B1, SPOKE_SUBSCRIPTION_B2
from stack.client import start_stack, stop_stack

WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
SINK_PATH = "/bench-events"
EVENT_BUDGET_S = 20.0  # the product's default HUBLINK_EVENT_BUDGET_S (Event Grid waits 30 s)
SPOKES = (SPOKE_SUBSCRIPTION_B1, SPOKE_SUBSCRIPTION_B2, SPOKE_SUBSCRIPTION_A)


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """App settings for the stack: the Functions host is started with this process's environment."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Stack:
    """The running stack plus what the bench reads from it."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.remote = RemoteCloud(info)
        self.op = Operator(self.remote)
        for sub in [info["hub"]["subscription_id"], *SPOKES]:  # the sink sees every write event, like the app
            self.remote.control("POST", "/eventgrid/subscriptions", {
                "subscriptionId": sub, "name": "bench-events", "endpoint": info["notifications"] + SINK_PATH,
                "includedEventTypes": [WRITE_SUCCESS]})

    def write_events(self) -> dict[str, list[float]]:
        """Resource id (lower case) -> eventTimes of its ResourceWriteSuccess events."""
        import requests

        posts = requests.get(self.info["notifications"] + SINK_PATH, verify=self.remote.certs.ca_bundle, timeout=30).json()
        out: dict[str, list[float]] = {}
        for post in posts:
            for event in post["body"] if isinstance(post["body"], list) else []:
                if event.get("eventType") == WRITE_SUCCESS:
                    out.setdefault(event["subject"].lower(), []).append(_epoch(event["eventTime"]))
        return out

    def requests_since(self, seq: int) -> list[dict[str, Any]]:
        return self.remote.control("GET", f"/requests?principal=hublink&since={seq}")["value"]

    def last_seq(self) -> int:
        return max((e["seq"] for e in self.remote.control("GET", "/requests")["value"]), default=0)


def _record_name(fqdn: str) -> str:
    return fqdn.lower().split(".privatelink.", 1)[0]


def _onboard_batch(stack: Stack, names: list[str], timeout_s: float) -> list[dict[str, Any]]:
    """Create the clusters at once; wait for the product's A record PUT of each; return their timestamps."""
    seq = stack.last_seq()
    ids = [stack.op.create_cluster(name, subscription=SPOKES[i % len(SPOKES)], wait=False) for i, name in enumerate(names)]
    records: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    ready: dict[str, float] = {}
    puts: dict[str, float] = {}
    while len(ready) < len(ids) and time.monotonic() < deadline:
        time.sleep(0.5)
        for cid in ids:
            if cid not in records:
                fqdn = stack.op.get_cluster(cid).private_fqdn
                if fqdn:
                    records[cid] = _record_name(fqdn)
        for entry in stack.requests_since(seq):
            if entry["method"] != "PUT" or entry["status"] >= 300:
                continue
            path = entry["path"].lower()
            for cid in ids:
                endpoint = "/privateendpoints/" + _endpoint_name(cid).lower()
                if path.endswith(endpoint):
                    puts.setdefault(cid, entry["time"])
                if cid in records and path.endswith("/a/" + records[cid]):
                    ready.setdefault(cid, entry["time"])
    events = stack.write_events()
    samples = []
    for cid in ids:
        cluster_events = events.get(cid.lower(), [])
        endpoint_events = [t for subject, times in events.items()
                           if subject.endswith("/privateendpoints/" + _endpoint_name(cid).lower()) for t in times]
        samples.append({"cluster": cid.rsplit("/", 1)[-1], "t_event": max(cluster_events) if len(cluster_events) > 1 else None,
                        "t_put": puts.get(cid), "t_done": max(endpoint_events) if endpoint_events else None,
                        "t_ready": ready.get(cid)})
    return samples


def _endpoint_name(cluster_id: str) -> str:
    from shared.ids import ClusterId

    return ClusterId.parse(cluster_id).endpoint_name


def _measure(sample: dict[str, Any], retry_after_s: float, stamp_s: float = 0.0) -> dict[str, float] | None:
    """`stamp_s`: how much later than the operation's end its event may be stamped (when provisioning
    is a whole number of Retry-Afters, the event lands just after the poll that sees it end)."""
    t_event, t_put, t_done, t_ready = (sample[k] for k in ("t_event", "t_put", "t_done", "t_ready"))
    if None in (t_event, t_put, t_done, t_ready):
        return None
    k = max(1, math.ceil((t_done - stamp_s - t_put) / retry_after_s - 1e-9))
    first_poll = t_put + k * retry_after_s
    return {"total_s": t_ready - t_event, "floor_s": first_poll - t_event, "overhead_s": t_ready - first_poll,
            "event_to_put_s": t_put - t_event}


def run_case(stack: Stack, *, clusters: int, batch: int, provisioning_s: float, retry_after_s: int,
             create_s: float, label: str) -> dict[str, Any]:
    stack.remote.control("PUT", "/lro", {
        "durations": {"managedClusters/create": create_s, "privateEndpoints/create": provisioning_s},
        "retry_after": {"Microsoft.Network": retry_after_s, "Microsoft.ContainerService": 1}})
    samples: list[dict[str, Any]] = []
    for start in range(0, clusters, batch):
        names = [f"aks-{label}-{i:02d}" for i in range(start, min(clusters, start + batch))]
        samples += _onboard_batch(stack, names, timeout_s=create_s + provisioning_s + 3 * EVENT_BUDGET_S + 60)
    measured = [m for s in samples if (m := _measure(s, retry_after_s)) is not None]
    out: dict[str, Any] = {"clusters": clusters, "batch": batch, "provisioning_s": provisioning_s,
                           "retry_after_s": retry_after_s, "ready": len(measured), "samples": samples}
    if measured:
        for key in ("overhead_s", "total_s", "floor_s", "event_to_put_s"):
            out[key] = p50_p95([m[key] for m in measured])
    return out


def run(*, clusters: int = 20, batch: int = 5, scale: float = 1.0, short_s: float = 3.0, long_s: float = 45.0,
        retry_after_s: float = 10.0, create_s: float = 2.0) -> dict[str, Any]:
    """Both cases on one stack. `scale` < 1 shrinks every duration, the product's event budget included."""
    retry = max(1, round(retry_after_s * scale))
    settings = {"HUBLINK_EVENT_BUDGET_S": f"{max(1.0, EVENT_BUDGET_S * scale):g}"} if scale != 1 else {}
    with _env(**settings):
        proc, info = start_stack()
    try:
        stack = Stack(info)
        cases = {label: run_case(stack, clusters=clusters, batch=batch, provisioning_s=seconds * scale,
                                 retry_after_s=retry, create_s=create_s * scale, label=label)
                 for label, seconds in (("short", short_s), ("long", long_s))}
    finally:
        code = stop_stack(proc)
    return {"scale": scale, "event_budget_s": max(1.0, EVENT_BUDGET_S * scale), "stack_exit_code": code, **cases}
