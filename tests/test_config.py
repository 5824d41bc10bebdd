"""Settings are validated once, and every problem is reported at the same time."""

from __future__ import annotations

import json

import pytest

from shared.config import SETTINGS, parse_settings
from shared.errors import ConfigurationError

SUB = "20000000-0000-4000-8000-0000000000b1"
TENANT = "b2b2b2b2-0000-4000-8000-000000000002"
HUB_RG = "/subscriptions/10000000-0000-4000-8000-0000000000a1/resourceGroups/rg-hub"
GOOD = {
    "HUBLINK_HUB_TENANT_ID": "a1a1a1a1-0000-4000-8000-000000000001",
    "HUBLINK_HUBS": json.dumps(
        {
            "westeurope": {
                "subnetId": f"{HUB_RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
                "dnsZoneId": f"{HUB_RG}/providers/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io",
            }
        }
    ),
    "HUBLINK_SPOKES": json.dumps({SUB: TENANT}),
    "HUBLINK_CLIENT_ID": "c0c0c0c0-0000-4000-8000-00000000b001",
    "HUBLINK_MANAGED_IDENTITY_CLIENT_ID": "c0c0c0c0-0000-4000-8000-00000000e001",
    "AzureWebJobsStorage__tableServiceUri": "https://st.table.core.windows.net",
}


def test_valid_settings_parse_with_defaults():
    s = parse_settings(GOOD)
    assert s.credential == "managed_identity" and s.approval == "auto" and s.selection == "opt-out"
    hub = s.hub_for("West Europe")
    assert hub is not None and hub.zone_name == "privatelink.westeurope.azmk8s.io"
    assert hub.subscription_id == "10000000-0000-4000-8000-0000000000a1" and hub.resource_group == "rg-hub"
    assert s.tenant_of(SUB.upper()) == TENANT
    assert s.hub_for("eastus") is None
    with pytest.raises(AttributeError):
        s.approval = "manual"  # frozen


def test_every_problem_is_listed_at_once():
    env = dict(
        GOOD,
        HUBLINK_HUB_TENANT_ID="not-a-guid",
        HUBLINK_HUBS="{oops",
        HUBLINK_APPROVAL="sometimes",
        HUBLINK_CONCURRENCY="many",
        HUBLINK_ARM_ENDPOINT="http://insecure",
    )
    del env["HUBLINK_CLIENT_ID"]
    with pytest.raises(ConfigurationError) as err:
        parse_settings(env)
    problems = err.value.problems
    assert len(problems) == 6, problems
    text = str(err.value)
    for name in (
        "HUBLINK_HUB_TENANT_ID",
        "HUBLINK_HUBS",
        "HUBLINK_APPROVAL",
        "HUBLINK_CONCURRENCY",
        "HUBLINK_ARM_ENDPOINT",
        "HUBLINK_CLIENT_ID",
    ):
        assert name in text


def test_hub_zone_must_match_its_region():
    hubs = json.loads(GOOD["HUBLINK_HUBS"])
    hubs["northeurope"] = hubs["westeurope"]
    with pytest.raises(ConfigurationError, match="expected privatelink.northeurope.azmk8s.io"):
        parse_settings(dict(GOOD, HUBLINK_HUBS=json.dumps(hubs)))


def test_secret_mode_needs_a_secret_and_storage_is_required():
    env = dict(GOOD, HUBLINK_CREDENTIAL="client_secret")
    del env["AzureWebJobsStorage__tableServiceUri"]
    with pytest.raises(ConfigurationError) as err:
        parse_settings(env)
    assert any("HUBLINK_CLIENT_SECRET" in p for p in err.value.problems)
    assert any("AzureWebJobsStorage" in p for p in err.value.problems)


def test_every_required_setting_is_declared():
    assert {n for n, s in SETTINGS.items() if s.required} == {
        "HUBLINK_HUB_TENANT_ID",
        "HUBLINK_HUBS",
        "HUBLINK_SPOKES",
        "HUBLINK_CLIENT_ID",
    }


def test_the_readme_table_is_the_declared_settings():
    import pathlib

    from shared.settings import markdown_table

    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("<!-- settings:start", 1)[1].split("-->", 1)[1].split("<!-- settings:end -->", 1)[0]
    assert block.strip() == markdown_table(), "README out of date: python -m shared settings"


def test_defaults_come_from_the_declarations():
    from dataclasses import fields

    from shared.config import Settings
    from shared.settings import BY_FIELD

    s = parse_settings(GOOD)
    for f in fields(Settings):
        declared = BY_FIELD.get(f.name)
        assert declared is not None, f"Settings.{f.name} is not declared in shared/settings.py"
        if declared.default is not None:
            assert f.default == declared.default and getattr(s, f.name) == declared.default, f.name
    assert SETTINGS["HUBLINK_TIMER_SCHEDULE"].default == "0 */5 * * * *"


def test_bounds_are_enforced_from_the_declarations():
    with pytest.raises(ConfigurationError) as err:
        parse_settings(dict(GOOD, HUBLINK_NOTIFY_TIMEOUT_S="0.01", HUBLINK_TIMER_SCHEDULE="every minute"))
    assert any("HUBLINK_NOTIFY_TIMEOUT_S must be at least 0.1" in p for p in err.value.problems)
    assert any("HUBLINK_TIMER_SCHEDULE" in p for p in err.value.problems)


def test_pls_subnets_and_the_vnet_integration_zone_are_validated():
    vnet = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-aks"
    hubs = json.loads(GOOD["HUBLINK_HUBS"])
    zone = f"{HUB_RG}/providers/Microsoft.Network/privateDnsZones/private.westeurope.azmk8s.io"
    good = dict(
        GOOD,
        HUBLINK_HUBS=json.dumps({"westeurope": {**hubs["westeurope"], "vnetIntegrationDnsZoneId": zone}}),
        HUBLINK_PLS_SUBNETS=json.dumps({vnet: f"{vnet}/subnets/snet-pls"}),
    )
    s = parse_settings(good)
    assert s.pls_subnets == {vnet.lower(): f"{vnet}/subnets/snet-pls"} and s.hub_for("westeurope").private_zone_id == zone
    assert parse_settings(GOOD).pls_subnets == {} and parse_settings(GOOD).hub_for("westeurope").private_zone_id is None
    bad = dict(
        good,
        HUBLINK_HUBS=json.dumps(
            {"westeurope": {**hubs["westeurope"], "vnetIntegrationDnsZoneId": zone.replace("west", "north")}}
        ),
        HUBLINK_PLS_SUBNETS=json.dumps({vnet: f"{vnet.replace('vnet-aks', 'other')}/subnets/snet-pls", "x": 3}),
    )
    with pytest.raises(ConfigurationError) as err:
        parse_settings(bad)
    problems = err.value.problems
    assert len(problems) == 3, problems
    assert sum("HUBLINK_PLS_SUBNETS" in p for p in problems) == 2 and any("vnetIntegrationDnsZoneId" in p for p in problems)
