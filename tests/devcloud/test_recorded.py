"""devcloud against real recorded Azure traffic (tests/devcloud/recordings/*.json, each with its source).

Each recording is replayed as the same kind of request to devcloud and the answers compared on
what a client reads:
- the status code;
- the headers clients act on (Azure-AsyncOperation, Location, Retry-After, ETag, the
  x-ms-ratelimit-remaining-* of the recording): present in both or absent in both, with the
  same format (operation URL shape and its api-version, integer seconds, weak or bare etags);
- the body: every key of the recorded body exists in devcloud's answer with a value of the same
  format (an ARM id with the same segments and casing, a uuid, a timestamp, an fqdn, a version),
  and enumerations (provisioningState, status, type, error codes, ...) with the same value.
Where devcloud's target differs from the recording's by design, the difference is named in
`EXPECTED` with the reason; headers a recording's recorder filtered out (`RECORDER_FILTERED`) are
compared only where the recording has them. test_recorded_aks.py, test_recorded_network.py and
test_recorded_arm.py compare the other recordings with these helpers.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from devcloud.world import HUB_SUBSCRIPTION, SPOKE_SUBSCRIPTION_A

RECORDINGS = Path(__file__).with_name("recordings")
SCOPE = "https://management.azure.com/.default"
CLIENT_HEADERS = ("azure-asyncoperation", "location", "retry-after", "etag", "azure-asyncnotification")
ENUM_KEYS = {"provisioningState", "status", "type", "code", "privateIPAllocationMethod", "privateIPAddressVersion",
             "nicType", "networkPlugin", "outboundType", "privateDNSZone", "actionsRequired", "loadBalancerSku",
             "osType", "isAutoRegistered", "enablePrivateCluster", "primary", "enableRBAC", "maxPods",
             "maxAgentPools", "ttl"}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
FORMATS = (  # first match wins
    ("uuid", re.compile(f"^{UUID}$")),
    ("weak etag", re.compile(f'^W/"{UUID}"$')),
    ("timestamp", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")),
    ("version", re.compile(r"^\d+\.\d+(\.\d+)?$")),
    ("cidr", re.compile(r"^\d+\.\d+\.\d+\.\d+/\d+$")),
    ("ipv4", re.compile(r"^\d+\.\d+\.\d+\.\d+$")),
    ("absolute fqdn", re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+\.$")),
    ("hostname", re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")),
)
# Differences by design: (recording, interaction, path) -> why.
EXPECTED = {
    ("network_private_endpoint", "create",
     "properties.privateLinkServiceConnections[].properties.privateLinkServiceId"):
        "the recording's endpoint targets a Private Link Service; devcloud's targets a managed cluster",
    ("network_private_endpoint", "create", "properties.privateLinkServiceConnections[].properties.groupIds"):
        "a Private Link Service has no groups; a managed cluster's endpoint names ['management']",
    ("network_private_endpoint", "get_nic",
     "properties.ipConfigurations[].properties.privateLinkConnectionProperties.fqdns"):
        "a Private Link Service has no FQDN; a cluster's endpoint NIC lists the privateFQDN",
    ("network_private_endpoint", "get_nic", "properties.ipConfigurations[].name"):
        "recorded in 2020 as privateEndpointIpConfig; endpoint NICs are named privateEndpointIpConfig.<guid> now",
    ("network_private_endpoint_manual", "get_pending",
     "properties.manualPrivateLinkServiceConnections[].properties.privateLinkServiceId"):
        "the recording's manual request targets a SQL server; the product's a managed cluster",
    ("network_private_endpoint_manual", "get_pending",
     "properties.manualPrivateLinkServiceConnections[].properties.groupIds"):
        "a SQL server's group is sqlServer; a managed cluster's management",
    ("network_load_balancer", "get", "properties.frontendIPConfigurations[].properties.publicIPAddress"):
        "the recorded lb1 is public; the kube-apiserver load balancer is internal (also compared with lb3, internal)",
    ("network_load_balancer", "list_by_group",
     "value[].properties.frontendIPConfigurations[].properties.privateIPAllocationMethod"):
        "lb3 was created with --private-ip-address (Static); AKS assigns the kube-apiserver frontend's address",
    ("arm_subscription", "subscription", "managedByTenants"):
        "the recorded subscription is managed from another tenant (Lighthouse); devcloud's subscriptions are not",
    ("arm_tenants_subscriptions", "subscriptions", "value[].managedByTenants"):
        "the recorded subscription is managed from another tenant (Lighthouse); devcloud's subscriptions are not",
    ("aks_list", "list_by_group", "value[].properties.agentPoolProfiles[].maxPods"):
        "the recorded create asked for --max-pods 100; devcloud's pool takes AKS's kubenet default, 110",
    ("aks_list", "list_by_group", "value[].properties.networkProfile.loadBalancerSku"):
        "Azure's casing varies: 'standard' in the PUT answer and the REST spec examples, 'Standard' in the recorded "
        "GET and list after it (2022); devcloud answers 'standard' throughout (the product does not read it)",
}
# Headers the vcr recorders of azure-cli and of the Python SDK's yaml recordings leave out of every recording
# (ReplayableTest.FILTER_HEADERS in src/azure-cli-testsdk/azure/cli/testsdk/scenario_tests/base.py, Azure/azure-cli
# commit 00462cdc, and in src/azure_devtools/scenario_tests/base.py, Azure/azure-sdk-for-python): their absence
# there says nothing about Azure. Azure PowerShell's records keep them: the reads header on every read (Network
# 2020, AKS 2025), the tenant one on tenant-level reads, Retry-After on Network's operations and on none of AKS's.
VCR_FILTERED = ("retry-after", "x-ms-ratelimit-remaining-subscription-reads", "x-ms-ratelimit-remaining-tenant-reads")
RECORDER_FILTERED = {"Azure/azure-cli": VCR_FILTERED, "Azure/azure-sdk-for-python": VCR_FILTERED}
# Headers Azure's recordings disagree on (present in some eras, absent in others): compared only where the
# recording has them.
VARIES: dict[str, str] = {
    f"x-ms-ratelimit-remaining-subscription-global-{kind}s":
        "ARM's global bucket, recorded next to the regional one since 2024 (Azure PowerShell's AKS session of "
        "2025-10; AKS-PRIVATE-MODES.md, section 6), absent from the older recordings; devcloud sends it on every answer"
    for kind in ("read", "write", "delete")}


def load(name: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))


# -- formats -----------------------------------------------------------------------------------------
def arm_id_shape(value: str) -> str | None:
    """`/subscriptions/*/resourceGroups/*/providers/NS/type/*/...`: the fixed segments, casing kept."""
    if not value.startswith("/subscriptions/") and not value.startswith("https://"):
        return None
    path = re.sub(r"^https://[^/]+", "", value)
    path, _, query = path.partition("?")
    parts = path.strip("/").split("/")
    out, i = [], 0
    while i < len(parts):
        if parts[i].lower() == "providers" and i + 1 < len(parts):
            out += [parts[i], parts[i + 1]]
            i += 2
            continue
        out.append(parts[i])
        if i + 1 < len(parts):
            out.append("*")
        i += 2
    api = re.search(r"api-version=([^&]+)", query)
    return "/" + "/".join(out) + (f"?api-version={api.group(1)}" if api else "")


def fmt(key: str, value: Any) -> str:
    if isinstance(value, bool) or key in ENUM_KEYS:
        return f"= {value!r}"
    if isinstance(value, str):
        shape = arm_id_shape(value)
        if shape:
            return f"id {shape}"
        return next((name for name, rx in FORMATS if rx.match(value) or rx.match(value.lower())), "string")
    return type(value).__name__


def body_differences(recorded: Any, actual: Any, path: str = "", key: str = "") -> list[str]:
    """Where devcloud's value lacks a recorded key or has another format (extra keys are allowed)."""
    where = path or "$"
    if isinstance(recorded, dict):
        if not isinstance(actual, dict):
            return [f"{where}: {type(actual).__name__} where the recording has an object"]
        out = []
        for name, value in recorded.items():
            sub = f"{path}.{name}" if path else name
            out += [f"{sub}: missing"] if name not in actual else body_differences(value, actual[name], sub, name)
        return out
    if isinstance(recorded, list):
        if not isinstance(actual, list):
            return [f"{where}: {type(actual).__name__} where the recording has a list"]
        if recorded and not actual:
            return [f"{where}: empty where the recording has items"]
        if not recorded and actual:
            return [f"{where}: {len(actual)} items where the recording has none"]
        return [d for item in actual for d in body_differences(recorded[0], item, f"{path}[]", key)]
    if fmt(key, recorded) != fmt(key, value := actual):
        return [f"{where}: {fmt(key, value)} where the recording has {fmt(key, recorded)}"]
    return []


