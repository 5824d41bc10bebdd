"""The branches of DNS modes, the stable hub IP and hub capacity, through the controller, against fakes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from shared.aks import Cluster
from shared.capacity import SubnetRoom, current_level, level, rises
from shared.cards import adaptive_card
from shared.config import Hub, parse_settings
from shared.dns import dns_mode, hub_placement, hub_vnets, kubectl_name
from shared.errors import ConfigurationError, TerminalError
from shared.ids import ClusterId
from shared.model import Phase
from tests.unit.fakes import HUB, HUB_RG, ZONE_ID, cluster_id, world

PRIVATE_ZONE_ID = f"{HUB_RG}/providers/Microsoft.Network/privateDnsZones/private.westeurope.azmk8s.io"
SPOKE_ZONES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones"
PL, PR = "privatelink.westeurope.azmk8s.io", "private.westeurope.azmk8s.io"
PUBLIC = "app1-ab12cd34.hcp.westeurope.azmk8s.io"


class Announcements:
    """A Notifier that only records what was announced (the controller's interface)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict]] = []

    def plan(self, state, previous, outcome) -> None:
        return None

    def announce(self, state, kind: str, key: str, **fields) -> bool:
        if any(k == key for _, k, _ in self.sent):
            return False
        self.sent.append((kind, key, fields))
        return True

    def deliver(self, state) -> bool:
        return False

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.sent]


def cluster(**changes) -> Cluster:
    base = Cluster(
        cluster_id(), "westeurope", "Succeeded", "Running", True, None, {}, "e1", private_dns_zone="system", public_fqdn=PUBLIC
    )
    return replace(base, **changes)


def row(w, cid):
    return w.store.rows.get(ClusterId.parse(cid).key)


# -- every DNS mode, decided from the cluster ---------------------------------------------------------
@pytest.mark.parametrize(
    "zone,fqdn,mode,hub_zone,record",
    [
        ("system", f"app1-x.1f2e.{PL}", "system", ZONE_ID, "app1-x.1f2e"),
        (f"{SPOKE_ZONES}/{PL}", f"app1-x.{PL}", "custom-privatelink", ZONE_ID, "app1-x"),
        (f"{SPOKE_ZONES}/Team-1.{PL}", f"api.team-1.{PL}", "custom-privatelink", ZONE_ID, "api.team-1"),
        (f"{SPOKE_ZONES}/{PR}", f"app1-x.{PR}", "custom-private", PRIVATE_ZONE_ID, "app1-x"),
        (f"{SPOKE_ZONES}/t1.{PR}", f"api.t1.{PR}", "custom-private", PRIVATE_ZONE_ID, "api.t1"),
    ],
)  # fmt: skip
def test_each_mode_is_placed_in_the_hub_zone_that_holds_its_name(zone, fqdn, mode, hub_zone, record):
    live = cluster(private_dns_zone=zone, private_fqdn=fqdn)
    assert dns_mode(live) == mode and kubectl_name(live) == fqdn
    placed = hub_placement(live, HUB)
    assert (placed.zone_id, placed.record_name, placed.fqdn, placed.mode, placed.own_zone) == (
        hub_zone,
        record,
        fqdn,
        mode,
        False,
    )


def test_none_gets_a_zone_named_exactly_its_public_fqdn():
    live = cluster(private_dns_zone="None", private_fqdn=None)
    assert dns_mode(live) == "none" and kubectl_name(live) == PUBLIC
    placed = hub_placement(live, HUB)
    assert placed.zone_id == f"{HUB_RG}/providers/Microsoft.Network/privateDnsZones/{PUBLIC}"
    assert (placed.record_name, placed.own_zone, placed.mode) == ("@", True, "none")
    for bad in (
        "hcp.westeurope.azmk8s.io",
        "a.b.hcp.westeurope.azmk8s.io",
        "app1-x.hcp.northeurope.azmk8s.io",
        "api.example.com",
    ):
        with pytest.raises(TerminalError) as err:
            hub_placement(replace(live, public_fqdn=bad), HUB)
        assert err.value.code == "UnexpectedPublicFqdn", bad


