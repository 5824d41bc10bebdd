"""Access paths: how the hub reaches each kind of private cluster (see `shared.paths.base`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.paths.base import AccessPath, DnsPlacement, EndpointTarget
from shared.paths.private_link import PrivateLinkPath
from shared.paths.vnet_integration import VnetIntegrationPath

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shared.aks import Cluster, ClusterApi
    from shared.linkservice import LinkServices

__all__ = [
    "AccessPath",
    "DnsPlacement",
    "EndpointTarget",
    "PrivateLinkPath",
    "VnetIntegrationPath",
    "default_paths",
    "path_for",
    "path_named",
]


def default_paths(
    clusters: ClusterApi, link_services: LinkServices, pls_subnets: Mapping[str, str] | None = None
) -> tuple[AccessPath, ...]:
    """Every path the product knows, most specific first (a new path goes before the ones it narrows):
    a VNet-integrated private cluster is also private, so its path comes before private-link's."""
    return (VnetIntegrationPath(link_services, pls_subnets or {}), PrivateLinkPath(clusters))


def path_for(paths: Sequence[AccessPath], live: Cluster) -> AccessPath | None:
    """The first path that applies to this cluster as it is now."""
    return next((p for p in paths if p.applies(live)), None)


def path_named(paths: Sequence[AccessPath], name: str | None) -> AccessPath:
    """The path a row recorded (rows written before paths existed used the private-link path)."""
    wanted = name or PrivateLinkPath.name
    return next((p for p in paths if p.name == wanted), next(p for p in paths if p.name == PrivateLinkPath.name))
