"""The Functions host's singleton listener lock: one instance of an app runs a timer, by blob lease.

Every instance of a function app (same host id, same AzureWebJobsStorage) starts every trigger's
listener, but a timer trigger's listener is a singleton: the instance holding the lease on the blob
`azure-webjobs-hosts/locks/<hostId>/Host.Functions.<name>.Listener` runs the schedule, renews the
lease at half its period, and gives it up when it stops; the others try again every recovery
interval, so when the holder dies its lease runs out and another instance takes the schedule over,
running a past-due occurrence at once (devcloud.funchost_timers). Sources: azure-webjobs-sdk
`SingletonManager`, `SingletonListener`, `BlobLeaseDistributedLockManager`; host.json `singleton`
(`listenerLockPeriod` 00:01:00, `listenerLockRecoveryPollingInterval` 00:01:00), which app settings
override as `AzureFunctionsJobHost__singleton__listenerLockPeriod` like any host.json value.

Without a connection-string AzureWebJobsStorage (an identity-based one, or none) there is no lock
and every instance runs its timers: a documented difference of this host.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobLeaseClient, ContainerClient

log = logging.getLogger("devcloud.funchost")

CONTAINER = "azure-webjobs-hosts"
LEASE_MIN_S, LEASE_MAX_S = 15, 60  # Azure Storage's bounds for a finite blob lease


@dataclass(frozen=True)
class SingletonSettings:
    listener_lock_period_s: float = 60.0
    recovery_polling_interval_s: float = 60.0


class ListenerLock:
    """The lease on one function's listener lock blob (`holder` names the instance in the blob's metadata)."""

    def __init__(self, connection_string: str, host_id: str, function: str, settings: SingletonSettings,
                 holder: str) -> None:
        self.name = f"locks/{host_id}/Host.Functions.{function}.Listener"
        self.container = ContainerClient.from_connection_string(connection_string, CONTAINER, retry_total=1)
        self.blob = self.container.get_blob_client(self.name)
        self.period_s = min(LEASE_MAX_S, max(LEASE_MIN_S, int(settings.listener_lock_period_s)))
        self.recovery_s = settings.recovery_polling_interval_s
        self.holder = holder
        self.lease: BlobLeaseClient | None = None

    def try_acquire(self) -> bool:
        """True when this instance now holds the lock; False when another does or storage is unreachable."""
        try:
            self._ensure_blob()
            lease = BlobLeaseClient(self.blob)
            lease.acquire(lease_duration=self.period_s)
            self.lease = lease
            self.blob.set_blob_metadata({"FunctionInstance": self.holder}, lease=lease)
            return True
        except HttpResponseError as exc:
            if exc.status_code != 409:  # 409 LeaseAlreadyPresent: another instance holds it
                log.warning("singleton lock %s: %s", self.name, exc.message)
            return False
        except AzureError as exc:
            log.warning("singleton lock %s: storage unreachable (%s)", self.name, type(exc).__name__)
            return False

    def renew(self) -> bool:
        try:
            assert self.lease is not None
            self.lease.renew()
            return True
        except (AzureError, AssertionError) as exc:
            log.warning("singleton lock %s lost: %s", self.name, type(exc).__name__)
            return False

    def release(self) -> None:
        lease, self.lease = self.lease, None
        if lease is not None:
            try:
                lease.release()
            except AzureError:
                pass  # it runs out on its own

    def _ensure_blob(self) -> None:
        try:
            self.container.create_container()
        except ResourceExistsError:
            pass
        try:
            self.blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            if exc.status_code not in (409, 412):  # leased blob: it exists
                raise


def hold_and_run(lock: ListenerLock, stop: threading.Event, run: Callable[[threading.Event], None]) -> None:
    """Until `stop`: take the lock (retrying every recovery interval), then `run(lost)` while holding it;
    `lost` is set when a renewal fails or the host stops, and `run` must return soon after."""
    while not stop.is_set():
        if not lock.try_acquire():
            stop.wait(lock.recovery_s)
            continue
        log.info("Singleton lock acquired (%s): this instance runs the listener", lock.name)
        lost = threading.Event()

        def renew(lost: threading.Event = lost) -> None:
            while not stop.wait(lock.period_s / 2) and not lost.is_set():
                if not lock.renew():
                    break
            lost.set()

        renewer = threading.Thread(target=renew, name="funchost-singleton-renew", daemon=True)
        renewer.start()
        try:
            run(lost)
        finally:
            lost.set()
            renewer.join(timeout=5)
            if stop.is_set():
                lock.release()
            else:
                lock.lease = None


# -- the local Functions host's timer listeners -------------------------------------------------------
def singleton_settings(app_dir: str, setting: Callable[[str], str | None]) -> SingletonSettings:
    """host.json `singleton`, each value overridable by `AzureFunctionsJobHost__singleton__<name>`."""
    from devcloud.funchost import parse_timespan

    try:
        with open(os.path.join(app_dir, "host.json"), encoding="utf-8") as fh:
            section = json.load(fh).get("singleton") or {}
    except (OSError, ValueError):
        section = {}
    values: dict[str, float] = {}
    for key, attr in (("listenerLockPeriod", "listener_lock_period_s"),
                      ("listenerLockRecoveryPollingInterval", "recovery_polling_interval_s")):
        raw = setting(f"AzureFunctionsJobHost__singleton__{key}") or section.get(key)
        if raw:
            values[attr] = parse_timespan(str(raw)) or getattr(SingletonSettings, attr)
    return SingletonSettings(**values)


def run_timer_listener(host: Any, fn: Any) -> None:
    """The host's timer listener for `fn`, as a singleton across the app's instances when storage allows."""
    from devcloud.funchost_timers import host_id

    connection = host.setting("AzureWebJobsStorage") or ""
    if "AccountKey=" not in connection:
        host._timer_loop(fn)  # no lock without a connection string: every instance runs it
        return
    lock = ListenerLock(connection, host_id(host.app_dir, host.setting("AzureFunctionsWebHost__hostid")), fn.name,
                        singleton_settings(host.app_dir, host.setting), holder=f"{os.getpid()}")
    hold_and_run(lock, host._stop, lambda lost: host._timer_loop(fn, stop=lost))