def test_a_name_in_neither_hub_zone_is_terminal_and_a_path_may_name_its_own():
    with pytest.raises(TerminalError) as err:
        hub_placement(cluster(private_fqdn="api.example.com"), HUB)
    assert err.value.code == "FqdnOutsideZone"
    placed = hub_placement(cluster(private_fqdn="x"), HUB, fqdn="a.b.private.westeurope.azmk8s.io")
    assert (placed.zone_id, placed.record_name) == (PRIVATE_ZONE_ID, "a.b")


def test_none_mode_links_its_own_zone_to_every_hub_vnet_and_removes_it_with_the_cluster():
    vnet2 = f"{HUB_RG}/providers/Microsoft.Network/virtualNetworks/v2/subnets/s2"
    hub = replace(HUB, subnet_ids=(HUB.subnet_id, vnet2))
    w = world(hubs={"westeurope": hub})
    cid = cluster_id()
    w.clusters.add(cid, private_dns_zone="none", private_fqdn=None, public_fqdn=PUBLIC)
    w.dns.zones_ready = False  # Azure answered 202 for the zone
    waiting = w.settle(cid)
    assert waiting.requeue_after and "being created" in waiting.message and row(w, cid).own_zone_id
    w.dns.zones_ready = True
    outcome = w.settle(cid)
    assert outcome.phase is Phase.READY and "(none DNS)" in outcome.message
    zone_id = f"{HUB_RG}/providers/Microsoft.Network/privateDnsZones/{PUBLIC}"
    assert w.dns.zones[zone_id.lower()][1] == tuple(hub_vnets(hub)) and len(hub_vnets(hub)) == 2
    assert w.dns.records["@"].ips == ("10.1.0.4",) and row(w, cid).public()["dnsMode"] == "none"
    del w.clusters.clusters[ClusterId.parse(cid).key]
    w.settle(cid)  # a first 404 is not proof of deletion
    w.clock.advance(w.controller.policy.absence_confirm_s)
    assert w.settle(cid).phase is Phase.ABSENT
    assert w.dns.zones == {} and w.dns.records == {}


def test_a_changed_placement_removes_the_old_record_first():
    w = world()
    cid = cluster_id()
    w.clusters.add(cid)
    w.settle(cid)
    old = row(w, cid).record_name
    w.clusters.add(cid, private_fqdn="other.privatelink.westeurope.azmk8s.io")
    assert w.settle(cid).phase is Phase.READY
    assert set(w.dns.records) == {"other"} and old not in w.dns.records


# -- the stable hub IP --------------------------------------------------------------------------------
def recreate(w, cid) -> None:
    c = ClusterId.parse(cid)
    w.clusters.conns[c.key] = [replace(x, status="Disconnected") for x in w.clusters.conns[c.key]]
    w.endpoints.endpoints.pop(c.endpoint_name)  # a stop/start: the endpoint is replaced
    w.clusters.conns[c.key] = []


def test_a_recreated_endpoint_asks_for_the_same_address_and_the_record_stays():
    notes = Announcements()
    w = world(notifier=notes)
    cid = cluster_id()
    w.clusters.add(cid)
    w.settle(cid)
    assert row(w, cid).stable_ip == "10.1.0.4"
    w.endpoints.ip = "10.1.0.9"  # the addresses the fake hands out moved on meanwhile
    recreate(w, cid)
    writes = w.dns.calls.count("ensure")
    assert w.settle(cid).phase is Phase.READY
    assert w.endpoints.created_in[-1] == (HUB.subnet_id, "10.1.0.4") and row(w, cid).private_ip == "10.1.0.4"
    assert w.dns.calls.count("ensure") == writes + 1 and w.dns.records[row(w, cid).record_name].ips == ("10.1.0.4",)
    assert notes.kinds() == []


