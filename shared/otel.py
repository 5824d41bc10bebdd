"""The OpenTelemetry side of shared.telemetry, imported only when an exporter is configured."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from shared.telemetry import SCOPE, Span


class _Recorded(Span):
    def __init__(self, span: Any) -> None:
        self.span = span

    def set(self, **attributes: Any) -> None:
        for k, v in attributes.items():
            if v is not None:
                self.span.set_attribute(f"hublink.{k}", str(v))


class Otel:
    """Telemetry on: spans from `tracer`, instruments from `meter`; `flush` pushes both out now."""

    enabled = True

    def __init__(
        self,
        tracer: Any,
        meter: Any,
        phases: Callable[[], Mapping[str, int]] | None,
        flush: Callable[[], None],
        close: Callable[[], None] | None = None,
    ) -> None:
        self.tracer = tracer
        self._flush, self._close = flush, close
        self._arm = meter.create_counter("hublink.arm.calls", description="ARM calls by method and status")
        self._throttled = meter.create_counter("hublink.arm.throttled", description="ARM calls answered 429")
        self._ready = meter.create_histogram("hublink.link.time_to_ready", unit="s", description="first sight -> Ready")
        self._notices = meter.create_counter("hublink.notices", description="notices sent or failed, by kind")
        if phases is not None:

            def observe(options: CallbackOptions) -> list[Observation]:
                try:
                    counts = phases()
                except Exception:  # the store is unreachable now: no point this round, never an error
                    return []
                return [Observation(n, {"phase": p}) for p, n in counts.items()]

            meter.create_observable_gauge("hublink.links", [observe], description="links per phase")
        self._wrapped: dict[tuple[Callable, ...], tuple[Callable, ...]] = {}

    @contextlib.contextmanager
    def reconcile(self, cluster_id: str) -> Iterator[Span]:
        with self.tracer.start_as_current_span("hublink.reconcile", attributes={"hublink.cluster_id": cluster_id}) as span:
            yield _Recorded(span)

    def steps(self, steps: tuple[Callable, ...]) -> tuple[Callable, ...]:
        if steps not in self._wrapped:
            self._wrapped[steps] = tuple(self._step(s) for s in steps)
        return self._wrapped[steps]

    def _step(self, step: Callable) -> Callable:
        def traced(link: Any) -> Any:
            attributes = {"hublink.cluster_id": link.cluster.id, "hublink.step": step.__name__}
            with self.tracer.start_as_current_span("hublink.step", attributes=attributes) as span:
                result = step(link)
                path = link.path.name if link.path is not None else link.state.access_path
                span.set_attribute("hublink.path", str(path or ""))
                span.set_attribute("hublink.phase", str(link.state.phase))
                span.set_attribute("hublink.outcome", "next" if result is None else type(result).__name__)
                return result

        traced.__name__ = step.__name__
        return traced

    def arm_call(self, method: str, status: int) -> None:
        self._arm.add(1, {"method": method, "status": str(status)})
        if status == 429:
            self._throttled.add(1, {"method": method})

    def ready(self, seconds: float) -> None:
        self._ready.record(max(0.0, seconds))

    def notice(self, outcome: str, kind: str) -> None:
        self._notices.add(1, {"outcome": outcome, "kind": kind})

    def flush(self) -> None:
        self._flush()

    def close(self) -> None:
        """Flush, then stop the exporters' threads (OTLP; the Azure Monitor distro's providers are global)."""
        self._flush()
        if self._close is not None:
            self._close()


def otlp(phases: Callable[[], Mapping[str, int]] | None) -> Otel:
    """OTLP/HTTP exporters (endpoint, headers and protocol from the OTEL_EXPORTER_OTLP_* variables)."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "aks-hublink"})
    tracing = TracerProvider(resource=resource)
    tracing.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=60_000)
    metering = MeterProvider(resource=resource, metric_readers=[reader])

    def flush() -> None:
        tracing.force_flush()
        metering.force_flush()

    def close() -> None:
        tracing.shutdown()
        metering.shutdown()

    return Otel(tracing.get_tracer(SCOPE), metering.get_meter(SCOPE), phases, flush, close)


def azure_monitor(env: Mapping[str, str], phases: Callable[[], Mapping[str, int]] | None) -> Otel:
    """Application Insights through the Azure Monitor distro; Entra auth with the app's identity when
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING is `ClientId=<id>;Authorization=AAD` (local auth is off)."""
    from azure.monitor.opentelemetry import configure_azure_monitor

    options: dict[str, Any] = {"connection_string": env["APPLICATIONINSIGHTS_CONNECTION_STRING"], "disable_logging": True}
    auth = dict(p.split("=", 1) for p in env.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "").split(";") if "=" in p)
    if auth.get("Authorization", "").upper() == "AAD":
        from azure.identity import ManagedIdentityCredential

        options["credential"] = ManagedIdentityCredential(client_id=auth.get("ClientId"))
    configure_azure_monitor(**options)  # the host forwards logs itself: only traces and metrics here

    def flush() -> None:
        for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
            with contextlib.suppress(AttributeError):
                provider.force_flush()

    return Otel(trace.get_tracer(SCOPE), metrics.get_meter(SCOPE), phases, flush)
