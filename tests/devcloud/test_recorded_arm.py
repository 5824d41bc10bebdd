"""ARM as its clients see it: tenant-level reads, cloud metadata, api-version checks, 401 challenges, buckets.

The provider registration is compared with the one recorded in Azure PowerShell's session record
(tests/devcloud/recordings/network_provider.json); error texts follow ARM's recorded formats.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from devcloud.world import HUB_SUBSCRIPTION, HUB_TENANT, SPOKE_SUBSCRIPTION_A, SPOKE_SUBSCRIPTION_B1, SPOKE_TENANT

SCOPE = "https://management.azure.com/.default"
RECORDINGS = Path(__file__).with_name("recordings")
PE = f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/rg-hub-network/providers/Microsoft.Network/privateEndpoints"


@pytest.fixture
def call(cloud, op):
    def run(method: str, path: str, api: str | None, *, tenant: str = HUB_TENANT, anonymous: bool = False,
            bearer: str | None = None, body=None) -> requests.Response:
        headers = {}
        if bearer or not anonymous:
            headers["Authorization"] = f"Bearer {bearer or op.credential(tenant).get_token(SCOPE).token}"
        params = {"api-version": api} if api else None
        return requests.request(method, f"{cloud.url}{path}", params=params, headers=headers, json=body,
                                verify=cloud.certs.ca_bundle, timeout=10)
    return run


def test_subscriptions_and_tenants_of_the_token(cloud, call):
    listed = call("GET", "/subscriptions", "2022-12-01").json()
    ids = {s["subscriptionId"] for s in listed["value"]}
    assert ids == {HUB_SUBSCRIPTION, SPOKE_SUBSCRIPTION_A} and listed["count"] == {"type": "Total", "value": 2}
    one = call("GET", f"/subscriptions/{HUB_SUBSCRIPTION}", "2022-12-01").json()
    assert set(one) == {"id", "authorizationSource", "managedByTenants", "tags", "subscriptionId", "tenantId",
                        "displayName", "state", "subscriptionPolicies"}
    assert (one["id"], one["tenantId"], one["state"]) == (f"/subscriptions/{HUB_SUBSCRIPTION}", HUB_TENANT, "Enabled")
    other = call("GET", f"/subscriptions/{SPOKE_SUBSCRIPTION_B1}", "2022-12-01")
    assert other.status_code == 401 and other.json()["error"]["code"] == "InvalidAuthenticationTokenTenant"
    unknown = call("GET", "/subscriptions/99999999-0000-4000-8000-000000000000", "2022-12-01")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "SubscriptionNotFound"
    tenants = call("GET", "/tenants", "2022-12-01").json()["value"]
    assert {t["tenantId"] for t in tenants} == {HUB_TENANT, SPOKE_TENANT}
    assert all(t["id"] == f"/tenants/{t['tenantId']}" for t in tenants)


def test_locations_and_providers(call):
    regions = call("GET", f"/subscriptions/{HUB_SUBSCRIPTION}/locations", "2022-12-01").json()["value"]
    west = next(r for r in regions if r["name"] == "westeurope")
    assert west["displayName"] == "West Europe" and west["type"] == "Region"
    recorded = json.loads((RECORDINGS / "network_provider.json").read_text(encoding="utf-8"))["response"]["body"]
    mine = call("GET", f"/subscriptions/{HUB_SUBSCRIPTION}/providers/Microsoft.Network", "2021-04-01").json()
    assert set(recorded) - {"authorizations"} <= set(mine)
    assert mine["namespace"] == recorded["namespace"] and mine["registrationState"] == "Registered"
    pe = next(t for t in mine["resourceTypes"] if t["resourceType"] == "privateEndpoints")
    assert set(pe) == set(recorded["resourceTypes"][0])
    assert set(recorded["resourceTypes"][0]["apiVersions"]) <= set(pe["apiVersions"])
    assert {"2026-03-01", "2026-01-01", "2024-05-01"} <= set(pe["apiVersions"])
    missing = call("GET", f"/subscriptions/{HUB_SUBSCRIPTION}/providers/Microsoft.Nope", "2021-04-01")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "InvalidResourceNamespace"


@pytest.mark.parametrize("api, shape", [("2022-09-01", dict), ("2019-05-01", list)])
def test_cloud_metadata_in_both_forms_az_reads(cloud, call, api, shape):
    resp = call("GET", "/metadata/endpoints", api, anonymous=True)
    assert resp.status_code == 200 and isinstance(resp.json(), shape)
    meta = resp.json() if shape is dict else resp.json()[0]
    assert meta["resourceManager"] == f"{cloud.url}/"
    assert meta["authentication"]["loginEndpoint"] == f"{cloud.url}/"
    assert meta["authentication"]["audiences"][0] == "https://management.core.windows.net/"
    bad = call("GET", "/metadata/endpoints", "2099-01-01", anonymous=True)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidApiVersionParameter"
    slashed = requests.get(f"{cloud.url}//metadata/endpoints", params={"api-version": api},
                           verify=cloud.certs.ca_bundle, timeout=10)
    assert slashed.status_code == 200


def test_api_versions_are_checked_per_resource_type(call):
    unknown = call("GET", PE, "2099-01-01")
    error = unknown.json()["error"]
    assert unknown.status_code == 400 and error["code"] == "NoRegisteredProviderFound"
    assert error["message"].startswith("No registered resource provider found for location 'westeurope' and API "
                                       "version '2099-01-01' for type 'privateEndpoints'. The supported api-versions "
                                       "are '2026-03-01, 2026-01-01, ")
    arm_own = call("GET", "/subscriptions", "2099-01-01")
    assert arm_own.status_code == 400 and arm_own.json()["error"]["code"] == "InvalidApiVersionParameter"
    dns_with_network_version = call("GET", f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/rg-hub-network/"
                                           "providers/Microsoft.Network/privateDnsZones/privatelink.westeurope."
                                           "azmk8s.io/A/x", "2026-03-01")
    assert dns_with_network_version.json()["error"]["code"] == "NoRegisteredProviderFound"


@pytest.mark.parametrize("path, api", [
    (PE, "2026-03-01"),  # azure-mgmt-network 33.1.0
    (PE, "2026-01-01"),  # azure-cli 2.91's aaz network commands
    (f"/subscriptions/{SPOKE_SUBSCRIPTION_A}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/"
     "managedClusters", "2026-08-01"),  # azure-mgmt-containerservice 41.8.0
    (f"/subscriptions/{SPOKE_SUBSCRIPTION_A}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/"
     "managedClusters", "2025-10-01"),  # shared/aks.py
    (f"/subscriptions/{SPOKE_SUBSCRIPTION_A}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/"
     "managedClusters", "2026-06-01"),  # azure-cli 2.91's aks commands
    (f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/rg-hub-network/providers/Microsoft.Network/privateDnsZones/"
     "privatelink.westeurope.azmk8s.io/A", "2024-06-01"),  # shared/dns.py
    (f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/rg-hub-network/providers/Microsoft.Network/privateDnsZones/"
     "privatelink.westeurope.azmk8s.io/A", "2018-09-01"),  # azure-cli 2.91's private-dns commands
    ("/subscriptions", "2022-12-01"),  # azure-cli 2.91's az login
])
def test_the_versions_the_pinned_clients_send_are_accepted(call, path, api):
    tenant = HUB_TENANT
    assert call("GET", path, api, tenant=tenant).status_code == 200


def test_a_401_carries_the_bearer_challenge(cloud, call):
    for resp in (call("GET", PE, "2026-03-01", anonymous=True), call("GET", PE, "2026-03-01", bearer="not-a-jwt")):
        assert resp.status_code == 401
        challenge = resp.headers["WWW-Authenticate"]
        assert challenge.startswith(f'Bearer authorization_uri="{cloud.url}/", error="invalid_token"')
    assert call("GET", PE, "2026-03-01", anonymous=True).json()["error"]["code"] == "AuthenticationFailed"


def test_post_actions_spend_the_write_bucket_and_say_so(cloud, call, op):
    cluster_id = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_A)
    path = cluster_id.replace("/resourcegroups/", "/resourceGroups/")
    before = int(call("PUT", f"{path}/privateEndpointConnections/none", "2025-10-01",
                      body={"properties": {}}).headers["x-ms-ratelimit-remaining-subscription-writes"])
    stop = call("POST", f"{path}/stop", "2025-10-01")
    assert stop.status_code == 202
    assert int(stop.headers["x-ms-ratelimit-remaining-subscription-writes"]) < before
    assert "x-ms-ratelimit-remaining-subscription-actions" not in stop.headers
    op.delete_cluster(cluster_id)


def _template(message: str) -> str:
    """The message with its quoted values (versions, types, locations) blanked out."""
    return re.sub(r"'[^']*'", "'…'", message)


def test_api_version_errors_read_as_arm_writes_them(call):
    quoted = json.loads((RECORDINGS / "arm_api_version_errors.json").read_text(encoding="utf-8"))["errors"]
    by_code = {e["code"]: e for e in quoted}
    for path in (PE, "/subscriptions"):
        resp = call("GET", path, "2099-01-01")
        error = resp.json()["error"]
        recorded = by_code[error["code"]]
        assert resp.status_code == recorded["status"]
        assert _template(error["message"]) == _template(recorded["message"])


def test_an_unknown_type_in_a_served_namespace_is_arms_invalid_resource_type(call):
    resp = call("GET", f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/rg-hub-network/providers/"
                       "Microsoft.Network/fooBars/x", "2026-03-01")
    assert resp.status_code == 404 and resp.json()["error"] == {
        "code": "InvalidResourceType",
        "message": "The resource type 'fooBars' could not be found in the namespace 'Microsoft.Network' for api "
                   "version '2026-03-01'."}


def test_tenants_and_subscriptions_read_as_recorded(call):
    """GET /tenants and /subscriptions (az login makes both) against Azure PowerShell's recording."""
    from tests.devcloud.test_recorded import compare

    rec = {i["name"]: i for i in json.loads((RECORDINGS / "arm_tenants_subscriptions.json").read_text(
        encoding="utf-8"))["interactions"]}
    api = rec["tenants"]["request"]["api_version"]
    answers = {"tenants": call("GET", "/tenants", api), "subscriptions": call("GET", "/subscriptions", api)}
    problems = [d for n, resp in answers.items() for d in compare("arm_tenants_subscriptions", rec[n], resp, api)]
    assert problems == [], "\n".join(problems)
    assert "x-ms-ratelimit-remaining-subscription-reads" not in answers["subscriptions"].headers


def test_one_subscription_reads_as_recorded(call):
    from tests.devcloud.test_recorded import compare

    rec = json.loads((RECORDINGS / "arm_subscription.json").read_text(encoding="utf-8"))["interactions"][0]
    api = rec["request"]["api_version"]
    problems = compare("arm_subscription", rec, call("GET", f"/subscriptions/{HUB_SUBSCRIPTION}", api), api)
    assert problems == [], "\n".join(problems)


def test_locations_read_as_recorded(call):
    from tests.devcloud.test_recorded import body_differences, compare

    rec = json.loads((RECORDINGS / "arm_locations.json").read_text(encoding="utf-8"))["interactions"][0]
    api = rec["request"]["api_version"]
    resp = call("GET", f"/subscriptions/{HUB_SUBSCRIPTION}/locations", api)
    west = {"value": [r for r in resp.json()["value"] if r["name"] == "westeurope"]}
    problems = compare("arm_locations", rec, resp, api, body=west)
    assert problems == [], "\n".join(problems)
    assert body_differences(rec["response"]["body"]["value"][0], west["value"][0]) == []
