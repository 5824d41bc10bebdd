"""ARM at Azure's pace: requests follow the remaining counts ARM answers, and endpoint reads fall on the Retry-After grid."""

from __future__ import annotations

import time

from shared.config import parse_settings
from shared.pacing import Pacer
from shared.service import Service
from tests.support import Operator, fast_lros, product_env, restore_lros, settle

URL = "https://arm.example/subscriptions/S1/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe?api-version=1"


def test_pacer_follows_the_count_arm_gives_and_waits_for_its_refill_near_the_reserve():
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(
        {"read": 10.0, "write": 5.0, "delete": 5.0, "dns": 5.0},
        {"read": 3, "write": 2, "delete": 2, "dns": 2},
        clock=lambda: now[0],
        sleep=sleep,
    )
    pacer.acquire("GET", URL)  # nothing heard from ARM yet: go
    pacer.observe(
        "GET",
        URL,
        {"x-ms-ratelimit-remaining-subscription-reads": "9", "x-ms-ratelimit-remaining-subscription-global-reads": "5"},
    )  # the smaller count
    pacer.acquire("GET", URL)  # 5 left: above the reserve of 3
    pacer.acquire("GET", URL.replace("/S1/", "/s2/"))  # another subscription: its own count
    pacer.acquire("PUT", URL)  # writes: their own count
    pacer.acquire("POST", "https://login.example/tenant/oauth2/v2.0/token")  # not ARM: never paced
    assert slept == []
    pacer.acquire("GET", URL)  # 5 - 1 sent = 4 > 3: go
    pacer.acquire("get", URL.replace("/S1/", "/s1/"))  # 5 - 2 = 3: at the reserve, wait for one token (0.1 s)
    assert slept == [0.1] and pacer.slowed == 1
    pacer.observe("GET", URL, {"x-ms-ratelimit-remaining-subscription-reads": "200"})  # ARM's word replaces the estimate
    pacer.acquire("GET", URL)
    assert slept == [0.1]


def test_instances_sharing_a_principal_slow_down_on_each_others_traffic(cloud):
    """Two processes (two pacers) of one principal: the second slows down on what the first spent,
    because both read ARM's count; neither gets a 429."""
    import requests

    from devcloud.client import ARM_SCOPE
    from devcloud.world import HUB_SUBSCRIPTION, HUB_TENANT
    from stack.world import PRODUCT_CLIENT_ID

    saved = dict(cloud.arm.limits)
    cloud.arm.limits["read"] = (20, 2.0)  # a slow refill, so the test sees the bucket as it drains
    cloud.arm.reset_throttling()
    try:
        from azure.identity import ClientSecretCredential

        token = (
            ClientSecretCredential(
                HUB_TENANT,
                PRODUCT_CLIENT_ID,
                "devcloud-hublink-secret",
                authority=cloud.url,
                disable_instance_discovery=True,
                connection_verify=cloud.certs.ca_bundle,
            )
            .get_token(ARM_SCOPE)
            .token
        )
        rg = cloud.world.hub["resource_group"]
        url = (
            f"{cloud.url}/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Network/"
            "privateEndpoints?api-version=2024-05-01"
        )
        session = requests.Session()
        refill, reserve = (
            {"read": 2.0, "write": 10.0, "delete": 10.0, "dns": 10.0},
            {"read": 5, "write": 5, "delete": 5, "dns": 5},
        )
        first, second = Pacer(refill, reserve), Pacer(refill, reserve)
        statuses = []

        def read(pacer: Pacer) -> None:
            pacer.acquire("GET", url)
            resp = session.get(url, headers={"Authorization": f"Bearer {token}"}, verify=cloud.certs.ca_bundle, timeout=10)
            pacer.observe("GET", url, resp.headers)
            statuses.append(resp.status_code)

        for _ in range(12):
            read(first)  # 20 - 12 (+ a little refill) left
        assert first.slowed == 0 and second.slowed == 0
        for _ in range(6):
            read(second)  # a fresh pacer: its first answer says ~9 are left, so it nears the reserve soon
        assert second.slowed >= 1 and set(statuses) == {200}, (second.slowed, statuses)
    finally:
        cloud.arm.limits.update(saved)
        cloud.arm.reset_throttling()


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
