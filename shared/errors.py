"""Every error the product raises, and the one place that maps HTTP/ARM failures onto them.

    HubLinkError
    ├── ConfigurationError      settings missing or malformed (lists every problem)
    ├── InvalidInput            a request or event that names no valid cluster; nothing is written
    ├── TransientError          try again later: 429, 5xx, timeouts, dropped connections,
    │                           409 AnotherOperationInProgress (carries `retry_after` when known)
    └── TerminalError           retrying cannot help until something changes: 400, 401, 403 (names
        │                       the missing action), a region without hub, a DNS conflict
        ├── DnsConflict         the A record exists and belongs to someone else
        └── Unlinkable          a cluster the product cannot link, for a named reason (UNLINKABLE)

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

from shared.reasons import REFUSALS, UNLINKABLE


class HubLinkError(Exception):
    """Base of every error raised by this package: a message, a stable `code` and the HTTP `status`
    the API answers with it (see `http_status`)."""

    default_code = "InternalError"
    default_status = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.status = status if status is not None else self.default_status


class ConfigurationError(HubLinkError):
    default_code = "InvalidConfiguration"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(self.problems))


class InvalidInput(HubLinkError):
    """Bad input from a caller: rejected before anything is read or written."""

    default_code = "InvalidInput"
    default_status = 400


class SubscriptionNotConfigured(InvalidInput):
    """A cluster of a subscription that is not in HUBLINK_SPOKES: nothing is read or written."""

    default_code = "SubscriptionNotConfigured"
    default_status = 404

    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"subscription {subscription_id} is not a configured spoke (HUBLINK_SPOKES)")
        self.subscription_id = subscription_id


class Refused(HubLinkError):
    """A request refused with its own status and code (unknown link, not Pending, busy): nothing was written."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code, status=status)


class TransientError(HubLinkError):
    """Try again later; `retry_after` is Azure's Retry-After when it gave one. `status` is the
    failed call's own HTTP status (None when there was no answer); the API answers 503."""

    default_code = None  # type: ignore[assignment]

    def __init__(
        self, message: str, *, retry_after: float | None = None, code: str | None = None, status: int | None = None
    ) -> None:
        Exception.__init__(self, message)
        self.retry_after = retry_after
        self.code = code
        self.status = status


class TerminalError(HubLinkError):
    """Retrying cannot help until something changes. `status` is the failed call's HTTP status."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        Exception.__init__(self, message)
        self.code = code
        self.status = status


class DnsConflict(TerminalError):
    """The record name is taken by a record this product did not create."""


class Unlinkable(TerminalError):
    """A cluster the product cannot link, for one of the named reasons in UNLINKABLE.

    The message says what is wrong and what a person can do about it (the Failed notice shows it);
    `remedy` is that second part alone.
    """

    def __init__(self, code: str, **facts: str) -> None:
        reason, remedy = UNLINKABLE[code]
        self.remedy = remedy.format(**facts)
        super().__init__(f"{reason.format(**facts)}. What to do: {self.remedy}", code=code, status=400)


def refusal(exc: TerminalError, **facts: str) -> TerminalError:
    """The named reason an Azure refusal means (REFUSALS), or the refusal itself."""
    code = REFUSALS.get(exc.code or "")
    return Unlinkable(code, **facts) if code else exc


class ConcurrentUpdate(TransientError):
    """The row changed since it was read (another invocation got there first)."""


TRANSIENT_CODES = {
    "AnotherOperationInProgress",
    "RetryableError",
    "Canceled",
    "OperationNotAllowed_Retry",
    "InternalServerError",
    "ServiceUnavailable",
    "GatewayTimeout",
    "TooManyRequests",
    "SubscriptionRequestsThrottled",
    "ResourceGroupRequestsThrottled",
}


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


def classify(
    status: int, code: str | None, message: str, *, retry_after: float | None = None, what: str = "ARM call"
) -> HubLinkError:
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
    raise classify(
        response.status_code, code, message, retry_after=parse_retry_after(response.headers.get("Retry-After")), what=what
    )


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
        raise TerminalError(f"{what}: authentication failed: {message}", code="AuthenticationFailed", status=status) from exc
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


@contextlib.contextmanager
def not_found_means_read_again(what: str) -> Iterator[None]:
    """A 404 about something just read is a race or a wrong answer, not a verdict of deletion.

    The one rule for it (the endpoint's NIC, its running operation, the endpoint or record being
    deleted, the cluster's connections, a connection being decided): turn the 404 into a
    TransientError, so the next reconcile reads again and decides. Wrap it around the mapped call
    (outside `map_azure_errors`), where a 404 is a TerminalError with status 404.
    """
    try:
        yield
    except TerminalError as exc:
        if exc.status != 404:
            raise
        raise TransientError(
            f"{what}: answered 404 right after it was read; checking again", code="NotFoundMidFlight", status=404
        ) from exc


# -- the HTTP API's answer for each error: the one table (most specific class first) ---------------
# (error class, HTTP status, code when the error carries none); Refused carries both itself.
HTTP_STATUS: tuple[tuple[type[HubLinkError], int, str], ...] = (
    (SubscriptionNotConfigured, 404, "SubscriptionNotConfigured"),
    (InvalidInput, 400, "InvalidInput"),
    (ConfigurationError, 500, "InvalidConfiguration"),
    (TransientError, 503, "AzureUnavailable"),
    (HubLinkError, 502, "AzureCallFailed"),
)


def http_status(exc: HubLinkError) -> tuple[int, str]:
    """(status, code) the HTTP API answers for `exc`."""
    if isinstance(exc, Refused):
        return exc.status, exc.code
    for cls, status, code in HTTP_STATUS:
        if isinstance(exc, cls):
            return status, exc.code or code
    return 500, "InternalError"
