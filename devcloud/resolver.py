"""What a VNet sees for a name: Azure DNS (168.63.129.16) answering from the zones linked to it.

As Azure-provided DNS resolves a query from inside a VNet:
- the private DNS zones linked to that VNet come first; of those whose name is the query name or
  a suffix of it, the most specific (longest) zone answers;
- that zone answers alone: a name it has no record for is NXDOMAIN, with no fall back to public
  DNS (this is why a zone named `hcp.<region>.azmk8s.io` would hide every other cluster);
- otherwise public DNS answers. Public DNS here knows the AKS names devcloud made: a public
  cluster's `fqdn` resolves to a public address, a private cluster's `fqdn` to the cluster-side
  endpoint's private IP (as AKS publishes it); `privateFQDN`s have no public record.

Only A records exist (the product writes nothing else). `resolve()` is the in-process call;
the control API answers `GET /_devcloud/dns/resolve?name=&vnet=` with the same JSON, and
`hub_sees()` asks either way, so a test can say "what does the hub see for this name".
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

from devcloud.providers.common import key
from devcloud.providers.privatedns import hub_vnets


@dataclass
class Answer:
    name: str
    vnet: str
    status: str  # NOERROR | NXDOMAIN
    addresses: list[str] = field(default_factory=list)
    source: str = "public"  # private-zone | public
    zone_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_vnet(world: Any) -> str:
    """The hub VNet: the one of the world's hub subnet."""
    vnets = hub_vnets(world)
    return vnets[0] if vnets else ""


def _public(cloud: Any, name: str) -> list[str]:
    clusters = cloud.providers["containerservice"].clusters.values()
    for cluster in clusters:
        props = cluster.props
        if name in (str(props.get("fqdn") or "").lower(), str(props.get("azurePortalFQDN") or "").lower()):
            if cluster.private:
                return [cluster.api_ip] if cluster.api_ip else []
            digest = hashlib.sha256(key(cluster.id).encode()).digest()
            return [f"20.{digest[0]}.{digest[1]}.{max(1, digest[2] % 255)}"]  # a stand-in public address
    return []


def resolve(cloud: Any, name: str, vnet: str | None = None) -> Answer:
    """Answer `name` as Azure DNS would inside `vnet` (default: the hub VNet)."""
    name = name.strip().rstrip(".").lower()
    vnet = vnet or default_vnet(cloud.world)
    with cloud.arm.lock:
        zones = [z for z in cloud.providers["privatedns"].all_zones()
                 if (name == z.name or name.endswith("." + z.name)) and z.linked_to(vnet)]
        if zones:
            zone = max(zones, key=lambda z: len(z.name))
            relative = "@" if name == zone.name else name[:-len(zone.name) - 1]
            record = zone.records.get(relative)
            addresses = [r["ipv4Address"] for r in record.a_records] if record else []
            return Answer(name, vnet, "NOERROR" if addresses else "NXDOMAIN", addresses, "private-zone", zone.id)
        addresses = _public(cloud, name)
    return Answer(name, vnet, "NOERROR" if addresses else "NXDOMAIN", addresses, "public")


def hub_sees(cloud: Any, name: str, vnet: str | None = None) -> dict[str, Any]:
    """The answer as JSON, from an in-process DevCloud or over the control API of a RemoteCloud."""
    if hasattr(cloud, "providers"):
        return resolve(cloud, name, vnet).as_dict()
    query = urlencode({"name": name, **({"vnet": vnet} if vnet else {})})
    return cloud.control("GET", f"/dns/resolve?{query}")
