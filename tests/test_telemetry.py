"""Telemetry: an in-process OTLP/HTTP receiver on 127.0.0.1 gets the spans and metrics of one
onboarding (OTEL_EXPORTER_OTLP_ENDPOINT); with no exporter configured, nothing of OpenTelemetry
or Azure Monitor is imported (the cold-start figure, bench/coldstart.py, depends on it)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devcloud.arm import FaultRule
from shared import telemetry
from shared.config import parse_settings
from shared.model import Phase
from shared.notify import Notifier
from tests.support import product_env, settling_service

ROOT = Path(__file__).resolve().parent.parent


class Receiver:
    """Accepts OTLP/HTTP protobuf on /v1/traces and /v1/metrics and keeps what arrived, decoded."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans: list = []
        self.metrics: list = []
        kinds = {
            "/v1/traces": (ExportTraceServiceRequest, self._spans),
            "/v1/metrics": (ExportMetricsServiceRequest, self._metrics),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                message, keep = kinds[self.path]
                assert self.headers["Content-Type"] == "application/x-protobuf"
                request = message.FromString(self.rfile.read(int(self.headers["Content-Length"])))
                keep(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _spans(self, request) -> None:
        self.spans += [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def _metrics(self, request) -> None:
        self.metrics += [m for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]


def attrs(item) -> dict[str, str]:
    return {a.key: a.value.string_value or str(a.value.int_value) for a in item.attributes}


def points(metrics, name: str) -> list:
    out = []
    for m in metrics:
        if m.name == name:
            data = getattr(m, m.WhichOneof("data"))
            out += list(data.data_points)
    return out


@pytest.fixture
def receiver(monkeypatch):
    r = Receiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.url)
    yield r
    telemetry.reset()
    r.server.shutdown()


def test_an_onboarding_reaches_the_otlp_receiver(cloud, azurite, op, sink, receiver):
    settings = parse_settings(product_env(cloud, azurite, HUBLINK_WEBHOOKS=json.dumps([f"{sink.url}/hook"])))
    # An onboarding is several invocations (no invocation waits for Azure): followed here as the queue does.
    svc = settling_service().from_settings(settings, notifier=Notifier.from_settings(settings))
    on = telemetry.configure({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}, phases=lambda: {"Ready": len(svc.list("Ready"))})
    assert on.enabled
    cluster_id = op.create_cluster()
    cloud.arm.faults.append(FaultRule(id="t", method="GET", path="managedClusters/[^/]+$", status=429, retry_after=0, times=1))
    assert svc.reconcile(cluster_id).phase is Phase.READY
    telemetry.current().flush()

    passes = [s for s in receiver.spans if s.name == "hublink.reconcile"]  # one span per invocation
    reconcile = max(passes, key=lambda s: s.end_time_unix_nano)
    cid = attrs(reconcile)["hublink.cluster_id"]
    assert cid.lower() == cluster_id.lower() and len({attrs(p)["hublink.cluster_id"] for p in passes}) == 1
    assert attrs(reconcile) == {
        "hublink.cluster_id": cid, "hublink.path": "private-link", "hublink.phase": "Ready", "hublink.outcome": "done",
    }  # fmt: skip
    steps = [s for s in receiver.spans if s.name == "hublink.step"]
    parents = {(p.span_id, p.trace_id) for p in passes}
    assert steps and all((s.parent_span_id, s.trace_id) in parents for s in steps)
    names = [attrs(s)["hublink.step"] for s in steps]
    assert {"observe_cluster", "ensure_endpoint", "approve_connection", "write_dns", "ready"} <= set(names)
    last = attrs(max((s for s in steps if s.parent_span_id == reconcile.span_id), key=lambda s: s.end_time_unix_nano))
    assert last["hublink.outcome"] == "Done" and last["hublink.phase"] == "Ready" and last["hublink.cluster_id"] == cid

    calls = {(attrs(p)["method"], attrs(p)["status"]): p.as_int for p in points(receiver.metrics, "hublink.arm.calls")}
    assert calls[("GET", "429")] == 1 and calls[("GET", "200")] >= 2 and any(m == "PUT" for m, _ in calls)
    assert [p.as_int for p in points(receiver.metrics, "hublink.arm.throttled")] == [1]
    [ready] = points(receiver.metrics, "hublink.link.time_to_ready")
    assert ready.count == 1 and ready.sum > 0
    assert [(attrs(p)["phase"], p.as_int) for p in points(receiver.metrics, "hublink.links")] == [("Ready", 1)]
    notices = {(attrs(p)["outcome"], attrs(p)["kind"]): p.as_int for p in points(receiver.metrics, "hublink.notices")}
    assert notices.get(("sent", "link.ready")) == 1


def test_nothing_of_opentelemetry_is_imported_unless_configured(cloud, azurite):
    probe = (
        "import json, sys\n"
        "import function_app\n"
        "from shared.runtime import get_runtime\n"
        "get_runtime().service.list()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'azure.monitor', 'shared.otel')))))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_"))}

    def imported(**extra: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, env={**env, **product_env(cloud, azurite), **extra},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert imported() == []
    otlp = imported(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert "opentelemetry.exporter.otlp.proto.http.trace_exporter" in otlp
    assert not any(m.startswith("azure.monitor") for m in otlp)


@pytest.mark.parametrize(("setting", "level"), [(None, "WARNING"), ("info", "INFO"), ("debug", "DEBUG")])
def test_azure_sdk_loggers_stay_at_warning_unless_a_setting_asks(cloud, azurite, setting, level):
    import logging

    from shared.runtime import build_runtime

    overrides = {"HUBLINK_SDK_LOG_LEVEL": setting} if setting else {}
    azure = logging.getLogger("azure")
    saved = azure.level
    try:
        build_runtime(parse_settings(product_env(cloud, azurite, **overrides)))
        assert logging.getLevelName(azure.level) == level
        assert logging.getLogger("azure.core.pipeline.policies.http_logging_policy").getEffectiveLevel() == azure.level
    finally:
        azure.setLevel(saved)
