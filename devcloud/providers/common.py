"""What every devcloud resource provider needs: id keys, ARM's common errors, etags, LROs, events.

Providers keep their state in dicts keyed by `key(resource_id)` (ARM ids are case-insensitive) and
hold `cloud.arm.lock` while they read or change it. Long-running operations finish on the
scheduler thread; events are handed to Event Grid from another scheduler callback so a hook never
runs while the lock is held.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from devcloud.arm import ArmContext, ArmError, Operation
from devcloud.httpserver import Response

WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"
ACTION_SUCCESS = "Microsoft.Resources.ResourceActionSuccess"

CANCELED = {"code": "Canceled", "message": "The operation was canceled by a later operation on the resource."}


def key(resource_id: str) -> str:
    return resource_id.lower().rstrip("/")


def new_etag() -> str:
    return str(uuid.uuid4())


def normalize_location(location: str) -> str:
    """ARM answers with the short form of a location: "West Europe" -> "westeurope"."""
    return location.replace(" ", "").lower()


def require_location(body: dict[str, Any]) -> str:
    location = body.get("location")
    if not isinstance(location, str) or not location.strip():
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    return normalize_location(location)


def not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    """ARM's 404 for a resource it does not know, word for word as recorded."""
    return ArmError(404, "ResourceNotFound", f"The Resource '{resource_type}/{name}' under resource group "
                                             f"'{resource_group}' was not found. For more details please go to "
                                             "https://aka.ms/ARMResourceNotFoundFix")


def value_list(items: list[dict[str, Any]]) -> Response:
    return Response.json(200, {"value": copy.deepcopy(items)})


def _bare(etag: str) -> str:
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def precondition_failure(ctx: ArmContext, etag: str | None) -> str | None:
    """Why the request's If-Match / If-None-Match fails for a resource whose etag is `etag` (None = absent)."""
    if_match = ctx.request.header("if-match")
    if if_match is not None:
        wanted = _bare(if_match)
        if etag is None:
            return "The resource does not exist, so the If-Match precondition cannot be met."
        if wanted != "*" and wanted != _bare(etag):
            return f"The etag '{wanted}' in the If-Match header does not match the resource's current etag."
    if_none = ctx.request.header("if-none-match")
    if if_none is not None and etag is not None and (_bare(if_none) in ("*", _bare(etag))):
        return f"The condition '{if_none.strip()}' in the If-None-Match header was satisfied: the resource exists."
    return None


class Tracked(Protocol):
    """A resource a long-running operation works on: the newest operation wins."""

    location: str
    op: Operation | None


def start_lro(cloud: Any, ctx: ArmContext, resource: Tracked, namespace: str, duration_key: str, default_s: float,
              complete: Callable[[], dict[str, str] | None],
              fail: Callable[[dict[str, str]], None]) -> Operation:
    """Start an operation on `resource`; call with `cloud.arm.lock` held.

    A later operation on the same resource (a DELETE during creation) cancels this one: its
    completion then changes nothing and the operation ends Failed with code Canceled.
    """
    arm = cloud.arm

    def finish() -> dict[str, str] | None:
        return complete() if resource.op is op else CANCELED

    def failed(error: dict[str, str]) -> None:
        if resource.op is op:
            fail(error)

    op = arm.operations.start(ctx, namespace, resource.location, arm.lro_duration(duration_key, default_s),
                              finish, failed)
    resource.op = op
    return op


def emit_later(cloud: Any, ctx: ArmContext, event_type: str, resource_id: str, operation: str) -> None:
    """Hand an event to Event Grid outside the caller's lock (hooks may deliver over HTTP)."""
    cloud.scheduler.call_later(0, lambda: ctx.emit(event_type, resource_id, operation))


def emit_accepted(cloud: Any, ctx: ArmContext, resource_id: str, operation: str) -> None:
    """Azure may send ResourceWriteSuccess when a PUT is accepted and again when it ends; the product must cope."""
    if cloud.world.settings.get("emit_on_accept", True):
        emit_later(cloud, ctx, WRITE_SUCCESS, resource_id, operation)
