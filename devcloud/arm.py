"""ARM's front door: authentication, tenant check, throttling, RBAC, faults, request log, LROs.

Resource providers register handlers with `Arm.route(...)` and never see a request that ARM
itself would have refused. Every authorized call is logged with the action it needed, which is
what proves the product's custom roles are least privilege.
"""

from __future__ import annotations

import fnmatch
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt

from devcloud import apiversions
from devcloud.faulthooks import PROCESSING_ACTIONS, FaultHooks
from devcloud.httpserver import DropConnection, Request, Response, Route, Router, error_body
from devcloud.identity import Identity, Principal
from devcloud.scheduler import Scheduler
from devcloud.world import World, principal_object_id

ArmHandler = Callable[["ArmContext"], Response]


AKS_NAMESPACE = "Microsoft.ContainerService"
AKS_OPERATION_API = "2016-03-30"  # the api-version AKS puts in its operation URLs (recorded)
BEARER_CHALLENGE = 'Bearer authorization_uri="{authority}/", error="invalid_token", error_description="{reason}"'


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json(status, error_body(code, message), headers)


class ArmError(Exception):
    """Raised by handlers to answer with an ARM error body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.response = arm_error(status, code, message, headers)


# -- throttling ----------------------------------------------------------------------------------
class TokenBucket:
    def __init__(self, capacity: float, refill_per_s: float) -> None:
        self.capacity = capacity
        self.refill = refill_per_s
        self.tokens = capacity
        self.stamp = time.monotonic()

    def take(self) -> tuple[bool, int, float]:
        """Returns (allowed, remaining, seconds until one token is back)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True, int(self.tokens), 0.0
        return False, 0, (1 - self.tokens) / self.refill if self.refill > 0 else 60.0


DEFAULT_LIMITS = {"read": (250, 25.0), "write": (200, 10.0), "delete": (200, 10.0)}


