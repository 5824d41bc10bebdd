"""The world devcloud simulates: tenants, subscriptions, app registrations, roles, hub network.

A world is plain JSON (see `default_world()` for every field) so tests and the product owner's
scripts can describe their own. Roles are action lists, as Azure custom roles are, and role
assignments name an application and a scope; the application's service principal in the
scope's tenant is what the assignment applies to.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

# Fixed ids so a default world is the same on every run (logs and docs stay comparable).
HUB_TENANT = "a1a1a1a1-0000-4000-8000-000000000001"
SPOKE_TENANT = "b2b2b2b2-0000-4000-8000-000000000002"
HUB_SUBSCRIPTION = "10000000-0000-4000-8000-0000000000a1"
SPOKE_SUBSCRIPTION_B1 = "20000000-0000-4000-8000-0000000000b1"
SPOKE_SUBSCRIPTION_B2 = "20000000-0000-4000-8000-0000000000b2"
SPOKE_SUBSCRIPTION_A = "30000000-0000-4000-8000-0000000000a2"
ADMIN_CLIENT_ID = "c0c0c0c0-0000-4000-8000-00000000ad01"
PRODUCT_CLIENT_ID = "c0c0c0c0-0000-4000-8000-00000000b001"
PRODUCT_IDENTITY_CLIENT_ID = "c0c0c0c0-0000-4000-8000-00000000e001"

# What the product needs on the hub side and on each spoke. infra/ declares the same custom roles;
# a test compares both with the actions devcloud records during an end-to-end run.
HUB_ROLE_ACTIONS = [
    "Microsoft.Network/privateEndpoints/read",
    "Microsoft.Network/privateEndpoints/write",
    "Microsoft.Network/privateEndpoints/delete",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/privateDnsZones/A/read",
    "Microsoft.Network/privateDnsZones/A/write",
    "Microsoft.Network/privateDnsZones/A/delete",
    # read by `hublink doctor` only: the zones, their VNet links and the subnets' free addresses
    "Microsoft.Network/privateDnsZones/read",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks/read",
    "Microsoft.Network/virtualNetworks/subnets/read",
]
SPOKE_ROLE_ACTIONS = [
    "Microsoft.ContainerService/managedClusters/read",
    "Microsoft.ContainerService/managedClusters/privateEndpointConnections/read",
    "Microsoft.ContainerService/managedClusters/privateEndpointConnections/write",
    # read by `hublink doctor` only: the subscription's system topic and our event subscription on it
    "Microsoft.EventGrid/systemTopics/read",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions/read",
]


def principal_object_id(client_id: str, tenant_id: str) -> str:
    """The object id of an app's service principal in one tenant: stable, distinct per tenant."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{client_id}:{tenant_id}"))


@dataclass
class Application:
    name: str
    client_id: str
    secret: str
    home_tenant: str
    # Tenants where a service principal exists (consent granted). "*" = every tenant of the world.
    tenants: list[str] = field(default_factory=lambda: ["*"])
    # Workload identity federation: managed identities (by principal id) whose tokens for
    # api://AzureADTokenExchange this app accepts as client assertions.
    federated_identities: list[str] = field(default_factory=list)


@dataclass
class ManagedIdentity:
    name: str
    client_id: str
    principal_id: str
    tenant_id: str


@dataclass
class RoleDefinition:
    name: str
    actions: list[str]
    not_actions: list[str] = field(default_factory=list)


@dataclass
class RoleAssignment:
    principal: str  # application name, or managed identity name
    role: str
    scope: str


@dataclass
class Subnet:
    id: str
    prefix: str
    # Service delegations (e.g. "Microsoft.ContainerService/managedClusters" for an API server subnet).
    delegations: list[str] = field(default_factory=list)
    # Azure's default is "Enabled"; a private link service's NAT IPs need a subnet where it is "Disabled".
    private_link_service_network_policies: str = "Enabled"


