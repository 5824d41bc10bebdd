"""In-process devcloud + Azurite for the scenarios that read the product's own counters.

ARM call counts come from devcloud's request log either way, but Table Storage operations are
counted by the product's `LinkStore` and the sweep needs a world far bigger than the default one,
so these scenarios run devcloud in this process and the product through `build_runtime`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from devcloud.azurite import start_azurite
from devcloud.cloud import DevCloud
from devcloud.world import World
from stack.world import product_world


@contextlib.contextmanager
def local_cloud(world: World | None = None) -> Iterator[tuple[DevCloud, Any]]:
    cloud = DevCloud(world or product_world()).start()
    azurite = None
    try:
        azurite = start_azurite()
        yield cloud, azurite
    finally:
        if azurite is not None:
            azurite.stop()
        cloud.stop()


def settings_env(cloud: DevCloud, azurite: Any, **overrides: str) -> dict[str, str]:
    """The product's app settings against this devcloud (client secret: token calls are not ARM calls)."""
    from stack.product import cloud_info, in_process_settings

    return in_process_settings(cloud_info(cloud), azurite.connection_string, **overrides)


def runtime(cloud: DevCloud, azurite: Any, **overrides: str) -> Any:
    """The product's runtime exactly as the triggers build it (reconciler, store, notifier, continuations)."""
    from shared.config import parse_settings
    from shared.runtime import build_runtime

    return build_runtime(parse_settings(settings_env(cloud, azurite, **overrides)))


def counts(entries: list[Any]) -> dict[str, int]:
    """Request log entries by kind: reads, writes, deletes, polls (LRO status), actions."""
    out = {"reads": 0, "writes": 0, "deletes": 0, "polls": 0, "actions": 0}
    for e in entries:
        out[{"read": "reads", "write": "writes", "delete": "deletes", "poll": "polls"}.get(e.kind, "actions")] += 1
    out["total"] = len(entries)
    return out


def describe(entry: Any) -> str:
    """`GET privateEndpoints/{privateEndpointName} 404`: one request log entry, short."""
    parts = [p for p in entry.template.split("/") if p]
    return f"{entry.method} {'/'.join(parts[-2:])} {entry.status}"
