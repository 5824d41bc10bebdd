"""`hublink doctor` against devcloud: a healthy world passes (exit 0); each way onboarding goes wrong
is reported with its evidence and its fix (exit 1): a spoke role lacking one action, a spoke with
no Event Grid subscription, an unconsented tenant, a hub zone not linked, a full hub subnet, a
cluster that cannot be linked. A devcloud of its own: these tests change its world."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import pytest

from devcloud.cloud import DevCloud
from devcloud.world import HUB_TENANT, RoleAssignment, RoleDefinition
from shared.config import parse_settings
from shared.doctor.needs import HUB_ACTIONS, SPOKE_ACTIONS, granted
from shared.errors import SubscriptionNotConfigured
from shared.events import subscription_filter
from shared.service import Service
from stack.world import HUB_ROLE_ACTIONS, PRODUCT_APP, SPOKE_ROLE, SPOKE_ROLE_ACTIONS, product_world
from tests.support import SPOKE_SUBSCRIPTION_A, SPOKE_SUBSCRIPTION_B1, Operator, fast_lros, product_env, wait_for

SPOKE_B2 = "20000000-0000-4000-8000-0000000000b2"
WEBHOOK = "/runtime/webhooks/eventgrid"


@pytest.fixture(scope="module")
def world():
    cloud = DevCloud(product_world()).start()
    fast_lros(cloud)
    yield cloud
    cloud.stop()
    assert cloud.errors == [], cloud.errors


@pytest.fixture(scope="module")
def app(world):
    """An HTTPS endpoint that passes Event Grid's handshake, standing in for the function app."""
    from devcloud.sink import Sink

    sink = Sink(world.certs).start()
    yield sink
    sink.stop()


@pytest.fixture
def healthy(world, app) -> Iterator[DevCloud]:
    """Every spoke subscribed to the app's events, as infra/spoke.bicep (and stack/) subscribes it."""
    wanted = subscription_filter()
    for spoke in world.world.spokes:
        world.eventgrid.add_subscription(
            spoke["subscription_id"],
            "hublink-clusters",
            f"{app.url}{WEBHOOK}?functionName=on_cluster_event&code=k",
            included_event_types=wanted["includedEventTypes"],
            advanced_filters=[{"operatorType": "StringIn", "key": "data.operationName", "values": wanted["operationNames"]}],
        )
    yield world
    world.eventgrid.reset()


@pytest.fixture
def doctor(world, app, azurite):
    def run(subscription: str | None = None):
        env = product_env(world, azurite, HUBLINK_API_BASE_URL=app.url)
        return Service.from_settings(parse_settings(env)).doctor(subscription)

    return run


def failures(report) -> list:
    return [c for c in report.checks if not c.ok]


def test_the_doctor_asks_for_what_infra_grants_and_devcloud_enforces():
    from tests.test_infra import role_actions

    assert list(HUB_ACTIONS) == HUB_ROLE_ACTIONS == role_actions("main.bicep")
    assert list(SPOKE_ACTIONS) == SPOKE_ROLE_ACTIONS == role_actions("spoke.bicep")


def test_permissions_follow_arms_rule_for_not_actions():
    # Microsoft's docs' example answer (tests/devcloud/recordings/authorization_permissions.json)
    from pathlib import Path

    recorded = json.loads((Path(__file__).parent / "devcloud/recordings/authorization_permissions.json").read_text())
    entries = recorded["body"]["value"]
    assert granted(entries, "Microsoft.Network/privateEndpoints/write")
    assert not granted(entries, "Microsoft.Authorization/roleAssignments/write")
    assert granted(entries, "Microsoft.Authorization/roleAssignments/read")  # the second entry's */read


def test_a_healthy_world_passes(healthy, doctor):
    cluster = Operator(healthy).create_cluster(subscription=SPOKE_SUBSCRIPTION_B1)
    report = doctor()
    assert failures(report) == [] and report.exit_code == 0, report.text()
    body = report.public()
    assert body["ok"] is True and body["summary"]["failed"] == 0
    kinds = {(c["scope"], c["name"]) for c in body["checks"]}
    assert {("hub", "token"), ("hub", "permissions"), ("hub", "zone"), ("hub", "subnet")} <= kinds
    assert {("spoke", "token"), ("spoke", "permissions"), ("spoke", "event-grid"), ("cluster", "cluster")} <= kinds
    spokes = {c["subject"] for c in body["checks"] if c["scope"] == "spoke"}
    assert spokes == {s["subscription_id"] for s in healthy.world.spokes}
    [mine] = [c for c in body["checks"] if c["subject"].lower() == cluster.lower()]
    assert mine["evidence"] == "path private-link, DNS mode system: will link"
    zones = [c for c in body["checks"] if c["name"] == "zone"]
    assert zones and all("is linked to" in c["evidence"] for c in zones)
    Operator(healthy).delete_cluster(cluster)