@dataclass
class World:
    tenants: dict[str, str]  # id -> display name
    subscriptions: dict[str, dict[str, Any]]  # id -> {tenant_id, name, resource_groups, location}
    applications: list[Application]
    managed_identities: list[ManagedIdentity]
    roles: dict[str, RoleDefinition]
    assignments: list[RoleAssignment]
    subnets: list[Subnet]
    dns_zones: list[str]  # private DNS zone resource ids
    hub: dict[str, Any]
    spokes: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)

    # -- lookups -----------------------------------------------------------------------------
    def tenant_of(self, subscription_id: str) -> str | None:
        sub = self.subscriptions.get(subscription_id.lower())
        return sub["tenant_id"] if sub else None

    def application(self, client_id: str) -> Application | None:
        return next((a for a in self.applications if a.client_id.lower() == client_id.lower()), None)

    def application_in_tenant(self, client_id: str, tenant_id: str) -> Application | None:
        app = self.application(client_id)
        if app and ("*" in app.tenants or tenant_id in app.tenants):
            return app
        return None

    def identity(self, client_id: str | None = None, principal_id: str | None = None) -> ManagedIdentity | None:
        for mi in self.managed_identities:
            if client_id and mi.client_id.lower() == client_id.lower():
                return mi
            if principal_id and mi.principal_id.lower() == principal_id.lower():
                return mi
        return None

    def assignments_for(self, principal_name: str) -> list[RoleAssignment]:
        return [a for a in self.assignments if a.principal == principal_name]

    # -- serialisation -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> World:
        return cls(
            tenants=dict(d["tenants"]),
            subscriptions={k.lower(): v for k, v in d["subscriptions"].items()},
            applications=[Application(**a) for a in d["applications"]],
            managed_identities=[ManagedIdentity(**m) for m in d.get("managed_identities", [])],
            roles={name: RoleDefinition(name=name, **r) for name, r in d["roles"].items()},
            assignments=[RoleAssignment(**a) for a in d["assignments"]],
            subnets=[Subnet(**s) for s in d.get("subnets", [])],
            dns_zones=list(d.get("dns_zones", [])),
            hub=dict(d.get("hub", {})),
            spokes=list(d.get("spokes", [])),
            settings=dict(d.get("settings", {})),
        )

    @classmethod
    def load(cls, path: str) -> World:
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenants": self.tenants,
            "subscriptions": self.subscriptions,
            "applications": [vars(a) for a in self.applications],
            "managed_identities": [vars(m) for m in self.managed_identities],
            "roles": {n: {"actions": r.actions, "not_actions": r.not_actions} for n, r in self.roles.items()},
            "assignments": [vars(a) for a in self.assignments],
            "subnets": [vars(s) for s in self.subnets],
            "dns_zones": self.dns_zones,
            "hub": self.hub,
            "spokes": self.spokes,
            "settings": self.settings,
        }


def subnet_hosts(prefix: str) -> list[str]:
    """Addresses Azure hands out in a subnet: it reserves the first four and the last (a /24 fits 251, a /29 3)."""
    net = ipaddress.ip_network(prefix)
    if net.num_addresses < 8:
        return []  # Azure's smallest subnet is a /29
    return [str(ip) for ip in list(net)[4:-1]]


AKS_DELEGATION = "Microsoft.ContainerService/managedClusters"


def vnet_integration_network(subscription_id: str, resource_group: str) -> tuple[dict[str, str], list[Subnet]]:
    """A spoke VNet ready for API Server VNet Integration clusters, and its subnets.

    The API server subnet is delegated to AKS and is a /28 (the documented minimum); the PLS
    subnet has private-link-service network policies disabled, as a Private Link Service needs.
    """
    vnet = (f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.Network/"
            "virtualNetworks/vnet-aks")
    ids = {"vnet_id": vnet, "apiserver_subnet_id": f"{vnet}/subnets/snet-apiserver",
           "node_subnet_id": f"{vnet}/subnets/snet-nodes", "pls_subnet_id": f"{vnet}/subnets/snet-pls"}
    subnets = [Subnet(ids["apiserver_subnet_id"], "10.40.0.0/28", delegations=[AKS_DELEGATION]),
               Subnet(ids["node_subnet_id"], "10.40.1.0/24"),
               Subnet(ids["pls_subnet_id"], "10.40.2.0/24", private_link_service_network_policies="Disabled")]
    return ids, subnets


