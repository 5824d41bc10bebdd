"""Microsoft.Authorization/permissions: what the caller may do at a scope, from the world's RBAC.

`GET {scope}/providers/Microsoft.Authorization/permissions` answers, for the calling principal, one
entry per role assignment that applies at the scope (assigned there or above, in the scope's
tenant), each its role's `actions` / `notActions` (and the data-plane lists, empty here), as
Microsoft's docs show it (fixture: tests/devcloud/recordings/authorization_permissions.json). Any
signed-in caller may read its own permissions, so the route needs no action. Served at
subscription scope (the docs' example) and resource group scope (Permissions_ListForResourceGroup).
"""

from __future__ import annotations

from typing import Any

from devcloud.arm import ArmContext
from devcloud.httpserver import Response

API_VERSIONS = ("2015-07-01", "2018-01-01-preview", "2022-04-01")


def permissions_at(cloud: Any, principal: Any, scope: str) -> list[dict[str, Any]]:
    """The permission entries of every assignment of `principal` that applies at `scope`."""
    scope_l = scope.lower().rstrip("/")
    out = []
    for assignment in cloud.world.assignments_for(principal.name):
        a_scope = assignment.scope.lower().rstrip("/")
        if not (scope_l == a_scope or scope_l.startswith(a_scope + "/")):
            continue
        sub = a_scope.split("/")[2] if a_scope.startswith("/subscriptions/") else ""
        if cloud.world.tenant_of(sub) != principal.tenant_id:
            continue  # an assignment applies to the principal's identity in the scope's tenant only
        role = cloud.world.roles.get(assignment.role)
        if role is not None:
            out.append(
                {"actions": list(role.actions), "notActions": list(role.not_actions), "dataActions": [], "notDataActions": []}
            )
    return out


def register(cloud: Any) -> None:
    def handler(ctx: ArmContext) -> Response:
        scope = ctx.request.path[: ctx.request.path.lower().index("/providers/microsoft.authorization/permissions")]
        return Response.json(200, {"value": permissions_at(cloud, ctx.principal, scope)})

    for scope in ("/subscriptions/{subscriptionId}", "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"):
        cloud.arm.route("GET", scope + "/providers/Microsoft.Authorization/permissions", handler, action=None)
