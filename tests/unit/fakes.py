"""In-memory fakes of the product's own adapters (never of Azure's HTTP): the controller and the
steps run against these in milliseconds. The devcloud tests stay the proof against Azure's behaviour."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, replace
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
from shared.model import LinkState, Outcome, Phase
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
class FakeOperation:
    """A create or delete Azure is working on: it ends `duration_s` after it was accepted (never
    when `finishes` is False), and the resource's provisioningState says so to whoever reads it."""

    kind: str
    name: str
    target_id: str | None
    cluster: ClusterId | None
    ends_at: datetime | None


class FakeEndpoints:
    def __init__(self, clusters: FakeClusters | None = None, clock: FakeClock | None = None) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.clusters = clusters
        self.clock = clock or FakeClock()
        self.link_services: FakeLinkServices | None = None
        self.finishes = True
        self.duration_s = 3.0  # within one Retry-After (POLL_S): the first poll sees it ended
        self.fail_creates = 0  # the next creates that end Failed
        self.auto_connect = True
        self.calls: list[str] = []
        self.running: dict[str, FakeOperation] = {}
        self.targets: list[Any] = []
        self.created_in: list[tuple[str, str | None]] = []  # (subnet, static address asked for) per create
        self.taken: set[str] = set()  # addresses someone else holds
        self.ip = "10.1.0.4"  # the address of the endpoint created last
        self.used: dict[str, int] = {}  # subnet -> addresses in use (subnet_room)
        self.room_error: Exception | None = None

    def get(self, hub: Hub, name: str) -> Endpoint | None:
        self.calls.append("get")
        self._settle(name)
        return self.endpoints.get(name)

    def _start(
        self, kind: str, name: str, target_id: str | None, cluster: ClusterId | None, *, static_ip: str | None = None
    ) -> Operation:
        ends = self.clock.now() + timedelta(seconds=self.duration_s) if self.finishes else None
        self.running[name] = FakeOperation(kind, name, target_id, cluster, ends)
        current = self.endpoints.get(name)
        if kind == "create":
            self.endpoints[name] = Endpoint(
                id=f"{HUB_RG}/providers/Microsoft.Network/privateEndpoints/{name}",
                name=name,
                provisioning_state="Updating",
                target_id=target_id,
                connection_status="Pending",
                nic_ids=(f"{HUB_RG}/providers/Microsoft.Network/networkInterfaces/{name}.nic",),
                tags={TAG_CLUSTER: cluster.key, TAG_MANAGED_BY: MANAGED_BY} if cluster else {},
                static_ip=static_ip,
            )
        elif current is not None:
            self.endpoints[name] = replace(current, provisioning_state="Deleting")
        return Operation(f"{kind} hub endpoint {name}", kind, POLL_S)

    def _settle(self, name: str) -> None:
        op = self.running.get(name)
        if op is None or op.ends_at is None or self.clock.now() < op.ends_at:
            return
        del self.running[name]
        links = self.link_services
        if op.kind == "create" and self.fail_creates:
            self.fail_creates -= 1
            self.endpoints[name] = replace(self.endpoints[name], provisioning_state="Failed", connection_status=None)
            return
        if op.kind == "create":
            to_pls = links is not None and "/privatelinkservices/" in (op.target_id or "").lower()
            ep = self.endpoints[name] = replace(
                self.endpoints[name], provisioning_state="Succeeded", connection_status="Approved" if to_pls else "Pending"
            )
            if to_pls and self.auto_connect:
                links.connect(op.target_id or "", ep.id)  # type: ignore[union-attr]
            elif not to_pls and self.clusters is not None and op.cluster is not None and self.auto_connect:
                self.clusters.connect(op.cluster, ep.id)
            return
        gone = self.endpoints.pop(name, None)
        if gone is not None and links is not None:
            links.disconnect(gone.id)
        if gone is not None and self.clusters is not None:  # its connection goes with it
            for key, conns in self.clusters.conns.items():
                self.clusters.conns[key] = [c for c in conns if c.endpoint_id.lower() != gone.id.lower()]

    def begin_create(
        self, hub: Hub, cluster: ClusterId, location: str, target: Any, *, static_ip: str | None = None
    ) -> Operation:
        self.calls.append("begin_create")
        self.targets.append(target)
        self.created_in.append((hub.subnet_id, static_ip))
        if static_ip and static_ip in self.taken:
            raise TerminalError(f"address {static_ip} is taken", code="PrivateIPAddressIsAllocated", status=400)
        self.ip = static_ip or self.next_ip()
        return self._start("create", cluster.endpoint_name, target.resource_id, cluster, static_ip=static_ip)

    def begin_delete(self, hub: Hub, name: str) -> Operation:
        self.calls.append("begin_delete")
        return self._start("delete", name, None, None)

    def list_in_group(self, subscription_id: str, resource_group: str) -> list[Endpoint]:
        self.calls.append("list_in_group")
        for name in list(self.running):
            self._settle(name)
        return list(self.endpoints.values())

    def nic_ips(self, subscription_id: str, resource_group: str) -> dict[str, str]:
        self.calls.append("nic_ips")
        return {nic.lower(): self.ip for ep in self.endpoints.values() for nic in ep.nic_ids[:1]}

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


class FakeLinkServices:
    """kube-apiserver frontends and Private Link Services in memory (shared.linkservice's interface)."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.duration_s = 3.0
        self.running: dict[str, tuple[str, datetime | None]] = {}  # PLS id (lower) -> (kind, when it ends)
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
        key = pls_id(cluster, resource_group).lower()
        kind, ends = self.running.get(key, ("", None))
        if kind and ends is not None and self.clock.now() >= ends:
            del self.running[key]
            if kind == "delete":
                self.services.pop(key, None)
            elif key in self.services:
                self.services[key] = replace(self.services[key], provisioning_state="Succeeded")
        return self.services.get(key)

    def _ends(self) -> datetime | None:
        return self.clock.now() + timedelta(seconds=self.duration_s) if self.finishes else None

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
        self.running[rid.lower()] = ("create", self._ends())
        return Operation(f"create private link service {name}", "create", POLL_S, subject="pls")

    def begin_delete(self, cluster: ClusterId, resource_group: str, tenant_id: str) -> Operation:
        self._check("begin_delete")
        key = pls_id(cluster, resource_group).lower()
        if key in self.services:
            self.services[key] = replace(self.services[key], provisioning_state="Deleting")
        self.running[key] = ("delete", self._ends())
        return Operation(f"delete private link service {pls_name(cluster)}", "delete", POLL_S, subject="pls")

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

    def ensure(self, zone_id: str, name: str, ip: str, *, owner: str, expect_absent: bool = False) -> tuple[Record, bool]:
        self.calls.append("ensure")  # the create-first path ends where the read decides: same outcome
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
    invocations: int = 0

    def settle(self, cid: str, *, max_runs: int = 20, **kw: Any) -> Outcome:
        """Reconcile as the continuation queue does: each "look again in N s" comes back N s later,
        until an outcome asks for no follow-up, or is an error or busy, or `max_runs` is reached."""
        outcome = self.controller.reconcile(cid, **kw)
        self.invocations = 1
        while outcome.requeue_after is not None and not (outcome.busy or outcome.error) and self.invocations < max_runs:
            self.clock.advance(outcome.requeue_after)
            outcome = self.controller.reconcile(cid, **kw)
            self.invocations += 1
        return outcome


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
    endpoints = FakeEndpoints(clusters, clock)
    dns = FakeDns()
    links = FakeLinkServices(clock)
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
