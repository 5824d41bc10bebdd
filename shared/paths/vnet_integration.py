"""The vnet-integration path: a private API Server VNet Integration cluster, through OUR Private Link Service.

Such a cluster has no private link of its own (no privateEndpointConnections, no `management`
group): its API server sits behind the internal load balancer `kube-apiserver` in the node resource
group. Microsoft's documented way in from another VNet (BYO VNet only), done here with no human
step once the spoke has a PLS subnet:

    prepare     our PLS (deterministic name, tagged ours) on kube-apiserver's frontend, in the PLS
                subnet of the cluster's VNet, with the hub subscription in visibility + autoApproval;
                created, repaired (frontend moved, PLS Failed or deleted by hand) or moved (subnet
                changed) through a long-running operation the controller waits on
    target      the PLS, no groupIds
    connections the PLS's privateEndpointConnections (ours matched by endpoint id; others are foreign)
    placement   hub zone private.<region>.azmk8s.io (HUBLINK_HUBS[region].vnetIntegrationDnsZoneId),
                record = the first two labels of privateFQDN
    cleanup     our PLS, after the record and the endpoint (the cleanup step's order), before the row

Where the PLS goes: the cluster's tag `hublink-pls-subnet=<subnet id>`, else HUBLINK_PLS_SUBNETS
for the cluster's VNet. A cluster this path cannot link fails with a named reason
(shared.errors.UNLINKABLE) after removing anything of ours it had.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from shared.aks import Connection
from shared.config import PLS_SUBNET_TAG, SUBNET_ID, vnet_of
from shared.dns import hub_placement
from shared.errors import TerminalError, TransientError, Unlinkable, refusal
from shared.ids import same_arm_id
from shared.linkservice import SUBJECT, pls_name
from shared.paths.base import DnsPlacement, EndpointTarget
from shared.results import Operation, Wait
from shared.sdk import DEFAULT_POLL_S

if TYPE_CHECKING:
    from shared.aks import Cluster
    from shared.config import Hub
    from shared.ids import ClusterId
    from shared.link import Link
    from shared.linkservice import Frontend, LinkService, LinkServices
    from shared.model import LinkState
    from shared.results import Result


def pls_id(cluster: ClusterId, resource_group: str) -> str:
    return (
        f"/subscriptions/{cluster.subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Network/privateLinkServices/{pls_name(cluster)}"
    )


def group_of(resource_id: str) -> str:
    return resource_id.split("/")[4]


class VnetIntegrationPath:
    name = "vnet-integration"

    def __init__(self, link_services: LinkServices, pls_subnets: Mapping[str, str]) -> None:
        self.services = link_services
        self.pls_subnets = {k.lower(): v for k, v in pls_subnets.items()}

    def applies(self, live: Cluster) -> bool:
        return live.private and live.vnet_integration

    def cannot_link(self, live: Cluster) -> Unlinkable | None:
        """Why this path cannot link the cluster as it is now, before anything is tried (hublink doctor)."""
        try:
            self.pls_subnet(live)
        except Unlinkable as exc:
            return exc
        return None

    # -- where the PLS goes ---------------------------------------------------------------------
    def pls_subnet(self, live: Cluster) -> str:
        """The PLS subnet: the cluster's tag wins over HUBLINK_PLS_SUBNETS; Unlinkable when there is none."""
        if not live.apiserver_subnet_id:
            raise Unlinkable("ManagedVnetNotSupported")
        vnet = vnet_of(live.apiserver_subnet_id)
        tagged = (live.tags.get(PLS_SUBNET_TAG) or "").strip()
        subnet, source = (tagged, f"tag {PLS_SUBNET_TAG}") if tagged else (self.pls_subnets.get(vnet), "HUBLINK_PLS_SUBNETS")
        if not subnet:
            raise Unlinkable("NoPlsSubnet", vnet=vnet)
        if not SUBNET_ID.match(subnet) or vnet_of(subnet) != vnet:
            raise Unlinkable("InvalidPlsSubnet", subnet=subnet, source=source, vnet=vnet)
        return subnet

    # -- prepare: our PLS on kube-apiserver's frontend --------------------------------------------
    def prepare(self, link: Link) -> Result | None:
        """Our PLS exists and is right, or the operation that gets it there (or a named reason)."""
        try:
            return self._prepare(link)
        except Unlinkable:
            state = link.state
            if state.endpoint_id or state.record_name or state.link_service_id:
                from shared.steps.cleanup import cleanup

                left = cleanup(link, reason="the cluster can no longer be linked")
                if isinstance(left, Wait):
                    return left  # removing what we had; the next pass fails with the reason
            raise

    def _prepare(self, link: Link) -> Result | None:
        assert link.live is not None and link.hub is not None
        live, cluster, state = link.live, link.cluster, link.state
        subnet = self.pls_subnet(live)
        expected = pls_id(cluster, group_of(subnet))
        frontend = link.read(
            "frontend", lambda: self.services.apiserver_frontend(cluster, live.node_resource_group or "", link.tenant)
        )
        if frontend is None:
            raise TransientError(f"kube-apiserver of {cluster.short} has no frontend yet", code="NoApiserverFrontend")
        pls = link.read(_key(expected), lambda: self.services.get(cluster, group_of(subnet), link.tenant))
        if pls is not None and not pls.ours(cluster):
            raise Unlinkable("PlsNameCollision", name=pls.name)
        if pls is not None and pls.in_progress:
            return _observing(pls, _key(expected))
        state.link_service_id = expected
        if pls is not None and not any(same_arm_id(s, subnet) for s in pls.subnet_ids):
            if (left := self._remove(link, expected, "moving the private link service to its new subnet")) is not None:
                return left
            pls = None
        if pls is not None and self.healthy(pls, frontend, link.hub):
            link.mark("pls", done=True)
            return None
        return self._put(link, subnet, frontend, pls)

    def healthy(self, pls: LinkService, frontend: Frontend, hub: Hub) -> bool:
        sub = hub.subscription_id.lower()
        visible = sub in pls.visibility or "*" in pls.visibility
        return pls.succeeded and pls.on(frontend) and visible and sub in pls.auto_approval

    def _put(self, link: Link, subnet: str, frontend: Frontend, pls: LinkService | None) -> Wait:
        assert link.live is not None and link.hub is not None
        why = "created" if pls is None else f"repaired ({_what_is_wrong(pls, frontend)})"
        link.mark("pls", message=f"private link service {why}")
        link.save()  # intent before acting: the row names the PLS before it exists
        try:
            op = self.services.begin_put(
                link.cluster,
                link.tenant,
                subnet_id=subnet,
                frontend=frontend,
                location=link.live.location,
                hub_subscription=link.hub.subscription_id,
                keep=pls,
            )
        except TerminalError as exc:
            if pls is None:
                link.state.link_service_id = None  # refused: nothing was created
            raise refusal(exc, group=link.live.node_resource_group or "") from exc
        link.log.info("link.pls.put_started", pls=link.state.link_service_id, why=why)
        op = replace(op, subject=_key(link.state.link_service_id or ""))
        return Wait(op.poll_s, f"private link service {pls_name(link.cluster)} is being {why}", op)

    # -- the hub endpoint's side ------------------------------------------------------------------
    def target(self, link: Link) -> EndpointTarget:
        assert link.state.link_service_id, "prepare records the PLS first"
        return EndpointTarget(
            resource_id=link.state.link_service_id,
            group_ids=(),
            request_message=f"aks-hublink: hub access to the API server of {link.cluster.short}",
        )

    def connections(self, cluster: ClusterId, tenant: str, state: LinkState) -> list[Connection]:
        if not state.link_service_id:
            return []
        pls = self.services.get(cluster, group_of(state.link_service_id), tenant)
        if pls is None:
            return []
        return [
            Connection(c.name, f"{pls.id}/privateEndpointConnections/{c.name}", c.endpoint_id, c.status, c.description)
            for c in pls.connections
        ]

    def decide(
        self, cluster: ClusterId, tenant: str, state: LinkState, connection_name: str, status: str, description: str
    ) -> Connection:
        if not state.link_service_id:
            raise TerminalError(f"no private link service is recorded for {cluster.short}", code="NoLinkService")
        got = self.services.decide(cluster, group_of(state.link_service_id), tenant, connection_name, status, description)
        return Connection(got.name, f"{state.link_service_id}/privateEndpointConnections/{got.name}", got.endpoint_id,
                          got.status, got.description)  # fmt: skip

    def placement(self, link: Link, hub: Hub) -> DnsPlacement:
        """`<a>.<b>.private.<region>.azmk8s.io` -> record `<a>.<b>` in the hub's private.<region>.azmk8s.io
        (and every other DNS mode as for private-link clusters: shared.dns.hub_placement)."""
        assert link.live is not None
        return hub_placement(link.live, hub)

    # -- cleanup: our PLS, last before the row ------------------------------------------------------
    def cleanup(self, link: Link) -> Result | None:
        state = link.state
        if not state.link_service_id and link.fresh and link.live is not None:
            try:  # a row lost after the PLS was made: look where it would be
                state.link_service_id = pls_id(link.cluster, group_of(self.pls_subnet(link.live)))
            except Unlinkable:
                return None
        if not state.link_service_id:
            return None
        return self._remove(link, state.link_service_id, "removing the private link service")

    def _remove(self, link: Link, resource_id: str, why: str) -> Result | None:
        """Delete that PLS if it is ours (someone else's is left alone); None once it is gone."""
        state = link.state
        pls = link.read(_key(resource_id), lambda: self.services.get(link.cluster, group_of(resource_id), link.tenant))
        if pls is None or not pls.ours(link.cluster):
            if same_arm_id(state.link_service_id, resource_id):
                state.link_service_id = None
            return None
        if pls.in_progress:
            return _observing(pls, _key(resource_id))
        link.mark("pls", message=why)
        state.link_service_id = resource_id  # recorded until it is gone
        link.save()
        op = self.services.begin_delete(link.cluster, group_of(resource_id), link.tenant)
        link.log.info("link.pls.delete_started", pls=resource_id, why=why)
        return Wait(op.poll_s, f"{why}: {pls.name} is being deleted", replace(op, subject=_key(resource_id)))


def _key(resource_id: str) -> str:
    """The Link.reads key of one PLS (an Operation on it replaces that read when it ends)."""
    return f"{SUBJECT}:{resource_id.lower()}"


def _observing(pls: LinkService, key: str) -> Wait:
    """Someone's operation on our PLS runs (another invocation's, or one whose wait ran out): read it again."""
    op = Operation(f"private link service {pls.name}", "observe", DEFAULT_POLL_S, subject=key)
    return Wait(DEFAULT_POLL_S, f"private link service {pls.name} is {pls.provisioning_state}", op)


def _what_is_wrong(pls: LinkService, frontend: Frontend) -> str:
    if not pls.succeeded:
        return f"it is {pls.provisioning_state}"
    if not pls.on(frontend):
        return "kube-apiserver's frontend changed"
    return "the hub subscription is missing from visibility or autoApproval"
