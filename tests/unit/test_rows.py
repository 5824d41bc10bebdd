"""The row's typed sub-documents round-trip through the entity shape rows have always had, and the
plain-data event filter names azure-eventgrid's system event types."""

from __future__ import annotations

import json

from shared.model import AuditEntry, ForeignConnection, LinkState, Notices, Phase
from shared.rows import from_entity, to_entity
from shared.state import ConcurrentUpdate as FromState
from tests.unit.fakes import SUB, TENANT, cluster_id


def test_sub_documents_round_trip_in_their_stored_shape():
    state = LinkState(
        cluster_id=cluster_id(),
        subscription_id=SUB,
        resource_group="rg-aks",
        cluster_name="aks1",
        tenant_id=TENANT,
        phase=Phase.READY,
    )
    state.foreign_connections = [ForeignConnection("theirs", "/x/pe", "Pending", "hello")]
    state.audit = [AuditEntry("approve-link", "alice", "api", "2026-01-01T00:00:00Z", "ok", endpoint_id="/x/ours")]
    state.notices = Notices(pending=[{"key": "ready:1", "id": "i"}], sent={"k": "t"}, since={"waiting": "t"})
    entity = to_entity(state)
    assert json.loads(entity["foreign_connections"]) == [
        {"name": "theirs", "privateEndpointId": "/x/pe", "status": "Pending", "description": "hello"}
    ]
    assert json.loads(entity["audit"]) == [
        {
            "action": "approve-link",
            "by": "alice",
            "via": "api",
            "at": "2026-01-01T00:00:00Z",
            "reason": "ok",
            "endpointId": "/x/ours",
        }
    ]
    assert json.loads(entity["notices"]) == {
        "pending": [{"key": "ready:1", "id": "i"}],
        "sent": {"k": "t"},
        "since": {"waiting": "t"},
    }
    assert entity["notices_pending"] is True
    back = from_entity(entity)
    assert (back.foreign_connections, back.audit, back.notices) == (state.foreign_connections, state.audit, state.notices)
    assert (
        from_entity(
            {
                "cluster_id": state.cluster_id,
                "subscription_id": SUB,
                "resource_group": "rg-aks",
                "cluster_name": "aks1",
                "tenant_id": TENANT,
            }
        ).notices
        == Notices()
    ), "an old row without them"


def test_concurrent_update_is_one_class():
    from shared.errors import ConcurrentUpdate

    assert FromState is ConcurrentUpdate


def test_event_types_are_azure_eventgrids_system_events():
    from azure.eventgrid import SystemEventNames

    from shared.events import EVENT_TYPES

    assert set(EVENT_TYPES) == {
        SystemEventNames.ResourceWriteSuccessEventName.value,
        SystemEventNames.ResourceDeleteSuccessEventName.value,
        SystemEventNames.ResourceActionSuccessEventName.value,
    }
