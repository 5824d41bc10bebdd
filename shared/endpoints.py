"""The hub side: the private endpoint to a cluster, through azure-mgmt-network and its pollers.

The endpoint is a manual connection (`manualPrivateLinkServiceConnections`) to whatever the
cluster's access path targets (shared.paths): across tenants nobody can auto-approve, so the
target side shows it Pending until the product approves it there. This adapter owns the SDK's
types: callers get an `Endpoint` and, for a create or delete, an `Operation` (shared.results)
with the Retry-After Azure answered: the operation is started and never waited on (no poller
thread is left running); the caller reads the endpoint again at that time. azure-mgmt-network is
imported only when first used: it is the heaviest import of the app and most invocations (timer
ticks on Ready links) never need it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.capacity import SubnetRoom
from shared.errors import TerminalError, map_azure_errors, not_found_means_read_again
from shared.ids import ClusterId, same_arm_id
from shared.model import Provisioned
from shared.results import Operation
from shared.sdk import DEFAULT_POLL_S, AzureAccess, NetworkClients

if TYPE_CHECKING:
    from azure.core.polling import LROPoller

    from shared.config import Hub
    from shared.credentials import Credentials
    from shared.paths import EndpointTarget

TAG_CLUSTER = "hublink-cluster"
TAG_MANAGED_BY = "managed-by"
MANAGED_BY = "aks-hublink"


@dataclass(frozen=True)
class Endpoint(Provisioned):
    id: str
    name: str
    provisioning_state: str
    target_id: str | None
    connection_status: str | None  # the hub-side mirror of the cluster-side state
    nic_ids: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    static_ip: str | None = None  # the address its ipConfigurations asked for (None: dynamic)


class HubEndpoints:
    """Our private endpoints in the hub, and the NICs that carry their addresses."""

    def __init__(self, access: AzureAccess, credentials: Credentials, hub_tenant_id: str) -> None:
        self.access = access
        self.hub_tenant_id = hub_tenant_id
        self._clients = NetworkClients(access, credentials)

    def client(self, subscription_id: str) -> Any:
        return self._clients.get(subscription_id, self.hub_tenant_id)

    def get(self, hub: Hub, name: str) -> Endpoint | None:
        from azure.core.exceptions import ResourceNotFoundError

        with map_azure_errors(f"read hub endpoint {name}"):
            try:
                pe = self.client(hub.subscription_id).private_endpoints.get(hub.resource_group, name)
            except ResourceNotFoundError:
                return None
        return endpoint_from_model(pe)

    def list_in_group(self, subscription_id: str, resource_group: str) -> list[Endpoint]:
        """Every private endpoint of a hub resource group (the SDK follows the pages' nextLink)."""
        with map_azure_errors(f"list hub endpoints in {resource_group}"):
            return [endpoint_from_model(pe) for pe in self.client(subscription_id).private_endpoints.list(resource_group)]

    def nic_ips(self, subscription_id: str, resource_group: str) -> dict[str, str]:
        """NIC id (lower case) -> its first private IP, for every NIC of a hub resource group."""
        out: dict[str, str] = {}
        with map_azure_errors(f"list network interfaces in {resource_group}"):
            for nic in self.client(subscription_id).network_interfaces.list(resource_group):
                ip = next((c.private_ip_address for c in nic.ip_configurations or [] if c.private_ip_address), None)
                if nic.id and ip:
                    out[nic.id.lower()] = ip
        return out

    def begin_create(
        self,
        hub: Hub,
        cluster: ClusterId,
        location: str,
        target: EndpointTarget,
        *,
        static_ip: str | None = None,
    ) -> Operation:
        """Start creating the endpoint (in `hub.subnet_id`, asking for `static_ip` when given); the
        Operation carries the Retry-After Azure answered."""
        from azure.mgmt.network.models import (
            PrivateEndpoint,
            PrivateEndpointIPConfiguration,
            PrivateLinkServiceConnection,
            Subnet,
        )

        name = cluster.endpoint_name
        static = None
        if static_ip and target.member_names:
            # A fixed address names the group's member (AKS: group and member "management"; a Private Link
            # Service target has neither, its path gives the member "").
            static = [
                PrivateEndpointIPConfiguration(
                    name=f"hublink-{member or 'static'}"[:80],
                    group_id=target.group_ids[0] if target.group_ids else None,
                    member_name=member or None,
                    private_ip_address=static_ip,
                )
                for member in target.member_names[:1]
            ]
        body = PrivateEndpoint(
            location=location,
            subnet=Subnet(id=hub.subnet_id),
            manual_private_link_service_connections=[
                PrivateLinkServiceConnection(
                    name=name,
                    private_link_service_id=target.resource_id,
                    group_ids=list(target.group_ids) or None,
                    request_message=target.request_message,
                )
            ],
            tags={TAG_CLUSTER: cluster.key[:256], TAG_MANAGED_BY: MANAGED_BY},
            ip_configurations=static,
        )
        what = f"create hub endpoint {name}" + (f" at {static_ip}" if static else "")
        with map_azure_errors(what):
            poller = self.client(hub.subscription_id).private_endpoints.begin_create_or_update(
                hub.resource_group, name, body, polling=self.access.start_only()
            )
        return Operation(what, "create", poll_delay(poller))

    def begin_delete(self, hub: Hub, name: str) -> Operation:
        what = f"delete hub endpoint {name}"
        with not_found_means_read_again(what), map_azure_errors(what):
            poller = self.client(hub.subscription_id).private_endpoints.begin_delete(
                hub.resource_group, name, polling=self.access.start_only()
            )
        return Operation(what, "delete", poll_delay(poller))

    def subnet_room(self, hub: Hub, vnet_limit: int) -> list[SubnetRoom]:
        """Room in each of the hub's subnets, in their order: one VNet read per hub VNet."""
        rooms: dict[str, SubnetRoom] = {}
        vnets: dict[str, list[str]] = {}
        for subnet in hub.subnets:
            vnets.setdefault(subnet[: subnet.lower().index("/subnets/")], []).append(subnet)
        for vnet_id, subnets in vnets.items():
            parts = vnet_id.strip("/").split("/")
            with map_azure_errors(f"read hub VNet {parts[-1]}"):
                vnet = self.client(parts[1]).virtual_networks.get(parts[3], parts[-1])
            listed = list(vnet.subnets or [])
            endpoints = sum(len(s.private_endpoints or []) for s in listed)
            for subnet in subnets:
                found = next((s for s in listed if same_arm_id(s.id, subnet)), None)
                prefix = (found.address_prefix or (found.address_prefixes or [""])[0]) if found else ""
                used = len(found.ip_configurations or []) if found else 0
                rooms[subnet.lower()] = SubnetRoom(subnet, prefix or "", used, vnet_id, endpoints, vnet_limit)
        return [rooms[s.lower()] for s in hub.subnets]

    def private_ip(self, endpoint: Endpoint) -> str:
        """The endpoint's private IP, read from its NIC (the address clients connect to)."""
        if not endpoint.nic_ids:
            raise TerminalError(f"hub endpoint {endpoint.name} has no network interface", code="NoNetworkInterface")
        parts = endpoint.nic_ids[0].strip("/").split("/")
        sub, rg, nic = parts[1], parts[3], parts[-1]
        with not_found_means_read_again(f"read NIC {nic} of hub endpoint {endpoint.name}"), map_azure_errors(f"read NIC {nic}"):
            nic_obj = self.client(sub).network_interfaces.get(rg, nic)
        for cfg in nic_obj.ip_configurations or []:
            if cfg.private_ip_address:
                return cfg.private_ip_address
        raise TerminalError(f"NIC {nic} of hub endpoint {endpoint.name} has no private IP", code="NoPrivateIp")


def poll_delay(poller: LROPoller, default: float = DEFAULT_POLL_S) -> float:
    """The Retry-After the service gave this operation (azure-core keeps it on the polling method)."""
    method = poller.polling_method()
    extract = getattr(method, "_extract_delay", None)
    try:
        delay = float(extract()) if extract else default
    except Exception:  # no response yet or a polling method without it: Azure Network's usual value
        delay = default
    return delay if delay > 0 else default


def endpoint_from_model(pe: Any) -> Endpoint:
    conns = list(pe.manual_private_link_service_connections or []) + list(pe.private_link_service_connections or [])
    conn = conns[0] if conns else None
    state = conn.private_link_service_connection_state if conn else None
    return Endpoint(
        id=pe.id,
        name=pe.name,
        provisioning_state=_text(pe.provisioning_state),
        target_id=conn.private_link_service_id if conn else None,
        connection_status=state.status if state else None,
        nic_ids=tuple(n.id for n in (pe.network_interfaces or []) if n.id),
        tags=dict(pe.tags or {}),
        static_ip=next((c.private_ip_address for c in pe.ip_configurations or [] if c.private_ip_address), None),
    )


def _text(value: Any) -> str:
    """An SDK enum's value: str() of azure-mgmt-network's ProvisioningState.UPDATING is 'ProvisioningState.UPDATING'."""
    return str(getattr(value, "value", value) or "")


def made_for(endpoint: Endpoint, cluster: ClusterId) -> bool:
    """Whether we made this endpoint for this cluster (our tags), whatever it targets now."""
    tags = {k.lower(): v for k, v in endpoint.tags.items()}
    return tags.get(TAG_MANAGED_BY) == MANAGED_BY and tags.get(TAG_CLUSTER, "").lower() == cluster.key[:256]


def points_at(endpoint: Endpoint, target_id: str) -> bool:
    """Whether the endpoint connects to `target_id` (ARM ids compare case-insensitively)."""
    return same_arm_id(endpoint.target_id, target_id)