def header_differences(recorded: dict[str, str], actual: requests.structures.CaseInsensitiveDict,
                       request_api: str, filtered: tuple[str, ...] = (), recorded_api: str | None = None) -> list[str]:
    """`filtered`: headers the recorder dropped, compared only where the recording has them.

    `request_api` is the api-version devcloud was sent, `recorded_api` the recorded request's (the
    same unless given): operation URLs must follow the same rule, the request's version or a fixed one.
    """
    wanted = {k.lower(): v for k, v in recorded.items()}
    names = set(CLIENT_HEADERS) | {k for k in wanted if k.startswith("x-ms-ratelimit")}
    names |= {k.lower() for k in actual if k.lower().startswith("x-ms-ratelimit")}
    out = []
    for name in sorted(names):
        if name in (*filtered, *VARIES) and name not in wanted:
            continue
        if (name in wanted) != (name in actual):
            out.append(f"{name}: {'missing' if name in wanted else 'present'} where the recording has it "
                       f"{'' if name in wanted else 'not'}".strip())
            continue
        if name not in wanted:
            continue
        mine, theirs = actual[name], wanted[name]
        if name in ("azure-asyncoperation", "location"):
            # Same path shape and casing; the api-version is the request's one or a fixed one in both.
            mine_shape, their_shape = arm_id_shape(mine), arm_id_shape(theirs)
            their_api = re.search(r"api-version=([^&]+)", theirs).group(1)
            mine_api = re.search(r"api-version=([^&]+)", mine).group(1)
            same_rule = (their_api == (recorded_api or request_api)) == (mine_api == request_api)
            if mine_shape.split("?")[0] != their_shape.split("?")[0] or not same_rule:
                out.append(f"{name}: {mine_shape} where the recording has {their_shape}")
        elif fmt(name, mine) != fmt(name, theirs) and not (mine.isdigit() and theirs.isdigit()):
            out.append(f"{name}: {mine!r} where the recording has {theirs!r}")
    return out


