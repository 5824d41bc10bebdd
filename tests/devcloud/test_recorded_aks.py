"""AKS's list and delete answers against recorded traffic (tests/devcloud/recordings/aks_list.json, aks_delete.json).

The product's discovery lists clusters by subscription and follows `nextLink`; cleanup reads a
cluster that is gone. The comparisons (status, client headers, body keys and formats) are
test_recorded.py's.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from devcloud.world import SPOKE_SUBSCRIPTION_A
from tests.devcloud.test_recorded import arm, compare, load, wait_done  # noqa: F401 (arm is a fixture)

AKS_API = "2025-10-01"  # shared/aks.py's AKS_API_VERSION
CLUSTERS = "providers/Microsoft.ContainerService/managedClusters"


def test_aks_lists_by_group_and_by_subscription(cloud, arm, op):  # noqa: F811
    rec = load("aks_list")["interactions"][0]
    recorded = rec["response"]["body"]
    assert "nextLink" not in recorded  # one page: ARM leaves the key out rather than sending null
    name = f"rec{uuid.uuid4().hex[:8]}"
    cluster_id = op.create_cluster(name, subscription=SPOKE_SUBSCRIPTION_A, tags=recorded["value"][0]["tags"])
    pages = {"by group": arm("GET", f"/subscriptions/{SPOKE_SUBSCRIPTION_A}/resourceGroups/rg-aks/{CLUSTERS}", AKS_API),
             "by subscription": arm("GET", f"/subscriptions/{SPOKE_SUBSCRIPTION_A}/{CLUSTERS}", AKS_API)}
    problems = []
    for scope, page in pages.items():
        body = page.json()
        assert "nextLink" not in body, f"{scope}: a single page names no next one"
        mine = {**body, "value": [c for c in body["value"] if c["name"] == name]}
        assert len(mine["value"]) == 1, f"{scope}: the new cluster is listed once"
        # Other tests' clusters may be mid-operation; the comparison reads the one this test made.
        problems += [f"{scope}: {d}" for d in compare("aks_list", rec, page, AKS_API, body=mine)]
    assert problems == [], "\n".join(problems)
    op.delete_cluster(cluster_id)


def test_aks_delete_polls_its_result_and_the_cluster_is_gone(cloud, arm, op):  # noqa: F811
    rec = {i["name"]: i for i in load("aks_delete")["interactions"]}
    api = rec["delete"]["request"]["api_version"]
    cluster_id = op.create_cluster(subscription=SPOKE_SUBSCRIPTION_A)
    cloud.arm.lro_seconds["managedClusters/delete"] = 0.3
    try:
        deleted = arm("DELETE", cluster_id, api)
        answers = {"delete": deleted, "poll_in_progress": arm("GET", deleted.headers["Azure-AsyncOperation"], "")}
        wait_done(arm, deleted.headers["Azure-AsyncOperation"])
        answers["poll_succeeded"] = arm("GET", deleted.headers["Azure-AsyncOperation"], "")
        answers["delete_result"] = arm("GET", deleted.headers["Location"], "")
    finally:
        cloud.arm.lro_seconds.pop("managedClusters/delete", None)
    # A poll's request carries the api-version of the URL AKS gave (its own, fixed one), as recorded.
    sent = {n: api if n == "delete" else parse_qs(urlsplit(resp.url).query)["api-version"][0]
            for n, resp in answers.items()}
    problems = [d for n, resp in answers.items() for d in compare("aks_delete", rec[n], resp, sent[n])]
    assert problems == [], "\n".join(problems)
    assert answers["delete_result"].headers["Location"] == deleted.headers["Location"]

    # The cluster is gone: ARM's own 404, as recorded for a cluster that does not exist.
    missing = load("aks_stop_start")["interactions"][-1]
    gone = arm("GET", cluster_id, api)
    assert compare("aks_stop_start", missing, gone, api) == []
    rg, name = cluster_id.split("/")[4], cluster_id.rsplit("/", 1)[1]
    assert gone.json()["error"]["message"] == missing["response"]["body"]["error"]["message"].replace(
        "clitest000001", rg).replace("cliakstest000002", name)
    # ... and its finished operation still answers, Succeeded, as AKS keeps it after the resource is gone.
    assert arm("GET", deleted.headers["Azure-AsyncOperation"], "").json()["status"] == "Succeeded"
