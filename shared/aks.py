"""The spoke side: read clusters and act on their private endpoint connections by direct ARM call.

`az network private-endpoint-connection approve` refuses Microsoft.ContainerService/managedClusters,
so approval is a direct, synchronous PUT on
`.../managedClusters/{name}/privateEndpointConnections/{connection}` (200/201).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import not_found_means_read_again
from shared.ids import ClusterId, same_arm_id

if TYPE_CHECKING:
    from shared.arm import ArmClient

AKS_API_VERSION = "2025-10-01"
LIST_PAGE_LIMIT = 50  # pages followed when listing a subscription's clusters


@dataclass(frozen=True)
class Cluster:
    id: str
    location: str
    provisioning_state: str
    power_state: str
    private: bool
    private_fqdn: str | None
    tags: dict[str, str]
    etag: str | None
    vnet_integration: bool = False  # API Server VNet Integration: the API server sits behind an ILB, no private link
    apiserver_subnet_id: str | None = None  # its delegated subnet (BYO VNet); None: an AKS-managed VNet
    node_resource_group: str | None = None  # where AKS keeps the cluster's infrastructure (kube-apiserver)
    private_dns_zone: str = "system"  # apiServerAccessProfile.privateDNSZone: system | none | a zone id
    public_fqdn: str | None = None  # `fqdn`: the name kubectl uses when there is no private zone (`none`)

    @classmethod
    def from_arm(cls, body: dict[str, Any]) -> Cluster:
        props = body.get("properties") or {}
        access = props.get("apiServerAccessProfile") or {}
        return cls(
            id=body.get("id", ""),
            location=str(body.get("location", "")).replace(" ", "").lower(),
            provisioning_state=str(props.get("provisioningState", "")),
            power_state=str((props.get("powerState") or {}).get("code", "Running")),
            private=bool(access.get("enablePrivateCluster")),
            private_fqdn=props.get("privateFQDN"),
            tags={str(k).lower(): str(v) for k, v in (body.get("tags") or {}).items()},
            etag=body.get("eTag") or body.get("etag"),
            vnet_integration=bool(access.get("enableVnetIntegration")),
            apiserver_subnet_id=access.get("subnetId") or None,
            node_resource_group=props.get("nodeResourceGroup") or None,
            private_dns_zone=str(access.get("privateDNSZone") or "system"),
            public_fqdn=props.get("fqdn"),
        )


@dataclass(frozen=True)
class Connection:
    name: str
    id: str
    endpoint_id: str
    status: str  # Pending | Approved | Rejected | Disconnected
    description: str

    @classmethod
    def from_arm(cls, body: dict[str, Any]) -> Connection:
        props = body.get("properties") or {}
        state = props.get("privateLinkServiceConnectionState") or {}
        return cls(
            name=body.get("name", ""),
            id=body.get("id", ""),
            endpoint_id=(props.get("privateEndpoint") or {}).get("id", ""),
            status=str(state.get("status", "")),
            description=str(state.get("description", "")),
        )

    def belongs_to(self, endpoint_id: str) -> bool:
        return same_arm_id(self.endpoint_id, endpoint_id)


class ClusterApi:
    def __init__(self, arm: ArmClient) -> None:
        self.arm = arm

    def get(self, cluster: ClusterId, tenant_id: str) -> Cluster | None:
        body = self.arm.get_json(
            cluster.id, tenant_id=tenant_id, api_version=AKS_API_VERSION, what=f"read cluster {cluster.short}", ok_missing=True
        )
        return Cluster.from_arm(body) if body is not None else None

    def list_in_subscription(self, subscription_id: str, tenant_id: str) -> list[Cluster]:
        path = f"/subscriptions/{subscription_id}/providers/Microsoft.ContainerService/managedClusters"
        out: list[Cluster] = []
        body = self.arm.get_json(
            path, tenant_id=tenant_id, api_version=AKS_API_VERSION, what=f"list clusters in {subscription_id}"
        )
        for _ in range(LIST_PAGE_LIMIT):
            out += [Cluster.from_arm(c) for c in (body or {}).get("value", [])]
            next_link = (body or {}).get("nextLink")
            if not next_link:
                break
            body = self.arm.get_json(
                next_link, tenant_id=tenant_id, api_version=AKS_API_VERSION, what=f"list clusters in {subscription_id}"
            )
        return out

    def connections(self, cluster: ClusterId, tenant_id: str) -> list[Connection]:
        # The cluster was read a moment ago: a 404 means deleted since (the next read sees it gone) or a wrong answer.
        with not_found_means_read_again(f"list connections of {cluster.short}"):
            body = self.arm.get_json(
                f"{cluster.id}/privateEndpointConnections",
                tenant_id=tenant_id,
                api_version=AKS_API_VERSION,
                what=f"list connections of {cluster.short}",
            )
        return [Connection.from_arm(c) for c in (body or {}).get("value", [])]

    def set_connection_status(
        self, cluster: ClusterId, tenant_id: str, connection_name: str, status: str, description: str
    ) -> Connection:
        """Approve or reject one connection (synchronous PUT, as AKS answers)."""
        body = {"properties": {"privateLinkServiceConnectionState": {"status": status, "description": description}}}
        # A 404: the connection vanished between list and PUT (cluster stopped, endpoint replaced).
        with not_found_means_read_again(f"set connection {connection_name} of {cluster.short} to {status}"):
            resp = self.arm.put_json(
                f"{cluster.id}/privateEndpointConnections/{connection_name}",
                body,
                tenant_id=tenant_id,
                api_version=AKS_API_VERSION,
                what=f"set connection {connection_name} of {cluster.short} to {status}",
            )
        return Connection.from_arm(resp.json())