def test_a_taken_address_moves_the_link_with_one_notice_and_no_dead_record():
    notes = Announcements()
    w = world(notifier=notes)
    cid = cluster_id()
    w.clusters.add(cid)
    w.settle(cid)
    name = row(w, cid).record_name
    recreate(w, cid)
    w.endpoints.taken.add("10.1.0.4")  # someone else holds it now
    w.endpoints.finishes = False  # the dynamic create runs past this reconcile
    w.settle(cid)
    assert name not in w.dns.records, "the record must not name an address someone else holds"
    assert [s for _, s in w.endpoints.created_in[-2:]] == ["10.1.0.4", None]
    w.endpoints.finishes = True
    for op in w.endpoints.running.values():  # Azure finishes the create now
        op.ends_at = w.clock.now()
    assert w.settle(cid).phase is Phase.READY
    assert w.dns.records[name].ips == ("10.1.0.5",) and row(w, cid).stable_ip == "10.1.0.5"
    [(kind, _, fields)] = notes.sent
    assert (kind, fields) == ("link.ip_changed", {"previousPrivateIp": "10.1.0.4", "newPrivateIp": "10.1.0.5"})
    w.settle(cid)
    assert len(notes.sent) == 1


def test_an_endpoint_that_failed_with_the_address_is_recreated_with_any():
    notes = Announcements()
    w = world(notifier=notes)
    cid = cluster_id()
    c = ClusterId.parse(cid)
    w.clusters.add(cid)
    w.settle(cid)
    recreate(w, cid)
    w.endpoints.ip = "10.1.0.9"
    w.settle(cid)  # asked for 10.1.0.4 again
    assert w.endpoints.created_in[-1][1] == "10.1.0.4" and w.endpoints.endpoints[c.endpoint_name].static_ip == "10.1.0.4"
    w.endpoints.endpoints[c.endpoint_name] = replace(w.endpoints.endpoints[c.endpoint_name], provisioning_state="Failed")
    w.endpoints.taken.add("10.1.0.4")  # what Azure said late, by failing the endpoint
    assert w.settle(cid).phase is Phase.READY
    assert w.endpoints.created_in[-1][1] is None and row(w, cid).stable_ip == "10.1.0.5"
    assert not row(w, cid).stable_ip_failed and notes.kinds() == ["link.ip_changed"]


def test_with_the_stable_ip_off_nothing_is_asked_for_or_kept():
    w = world(stable_ip=False)
    cid = cluster_id()
    w.clusters.add(cid)
    w.settle(cid)
    recreate(w, cid)
    w.settle(cid)
    assert [s for _, s in w.endpoints.created_in] == [None, None] and row(w, cid).stable_ip is None


# -- hub capacity --------------------------------------------------------------------------------------
SUBNETS = tuple(f"{HUB_RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/s{i}" for i in range(2))


def test_new_links_take_the_first_subnet_with_room_and_wait_when_none_has():
    notes = Announcements()
    w = world(notifier=notes, hubs={"westeurope": Hub("westeurope", SUBNETS[0], ZONE_ID, subnet_ids=SUBNETS)})
    w.endpoints.used = {SUBNETS[0]: 3, SUBNETS[1]: 1}  # /29s: 3 addresses each
    cid = cluster_id("a")
    w.clusters.add(cid)
    assert w.settle(cid).phase is Phase.READY and row(w, cid).subnet_id == SUBNETS[1]
    assert notes.kinds() == ["hub.capacity_low"]  # 5 of 6 once this one has its address
    w.endpoints.used = {SUBNETS[0]: 3, SUBNETS[1]: 3}
    late = cluster_id("b")
    w.clusters.add(late)
    for _ in range(2):
        outcome = w.settle(late)
        assert outcome.phase is Phase.PENDING and "no room in the hub for westeurope" in outcome.message
        assert outcome.requeue_after is None and row(w, late).next_attempt_at is not None
    assert notes.kinds() == ["hub.capacity_low", "hub.capacity_exhausted"]
    assert w.endpoints.calls.count("begin_create") == 1
    w.endpoints.used = {SUBNETS[0]: 2, SUBNETS[1]: 3}  # an endpoint was deleted
    assert w.settle(late).phase is Phase.READY and row(w, late).subnet_id == SUBNETS[0]


