"""The api-versions ARM accepts per resource type, and ARM's own answers when a request's does not fit.

ARM refuses an api-version its resource provider has not registered for the type, before the
provider sees the request, so a mistyped or unpublished version in the product would fail in
Azure. devcloud does the same for the namespaces it serves, with ARM's recorded error codes:

- `NoRegisteredProviderFound` (400) for a provider resource type (Microsoft.Network,
  Microsoft.ContainerService), message "No registered resource provider found for location
  '<loc>' and API version '<v>' for type '<type>'. The supported api-versions are '<a, b>'. The
  supported locations are '<...>'." (the format Microsoft's troubleshooting docs quote);
- `InvalidApiVersionParameter` (400) for ARM's own types (subscriptions, tenants, resource groups,
  providers): "The api-version '<v>' is invalid. The supported versions are '<a,b>'." (both texts
  kept as fixtures in tests/devcloud/recordings/arm_api_version_errors.json);
- `InvalidResourceType` (404) for a type the namespace does not have.

The lists below are the versions each type publishes: the provider registration recorded in
Azure PowerShell's session records (Microsoft.Network up to 2020-08-01), the stable folders of
azure-rest-api-specs since, and at least every version the repo's pinned clients send
(azure-mgmt-network 33.1.0: 2026-03-01; azure-mgmt-containerservice 41.8.0: 2026-08-01;
shared/aks.py: 2025-10-01; shared/dns.py: 2024-06-01; azure-cli 2.91: Network 2026-01-01, AKS
2026-06-01, Private DNS 2018-09-01 and 2024-06-01, subscriptions 2022-12-01, resources 2024-11-01).
Namespaces not listed here (test-only providers) accept any version. The switch
`world.settings["api_versions"]` = "strict" (default) | "any" turns the check off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NETWORK = (
    "2019-02-01", "2019-04-01", "2019-06-01", "2019-07-01", "2019-08-01", "2019-09-01", "2019-11-01", "2019-12-01",
    "2020-01-01", "2020-03-01", "2020-04-01", "2020-05-01", "2020-06-01", "2020-07-01", "2020-08-01", "2020-11-01",
    "2021-02-01", "2021-03-01", "2021-05-01", "2021-08-01", "2022-01-01", "2022-05-01", "2022-07-01", "2022-09-01",
    "2022-11-01", "2023-02-01", "2023-04-01", "2023-05-01", "2023-06-01", "2023-09-01", "2023-11-01", "2024-01-01",
    "2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01", "2025-01-01", "2025-03-01", "2025-05-01", "2025-07-01",
    "2025-09-01", "2026-01-01", "2026-03-01",
)
PRIVATE_DNS = ("2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01")
AKS = (
    "2019-02-01", "2019-04-01", "2019-06-01", "2019-08-01", "2019-10-01", "2019-11-01", "2020-01-01", "2020-02-01",
    "2020-03-01", "2020-04-01", "2020-06-01", "2020-07-01", "2020-09-01", "2020-11-01", "2020-12-01", "2021-02-01",
    "2021-03-01", "2021-05-01", "2021-07-01", "2021-08-01", "2021-09-01", "2021-10-01", "2022-01-01", "2022-02-01",
    "2022-03-01", "2022-04-01", "2022-06-01", "2022-07-01", "2022-08-01", "2022-09-01", "2022-11-01", "2023-01-01",
    "2023-02-01", "2023-03-01", "2023-04-01", "2023-05-01", "2023-06-01", "2023-07-01", "2023-08-01", "2023-09-01",
    "2023-10-01", "2023-11-01", "2024-01-01", "2024-02-01", "2024-05-01", "2024-07-01", "2024-08-01", "2024-09-01",
    "2024-10-01", "2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01", "2025-05-01", "2025-06-01", "2025-07-01",
    "2025-08-01", "2025-09-01", "2025-10-01", "2026-06-01", "2026-08-01",
)
AKS_OPERATIONS = ("2016-03-30", *AKS)  # AKS hands out operation URLs with api-version=2016-03-30 (recorded)
RESOURCES = ("2016-09-01", "2018-05-01", "2019-05-01", "2019-10-01", "2020-06-01", "2021-04-01", "2022-09-01",
             "2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-03-01", "2025-04-01")
SUBSCRIPTIONS = ("2016-06-01", "2018-06-01", "2019-06-01", "2019-11-01", "2020-01-01", "2021-01-01", "2022-01-01",
                 "2022-12-01")
LOCATIONS = "eastus, westus, westeurope, northeurope, uksouth, swedencentral, westus2, centralus"

# namespace (lower) -> {resource type (lower) or "*": versions}
PUBLISHED: dict[str, dict[str, tuple[str, ...]]] = {
    "microsoft.network": {
        "privateendpoints": NETWORK, "networkinterfaces": NETWORK, "privatelinkservices": NETWORK,
        "privatelinkservices/privateendpointconnections": NETWORK, "virtualnetworks": NETWORK,
        "virtualnetworks/subnets": NETWORK, "loadbalancers": NETWORK, "loadbalancers/frontendipconfigurations": NETWORK,
        "locations/operations": NETWORK, "locations/operationresults": NETWORK,
        "privatednszones": PRIVATE_DNS, "privatednszones/a": PRIVATE_DNS, "privatednszones/all": PRIVATE_DNS,
        "privatednszones/soa": PRIVATE_DNS, "privatednszones/virtualnetworklinks": PRIVATE_DNS,
        "privatednsoperationstatuses": PRIVATE_DNS, "privatednsoperationresults": PRIVATE_DNS,
    },
    "microsoft.containerservice": {
        "managedclusters": AKS, "managedclusters/privateendpointconnections": AKS,
        "managedclusters/privatelinkresources": AKS, "managedclusters/stop": AKS, "managedclusters/start": AKS,
        "managedclusters/listclusterusercredential": AKS, "managedclusters/listclusteradmincredential": AKS,
        "locations/operations": AKS_OPERATIONS, "locations/operationresults": AKS_OPERATIONS,
    },
    "microsoft.resources": {"*": RESOURCES, "subscriptions": SUBSCRIPTIONS, "tenants": SUBSCRIPTIONS,
                            "locations": SUBSCRIPTIONS},
}

_PROVIDER_PATH = re.compile(r"/providers/(?P<ns>[^/]+)(?P<rest>(?:/[^/]+)*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


def resource_type(path: str) -> tuple[str, str]:
    """(namespace, type) of an ARM path: `.../providers/NS/t1/n1/t2/n2[/action]` -> (NS, "t1/t2[/action]")."""
    path = path.rstrip("/")
    match = _PROVIDER_PATH.search(path)
    if match is None:
        parts = [p for p in path.split("/") if p]
        if not parts or (parts[0].lower() in ("subscriptions", "tenants") and len(parts) <= 2):
            return "Microsoft.Resources", parts[0] if parts else ""
        if len(parts) >= 3 and parts[2].lower() == "locations":
            return "Microsoft.Resources", "locations"
        return "Microsoft.Resources", "resourceGroups" if len(parts) >= 3 else "subscriptions"
    segments = [s for s in match.group("rest").split("/") if s]
    if not segments:
        return "Microsoft.Resources", "providers"
    return match.group("ns"), "/".join(segments[0::2])


def check(path: str, api_version: str, location: str | None = None) -> Refusal | None:
    """Why ARM would refuse `api_version` for the resource type `path` names, or None."""
    namespace, rtype = resource_type(path)
    table = PUBLISHED.get(namespace.lower())
    if table is None:
        return None
    versions = table.get(rtype.lower()) or table.get("*")
    if versions is None:
        return Refusal(404, "InvalidResourceType", f"The resource type '{rtype}' could not be found in the namespace "
                                                   f"'{namespace}' for api version '{api_version}'.")
    if api_version in versions:
        return None
    newest_first = ", ".join(sorted(versions, reverse=True))
    if namespace.lower() == "microsoft.resources":
        return Refusal(400, "InvalidApiVersionParameter",
                       f"The api-version '{api_version}' is invalid. The supported versions are "
                       f"'{newest_first.replace(', ', ',')}'.")
    return Refusal(400, "NoRegisteredProviderFound",
                   f"No registered resource provider found for location '{location or 'westeurope'}' and API version "
                   f"'{api_version}' for type '{rtype}'. The supported api-versions are '{newest_first}'. The "
                   f"supported locations are '{LOCATIONS}'.")
