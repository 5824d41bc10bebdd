"""The private-link path: a private AKS cluster's own private link service.

The hub endpoint targets the managed cluster itself with groupIds ["management"]; its connection
shows up on the cluster side, where the product approves it by a direct ARM PUT on
.../managedClusters/{name}/privateEndpointConnections/{connection} (shared.aks); the hub record is
the name kubectl uses, placed by the cluster's DNS mode (shared.dns.hub_placement).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.dns import hub_placement
from shared.paths.base import EndpointTarget

if TYPE_CHECKING:
    from shared.aks import Cluster, ClusterApi, Connection
    from shared.config import Hub
    from shared.errors import Unlinkable
    from shared.ids import ClusterId
    from shared.link import Link
    from shared.model import LinkState
    from shared.paths.base import DnsPlacement
    from shared.results import Result

GROUP_ID = "management"  # the AKS API server's sub-resource


class PrivateLinkPath:
    name = "private-link"

    def __init__(self, clusters: ClusterApi) -> None:
        self.clusters = clusters

    def applies(self, live: Cluster) -> bool:
        return live.private

    def cannot_link(self, live: Cluster) -> Unlinkable | None:
        return None  # AKS's own private link reaches every private cluster this path applies to

    def prepare(self, link: Link) -> Result | None:
        return None  # AKS provides the private link service itself

    def target(self, link: Link) -> EndpointTarget:
        return EndpointTarget(
            resource_id=link.cluster.id,
            group_ids=(GROUP_ID,),
            request_message=f"aks-hublink: hub access to the API server of {link.cluster.short}",
            member_names=(GROUP_ID,),  # privateLinkResources: management, requiredMembers ["management"]
        )

    def connections(self, cluster: ClusterId, tenant: str, state: LinkState) -> list[Connection]:
        return self.clusters.connections(cluster, tenant)

    def decide(
        self, cluster: ClusterId, tenant: str, state: LinkState, connection_name: str, status: str, description: str
    ) -> Connection:
        return self.clusters.set_connection_status(cluster, tenant, connection_name, status, description)

    def placement(self, link: Link, hub: Hub) -> DnsPlacement:
        assert link.live is not None
        return hub_placement(link.live, hub)  # every DNS mode: system, custom privatelink/private, none

    def cleanup(self, link: Link) -> Result | None:
        return None
