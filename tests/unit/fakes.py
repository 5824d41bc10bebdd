"""In-memory fakes of the product's own adapters (never of Azure's HTTP): the controller and the
steps run against these in milliseconds. The devcloud tests stay the proof against Azure's behaviour."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.aks import Cluster, Connection
from shared.capacity import SubnetRoom
from shared.config import Hub
from shared.controller import Backoff, Controller
from shared.dns import Record
from shared.endpoints import Endpoint
from shared.errors import ConcurrentUpdate, DnsConflict, TerminalError
from shared.ids import ClusterId, same_arm_id
from shared.link import Policy, Ports
from shared.linkservice import MANAGED_BY, TAG_CLUSTER, TAG_MANAGED_BY, Frontend, LinkService, PlsConnection, pls_name
from shared.model import LinkState, Phase
from shared.paths import default_paths
from shared.paths.vnet_integration import pls_id
from shared.results import Operation
from shared.state import LinkStore

SUB = "20000000-0000-4000-8000-0000000000b1"
TENANT = "b2b2b2b2-0000-4000-8000-000000000002"
HUB_SUB = "10000000-0000-4000-8000-0000000000a1"
HUB_RG = f"/subscriptions/{HUB_SUB}/resourceGroups/rg-hub"
ZONE_ID = f"{HUB_RG}/providers/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
VNET_ZONE_ID = f"{HUB_RG}/providers/Microsoft.Network/privateDnsZones/private.westeurope.azmk8s.io"
HUB = Hub("westeurope", f"{HUB_RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/s", ZONE_ID, VNET_ZONE_ID)
POLL_S = 10.0
SPOKE_VNET = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-aks"
APISERVER_SUBNET = f"{SPOKE_VNET}/subnets/snet-apiserver"
PLS_SUBNET = f"{SPOKE_VNET}/subnets/snet-pls"


def cluster_id(name: str = "aks1") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/{name}"


class FakeClock:
    def __init__(self) -> None:
        self.t = datetime(2026, 1, 1, tzinfo=UTC)
        self.mono = 1000.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        self.slept.append(seconds)

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)
        self.mono += seconds


class FakeStore(LinkStore):
    """The real lease logic (LinkStore's) over a dict instead of a table, with ETags."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(table=None, clock=clock)  # type: ignore[arg-type]
        self.rows: dict[str, LinkState] = {}
        self.hubs = {}
        self._etags = itertools.count(1)
        self.writes = 0
        self.before_write: Any = None  # hook: called with the state before each conditional write

    def _key(self, cid: str) -> str:
        return ClusterId.parse(cid).key

    def get(self, cluster: ClusterId) -> LinkState | None:
        row = self.rows.get(cluster.key)
        return copy.deepcopy(row) if row else None

    def list(self, *, phase: Phase | None = None) -> list[LinkState]:
        return [copy.deepcopy(r) for r in self.rows.values() if phase is None or r.phase is phase]

    def due(self, now: datetime) -> list[LinkState]:
        return [copy.deepcopy(r) for r in self.rows.values() if r.next_attempt_at and r.next_attempt_at <= now]

    def undelivered(self) -> list[LinkState]:
        return [copy.deepcopy(r) for r in self.rows.values() if r.notices.pending]

    def _write(self, state: LinkState) -> LinkState:
        state.etag = str(next(self._etags))
        self.rows[self._key(state.cluster_id)] = copy.deepcopy(state)
        self.writes += 1
        return state

    def insert(self, state: LinkState) -> LinkState:
        if self._key(state.cluster_id) in self.rows:
            raise ConcurrentUpdate("state row was created by another invocation")
        return self._write(state)

    def replace(self, state: LinkState) -> LinkState:
        if self.before_write:
            self.before_write(state)
        row = self.rows.get(self._key(state.cluster_id))
        if row is None or row.etag != state.etag:
            raise ConcurrentUpdate("state row changed since it was read")
        return self._write(state)

    def delete(self, state: LinkState) -> None:
        row = self.rows.get(self._key(state.cluster_id))
        if row is not None and row.etag != state.etag:
            raise ConcurrentUpdate("state row changed since it was read")
        self.rows.pop(self._key(state.cluster_id), None)

    hubs: dict[str, tuple[str, str]] = {}  # region -> (level, etag): the hub capacity rows

    def _hub_get(self, region: str) -> tuple[str, str | None] | None:
        return self.hubs.get(region)

    def _hub_put(self, region: str, level: str, etag: str | None) -> None:
        current = self.hubs.get(region)
        if (current[1] if current else None) != etag:
            raise ConcurrentUpdate("hub capacity row changed since it was read")
        self.hubs[region] = (level, str(next(self._etags)))

    def touch(self, cid: str, **changes: Any) -> None:
        """Someone else writes the row (a new ETag)."""
        row = self.rows[self._key(cid)]
        for k, v in changes.items():
            setattr(row, k, v)
        row.etag = str(next(self._etags))


class FakeClusters:
    def __init__(self) -> None:
        self.clusters: dict[str, Cluster] = {}
        self.conns: dict[str, list[Connection]] = {}
        self.calls: list[str] = []
        self.fail: dict[str, Exception] = {}  # method -> error to raise

    def add(self, cid: str, **changes: Any) -> Cluster:
        c = ClusterId.parse(cid)
        base = Cluster(
            id=c.id,
            location="westeurope",
            provisioning_state="Succeeded",
            power_state="Running",
            private=True,
            private_fqdn=f"{c.name}-dns.0000.privatelink.westeurope.azmk8s.io",
            tags={},
            etag="e1",
        )
        self.clusters[c.key] = replace(base, **changes)
        return self.clusters[c.key]

    def _check(self, method: str) -> None:
        self.calls.append(method)
        if method in self.fail:
            raise self.fail[method]

    def get(self, cluster: ClusterId, tenant_id: str) -> Cluster | None:
        self._check("get")
        return self.clusters.get(cluster.key)

    def list_in_subscription(self, subscription_id: str, tenant_id: str) -> list[Cluster]:
        self._check("list")
        return [c for c in self.clusters.values() if c.id.lower().startswith(f"/subscriptions/{subscription_id}")]

    def connections(self, cluster: ClusterId, tenant_id: str) -> list[Connection]:
        self._check("connections")
        return list(self.conns.get(cluster.key, []))

    def connect(self, cluster: ClusterId, endpoint_id: str, status: str = "Pending", name: str | None = None) -> None:
        conn = Connection(
            name=name or f"conn-{len(self.conns.get(cluster.key, []))}",
            id="x",
            endpoint_id=endpoint_id,
            status=status,
            description="",
        )
        self.conns.setdefault(cluster.key, []).append(conn)

    def set_connection_status(
        self, cluster: ClusterId, tenant_id: str, connection_name: str, status: str, description: str
    ) -> Connection:
        self._check("set_connection_status")
        conns = self.conns[cluster.key]
        i = next(i for i, c in enumerate(conns) if c.name == connection_name)
        conns[i] = replace(conns[i], status=self.answer_status or status, description=description)
        return conns[i]

    answer_status: str | None = None  # what the cluster side answers instead of the status asked for


@dataclass
class FakeHandle:
    endpoints: FakeEndpoints
    kind: str
    name: str
    target_id: str | None
    cluster: ClusterId | None
    finishes: bool = True
    static_ip: str | None = None
    waited: list[float] = field(default_factory=list)

    def wait(self, timeout_s: float) -> bool:
        self.waited.append(timeout_s)
        if not self.finishes:
            return False
        links = self.endpoints.link_services
        if self.kind == "create" and links is not None and "/privatelinkservices/" in (self.target_id or "").lower():
            ep = self._endpoint()
            if self.endpoints.auto_connect:
                links.connect(self.target_id or "", ep.id)
            return True
        if self.kind == "create":
            ep = Endpoint(
                id=f"{HUB_RG}/providers/Microsoft.Network/privateEndpoints/{self.name}",
                name=self.name,
                provisioning_state="Succeeded",
                target_id=self.target_id,
                connection_status="Pending",
                nic_ids=(f"{HUB_RG}/providers/Microsoft.Network/networkInterfaces/{self.name}.nic",),
                tags=self.tags(),
                static_ip=self.static_ip,
            )
            self.endpoints.endpoints[self.name] = ep
            if self.endpoints.clusters is not None and self.cluster is not None and self.endpoints.auto_connect:
                self.endpoints.clusters.connect(self.cluster, ep.id)
        else:
            gone = self.endpoints.endpoints.pop(self.name, None)
            if gone is not None and links is not None:
                links.disconnect(gone.id)
            if gone is not None and self.endpoints.clusters is not None:  # its connection goes with it
                for key, conns in self.endpoints.clusters.conns.items():
                    self.endpoints.clusters.conns[key] = [c for c in conns if c.endpoint_id.lower() != gone.id.lower()]
        return True

    def _endpoint(self) -> Endpoint:
        ep = Endpoint(
            id=f"{HUB_RG}/providers/Microsoft.Network/privateEndpoints/{self.name}",
            name=self.name,
            provisioning_state="Succeeded",
            target_id=self.target_id,
            connection_status="Approved",
            nic_ids=(f"{HUB_RG}/providers/Microsoft.Network/networkInterfaces/{self.name}.nic",),
            tags=self.tags(),
        )
        self.endpoints.endpoints[self.name] = ep
        return ep

    def tags(self) -> dict[str, str]:
        return {TAG_CLUSTER: self.cluster.key, TAG_MANAGED_BY: MANAGED_BY} if self.cluster else {}

    def result(self) -> Endpoint | None:
        return self.endpoints.endpoints.get(self.name) if self.kind == "create" else None


class FakeEndpoints:
    def __init__(self, clusters: FakeClusters | None = None) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.clusters = clusters
        self.link_services: FakeLinkServices | None = None
        self.finishes = True
        self.auto_connect = True
        self.calls: list[str] = []
        self.handles: list[FakeHandle] = []
        self.targets: list[Any] = []
        self.created_in: list[tuple[str, str | None]] = []  # (subnet, static address asked for) per create
        self.taken: set[str] = set()  # addresses someone else holds
        self.ip = "10.1.0.4"  # the address of the endpoint created last
        self.used: dict[str, int] = {}  # subnet -> addresses in use (subnet_room)
        self.room_error: Exception | None = None

    def get(self, hub: Hub, name: str) -> Endpoint | None:
        self.calls.append("get")
        return self.endpoints.get(name)

    def begin_create(
        self, hub: Hub, cluster: ClusterId, location: str, target: Any, *, within_s: float, static_ip: str | None = None
    ) -> Operation:
        self.calls.append("begin_create")
        self.targets.append(target)
        self.created_in.append((hub.subnet_id, static_ip))
        if static_ip and static_ip in self.taken:
            raise TerminalError(f"address {static_ip} is taken", code="PrivateIPAddressIsAllocated", status=400)
        self.ip = static_ip or self.next_ip()
        handle = FakeHandle(
            self, "create", cluster.endpoint_name, target.resource_id, cluster, self.finishes, static_ip=static_ip
        )
        self.handles.append(handle)
        return Operation(f"create hub endpoint {cluster.endpoint_name}", "create", POLL_S, handle)

    def begin_delete(self, hub: Hub, name: str, *, within_s: float) -> Operation:
        self.calls.append("begin_delete")
        handle = FakeHandle(self, "delete", name, None, None, self.finishes)
        self.handles.append(handle)
        return Operation(f"delete hub endpoint {name}", "delete", POLL_S, handle)

    def private_ip(self, endpoint: Endpoint) -> str:
        self.calls.append("private_ip")
        return self.ip

    def next_ip(self) -> str:
        """Dynamic allocation: the lowest address nobody holds (10.1.0.4 first, as Azure hands out)."""
        return next(f"10.1.0.{i}" for i in range(4, 255) if f"10.1.0.{i}" not in self.taken)

    def subnet_room(self, hub: Hub, vnet_limit: int) -> list[SubnetRoom]:
        self.calls.append("subnet_room")
        if self.room_error is not None:
            raise self.room_error
        vnet = hub.subnets[0].rsplit("/subnets/", 1)[0]
        return [SubnetRoom(s, "10.1.0.0/29", self.used.get(s, 0), vnet, sum(self.used.values()), vnet_limit) for s in hub.subnets]


@dataclass
class FakePlsHandle:
    services: FakeLinkServices
    kind: str
    resource_id: str
    body: dict[str, Any]
    finishes: bool = True

    def wait(self, timeout_s: float) -> bool:
        if not self.finishes:
            return False
        key = self.resource_id.lower()
        if self.kind == "delete":
            self.services.services.pop(key, None)
        else:
            self.services.services[key] = replace(self.services.services[key], provisioning_state="Succeeded")
        return True

    def result(self) -> LinkService | None:
        return self.services.services.get(self.resource_id.lower()) if self.kind == "create" else None


class FakeLinkServices:
    """kube-apiserver frontends and Private Link Services in memory (shared.linkservice's interface)."""

    def __init__(self) -> None:
        self.frontends: dict[str, Frontend] = {}  # cluster key -> its kube-apiserver frontend
        self.services: dict[str, LinkService] = {}  # PLS id (lower) -> PLS
        self.calls: list[str] = []
        self.fail: dict[str, Exception] = {}
        self.finishes = True
        self.auto_approve = True  # the hub subscription is in autoApproval: Azure approves at once

    def _check(self, method: str) -> None:
        self.calls.append(method)
        if method in self.fail:
            raise self.fail[method]

    def frontend_for(self, cid: str, n: int = 1) -> Frontend:
        fe = Frontend(f"/lb/kube-apiserver/frontendIPConfigurations/fe{n}", f"10.40.0.{3 + n}", APISERVER_SUBNET)
        self.frontends[ClusterId.parse(cid).key] = fe
        return fe

    def apiserver_frontend(self, cluster: ClusterId, node_resource_group: str, tenant_id: str) -> Frontend | None:
        self._check("apiserver_frontend")
        return self.frontends.get(cluster.key)

    def get(self, cluster: ClusterId, resource_group: str, tenant_id: str) -> LinkService | None:
        self._check("get")
        rid = pls_id(cluster, resource_group)
        return self.services.get(rid.lower())

    def begin_put(self, cluster: ClusterId, tenant_id: str, **kw: Any) -> Operation:
        self._check("begin_put")
        rg, name = kw["subnet_id"].split("/")[4], pls_name(cluster)
        rid = (
            f"/subscriptions/{cluster.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/privateLinkServices/{name}"
        )
        old = self.services.get(rid.lower())
        hub = kw["hub_subscription"].lower()
        self.services[rid.lower()] = LinkService(
            id=rid,
            name=name,
            provisioning_state="Updating",
            frontend_ids=(kw["frontend"].id,),
            subnet_ids=(kw["subnet_id"],),
            visibility=(hub,),
            auto_approval=(hub,),
            tags={TAG_CLUSTER: cluster.key, TAG_MANAGED_BY: MANAGED_BY},
            connections=old.connections if old else (),
        )
        handle = FakePlsHandle(self, "create", rid, kw, self.finishes)
        return Operation(f"create private link service {name}", "create", POLL_S, handle, subject="pls")

    def begin_delete(self, cluster: ClusterId, resource_group: str, tenant_id: str, *, within_s: float) -> Operation:
        self._check("begin_delete")
        rid = pls_id(cluster, resource_group)
        handle = FakePlsHandle(self, "delete", rid, {}, self.finishes)
        return Operation(f"delete private link service {pls_name(cluster)}", "delete", POLL_S, handle, subject="pls")

    def decide(
        self, cluster: ClusterId, resource_group: str, tenant_id: str, connection_name: str, status: str, description: str
    ) -> PlsConnection:
        self._check("decide")
        for key, pls in self.services.items():
            conns = list(pls.connections)
            for i, c in enumerate(conns):
                if c.name == connection_name:
                    conns[i] = replace(c, status=status, description=description)
                    self.services[key] = replace(pls, connections=tuple(conns))
                    return conns[i]
        raise KeyError(connection_name)

    # -- what the fake hub endpoints do to a PLS -------------------------------------------------------
    def connect(self, target_id: str, endpoint_id: str, status: str | None = None, name: str | None = None) -> None:
        pls = self.services[target_id.lower()]
        status = status or ("Approved" if self.auto_approve else "Pending")
        conn = PlsConnection(name or f"{endpoint_id.split('/')[-1]}.{len(pls.connections)}", endpoint_id, status, "")
        self.services[target_id.lower()] = replace(pls, connections=(*pls.connections, conn))

    def disconnect(self, endpoint_id: str) -> None:
        for key, pls in self.services.items():
            kept = tuple(c for c in pls.connections if not same_arm_id(c.endpoint_id, endpoint_id))
            self.services[key] = replace(pls, connections=kept)


class FakeDns:
    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.calls: list[str] = []
        self.zones: dict[str, tuple[str, tuple[str, ...]]] = {}  # zone id -> (owner, linked VNets)
        self.zones_ready = True

    def ensure(self, zone_id: str, name: str, ip: str, *, owner: str) -> tuple[Record, bool]:
        self.calls.append("ensure")
        current = self.records.get(name)
        if current is not None and (current.owner or "").lower() != owner.lower():
            raise DnsConflict(f"A record {name!r} is not ours", code="DnsRecordConflict")
        if current is not None and current.ips == (ip,):
            return current, False
        self.records[name] = Record(name, (ip,), owner, "etag")
        return self.records[name], True

    def ensure_zone(self, zone_id: str, *, owner: str, vnet_ids: list[str]) -> bool:
        self.calls.append("ensure_zone")
        current = self.zones.get(zone_id.lower())
        if current is not None and current[0] != owner.lower():
            raise DnsConflict("zone is not ours", code="DnsZoneConflict")
        self.zones[zone_id.lower()] = (owner.lower(), tuple(vnet_ids))
        return self.zones_ready

    def delete_zone(self, zone_id: str, *, owner: str) -> bool:
        self.calls.append("delete_zone")
        current = self.zones.get(zone_id.lower())
        if current is not None and current[0] != owner.lower():
            return False
        self.zones.pop(zone_id.lower(), None)
        return True

    def delete(self, zone_id: str, name: str, *, owner: str) -> bool:
        self.calls.append("delete")
        current = self.records.get(name)
        if current is None or (current.owner or "").lower() != owner.lower():
            return False
        del self.records[name]
        return True


@dataclass
class World:
    clock: FakeClock
    store: FakeStore
    clusters: FakeClusters
    endpoints: FakeEndpoints
    dns: FakeDns
    controller: Controller
    links: FakeLinkServices


def world(
    *,
    approval: str = "auto",
    selection: str = "opt-out",
    hubs: dict[str, Hub] | None = None,
    notifier: Any = None,
    pls_subnets: dict[str, str] | None = None,
    stable_ip: bool = True,
) -> World:
    clock = FakeClock()
    store = FakeStore(clock)
    clusters = FakeClusters()
    endpoints = FakeEndpoints(clusters)
    dns = FakeDns()
    links = FakeLinkServices()
    endpoints.link_services = links
    subnets = {SPOKE_VNET.lower(): PLS_SUBNET} if pls_subnets is None else pls_subnets
    paths = default_paths(clusters, links, subnets)  # type: ignore[arg-type]
    ports = Ports(clusters=clusters, endpoints=endpoints, dns=dns, paths=paths)  # type: ignore[arg-type]
    policy = Policy(
        selection=selection,
        approval=approval,
        drift_interval_s=3600.0,
        hubs={"westeurope": HUB} if hubs is None else hubs,
        stable_ip=stable_ip,
    )
    controller = Controller(
        store=store,
        ports=ports,
        policy=policy,
        spokes={SUB: TENANT},
        backoff=Backoff(10.0, 100.0),
        default_budget_s=20.0,
        clock=clock,
        notifier=notifier,
    )  # type: ignore[arg-type]
    return World(clock, store, clusters, endpoints, dns, controller, links)
