"""The one place that maps HTTP failures to TransientError / TerminalError."""

from __future__ import annotations

import pytest

from shared.errors import TerminalError, TransientError, classify, parse_retry_after


@pytest.mark.parametrize(
    "status,code,kind",
    [
        (429, "SubscriptionRequestsThrottled", TransientError),
        (500, None, TransientError),
        (503, None, TransientError),
        (409, "AnotherOperationInProgress", TransientError),
        (412, "PreconditionFailed", TransientError),
        (400, "InvalidRequestContent", TerminalError),
        (403, "AuthorizationFailed", TerminalError),
        (401, "InvalidAuthenticationTokenTenant", TerminalError),
        (404, "ResourceNotFound", TerminalError),
    ],
)
def test_classify(status, code, kind):
    err = classify(status, code, "msg", retry_after=3.0)
    assert isinstance(err, kind)
    assert err.code == code and err.status == status
    if kind is TransientError:
        assert err.retry_after == 3.0


def test_retry_after_seconds_and_dates():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