def compare(recording: str, interaction: dict[str, Any], resp: requests.Response, request_api: str,
            body: Any = None) -> list[str]:
    """The differences of `resp` from the recorded answer (`body`, if given, stands for resp's body)."""
    name = interaction["name"]
    rec = interaction["response"]
    out = []
    if resp.status_code != rec["status"]:
        out.append(f"status {resp.status_code} where the recording has {rec['status']}")
    filtered = RECORDER_FILTERED.get(load(recording).get("source", {}).get("repo", ""), ())
    out += header_differences(rec["headers"], resp.headers, request_api, filtered,
                              interaction.get("request", {}).get("api_version"))
    if rec["body"] is None:
        if resp.content:
            out.append(f"a body where the recording has none: {resp.text[:200]}")
    else:
        out += body_differences(rec["body"], resp.json() if body is None else body)
    return [f"{recording}/{name}: {d}" for d in out
            if not any(d.startswith(f"{recording}/{name}: {p}") or d.startswith(p) for (r, i, p) in EXPECTED
                       if (r, i) == (recording, name))]


# -- devcloud side -----------------------------------------------------------------------------------
class Arm:
    def __init__(self, cloud, op) -> None:
        self.cloud = cloud
        self.http = requests.Session()
        self.op = op

    def __call__(self, method: str, path: str, api: str, *, tenant: str | None = None, body: Any = None,
                 headers: dict[str, str] | None = None) -> requests.Response:
        tenant = tenant or self.cloud.world.hub["tenant_id"]
        token = self.op.credential(tenant).get_token(SCOPE).token
        url = path if path.startswith("https://") else f"{self.cloud.url}{path}"
        params = None if "api-version=" in url else {"api-version": api}
        return self.http.request(method, url, params=params, json=body, timeout=10, verify=self.cloud.certs.ca_bundle,
                                 headers={"Authorization": f"Bearer {token}", **(headers or {})})