def test_a_spoke_role_lacking_one_action(healthy, doctor):
    world = healthy.world
    saved = copy.deepcopy(world.assignments)
    approve = "Microsoft.ContainerService/managedClusters/privateEndpointConnections/write"
    lacking = [a for a in SPOKE_ROLE_ACTIONS if a != approve]
    world.roles["Spoke Approver (old)"] = RoleDefinition("Spoke Approver (old)", lacking)
    world.assignments = [
        a for a in world.assignments if not (a.principal == PRODUCT_APP and a.role == SPOKE_ROLE and SPOKE_B2 in a.scope)
    ]
    world.assignments.append(RoleAssignment(PRODUCT_APP, "Spoke Approver (old)", f"/subscriptions/{SPOKE_B2}"))
    try:
        report = doctor()
    finally:
        world.assignments = saved
    [bad] = failures(report)
    assert (bad.scope, bad.subject, bad.name) == ("spoke", SPOKE_B2, "permissions")
    assert bad.evidence.endswith("lacks Microsoft.ContainerService/managedClusters/privateEndpointConnections/write")
    assert "infra/spoke.bicep" in bad.fix and report.exit_code == 1


def test_a_spoke_with_no_event_grid_subscription(healthy, doctor):
    healthy.eventgrid.remove_subscription(SPOKE_SUBSCRIPTION_A, "hublink-clusters")
    report = doctor()
    [bad] = failures(report)
    assert (bad.scope, bad.subject, bad.name) == ("spoke", SPOKE_SUBSCRIPTION_A, "event-grid")
    assert "has no event subscription with the cluster filter" in bad.evidence
    assert "infra/spoke.bicep" in bad.fix and report.exit_code == 1


def test_a_spoke_subscribed_to_another_app(healthy, doctor, app):
    wanted = subscription_filter()
    healthy.eventgrid.add_subscription(
        SPOKE_SUBSCRIPTION_A, "hublink-clusters", f"{app.url}/elsewhere{WEBHOOK}?code=k",
        included_event_types=wanted["includedEventTypes"],
    )  # fmt: skip
    [bad] = failures(doctor(SPOKE_SUBSCRIPTION_A))
    assert bad.name == "event-grid" and f"to {app.url}{WEBHOOK}" in bad.evidence


def test_an_unconsented_tenant(healthy, doctor):
    product = next(a for a in healthy.world.applications if a.name == PRODUCT_APP)
    saved, product.tenants = product.tenants, [HUB_TENANT]
    try:
        report = doctor()
    finally:
        product.tenants = saved
    bad = failures(report)
    spoke_tenant = {s["subscription_id"] for s in healthy.world.spokes if s["tenant_id"] != HUB_TENANT}
    assert {c.subject for c in bad} == spoke_tenant and {c.name for c in bad} == {"token"}
    assert all("AADSTS700016" in c.evidence and "az ad sp create --id" in c.fix for c in bad)
    assert report.exit_code == 1


def test_a_hub_zone_not_linked(healthy, doctor):
    zone_id = healthy.world.hub["dns_zones"]["northeurope"]
    zone = healthy.providers["privatedns"].zones[zone_id.lower()]
    saved, zone.links = zone.links, {}
    try:
        report = doctor()
    finally:
        zone.links = saved
    [bad] = failures(report)
    assert (bad.scope, bad.subject, bad.name) == ("hub", zone_id, "zone")
    assert "is not linked to" in bad.evidence and "vnet-hub" in bad.evidence
    assert bad.fix.startswith("az network private-dns link vnet create --zone-name privatelink.northeurope.azmk8s.io")


def test_a_full_hub_subnet(healthy, doctor):
    op = Operator(healthy)
    cluster = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_B1)
    [subnet] = [s for s in healthy.world.subnets if s.id == healthy.world.hub["subnet_id"]]
    saved, subnet.prefix = subnet.prefix, "10.10.1.0/29"  # Azure's smallest: 3 usable addresses
    names = [op.create_foreign_endpoint(cluster).name for _ in range(3)]
    try:
        report = doctor()
    finally:
        for name in names:
            op.delete_endpoint(name)
        subnet.prefix = saved
        op.delete_cluster(cluster)
    [bad] = failures(report)
    assert (bad.scope, bad.name) == ("hub", "subnet")
    assert bad.evidence.endswith("10.10.1.0/29: 3 of 3 addresses used, 0 free (full)")
    assert bad.fix.startswith("add a subnet to the region's hub in HUBLINK_HUBS") and report.exit_code == 1


