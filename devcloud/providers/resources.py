"""Microsoft.Resources resource groups: the containers every other resource must be created in.

The world's `subscriptions[...]["resource_groups"]` exist from the start (also ones added to the
world later); PUT creates more. Other providers call `require(...)` so that creating a resource
in a missing group fails with ARM's 404 ResourceGroupNotFound.
"""

from __future__ import annotations

import copy
from typing import Any

from devcloud.arm import ArmContext, ArmError
from devcloud.httpserver import Response
from devcloud.providers.common import key, require_location, value_list

DEFAULT_LOCATION = "westeurope"
READ = "Microsoft.Resources/subscriptions/resourceGroups/read"
WRITE = "Microsoft.Resources/subscriptions/resourceGroups/write"


def group_id(subscription_id: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{name}"


class ResourceGroups:
    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.groups: dict[str, dict[str, Any]] = {}  # key(group id) -> ARM body

    def _from_world(self, subscription_id: str, name: str) -> dict[str, Any] | None:
        sub = self.cloud.world.subscriptions.get(subscription_id.lower())
        for rg in (sub or {}).get("resource_groups", []):
            if rg.lower() == name.lower():
                return self._body(subscription_id, rg, sub.get("location", DEFAULT_LOCATION), None)
        return None

    @staticmethod
    def _body(subscription_id: str, name: str, location: str, tags: dict[str, str] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"id": group_id(subscription_id, name), "name": name,
                                "type": "Microsoft.Resources/resourceGroups", "location": location,
                                "properties": {"provisioningState": "Succeeded"}}
        if tags is not None:
            body["tags"] = tags
        return body

    def lookup(self, subscription_id: str, name: str) -> dict[str, Any] | None:
        k = key(group_id(subscription_id, name))
        if k not in self.groups:
            body = self._from_world(subscription_id, name)
            if body is None:
                return None
            self.groups[k] = body
        return self.groups[k]

    def require(self, subscription_id: str, name: str) -> dict[str, Any]:
        with self.cloud.arm.lock:
            body = self.lookup(subscription_id, name)
        if body is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return body

    # -- HTTP ----------------------------------------------------------------------------------
    def get(self, ctx: ArmContext) -> Response:
        return Response.json(200, copy.deepcopy(self.require(ctx.subscription_id, ctx.params["resourceGroupName"])))

    def head(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            found = self.lookup(ctx.subscription_id, ctx.params["resourceGroupName"]) is not None
        return Response.empty(204 if found else 404)

    def put(self, ctx: ArmContext) -> Response:
        name = ctx.params["resourceGroupName"]
        request = ctx.body()
        location = require_location(request)
        with self.cloud.arm.lock:
            existing = self.lookup(ctx.subscription_id, name)
            if existing is not None and existing["location"] != location:
                raise ArmError(400, "InvalidResourceGroupLocation",
                               f"Invalid resource group location '{location}'. The Resource group already exists in "
                               f"location '{existing['location']}'.")
            tags = request.get("tags")
            if existing is None:
                body = self._body(ctx.subscription_id, name, location, tags)
            else:
                body = dict(existing, tags=tags) if tags is not None else existing
            self.groups[key(body["id"])] = body
            return Response.json(201 if existing is None else 200, copy.deepcopy(body))

    def list(self, ctx: ArmContext) -> Response:
        with self.cloud.arm.lock:
            sub = self.cloud.world.subscriptions.get(ctx.subscription_id.lower(), {})
            for rg in sub.get("resource_groups", []):
                self.lookup(ctx.subscription_id, rg)
            prefix = f"/subscriptions/{ctx.subscription_id.lower()}/"
            return value_list([b for k, b in self.groups.items() if k.startswith(prefix)])


def register(cloud: Any) -> ResourceGroups:
    rgs = ResourceGroups(cloud)
    path = "/subscriptions/{subscriptionId}/resourcegroups"
    cloud.arm.route("GET", path, rgs.list, action=READ)
    cloud.arm.route("PUT", path + "/{resourceGroupName}", rgs.put, action=WRITE)
    cloud.arm.route("GET", path + "/{resourceGroupName}", rgs.get, action=READ)
    cloud.arm.route("HEAD", path + "/{resourceGroupName}", rgs.head, action=READ)
    return rgs