def test_a_link_keeps_its_subnet_and_a_role_without_vnet_read_uses_the_first():
    w = world(hubs={"westeurope": Hub("westeurope", SUBNETS[0], ZONE_ID, subnet_ids=SUBNETS)})
    w.endpoints.room_error = TerminalError("forbidden", code="AuthorizationFailed", status=403)
    cid = cluster_id()
    w.clusters.add(cid)
    assert w.settle(cid).phase is Phase.READY and row(w, cid).subnet_id == SUBNETS[0]
    w.endpoints.room_error = TerminalError("other", code="Boom", status=400)
    recreate(w, cid)
    assert w.settle(cid).phase is Phase.READY, "a recreated endpoint does not read the room again"


def test_a_full_subnet_at_create_time_chooses_again():
    w = world(hubs={"westeurope": Hub("westeurope", SUBNETS[0], ZONE_ID, subnet_ids=SUBNETS)})
    cid = cluster_id()
    w.clusters.add(cid)
    original = w.endpoints.begin_create

    def full_once(*args, **kw):
        w.endpoints.begin_create = original
        raise TerminalError("full", code="SubnetIsFull", status=400)

    w.endpoints.begin_create = full_once
    outcome = w.settle(cid)
    assert outcome.error and row(w, cid).subnet_id is None and row(w, cid).last_error_code == "SubnetIsFull"
    assert w.settle(cid).phase is Phase.READY


def test_levels():
    rooms = [SubnetRoom("s0", "10.0.0.0/29", 2, "v", 2, 1000), SubnetRoom("s1", "10.0.1.0/28", 0, "v", 2, 1000)]
    assert [r.total for r in rooms] == [3, 11] and level(rooms, rooms[0]) == "ok"
    assert level(rooms, None) == "exhausted" and current_level(rooms) == "ok"
    assert not replace(rooms[1], vnet_endpoints=1000).has_room and SubnetRoom("x", "10.0.0.0/30", 0, "v", 0, 9).total == 0
    assert rises(None, "low") and rises("low", "exhausted") and not rises("exhausted", "low") and not rises(None, "ok")


# -- settings and cards --------------------------------------------------------------------------------
def test_hub_settings_take_subnet_lists_and_a_private_zone():
    from tests.test_config import GOOD

    hubs = json.loads(GOOD["HUBLINK_HUBS"])
    first = hubs["westeurope"]["subnetId"]
    hubs["westeurope"]["subnetIds"] = [first, first.replace("/subnets/s", "/subnets/t")]
    hub = parse_settings(dict(GOOD, HUBLINK_HUBS=json.dumps(hubs))).hubs["westeurope"]
    assert hub.subnets == (first, first.replace("/subnets/s", "/subnets/t")) and hub.subnet_id == first
    assert hub.private_zone.endswith("/privateDnsZones/private.westeurope.azmk8s.io")
    single = parse_settings(GOOD)
    assert single.hubs["westeurope"].subnets == (first,) and single.stable_ip == "on" and single.endpoints_per_vnet == 1000
    for bad, text in (
        ({"subnetIds": "x"}, "subnetIds must be a JSON list"),
        ({"subnetIds": ["nope"]}, "is not a subnet resource id"),
        ({"vnetIntegrationDnsZoneId": ZONE_ID}, "expected private.westeurope.azmk8s.io"),
    ):
        broken = json.loads(GOOD["HUBLINK_HUBS"])
        broken["westeurope"].update(bad)
        with pytest.raises(ConfigurationError, match=text):
            parse_settings(dict(GOOD, HUBLINK_HUBS=json.dumps(broken)))
    with pytest.raises(ConfigurationError, match="HUBLINK_STABLE_IP"):
        parse_settings(dict(GOOD, HUBLINK_STABLE_IP="maybe"))


def test_the_new_notices_have_cards_that_say_what_to_do():
    for kind, fields, words in (
        ("link.ip_changed", {"previousPrivateIp": "10.1.0.4", "newPrivateIp": "10.1.0.5"}, "10.1.0.4"),
        ("hub.capacity_low", {"hubRegion": "westeurope", "used": 5, "total": 6}, "5 of 6"),
        ("hub.capacity_exhausted", {"hubRegion": "westeurope", "used": 6, "total": 6}, "no hub subnet"),
    ):
        card = adaptive_card({"type": kind, "clusterName": "aks1", "region": "westeurope", **fields})
        text = json.dumps(card).lower()
        assert card["body"][0]["items"][0]["text"] != kind and words.lower() in text, kind
