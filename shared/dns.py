"""Hub private DNS: the name kubectl uses for a cluster resolves, from the hub, to our endpoint.

The name comes from the cluster's DNS mode (`apiServerAccessProfile.privateDNSZone`):

    system               privateFQDN `<a>.<guid>.privatelink.<region>.azmk8s.io` -> record `<a>.<guid>`
                         in the hub's privatelink.<region>.azmk8s.io zone
    custom-privatelink   a custom zone `[<sub>.]privatelink.<region>.azmk8s.io` (with or without
                         fqdnSubdomain): privateFQDN relative to the same hub zone
    custom-private       a custom zone `[<sub>.]private.<region>.azmk8s.io`: privateFQDN relative to
                         the hub's private.<region>.azmk8s.io zone (the zone VNet-integrated clusters use)
    none                 no privateFQDN: kubectl uses the public `fqdn`, which public DNS answers with
                         the cluster-side address. The hub overrides exactly that name: a private zone
                         named the FQDN itself, apex A record, linked to the hub VNets; never a zone
                         like hcp.<region>.azmk8s.io, which would hide every other cluster of the region.

AKS gives no zone-group records, so the product writes the record itself. Ownership is marked in
the record's metadata (and a per-cluster zone's tags); a record or zone without our mark is never
changed or deleted, and every write is conditional (If-None-Match on create, If-Match on
update/delete) so something someone else touches between our read and our write is not overwritten.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import DnsConflict, TerminalError, TransientError, not_found_means_read_again

if TYPE_CHECKING:
    from shared.aks import Cluster
    from shared.arm import ArmClient
    from shared.config import Hub

DNS_API_VERSION = "2024-06-01"
OWNER_KEY = "hublinkCluster"
MANAGED_BY_KEY = "managedBy"
MANAGED_BY = "aks-hublink"
TTL_S = 10  # short: a recreated endpoint gets a new IP and clients should see it soon
APEX = "@"
MODES = ("system", "custom-privatelink", "custom-private", "none")
PRIVATE_ZONE = re.compile(r"^(?:[a-z0-9-]{1,32}\.)?private\.[a-z0-9]+\.azmk8s\.io$")
PUBLIC_FQDN = re.compile(r"^[a-z0-9-]+\.hcp\.(?P<region>[a-z0-9]+)\.azmk8s\.io$")


@dataclass(frozen=True)
class DnsPlacement:
    """Where the hub's A record for a cluster goes (shared.paths re-exports it)."""

    zone_id: str
    record_name: str  # relative to the zone ("@" for a zone of its own)
    fqdn: str  # the name kubectl uses
    mode: str = "system"  # one of MODES (a path may name its own, e.g. vnet-integration)
    own_zone: bool = False  # the zone is the product's, made for this cluster alone (mode `none`)


@dataclass(frozen=True)
class Record:
    name: str
    ips: tuple[str, ...]
    owner: str | None
    etag: str | None


def relative_name(private_fqdn: str, zone_name: str) -> str:
    """`abc-1234.<guid>.privatelink.westeurope.azmk8s.io` in `privatelink.westeurope.azmk8s.io` -> `abc-1234.<guid>`."""
    fqdn = private_fqdn.rstrip(".").lower()
    zone = zone_name.rstrip(".").lower()
    if not fqdn.endswith("." + zone) or len(fqdn) == len(zone) + 1:
        raise TerminalError(
            f"the cluster's privateFQDN {private_fqdn!r} is not inside the hub zone {zone_name!r}", code="FqdnOutsideZone"
        )
    return fqdn[: -(len(zone) + 1)]


def dns_mode(live: Cluster) -> str:
    """The cluster's DNS mode (see the module docstring)."""
    zone = (live.private_dns_zone or "system").strip().lower()
    if zone in ("system", "none"):
        return zone
    name = zone.rstrip("/").rsplit("/", 1)[-1]
    return "custom-private" if PRIVATE_ZONE.match(name) else "custom-privatelink"


def kubectl_name(live: Cluster) -> str | None:
    """The server name in the kubeconfig `az aks get-credentials` writes: privateFQDN, else (none) fqdn."""
    return live.public_fqdn if dns_mode(live) == "none" else live.private_fqdn


def zone_name(zone_id: str) -> str:
    return zone_id.rstrip("/").rsplit("/", 1)[-1].lower()


def hub_zone_for(fqdn: str, hub: Hub) -> str:
    """The hub zone (privatelink.<region> or private.<region>) that holds `fqdn`, or a named terminal error."""
    for zone_id in (hub.dns_zone_id, hub.private_zone):
        zone = zone_name(zone_id)
        if fqdn.rstrip(".").lower().endswith("." + zone):
            return zone_id
    zones = f"{hub.zone_name!r} or {zone_name(hub.private_zone)!r}"
    raise TerminalError(f"the cluster's name {fqdn!r} is in neither hub zone ({zones})", code="FqdnOutsideZone")


