"""The /_devcloud control API: steer faults, latency, LROs, throttling and Event Grid; read what happened.

JSON over the same HTTPS port as ARM, so tests, benches and the demo can drive a devcloud started
by `python -m devcloud up` from another process. Routes carry `control=True` (the fault middleware
lets them through) and need no token, which is why they answer loopback clients only.
Collections come back as `{"value": [...]}`, errors as `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from devcloud.arm import DEFAULT_LIMITS, FaultRule, LogEntry
from devcloud.eventgrid import EventGridError
from devcloud.httpserver import Request, Response, error_body

PREFIX = "/_devcloud"
FAULT_ACTIONS = ("status", "drop", "latency", "lro_failed", "drop_after", "hook")
# FaultRule fields a client may set, with the JSON types each accepts (None = may be null).
_FAULT_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,), "method": (str,), "path": (str,), "action": (str,), "status": (int,),
    "code": (str, type(None)), "message": (str, type(None)), "retry_after": (int, type(None)),
    "latency_s": (int, float), "times": (int, type(None)), "probability": (int, float),
    "principal": (str, type(None)), "hold": (bool,), "hold_s": (int, float),
}


# Switches for Azure behaviour that is unknown or configurable (world.settings), with their types.
SWITCHES: dict[str, type] = {
    "emit_on_accept": bool,  # a write event when a PUT is accepted, not only when it ends
    "nrg_lockdown_refuses_pls": bool,  # node resource group lockdown refuses a PLS on kube-apiserver
    "apiserver_frontend_moves_on_start": bool,  # start replaces kube-apiserver's frontend (new name and IP)
    "pls_per_load_balancer": int,  # Azure's limit is 8
    "pls_max_connections": int,  # Azure's limit is 1,000
    "private_endpoints_per_vnet": int,  # Azure's limit is 1,000 (5,000 with High Scale)
}


class BadRequest(Exception):
    """A control request devcloud cannot act on (answered 400)."""


def _body(req: Request) -> dict[str, Any]:
    try:
        data = req.json()
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadRequest(f"{what} must be a number >= 0, got {value!r}")
    return float(value)


def filter_entries(entries: list[LogEntry], query: dict[str, str]) -> list[LogEntry]:
    """`?principal=&method=&since=seq` (entries with seq > since)."""
    try:
        since = int(query.get("since", "0") or 0)
    except ValueError as exc:
        raise BadRequest("since must be a sequence number") from exc
    out = [e for e in entries if e.seq > since]
    if query.get("principal"):
        out = [e for e in out if e.principal == query["principal"]]
    if query.get("method"):
        out = [e for e in out if e.method == query["method"].upper()]
    return out


def counters(entries: list[LogEntry]) -> dict[str, Any]:
    """How many calls, by each dimension a test or bench asks about."""
    dims = {"method": "method", "template": "template", "apiVersion": "api_version", "tenant": "tenant",
            "principal": "principal", "status": "status", "kind": "kind"}
    out: dict[str, Any] = {"total": len(entries)}
    for key, attr in dims.items():
        out[key] = dict(Counter(str(getattr(e, attr)) if getattr(e, attr) is not None else "(none)" for e in entries))
    return out


class ControlApi:
    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.arm = cloud.arm
        self.eventgrid = cloud.eventgrid

    def routes(self) -> list[tuple[str, str, Callable[[Request], Response]]]:
        return [
            ("GET", "/faults", self.list_faults),
            ("POST", "/faults", self.add_fault),
            ("DELETE", "/faults", self.clear_faults),
            ("DELETE", "/faults/{id}", self.delete_fault),
            ("GET", "/faults/{id}/fired", self.fault_fired),
            ("POST", "/faults/{id}/release", self.release_fault),
            ("PUT", "/latency", self.set_latency),
            ("PUT", "/lro", self.set_lro),
            ("PUT", "/throttling", self.set_throttling),
            ("DELETE", "/throttling", self.reset_throttling),
            ("GET", "/requests", self.requests),
            ("DELETE", "/requests", self.clear_requests),
            ("GET", "/counters", self.counters),
            ("GET", "/actions", self.actions),
            ("GET", "/eventgrid/subscriptions", self.list_event_subscriptions),
            ("POST", "/eventgrid/subscriptions", self.add_event_subscription),
            ("DELETE", "/eventgrid/subscriptions/{name}", self.delete_event_subscription),
            ("PUT", "/eventgrid/behaviour", self.set_eventgrid_behaviour),
            ("GET", "/eventgrid/deliveries", self.deliveries),
            ("GET", "/eventgrid/dead-letters", self.dead_letters),
            ("GET", "/world", self.world),
            ("GET", "/settings", self.get_settings),
            ("PUT", "/settings", self.set_settings),
            ("GET", "/subnets", self.subnets),
            ("POST", "/subnets", self.add_subnet),
            ("GET", "/dns/resolve", self.resolve),
            ("POST", "/tokens", self.mint_token),
        ]

    # -- faults --------------------------------------------------------------------------------
    def list_faults(self, req: Request) -> Response:
        return Response.json(200, {"value": [dataclasses.asdict(r) for r in list(self.arm.faults)]})

    def add_fault(self, req: Request) -> Response:
        body = _body(req)
        for key, value in body.items():
            if key not in _FAULT_TYPES:
                raise BadRequest(f"unknown fault field {key!r}; known: {sorted(_FAULT_TYPES)}")
            if isinstance(value, bool) != (bool in _FAULT_TYPES[key]) or not isinstance(value, _FAULT_TYPES[key]):
                raise BadRequest(f"fault field {key!r} has the wrong type: {value!r}")
        try:
            re.compile(body.get("path", ""))
        except re.error as exc:
            raise BadRequest(f"path is not a valid regular expression: {exc}") from exc
        body.setdefault("id", uuid.uuid4().hex[:12])
        if any(r.id == body["id"] for r in self.arm.faults):
            raise BadRequest(f"a fault with id {body['id']!r} exists")
        rule = FaultRule(**body)
        if rule.action not in FAULT_ACTIONS:
            raise BadRequest(f"action must be one of {FAULT_ACTIONS}")
        self.arm.faults.append(rule)
        return Response.json(201, dataclasses.asdict(rule))

    def clear_faults(self, req: Request) -> Response:
        self.arm.faults.clear()
        self.arm.hooks.forget()
        return Response.empty(204)

    def delete_fault(self, req: Request) -> Response:
        rule = next((r for r in self.arm.faults if r.id == req.params["id"]), None)
        if rule is None:
            return Response.json(404, error_body("FaultNotFound", f"no fault with id {req.params['id']!r}"))
        self.arm.faults.remove(rule)
        self.arm.hooks.forget(rule.id)
        return Response.empty(204)

    def fault_fired(self, req: Request) -> Response:
        """`?count=1&wait=0`: the hook of a drop_after / hook rule, once it fired `count` times (long poll
        up to `wait` seconds; `reached` says whether it did). The request it fired for may be held."""
        if not any(r.id == req.params["id"] for r in self.arm.faults):
            return Response.json(404, error_body("FaultNotFound", f"no fault with id {req.params['id']!r}"))
        try:
            count, wait = int(req.query.get("count", "1")), float(req.query.get("wait", "0"))
        except ValueError as exc:
            raise BadRequest("count must be an integer and wait a number of seconds") from exc
        return Response.json(200, self.arm.hooks.wait(req.params["id"], count, min(max(wait, 0.0), 120.0)))

    def release_fault(self, req: Request) -> Response:
        """Let the held answers of a rule go (and later matches pass without holding)."""
        if not any(r.id == req.params["id"] for r in self.arm.faults):
            return Response.json(404, error_body("FaultNotFound", f"no fault with id {req.params['id']!r}"))
        return Response.json(200, self.arm.hooks.release(req.params["id"]))

    # -- timing --------------------------------------------------------------------------------
    def set_latency(self, req: Request) -> Response:
        self.arm.latency_s = _number(_body(req).get("seconds"), "seconds")
        return Response.json(200, {"seconds": self.arm.latency_s})

    def set_lro(self, req: Request) -> Response:
        """Merge LRO durations and Retry-After values; a null value removes a setting."""
        body = _body(req)
        for field, target in (("durations", self.arm.lro_seconds), ("retry_after", self.arm.retry_after_s)):
            for key, value in (body.get(field) or {}).items():
                if value is None:
                    target.pop(key, None)
                else:
                    seconds = _number(value, f"{field}.{key}")
                    target[key] = seconds if field == "durations" else int(seconds)
        return Response.json(200, {"durations": self.arm.lro_seconds, "retry_after": self.arm.retry_after_s})

    def set_throttling(self, req: Request) -> Response:
        body = _body(req)
        for kind, value in body.items():
            if kind not in DEFAULT_LIMITS:
                raise BadRequest(f"unknown request kind {kind!r}; known: {sorted(DEFAULT_LIMITS)}")
            if not isinstance(value, list) or len(value) != 2:
                raise BadRequest(f"{kind} must be [capacity, refill_per_second]")
            self.arm.limits[kind] = (_number(value[0], f"{kind} capacity"), _number(value[1], f"{kind} refill"))
        self.arm.reset_throttling()
        return Response.json(200, {k: list(v) for k, v in self.arm.limits.items()})

    def reset_throttling(self, req: Request) -> Response:
        self.arm.limits = dict(DEFAULT_LIMITS)
        self.arm.reset_throttling()
        return Response.json(200, {k: list(v) for k, v in self.arm.limits.items()})

    # -- what happened -------------------------------------------------------------------------
    def requests(self, req: Request) -> Response:
        return Response.json(200, {"value": [e.as_dict() for e in filter_entries(self.arm.entries(), req.query)]})

    def clear_requests(self, req: Request) -> Response:
        self.arm.clear_log()
        return Response.empty(204)

    def counters(self, req: Request) -> Response:
        return Response.json(200, counters(filter_entries(self.arm.entries(), req.query)))

    def actions(self, req: Request) -> Response:
        snapshot = {name: sorted(pairs) for name, pairs in dict(self.arm.actions).items()}
        return Response.json(200, {name: [{"action": a, "scope": s} for a, s in pairs] for name, pairs in snapshot.items()})

    def world(self, req: Request) -> Response:
        return Response.json(200, self.cloud.world.to_dict())

    # -- switches ------------------------------------------------------------------------------
    def get_settings(self, req: Request) -> Response:
        return Response.json(200, dict(self.cloud.world.settings))

    def set_settings(self, req: Request) -> Response:
        """Merge switches into world.settings; a null value restores devcloud's default."""
        body = _body(req)
        for name, value in body.items():
            kind = SWITCHES.get(name)
            if kind is None:
                raise BadRequest(f"unknown switch {name!r}; known: {sorted(SWITCHES)}")
            if value is not None and (isinstance(value, bool) != (kind is bool) or not isinstance(value, kind)
                                      or (kind is int and value < 1)):
                raise BadRequest(f"switch {name!r} needs a {kind.__name__}{' >= 1' if kind is int else ''}, got {value!r}")
        settings = self.cloud.world.settings
        for name, value in body.items():
            if value is None:
                settings.pop(name, None)
            else:
                settings[name] = value
        return Response.json(200, dict(settings))

    # -- the hub network: subnets, what its VNets resolve ----------------------------------------
    def subnets(self, req: Request) -> Response:
        """Each hub subnet with `used`/`total` endpoint addresses."""
        with self.arm.lock:
            return Response.json(200, {"value": self.cloud.providers["network"].subnet_usage()})

    def add_subnet(self, req: Request) -> Response:
        """Add a hub subnet `{id, prefix}` (its VNet gets the world's zones linked, as the hub's infra does)."""
        from devcloud.world import Subnet

        body = _body(req)
        sid, prefix = body.get("id"), body.get("prefix")
        if not isinstance(sid, str) or "/subnets/" not in sid.lower() or not isinstance(prefix, str):
            raise BadRequest("id (a subnet id) and prefix are required")
        try:
            ipaddress.ip_network(prefix)
        except ValueError as exc:
            raise BadRequest(f"prefix is not a network: {exc}") from exc
        with self.arm.lock:
            if any(s.id.lower() == sid.lower() for s in self.cloud.world.subnets):
                raise BadRequest(f"subnet {sid} exists")
            self.cloud.world.subnets.append(Subnet(sid, prefix))
            dns = self.cloud.providers["privatedns"]
            for zone in dns.all_zones():
                if any(zone.id.lower() == z.lower() for z in self.cloud.world.dns_zones):
                    dns.link_world_zone(zone)
        return Response.json(201, {"id": sid, "prefix": prefix})

    def resolve(self, req: Request) -> Response:
        from devcloud.resolver import resolve

        name = req.query.get("name")
        if not name:
            raise BadRequest("name is required")
        return Response.json(200, resolve(self.cloud, name, req.query.get("vnet") or None).as_dict())

    # -- Event Grid ----------------------------------------------------------------------------
    def list_event_subscriptions(self, req: Request) -> Response:
        subs = self.eventgrid.list_subscriptions(req.query.get("subscriptionId") or None)
        return Response.json(200, {"value": [s.as_dict() for s in subs]})

    def add_event_subscription(self, req: Request) -> Response:
        body = _body(req)
        missing = [k for k in ("subscriptionId", "name", "endpoint") if not isinstance(body.get(k), str)]
        if missing:
            raise BadRequest(f"missing string fields {missing}")
        types, filters = body.get("includedEventTypes"), body.get("advancedFilters")
        if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
            raise BadRequest("includedEventTypes must be a list of strings")
        if filters is not None and not (isinstance(filters, list) and all(isinstance(f, dict) for f in filters)):
            raise BadRequest("advancedFilters must be a list of objects")
        try:
            sub = self.eventgrid.add_subscription(
                body["subscriptionId"], body["name"], body["endpoint"], included_event_types=types,
                advanced_filters=filters,
                max_delivery_attempts=int(_number(body.get("maxDeliveryAttempts", 30), "maxDeliveryAttempts")),
                event_ttl_minutes=int(_number(body.get("eventTimeToLiveInMinutes", 1440), "eventTimeToLiveInMinutes")))
        except EventGridError as exc:
            return Response.json(400, error_body(type(exc).__name__, str(exc)))
        return Response.json(201, sub.as_dict())

    def delete_event_subscription(self, req: Request) -> Response:
        name = req.params["name"]
        wanted = req.query.get("subscriptionId")
        subs = [s for s in self.eventgrid.list_subscriptions(wanted) if s.name.lower() == name.lower()]
        if not subs:
            return Response.json(404, error_body("EventSubscriptionNotFound", f"no event subscription named {name!r}"))
        for s in subs:
            self.eventgrid.remove_subscription(s.subscription_id, s.name)
        return Response.empty(204)

    def set_eventgrid_behaviour(self, req: Request) -> Response:
        body = _body(req)
        eg = self.eventgrid
        if "duplicate" in body:
            p = _number(body["duplicate"], "duplicate")
            if p > 1:
                raise BadRequest("duplicate is a probability between 0 and 1")
            eg.duplicate_probability = p
        if "duplicateNext" in body:
            eg.duplicate_next(int(_number(body["duplicateNext"], "duplicateNext")))
        if "reorder" in body:
            if not isinstance(body["reorder"], bool):
                raise BadRequest("reorder must be true or false")
            eg.reorder = body["reorder"]
        if "timeScale" in body:
            scale = _number(body["timeScale"], "timeScale")
            if scale <= 0:
                raise BadRequest("timeScale must be > 0")
            eg.time_scale = scale
        if "jitter" in body:
            jitter = _number(body["jitter"], "jitter")
            if jitter >= 1:
                raise BadRequest("jitter is a fraction of each retry delay, >= 0 and < 1")
            eg.jitter = jitter
        return Response.json(200, {"duplicate": eg.duplicate_probability, "reorder": eg.reorder,
                                   "timeScale": eg.time_scale, "jitter": eg.jitter})

    # -- identity ------------------------------------------------------------------------------
    def mint_token(self, req: Request) -> Response:
        """`{client_id, tenant_id, audience, lifetime_s?, forged?}`: a token no client could get from the
        token endpoint (already expired with a negative lifetime, or signed by a key never published),
        for tests of whoever validates tokens."""
        body = _body(req)
        for name in ("client_id", "tenant_id", "audience"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise BadRequest(f"{name} (a string) is required")
        lifetime = body.get("lifetime_s")
        if lifetime is not None and (isinstance(lifetime, bool) or not isinstance(lifetime, int)):
            raise BadRequest("lifetime_s must be an integer (negative: expired)")
        try:
            token = self.cloud.identity.mint(client_id=body["client_id"], tenant_id=body["tenant_id"],
                                             audience=body["audience"], lifetime_s=lifetime,
                                             forged=bool(body.get("forged")))
        except KeyError as exc:
            raise BadRequest(str(exc)) from exc
        return Response.json(200, {"access_token": token, "token_type": "Bearer"})

    def deliveries(self, req: Request) -> Response:
        return Response.json(200, {"value": [d.as_dict() for d in list(self.eventgrid.deliveries)]})

    def dead_letters(self, req: Request) -> Response:
        return Response.json(200, {"value": list(self.eventgrid.dead_letters)})


def _guarded(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    def run(req: Request) -> Response:
        host = req.client[0] if req.client else "127.0.0.1"
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            return Response.json(403, error_body("Forbidden", "the devcloud control API answers loopback clients only"))
        try:
            return handler(req)
        except BadRequest as exc:
            return Response.json(400, error_body("InvalidRequestContent", str(exc)))

    return run


def register(cloud: Any) -> ControlApi:
    api = ControlApi(cloud)
    for method, template, handler in api.routes():
        cloud.router.add(method, PREFIX + template, _guarded(handler), control=True)
    return api
