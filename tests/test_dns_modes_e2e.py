"""End to end, one test per DNS mode, and the stable hub IP: `python -m stack up` runs devcloud, Azurite
and the function app in the local Functions host; the tests act as a user would (ARM through
Microsoft's SDK) and ask devcloud's hub resolver what the hub sees for the name in the cluster's
kubeconfig (`listClusterUserCredential`): our endpoint's address, in every mode."""

from __future__ import annotations

import uuid

import pytest

from devcloud.resolver import hub_sees
from shared.ids import ClusterId
from tests.support import SPOKE_SUBSCRIPTION_B1, Operator, RemoteCloud, start_stack, stop_stack, wait_for
from tests.test_e2e import FAST

SPOKE_ZONES = f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}/resourceGroups/rg-aks/providers/Microsoft.Network/privateDnsZones"


@pytest.fixture(scope="module")
def stack():
    proc, info = start_stack()
    remote = RemoteCloud(info)
    remote.control("PUT", "/lro", {"durations": FAST["durations"], "retry_after": FAST["retryAfter"]})
    yield remote
    code = stop_stack(proc)
    assert code == 0, f"stack up exited {code}; log: {proc.log_path}"


@pytest.fixture
def op(stack):
    stack.control("PUT", "/eventgrid/behaviour", {"duplicate": 0, "reorder": False})
    return Operator(stack)


def ready(stack, cluster_id):
    link = stack.link(cluster_id)
    return link if link and link["phase"] == "Ready" else None


def notices(stack, kind: str) -> list[dict]:
    import requests

    got = requests.get(f"{stack.info['notifications']}/generic", verify=stack.certs.ca_bundle, timeout=5).json()
    return [n["body"] for n in got if isinstance(n.get("body"), dict) and n["body"].get("type") == kind]


def sub() -> str:
    return f"team{uuid.uuid4().hex[:6]}"