def default_world() -> World:
    """Hub tenant with the hub subscription; a second tenant with two spokes; one spoke in the hub tenant."""
    hub_rg = "rg-hub-network"
    vnet = f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{hub_rg}/providers/Microsoft.Network/virtualNetworks/vnet-hub"
    subnet_id = f"{vnet}/subnets/snet-private-endpoints"
    zone = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/privateDnsZones/privatelink.{region}.azmk8s.io"
    zones = {r: zone.format(sub=HUB_SUBSCRIPTION, rg=hub_rg, region=r) for r in ("westeurope", "northeurope")}
    # API Server VNet Integration clusters resolve under private.<region>.azmk8s.io instead.
    vnet_zones = {r: z.replace("/privatelink.", "/private.") for r, z in zones.items()}
    vnet_ids, spoke_subnets = vnet_integration_network(SPOKE_SUBSCRIPTION_B1, "rg-aks")
    spokes = [
        {"tenant_id": SPOKE_TENANT, "subscription_id": SPOKE_SUBSCRIPTION_B1, "resource_group": "rg-aks",
         "vnet_integration": vnet_ids},
        {"tenant_id": SPOKE_TENANT, "subscription_id": SPOKE_SUBSCRIPTION_B2, "resource_group": "rg-aks"},
        {"tenant_id": HUB_TENANT, "subscription_id": SPOKE_SUBSCRIPTION_A, "resource_group": "rg-aks"},
    ]
    subscriptions = {
        HUB_SUBSCRIPTION: {"tenant_id": HUB_TENANT, "name": "hub", "resource_groups": [hub_rg]},
    }
    for i, s in enumerate(spokes):
        subscriptions[s["subscription_id"]] = {"tenant_id": s["tenant_id"], "name": f"spoke-{i + 1}",
                                               "resource_groups": [s["resource_group"]]}
    identity = ManagedIdentity(name="id-hublink", client_id=PRODUCT_IDENTITY_CLIENT_ID,
                               principal_id=principal_object_id(PRODUCT_IDENTITY_CLIENT_ID, HUB_TENANT),
                               tenant_id=HUB_TENANT)
    assignments = [RoleAssignment("admin", "Owner", f"/subscriptions/{s}") for s in subscriptions]
    assignments.append(RoleAssignment("hublink", "HubLink Hub Operator",
                                      f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/{hub_rg}"))
    assignments += [RoleAssignment("hublink", "HubLink Spoke Approver", f"/subscriptions/{s['subscription_id']}")
                    for s in spokes]
    return World(
        tenants={HUB_TENANT: "contoso-hub", SPOKE_TENANT: "fabrikam-apps"},
        subscriptions=subscriptions,
        applications=[
            Application("admin", ADMIN_CLIENT_ID, "devcloud-admin-secret", HUB_TENANT),
            Application("hublink", PRODUCT_CLIENT_ID, "devcloud-hublink-secret", HUB_TENANT,
                        federated_identities=[identity.principal_id]),
        ],
        managed_identities=[identity],
        roles={
            "Owner": RoleDefinition("Owner", ["*"]),
            "Reader": RoleDefinition("Reader", ["*/read"]),
            "HubLink Hub Operator": RoleDefinition("HubLink Hub Operator", list(HUB_ROLE_ACTIONS)),
            "HubLink Spoke Approver": RoleDefinition("HubLink Spoke Approver", list(SPOKE_ROLE_ACTIONS)),
        },
        assignments=assignments,
        subnets=[Subnet(subnet_id, "10.10.1.0/24"), *spoke_subnets],
        dns_zones=[*zones.values(), *vnet_zones.values()],
        hub={"tenant_id": HUB_TENANT, "subscription_id": HUB_SUBSCRIPTION, "resource_group": hub_rg,
             "subnet_id": subnet_id, "dns_zones": zones, "vnet_integration_dns_zones": vnet_zones},
        spokes=spokes,
    )
