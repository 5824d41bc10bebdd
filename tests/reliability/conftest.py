"""Fixtures for the reliability tests: fast operations, a webhook sink, a product wired to both, and
the figures printed at the end of the run (see reliability/figures.py)."""

from __future__ import annotations

import json
import os

import pytest

from devcloud.sink import Sink
from reliability import figures
from shared.config import parse_settings
from shared.notify import Notifier
from shared.service import Service
from stack.product import cloud_info, in_process_settings

# Knobs the `python -m reliability` runner turns up; the defaults are the small versions `make test` runs.
SCALE = {
    "soak_clusters": int(os.environ.get("RELIABILITY_SOAK_CLUSTERS", "24")),
    "fuzz_examples": int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "200")),
    "fuzz_http_examples": int(os.environ.get("RELIABILITY_FUZZ_HTTP_EXAMPLES", "40")),
    "matrix": os.environ.get("RELIABILITY_MATRIX", "quick"),  # quick | full
    "matrix_times": [int(n) for n in os.environ.get("RELIABILITY_MATRIX_TIMES", "1,4").split(",")],
    "faults": [f for f in os.environ.get("RELIABILITY_FAULTS", "").split(",") if f],  # fault matrix: only these (all)
    "crashes": os.environ.get("RELIABILITY_CRASHES", "quick"),  # quick (2 cells) | full (every write step)
    "instances_clusters": int(os.environ.get("RELIABILITY_INSTANCES_CLUSTERS", "12")),  # the soak on 3 hosts
    "outage_clusters": int(os.environ.get("RELIABILITY_OUTAGE_CLUSTERS", "12")),  # the soak through a storage outage
    "outage_s": float(os.environ.get("RELIABILITY_OUTAGE_S", "10")),  # how long Azurite is down
}

# Settings that keep retries quick: the reconciler's own backoff in tenths of a second.
FAST_SETTINGS = {
    "HUBLINK_BACKOFF_BASE_S": "0.05",
    "HUBLINK_ABSENCE_CONFIRM_S": "5",
    "HUBLINK_BACKOFF_MAX_S": "1",
    "HUBLINK_FAILURE_ALERT_AFTER": "3",
    "HUBLINK_NOTIFY_TIMEOUT_S": "3",
}


def product_env(cloud, azurite, **overrides: str) -> dict[str, str]:
    """The product's in-process settings against devcloud + Azurite, quick retries, notices to the sink."""
    return in_process_settings(cloud_info(cloud), azurite.connection_string, **{**FAST_SETTINGS, **overrides})


@pytest.fixture(scope="module")
def sink(cloud_session):
    """One sink per module (cheaper than one per test): tests pick their notices by cluster id."""
    s = Sink(cloud_session.certs).start()
    yield s
    s.stop()


def notifier_env(sink: Sink) -> dict[str, str]:
    return {"HUBLINK_WEBHOOKS": json.dumps([f"{sink.url}/hook"]), "HUBLINK_WEBHOOK_SECRET": "reliability-webhook-secret"}


@pytest.fixture
def make(cloud, azurite, sink, lros):
    """A Service (fresh table, fresh credentials) that notifies the sink."""

    def build(**overrides: str) -> Service:
        settings = parse_settings(product_env(cloud, azurite, **{**notifier_env(sink), **overrides}))
        return Service.from_settings(settings, notifier=Notifier(settings))

    return build


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if figures.rows and not os.environ.get(figures.FIGURES_ENV):  # the runner prints them itself
        from reliability.report import render_report

        terminalreporter.write_sep("-", "reliability figures")
        terminalreporter.write_line(render_report(figures.rows))


@pytest.fixture
def app_env(cloud, azurite, sink, lros, monkeypatch):
    """The function app's settings in the environment (as the host sets them) and a fresh runtime."""
    from shared import runtime

    env = product_env(cloud, azurite, **notifier_env(sink), HUBLINK_TIMER_SCHEDULE="0 */5 * * * *")
    env["WEBSITE_AUTH_ENABLED"] = "true"  # behind App Service Authentication, as in Azure
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime.reset_runtime()
    yield env
    runtime.reset_runtime()
