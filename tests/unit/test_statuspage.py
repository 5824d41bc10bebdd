"""The status page's HTML: every value escaped, nothing loaded from elsewhere, a self-refresh."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.doctor.report import Report, failed, passed
from shared.model import LinkState, Phase
from shared.statuspage import render

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def row(name: str, phase: Phase, **kw) -> LinkState:
    cid = f"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/{name}"
    return LinkState(cid, "s1", "rg", name, "t1", phase=phase, created_at=NOW, **kw)


def test_values_are_escaped_and_counted():
    rows = [row("a", Phase.READY, private_ip="10.0.0.4"), row("b", Phase.FAILED, last_error="<script>alert(1)</script>")]
    report = Report([passed("hub", "t", "token", "ok"), failed("hub", "z", "zone", "not <linked>", "link it")])
    html = render(rows, capacity=[{"subnetId": "/s", "prefix": "10.0.0.0/24", "total": 251, "used": 1}],
                  report=report, now=NOW)  # fmt: skip
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<meta http-equiv="refresh" content="60">' in html
    assert " src=" not in html and " href=" not in html and "<link" not in html
    assert '<div class="count Ready" data-phase="Ready"><b>1</b>Ready</div>' in html
    assert '<div class="count Failed" data-phase="Failed"><b>1</b>Failed</div>' in html
    assert "1 of 2 checks hold, 1 failed" in html and "not &lt;linked&gt;" in html and "fix: link it" in html


def test_a_doctor_that_cannot_run_still_shows_the_links():
    html = render([row("a", Phase.PENDING)], capacity=[], report=None, problem="token request failed", now=NOW)
    assert "doctor could not run: token request failed" in html and 'data-cluster-id="/subscriptions/s1/' in html
