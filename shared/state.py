"""The state table: one row per cluster, written only with the ETag it was read with.

The row is the finalizer: it is created before anything is created in Azure and deleted only
after everything of ours is gone, so a crash at any point resumes on the next call. A short lease
in the row keeps two invocations for one cluster from acting at the same time; `LinkStore` owns
it (`acquire` / `renew` / `release`, and `update` for a short change that must wait for the
lease), and every writer (the controller, approvals, the sweep's redelivery) goes through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.clock import SYSTEM, Clock
from shared.errors import ConcurrentUpdate, Refused, TransientError, map_azure_errors
from shared.ids import ClusterId
from shared.model import LinkState, Phase
from shared.rows import from_entity, to_entity

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.credentials import Credentials
    from shared.sdk import StorageAccess

log = logging.getLogger("hublink.state")


__all__ = ["Busy", "ConcurrentUpdate", "Leased", "LinkStore", "from_entity", "to_entity"]

HUB_PARTITION = "hub"  # the hubs' capacity rows; a link row's partition is its subscription id (a GUID)
BUSY_RACE_S = 2.0  # the row was taken between our read and our write: look again after this
SENT_RETRY_S = (0.5, 4.0)  # writing what was sent while storage is unreachable: first wait, longest wait


@dataclass(frozen=True)
class Leased:
    """The row, now leased to us (`fresh`: it did not exist and was created with the lease;
    `read_etag`: the row's ETag before our lease was written, None when fresh)."""

    state: LinkState
    fresh: bool
    read_etag: str | None = None


@dataclass(frozen=True)
class Busy:
    """Another invocation holds the lease (`state` is its row, for display) or won the race."""

    retry_in: float
    state: LinkState | None


class LinkStore:
    def __init__(self, table: TableClient, *, clock: Clock = SYSTEM) -> None:
        self.table = table
        self.clock = clock
        self.operations = 0  # Table Storage calls made (reported by the benchmarks)

    # -- the lease ---------------------------------------------------------------------------
    def held_by_other(self, state: LinkState, owner: str | None = None) -> float:
        """Seconds left on a lease someone other than `owner` holds on this row (0.0: none)."""
        if not state.lease_owner or state.lease_owner == owner or state.lease_until is None:
            return 0.0
        return max(0.0, (state.lease_until - self.clock.now()).total_seconds())

    def acquire(
        self,
        cluster: ClusterId,
        owner: str,
        for_s: float,
        *,
        new: Callable[[], LinkState] | None = None,
        wait_s: float = 0.0,
        due_when_lost: bool = True,
    ) -> Leased | Busy | None:
        """Read the row and take its lease for `for_s` seconds (creating the row with `new` if absent),
        trying again for up to `wait_s` seconds while it is busy. `due_when_lost`: the row is due when
        the lease runs out (the timer then reconciles a link whose invocation died holding it); off for
        a lease that only sends notices (the timer's redelivery looks at those rows anyway).

        None: no row and nothing to create. Busy: someone else holds it, or won the race to it.
        """
        deadline = self.clock.monotonic() + wait_s
        while True:
            taken = self._acquire_once(cluster, owner, for_s, new, due_when_lost)
            if not isinstance(taken, Busy) or self.clock.monotonic() >= deadline:
                return taken
            self.clock.sleep(0.1)

    def _acquire_once(
        self, cluster: ClusterId, owner: str, for_s: float, new: Callable[[], LinkState] | None, due_when_lost: bool
    ) -> Leased | Busy | None:
        state = self.get(cluster)
        fresh = state is None
        read_etag = state.etag if state is not None else None
        if state is None:
            if new is None:
                return None
            state = new()
        elif remaining := self.held_by_other(state, owner):
            return Busy(max(1.0, remaining), state)
        state.lease_owner, state.lease_until = owner, self.clock.now() + timedelta(seconds=for_s)
        if due_when_lost and (state.next_attempt_at is None or state.next_attempt_at > state.lease_until):
            # Should this invocation die holding the lease (its process killed mid-write), the row is
            # due when the lease runs out and the timer takes it up; a finished run sets its own time.
            state.next_attempt_at = state.lease_until
        try:
            state = self.insert(state) if fresh else self.replace(state)
        except ConcurrentUpdate:
            return Busy(BUSY_RACE_S, None)
        return Leased(state, fresh, read_etag)

    def renew(self, state: LinkState, owner: str, for_s: float) -> LinkState:
        """Extend our lease and write the row (raises ConcurrentUpdate when it was lost)."""
        state.lease_owner, state.lease_until = owner, self.clock.now() + timedelta(seconds=for_s)
        return self.replace(state)

    def release(self, state: LinkState, owner: str, *, strict: bool = False) -> bool:
        """Write the row without our lease. When the row changed meanwhile (the lease then expires by
        itself): False, or ConcurrentUpdate raised with `strict`."""
        if state.lease_owner == owner:
            state.lease_owner = state.lease_until = None
        try:
            self.replace(state)
        except ConcurrentUpdate:
            if strict:
                raise
            log.info("link.lease.release_lost cluster=%s", state.cluster_id)
            return False
        return True

    def release_sent(self, state: LinkState, owner: str) -> bool:
        """Release after notices went out: what was sent must reach the row, or a later run sends it
        again. While storage is unreachable (an outage that began during the send) the write is tried
        again, backing off, for as long as our lease holds; no one else acts on the link meanwhile.
        Past the lease another invocation may take the row, so the error is raised and the notice goes
        out once more with the same id (delivery is at least once; receivers drop it by id).
        False when the row changed meanwhile, as `release`."""
        until = state.lease_until if state.lease_owner == owner else None
        delay, longest = SENT_RETRY_S
        while True:
            try:
                return self.release(state, owner)
            except TransientError as exc:
                left = (until - self.clock.now()).total_seconds() if until else 0.0
                if left <= delay:
                    raise
                log.warning("link.notices.record_retry cluster=%s retry_in=%.1f error=%s", state.cluster_id, delay, exc)
                self.clock.sleep(delay)
                delay = min(delay * 2, longest)

    def update(
        self,
        cluster: ClusterId,
        change: Callable[[LinkState], None],
        *,
        owner: str | None = None,
        wait_s: float = 5.0,
        missing: str = "no link is recorded",
    ) -> LinkState:
        """Read, wait (up to `wait_s`) while another holds the lease, apply `change`, write with the ETag;
        read again on a race. Refused 404 LinkNotFound without a row, 409 Busy when the wait runs out."""
        deadline = self.clock.monotonic() + wait_s
        while True:
            state = self.get(cluster)
            if state is None:
                raise Refused(404, "LinkNotFound", missing)
            if not self.held_by_other(state, owner):
                change(state)
                try:
                    return self.replace(state)
                except ConcurrentUpdate:
                    pass
            if self.clock.monotonic() >= deadline:
                raise Refused(409, "Busy", "another invocation is working on this link; try again in a few seconds")
            self.clock.sleep(0.1)

    @classmethod
    def connect(cls, storage: StorageAccess, credentials: Credentials, *, clock: Clock = SYSTEM) -> LinkStore:
        from azure.data.tables import TableClient

        options = storage.client_kwargs()
        if storage.connection_string:
            table = TableClient.from_connection_string(storage.connection_string, storage.table_name, **options)
        else:
            table = TableClient(
                endpoint=storage.table_service_uri,
                table_name=storage.table_name,
                credential=credentials.for_storage(),
                **options,
            )
        store = cls(table, clock=clock)
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
            return [from_entity(e) for e in entities if e.get("PartitionKey") != HUB_PARTITION]

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

    # -- the hubs' capacity levels (one row per region, beside the links' rows) ----------------
    def hub_level(self, region: str) -> str | None:
        found = self._hub_get(region)
        return found[0] if found else None

    def hub_level_changed(self, region: str, level: str) -> bool:
        """Record the region's capacity level (shared.capacity); True when it rose, for this caller
        alone (an ETag-conditional write: of two invocations seeing one crossing, one announces it)."""
        from shared.capacity import rises

        found = self._hub_get(region)
        previous, etag = found if found else (None, None)
        if previous == level:
            return False
        try:
            self._hub_put(region, level, etag)
        except ConcurrentUpdate:
            return False
        return rises(previous, level)

    def _hub_get(self, region: str) -> tuple[str, str | None] | None:
        from azure.core.exceptions import ResourceNotFoundError

        self.operations += 1
        with map_azure_errors("read hub capacity row"):
            try:
                entity = self.table.get_entity(HUB_PARTITION, region)
            except ResourceNotFoundError:
                return None
        return str(entity.get("level") or "ok"), entity.metadata.get("etag")

    def _hub_put(self, region: str, level: str, etag: str | None) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": HUB_PARTITION, "RowKey": region, "level": level, "updated_at": self.clock.now()}
        self.operations += 1
        with map_azure_errors("write hub capacity row"):
            try:
                if etag is None:
                    self.table.create_entity(entity)
                else:
                    self.table.update_entity(
                        entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as exc:
                raise ConcurrentUpdate("hub capacity row changed since it was read") from exc

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
                meta = self.table.update_entity(
                    to_entity(state), mode=UpdateMode.REPLACE, etag=state.etag, match_condition=MatchConditions.IfNotModified
                )
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
                self.table.delete_entity(
                    cluster.partition_key, cluster.row_key, etag=state.etag, match_condition=MatchConditions.IfNotModified
                )
            except ResourceModifiedError as exc:
                raise ConcurrentUpdate("state row changed since it was read") from exc