def own_zone_id(fqdn: str, hub: Hub) -> str:
    """A zone named exactly the cluster's public FQDN, in the hub network's resource group.

    Only `<label>.hcp.<region>.azmk8s.io` is accepted: a zone of that name shadows that one name,
    and nothing of any other cluster.
    """
    name = fqdn.rstrip(".").lower()
    m = PUBLIC_FQDN.match(name)
    if not m or m.group("region") != hub.region:
        raise TerminalError(
            f"the cluster has no private DNS zone and its FQDN {fqdn!r} is not <name>.hcp.{hub.region}.azmk8s.io: "
            "the hub cannot override it without hiding other names",
            code="UnexpectedPublicFqdn",
        )
    first = hub.subnets[0].split("/")
    return f"/subscriptions/{first[2]}/resourceGroups/{first[4]}/providers/Microsoft.Network/privateDnsZones/{name}"


def hub_placement(live: Cluster, hub: Hub, fqdn: str | None = None) -> DnsPlacement:
    """Where the name kubectl uses (or `fqdn`, for a path that knows better) is written in the hub."""
    mode = dns_mode(live)
    name = fqdn or kubectl_name(live)
    assert name, "the cluster step checks the name first"
    if mode == "none" and not fqdn:
        return DnsPlacement(own_zone_id(name, hub), APEX, name.rstrip(".").lower(), mode, own_zone=True)
    zone_id = hub_zone_for(name, hub)
    return DnsPlacement(zone_id, relative_name(name, zone_name(zone_id)), name, mode)


def hub_vnets(hub: Hub) -> list[str]:
    """The VNets of the hub's subnets, each once, in order (what a per-cluster zone is linked to)."""
    out: list[str] = []
    for subnet in hub.subnets:
        vnet = subnet[: subnet.lower().index("/subnets/")]
        if vnet.lower() not in {v.lower() for v in out}:
            out.append(vnet)
    return out


