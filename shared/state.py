"""The state table: one row per cluster, written only with the ETag it was read with.

The row is the finalizer: it is created before anything is created in Azure and deleted only
after everything of ours is gone, so a crash at any point resumes on the next call. A short lease
in the row keeps two invocations for one cluster from acting at the same time.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import TransientError, map_azure_errors
from shared.ids import ClusterId
from shared.model import LinkState, Phase, StepProgress

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.config import Settings
    from shared.credentials import Credentials

log = logging.getLogger("hublink.state")

_JSON_FIELDS = {"foreign_connections", "steps", "notices", "audit"}
_SKIP_FIELDS = {"etag"}


class ConcurrentUpdate(TransientError):
    """The row changed since it was read (another invocation got there first)."""


class LinkStore:
    def __init__(self, table: TableClient) -> None:
        self.table = table
        self.operations = 0  # Table Storage calls made (reported by the benchmarks)

    @classmethod
    def from_settings(cls, settings: Settings, credentials: Credentials) -> LinkStore:
        from azure.data.tables import TableClient

        if settings.storage_connection_string:
            table = TableClient.from_connection_string(settings.storage_connection_string, settings.table_name)
        else:
            table = TableClient(endpoint=settings.table_service_uri, table_name=settings.table_name,
                                credential=credentials.for_storage())
        store = cls(table)
        store.ensure_table()
        return store

    def ensure_table(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with map_azure_errors("create state table"):
            try:
                self.table.create_table()
            except ResourceExistsError:
                pass

    # -- reads -------------------------------------------------------------------------------
    def get(self, cluster: ClusterId) -> LinkState | None:
        from azure.core.exceptions import ResourceNotFoundError

        self.operations += 1
        with map_azure_errors("read state row"):
            try:
                entity = self.table.get_entity(cluster.partition_key, cluster.row_key)
            except ResourceNotFoundError:
                return None
        return from_entity(entity)

    def list(self, *, phase: Phase | None = None) -> list[LinkState]:
        self.operations += 1
        with map_azure_errors("list state rows"):
            if phase is None:
                entities = self.table.list_entities()
            else:
                entities = self.table.query_entities("phase eq @phase", parameters={"phase": str(phase)})
            return [from_entity(e) for e in entities]

    def due(self, now: datetime) -> list[LinkState]:
        """Rows whose next attempt is due (Failed rows have none and wait for a new trigger)."""
        self.operations += 1
        with map_azure_errors("query due rows"):
            entities = self.table.query_entities("next_attempt_at le @now", parameters={"now": now})
            return [from_entity(e) for e in entities]

    def undelivered(self) -> list[LinkState]:
        """Rows holding notices whose delivery failed (retried by the timer, see handlers.sweep)."""
        self.operations += 1
        with map_azure_errors("query rows with pending notices"):
            return [from_entity(e) for e in self.table.query_entities("notices_pending eq true")]

    # -- writes (all conditional) ------------------------------------------------------------
    def insert(self, state: LinkState) -> LinkState:
        from azure.core.exceptions import ResourceExistsError

        self.operations += 1
        with map_azure_errors("create state row"):
            try:
                meta = self.table.create_entity(to_entity(state))
            except ResourceExistsError as exc:
                raise ConcurrentUpdate("state row was created by another invocation") from exc
        state.etag = meta.get("etag")
        return state

    def replace(self, state: LinkState) -> LinkState:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        self.operations += 1
        with map_azure_errors("update state row"):
            try:
                meta = self.table.update_entity(to_entity(state), mode=UpdateMode.REPLACE, etag=state.etag,
                                                match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceNotFoundError) as exc:
                raise ConcurrentUpdate("state row changed since it was read") from exc
        state.etag = meta.get("etag")
        return state

    def delete(self, state: LinkState) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError

        cluster = ClusterId.parse(state.cluster_id)
        self.operations += 1
        with map_azure_errors("delete state row"):
            try:
                self.table.delete_entity(cluster.partition_key, cluster.row_key, etag=state.etag,
                                         match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError as exc:
                raise ConcurrentUpdate("state row changed since it was read") from exc


def to_entity(state: LinkState) -> dict[str, Any]:
    cluster = ClusterId.parse(state.cluster_id)
    entity: dict[str, Any] = {"PartitionKey": cluster.partition_key, "RowKey": cluster.row_key,
                              # A queryable copy of "something is waiting to be announced" (see undelivered()).
                              "notices_pending": bool(state.notices.get("pending"))}
    for f in fields(LinkState):
        if f.name in _SKIP_FIELDS:
            continue
        value = getattr(state, f.name)
        if f.name == "steps":
            value = json.dumps({k: asdict(v) for k, v in value.items()}, separators=(",", ":"))
        elif f.name in _JSON_FIELDS:
            value = json.dumps(value, separators=(",", ":"), default=str)
        elif isinstance(value, Phase):
            value = value.value
        if value is None:
            continue  # REPLACE drops absent properties: None round-trips as missing
        entity[f.name] = value
    return entity


def from_entity(entity: Any) -> LinkState:
    data: dict[str, Any] = {}
    names = {f.name for f in fields(LinkState)}
    for key, value in dict(entity).items():
        if key not in names:
            continue
        if key == "steps":
            value = {k: StepProgress(**v) for k, v in json.loads(value or "{}").items()}
        elif key in _JSON_FIELDS:
            value = json.loads(value or "null") or ({} if key == "notices" else [])
        elif key == "phase":
            value = Phase(value)
        elif isinstance(value, datetime):
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
            value = datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                             value.microsecond, tzinfo=UTC)
        data[key] = value
    state = LinkState(**data)
    state.etag = entity.metadata.get("etag") if hasattr(entity, "metadata") else None
    return state
