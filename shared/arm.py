"""Direct ARM calls over one `requests.Session`, for what the SDKs do not cover well, and the
azure-core policy that paces the SDKs' calls the same way (`PacingPolicy`, shared.pacing).

AKS private endpoint connections (list + approve) must be driven by direct ARM calls (the CLI's
generic approve refuses managedClusters), and private DNS records need If-Match/If-None-Match,
so both go through here. Retries are urllib3's `Retry`: 429 and 5xx are retried honouring
`Retry-After`, a bounded number of times, and a `Retry-After` longer than we may wait inside one
invocation is handed back to the caller as `TransientError(retry_after=...)` instead of sleeping.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shared import telemetry
from shared.credentials import ARM_SCOPE
from shared.errors import TransientError, map_azure_errors, raise_for_response
from shared.pacing import PACER, Pacer, request_kind

if TYPE_CHECKING:
    from shared.credentials import Credentials
    from shared.sdk import AzureAccess

log = logging.getLogger("hublink.arm")

RETRY_STATUSES = (429, 500, 502, 503, 504)
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 30


class RetryAfterTooLong(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"Retry-After {seconds:.0f}s is longer than this call may wait")
        self.seconds = seconds


class ArmRetry(Retry):
    """urllib3 Retry that refuses to sleep longer than `max_wait` for one Retry-After."""

    def __init__(self, *args: Any, max_wait: float = 3.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_wait = max_wait

    def new(self, **kw: Any) -> ArmRetry:
        retry = super().new(**kw)
        retry.max_wait = self.max_wait
        return retry

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None, *args: Any, **kw: Any):
        """Every answer retried counts as an ARM call (a 429 as throttled), before urllib3 tries again."""
        if response is not None:
            telemetry.current().arm_call(method or "", response.status)
        return super().increment(method, url, response, *args, **kw)

    def sleep_for_retry(self, response: Any) -> bool:
        seconds = self.get_retry_after(response)
        if seconds is not None and seconds > self.max_wait:
            raise RetryAfterTooLong(seconds)
        return super().sleep_for_retry(response)


def build_session(verify: str | bool, *, total: int = 3, max_wait: float = 3.0) -> requests.Session:
    retry = ArmRetry(
        total=total,
        connect=total,
        read=total,
        status=total,
        backoff_factor=0.25,
        backoff_max=4,
        backoff_jitter=0.25,
        status_forcelist=RETRY_STATUSES,
        allowed_methods={"GET", "PUT", "DELETE"},
        respect_retry_after_header=True,
        raise_on_status=False,
        max_wait=max_wait,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=8, pool_maxsize=32)
    session.mount("https://", adapter)
    # Passed again on every request: requests lets REQUESTS_CA_BUNDLE override Session.verify.
    session.verify = verify
    return session


def pacing_policy(pacer: Pacer = PACER) -> Any:
    """An azure-core policy for the SDK clients (add it per retry, so every attempt is paced): the
    pacer is asked before each request and told ARM's remaining count from each answer."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class PacingPolicy(SansIOHTTPPolicy):
        def on_request(self, request: Any) -> None:
            pacer.acquire(request.http_request.method, request.http_request.url)

        def on_response(self, request: Any, response: Any) -> None:
            pacer.observe(request.http_request.method, request.http_request.url, response.http_response.headers)

    return PacingPolicy()


class ArmClient:
    """GET/PUT/DELETE on ARM paths with a token for the path's tenant."""

    def __init__(self, access: AzureAccess, credentials: Credentials, *, session: requests.Session | None = None) -> None:
        self.base = access.arm_endpoint
        self.credentials = credentials
        self.session = session or build_session(access.verify)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _headers(self, tenant_id: str, extra: dict[str, str] | None) -> dict[str, str]:
        with map_azure_errors("token request"):
            token = self.credentials.for_tenant(tenant_id).get_token(ARM_SCOPE).token
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        headers.update(extra or {})
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        tenant_id: str,
        api_version: str,
        what: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        ok_missing: bool = False,
    ) -> requests.Response | None:
        """Send one call; 2xx -> response, 404 with ok_missing -> None, anything else raises."""
        absolute = path.startswith("https://")  # a nextLink: already carries its api-version
        if absolute and not path.startswith(self.base + "/"):
            raise TransientError(f"{what}: refusing to send a token to {path.split('?')[0]!r} (not the ARM endpoint)")
        url = path if absolute else f"{self.base}{path}"
        with self._lock:
            self.calls[method] += 1
        PACER.acquire(method, url)
        try:
            with map_azure_errors(what):
                resp = self.session.request(
                    method,
                    url,
                    params=None if absolute else {"api-version": api_version},
                    json=body,
                    headers=self._headers(tenant_id, headers),
                    verify=self.session.verify,
                    timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                )
        except RetryAfterTooLong as exc:
            PACER.observe(method, url, {"x-ms-ratelimit-remaining-subscription-" + request_kind(method) + "s": "0"})
            raise TransientError(f"{what}: throttled, {exc}", retry_after=exc.seconds, status=429) from exc
        PACER.observe(method, url, resp.headers)
        telemetry.current().arm_call(method, resp.status_code)
        if ok_missing and resp.status_code == 404:
            return None
        raise_for_response(resp, what=what)
        return resp

    def get_json(self, path: str, **kw: Any) -> dict[str, Any] | None:
        resp = self.request("GET", path, **kw)
        return resp.json() if resp is not None else None

    def put_json(self, path: str, body: Any, **kw: Any) -> requests.Response:
        resp = self.request("PUT", path, body=body, **kw)
        assert resp is not None
        return resp

    def delete(self, path: str, **kw: Any) -> None:
        """Delete that tolerates absence (404 is success: the goal state holds)."""
        self.request("DELETE", path, ok_missing=True, **kw)