@pytest.fixture
def arm(cloud, op) -> Arm:
    """devcloud's own Retry-After defaults (the `op` fixture's fast settings are restored after the test)."""
    cloud.arm.retry_after_s.pop("Microsoft.ContainerService", None)
    return Arm(cloud, op)


def wait_done(arm: Arm, url: str) -> None:
    deadline = time.monotonic() + 10
    while arm("GET", url, "").json()["status"] == "InProgress":
        assert time.monotonic() < deadline, f"operation {url} did not end"
        time.sleep(0.05)


def cluster_body(name: str) -> dict[str, Any]:
    return {"location": "westeurope", "properties": {
        "dnsPrefix": name, "agentPoolProfiles": [{"count": 1, "vmSize": "Standard_DS2_v2", "osType": "Linux",
                                                  "mode": "System", "name": "nodepool1"}],
        "apiServerAccessProfile": {"enablePrivateCluster": True}}}


# -- the comparisons ---------------------------------------------------------------------------------
def test_aks_private_cluster_create_poll_get_delete(cloud, arm):
    rec = {i["name"]: i for i in load("aks_private_cluster")["interactions"]}
    api = rec["create"]["request"]["api_version"]
    name = f"rec{uuid.uuid4().hex[:8]}"
    path = f"/subscriptions/{SPOKE_SUBSCRIPTION_A}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/" \
           f"managedClusters/{name}"
    cloud.arm.lro_seconds["managedClusters/create"] = 0.3
    cloud.arm.lro_seconds["managedClusters/delete"] = 0.3
    try:
        created = arm("PUT", path, api, body=cluster_body(name))
        answers = {"create": created, "poll_in_progress": arm("GET", created.headers["Azure-AsyncOperation"], "")}
        wait_done(arm, created.headers["Azure-AsyncOperation"])
        answers["poll_succeeded"] = arm("GET", created.headers["Azure-AsyncOperation"], "")
        answers["get"] = arm("GET", path, api)
        answers["delete"] = arm("DELETE", path, api)
        wait_done(arm, answers["delete"].headers["Azure-AsyncOperation"])
    finally:
        cloud.arm.lro_seconds.pop("managedClusters/create", None)
        cloud.arm.lro_seconds.pop("managedClusters/delete", None)
    problems = [d for n, resp in answers.items() for d in compare("aks_private_cluster", rec[n], resp, api)]
    assert problems == [], "\n".join(problems)


def test_aks_stop_polls_and_the_404_of_a_missing_cluster(cloud, arm, op):
    rec = {i["name"]: i for i in load("aks_stop_start")["interactions"]}
    cluster_id = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_A)
    cloud.arm.lro_seconds["managedClusters/stop"] = 0.3
    try:
        stopped = arm("POST", f"{cluster_id}/stop", "2025-10-01")
        assert stopped.status_code == 202 and "Retry-After" not in stopped.headers
        assert stopped.headers["x-ms-ratelimit-remaining-subscription-writes"].isdigit()
        answers = {"poll_in_progress": arm("GET", stopped.headers["Azure-AsyncOperation"], "")}
        wait_done(arm, stopped.headers["Azure-AsyncOperation"])
        answers["poll_succeeded"] = arm("GET", stopped.headers["Azure-AsyncOperation"], "")
    finally:
        cloud.arm.lro_seconds.pop("managedClusters/stop", None)
    missing = "/".join(cluster_id.split("/")[:-1]) + "/cliakstest000002"
    answers["get_missing"] = arm("GET", missing, rec["get_missing"]["request"]["api_version"])
    problems = [d for n, resp in answers.items() for d in compare("aks_stop_start", rec[n], resp, "2016-03-30")]
    assert problems == [], "\n".join(problems)
    recorded = rec["get_missing"]["response"]["body"]["error"]["message"].replace("clitest000001", "rg-aks")
    assert answers["get_missing"].json()["error"]["message"] == recorded
    op.delete_cluster(cluster_id)


