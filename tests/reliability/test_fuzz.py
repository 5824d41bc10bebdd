"""Bad input, generated: the Event Grid trigger and every HTTP route, called as the host calls them.

Malformed JSON, wrong types, huge bodies, ids with `..` or `%2F`, other providers, other
subscriptions: each must be refused with a clear 4xx (HTTP) or ignored (events). Zero crashes
(no exception, no 5xx) and zero ARM writes by the product (devcloud's request log). `make test`
runs a few hundred examples; `make fuzz` runs 10,000 per target (RELIABILITY_FUZZ_EXAMPLES), and
a smaller number goes through the local Functions host over HTTP.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import function_app
from devcloud.world import HUB_SUBSCRIPTION, SPOKE_SUBSCRIPTION_A, SPOKE_SUBSCRIPTION_B1
from reliability import figures
from tests.reliability.conftest import SCALE
from tests.reliability.product import EVENT_TYPES, OPERATIONS, http_request, raw_event
from tests.reliability.stack import Stack

pytestmark = pytest.mark.timeout(300 + SCALE["fuzz_examples"] // 10)
SETTINGS = settings(max_examples=SCALE["fuzz_examples"], deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck))

# -- strategies ------------------------------------------------------------------------------------
TRICKY = ["..", ".", "%2F", "a%2Fb", "..%2F..", "rg/../x", "", " ", "rg-aks", "rg-aks\x00", "Ω", "%00", "//", "\\",
          "rg-aks/providers/Microsoft.Network", "aks-1?x=1", "aks#frag", "aks%20x"]
segment = st.one_of(st.sampled_from(TRICKY), st.text(max_size=40), st.from_regex(r"[A-Za-z0-9-]{1,24}", fullmatch=True))
subscription = st.one_of(st.sampled_from([SPOKE_SUBSCRIPTION_B1, SPOKE_SUBSCRIPTION_A, SPOKE_SUBSCRIPTION_B1.upper(),
                                          HUB_SUBSCRIPTION, "00000000-0000-4000-8000-000000000000", "x", ""]),
                         st.uuids().map(str), segment)
provider = st.one_of(st.sampled_from(["Microsoft.ContainerService", "microsoft.containerservice", "Microsoft.Network",
                                      "Microsoft.Compute", "Microsoft.ContainerService/../Microsoft.Network"]), segment)
rtype = st.one_of(st.sampled_from(["managedClusters", "MANAGEDCLUSTERS", "managedClusters/agentPools", "privateEndpoints",
                                   "virtualMachines"]), segment)
arm_id = st.builds(lambda s, g, p, t, n, tail: f"/subscriptions/{s}/resourceGroups/{g}/providers/{p}/{t}/{n}{tail}",
                   subscription, segment, provider, rtype, segment,
                   st.sampled_from(["", "/", "/agentPools/np1", "/../x", "/privateEndpointConnections/c", "?api-version=1"]))
huge = st.builds(lambda piece, n: piece * n, st.sampled_from(["a", "/", "%2F", "..", "Ω"]), st.integers(2_000, 60_000))
plausible_id = st.builds(  # a well-formed id in a configured spoke: parsed, then read (and found missing) in ARM
    lambda s, g, n: f"/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ContainerService/managedClusters/{n}",
    st.sampled_from([SPOKE_SUBSCRIPTION_B1, SPOKE_SUBSCRIPTION_A]),
    st.one_of(st.from_regex(r"[A-Za-z0-9_.()-]{0,30}[A-Za-z0-9_()-]", fullmatch=True), segment),
    st.one_of(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,30}[A-Za-z0-9]", fullmatch=True), segment))
cluster_id = st.one_of(plausible_id, plausible_id, arm_id, st.text(max_size=300), huge)  # plausible ids twice as often
json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50),
                          lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children,
                                                                                             max_size=5), max_leaves=15)
id_field = st.one_of(cluster_id, cluster_id, json_value)
event_type = st.one_of(st.sampled_from(sorted(set(EVENT_TYPES.values())) + ["Microsoft.Resources.ResourceWriteFailure",
                                                                              "microsoft.resources.resourcewritesuccess"]),
                       st.text(max_size=60))
event_data = st.one_of(json_value, st.fixed_dictionaries(
    {"resourceUri": id_field}, optional={"operationName": st.one_of(st.sampled_from(sorted(OPERATIONS.values())), json_value),
                                         "subscriptionId": json_value, "status": json_value}))
body_value = st.one_of(st.fixed_dictionaries({"clusterId": id_field}, optional={
    "connectionName": st.one_of(segment, json_value), "reason": st.one_of(st.text(max_size=80), json_value)}), json_value)
body = st.one_of(body_value.map(lambda v: json.dumps(v).encode("utf-8")), st.binary(max_size=300),
                 huge.map(lambda h: json.dumps({"clusterId": h}).encode("utf-8")),
                 st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
POST_ROUTES = {"links/reconcile": function_app.reconcile_link, "links/approve": function_app.approve_link,
               "connections/approve": function_app.approve_connection, "connections/reject": function_app.reject_connection}


def cluster_reads(cloud) -> int:
    """How many examples got as far as reading a cluster in ARM (valid ids of configured spokes)."""
    return sum(1 for e in cloud.arm.entries(principal="hublink", method="GET") if "managedclusters/" in e.path.lower())


def product_writes(cloud) -> list[str]:
    return [f"{e.method} {e.path}" for e in cloud.arm.entries(principal="hublink") if e.method in ("PUT", "DELETE", "POST")]


def _check(resp) -> int:
    """A clear answer: JSON; a 4xx carries {"error": {"code", "message"}}; never a 5xx."""
    status = resp.status_code
    assert status < 500, resp.get_body()[:500]
    payload = json.loads(resp.get_body())
    if status >= 400:
        assert set(payload["error"]) == {"code", "message"} and payload["error"]["code"], payload
    return status


# -- in-process: the decorated functions, as the host calls them -----------------------------------
def test_fuzz_event_grid_trigger(cloud, app_env):
    outcomes: Counter = Counter()

    @SETTINGS
    @given(event_type=event_type, subject=cluster_id, data=event_data)
    def one(event_type, subject, data):
        function_app.on_cluster_event(raw_event(event_type, subject, data))  # must not raise
        outcomes["handled"] += 1

    one()
    assert product_writes(cloud) == []
    figures.record("fuzz", target="Event Grid trigger (in-process)", examples=outcomes["handled"], crashes=0,
                   statuses="-", reached_arm=cluster_reads(cloud), arm_writes=0)


def test_fuzz_http_routes(cloud, app_env):
    statuses: Counter = Counter()

    @SETTINGS
    @given(route=st.sampled_from(sorted(POST_ROUTES)), raw=body)
    def post(route, raw):
        statuses[_check(POST_ROUTES[route](http_request("POST", route, raw)))] += 1

    @SETTINGS
    @given(sub=subscription, rg=segment, name=st.one_of(segment, huge), phase=st.one_of(st.none(), segment))
    def get(sub, rg, name, phase):
        route_params = {"subscriptionId": sub, "resourceGroup": rg, "clusterName": name}
        statuses[_check(function_app.get_link(http_request("GET", "links/x/y/z", route_params=route_params)))] += 1
        params = {} if phase is None else {"phase": phase}
        statuses[_check(function_app.list_links(http_request("GET", "links", params=params)))] += 1

    post()
    get()
    assert product_writes(cloud) == []
    figures.record("fuzz", target="HTTP routes (in-process)", examples=sum(statuses.values()), crashes=0,
                   statuses=dict(sorted(statuses.items())), reached_arm=cluster_reads(cloud), arm_writes=0)


# -- through the local Functions host over HTTPS ---------------------------------------------------
@pytest.fixture(scope="module")
def stack():
    s = Stack().start()
    yield s
    s.stop()


def test_fuzz_through_the_host(stack):
    statuses: Counter = Counter()
    examples = settings(SETTINGS, max_examples=SCALE["fuzz_http_examples"])
    webhook = stack.info["eventgrid_webhook"]

    @examples
    @given(route=st.sampled_from(sorted(POST_ROUTES)), raw=body)
    def post(route, raw):
        resp = stack.remote.api("POST", route, data=raw)
        assert resp.status_code < 500, resp.text[:500]
        statuses[resp.status_code] += 1

    @examples
    @given(event_type=event_type, subject=cluster_id, data=event_data)
    def event(event_type, subject, data):
        delivery = [{"id": "fuzz", "topic": "/subscriptions/x", "subject": subject, "eventType": event_type,
                     "eventTime": "2026-01-01T00:00:00Z", "data": data, "dataVersion": "2", "metadataVersion": "1"}]
        resp = requests.post(webhook, data=json.dumps(delivery), headers={"aeg-event-type": "Notification",
                                                                          "content-type": "application/json"},
                             verify=stack.cloud.certs.ca_bundle, timeout=60)
        assert resp.status_code < 500, "the Event Grid trigger raised: " + resp.text[:500]
        statuses[resp.status_code] += 1

    post()
    event()
    assert product_writes(stack.cloud) == []
    figures.record("fuzz", target="HTTP routes + Event Grid webhook (local Functions host)",
                   examples=sum(statuses.values()), crashes=0, statuses=dict(sorted(statuses.items())),
                   reached_arm=cluster_reads(stack.cloud), arm_writes=0)