# (mode shown, privateDNSZone, fqdnSubdomain, hub zone the record goes to)
MODES = {
    "system": ("system", lambda: None, None, "privatelink"),
    "privatelink": ("custom-privatelink", lambda: f"{SPOKE_ZONES}/privatelink.westeurope.azmk8s.io", None, "privatelink"),
    "sub.privatelink+fqdnSubdomain": (
        "custom-privatelink",
        lambda: f"{SPOKE_ZONES}/{sub()}.privatelink.westeurope.azmk8s.io",
        "api",
        "privatelink",
    ),
    "private": ("custom-private", lambda: f"{SPOKE_ZONES}/private.westeurope.azmk8s.io", None, "private"),
    "sub.private+fqdnSubdomain": (
        "custom-private",
        lambda: f"{SPOKE_ZONES}/{sub()}.private.westeurope.azmk8s.io",
        "api",
        "private",
    ),
    "none": ("none", lambda: "none", None, None),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_dns_mode_resolves_from_the_hub_to_our_endpoint(stack, op, mode):
    shown, zone, subdomain, hub_zone = MODES[mode]
    cluster_id = op.create_cluster(
        private_dns_zone=zone(), fqdn_subdomain=f"{subdomain}{uuid.uuid4().hex[:6]}" if subdomain else None
    )
    link = wait_for(lambda: ready(stack, cluster_id), timeout=40, interval=0.2, what=f"{mode} link Ready")
    server = op.kubeconfig_server(cluster_id)
    endpoint = ClusterId.parse(cluster_id).endpoint_name
    ip = op.endpoint_ip(endpoint)
    assert link["dnsMode"] == shown and link["fqdn"] == server and link["privateIp"] == ip
    seen = hub_sees(stack, server)
    assert (seen["status"], seen["addresses"], seen["source"]) == ("NOERROR", [ip], "private-zone"), seen
    if hub_zone is None:  # none: a zone named exactly the FQDN, apex record, linked to the hub VNet
        assert server.endswith(".hcp.westeurope.azmk8s.io") and link["recordName"] == "@"
        assert seen["zone_id"].rsplit("/", 1)[-1] == server and link["dnsZoneId"] == seen["zone_id"]
        assert op.zone(seen["zone_id"])["tags"]["managedBy"] == "aks-hublink"
        other = hub_sees(stack, f"other-{uuid.uuid4().hex[:8]}.hcp.westeurope.azmk8s.io")
        assert other["source"] == "public", "the zone must not shadow other clusters' names"
    else:
        assert seen["zone_id"].rsplit("/", 1)[-1] == f"{hub_zone}.westeurope.azmk8s.io"
    op.delete_cluster(cluster_id)
    wait_for(lambda: stack.link(cluster_id) is None, timeout=40, interval=0.2, what="link removed")
    assert op.endpoint_ip(endpoint) is None
    assert op.record_in(link["dnsZoneId"], link["recordName"]) is None
    if hub_zone is None:
        assert op.zone(link["dnsZoneId"]) is None, "the per-cluster zone is ours and goes with the cluster"
    assert hub_sees(stack, server)["addresses"] != [ip]


def test_stop_start_keeps_the_hub_ip_and_the_record(stack, op):
    elsewhere = op.create_cluster(tags={"hublink": "disabled"})
    filler = op.create_foreign_endpoint(elsewhere)  # holds a lower address than ours, until the churn below
    cluster_id = op.create_cluster()
    link = wait_for(lambda: ready(stack, cluster_id), timeout=40, interval=0.2, what="link Ready")
    before = op.record(link["recordName"])
    assert link["stableIp"] == link["privateIp"]
    sdk, name = op.aks(SPOKE_SUBSCRIPTION_B1).managed_clusters, ClusterId.parse(cluster_id).name
    sdk.begin_stop("rg-aks", name).result()
    op.delete_endpoint(filler.name)  # churn: a lower address is free, the one a dynamic allocation would take
    sdk.begin_start("rg-aks", name).result()
    connection = link["connectionName"]
    again = wait_for(
        lambda: (lk := ready(stack, cluster_id)) and lk["connectionName"] != connection and lk,
        timeout=60,
        interval=0.2,
        what="link Ready on a recreated endpoint",
    )
    assert again["privateIp"] == link["privateIp"] == op.endpoint_ip(ClusterId.parse(cluster_id).endpoint_name)
    after = op.record(link["recordName"])
    assert after["etag"] == before["etag"], "the record never changed"
    assert hub_sees(stack, op.kubeconfig_server(cluster_id))["addresses"] == [link["privateIp"]]
    assert not [n for n in notices(stack, "link.ip_changed") if n["clusterId"].lower() == cluster_id.lower()]
    op.delete_cluster(elsewhere)


def test_a_taken_address_moves_the_link_and_says_so_once(stack, op):
    elsewhere = op.create_cluster(tags={"hublink": "disabled"})
    cluster_id = op.create_cluster()
    link = wait_for(lambda: ready(stack, cluster_id), timeout=40, interval=0.2, what="link Ready")
    old = link["privateIp"]
    sdk = op.aks(SPOKE_SUBSCRIPTION_B1).managed_clusters
    sdk.begin_stop("rg-aks", ClusterId.parse(cluster_id).name).result()
    op.delete_endpoint(ClusterId.parse(cluster_id).endpoint_name)  # the stopped cluster's dead endpoint goes
    squatter = op.take_address(elsewhere, old)  # and someone takes its address (for another cluster)
    sdk.begin_start("rg-aks", ClusterId.parse(cluster_id).name).result()
    moved = wait_for(
        lambda: (lk := ready(stack, cluster_id)) and lk["privateIp"] != old and lk, timeout=60, interval=0.2, what="new IP"
    )
    new = moved["privateIp"]
    assert new == op.endpoint_ip(ClusterId.parse(cluster_id).endpoint_name) and moved["stableIp"] == new
    assert [a["ipv4Address"] for a in op.record(link["recordName"])["properties"]["aRecords"]] == [new]
    assert hub_sees(stack, op.kubeconfig_server(cluster_id))["addresses"] == [new]
    changed = wait_for(
        lambda: [n for n in notices(stack, "link.ip_changed") if n["clusterId"].lower() == cluster_id.lower()],
        timeout=10,
        what="link.ip_changed",
    )
    assert [(n["previousPrivateIp"], n["newPrivateIp"]) for n in changed] == [(old, new)]
    op.delete_endpoint(squatter.name)
    op.delete_cluster(elsewhere)