def test_network_private_endpoint_create_poll_nic_delete(cloud, arm, op):
    rec = {i["name"]: i for i in load("network_private_endpoint")["interactions"]}
    api = rec["create"]["request"]["api_version"]
    cluster_id = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_A)
    name = f"pe-rec-{uuid.uuid4().hex[:6]}"
    path = f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/rg-hub-network/providers/Microsoft.Network/" \
           f"privateEndpoints/{name}"
    body = {"location": "westeurope", "properties": {
        "subnet": {"id": cloud.world.hub["subnet_id"]},
        "privateLinkServiceConnections": [{"name": "PrivateLinkServiceConnectionName", "properties": {
            "privateLinkServiceId": cluster_id, "groupIds": ["management"]}}],
        "manualPrivateLinkServiceConnections": [], "customDnsConfigs": []}}
    cloud.arm.lro_seconds["privateEndpoints/create"] = 0.2
    cloud.arm.lro_seconds["privateEndpoints/delete"] = 0.2
    try:
        created = arm("PUT", path, api, body=body)
        answers = {"create": created}
        wait_done(arm, created.headers["Azure-AsyncOperation"])
        answers["poll_succeeded"] = arm("GET", created.headers["Azure-AsyncOperation"], "")
        nic = arm("GET", path, api).json()["properties"]["networkInterfaces"][0]["id"]
        answers["get_nic"] = arm("GET", nic, api)
        answers["delete"] = arm("DELETE", path, api)
        wait_done(arm, answers["delete"].headers["Azure-AsyncOperation"])
        answers["delete_result"] = arm("GET", answers["delete"].headers["Location"], "")
    finally:
        cloud.arm.lro_seconds.pop("privateEndpoints/create", None)
        cloud.arm.lro_seconds.pop("privateEndpoints/delete", None)
    answers["get_missing"] = arm("GET", path, api)
    problems = [d for n, resp in answers.items() for d in compare("network_private_endpoint", rec[n], resp, api)]
    # The recording's 404 is for a virtual network; devcloud's for the deleted endpoint: same code, same text.
    problems = [p for p in problems if not p.startswith("network_private_endpoint/get_missing: error.message")]
    assert problems == [], "\n".join(problems)
    assert answers["get_missing"].json()["error"]["message"] == (
        f"The Resource 'Microsoft.Network/privateEndpoints/{name}' under resource group 'rg-hub-network' was not "
        "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")
    op.delete_cluster(cluster_id)


def test_private_dns_a_record_create_add_record_delete(cloud, arm):
    rec = {i["name"]: i for i in load("privatedns_a_record")["interactions"]}
    api = rec["create_empty"]["request"]["api_version"]
    zone = cloud.world.hub["dns_zones"]["westeurope"]
    path = f"{zone}/A/recordset{uuid.uuid4().hex[:6]}"
    answers = {"create_empty": arm("PUT", path, api, body=rec["create_empty"]["request"]["body"],
                                   headers=rec["create_empty"]["request"]["headers"])}
    answers["get"] = arm("GET", path, api)
    add = dict(rec["add_record"]["request"]["body"], etag=answers["get"].json()["etag"])
    answers["add_record"] = arm("PUT", path, api, body=add)
    answers["delete"] = arm("DELETE", path, api)
    problems = [d for n, resp in answers.items() for d in compare("privatedns_a_record", rec[n], resp, api)]
    assert problems == [], "\n".join(problems)
    assert answers["add_record"].headers["ETag"] == answers["add_record"].json()["etag"] != answers["get"].json()["etag"]


