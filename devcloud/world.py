"""The world devcloud simulates: tenants, subscriptions, app registrations, roles, hub network.

A world is plain JSON (see `default_world()` for every field) so tests and the product owner's
scripts can describe their own. Roles are action lists, as Azure custom roles are, and role
assignments name an application and a scope; the application's service principal in the
scope's tenant is what the assignment applies to.

Entra's app roles are data too: an application may expose an API (`identifier_uris`) and define
`app_roles`; an `AppRoleAssignment` grants one of them to another application's service principal,
and tokens issued for the exposing application's audience carry the granted values in `roles`.
devcloud's default world is a customer's estate (a hub, spokes, an admin); whatever product runs
on it brings its own registrations (this repository's: stack/world.py).
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
    # An exposed API: the audiences a token for this application may name (besides its client id),
    # and the app roles it defines: [{"value": "Some.Role", "id": "<guid>", "displayName": ..}].
    identifier_uris: list[str] = field(default_factory=list)
    app_roles: list[dict[str, Any]] = field(default_factory=list)

    def audiences(self) -> list[str]:
        return [self.client_id, *self.identifier_uris]


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
class AppRoleAssignment:
    """An app role of `resource` (an application name) granted to `principal` (an application name):
    Entra's appRoleAssignedTo on the resource's service principal, in the resource's home tenant."""

    principal: str
    resource: str
    role: str  # the app role's value


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
    app_role_assignments: list[AppRoleAssignment] = field(default_factory=list)

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

    def application_named(self, name: str) -> Application | None:
        return next((a for a in self.applications if a.name == name), None)

    def api_for_audience(self, audience: str) -> Application | None:
        """The application whose exposed API a token audience names (client id or identifier URI)."""
        wanted = audience.rstrip("/").lower()
        return next((a for a in self.applications if wanted in {x.rstrip("/").lower() for x in a.audiences()}), None)

    def app_roles_of(self, principal_name: str, resource: Application, tenant_id: str) -> list[str]:
        """The values of `resource`'s app roles granted to `principal_name`: only in the resource's
        home tenant (a token from another tenant carries none), only roles the resource defines."""
        if tenant_id.lower() != resource.home_tenant.lower():
            return []
        defined = {r["value"] for r in resource.app_roles}
        return sorted({a.role for a in self.app_role_assignments
                       if a.principal == principal_name and a.resource == resource.name and a.role in defined})

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
            app_role_assignments=[AppRoleAssignment(**a) for a in d.get("app_role_assignments", [])],
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
            "app_role_assignments": [vars(a) for a in self.app_role_assignments],
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
    """Hub tenant with the hub subscription; a second tenant with two spokes; one spoke in the hub tenant;
    an admin application that owns every subscription. No product: it brings its own registrations."""
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
    assignments = [RoleAssignment("admin", "Owner", f"/subscriptions/{s}") for s in subscriptions]
    return World(
        tenants={HUB_TENANT: "contoso-hub", SPOKE_TENANT: "fabrikam-apps"},
        subscriptions=subscriptions,
        applications=[Application("admin", ADMIN_CLIENT_ID, "devcloud-admin-secret", HUB_TENANT)],
        managed_identities=[],
        roles={
            "Owner": RoleDefinition("Owner", ["*"]),
            "Reader": RoleDefinition("Reader", ["*/read"]),
        },
        assignments=assignments,
        subnets=[Subnet(subnet_id, "10.10.1.0/24"), *spoke_subnets],
        dns_zones=[*zones.values(), *vnet_zones.values()],
        hub={"tenant_id": HUB_TENANT, "subscription_id": HUB_SUBSCRIPTION, "resource_group": hub_rg,
             "subnet_id": subnet_id, "dns_zones": zones, "vnet_integration_dns_zones": vnet_zones},
        spokes=spokes,
    )
