"""Hub capacity against devcloud + Azurite: several hub subnets per region, filled in order; no room
means Pending with the reason and one hub.capacity_exhausted notice; a subnet added to the settings
lets the waiting link continue from the timer sweep alone."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
import requests

from devcloud.world import HUB_SUBSCRIPTION
from shared import handlers
from shared.authz import READER
from shared.config import parse_settings
from shared.ids import ClusterId
from shared.model import Phase
from shared.runtime import build_runtime
from tests.support import Operator, easy_auth_headers, product_env, settle

HUB_RG = "rg-hub-network"


@pytest.fixture
def subnets(cloud):
    """Three /29 hub subnets (3 endpoint addresses each) in a VNet of their own, removed afterwards."""
    group = f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{HUB_RG}"
    vnet = f"{group}/providers/Microsoft.Network/virtualNetworks/vnet-cap-{uuid.uuid4().hex[:6]}"
    base = f"10.{150 + len(cloud.world.subnets) % 50}"
    ids = []
    for i in range(3):
        sid = f"{vnet}/subnets/snet-{i}"
        resp = requests.post(
            f"{cloud.url}/_devcloud/subnets",
            json={"id": sid, "prefix": f"{base}.{i}.0/29"},
            verify=cloud.certs.ca_bundle,
            timeout=10,
        )
        assert resp.status_code == 201, resp.text
        ids.append(sid)
    yield ids
    cloud.world.subnets = [s for s in cloud.world.subnets if s.id not in ids]


def hubs_setting(cloud, *subnet_ids: str) -> str:
    return json.dumps({"westeurope": {"subnetIds": list(subnet_ids), "dnsZoneId": cloud.world.hub["dns_zones"]["westeurope"]}})


def events(sink, kind: str) -> list[dict]:
    return [r["body"] for r in sink.received if r["path"] == "/hook" and r["body"].get("type") == kind]


def test_subnets_fill_in_order_then_the_link_waits_and_continues_by_itself(
    cloud, azurite, lros, sink, subnets, monkeypatch, capsys
):
    first, second, third = subnets
    env = product_env(
        cloud, azurite, HUBLINK_HUBS=hubs_setting(cloud, first, second), HUBLINK_WEBHOOKS=json.dumps([f"{sink.url}/hook"])
    )
    rt = build_runtime(parse_settings(env))
    svc, op = rt.service, Operator(cloud)
    clusters = [op.create_cluster() for _ in range(7)]
    try:
        for cid in clusters[:6]:
            assert settle(svc, cid).phase is Phase.READY  # following its continuations, as the queue does
        placed = [svc.store.get(ClusterId.parse(c)).subnet_id for c in clusters[:6]]
        assert placed == [first] * 3 + [second] * 3
        [low] = events(sink, "hub.capacity_low")
        assert (low["hubRegion"], low["used"], low["total"]) == ("westeurope", 4, 6)

        waiting = svc.reconcile(clusters[6])
        assert waiting.phase is Phase.PENDING and "no room in the hub for westeurope" in waiting.message
        assert svc.reconcile(clusters[6]).phase is Phase.PENDING  # looked at again: still no room, no new notice
        [exhausted] = events(sink, "hub.capacity_exhausted")
        assert [(s["used"], s["total"]) for s in exhausted["subnets"]] == [(3, 3), (3, 3)]
        view = svc.hubs()
        assert [(s["subnetId"], s["used"], s["total"]) for s in view[0]["subnets"]] == [(first, 3, 3), (second, 3, 3)]
        assert view[0]["level"] == "exhausted"
        shown_by_cli_and_api(env, monkeypatch, capsys, first, second)
        row = svc.store.get(ClusterId.parse(clusters[6]))
        assert row.next_attempt_at is not None and row.endpoint_id is None

        # A subnet is added to the settings (the app restarts with them); only the timer runs after that.
        rt2 = build_runtime(parse_settings(dict(env, HUBLINK_HUBS=hubs_setting(cloud, first, second, third))))
        row.next_attempt_at = rt2.service.clock.now() - timedelta(seconds=1)  # its recheck is due
        rt2.service.store.replace(row)
        cloud.arm.clear_log()
        report = handlers.sweep(runtime=rt2, discover=False)
        assert report.due == 1 and report.errors == []
        settle(rt2.service, clusters[6])  # what the continuation queue does after the sweep started it
        done = rt2.service.store.get(ClusterId.parse(clusters[6]))
        assert done.phase is Phase.READY and done.subnet_id == third
        assert len(events(sink, "hub.capacity_exhausted")) == 1
    finally:
        for cid in clusters:
            op.delete_cluster(cid)
            svc.reconcile(cid)  # the first 404 starts the absence confirmation (3 s in tests)
        time.sleep(3.2)
        for cid in clusters:
            assert settle(svc, cid).phase is Phase.ABSENT


def shown_by_cli_and_api(env, monkeypatch, capsys, *subnet_ids: str) -> None:
    """`python -m shared hubs` and GET /api/hubs show used/total per subnet; status shows each link's DNS mode."""
    from shared.__main__ import main
    from shared.runtime import reset_runtime

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "true")  # behind App Service Authentication, as in Azure
    reset_runtime()
    try:
        capsys.readouterr()
        assert main(["hubs"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split() == ["REGION", "LEVEL", "SUBNET", "PREFIX", "USED/TOTAL"]
        for subnet in subnet_ids:
            [line] = [x for x in lines if subnet.rsplit("/virtualNetworks/", 1)[-1] in x]
            assert line.split()[1] == "exhausted" and line.split()[-1] == "3/3"
        answer = handlers.http_hubs(easy_auth_headers(READER))
        assert answer.status == 200
        [hub] = answer.body["value"]
        assert [(s["used"], s["total"]) for s in hub["subnets"]] == [(3, 3)] * len(subnet_ids)
        assert main(["status"]) == 0
        table = capsys.readouterr().out
        assert "DNS" in table.splitlines()[0] and "system" in table
    finally:
        reset_runtime()
