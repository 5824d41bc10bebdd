"""ARM's own tenant-level answers: subscriptions, tenants, resource providers and locations.

`az login` lists the subscriptions its token can see (GET /subscriptions), `az account show`
reads one, `az provider show` and SDK helpers read provider registrations, and clients resolve
display names through /tenants and /locations. The shapes follow api-version 2022-12-01 (what
azure-cli 2.91 sends for subscriptions and tenants):

- a caller sees a subscription when it has a role assignment at or below it in its own tenant;
  any other subscription id answers 404 SubscriptionNotFound (ARM says the same whether it does
  not exist or is merely invisible, so nothing leaks);
- GET /subscriptions lists the visible ones of the token's tenant with `count`;
- GET /tenants lists the tenants the caller's app has a service principal in;
- providers list the types devcloud serves with the versions in devcloud.apiversions, all
  Registered.
"""

from __future__ import annotations

from typing import Any

from devcloud import apiversions
from devcloud.arm import ArmContext, ArmError
from devcloud.httpserver import Response

POLICIES = {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}
REGIONS = {  # name -> (display name, geography group, paired region)
    "westeurope": ("West Europe", "Europe", "northeurope"),
    "northeurope": ("North Europe", "Europe", "westeurope"),
    "swedencentral": ("Sweden Central", "Europe", "swedensouth"),
    "uksouth": ("UK South", "Europe", "ukwest"),
    "eastus": ("East US", "US", "westus"),
    "westus": ("West US", "US", "eastus"),
}
# longitude, latitude, physical location as recorded (Azure PowerShell's TestAzureLocation, 2022; West US from
# azure-mgmt-resource's test_subscriptions recording, 2020).
PLACES = {
    "westus": ("-122.417", "37.783", "California"),
    "westeurope": ("4.9", "52.3667", "Netherlands"),
    "northeurope": ("-6.2597", "53.3478", "Ireland"),
    "swedencentral": ("17.14127", "60.67488", "Gävle"),
    "uksouth": ("-0.799", "50.941", "London"),
    "eastus": ("-79.8164", "37.3719", "Virginia"),
}
SERVED_TYPES = {  # namespace -> resource types devcloud serves
    "Microsoft.Network": ("privateEndpoints", "networkInterfaces", "privateDnsZones", "privateDnsZones/A",
                          "privateLinkServices", "privateLinkServices/privateEndpointConnections", "loadBalancers",
                          "locations/operations", "locations/operationResults"),
    "Microsoft.ContainerService": ("managedClusters", "managedClusters/privateEndpointConnections",
                                   "locations/operations", "locations/operationresults"),
}


