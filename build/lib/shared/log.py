"""Structured logs: an event name plus key=value context, with the cluster id on every line.

Functions' host forwards Python logging to Application Insights; one event per line with stable
keys makes those logs queryable (`traces | where message startswith "link."`).
"""

from __future__ import annotations

import logging
from typing import Any


def _fmt(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


class EventLogger:
    """`log.info("link.endpoint.created", ip="10.0.0.4")` -> `link.endpoint.created cluster=/subs/... ip=10.0.0.4`."""

    def __init__(self, logger: logging.Logger, **bound: Any) -> None:
        self.logger = logger
        self.bound = bound

    def bind(self, **more: Any) -> EventLogger:
        return EventLogger(self.logger, **{**self.bound, **more})

    def _log(self, level: int, event: str, kv: dict[str, Any]) -> None:
        if self.logger.isEnabledFor(level):
            items = {**self.bound, **kv}
            self.logger.log(
                level,
                "%s %s",
                event,
                " ".join(f"{k}={_fmt(v)}" for k, v in items.items() if v is not None),
                extra={"hublink": {"event": event, **items}},
            )

    def debug(self, event: str, **kv: Any) -> None:
        self._log(logging.DEBUG, event, kv)

    def info(self, event: str, **kv: Any) -> None:
        self._log(logging.INFO, event, kv)

    def warning(self, event: str, **kv: Any) -> None:
        self._log(logging.WARNING, event, kv)

    def error(self, event: str, **kv: Any) -> None:
        self._log(logging.ERROR, event, kv)


def get_logger(name: str = "hublink", **bound: Any) -> EventLogger:
    return EventLogger(logging.getLogger(name), **bound)