# -- faults --------------------------------------------------------------------------------------
@dataclass
class FaultRule:
    """A fault devcloud injects. `path` is a regex searched in the decoded path (case-insensitive)."""

    id: str
    method: str = "*"
    path: str = ".*"
    action: str = "status"  # status | drop | latency | lro_failed | drop_after | hook (devcloud.faulthooks)
    status: int = 500
    code: str | None = None
    message: str | None = None
    retry_after: int | None = None
    latency_s: float = 0.0
    times: int | None = None  # None = until removed
    probability: float = 1.0
    principal: str | None = None  # restrict to one application / identity name
    hold: bool = False  # drop_after / hook: once processed, hold the answer until released (or hold_s)
    hold_s: float = 30.0
    hits: int = 0

    def matches(self, req: Request, principal_name: str | None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method != "*" and self.method.upper() != req.method:
            return False
        if self.principal and self.principal != principal_name:
            return False
        if not re.search(self.path, req.path, re.IGNORECASE):
            return False
        return self.probability >= 1.0 or random.random() < self.probability

    def response(self) -> Response:
        defaults = {
            429: ("TooManyRequests", "Too many requests. Please retry after the time in Retry-After."),
            500: ("InternalServerError", "An internal server error occurred (injected by devcloud)."),
            503: ("ServiceUnavailable", "The service is temporarily unavailable (injected by devcloud)."),
            409: ("AnotherOperationInProgress", "Another operation is in progress on the resource."),
            404: ("ResourceNotFound", "The resource was not found (injected by devcloud)."),
        }
        code, message = defaults.get(self.status, ("InjectedFault", "Fault injected by devcloud."))
        headers = {}
        if self.retry_after is not None or self.status == 429:
            headers["Retry-After"] = str(self.retry_after if self.retry_after is not None else 1)
        return arm_error(self.status, self.code or code, self.message or message, headers)


# -- request log ---------------------------------------------------------------------------------
@dataclass
class LogEntry:
    seq: int
    time: float
    method: str
    path: str
    template: str
    api_version: str | None
    tenant: str | None
    principal: str | None  # application / identity name
    object_id: str | None
    action: str | None
    kind: str  # read | write | delete | action | poll | identity | other
    status: int
    fault: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


# -- long-running operations ---------------------------------------------------------------------
@dataclass
class Operation:
    id: str
    subscription_id: str
    namespace: str  # Microsoft.Network | Microsoft.ContainerService
    location: str
    status: str = "InProgress"
    start_time: str = field(default_factory=utcnow_iso)
    end_time: str | None = None
    error: dict[str, str] | None = None
    tenant_id: str | None = None

    def status_body(self) -> dict[str, Any]:
        """As recorded: Network answers `{"status"}` only; AKS `{"name", "status", "startTime", "endTime"}`."""
        body: dict[str, Any] = {"status": self.status}
        if self.namespace != "Microsoft.Network":
            body = {"name": self.id, "status": self.status, "startTime": self.start_time}
            if self.end_time:
                body["endTime"] = self.end_time
        if self.error:
            body["error"] = self.error
        return body


class Operations:
    """Async operations: the resource changes when the operation ends, whether or not anyone polls."""

    def __init__(self, arm: Arm) -> None:
        self.arm = arm
        self.ops: dict[str, Operation] = {}

    def start(self, ctx: ArmContext, namespace: str, location: str, duration_s: float,
              complete: Callable[[], dict[str, str] | None],
              fail: Callable[[dict[str, str]], None] | None = None) -> Operation:
        """Run `complete` after `duration_s` (it may return an error dict to fail the operation).

        A `lro_failed` fault on the starting request makes the operation end Failed instead and
        calls `fail(error)` so the provider can leave the resource in Azure's failed shape.
        """
        op = Operation(str(uuid.uuid4()), ctx.subscription_id, namespace, location.lower().replace(" ", ""),
                       tenant_id=ctx.tenant_id)
        self.ops[op.id] = op
        injected = ctx.request.context.get("lro_failed")

        def finish() -> None:
            with self.arm.lock:
                if injected:
                    error = injected
                    if fail:
                        fail(injected)
                else:
                    error = complete()
                op.status = "Failed" if error else "Succeeded"
                op.error = error
                op.end_time = utcnow_iso()

        self.arm.scheduler.call_later(duration_s, finish)
        return op

    def headers(self, ctx: ArmContext, op: Operation, *, location: bool = False,
                async_operation: bool = True) -> dict[str, str]:
        """The LRO headers as each provider records them.

        Network: Retry-After, Azure-AsyncOperation, Azure-AsyncNotification and `operationResults`
        with the request's api-version. AKS: no Retry-After (unless `arm.retry_after_s` sets one,
        a devcloud switch for fast tests) and operation URLs with api-version=2016-03-30.
        """
        base = f"{ctx.base_url}/subscriptions/{op.subscription_id}/providers/{op.namespace}/locations/{op.location}"
        network = op.namespace == "Microsoft.Network"
        api = AKS_OPERATION_API if op.namespace == AKS_NAMESPACE else (ctx.api_version or "")
        h: dict[str, str] = {}
        retry = self.arm.retry_after(op.namespace)
        if retry is not None:
            h["Retry-After"] = str(retry)
        if async_operation:
            h["Azure-AsyncOperation"] = f"{base}/operations/{op.id}?api-version={api}"
            if network:
                h["Azure-AsyncNotification"] = "Enabled"
        if location:
            h["Location"] = f"{base}/{'operationResults' if network else 'operationresults'}/{op.id}?api-version={api}"
        return h

    def register(self, arm: Arm) -> None:
        prefix = "/subscriptions/{subscriptionId}/providers/{namespace}/locations/{location}"
        arm.route("GET", prefix + "/operations/{operationId}", self._status, action=None, kind="poll")
        arm.route("GET", prefix + "/operationresults/{operationId}", self._result, action=None, kind="poll")

    def _lookup(self, ctx: ArmContext) -> Operation:
        op = self.ops.get(ctx.params["operationId"])
        if op is None or op.subscription_id.lower() != ctx.subscription_id.lower():
            if ctx.params["namespace"].lower() == AKS_NAMESPACE.lower():
                # AKS answers an operation it does not know in its own shape, without ARM's wrapper
                # (recorded in Azure/azure-powershell#7119 for the operationresults of a delete).
                err = ArmError(404, "NotFound", "The entity was not found.")
                err.response = Response.json(404, {"code": "NotFound", "message": "The entity was not found."})
                raise err
            raise ArmError(404, "OperationNotFound", f"Operation {ctx.params['operationId']} was not found.")
        return op

    def _status(self, ctx: ArmContext) -> Response:
        op = self._lookup(ctx)
        retry = self.arm.retry_after(op.namespace)
        headers = {"Retry-After": str(retry)} if op.status == "InProgress" and retry is not None else {}
        return Response.json(200, op.status_body(), headers)

    def _result(self, ctx: ArmContext) -> Response:
        op = self._lookup(ctx)
        if op.status == "InProgress":
            return Response.empty(202, self.headers(ctx, op, location=True, async_operation=False))
        if op.status == "Failed":
            err = op.error or {"code": "Failed", "message": "The operation failed."}
            return arm_error(400, err.get("code", "Failed"), err.get("message", ""))
        # AKS's 204 names its operationresults URL again in Location (recorded in Azure PowerShell's
        # TestSimpleAzureKubernetes, 2025); Network's has none (TestPrivateEndpointCRUD, 2020).
        if op.namespace != AKS_NAMESPACE:
            return Response.empty(204)
        location = self.headers(ctx, op, location=True, async_operation=False)["Location"]
        return Response.empty(204, {"Location": location})


# -- the request context handlers see ------------------------------------------------------------
@dataclass
class ArmContext:
    arm: Arm
    request: Request
    principal: Principal
    subscription_id: str
    tenant_id: str
    route: Route

    @property
    def params(self) -> dict[str, str]:
        return self.request.params

    @property
    def api_version(self) -> str | None:
        return self.request.query.get("api-version")

    @property
    def base_url(self) -> str:
        return self.arm.base_url()

    def body(self) -> dict[str, Any]:
        try:
            data = self.request.json()
        except ValueError as exc:
            raise ArmError(400, "InvalidRequestContent", f"The request content was invalid and could not be "
                                                         f"deserialized: {exc}") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
        return data

    def authorize(self, action: str, scope: str, *, linked: bool = True) -> None:
        """A linked authorization check (for example subnet join when creating an endpoint)."""
        if not self.arm.allowed(self.principal, action, scope):
            code = "LinkedAuthorizationFailed" if linked else "AuthorizationFailed"
            raise ArmError(403, code, f"The client '{self.principal.object_id}' with object id "
                                      f"'{self.principal.object_id}' has permission to perform action on the "
                                      f"request scope but does not have authorization to perform action "
                                      f"'{action}' over scope '{scope}'.")
        self.arm.record_action(self.principal, action, scope)

    def emit(self, event_type: str, resource_uri: str, operation_name: str) -> None:
        """Hand a resource event to Event Grid (the subscription's system topic)."""
        self.arm.emit_event(self, event_type, resource_uri, operation_name)


EventHook = Callable[[str, dict[str, Any]], None]  # (subscription_id, event) -> None


class Arm:
    def __init__(self, world: World, identity: Identity, scheduler: Scheduler, base_url_getter) -> None:
        self.world = world
        self.identity = identity
        self.scheduler = scheduler
        self.base_url = base_url_getter
        self.lock = threading.RLock()  # one lock for all resource state: simple and plenty fast
        self._log_lock = threading.Lock()
        self.log: list[LogEntry] = []
        self._seq = 0
        self.faults: list[FaultRule] = []
        self.hooks = FaultHooks()  # drop_after / hook rules: fired when processed, held until released
        self.limits = dict(DEFAULT_LIMITS)
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self.latency_s = 0.0
        self.actions: dict[str, set[tuple[str, str]]] = {}  # principal name -> {(action, scope)}
        self.event_hooks: list[EventHook] = []
        self.lro_seconds: dict[str, float] = {}
        # Retry-After per namespace, as recorded: Network 10 s; AKS sends none (absent = no header).
        self.retry_after_s: dict[str, int] = {"Microsoft.Network": 10}
        self.operations = Operations(self)
        self.router: Router | None = None

    # -- configuration used by providers and the control API ---------------------------------
    def lro_duration(self, key: str, default: float) -> float:
        return self.lro_seconds.get(key, default)

    def retry_after(self, namespace: str) -> int | None:
        """None = no Retry-After header (AKS's recorded answer unless a test sets one)."""
        return self.retry_after_s.get(namespace, None if namespace == AKS_NAMESPACE else 10)

    # -- registration ------------------------------------------------------------------------
    def attach(self, router: Router) -> None:
        self.router = router
        router.middleware.append(self._fault_middleware)
        router.fallback = self._unknown_type
        self.operations.register(self)

    def _unknown_type(self, req: Request) -> Response | None:
        """ARM's 404 InvalidResourceType for a type a namespace devcloud serves does not have."""
        if "api-version" not in req.query or not req.path.lower().startswith("/subscriptions/"):
            return None
        namespace, rtype = apiversions.resource_type(req.path)
        table = apiversions.PUBLISHED.get(namespace.lower())
        if table is None or namespace.lower() == "microsoft.resources" or rtype.lower() in table:
            return None
        refusal = apiversions.Refusal(404, "InvalidResourceType",
                                      f"The resource type '{rtype}' could not be found in the namespace "
                                      f"'{namespace}' for api version '{req.query['api-version']}'.")
        return arm_error(refusal.status, refusal.code, refusal.message)

    def route(self, method: str, template: str, handler: ArmHandler, *, action: str | Callable[[ArmContext], str] | None,
              kind: str | None = None, tenant_level: bool = False) -> None:
        """Register an ARM operation. `action` is the RBAC action it needs at the path's scope.

        `tenant_level` routes (/subscriptions, /tenants, /providers) have no subscription: they run
        in the caller's own tenant.
        """
        assert self.router is not None
        kind = kind or {"GET": "read", "HEAD": "read", "DELETE": "delete"}.get(method.upper(), "write")
        self.router.add(method, template, lambda req: self._pipeline(req, handler), arm=True, action=action,
                        kind=kind, tenant_level=tenant_level)

    # -- pipeline ----------------------------------------------------------------------------
    def _fault_middleware(self, req: Request, route: Route, nxt) -> Response:
        if route.meta.get("control"):
            return nxt(req)
        principal_name = None
        auth = req.header("authorization", "")
        if auth and auth.lower().startswith("bearer "):
            try:
                principal_name = jwt.decode(auth[7:], options={"verify_signature": False}).get("name")
            except jwt.InvalidTokenError:
                pass
        rule = None
        with self._log_lock:
            for r in self.faults:
                if r.matches(req, principal_name):
                    r.hits += 1
                    rule = r
                    break
        if self.latency_s:
            time.sleep(self.latency_s)
        if rule is None:
            return nxt(req)
        req.context["fault"] = f"{rule.id}:{rule.action}"
        if rule.action == "latency":
            time.sleep(rule.latency_s)
            return nxt(req)
        if rule.action == "lro_failed":
            req.context["lro_failed"] = {"code": rule.code or "InternalServerError",
                                         "message": rule.message or "The operation failed (injected by devcloud)."}
            return nxt(req)
        if rule.action == "drop":  # its hook fires too (nothing processed: status 0), held if asked
            self._record(req, route, None, None, 0, None)
            self.hooks.fire(rule.id, 0, hold=rule.hold, hold_s=rule.hold_s)
            raise DropConnection()
        if rule.action in PROCESSING_ACTIONS:  # ARM does the work; then the hook, then maybe the cut
            resp = nxt(req)
            self.hooks.fire(rule.id, resp.status, hold=rule.hold, hold_s=rule.hold_s)
            if rule.action == "drop_after":
                raise DropConnection()
            return resp
        resp = rule.response()
        if not route.meta.get("arm"):  # identity endpoints answer in AAD's format
            aad = {"error": "temporarily_unavailable" if rule.status >= 500 else "invalid_client",
                   "error_description": f"AADSTS50000: {rule.message or 'injected by devcloud'}",
                   "error_codes": [50000]}
            resp = Response.json(rule.status, aad, {k: v for k, v in resp.headers.items() if k == "Retry-After"})
            self._record(req, route, None, None, resp.status, "identity")
        else:
            self._record(req, route, None, None, resp.status, None)
        return resp

    def _pipeline(self, req: Request, handler: ArmHandler) -> Response:
        route, _, _ = self.router.match(req.method, req.path)  # type: ignore[union-attr]
        assert route is not None
        resp, principal, action = self._run(req, route, handler)
        resp.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        resp.headers.setdefault("x-ms-correlation-request-id", req.header("x-ms-correlation-request-id") or str(uuid.uuid4()))
        self._record(req, route, principal, action, resp.status, route.meta.get("kind"))
        return resp

    def _run(self, req: Request, route: Route, handler: ArmHandler) -> tuple[Response, Principal | None, str | None]:
        if "api-version" not in req.query:
            return arm_error(400, "MissingApiVersionParameter",
                             "The api-version query parameter (?api-version=) is required for all requests."), None, None
        principal, refused = self._authenticate(req)
        if refused is not None:
            return refused, None, None
        assert principal is not None
        tenant_level = bool(route.meta.get("tenant_level"))
        sub = "" if tenant_level else req.params.get("subscriptionId", "")
        tenant = principal.tenant_id if tenant_level else self.world.tenant_of(sub)
        if tenant is None:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."), principal, None
        if principal.tenant_id != tenant:
            return arm_error(401, "InvalidAuthenticationTokenTenant",
                             f"The access token is from the wrong issuer 'https://sts.windows.net/{principal.tenant_id}/'. "
                             f"It must match the tenant 'https://sts.windows.net/{tenant}/' associated with this "
                             f"subscription. Please use the authority (URL) 'https://login.windows.net/{tenant}' to get "
                             f"the token. Note, if the subscription is transferred to another tenant there is no impact "
                             f"to the services, but information about new tenant could take time to propagate (up to an "
                             f"hour). If you just transferred your subscription and see this error message, please try "
                             f"back later.", {"WWW-Authenticate": self._challenge("The access token is from the wrong "
                                                                                  "issuer.")}), principal, None
        if self.world.settings.get("api_versions", "strict") != "any":
            refusal = apiversions.check(req.path, req.query["api-version"])
            if refusal is not None:
                return arm_error(refusal.status, refusal.code, refusal.message), principal, None
        # POST actions count against the write bucket and carry its header, as ARM records them.
        kind = {"action": "write"}.get(route.meta["kind"], route.meta["kind"])
        headers: dict[str, str] = {}
        if kind == "poll":  # operation polls carry the reads header (recorded) without spending a token
            headers = ratelimit_headers(req.path, "read", self._peek(sub, principal.object_id, "read"))
        elif kind in self.limits:
            allowed, remaining, wait = self._take(sub or tenant, principal.object_id, kind)
            headers = ratelimit_headers(req.path, kind, remaining)
            if not allowed:
                return arm_error(429, "SubscriptionRequestsThrottled",
                                 f"Number of '{kind}' requests for subscription '{sub}' actor '{principal.object_id}' "
                                 f"exceeded. Please try again after '{max(1, round(wait))}' seconds.",
                                 {"Retry-After": str(max(1, int(wait + 0.999))), **headers}), principal, None
        if tenant_level:  # tenant-level reads (/tenants, /subscriptions) count in ARM's tenant bucket (recorded)
            headers = {k.replace("-subscription-", "-tenant-"): v for k, v in headers.items() if "-global-" not in k}
        ctx = ArmContext(self, req, principal, sub, tenant, route)
        action = route.meta["action"]
        if callable(action):
            action = action(ctx)
        if action:
            scope = _scope_of(req.path)
            if not self.allowed(principal, action, scope):
                return arm_error(403, "AuthorizationFailed",
                                 f"The client '{principal.object_id}' with object id '{principal.object_id}' does not "
                                 f"have authorization to perform action '{action}' over scope '{scope}' or the scope "
                                 f"is invalid. If access was recently granted, please refresh your credentials.",
                                 headers), principal, action
            self.record_action(principal, action, scope)
        try:
            resp = handler(ctx)
        except ArmError as err:
            resp = err.response
        if _gateway_not_found(resp):  # ARM's gateway answers a missing resource without rate-limit headers
            headers = {}
        if kind in ("read", "poll") and not self.world.settings.get("read_ratelimit_header", True):
            headers = {}  # a switch: recorded on every read (Azure PowerShell); azure-cli recordings filter it out
        for k, v in headers.items():
            resp.headers.setdefault(k, v)
        return resp, principal, action

    def _challenge(self, reason: str) -> str:
        return BEARER_CHALLENGE.format(authority=self.base_url(), reason=reason)

    def _authenticate(self, req: Request) -> tuple[Principal | None, Response | None]:
        """The caller, or ARM's 401 with the `WWW-Authenticate` challenge clients read to find the authority."""
        auth = req.header("authorization", "")
        if not auth.lower().startswith("bearer "):
            reason = "The authentication failed because of missing 'Authorization' header."
            return None, arm_error(401, "AuthenticationFailed", reason, {"WWW-Authenticate": self._challenge(reason)})
        try:
            return self.identity.verify_arm_token(auth[7:].strip()), None
        except jwt.ExpiredSignatureError:
            reason = "The access token expiry UTC time is earlier than current UTC time."
            return None, arm_error(401, "ExpiredAuthenticationToken", reason,
                                   {"WWW-Authenticate": self._challenge(reason)})
        except jwt.InvalidTokenError as exc:
            return None, arm_error(401, "InvalidAuthenticationToken", f"The access token is invalid: {exc}",
                                   {"WWW-Authenticate": self._challenge("The access token is invalid.")})

    def _take(self, sub: str, oid: str, kind: str) -> tuple[bool, int, float]:
        key = (sub.lower(), oid, kind)
        with self._log_lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                cap, rate = self.limits[kind]
                bucket = self._buckets[key] = TokenBucket(cap, rate)
            return bucket.take()

    def _peek(self, sub: str, oid: str, kind: str) -> int:
        with self._log_lock:
            bucket = self._buckets.get((sub.lower(), oid, kind))
            return int(bucket.tokens) if bucket else int(self.limits[kind][0])

    def reset_throttling(self) -> None:
        with self._log_lock:
            self._buckets.clear()

    # -- RBAC --------------------------------------------------------------------------------
    def allowed(self, principal: Principal, action: str, scope: str) -> bool:
        scope_l = scope.lower().rstrip("/")
        for assignment in self.world.assignments_for(principal.name):
            a_scope = assignment.scope.lower().rstrip("/")
            if not (scope_l == a_scope or scope_l.startswith(a_scope + "/")):
                continue
            # The assignment applies to the principal's identity in the scope's tenant only.
            sub = a_scope.split("/")[2] if a_scope.startswith("/subscriptions/") else ""
            if self.world.tenant_of(sub) != principal.tenant_id:
                continue
            role = self.world.roles.get(assignment.role)
            if role and _role_allows(role.actions, role.not_actions, action):
                return True
        return False

    def record_action(self, principal: Principal, action: str, scope: str) -> None:
        with self._log_lock:
            self.actions.setdefault(principal.name, set()).add((action, scope))

    def _record(self, req: Request, route: Route, principal: Principal | None, action: str | None, status: int,
                kind: str | None, **extra: Any) -> None:
        with self._log_lock:
            self._seq += 1
            self.log.append(LogEntry(
                seq=self._seq, time=time.time(), method=req.method, path=req.path, template=route.template,
                api_version=req.query.get("api-version"), tenant=principal.tenant_id if principal else None,
                principal=principal.name if principal else None, object_id=principal.object_id if principal else None,
                action=action, kind=extra.get("kind") or kind or "other", status=status, fault=req.context.get("fault")))

    def clear_log(self) -> None:
        with self._log_lock:
            self.log.clear()
            self.actions.clear()

    # -- events ------------------------------------------------------------------------------
    def emit_event(self, ctx: ArmContext, event_type: str, resource_uri: str, operation_name: str) -> None:
        p = ctx.principal
        event = {
            "id": str(uuid.uuid4()),
            "topic": f"/subscriptions/{ctx.subscription_id}",
            "subject": resource_uri,
            "eventType": event_type,
            "eventTime": utcnow_iso(),
            "data": {
                "authorization": {"scope": resource_uri, "action": operation_name, "evidence": {"role": "devcloud"}},
                "claims": {k: v for k, v in p.claims.items() if k in ("aud", "iss", "appid", "tid", "oid", "name")},
                "correlationId": ctx.request.header("x-ms-correlation-request-id") or str(uuid.uuid4()),
                "httpRequest": {"clientRequestId": ctx.request.header("x-ms-client-request-id") or str(uuid.uuid4()),
                                "clientIpAddress": "127.0.0.1", "method": ctx.request.method,
                                "url": f"{ctx.base_url}{ctx.request.raw_path}?api-version={ctx.api_version}"},
                "resourceProvider": operation_name.split("/")[0],
                "resourceUri": resource_uri,
                "operationName": operation_name,
                "status": "Succeeded",
                "subscriptionId": ctx.subscription_id,
                "tenantId": ctx.tenant_id,
            },
            "dataVersion": "2",
            "metadataVersion": "1",
        }
        for hook in list(self.event_hooks):
            hook(ctx.subscription_id, event)

    # -- queries used by tests, benches and the control API ----------------------------------
    def entries(self, **match: Any) -> list[LogEntry]:
        with self._log_lock:
            return [e for e in self.log if all(getattr(e, k) == v for k, v in match.items())]


GATEWAY_404 = {"ResourceNotFound", "ResourceGroupNotFound", "ParentResourceNotFound"}


def _gateway_not_found(resp: Response) -> bool:
    """A 404 ARM itself answers (x-ms-failure-cause: gateway, recorded without rate-limit headers).

    A provider's own 404 (AKS's `{"code": "NotFound"}`) comes through with them, as recorded.
    """
    if resp.status != 404 or not resp.body:
        return False
    try:
        return json.loads(resp.body).get("error", {}).get("code") in GATEWAY_404
    except (ValueError, AttributeError):
        return False


def ratelimit_headers(path: str, kind: str, remaining: int) -> dict[str, str]:
    """What is left in the caller's bucket for this kind of request, as ARM says it on every answer.

    ARM sends `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` (recorded) and, since
    its regional throttling, the `-global-` variants with the same count (AKS-PRIVATE-MODES.md,
    section 6). Private DNS counts every request in one bucket and says so in its own header only
    (recorded).
    """
    if apiversions.resource_type(path)[1].lower().startswith("privatednszones"):
        return {"x-ms-ratelimit-remaining-subscription-resource-requests": str(remaining)}
    return {
        f"x-ms-ratelimit-remaining-subscription-{kind}s": str(remaining),
        f"x-ms-ratelimit-remaining-subscription-global-{kind}s": str(remaining),
    }


def _role_allows(actions: list[str], not_actions: list[str], action: str) -> bool:
    a = action.lower()
    ok = any(fnmatch.fnmatchcase(a, pat.lower()) for pat in actions)
    return ok and not any(fnmatch.fnmatchcase(a, pat.lower()) for pat in not_actions)


def _scope_of(path: str) -> str:
    """The RBAC scope of a request: its path (ARM authorizes at the resource the path names)."""
    return path.rstrip("/")


def service_principal_id(client_id: str, tenant_id: str) -> str:
    return principal_object_id(client_id, tenant_id)
