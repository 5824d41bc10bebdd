"""Figures the reliability tests record, and the tables `make reliability` prints.

A test calls `record(section, **values)`; rows are kept in memory (the pytest summary prints them)
and, when RELIABILITY_FIGURES names a file, appended to it as JSON lines so the runner can print
one table for a whole run made of several pytest sessions.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from typing import Any

FIGURES_ENV = "RELIABILITY_FIGURES"
_lock = threading.Lock()
rows: list[dict[str, Any]] = []


def record(section: str, **values: Any) -> dict[str, Any]:
    row = {"section": section, **values}
    with _lock:
        rows.append(row)
        path = os.environ.get(FIGURES_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, default=str) + "\n")
    return row


def load(path: str) -> list[dict[str, Any]]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def table(items: Iterable[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table (also valid Markdown), columns in the given order."""
    items = list(items)
    cells = [[str(it.get(c, "")) for c in columns] for it in items]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)

