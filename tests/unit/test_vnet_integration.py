"""Every branch of the vnet-integration path (shared.paths.vnet_integration), through the controller,
against in-memory fakes of the product's adapters (the devcloud tests prove it against Azure's behaviour)."""

from __future__ import annotations

from dataclasses import replace

from shared.errors import TerminalError
from shared.ids import ClusterId
from shared.model import Phase
from tests.unit.fakes import HUB, HUB_RG, PLS_SUBNET, SPOKE_VNET, SUB, VNET_ZONE_ID, cluster_id, world

FQDN = "aks1-1a2b3c4d.0f0e0d0c-0000-4000-8000-000000000000.private.westeurope.azmk8s.io"
OTHER_RG_SUBNET = f"/subscriptions/{SUB}/resourceGroups/rg-other/providers/Microsoft.Network/virtualNetworks/vnet-aks/subnets/x"


def vnet_linked(tags: dict[str, str] | None = None, **kw):
    w = world(**kw)
    cid = cluster_id()
    w.clusters.add(
        cid,
        vnet_integration=True,
        apiserver_subnet_id=f"{SPOKE_VNET}/subnets/snet-apiserver",
        node_resource_group="MC_rg-aks_aks1_westeurope",
        private_fqdn=FQDN,
        tags=tags or {},
    )
    w.links.frontend_for(cid)
    return w, cid, ClusterId.parse(cid)


def update(w, cid, **changes):
    key = ClusterId.parse(cid).key
    w.clusters.clusters[key] = replace(w.clusters.clusters[key], **changes)


def row(w, cid):
    return w.store.rows.get(ClusterId.parse(cid).key)


def our_pls(w):
    [pls] = w.links.services.values()
    return pls


def test_a_vnet_integrated_cluster_is_linked_through_our_pls():
    w, cid, c = vnet_linked()
    outcome = w.settle(cid)
    assert outcome.phase is Phase.READY, outcome.message
    pls = our_pls(w)
    assert pls.on(w.links.frontends[c.key]) and pls.subnet_ids == (PLS_SUBNET,) and pls.ours(c)
    assert pls.visibility == pls.auto_approval == (HUB.subscription_id,)
    [target] = w.endpoints.targets
    assert (target.resource_id, target.group_ids) == (pls.id, ())
    state = row(w, cid)
    assert (state.access_path, state.link_service_id) == ("vnet-integration", pls.id)
    assert (state.zone_id, state.record_name) == (VNET_ZONE_ID, ".".join(FQDN.split(".")[:2]))
    assert list(w.dns.records) == [state.record_name] and state.public()["accessPath"] == "vnet-integration"
    again = w.settle(cid)
    assert again.phase is Phase.READY and w.links.calls.count("begin_put") == 1, "a Ready link is a no-op"


def test_the_cluster_tag_wins_over_the_setting():
    tagged = f"{SPOKE_VNET}/subnets/snet-pls-tagged"
    w, cid, _ = vnet_linked({"hublink-pls-subnet": tagged})
    assert w.settle(cid).phase is Phase.READY
    assert our_pls(w).subnet_ids == (tagged,)


def failed_with(w, cid, code):
    outcome = w.settle(cid)
    state = row(w, cid)
    assert outcome.terminal and state.phase is Phase.FAILED and state.last_error_code == code, outcome.message
    assert "What to do:" in state.last_error
    return state


def test_named_reasons_fail_with_a_remedy_and_leave_nothing():
    cases = (
        ({"pls_subnets": {}}, {}, "NoPlsSubnet"),
        ({}, {"hublink-pls-subnet": OTHER_RG_SUBNET.replace("vnet-aks", "vnet-other")}, "InvalidPlsSubnet"),
    )
    for kw, tags, code in cases:
        w, cid, _ = vnet_linked(tags, **kw)
        failed_with(w, cid, code)
        assert w.links.services == {} and w.endpoints.endpoints == {} and w.dns.records == {}, code


def test_an_aks_managed_vnet_is_not_supported():
    w, cid, _ = vnet_linked()
    update(w, cid, apiserver_subnet_id=None)
    failed_with(w, cid, "ManagedVnetNotSupported")
    assert "begin_put" not in w.links.calls


def test_azures_refusals_become_named_reasons():
    for azure_code, code in (
        ("DenyAssignmentAuthorizationFailed", "NodeResourceGroupLocked"),
        ("PrivateLinkServiceLimitPerLoadBalancerReached", "PlsLimitPerLoadBalancer"),
    ):
        w, cid, _ = vnet_linked()
        w.links.fail["begin_put"] = TerminalError("refused", code=azure_code, status=403)
        state = failed_with(w, cid, code)
        assert state.link_service_id is None and w.endpoints.endpoints == {}
    assert "MC_rg-aks_aks1_westeurope" in row(w, cid).last_error or code == "PlsLimitPerLoadBalancer"


def test_someone_elses_pls_of_our_name_is_left_alone():
    w, cid, _ = vnet_linked()
    w.settle(cid)
    pls = our_pls(w)
    w.links.services[pls.id.lower()] = replace(pls, tags={"owner": "someone"})
    w.endpoints.endpoints.clear()
    state = failed_with(w, cid, "PlsNameCollision")
    assert our_pls(w).tags == {"owner": "someone"} and "begin_delete" not in w.links.calls
    assert state.endpoint_id is None and w.dns.records == {}, "what was ours is gone"


