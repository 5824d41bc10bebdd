"""The spoke side of a VNet-integrated cluster: its `kube-apiserver` frontend and OUR Private Link Service.

Microsoft's documented procedure (BYO VNet only): the cluster's API server sits behind an internal
load balancer named `kube-apiserver` in the node resource group; a Private Link Service (PLS) in
the cluster's own VNet, on that load balancer's first frontend IP configuration, lets the hub
reach it with a private endpoint that has no groupIds. The frontend's name is not documented, so
it is looked up. The PLS is named from the cluster id alone and tagged as ours; a PLS that is not
tagged as ours is never changed or deleted. Calls go through azure-mgmt-network with the spoke
tenant's credential and pace their pollers like the hub endpoint's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.endpoints import poll_delay
from shared.errors import TerminalError, map_azure_errors, not_found_means_read_again
from shared.ids import ClusterId, same_arm_id
from shared.model import Provisioned
from shared.results import Operation
from shared.sdk import AzureAccess, NetworkClients

if TYPE_CHECKING:
    from shared.credentials import Credentials

LB_NAME = "kube-apiserver"
TAG_CLUSTER = "hublink-cluster"
TAG_MANAGED_BY = "managed-by"
MANAGED_BY = "aks-hublink"
SUBJECT = "pls"  # the Link.reads key of our PLS (an Operation on it replaces that read)


def pls_name(cluster: ClusterId) -> str:
    """Deterministic, readable, unique per cluster, <= 80 chars of [a-z0-9-]."""
    digest = hashlib.sha256(cluster.key.encode("utf-8")).hexdigest()[:12]
    readable = re.sub(r"[^a-z0-9-]", "-", cluster.name.lower())[:40].strip("-") or "aks"
    return f"pls-hublink-{readable}-{digest}"


def vnet_of(subnet_id: str) -> str:
    i = subnet_id.lower().rfind("/subnets/")
    return subnet_id[:i] if i >= 0 else ""


@dataclass(frozen=True)
class Frontend:
    id: str
    private_ip: str
    subnet_id: str


@dataclass(frozen=True)
class PlsConnection:
    name: str
    endpoint_id: str
    status: str
    description: str

    def belongs_to(self, endpoint_id: str) -> bool:
        return same_arm_id(self.endpoint_id, endpoint_id)


@dataclass(frozen=True)
class LinkService(Provisioned):
    id: str
    name: str
    provisioning_state: str
    frontend_ids: tuple[str, ...]
    subnet_ids: tuple[str, ...]
    visibility: tuple[str, ...]
    auto_approval: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    connections: tuple[PlsConnection, ...] = ()

    def ours(self, cluster: ClusterId) -> bool:
        return self.tags.get(TAG_MANAGED_BY) == MANAGED_BY and self.tags.get(TAG_CLUSTER, "").lower() == cluster.key[:256]

    def on(self, frontend: Frontend) -> bool:
        return any(same_arm_id(f, frontend.id) for f in self.frontend_ids)


def _text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def link_service_from_model(pls: Any) -> LinkService:
    conns = []
    for c in pls.private_endpoint_connections or []:
        state = c.private_link_service_connection_state
        conns.append(
            PlsConnection(
                c.name or "",
                (c.private_endpoint.id if c.private_endpoint else "") or "",
                _text(state.status) if state else "",
                (state.description or "") if state else "",
            )
        )
    return LinkService(
        id=pls.id,
        name=pls.name,
        provisioning_state=_text(pls.provisioning_state),
        frontend_ids=tuple(f.id for f in pls.load_balancer_frontend_ip_configurations or [] if f.id),
        subnet_ids=tuple(c.subnet.id for c in pls.ip_configurations or [] if c.subnet and c.subnet.id),
        visibility=tuple(s.lower() for s in (pls.visibility.subscriptions if pls.visibility else None) or []),
        auto_approval=tuple(s.lower() for s in (pls.auto_approval.subscriptions if pls.auto_approval else None) or []),
        tags=dict(pls.tags or {}),
        connections=tuple(conns),
    )


class LinkServices:
    """kube-apiserver lookups and our PLS, per spoke subscription (each with its tenant's credential)."""

    def __init__(self, access: AzureAccess, credentials: Credentials) -> None:
        self.access = access
        self._clients = NetworkClients(access, credentials)

    def client(self, subscription_id: str, tenant_id: str) -> Any:
        return self._clients.get(subscription_id, tenant_id)

    def apiserver_frontend(self, cluster: ClusterId, node_resource_group: str, tenant_id: str) -> Frontend | None:
        """The first frontend of `kube-apiserver` in the node resource group; None when there is none."""
        from azure.core.exceptions import ResourceNotFoundError

        with map_azure_errors(f"read {LB_NAME} of {cluster.short}"):
            try:
                lb = self.client(cluster.subscription_id, tenant_id).load_balancers.get(node_resource_group, LB_NAME)
            except ResourceNotFoundError:
                return None
        for fe in lb.frontend_ip_configurations or []:
            if fe.id and fe.private_ip_address and fe.subnet and fe.subnet.id:
                return Frontend(fe.id, fe.private_ip_address, fe.subnet.id)
        return None

    def get(self, cluster: ClusterId, resource_group: str, tenant_id: str) -> LinkService | None:
        from azure.core.exceptions import ResourceNotFoundError

        name = pls_name(cluster)
        with map_azure_errors(f"read private link service {name}"):
            try:
                pls = self.client(cluster.subscription_id, tenant_id).private_link_services.get(resource_group, name)
            except ResourceNotFoundError:
                return None
        return link_service_from_model(pls)

    def begin_put(
        self,
        cluster: ClusterId,
        tenant_id: str,
        *,
        subnet_id: str,
        frontend: Frontend,
        location: str,
        hub_subscription: str,
        keep: LinkService | None = None,
    ) -> Operation:
        """Create (or repair) our PLS in the PLS subnet's resource group, on the cluster's frontend;
        the operation is started, not waited on (the path reads the PLS again at its Retry-After).

        The hub subscription is put in `visibility` and `autoApproval`; subscriptions a person added to
        our PLS (`keep`, the PLS as it is) stay.
        """
        from azure.mgmt.network import models as m

        visible = sorted({hub_subscription.lower(), *(keep.visibility if keep else ())})
        approved = sorted({hub_subscription.lower(), *(keep.auto_approval if keep else ())} - {"*"})
        body = m.PrivateLinkService(
            location=location,
            tags={TAG_CLUSTER: cluster.key[:256], TAG_MANAGED_BY: MANAGED_BY},
            load_balancer_frontend_ip_configurations=[m.FrontendIPConfiguration(id=frontend.id)],
            ip_configurations=[
                m.PrivateLinkServiceIpConfiguration(name="hublink-nat", subnet=m.Subnet(id=subnet_id), primary=True)
            ],
            visibility=m.PrivateLinkServicePropertiesVisibility(subscriptions=visible),
            auto_approval=m.PrivateLinkServicePropertiesAutoApproval(subscriptions=approved),
        )
        name, rg = pls_name(cluster), subnet_id.split("/")[4]
        what = f"create private link service {name}"
        with map_azure_errors(what):
            poller = self.client(cluster.subscription_id, tenant_id).private_link_services.begin_create_or_update(
                rg, name, body, polling=self.access.start_only()
            )
        return Operation(what, "create", poll_delay(poller), subject=SUBJECT)

    def begin_delete(self, cluster: ClusterId, resource_group: str, tenant_id: str) -> Operation:
        name = pls_name(cluster)
        what = f"delete private link service {name}"
        with not_found_means_read_again(what), map_azure_errors(what):
            poller = self.client(cluster.subscription_id, tenant_id).private_link_services.begin_delete(
                resource_group, name, polling=self.access.start_only()
            )
        return Operation(what, "delete", poll_delay(poller), subject=SUBJECT)

    def approve(
        self, cluster: ClusterId, resource_group: str, tenant_id: str, connection: PlsConnection, endpoint_id: str
    ) -> PlsConnection:
        """Approve ONE connection, and only when it is our own endpoint's (matched by id)."""
        if not connection.belongs_to(endpoint_id):
            raise TerminalError(
                f"refusing to approve connection {connection.name}: it is not the hub endpoint's", code="ForeignConnection"
            )
        return self.decide(
            cluster, resource_group, tenant_id, connection.name, "Approved", f"aks-hublink: hub access to {cluster.short}"
        )

    def decide(
        self, cluster: ClusterId, resource_group: str, tenant_id: str, connection_name: str, status: str, description: str
    ) -> PlsConnection:
        """Set one connection of our PLS to Approved or Rejected (a synchronous PUT).

        The automatic approval goes through `approve` (ours only); a person's decision on any pending
        connection comes here from shared.approvals.
        """
        from azure.mgmt.network import models as m

        state = m.PrivateLinkServiceConnectionState(status=status, description=description)
        body = m.PrivateEndpointConnection(name=connection_name, private_link_service_connection_state=state)
        what = f"set connection {connection_name} of private link service {pls_name(cluster)} to {status}"
        with not_found_means_read_again(what), map_azure_errors(what):
            got = self.client(cluster.subscription_id, tenant_id).private_link_services.update_private_endpoint_connection(
                resource_group, pls_name(cluster), connection_name, body
            )
        answer = got.private_link_service_connection_state
        return PlsConnection(
            got.name or connection_name,
            (got.private_endpoint.id if got.private_endpoint else "") or "",
            _text(answer.status) if answer else "",
            (answer.description or "") if answer else "",
        )
