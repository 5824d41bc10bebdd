"""Where Azure is and how the product's Azure SDK clients reach it: the one place that builds them.

The adapters (hub endpoints, Private Link Services, the raw ARM client) receive an `AzureAccess`,
the two values they need of the settings, not the settings themselves. `NetworkClients` builds one
azure-mgmt-network client per (subscription, tenant) with the product's retry and pacing policy and
caches it (the client holds its connection pool; its credential holds the tenant's token cache).
azure-mgmt-network is imported on first use: the heaviest import of the app, which most
invocations (timer ticks on Ready links) never need.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.credentials import Credentials

DEFAULT_POLL_S = 10.0  # what Azure Network answers in Retry-After for endpoint and PLS operations


@dataclass(frozen=True)
class AzureAccess:
    arm_endpoint: str
    ca_bundle: str | None = None

    @property
    def verify(self) -> str | bool:
        """What to pass as `verify` / `connection_verify`: the CA bundle, or the system store."""
        return self.ca_bundle or True

    def sdk_kwargs(self) -> dict[str, Any]:
        """azure-core client options every product client uses: a few quick retries, ARM pacing
        (before each attempt, and from ARM's remaining counts in each answer: shared.pacing), and
        ARM calls by status for telemetry."""
        from shared.arm import pacing_policy
        from shared.telemetry import sdk_response_hook

        kwargs: dict[str, Any] = {
            "retry_total": 3,
            "retry_backoff_factor": 0.5,
            "per_retry_policies": [pacing_policy()],
            "raw_response_hook": sdk_response_hook,  # every attempt: ARM calls by status (shared.telemetry)
        }
        if self.ca_bundle:
            kwargs["connection_verify"] = self.ca_bundle
        return kwargs

    def start_only(self) -> Any:
        """Send the PUT/DELETE and keep Azure's first answer; never poll (shared.polling.StartOnly)."""
        from shared.polling import StartOnly

        return StartOnly(timeout=DEFAULT_POLL_S, path_format_arguments={"endpoint": self.arm_endpoint})


@dataclass(frozen=True)
class StorageAccess:
    """Where the product's table and continuation queue live: a connection string (Azurite,
    development) or the service URIs with the managed identity (AzureWebJobsStorage__*)."""

    connection_string: str | None = field(repr=False)
    table_service_uri: str | None
    queue_service_uri: str | None
    table_name: str

    @staticmethod
    def client_kwargs() -> dict[str, Any]:
        """Storage clients fail fast: a few quick retries (about 3 s), not azure-core's default 10 retries
        backing off to 2 min each (minutes per call). An unreachable account then fails the invocation
        soon, and the trigger's own retry (Event Grid's redelivery, the queue message reappearing, the
        next timer run) tries again, instead of a worker thread blocked for minutes."""
        return {"retry_total": 2, "retry_backoff_factor": 0.5, "retry_backoff_max": 2, "connection_timeout": 5}

    @staticmethod
    def queue_client_kwargs() -> dict[str, Any]:
        """The same quick retries for the queue client, whose storage retry policy reads none of
        azure-core's backoff settings: its default waits 15 s, then 18 s (with up to 3 s of jitter), so
        a continuation queued while the account is unreachable held the invocation ~40 s, past Event
        Grid's 30 s for the events that hand over to the queue."""
        from azure.storage.queue import ExponentialRetry

        retry = ExponentialRetry(initial_backoff=0.5, increment_base=1, retry_total=2, random_jitter_range=0.5)
        return {**StorageAccess.client_kwargs(), "retry_policy": retry}


class NetworkClients:
    """One NetworkManagementClient per (subscription, tenant), built on first use."""

    def __init__(self, access: AzureAccess, credentials: Credentials) -> None:
        self.access = access
        self.credentials = credentials
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, subscription_id: str, tenant_id: str) -> Any:
        from azure.mgmt.network import NetworkManagementClient

        key = (subscription_id.lower(), tenant_id.lower())
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = NetworkManagementClient(
                    self.credentials.for_tenant(tenant_id),
                    subscription_id,
                    base_url=self.access.arm_endpoint,
                    **self.access.sdk_kwargs(),
                )
                self._clients[key] = client
            return client
