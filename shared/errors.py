"""Every error the product raises, and the one place that maps HTTP/ARM failures onto them.

    HubLinkError
    ├── ConfigurationError      settings missing or malformed (lists every problem)
    ├── InvalidInput            a request or event that names no valid cluster; nothing is written
    ├── TransientError          try again later: 429, 5xx, timeouts, dropped connections,
    │                           409 AnotherOperationInProgress (carries `retry_after` when known)
    └── TerminalError           retrying cannot help until something changes: 400, 401, 403 (names
        │                       the missing action), a region without hub, a DNS conflict
        └── DnsConflict         the A record exists and belongs to someone else

Callers catch `TransientError` / `TerminalError`; nothing else leaks out of `shared`, because the
ARM, SDK and Table clients all pass through `map_azure_errors` or `raise_for_response` here.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from collections.abc import Iterator
from typing import Any


class HubLinkError(Exception):
    """Base of every error raised by this package."""


class ConfigurationError(HubLinkError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(self.problems))


class InvalidInput(HubLinkError):
    """Bad input from a caller: rejected before anything is read or written."""


class TransientError(HubLinkError):
    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code
        self.status = status


class TerminalError(HubLinkError):
    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class DnsConflict(TerminalError):
    """The record name is taken by a record this product did not create."""


TRANSIENT_CODES = {"AnotherOperationInProgress", "RetryableError", "Canceled", "OperationNotAllowed_Retry",
                   "InternalServerError", "ServiceUnavailable", "GatewayTimeout", "TooManyRequests",
                   "SubscriptionRequestsThrottled", "ResourceGroupRequestsThrottled"}


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _error_parts(body: Any) -> tuple[str | None, str]:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return err.get("code"), str(err.get("message") or "")
    return None, str(body or "")[:500]


def classify(status: int, code: str | None, message: str, *, retry_after: float | None = None,
             what: str = "ARM call") -> HubLinkError:
    """Turn one failed HTTP answer into TransientError or TerminalError."""
    text = f"{what} failed: HTTP {status}{f' {code}' if code else ''}: {message}".rstrip(": ")
    if status in (408, 412, 429) or status >= 500 or (code in TRANSIENT_CODES):
        # 412: a conditional write lost a race; the next read sees the new state and decides.
        return TransientError(text, retry_after=retry_after, code=code, status=status)
    if status == 409 and code == "Conflict" and "progress" in message.lower():
        return TransientError(text, retry_after=retry_after, code=code, status=status)
    return TerminalError(text, code=code, status=status)


def raise_for_response(response: Any, *, what: str) -> None:
    """For a `requests.Response`: return when 2xx, else raise the mapped error."""
    if 200 <= response.status_code < 300:
        return
    try:
        body = response.json()
    except ValueError:
        body = response.text
    code, message = _error_parts(body)
    raise classify(response.status_code, code, message,
                   retry_after=parse_retry_after(response.headers.get("Retry-After")), what=what)


@contextlib.contextmanager
def map_azure_errors(what: str) -> Iterator[None]:
    """Map azure-core / azure-identity / requests exceptions raised inside the block."""
    import requests
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except HubLinkError:
        raise
    except ClientAuthenticationError as exc:
        # Token endpoint failures: a 5xx/timeout there is transient, a rejected client is not.
        status, unreachable = _token_failure(exc)
        message = str(exc).splitlines()[0] if str(exc) else "authentication failed"
        if unreachable or (status is not None and (status >= 500 or status == 429)):
            raise TransientError(f"{what}: token request failed: {message}", status=status) from exc
        raise TerminalError(f"{what}: authentication failed: {message}", code="AuthenticationFailed",
                            status=status) from exc
    except HttpResponseError as exc:
        status = exc.status_code or 0
        code = getattr(getattr(exc, "error", None), "code", None)
        message = getattr(getattr(exc, "error", None), "message", None) or exc.message or str(exc)
        retry_after = None
        if exc.response is not None:
            retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
        if status < 400:
            # An LRO that ended Failed: the poll itself answered 200. Provisioning failures are
            # retried (the failed resource is replaced); a persistent one is reported by attempts.
            status = 500
        raise classify(status, code, message.splitlines()[0], retry_after=retry_after, what=what) from exc
    except (ServiceRequestError, ServiceResponseError, requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"{what}: connection failed: {type(exc).__name__}: {exc}") from exc


_MSAL_HTTP_ERROR = re.compile(r"HTTP Error: (\d{3})")


def _token_failure(exc: BaseException) -> tuple[int | None, bool]:
    """(HTTP status of the token endpoint's answer, whether it was never reached) for a failed token request.

    azure-identity raises ClientAuthenticationError for every failure and keeps the real one in the
    exception chain: azure-core's ServiceRequestError/ServiceResponseError when the connection failed,
    MSAL's "HTTP Error: 500" when the endpoint answered an error without a JSON body it understands.
    """
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    status = getattr(getattr(exc, "response", None), "status_code", None)
    seen: BaseException | None = exc
    for _ in range(10):  # the chain is short; bounded in case of a cycle
        if seen is None:
            break
        if isinstance(seen, ServiceRequestError | ServiceResponseError | ConnectionError | TimeoutError):
            return status, True
        match = _MSAL_HTTP_ERROR.search(str(seen))
        if status is None and match:
            status = int(match.group(1))
        seen = seen.__cause__ or seen.__context__
    return status, False