class HubDns:
    def __init__(self, arm: ArmClient, hub_tenant_id: str) -> None:
        self.arm = arm
        self.tenant = hub_tenant_id

    def _path(self, zone_id: str, name: str) -> str:
        return f"{zone_id}/A/{name}"

    def get(self, zone_id: str, name: str) -> Record | None:
        body = self.arm.get_json(
            self._path(zone_id, name),
            tenant_id=self.tenant,
            api_version=DNS_API_VERSION,
            what=f"read A record {name}",
            ok_missing=True,
        )
        return _record(body) if body is not None else None

    def records(self, zone_id: str, *, page_size: int = 1000, max_pages: int = 100) -> dict[str, Record]:
        """Every A record of the zone by lower-case name, read in pages (`$top`, then nextLink)."""
        out: dict[str, Record] = {}
        body = self.arm.get_json(
            f"{zone_id}/A?$top={page_size}", tenant_id=self.tenant, api_version=DNS_API_VERSION, what="list A records"
        )
        for _ in range(max_pages):
            for item in (body or {}).get("value", []):
                record = _record(item)
                out[record.name.lower()] = record
            next_link = (body or {}).get("nextLink")
            if not next_link:
                break
            body = self.arm.get_json(next_link, tenant_id=self.tenant, api_version=DNS_API_VERSION, what="list A records")
        return out

    def ensure(self, zone_id: str, name: str, ip: str, *, owner: str, expect_absent: bool = False) -> tuple[Record, bool]:
        """Make `name` resolve to `ip`; returns (record, changed). Raises DnsConflict if not ours.

        `expect_absent`: the link has not written this record, so the create (If-None-Match: *)
        goes first and nothing is read: the condition, not a read before it, keeps someone else's
        record untouched. Its 412 says a record is there after all (ours, from a run that died after
        its PUT, or someone else's) and the read below decides.
        """
        if expect_absent:
            try:
                return self._write(zone_id, name, ip, owner, {"If-None-Match": "*"}), True
            except TransientError as exc:
                if exc.status != 412:
                    raise
        current = self.get(zone_id, name)
        if current is not None and (current.owner or "").lower() != owner.lower():
            raise DnsConflict(
                f"A record {name!r} already exists in the hub zone and is not managed by this product "
                f"(owner: {current.owner or 'none'}); it was left untouched",
                code="DnsRecordConflict",
            )
        if current is not None and current.ips == (ip,):
            return current, False
        condition = {"If-None-Match": "*"} if current is None else {"If-Match": current.etag or "*"}
        return self._write(zone_id, name, ip, owner, condition), True

    def _write(self, zone_id: str, name: str, ip: str, owner: str, condition: dict[str, str]) -> Record:
        body = {
            "properties": {
                "ttl": TTL_S,
                "metadata": {OWNER_KEY: owner, MANAGED_BY_KEY: MANAGED_BY},
                "aRecords": [{"ipv4Address": ip}],
            }
        }
        resp = self.arm.put_json(
            self._path(zone_id, name),
            body,
            tenant_id=self.tenant,
            api_version=DNS_API_VERSION,
            what=f"write A record {name}",
            headers=condition,
        )
        return _record(resp.json())

    def delete(self, zone_id: str, name: str, *, owner: str) -> bool:
        """Delete our record; absent is fine; someone else's is left alone. Returns True if deleted."""
        current = self.get(zone_id, name)
        if current is None or (current.owner or "").lower() != owner.lower():
            return False
        # A 404 for a record read a moment ago: a race (then the next read agrees it is gone) or a wrong
        # answer. Trusting it would let the caller delete the state row and leave the record behind.
        with not_found_means_read_again(f"delete A record {name}"):
            self.arm.request(
                "DELETE",
                self._path(zone_id, name),
                tenant_id=self.tenant,
                api_version=DNS_API_VERSION,
                what=f"delete A record {name}",
                headers={"If-Match": current.etag or "*"},
            )
        return True

    # -- a zone of the cluster's own (mode none) ------------------------------------------------
    def _call(self, method: str, path: str, what: str, **kw: Any) -> Any:
        return self.arm.request(method, path, tenant_id=self.tenant, api_version=DNS_API_VERSION, what=what, **kw)

    def ensure_zone(self, zone_id: str, *, owner: str, vnet_ids: list[str]) -> bool:
        """Our zone exists and is linked to every VNet; False while Azure still works on it (202)."""
        name = zone_name(zone_id)
        resp = self._call("GET", zone_id, f"read DNS zone {name}", ok_missing=True)
        if resp is None:
            tags = {OWNER_KEY: owner[:256], MANAGED_BY_KEY: MANAGED_BY}
            body = {"location": "global", "tags": tags}
            resp = self._call("PUT", zone_id, f"create DNS zone {name}", body=body, headers={"If-None-Match": "*"})
            if resp.status_code == 202 or not resp.content:
                return False
        zone = resp.json()
        if not _ours(zone.get("tags"), owner):
            raise DnsConflict(
                f"private DNS zone {name!r} already exists in the hub and is not managed by this product; it was left untouched",
                code="DnsZoneConflict",
            )
        if str((zone.get("properties") or {}).get("provisioningState", "Succeeded")).lower() != "succeeded":
            return False
        ready = True
        for vnet in vnet_ids:
            path = f"{zone_id}/virtualNetworkLinks/{link_name(vnet)}"
            if self._call("GET", path, f"read DNS zone link {link_name(vnet)}", ok_missing=True) is None:
                body = {
                    "location": "global",
                    "tags": {OWNER_KEY: owner[:256], MANAGED_BY_KEY: MANAGED_BY},
                    "properties": {"virtualNetwork": {"id": vnet}, "registrationEnabled": False},
                }
                link = self._call("PUT", path, f"link DNS zone {name} to {vnet.rsplit('/', 1)[-1]}", body=body)
                ready = ready and link.status_code != 202
        return ready

    def delete_zone(self, zone_id: str, *, owner: str) -> bool:
        """Delete our zone (its links first); absent is fine; someone else's is left alone. True if gone."""
        name = zone_name(zone_id)
        resp = self._call("GET", zone_id, f"read DNS zone {name}", ok_missing=True)
        if resp is None:
            return True
        zone = resp.json()
        if not _ours(zone.get("tags"), owner):
            return False
        links = self._call("GET", f"{zone_id}/virtualNetworkLinks", f"list links of DNS zone {name}", ok_missing=True)
        for item in links.json().get("value", []) if links is not None else []:
            self.arm.delete(item["id"], tenant_id=self.tenant, api_version=DNS_API_VERSION, what=f"unlink DNS zone {name}")
        resp = self._call("GET", zone_id, f"read DNS zone {name}", ok_missing=True)  # unlinking changed its etag
        if resp is None:
            return True
        zone = resp.json()
        with not_found_means_read_again(f"delete DNS zone {name}"):
            self._call("DELETE", zone_id, f"delete DNS zone {name}", headers={"If-Match": zone.get("etag") or "*"})
        return True


def link_name(vnet_id: str) -> str:
    """Deterministic, unique per VNet id, <= 80 characters."""
    digest = hashlib.sha256(vnet_id.lower().encode()).hexdigest()[:8]
    return f"hublink-{vnet_id.rstrip('/').rsplit('/', 1)[-1].lower()[:60]}-{digest}"


def _ours(tags: dict[str, Any] | None, owner: str) -> bool:
    tags = tags or {}
    return tags.get(MANAGED_BY_KEY) == MANAGED_BY and str(tags.get(OWNER_KEY, "")).lower() == owner[:256].lower()


def _record(body: dict[str, Any]) -> Record:
    props = body.get("properties") or {}
    meta = props.get("metadata") or {}
    ips = tuple(a.get("ipv4Address", "") for a in props.get("aRecords") or [])
    return Record(name=body.get("name", ""), ips=ips, owner=meta.get(OWNER_KEY), etag=body.get("etag"))
