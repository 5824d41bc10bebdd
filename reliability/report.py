"""One table of a reliability run (what was checked, at what scale, with what result), then the
fault matrix as a step x fault grid. Built from the rows the tests record (reliability.figures)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reliability.figures import table
from reliability.results import summary_lines

# Grid cell codes: final outcome and the reconciles it took.
LEGEND = ("R<n>: Ready after n reconciles; C<n>: cleaned up (nothing left) after n; F>R<n> / F>C<n>: Failed with a "
          "link.failed notice, then Ready / cleaned up on the retry after the fault; A>R<n>: ARM said the cluster was "
          "gone, everything of ours was removed, and discovery linked it again")


def _code(row: dict[str, Any]) -> str:
    outcome, n = row["outcome"], row["reconciles"]
    if outcome.startswith("Failed"):
        return f"F>{'R' if outcome.endswith('Ready on retry') else 'C'}{n}"
    if outcome.startswith("Absent (read"):
        return f"A>R{n}"
    return f"{'R' if outcome == 'Ready' else 'C'}{n}"


def matrix_grid(rows: list[dict[str, Any]]) -> str:
    by_times: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_times[row["n"]].append(row)
    parts = []
    for times, cells in sorted(by_times.items()):
        faults = list(dict.fromkeys(r["fault"] for r in cells))
        steps = list(dict.fromkeys(r["step"] for r in cells))
        grid = {(r["step"], r["fault"]): _code(r) for r in cells}
        items = [{"step": s, **{f: grid.get((s, f), "-") for f in faults}} for s in steps]
        parts.append(f"fault matrix, each fault injected {times}x on the step's exact method + path\n"
                     + table(items, ["step", *faults]))
    return "\n\n".join(parts + [LEGEND])


def summary(rows: list[dict[str, Any]]) -> str:
    out: list[dict[str, str]] = []
    sections: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        sections[row["section"]].append(row)
    if cells := sections.get("fault matrix"):
        failed = sum(1 for c in cells if c["outcome"].startswith("Failed"))
        steps, faults, times = ({c[k] for c in cells} for k in ("step", "fault", "n"))
        out.append({"check": "fault matrix", "scale": f"{len(cells)} cells ({len(steps)} steps x {len(faults)} faults, "
                                                     f"n={sorted(times)})",
                    "result": f"{len(cells)}/{len(cells)} Ready or cleaned up ({failed} via Failed+notice, then retry); "
                              f"0 stuck, 0 orphans, 0 duplicate endpoints, 0 rows lost; max "
                              f"{max(c['reconciles'] for c in cells)} reconciles"})
    for s in sections.get("soak", []):
        out.append({"check": "soak (full stack)",
                    "scale": f"{s['clusters']} clusters, {s['tenants']} tenants, {s['subscriptions']} subscriptions, "
                             f"{s['regions']} regions; {s['faults_injected']} faults in {s['product_arm_calls']} ARM calls; "
                             f"{s['duplicate_deliveries']} duplicated of {s['deliveries']} deliveries, reordered, "
                             f"{s.get('delivery_timeouts', 0)} timed out (retried by Event Grid)",
                    "result": f"{s['converged']} Ready (first trigger to Ready: p50 {s['ready_p50_s']} s, p95 "
                              f"{s['ready_p95_s']} s; all Ready {s['all_ready_s']} s after the first create), all cleaned "
                              f"up {s['all_cleaned_s']} s after the first delete; orphans {s['orphans']}, "
                              f"duplicate notices {s['duplicate_notices']}, foreign approved {s['foreign_approved']}, "
                              f"secrets leaked {s['secrets_leaked']}"})
    for c in sections.get("concurrency", []):
        out.append({"check": "concurrency (one cluster)",
                    "scale": f"{c['invocations_per_phase']} invocations at once ({c['events']} events incl. duplicates "
                             f"and stale ones, a sweep, HTTP retries), at creation and at deletion",
                    "result": f"{c['endpoint_creates']} endpoint, {c['record_writes']} record, notices {c['notices']}"})
    for f in sections.get("fuzz", []):
        out.append({"check": f"fuzz: {f['target']}", "scale": f"{f['examples']} calls ({f['reached_arm']} reached ARM)",
                    "result": f"{f['crashes']} crashes, 0 5xx, {f['arm_writes']} ARM writes; statuses {f['statuses']}"})
    out += summary_lines(sections)
    for section in ("checks", "security"):
        for s in sections.get(section, []):
            label = f"security: {s['check']}" if section == "security" else s["check"]
            out.append({"check": label, "scale": "", "result": f"{s['result']}: {s['detail']}"})
    return table(out, ["check", "scale", "result"])


def render_report(rows: list[dict[str, Any]]) -> str:
    parts = [summary(rows)]
    cells = [r for r in rows if r["section"] == "fault matrix"]
    if cells:
        parts.append(matrix_grid(cells))
    return "\n\n".join(parts)
