"""`reliability/results.json`: one key per check with its figures, from the rows the tests recorded,
and the summary lines of the checks issue 17 added (crashes, lost answers, transient 404, storage
outage, several instances) for the printed table."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from typing import Any

RESULTS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")
KEYS = {  # figure section -> results.json key
    "fault matrix": "fault_matrix", "lost answers": "lost_answers", "crash matrix": "crash_matrix",
    "transient 404": "transient_404", "storage outage": "storage_outage", "several instances": "several_instances",
    "soak": "soak", "concurrency": "concurrency", "fuzz": "fuzz", "checks": "checks", "security": "security",
}


def _cells(cells: list[dict[str, Any]], outcome_key: str = "outcome") -> dict[str, Any]:
    return {"cells": len(cells), "outcomes": dict(Counter(str(c[outcome_key]) for c in cells)),
            "rows": [{k: v for k, v in c.items() if k != "section"} for c in cells]}


def results(rows: list[dict[str, Any]]) -> dict[str, Any]:
    sections: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        sections[row["section"]].append(row)
    out: dict[str, Any] = {}
    for section, items in sections.items():
        key = KEYS.get(section, section.replace(" ", "_"))
        if section in ("fault matrix", "lost answers", "crash matrix"):
            out[key] = _cells(items)
            if section != "fault matrix":
                out[key].update(duplicates=0, orphans=0, rows_lost=0)  # each cell asserts these
        elif section in ("soak", "storage outage", "several instances") and len(items) == 1:
            out[key] = {k: v for k, v in items[0].items() if k != "section"}
        else:
            out[key] = [{k: v for k, v in it.items() if k != "section"} for it in items]
    return out


def write(rows: list[dict[str, Any]], path: str = RESULTS_PATH) -> dict[str, Any]:
    """Merge this run's checks into results.json (a run of some checks keeps the others' figures)."""
    try:
        with open(path, encoding="utf-8") as fh:
            kept = json.load(fh)
    except (OSError, ValueError):
        kept = {}
    fresh = results(rows)
    for key, value in fresh.items():  # cell checks: this run's cells replace the same cells, keep the others
        old = kept.get(key)
        if isinstance(value, dict) and "rows" in value and isinstance(old, dict) and "rows" in old:
            ident = [k for k in ("path", "step", "when", "fault", "n") if any(k in r for r in value["rows"])]
            new_ids = {tuple(r.get(k) for k in ident) for r in value["rows"]}
            cells = [r for r in old["rows"] if tuple(r.get(k) for k in ident) not in new_ids] + value["rows"]
            fresh[key] = {**value, "cells": len(cells), "rows": cells,
                          "outcomes": dict(Counter(str(c["outcome"]) for c in cells))}
    merged = {**kept, **fresh}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(merged, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
    return merged


def summary_lines(sections: dict[str, list[dict[str, Any]]]) -> list[dict[str, str]]:
    """The printed table's lines for the checks added with issue 17."""
    out: list[dict[str, str]] = []
    if cells := sections.get("crash matrix"):
        paths, steps = {c["path"] for c in cells}, {c["step"] for c in cells}
        out.append({"check": "crash matrix (SIGKILL, restart)",
                    "scale": f"{len(cells)} cells ({len(paths)} access path(s), {len(steps)} write steps; after ARM "
                             f"processed the write, and after the row write before the ARM call)",
                    "result": f"{len(cells)}/{len(cells)} converged (max {max(c['converged_s'] for c in cells)} s); "
                              f"0 duplicates, 0 orphans, 0 rows lost, each notice at most once"})
    if cells := sections.get("lost answers"):
        out.append({"check": "lost answers (drop after processing)",
                    "scale": f"{len(cells)} cells ({len({(c.get('path', 'private-link'), c['step']) for c in cells})} "
                             f"write steps of {len({c.get('path', 'private-link') for c in cells})} access path(s), "
                             f"n={sorted({c['n'] for c in cells})})",
                    "result": f"{sum(1 for c in cells if c['outcome'] in ('Ready', 'Absent'))}/{len(cells)} Ready (create "
                              f"steps) or cleaned up (delete steps); 0 duplicates, 0 orphans, 0 rows lost; max "
                              f"{max((c['reconciles'] for c in cells if isinstance(c['reconciles'], int)), default='-')}"
                              f" reconciles (in-process cells)"})
    if cells := sections.get("transient 404"):
        kept = [c for c in cells if c["n"] != "deleted"]
        gone = [c for c in cells if c["n"] == "deleted"]
        out.append({"check": "transient 404 on the cluster read",
                    "scale": f"404 x{', x'.join(str(c['n']) for c in kept)} within the 20 s window; a real delete "
                             f"without its event",
                    "result": f"endpoint and record kept ({sum(c['endpoint_deletes'] for c in kept)} deletes); "
                              + (f"the deleted cluster cleaned up in {gone[0]['cleaned_s']} s" if gone else "")})
    for s in sections.get("storage outage", []):
        out.append({"check": "storage outage (Azurite stopped, restarted)",
                    "scale": f"{s['clusters']} clusters, Azurite down {s['outage_s']} s while they were linked",
                    "result": f"{s['converged']} Ready, all cleaned up; {s['deliveries_failed_during_outage']} "
                              f"deliveries of {s['redelivered_ok']} events failed during it (slowest "
                              f"{s['failed_delivery_max_s']} s), each event delivered again; "
                              f"{s['poison_messages']} poison messages; 0 orphans, 0 duplicate notices"
                              + (f" ({s['sent_notice_record_retries']} retries of the row write recording what was "
                                 "just sent, until storage was back)" if "sent_notice_record_retries" in s else "")})
    for s in sections.get("several instances", []):
        out.append({"check": "several instances",
                    "scale": f"{s['clusters']} clusters on {s['hosts']} host processes, one Azurite, one devcloud",
                    "result": f"{s['converged']} Ready, one endpoint and one record each, all cleaned up; "
                              f"0 duplicate notices; timer lock taken {s['timer_lock_acquired']}x, "
                              f"{s['timer_runs']} timer runs; requests per host {s.get('requests_per_host')}"})
    return out
