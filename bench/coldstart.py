"""Figure 4: cold start. `import function_app` in a fresh interpreter against importing, eagerly, the
packages the app uses at run time; medians of several fresh processes, run interleaved so that a
noisy moment hits every variant alike."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIX = ["azure.functions", "azure.identity", "azure.mgmt.network", "azure.eventgrid", "azure.data.tables", "requests"]
SEVEN = [*SIX, "azure.storage.queue"]  # the continuation queue client: the app uses it too
VARIANTS = {"function_app": ["function_app"], "eager_six": SIX, "eager_seven": SEVEN, "interpreter": []}

_PROBE = """
import json, time
t = time.perf_counter()
{imports}
ms = (time.perf_counter() - t) * 1000
rss = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:")) / 1024
print(json.dumps({{"ms": ms, "rss_mb": rss}}))
"""


def probe(modules: list[str]) -> dict[str, float]:
    """Import `modules` in a fresh interpreter (cwd = the app, as the Functions worker does)."""
    code = _PROBE.format(imports="\n".join(f"import {m}" for m in modules) or "pass")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(*, repeats: int = 7) -> dict[str, Any]:
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for modules in VARIANTS.values():
        probe(modules)  # warm the page cache and bytecode caches once; not measured
    for _ in range(repeats):
        for name, modules in VARIANTS.items():
            samples[name].append(probe(modules))
    out: dict[str, Any] = {"repeats": repeats}
    for name, values in samples.items():
        out[name] = {"ms": round(statistics.median(v["ms"] for v in values), 1),
                     "rss_mb": round(statistics.median(v["rss_mb"] for v in values), 1),
                     "ms_all": [round(v["ms"], 1) for v in values]}
    out["modules"] = {name: modules for name, modules in VARIANTS.items()}
    return out


if __name__ == "__main__":
    print(json.dumps(run(repeats=int(sys.argv[1]) if len(sys.argv) > 1 else 7), indent=1))
