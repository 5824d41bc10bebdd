"""The product's registrations on a devcloud world: what infra/ and its hooks create in a real tenant.

devcloud's default world is a customer's estate and knows nothing of aks-hublink; this module adds
the product to one, as data:

- the multi-tenant workload application `hublink` (no secret in Azure: its managed identity
  `id-hublink` signs for it through workload identity federation) and the two custom roles
  infra/main.bicep and infra/spoke.bicep grant it, on the hub's network group and on every spoke;
- the operator API's application `hublink-api` (infra/app/api-registration.json: identifier URI and
  the three app roles), and four service principals for tests and the demo: one holding each role
  and one holding none.

`product_info(world)` is what `python -m stack up` adds to devcloud's DEVCLOUD_READY line.
"""

from __future__ import annotations

import json
import os
from typing import Any

from devcloud.world import (
    HUB_SUBSCRIPTION,
    HUB_TENANT,
    Application,
    AppRoleAssignment,
    ManagedIdentity,
    RoleAssignment,
    RoleDefinition,
    World,
    default_world,
    principal_object_id,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_MANIFEST = os.path.join(REPO_ROOT, "infra", "app", "api-registration.json")

PRODUCT_APP = "hublink"
PRODUCT_CLIENT_ID = "c0c0c0c0-0000-4000-8000-00000000b001"
PRODUCT_SECRET = "devcloud-hublink-secret"  # noqa: S105 - devcloud's, for client_secret mode in tests
PRODUCT_IDENTITY = "id-hublink"
PRODUCT_IDENTITY_CLIENT_ID = "c0c0c0c0-0000-4000-8000-00000000e001"
HUB_ROLE, SPOKE_ROLE = "HubLink Hub Operator", "HubLink Spoke Approver"

API_APP = "hublink-api"
API_CLIENT_ID = "c0c0c0c0-0000-4000-8000-00000000a901"
# The API's callers on devcloud: name -> (client id, the app role it holds or None).
API_PRINCIPALS = {
    "approver": ("c0c0c0c0-0000-4000-8000-00000000a9a1", "HubLink.Approver"),
    "operator": ("c0c0c0c0-0000-4000-8000-00000000a9a2", "HubLink.Operator"),
    "reader": ("c0c0c0c0-0000-4000-8000-00000000a9a3", "HubLink.Reader"),
    "nobody": ("c0c0c0c0-0000-4000-8000-00000000a9a4", None),
}

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
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/privateDnsZones/read",
    "Microsoft.Network/privateDnsZones/write",
    "Microsoft.Network/privateDnsZones/delete",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks/read",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks/write",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks/delete",
    "Microsoft.Network/virtualNetworks/join/action",
]
SPOKE_ROLE_ACTIONS = [
    "Microsoft.ContainerService/managedClusters/read",
    "Microsoft.ContainerService/managedClusters/privateEndpointConnections/read",
    "Microsoft.ContainerService/managedClusters/privateEndpointConnections/write",
    # API Server VNet Integration clusters: our Private Link Service on kube-apiserver's frontend.
    "Microsoft.Network/loadBalancers/read",
    "Microsoft.Network/loadBalancers/write",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/privateLinkServices/read",
    "Microsoft.Network/privateLinkServices/write",
    "Microsoft.Network/privateLinkServices/delete",
    "Microsoft.Network/privateLinkServices/privateEndpointConnections/write",
    # read by `hublink doctor` only: the subscription's system topic, our event subscription and its deliveries
    "Microsoft.EventGrid/systemTopics/read",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions/read",
    "Microsoft.Insights/metrics/read",
]


def api_manifest() -> dict[str, Any]:
    with open(API_MANIFEST, encoding="utf-8") as fh:
        return json.load(fh)


def api_audience(client_id: str = API_CLIENT_ID) -> str:
    """The identifier URI the manifest gives the API (`api://{appId}`), as tokens name it."""
    return api_manifest()["identifierUris"][0].replace("{appId}", client_id)


