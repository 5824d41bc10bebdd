"""How AKS names a private cluster's API server and publishes it in DNS, mode by mode.

`apiServerAccessProfile.privateDNSZone` decides the mode of a private-link cluster:
- `system` (the default): AKS makes the zone `<guid>.privatelink.<region>.azmk8s.io` in the node
  resource group, links it to the cluster's VNet and writes `<dnsprefix>-<label>` (the first label
  of `privateFQDN`) -> the cluster-side endpoint's IP;
- a custom zone id, named `privatelink.<region>.azmk8s.io`, `private.<region>.azmk8s.io` or a
  `<sub>.` (1-32 of [a-zA-Z0-9-]) subzone of either: `privateFQDN` is `<fqdnSubdomain>.<zone>` or
  `<dnsprefix>-<label>.<zone>`, and AKS writes that record into the zone when devcloud knows the
  zone [the zone is not required to exist here: real AKS needs Private DNS Zone Contributor on it].
  Any other name fails with AKS's own 400 InvalidPrivateDNSZoneResourceID;
- `none`: no zone and NO `privateFQDN`; kubectl uses the public `fqdn`, which public DNS resolves
  to the cluster-side private IP. `none` with `enablePrivateClusterPublicFQDN: false` is refused.

A private cluster created with `enablePrivateCluster` alone comes back with
`enablePrivateClusterPublicFQDN: true`, `fqdn` and `azurePortalFQDN` (recorded Azure); its
random labels are 8 of [0-9a-z]. The cluster-side endpoint's IP (`Cluster.api_ip`) is taken from
the cluster's VNet when the private link service is made, so a start may move it, as AKS documents.

`listClusterUserCredential` answers a kubeconfig whose server is the name kubectl would use:
`privateFQDN` by default, else `fqdn`; `?server-fqdn=public` asks for `fqdn`, `private` for
`privateFQDN` (a 400 when the cluster has no such name [documented guess]).
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
import string
import uuid
from typing import Any

from devcloud.arm import ArmError
from devcloud.providers.common import key

ALPHABET = string.ascii_lowercase + string.digits
ZONE_FORMATS = ("'private.<region>.azmk8s.io, privatelink.<region>.azmk8s.io, [a-zA-Z0-9-]{1,32}.private.<region>"
                ".azmk8s.io, [a-zA-Z0-9-]{1,32}.privatelink.<region>.azmk8s.io'")
SUBZONE = re.compile(r"^(?:[a-zA-Z0-9-]{1,32}\.)?(?:private|privatelink)\.")
ZONES_PATH = "/providers/microsoft.network/privatednszones/"
CLUSTER_VNET_PREFIX = "10.224.0.0/16"  # AKS's default node subnet in its managed VNet


def random_label() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(8))


def mode(access: dict[str, Any]) -> str:
    """system | none | custom."""
    zone = str(access.get("privateDNSZone") or "system").lower()
    return zone if zone in ("system", "none") else "custom"


def custom_zone_name(zone_id: str, location: str) -> str:
    """The custom zone's name, or AKS's 400 InvalidPrivateDNSZoneResourceID."""
    name = zone_id.rstrip("/").split("/")[-1].lower()
    suffix = name[len(SUBZONE.match(name).group(0)):] if SUBZONE.match(name) else ""
    parts = zone_id.strip("/").split("/")
    if ZONES_PATH not in zone_id.lower() or len(parts) != 8 or suffix != f"{location}.azmk8s.io":
        raise ArmError(400, "InvalidPrivateDNSZoneResourceID",
                       f"Invalid private dns zone resource id '{zone_id}' for private cluster. It should be a valid "
                       f"resource id and the private dns zone name should be in either of these formats: "
                       f"{ZONE_FORMATS}.")
    return name


def validate(props: dict[str, Any], location: str) -> None:
    """The DNS part of a private cluster's request (raises ArmError 400)."""
    access = props.get("apiServerAccessProfile") or {}
    if not access.get("enablePrivateCluster"):
        return
    if mode(access) == "custom":
        custom_zone_name(access["privateDNSZone"], location)
    if mode(access) == "none" and access.get("enablePrivateClusterPublicFQDN") is False:
        raise ArmError(400, "InvalidParameter", "privateDNSZone 'none' requires enablePrivateClusterPublicFQDN: "
                                                "without a private DNS zone the public FQDN is the only name of the "
                                                "API server.")


def apply_defaults(props: dict[str, Any]) -> None:
    """A private cluster with a dnsPrefix gets a public FQDN unless it asked for none (recorded Azure)."""
    access = props.get("apiServerAccessProfile")
    if access and access.get("enablePrivateCluster"):
        access.setdefault("privateDNSZone", "system")
        if props.get("dnsPrefix"):
            access.setdefault("enablePrivateClusterPublicFQDN", True)


def fqdns(props: dict[str, Any], location: str) -> dict[str, str]:
    """fqdn and azurePortalFQDN when public or with a public FQDN; privateFQDN when private and not `none`."""
    access = props.get("apiServerAccessProfile") or {}
    private = bool(access.get("enablePrivateCluster"))
    prefix = (props.get("dnsPrefix") or "").lower()
    out: dict[str, str] = {}
    if prefix and (not private or access.get("enablePrivateClusterPublicFQDN")):
        out["fqdn"] = f"{prefix}-{random_label()}.hcp.{location}.azmk8s.io"
        out["azurePortalFQDN"] = out["fqdn"].replace(".hcp.", ".portal.hcp.", 1)
    if private and mode(access) != "none":
        if mode(access) == "custom":
            zone = custom_zone_name(access["privateDNSZone"], location)
        else:
            zone = f"{uuid.uuid4()}.privatelink.{location}.azmk8s.io"
        first = props["fqdnSubdomain"].lower() if props.get("fqdnSubdomain") else f"{prefix}-{random_label()}"
        out["privateFQDN"] = f"{first}.{zone}"
    return out