def test_a_moved_frontend_repairs_the_pls_and_replaces_the_endpoint():
    w, cid, c = vnet_linked()
    w.settle(cid)
    moved = w.links.frontend_for(cid, 2)
    pls = our_pls(w)
    w.links.services[pls.id.lower()] = replace(pls, provisioning_state="Failed", connections=())
    assert w.settle(cid).phase is Phase.READY
    assert our_pls(w).on(moved) and w.links.calls.count("begin_put") == 2
    assert w.endpoints.calls.count("begin_delete") == 1 and w.endpoints.calls.count("begin_create") == 2


def test_a_pls_deleted_by_hand_is_recreated():
    w, cid, _ = vnet_linked()
    w.settle(cid)
    w.links.services.clear()
    assert w.settle(cid).phase is Phase.READY
    assert len(w.links.services) == 1 and w.endpoints.calls.count("begin_create") == 2


def test_a_pending_connection_is_approved_on_the_pls_and_only_ours():
    w, cid, _ = vnet_linked()
    w.links.auto_approve = False
    w.settle(cid)  # PLS made; the endpoint's connection came Pending
    pls = our_pls(w)
    theirs = f"{HUB_RG}/providers/Microsoft.Network/privateEndpoints/someone-else"
    w.links.connect(pls.id, theirs, status="Pending", name="theirs")
    assert w.settle(cid).phase is Phase.READY
    statuses = {c.name: c.status for c in our_pls(w).connections}
    assert statuses.pop("theirs") == "Pending" and set(statuses.values()) == {"Approved"}
    assert [f.name for f in row(w, cid).foreign_connections] == ["theirs"]


def test_deletion_removes_record_endpoint_pls_then_the_row():
    w, cid, c = vnet_linked()
    w.settle(cid)
    del w.clusters.clusters[c.key]
    first = w.controller.reconcile(cid)  # one 404: nothing is removed until a later read confirms it
    assert first.phase is Phase.READY and w.links.services and w.endpoints.endpoints
    w.clock.advance(first.requeue_after)
    outcome = w.settle(cid)  # the confirming read, then the removals at Azure's pace
    assert outcome.phase is Phase.ABSENT, outcome.message
    assert w.dns.records == {} and w.endpoints.endpoints == {} and w.links.services == {} and w.store.rows == {}


def test_a_cluster_that_can_no_longer_be_linked_loses_what_it_had_then_fails():
    w, cid, c = vnet_linked({"hublink-pls-subnet": f"{SPOKE_VNET}/subnets/snet-pls-tagged"}, pls_subnets={})
    assert w.settle(cid).phase is Phase.READY
    update(w, cid, tags={})  # the tag goes and no setting names a subnet for the VNet
    state = failed_with(w, cid, "NoPlsSubnet")
    assert w.links.services == {} and w.endpoints.endpoints == {} and w.dns.records == {}
    assert state.endpoint_id is None and state.link_service_id is None


def test_a_new_subnet_moves_the_pls():
    """A PLS cannot change its NAT subnet: ours is deleted and made again in the new one."""
    w, cid, c = vnet_linked()
    w.settle(cid)
    old = our_pls(w).id
    update(w, cid, tags={"hublink-pls-subnet": f"{SPOKE_VNET}/subnets/snet-pls-2"})
    assert w.settle(cid).phase is Phase.READY
    [pls] = w.links.services.values()
    assert pls.id == old and pls.subnet_ids == (f"{SPOKE_VNET}/subnets/snet-pls-2",)
    assert w.links.calls.count("begin_delete") == 1 and w.links.calls.count("begin_put") == 2
    assert w.endpoints.calls.count("begin_create") == 2, "the endpoint to the old PLS was replaced"


def test_a_pls_operation_is_looked_at_again_at_its_retry_after():
    w, cid, _ = vnet_linked()
    w.links.finishes = False
    outcome = w.controller.reconcile(cid)
    assert outcome.requeue_after == 10.0 and "being created" in outcome.message
    assert row(w, cid).link_service_id and w.endpoints.endpoints == {}
    w.links.finishes = True
    w.clock.advance(10)
    # The operation still runs (Updating): read again at the next Retry-After, nothing waits for it.
    outcome = w.controller.reconcile(cid)
    assert outcome.requeue_after == 10.0 and "Updating" in outcome.message
    pls = our_pls(w)
    w.links.services[pls.id.lower()] = replace(pls, provisioning_state="Succeeded")
    assert w.settle(cid).phase is Phase.READY


def test_a_public_vnet_integrated_cluster_is_skipped():
    w, cid, _ = vnet_linked()
    update(w, cid, private=False)
    assert w.settle(cid).phase is Phase.SKIPPED and w.links.calls == []


def test_opting_out_removes_record_endpoint_and_pls_and_keeps_the_row():
    w, cid, c = vnet_linked()
    w.settle(cid)
    update(w, cid, tags={"hublink": "disabled"})
    assert w.settle(cid).phase is Phase.SKIPPED
    assert w.dns.records == {} and w.endpoints.endpoints == {} and w.links.services == {}
    assert row(w, cid).link_service_id is None and row(w, cid).access_path == "vnet-integration"


def test_the_cli_table_shows_the_path():
    from shared.__main__ import _table

    w, cid, _ = vnet_linked()
    w.settle(cid)
    table = _table([row(w, cid).public()])
    header, line = table.splitlines()
    assert "PATH" in header.split() and "vnet-integration" in line.split()