def principal_secret(name: str) -> str:
    return f"devcloud-hublink-api-{name}-secret"


def add_product(world: World) -> World:
    """Register the product in `world` (in place; a world that already has it is left as it is)."""
    if world.application_named(PRODUCT_APP) is None:
        _add_workload(world)
    if world.application_named(API_APP) is None:
        _add_api(world)
    return world


def product_world() -> World:
    """devcloud's default world with the product registered: what the tests and `stack up` run on."""
    return add_product(default_world())


def _add_workload(world: World) -> None:
    hub_tenant = world.hub.get("tenant_id", HUB_TENANT)
    identity = ManagedIdentity(
        name=PRODUCT_IDENTITY,
        client_id=PRODUCT_IDENTITY_CLIENT_ID,
        principal_id=principal_object_id(PRODUCT_IDENTITY_CLIENT_ID, hub_tenant),
        tenant_id=hub_tenant,
    )
    world.managed_identities.append(identity)
    world.applications.append(
        Application(PRODUCT_APP, PRODUCT_CLIENT_ID, PRODUCT_SECRET, hub_tenant, federated_identities=[identity.principal_id])
    )
    world.roles[HUB_ROLE] = RoleDefinition(HUB_ROLE, list(HUB_ROLE_ACTIONS))
    world.roles[SPOKE_ROLE] = RoleDefinition(SPOKE_ROLE, list(SPOKE_ROLE_ACTIONS))
    hub_sub = world.hub.get("subscription_id", HUB_SUBSCRIPTION)
    hub_scope = f"/subscriptions/{hub_sub}/resourceGroups/{world.hub['resource_group']}"
    world.assignments.append(RoleAssignment(PRODUCT_APP, HUB_ROLE, hub_scope))
    world.assignments += [RoleAssignment(PRODUCT_APP, SPOKE_ROLE, f"/subscriptions/{s['subscription_id']}") for s in world.spokes]


def _add_api(world: World) -> None:
    """The API registration from infra's manifest (single-tenant, in the hub), and its callers."""
    manifest = api_manifest()
    hub_tenant = world.hub.get("tenant_id", HUB_TENANT)
    roles = [{k: r[k] for k in ("id", "value", "displayName", "description", "allowedMemberTypes")} for r in manifest["appRoles"]]
    world.applications.append(
        Application(
            API_APP,
            API_CLIENT_ID,
            "devcloud-hublink-api-secret",
            hub_tenant,
            tenants=[hub_tenant],
            identifier_uris=[api_audience()],
            app_roles=roles,
        )
    )
    for name, (client_id, role) in API_PRINCIPALS.items():
        app_name = f"hublink-{name}"
        world.applications.append(Application(app_name, client_id, principal_secret(name), hub_tenant))
        if role:
            world.app_role_assignments.append(AppRoleAssignment(app_name, API_APP, role))


def product_info(world: World) -> dict[str, Any]:
    """The product's part of DEVCLOUD_READY: its workload app, and the API's audience and callers."""
    product = world.application_named(PRODUCT_APP)
    api = world.application_named(API_APP)
    info: dict[str, Any] = {}
    if product is not None:
        identity = next((m for m in world.managed_identities if m.name == PRODUCT_IDENTITY), None)
        info["product"] = {
            "client_id": product.client_id,
            "client_secret": product.secret,
            "managed_identity_client_id": identity.client_id if identity else None,
        }
    if api is not None:
        principals = {}
        for name in API_PRINCIPALS:
            app = world.application_named(f"hublink-{name}")
            if app is not None:
                principals[name] = {
                    "client_id": app.client_id,
                    "client_secret": app.secret,
                    "object_id": principal_object_id(app.client_id, api.home_tenant),
                }
        info["api"] = {
            "audience": api.identifier_uris[0] if api.identifier_uris else api.client_id,
            "client_id": api.client_id,
            "tenant_id": api.home_tenant,
            "principals": principals,
        }
    return info
