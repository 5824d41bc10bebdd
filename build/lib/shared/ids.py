"""Cluster identity: parsing ARM ids strictly, and the deterministic names derived from them.

Everything the product creates is named from the cluster id alone (hub endpoint, table keys), so
any trigger, on any instance, finds the same objects without a lookup, and a retry can never
create a second endpoint.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from shared.errors import InvalidInput

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Resource group: 1-90 of letters, digits, '_', '-', '.', '(', ')', not ending in '.'.
# Cluster: 1-63 of letters, digits, '-', '_', starting and ending with a letter or digit.
_CLUSTER_ID = re.compile(
    rf"^/subscriptions/(?P<sub>{_GUID})/resourceGroups/(?P<rg>[\w\-\.\(\)]{{0,89}}[\w\-\(\)])"
    r"/providers/Microsoft\.ContainerService/managedClusters/(?P<name>[A-Za-z0-9](?:[A-Za-z0-9_\-]{0,61}[A-Za-z0-9])?)$",
    re.IGNORECASE | re.ASCII,
)
MAX_ID_LENGTH = 400
INVALID = "InvalidClusterId"


@dataclass(frozen=True)
class ClusterId:
    subscription_id: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, value: object) -> ClusterId:
        """Accept only a well-formed managedClusters id; raise InvalidInput saying why not."""
        if not isinstance(value, str):
            raise InvalidInput(f"clusterId must be a string, got {type(value).__name__}", code=INVALID)
        if len(value) > MAX_ID_LENGTH:
            raise InvalidInput(f"clusterId is longer than {MAX_ID_LENGTH} characters", code=INVALID)
        m = _CLUSTER_ID.match(value.strip().rstrip("/"))
        if not m:
            raise InvalidInput(
                "clusterId must look like /subscriptions/<guid>/resourceGroups/<rg>/providers/"
                f"Microsoft.ContainerService/managedClusters/<name>, got {value[:200]!r}",
                code=INVALID,
            )
        return cls(m.group("sub").lower(), m.group("rg"), m.group("name"))

    @property
    def id(self) -> str:
        """Canonical form: ARM's casing of the path, lower-case subscription."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerService/managedClusters/{self.name}"
        )

    @property
    def key(self) -> str:
        """Case-insensitive identity (ARM ids compare case-insensitively)."""
        return self.id.lower()

    def __str__(self) -> str:
        return self.id

    # -- derived names --------------------------------------------------------------------------
    @property
    def digest(self) -> str:
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest()

    @property
    def endpoint_name(self) -> str:
        """Hub private endpoint name: readable, unique per cluster, <= 64 chars of [a-z0-9-]."""
        readable = re.sub(r"[^a-z0-9-]", "-", self.name.lower())[:36].strip("-") or "aks"
        return f"pe-hublink-{readable}-{self.digest[:12]}"

    @property
    def partition_key(self) -> str:
        return self.subscription_id

    @property
    def row_key(self) -> str:
        """Table keys forbid '/', '\\', '#', '?'; '~' cannot occur in a group or cluster name."""
        return f"{self.resource_group.lower()}~{self.name.lower()}"

    @property
    def short(self) -> str:
        return f"{self.resource_group}/{self.name}"


def same_arm_id(a: str | None, b: str | None) -> bool:
    """ARM resource ids compare case-insensitively, ignoring a trailing slash."""
    if not a or not b:
        return False
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def arm_id_parts(resource_id: str) -> dict[str, str]:
    """`/subscriptions/s/resourceGroups/rg/providers/Ns/type/name` -> {subscription, resource_group, name}."""
    parts = resource_id.strip("/").split("/")
    if len(parts) < 8 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
        raise InvalidInput(f"not an ARM resource id: {resource_id!r}")
    return {"subscription": parts[1], "resource_group": parts[3], "name": parts[-1]}