def api_server_name(props: dict[str, Any]) -> str:
    """The name clients (and a private endpoint's customDnsConfigs) use for the API server."""
    return props.get("privateFQDN") or props.get("fqdn") or ""


# -- what AKS writes in DNS (arm.lock held) -----------------------------------------------------
def cluster_vnet(cluster: Any) -> str:
    """The first pool's BYO VNet, else AKS's managed VNet in the node resource group."""
    subnet = (cluster.props["agentPoolProfiles"][0].get("vnetSubnetID") or "")
    if "/subnets/" in subnet.lower():
        return subnet[:subnet.lower().index("/subnets/")]
    suffix = int(uuid.UUID(str(uuid.uuid5(uuid.NAMESPACE_URL, key(cluster.id)))).int % 10**8)
    return (f"/subscriptions/{cluster.subscription_id}/resourceGroups/{cluster.props['nodeResourceGroup']}/"
            f"providers/Microsoft.Network/virtualNetworks/aks-vnet-{suffix:08d}")


def _next_api_ip(cluster: Any) -> str:
    # An address among the subnet's 4th to 200th (arithmetic: listing a /16's hosts under arm.lock
    # froze every request for ~50 ms per cluster).
    network = ipaddress.ip_network(CLUSTER_VNET_PREFIX)
    taken = {cluster.api_ip} if cluster.api_ip else set()
    hosts = [str(network.network_address + i) for i in range(4, 201)]
    return secrets.choice([h for h in hosts if h not in taken])


def _system_zone_id(cluster: Any) -> str:
    zone = cluster.props["privateFQDN"].split(".", 1)[1]
    return (f"/subscriptions/{cluster.subscription_id}/resourceGroups/{cluster.props['nodeResourceGroup']}/"
            f"providers/Microsoft.Network/privateDnsZones/{zone}")


def _record_target(cluster: Any) -> tuple[str, str] | None:
    """(zone id, relative name) AKS keeps pointing at its endpoint, or None (`none` mode)."""
    access = cluster.props.get("apiServerAccessProfile") or {}
    fqdn = cluster.props.get("privateFQDN")
    if not fqdn:
        return None
    if mode(access) == "system":
        return _system_zone_id(cluster), fqdn.split(".", 1)[0]
    zone_id = access["privateDNSZone"]
    zone_name = zone_id.rstrip("/").split("/")[-1].lower()
    return zone_id, fqdn[:-len(zone_name) - 1]


def publish(cloud: Any, cluster: Any) -> None:
    """AKS's own endpoint got a (new) IP: its zone and record follow (public DNS follows via the resolver)."""
    dns = cloud.providers.get("privatedns")
    cluster.vnet_id = cluster.vnet_id or cluster_vnet(cluster)
    cluster.api_ip = _next_api_ip(cluster)
    target = _record_target(cluster)
    if dns is None or target is None:
        return
    zone_id, relative = target
    if mode(cluster.props.get("apiServerAccessProfile") or {}) == "system":
        zone = dns.ensure_zone(zone_id)
        dns.link(zone, f"{cluster.name}-link", cluster.vnet_id)
    else:
        zone = dns.lookup(zone_id)
        if zone is None:
            return
    dns.set_a(zone, relative, [cluster.api_ip])


def unpublish(cloud: Any, cluster: Any) -> None:
    """Cluster deleted: the system zone goes with the node resource group; a custom zone loses our record."""
    dns = cloud.providers.get("privatedns")
    target = _record_target(cluster)
    if dns is None or target is None:
        return
    zone_id, relative = target
    if mode(cluster.props.get("apiServerAccessProfile") or {}) == "system":
        dns.drop_zone(zone_id)
    elif (zone := dns.lookup(zone_id)) is not None:
        zone.records.pop(relative.lower(), None)


# -- listClusterUserCredential ------------------------------------------------------------------
def kubeconfig_server(props: dict[str, Any], server_fqdn: str | None) -> str:
    wanted = (server_fqdn or "").lower()
    if wanted not in ("", "public", "private"):
        raise ArmError(400, "InvalidParameter", f"server-fqdn '{server_fqdn}' is not valid: use public or private.")
    name = {"public": props.get("fqdn"), "private": props.get("privateFQDN")}.get(wanted) or (
        None if wanted else api_server_name(props))
    if not name:
        raise ArmError(400, "InvalidParameter", f"The managed cluster has no {wanted or 'API server'} FQDN.")
    return name


def user_credentials(cluster: Any, server_fqdn: str | None) -> dict[str, Any]:
    """`{"kubeconfigs": [{"name": "clusterUser", "value": <base64 kubeconfig>}]}` as AKS answers."""
    server = kubeconfig_server(cluster.props, server_fqdn)
    user = f"clusterUser_{cluster.resource_group}_{cluster.name}"
    ca = base64.b64encode(b"devcloud cluster CA (not a real certificate)").decode()
    text = (f"apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n"
            f"    server: https://{server}:443\n  name: {cluster.name}\ncontexts:\n- context:\n"
            f"    cluster: {cluster.name}\n    user: {user}\n  name: {cluster.name}\n"
            f"current-context: {cluster.name}\nkind: Config\npreferences: {{}}\nusers:\n- name: {user}\n"
            f"  user:\n    token: {secrets.token_hex(32)}\n")
    return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(text.encode()).decode()}]}
