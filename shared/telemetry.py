"""OpenTelemetry traces and metrics, set up only when an exporter is configured.

    APPLICATIONINSIGHTS_CONNECTION_STRING   azure-monitor-opentelemetry (Entra auth when
                                            APPLICATIONINSIGHTS_AUTHENTICATION_STRING says AAD)
    OTEL_EXPORTER_OTLP_ENDPOINT             OTLP over HTTP/protobuf (the exporters read the OTEL_* variables)
    neither                                 `QUIET`: every hook returns at once and nothing of
                                            OpenTelemetry is imported (the cold-start figure holds)

What is recorded (README "Telemetry"; infra/app/workbook.json charts the metrics):

    spans    hublink.reconcile (one per reconcile) and hublink.step (one per step run), with
             hublink.cluster_id, hublink.path, hublink.phase, hublink.outcome
    metrics  hublink.links (gauge, by phase), hublink.link.time_to_ready (s, first sight -> Ready),
             hublink.arm.calls (by method and status), hublink.arm.throttled, hublink.notices (by outcome)

The controller, the ARM client, the SDK clients' response hook and the notice delivery call the
hooks of `current()`; `configure` (shared.runtime, on the first invocation) swaps it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

SCOPE = "hublink"


class Span:
    """What a reconcile reports into its span (a no-op when telemetry is off)."""

    def set(self, **attributes: Any) -> None:
        return None


class Quiet:
    """Telemetry off: no OpenTelemetry import, no work."""

    enabled = False

    @contextlib.contextmanager
    def reconcile(self, cluster_id: str) -> Iterator[Span]:
        yield Span()

    def steps(self, steps: tuple[Callable, ...]) -> tuple[Callable, ...]:
        return steps

    def arm_call(self, method: str, status: int) -> None:
        return None

    def ready(self, seconds: float) -> None:
        return None

    def notice(self, outcome: str, kind: str) -> None:
        return None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


QUIET = Quiet()
_current: Any = QUIET


def current() -> Any:
    return _current


def configure(env: Mapping[str, str], phases: Callable[[], Mapping[str, int]] | None = None) -> Any:
    """Pick the exporter the environment asks for (none: QUIET); `phases` feeds the links gauge."""
    global _current
    _current.close()  # a second configure (tests) replaces the first
    if env.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        from shared.otel import azure_monitor

        _current = azure_monitor(env, phases)
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from shared.otel import otlp

        _current = otlp(phases)
    else:
        _current = QUIET
    return _current


def reset() -> None:
    """Back to QUIET, flushing what was recorded and stopping the exporters (tests)."""
    global _current
    _current.close()
    _current = QUIET


def sdk_response_hook(response: Any) -> None:
    """azure-core's raw_response_hook (shared.sdk): every SDK response, retries included, counts as an ARM call."""
    telemetry = _current
    if telemetry.enabled:
        http = response.http_response
        telemetry.arm_call(response.http_request.method, http.status_code)
