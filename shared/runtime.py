"""The process-wide objects the triggers share, built on first use.

Importing `function_app` must not need settings (the host indexes functions before any setting
is read, and tests inspect the wiring), so nothing here runs at import time. The first trigger
that needs the service builds it, and a bad configuration then fails with the full list of
problems.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.continuation import Continuations
    from shared.credentials import Credentials
    from shared.service import Service


@dataclass
class Runtime:
    settings: Settings
    credentials: Credentials
    service: Service
    continuations: Continuations


_lock = threading.Lock()
_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime()
        return _runtime


def build_runtime(settings: Settings | None = None) -> Runtime:
    from shared.config import Settings
    from shared.continuation import Continuations
    from shared.credentials import Credentials
    from shared.notify import Notifier
    from shared.service import Service

    settings = settings or Settings.from_env()
    quiet_sdk_loggers(settings.sdk_log_level)
    credentials = Credentials(settings)
    continuations = Continuations(settings.storage, credentials)
    service = Service.from_settings(
        settings, credentials=credentials, notifier=Notifier.from_settings(settings), continuations=continuations
    )
    start_telemetry(service)
    return Runtime(settings, credentials, service, continuations)


def quiet_sdk_loggers(level: str) -> None:
    """The Azure SDK loggers at HUBLINK_SDK_LOG_LEVEL (WARNING by default): at INFO their request and
    response lines were 114 of the 136 lines one timer run forwarded to Application Insights."""
    import logging

    logging.getLogger("azure").setLevel(level.upper())


def start_telemetry(service: Service) -> None:
    """OpenTelemetry when an exporter is configured (shared.telemetry); the links gauge counts the rows."""
    import os
    from collections import Counter

    from shared import telemetry

    telemetry.configure(os.environ, phases=lambda: Counter(str(s.phase) for s in service.store.list()))


def reset_runtime() -> None:
    """Forget the cached runtime (tests change settings between cases)."""
    global _runtime
    with _lock:
        _runtime = None