def test_the_comparison_itself_catches_differences():
    """A guard on the comparator: the differences this issue found would each be reported."""
    recorded = {"etag": 'W/"1912ea8e-831c-4f93-ad23-505b4056f27c"', "properties": {
        "customDnsConfigs": [], "provisioningState": "Updating",
        "id": "/subscriptions/x/resourcegroups/rg/providers/Microsoft.ContainerService/managedClusters/c"}}
    actual = {"etag": "1912ea8e-831c-4f93-ad23-505b4056f27c", "properties": {
        "customDnsConfigs": [{"fqdn": "a.b"}], "provisioningState": "Succeeded",
        "id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c"}}
    assert sorted(body_differences(recorded, actual)) == [
        "etag: uuid where the recording has weak etag",
        "properties.customDnsConfigs: 1 items where the recording has none",
        "properties.id: id /subscriptions/*/resourceGroups/*/providers/Microsoft.ContainerService/managedClusters/* "
        "where the recording has id /subscriptions/*/resourcegroups/*/providers/Microsoft.ContainerService/"
        "managedClusters/*",
        "properties.provisioningState: = 'Succeeded' where the recording has = 'Updating'"]
    headers = requests.structures.CaseInsensitiveDict({"Retry-After": "1"})
    assert header_differences({}, headers, "2025-10-01") == ["retry-after: present where the recording has it not"]
    assert header_differences({}, headers, "2025-10-01", filtered=RECORDER_FILTERED["Azure/azure-cli"]) == []
    assert header_differences({"Retry-After": "10"}, requests.structures.CaseInsensitiveDict(), "2025-10-01",
                              filtered=RECORDER_FILTERED["Azure/azure-cli"]) == [
        "retry-after: missing where the recording has it"]


def test_private_dns_record_in_a_missing_zone(cloud, arm):
    rec = load("privatedns_zone_missing")["interactions"][0]
    api = rec["request"]["api_version"]
    zone = f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/rg-hub-network/providers/Microsoft.Network/" \
           "privateDnsZones/clitest.privatedns.com000002"
    resp = arm("PUT", f"{zone}/A/clitestprivatednsrecordset000003", api, body=rec["request"]["body"])
    problems = compare("privatedns_zone_missing", rec, resp, api)
    assert problems == [], "\n".join(problems)
    recorded = rec["response"]["body"]["error"]["message"]
    assert resp.json()["error"]["message"] == recorded.replace(
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/clitest_privatedns000001",
        f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/rg-hub-network")


def test_aks_answers_an_operation_it_does_not_know_in_its_own_shape(cloud, arm):
    rec = load("aks_operation_not_found")["interactions"][0]
    path = f"/subscriptions/{SPOKE_SUBSCRIPTION_A}/providers/Microsoft.ContainerService/locations/westeurope/" \
           f"operationresults/{uuid.uuid4()}"
    resp = arm("GET", path, "2016-03-30")
    problems = compare("aks_operation_not_found", rec, resp, "2016-03-30")
    assert problems == [], "\n".join(problems)
    assert resp.json() == rec["response"]["body"]


def test_private_dns_create_of_an_existing_record_fails_its_precondition(cloud, arm):
    rec = load("privatedns_if_none_match")["interactions"][0]
    api = rec["request"]["api_version"]
    name = f"recordset{uuid.uuid4().hex[:6]}"
    path = f"{cloud.world.hub['dns_zones']['westeurope']}/A/{name}"
    first = arm("PUT", path, api, body=rec["request"]["body"], headers=rec["request"]["headers"])
    assert first.status_code == 201
    again = arm("PUT", path, api, body=rec["request"]["body"], headers=rec["request"]["headers"])
    problems = compare("privatedns_if_none_match", rec, again, api)
    assert problems == [], "\n".join(problems)
    assert again.json()["message"] == rec["response"]["body"]["message"].replace("clitestprivatednsrecordset000003",
                                                                                 name)
    assert arm("DELETE", path, api).status_code == 200


def test_private_dns_update_with_a_stale_etag_fails_its_precondition(cloud, arm):
    rec = load("privatedns_if_match")["interactions"][0]
    api = rec["request"]["api_version"]
    name = f"recordset{uuid.uuid4().hex[:6]}"
    path = f"{cloud.world.hub['dns_zones']['westeurope']}/A/{name}"
    assert arm("PUT", path, api, body=rec["request"]["body"]).status_code == 201
    stale = arm("PUT", path, api, body=rec["request"]["body"], headers=rec["request"]["headers"])
    problems = compare("privatedns_if_match", rec, stale, api)
    assert problems == [], "\n".join(problems)
    assert stale.json()["message"] == rec["response"]["body"]["message"].replace("clitestprivatednsrecordset000003",
                                                                                 name)
    assert arm("DELETE", path, api).status_code == 200
