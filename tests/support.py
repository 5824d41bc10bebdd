"""Test helpers: settings for the product against devcloud, fast operation times, and re-exports of
devcloud.client (the Operator that drives devcloud like a user would)."""

from __future__ import annotations

import functools
from typing import Any

from devcloud.client import Operator, RemoteCloud, wait_for
from devcloud.world import HUB_SUBSCRIPTION, HUB_TENANT, SPOKE_SUBSCRIPTION_A, SPOKE_SUBSCRIPTION_B1, SPOKE_TENANT
from stack.client import start_stack, stop_stack


def settle(service: Any, cluster_id: str, *, max_runs: int = 40, **kw: Any) -> Any:
    """Reconcile as the continuation queue does (in this process, in real time): each "look again in
    N s" runs again N s later, until an outcome asks for no follow-up, is an error, busy or terminal."""
    import time

    from shared.service import Service

    outcome = Service.reconcile(service, cluster_id, **kw)
    for _ in range(max_runs - 1):
        if outcome.requeue_after is None or outcome.busy or outcome.error or outcome.terminal:
            break
        time.sleep(max(0.0, outcome.requeue_after))
        outcome = Service.reconcile(service, cluster_id, **kw)
    return outcome


def settling_service() -> Any:
    """Service whose `reconcile` follows its continuations (`settle`); `reconcile_once` is one invocation."""
    from shared.service import Service

    class SettlingService(Service):
        def reconcile(self, cluster_id: str, **kw: Any) -> Any:
            return settle(self, cluster_id, **kw)

        def reconcile_once(self, cluster_id: str, **kw: Any) -> Any:
            return Service.reconcile(self, cluster_id, **kw)

    return SettlingService


def product_env(cloud: Any, azurite: Any, **overrides: str) -> dict[str, str]:
    """App settings for the product pointed at devcloud + Azurite (a fresh table per call)."""
    from stack.product import cloud_info, in_process_settings

    fast = {"HUBLINK_BACKOFF_BASE_S": "1", "HUBLINK_ABSENCE_CONFIRM_S": "3"}  # a deleted cluster: gone in 3 s
    return in_process_settings(cloud_info(cloud), azurite.connection_string, **{**fast, **overrides})


def easy_auth_headers(
    *roles: str, name: str = "alice@contoso.example", object_id: str = "0a0a0a0a-0000-4000-8000-00000000a11c", user: bool = True
) -> dict[str, str]:
    """The headers App Service Authentication sets for a verified caller holding `roles`: for calling
    function_app's HTTP functions in-process as the platform would (tests/test_api_auth.py goes through
    the real module in the local host)."""
    from devcloud.easyauth import principal_headers

    claims: dict[str, Any] = {"oid": object_id, "tid": HUB_TENANT, "name": name, "roles": list(roles)}
    claims.update({"upn": name, "idtyp": "user"} if user else {"idtyp": "app", "appid": object_id})
    return {k.upper(): v for k, v in principal_headers(claims).items()}


def fast_lros(cloud: Any) -> dict[str, Any]:
    """Shrink devcloud's operation times for tests; returns what to restore."""
    saved = {"lro": dict(cloud.arm.lro_seconds), "retry": dict(cloud.arm.retry_after_s)}
    cloud.arm.lro_seconds.update(
        {
            "managedClusters/create": 0.2,
            "managedClusters/update": 0.1,
            "managedClusters/delete": 0.2,
            "managedClusters/stop": 0.1,
            "managedClusters/start": 0.1,
            "privateEndpoints/create": 0.3,
            "privateEndpoints/delete": 0.2,
            "privateLinkServices/create": 0.2,
            "privateLinkServices/update": 0.2,
            "privateLinkServices/delete": 0.2,
        }
    )
    cloud.arm.retry_after_s.update({"Microsoft.Network": 1, "Microsoft.ContainerService": 1})
    return saved


def restore_lros(cloud: Any, saved: dict[str, Any]) -> None:
    cloud.arm.lro_seconds.clear()
    cloud.arm.lro_seconds.update(saved["lro"])
    cloud.arm.retry_after_s.clear()
    cloud.arm.retry_after_s.update(saved["retry"])


__all__ = [
    "easy_auth_headers",
    "indexed_functions",
    "Operator",
    "RemoteCloud",
    "start_stack",
    "stop_stack",
    "wait_for",
    "product_env",
    "fast_lros",
    "restore_lros",
    "HUB_SUBSCRIPTION",
    "HUB_TENANT",
    "SPOKE_SUBSCRIPTION_A",
    "SPOKE_SUBSCRIPTION_B1",
    "SPOKE_TENANT",
]


@functools.cache
def indexed_functions() -> tuple[Any, ...]:
    """function_app's functions, indexed once per process: `app.get_functions()` raises on a second call."""
    import function_app

    return tuple(function_app.app.get_functions())