def _not_found(subscription_id: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")


class Tenancy:
    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud

    # -- visibility ----------------------------------------------------------------------------
    def visible(self, ctx: ArmContext, subscription_id: str) -> bool:
        world = self.cloud.world
        sub = world.subscriptions.get(subscription_id.lower())
        if sub is None or sub["tenant_id"] != ctx.principal.tenant_id:
            return False
        prefix = f"/subscriptions/{subscription_id.lower()}"
        return any(a.scope.lower() == prefix or a.scope.lower().startswith(prefix + "/")
                   for a in world.assignments_for(ctx.principal.name))

    def _subscription(self, subscription_id: str) -> dict[str, Any]:
        sub = self.cloud.world.subscriptions[subscription_id.lower()]
        # An untagged subscription has tags {} (recorded, Azure PowerShell's Get-AzSubscription, 2021).
        return {"id": f"/subscriptions/{subscription_id}", "authorizationSource": "RoleBased", "managedByTenants": [],
                "tags": {}, "subscriptionId": subscription_id, "tenantId": sub["tenant_id"], "displayName": sub.get("name", ""),
                "state": "Enabled", "subscriptionPolicies": dict(POLICIES)}

    # -- HTTP ----------------------------------------------------------------------------------
    def list_subscriptions(self, ctx: ArmContext) -> Response:
        items = [self._subscription(s) for s in self.cloud.world.subscriptions if self.visible(ctx, s)]
        return Response.json(200, {"value": items, "count": {"type": "Total", "value": len(items)}})

    def get_subscription(self, ctx: ArmContext) -> Response:
        sid = ctx.params["subscriptionId"]
        if not self.visible(ctx, sid):
            raise _not_found(sid)
        return Response.json(200, self._subscription(sid))

    def list_tenants(self, ctx: ArmContext) -> Response:
        world = self.cloud.world
        app = world.application(ctx.principal.app_id)
        if app is None:  # a managed identity lives in its own tenant only
            tenants = [ctx.principal.tenant_id]
        else:
            tenants = [t for t in world.tenants if world.application_in_tenant(app.client_id, t)]
        items = [{"id": f"/tenants/{t}", "tenantId": t, "countryCode": "US", "displayName": world.tenants[t],
                  "domains": [f"{world.tenants[t]}.onmicrosoft.com"], "tenantCategory": "Home",
                  "defaultDomain": f"{world.tenants[t]}.onmicrosoft.com", "tenantType": "AAD"} for t in tenants]
        return Response.json(200, {"value": items})

    def list_locations(self, ctx: ArmContext) -> Response:
        sid = ctx.subscription_id
        if not self.visible(ctx, sid):
            raise _not_found(sid)
        items = []
        for name, (display, geography, paired) in REGIONS.items():
            metadata = {"regionType": "Physical", "regionCategory": "Recommended", "geography": geography,
                        "geographyGroup": geography}
            if name in PLACES:
                metadata.update(zip(("longitude", "latitude", "physicalLocation"), PLACES[name], strict=True))
            metadata["pairedRegion"] = [{"name": paired, "id": f"/subscriptions/{sid}/locations/{paired}"}]
            items.append({"id": f"/subscriptions/{sid}/locations/{name}", "name": name, "type": "Region",
                          "displayName": display, "regionalDisplayName": f"({geography}) {display}",
                          "metadata": metadata})
        return Response.json(200, {"value": items}, {"Retry-After": "0"})  # recorded on this read

    def _provider(self, namespace: str, subscription_id: str | None) -> dict[str, Any]:
        types = []
        for rtype in SERVED_TYPES[namespace]:
            versions = apiversions.PUBLISHED[namespace.lower()][rtype.lower()]
            types.append({"resourceType": rtype, "locations": [REGIONS[r][0] for r in REGIONS],
                          "apiVersions": sorted(versions, reverse=True), "capabilities": "None"})
        body: dict[str, Any] = {"id": f"/subscriptions/{subscription_id}/providers/{namespace}" if subscription_id
                                else f"/providers/{namespace}", "namespace": namespace, "resourceTypes": types}
        if subscription_id:
            body.update(registrationState="Registered", registrationPolicy="RegistrationRequired")
        return body

    def _namespace(self, ctx: ArmContext) -> str:
        wanted = ctx.params["namespace"].lower()
        namespace = next((n for n in SERVED_TYPES if n.lower() == wanted), None)
        if namespace is None:
            raise ArmError(404, "InvalidResourceNamespace",
                           f"The resource namespace '{ctx.params['namespace']}' is invalid.")
        return namespace

    def list_providers(self, ctx: ArmContext) -> Response:
        sid = ctx.subscription_id or None
        if sid and not self.visible(ctx, sid):
            raise _not_found(sid)
        return Response.json(200, {"value": [self._provider(n, sid) for n in SERVED_TYPES]})

    def get_provider(self, ctx: ArmContext) -> Response:
        sid = ctx.subscription_id or None
        if sid and not self.visible(ctx, sid):
            raise _not_found(sid)
        return Response.json(200, self._provider(self._namespace(ctx), sid))


def register(cloud: Any) -> Tenancy:
    tenancy = Tenancy(cloud)
    route = cloud.arm.route
    route("GET", "/subscriptions", tenancy.list_subscriptions, action=None, tenant_level=True)
    route("GET", "/tenants", tenancy.list_tenants, action=None, tenant_level=True)
    route("GET", "/providers", tenancy.list_providers, action=None, tenant_level=True)
    route("GET", "/providers/{namespace}", tenancy.get_provider, action=None, tenant_level=True)
    route("GET", "/subscriptions/{subscriptionId}", tenancy.get_subscription, action=None)
    route("GET", "/subscriptions/{subscriptionId}/locations", tenancy.list_locations, action=None)
    route("GET", "/subscriptions/{subscriptionId}/providers", tenancy.list_providers, action=None)
    route("GET", "/subscriptions/{subscriptionId}/providers/{namespace}", tenancy.get_provider, action=None)
    return tenancy
