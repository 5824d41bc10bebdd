"""Storage connections as the Functions host resolves them, secret-based or identity-based.

A binding's `connection` names a setting. The host looks for a connection string in `<name>` and
then `AzureWebJobs<name>`; failing that, for an identity-based connection in the settings section
`<name>__*` (`__` is the configuration section separator): `__queueServiceUri` (or `__serviceUri`),
or `__accountName` for https://<account>.queue.core.windows.net, with the credential chosen by
`__credential` (`managedidentity`, with `__clientId` for a user-assigned identity), `__tenantId` +
`__clientId` + `__clientSecret` for an app registration, and DefaultAzureCredential otherwise
(learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
and #common-properties-for-identity-based-connections; azure-sdk-for-net, Microsoft.Extensions.Azure
`ClientFactory.CreateCredential`). None of them set: the function cannot start, and only it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.storage.queue import QueueClient


class MissingConnection(LookupError):
    """No connection string and no identity-based section for a binding's connection."""


@dataclass(frozen=True)
class QueueConnection:
    name: str
    connection_string: str | None = None
    service_uri: str | None = None
    credential: Any = None

    @property
    def key(self) -> str:
        return self.connection_string or f"{self.service_uri}#{self.name}"

    def queue_client(self, queue: str) -> QueueClient:
        if self.connection_string:
            return QueueClient.from_connection_string(self.connection_string, queue)
        return QueueClient(self.service_uri, queue, credential=self.credential)


def _credential(get: Callable[[str], str | None], prefix: str) -> Any:
    from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

    kind = (get(prefix + "credential") or "").lower()
    client_id, tenant_id, secret = get(prefix + "clientId"), get(prefix + "tenantId"), get(prefix + "clientSecret")
    if kind == "managedidentity":
        return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
    if client_id and tenant_id and secret:
        return ClientSecretCredential(tenant_id, client_id, secret)
    return DefaultAzureCredential()


def resolve_queue_connection(get: Callable[[str], str | None], name: str) -> QueueConnection:
    """`get` reads an app setting (None when unset)."""
    for setting in (name, f"AzureWebJobs{name}"):
        value = get(setting)
        if value:
            return QueueConnection(name, connection_string=value)
    prefix = f"{name}__"
    uri = get(prefix + "queueServiceUri") or get(prefix + "serviceUri")
    account = get(prefix + "accountName")
    if not uri and account:
        uri = f"https://{account}.queue.core.windows.net"
    if not uri:
        raise MissingConnection(f"connection {name!r}: neither {name!r}, 'AzureWebJobs{name}' nor "
                                f"'{name}__queueServiceUri'/'{name}__accountName' is set")
    return QueueConnection(name, service_uri=uri.rstrip("/"), credential=_credential(get, prefix))
