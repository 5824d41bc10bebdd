"""What the scenarios share: percentiles, figures with their goals, the machine, the printed table.

A figure is `{"value": ..., "goal": "<text>" | None, "met": bool | None}`: figures without a goal are
context for the others (a minimum to compare with, a count of links). Values are plain JSON so
bench/results.json can be read without this code.
"""

from __future__ import annotations

import math
import os
import platform
from datetime import UTC, datetime
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default): p50 of [1, 2] is 1.5."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def p50_p95(values: list[float], digits: int = 3) -> dict[str, float]:
    return {"p50": round(percentile(values, 50), digits), "p95": round(percentile(values, 95), digits)}


def figure(value: Any, goal: str | None = None, met: bool | None = None, **extra: Any) -> dict[str, Any]:
    return {"value": value, "goal": goal, "met": met, **extra}


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def table(figures: dict[str, dict[str, Any]]) -> str:
    """One line per figure: name, value, goal, met/missed."""
    rows = [("figure", "value", "goal", "")]
    for name, fig in figures.items():
        verdict = {True: "met", False: "MISSED", None: ""}[fig["met"]]
        rows.append((name, _show(fig["value"]), fig["goal"] or "", verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows)