def test_a_cluster_that_cannot_be_linked(healthy, doctor):
    op = Operator(healthy)
    cluster = op.create_cluster(subscription=SPOKE_B2, region="eastus")
    try:
        report = doctor(SPOKE_B2)
    finally:
        op.delete_cluster(cluster)
    [bad] = failures(report)
    assert (bad.scope, bad.subject, bad.name) == ("cluster", cluster, "cluster")
    assert bad.evidence == "path private-link, DNS mode system: cannot link because no hub is configured for region eastus"
    assert bad.fix.startswith("add eastus to HUBLINK_HUBS") and report.exit_code == 1
    assert {c.scope for c in report.checks} == {"spoke", "cluster"}  # --subscription: that spoke only


def test_an_unknown_subscription_is_a_clear_error(doctor):
    with pytest.raises(SubscriptionNotConfigured, match="is not a configured spoke"):
        doctor("99999999-0000-4000-8000-000000000000")


def test_the_cli_prints_json_and_exits_with_the_verdict(healthy, app, azurite, monkeypatch, capsys):
    from shared.__main__ import main
    from shared.runtime import reset_runtime

    for name, value in product_env(healthy, azurite, HUBLINK_API_BASE_URL=app.url).items():
        monkeypatch.setenv(name, value)
    reset_runtime()
    try:
        assert main(["doctor", "--json"]) == 0
        body = json.loads(capsys.readouterr().out)
        assert body["ok"] is True and body["summary"]["checks"] == len(body["checks"]) > 0
        assert set(body["checks"][0]) == {"scope", "subject", "name", "ok", "evidence", "fix"}
        healthy.eventgrid.remove_subscription(SPOKE_B2, "hublink-clusters")
        assert main(["doctor", "--subscription", SPOKE_B2]) == 1
        text = capsys.readouterr().out
        assert f"FAIL spoke   event-grid  {SPOKE_B2}:" in text and "     fix: deploy infra/spoke.bicep" in text
        assert main(["doctor", "--subscription", "99999999-0000-4000-8000-000000000000"]) == 2
        assert "is not a configured spoke" in capsys.readouterr().err
    finally:
        reset_runtime()


def test_the_readme_documents_the_json_the_doctor_prints(healthy, doctor):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    documented = json.loads(readme.split("<!-- doctor-json -->\n```json\n", 1)[1].split("```", 1)[0])
    body = doctor().public()
    assert set(documented) == set(body) and set(documented["summary"]) == set(body["summary"])
    assert {tuple(sorted(c)) for c in documented["checks"]} == {tuple(sorted(c)) for c in body["checks"]}


def test_the_access_path_says_why_it_cannot_link(healthy, doctor):
    op = Operator(healthy)
    cluster = op.create_vnet_cluster(subscription=SPOKE_SUBSCRIPTION_B1, managed_vnet=True)
    try:
        report = doctor(SPOKE_SUBSCRIPTION_B1)
    finally:
        op.delete_cluster(cluster)
    [bad] = failures(report)
    assert (bad.scope, bad.subject.lower(), bad.name) == ("cluster", cluster.lower(), "cluster")
    assert bad.evidence.startswith("path vnet-integration, DNS mode system: cannot link because ")
    assert bad.fix and "What to do" not in bad.evidence and report.exit_code == 1


def test_deliveries_that_all_fail(healthy, doctor, app):
    """Event Grid's metrics for our subscription: attempts failing with no success fail the check."""
    op = Operator(healthy)
    healthy.eventgrid.time_scale = 0.001  # Event Grid's retry schedule in milliseconds
    app.fail_next(500, count=1000)
    cluster = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_A)
    try:
        wait_for(lambda: any(d.outcome != "Succeeded" for d in healthy.eventgrid.deliveries), what="a failed delivery")
        report = doctor(SPOKE_SUBSCRIPTION_A)
    finally:
        app.clear()
        op.delete_cluster(cluster)
    [bad] = [c for c in failures(report) if c.name == "event-grid"]
    assert "delivery attempts failed and none succeeded in 24 h" in bad.evidence
    assert bad.fix.startswith("check the function app answers its Event Grid webhook")


def test_deliveries_that_arrive_are_reported(healthy, doctor):
    op = Operator(healthy)
    cluster = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_A)
    try:
        wait_for(lambda: any(d.outcome == "Succeeded" for d in healthy.eventgrid.deliveries), what="a delivery")
        [check] = [c for c in doctor(SPOKE_SUBSCRIPTION_A).checks if c.name == "event-grid"]
    finally:
        op.delete_cluster(cluster)
    assert check.ok and " delivered in 24 h, the last in the hour from " in check.evidence
