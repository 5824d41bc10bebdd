"""Credentials per tenant: the product acts as ONE multi-tenant app, with a token per tenant.

In Azure the app has no secret: a user-assigned managed identity signs a federated assertion
(`api://AzureADTokenExchange`) that the app registration trusts, and `ClientAssertionCredential`
exchanges it in each tenant. A client secret is the fallback; `DefaultAzureCredential` serves a
developer's own login. The authority host comes from settings, so the same code runs against
Azure and devcloud.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.config import Settings

ARM_SCOPE = "https://management.azure.com/.default"
STORAGE_SCOPE = "https://storage.azure.com/.default"
EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"


class Credentials:
    """Builds and caches one credential per tenant (tokens are cached inside each credential)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._by_tenant: dict[str, TokenCredential] = {}
        self._managed_identity = None

    def _common(self) -> dict:
        s = self.settings
        kwargs: dict = {"authority": s.authority, "disable_instance_discovery": True}
        if s.ca_bundle:
            kwargs["connection_verify"] = s.ca_bundle
        return kwargs

    def managed_identity(self):
        from azure.identity import ManagedIdentityCredential

        with self._lock:
            if self._managed_identity is None:
                kwargs = {"connection_verify": self.settings.ca_bundle} if self.settings.ca_bundle else {}
                self._managed_identity = ManagedIdentityCredential(client_id=self.settings.managed_identity_client_id, **kwargs)
            return self._managed_identity

    def for_tenant(self, tenant_id: str) -> TokenCredential:
        tenant_id = tenant_id.lower()
        with self._lock:
            cred = self._by_tenant.get(tenant_id)
        if cred is not None:
            return cred
        cred = self._build(tenant_id)
        with self._lock:
            return self._by_tenant.setdefault(tenant_id, cred)

    def _build(self, tenant_id: str) -> TokenCredential:
        s = self.settings
        if s.credential == "client_secret":
            from azure.identity import ClientSecretCredential

            return ClientSecretCredential(tenant_id, s.client_id, s.client_secret, **self._common())
        if s.credential == "managed_identity":
            from azure.identity import ClientAssertionCredential

            mi = self.managed_identity()
            return ClientAssertionCredential(tenant_id, s.client_id, lambda: mi.get_token(EXCHANGE_SCOPE).token, **self._common())
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(additionally_allowed_tenants=["*"], authority=s.authority)

    def for_storage(self) -> TokenCredential:
        """Identity-based storage (AzureWebJobsStorage__*): the managed identity itself."""
        from azure.identity import ManagedIdentityCredential

        kwargs = {"connection_verify": self.settings.ca_bundle} if self.settings.ca_bundle else {}
        return ManagedIdentityCredential(
            client_id=self.settings.storage_client_id or self.settings.managed_identity_client_id, **kwargs
        )
