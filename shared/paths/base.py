"""The access-path interface: how the hub reaches one kind of private cluster.

The controller and the steps know a cluster only through its path. A path says:

    applies(live)          whether it is the way to reach this cluster (first match wins)
    prepare(link)          make the target exist (a Private Link Service path creates its PLS);
                           None when there is nothing to do, else a step Result (Wait, ...)
    target(link)           what the hub endpoint targets: resource id, groupIds, request message
    connections(...)       the target's private endpoint connections (where ours is approved)
    decide(...)            approve or reject one of them
    placement(link, hub)   which DNS zone and record name the hub record goes to (shared.dns.hub_placement
                           decides it from the cluster's DNS mode; a path may pass the name it knows)
    cleanup(link)          remove what prepare made (None when nothing is left)
    cannot_link(live)      why the path cannot link this cluster as it is now (an Unlinkable), or None;
                           `hublink doctor` asks it before anything is tried

The paths: `private_link.PrivateLinkPath` (a private cluster's own private link: groupIds
["management"], approval on managedClusters/privateEndpointConnections, zone
privatelink.<region>.azmk8s.io) and `vnet_integration.VnetIntegrationPath` (an API Server VNet
Integration cluster: our Private Link Service on kube-apiserver's frontend, no groupIds, approval
on the PLS's privateEndpointConnections, zone private.<region>.azmk8s.io). A new kind of cluster
is a new module implementing this Protocol, registered in `shared.paths.default_paths`; nothing
else branches on it. An operation a path starts is an `Operation` whose `subject` names the
`Link.reads` key its result replaces, so the controller waits on it like on the endpoint's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shared.dns import DnsPlacement  # where the hub record goes; shared.dns.hub_placement decides it by DNS mode

if TYPE_CHECKING:
    from shared.aks import Cluster, Connection
    from shared.config import Hub
    from shared.errors import Unlinkable
    from shared.ids import ClusterId
    from shared.link import Link
    from shared.model import LinkState
    from shared.results import Result


@dataclass(frozen=True)
class EndpointTarget:
    """What the hub private endpoint connects to."""

    resource_id: str  # privateLinkServiceId: the cluster itself, or a Private Link Service
    group_ids: tuple[str, ...]  # ("management",) for a private cluster; () for a Private Link Service
    request_message: str
    # The members a static address must name (the group's requiredMembers): ("management",) for a
    # private cluster, ("",) for a target without groups (a Private Link Service: one configuration
    # with no groupId/memberName); empty when the product does not ask for a fixed address on it.
    member_names: tuple[str, ...] = ()


class AccessPath(Protocol):
    name: str

    def applies(self, live: Cluster) -> bool: ...

    def prepare(self, link: Link) -> Result | None: ...

    def target(self, link: Link) -> EndpointTarget: ...

    def connections(self, cluster: ClusterId, tenant: str, state: LinkState) -> list[Connection]: ...

    def decide(
        self, cluster: ClusterId, tenant: str, state: LinkState, connection_name: str, status: str, description: str
    ) -> Connection: ...

    def placement(self, link: Link, hub: Hub) -> DnsPlacement: ...

    def cleanup(self, link: Link) -> Result | None: ...

    def cannot_link(self, live: Cluster) -> Unlinkable | None: ...
