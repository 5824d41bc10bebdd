"""Hub private DNS: the A record `<privateFQDN relative to privatelink.<region>.azmk8s.io>`.

AKS gives no zone-group records, so the product writes the record itself. Ownership is marked in
the record's metadata; a record without our mark is never changed or deleted, and every write is
conditional (If-None-Match on create, If-Match on update/delete) so a record someone else touches
between our read and our write is not overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import DnsConflict, TerminalError, not_found_means_read_again

if TYPE_CHECKING:
    from shared.arm import ArmClient

DNS_API_VERSION = "2024-06-01"
OWNER_KEY = "hublinkCluster"
MANAGED_BY_KEY = "managedBy"
MANAGED_BY = "aks-hublink"
TTL_S = 10  # short: a recreated endpoint gets a new IP and clients should see it soon


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

    def ensure(self, zone_id: str, name: str, ip: str, *, owner: str) -> tuple[Record, bool]:
        """Make `name` resolve to `ip`; returns (record, changed). Raises DnsConflict if not ours."""
        current = self.get(zone_id, name)
        if current is not None and (current.owner or "").lower() != owner.lower():
            raise DnsConflict(
                f"A record {name!r} already exists in the hub zone and is not managed by this product "
                f"(owner: {current.owner or 'none'}); it was left untouched",
                code="DnsRecordConflict",
            )
        if current is not None and current.ips == (ip,):
            return current, False
        body = {
            "properties": {
                "ttl": TTL_S,
                "metadata": {OWNER_KEY: owner, MANAGED_BY_KEY: MANAGED_BY},
                "aRecords": [{"ipv4Address": ip}],
            }
        }
        condition = {"If-None-Match": "*"} if current is None else {"If-Match": current.etag or "*"}
        resp = self.arm.put_json(
            self._path(zone_id, name),
            body,
            tenant_id=self.tenant,
            api_version=DNS_API_VERSION,
            what=f"write A record {name}",
            headers=condition,
        )
        return _record(resp.json()), True

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


def _record(body: dict[str, Any]) -> Record:
    props = body.get("properties") or {}
    meta = props.get("metadata") or {}
    ips = tuple(a.get("ipv4Address", "") for a in props.get("aRecords") or [])
    return Record(name=body.get("name", ""), ips=ips, owner=meta.get(OWNER_KEY), etag=body.get("etag"))
