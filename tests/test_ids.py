"""Cluster ids are parsed strictly; names derived from them are deterministic and valid in Azure."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import InvalidInput
from shared.ids import ClusterId, same_arm_id

SUB = "20000000-0000-4000-8000-0000000000B1"
VALID = f"/subscriptions/{SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-1"


def test_parse_and_canonical_form():
    c = ClusterId.parse(VALID.lower().replace("resourcegroups", "resourceGroups"))
    assert c.subscription_id == SUB.lower()
    assert c.id == VALID.replace(SUB, SUB.lower())
    assert ClusterId.parse(VALID).key == ClusterId.parse(VALID.upper().replace("SUBSCRIPTIONS", "subscriptions")).key


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "aks-1",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/x",
        f"/subscriptions/{SUB}/resourceGroups/../providers/Microsoft.ContainerService/managedClusters/x",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a%2Fb",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/x/agentPools/p",
        "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/x",
        f"/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.ContainerService/managedClusters/x",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/-x",
        None,
        42,
        "x" * 500,
    ],
)
def test_rejects_anything_but_a_managed_cluster_id(bad):
    with pytest.raises(InvalidInput):
        ClusterId.parse(bad)


NAME = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?", fullmatch=True)
RG = st.from_regex(r"[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]", fullmatch=True)


@given(rg=RG, name=NAME)
def test_derived_names_are_valid_and_stable(rg, name):
    c = ClusterId.parse(f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}")
    pe = c.endpoint_name
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}[a-z0-9]", pe) and len(pe) <= 64
    assert pe == ClusterId.parse(c.id.upper().replace("SUBSCRIPTIONS", "subscriptions")).endpoint_name
    for key in (c.partition_key, c.row_key):
        assert not set(key) & set("/\\#?") and len(key) < 1024


def test_distinct_clusters_get_distinct_endpoint_names():
    a = ClusterId.parse(VALID)
    b = ClusterId.parse(VALID.replace("rg-aks", "rg-aks2"))
    assert a.endpoint_name != b.endpoint_name and a.row_key != b.row_key


def test_same_arm_id_is_case_insensitive():
    assert same_arm_id("/subscriptions/A/x/", "/subscriptions/a/X")
    assert not same_arm_id(None, "/x") and not same_arm_id("/a", "/b")
