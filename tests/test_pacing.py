"""ARM at Azure's pace: per-subscription request windows, and LRO polls only at the Retry-After within budget."""

from __future__ import annotations

import time

from shared.config import parse_settings
from shared.pacing import Pacer
from shared.service import Service
from tests.support import Operator, fast_lros, product_env, restore_lros, settle

URL = "https://arm.example/subscriptions/S1/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe?api-version=1"


def test_pacer_keeps_each_subscription_and_kind_in_its_window():
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer({"read": 2, "write": 1, "delete": 1}, clock=lambda: now[0], sleep=sleep)
    pacer.acquire("GET", URL)
    pacer.acquire("GET", URL)
    pacer.acquire("GET", URL.replace("/S1/", "/s2/"))  # another subscription has its own window
    pacer.acquire("PUT", URL)  # writes too
    pacer.acquire("DELETE", URL)
    pacer.acquire("POST", "https://login.example/tenant/oauth2/v2.0/token")  # not ARM: never paced
    assert slept == []
    pacer.acquire("get", URL.replace("/S1/", "/s1/"))  # a third read of S1 within the second waits
    assert slept == [1.0] and pacer.waited_s == 1.0
    now[0] += 0.5
    pacer.acquire("GET", URL)  # the second read left the window at 1.0: room again
    assert slept == [1.0]


def test_an_invocation_starts_the_operation_and_leaves_no_poller_behind(cloud, azurite):
    saved = fast_lros(cloud)
    cloud.arm.lro_seconds["privateEndpoints/create"] = 1.3
    try:
        rec = Service.from_settings(parse_settings(product_env(cloud, azurite)))
        cluster_id = Operator(cloud).create_cluster()
        cloud.arm.clear_log()
        first = rec.reconcile(cluster_id)  # the PUT, then "look again at the Retry-After" (1 s)
        assert 0 < first.requeue_after <= 1 and str(first.phase) == "Provisioning"
        returned = time.time()
        time.sleep(1.6)  # the operation ends meanwhile: a poller left behind would have polled by now
        assert [e for e in cloud.arm.entries(principal="hublink") if e.time > returned] == []
        assert [e.kind for e in cloud.arm.entries(principal="hublink")].count("poll") == 0

        assert str(settle(rec, cluster_id).phase) == "Ready"
        cloud.arm.lro_seconds["privateEndpoints/create"] = 0.5  # done before the first Retry-After
        cluster_b = Operator(cloud).create_cluster()
        cloud.arm.clear_log()
        assert str(settle(rec, cluster_b).phase) == "Ready"
        entries = cloud.arm.entries(principal="hublink")
        put = next(e for e in entries if e.method == "PUT" and "/privateEndpoints/" in e.path)
        reads = [e for e in entries if e.method == "GET" and e.time > put.time and e.path.lower() == put.path.lower()]
        assert len(reads) == 1 and reads[0].time - put.time >= 1.0  # one read, after the Retry-After
    finally:
        restore_lros(cloud, saved)


def test_reads_of_a_running_operation_fall_on_azures_retry_after_grid(cloud, azurite):
    saved = fast_lros(cloud)  # Retry-After 1 s
    cloud.arm.lro_seconds["privateEndpoints/create"] = 2.5
    try:
        rec = Service.from_settings(parse_settings(product_env(cloud, azurite)))
        cluster_id = Operator(cloud).create_cluster()
        cloud.arm.clear_log()
        assert 0 < rec.reconcile(cluster_id).requeue_after <= 1
        time.sleep(0.3)  # picked up again at some moment between two of Azure's poll times
        assert str(settle(rec, cluster_id).phase) == "Ready"
        entries = cloud.arm.entries(principal="hublink")
        put = next(e for e in entries if e.method == "PUT" and "/privateEndpoints/" in e.path)
        offsets = [
            e.time - put.time for e in entries if e.method == "GET" and e.time > put.time and e.path.lower() == put.path.lower()
        ]
        assert [round(o) for o in offsets] == [1, 2, 3]  # done at 2.5 s: seen at the first poll time after
        assert all(abs(o - round(o)) < 0.2 for o in offsets), offsets
    finally:
        restore_lros(cloud, saved)
