"""`python -m reliability soak|fuzz|matrix|report`: the reliability tests at full size, then their figures.

    soak    500 clusters created and deleted on the full stack with 10% faults   (make soak)
    fuzz    10,000 generated inputs per target, 500 through the Functions host    (make fuzz)
    matrix  every ARM step x every fault, each injected 1 and 4 times
    crashes the crash matrix (SIGKILL at every ARM write step), lost answers, transient 404s
    outage  the soak through a 30 s storage outage, and on 3 instances of the app (500 clusters)
    report  all of tests/reliability at report size, one table                    (make reliability)

Each runs pytest on tests/reliability with the scale in environment variables (see the conftest
there), prints the figures the tests recorded and merges them into reliability/results.json (one
key per check); the exit code is pytest's. `--set NAME=VALUE` changes a size, e.g.
RELIABILITY_INSTANCES_CLUSTERS=50 for a quicker run on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from reliability.figures import FIGURES_ENV, load
from reliability.report import render_report
from reliability.results import RESULTS_PATH, write

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = {
    "soak": (["tests/reliability/test_soak.py"], {"RELIABILITY_SOAK_CLUSTERS": "500"}),
    "fuzz": (["tests/reliability/test_fuzz.py"], {"RELIABILITY_FUZZ_EXAMPLES": "10000",
                                                  "RELIABILITY_FUZZ_HTTP_EXAMPLES": "500"}),
    "matrix": (["tests/reliability/test_fault_matrix.py"], {"RELIABILITY_MATRIX": "full",
                                                            "RELIABILITY_MATRIX_TIMES": "1,4"}),
    "crashes": (["tests/reliability/test_crashes.py", "tests/reliability/test_transient_404.py",
                 "tests/reliability/test_fault_matrix.py"],
                {"RELIABILITY_CRASHES": "full", "RELIABILITY_MATRIX": "full", "RELIABILITY_MATRIX_TIMES": "1,4",
                 "RELIABILITY_FAULTS": "drop_after"}),
    "outage": (["tests/reliability/test_soak.py::test_soak_through_a_storage_outage",
                "tests/reliability/test_soak.py::test_soak_on_three_instances"],
               {"RELIABILITY_OUTAGE_CLUSTERS": "100", "RELIABILITY_OUTAGE_S": "30",
                "RELIABILITY_INSTANCES_CLUSTERS": "500"}),
    "report": (["tests/reliability"], {"RELIABILITY_MATRIX": "full", "RELIABILITY_MATRIX_TIMES": "1,4",
                                       "RELIABILITY_CRASHES": "full", "RELIABILITY_SOAK_CLUSTERS": "100",
                                       "RELIABILITY_OUTAGE_CLUSTERS": "100", "RELIABILITY_OUTAGE_S": "30",
                                       "RELIABILITY_INSTANCES_CLUSTERS": "500", "RELIABILITY_FUZZ_EXAMPLES": "1000",
                                       "RELIABILITY_FUZZ_HTTP_EXAMPLES": "100"}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", choices=sorted(RUNS))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a scale knob, e.g. RELIABILITY_SOAK_CLUSTERS=50")
    parser.add_argument("-k", dest="select", metavar="EXPR", help="only the tests pytest's -k EXPR selects")
    args = parser.parse_args(argv)
    paths, scale = RUNS[args.run]
    overrides = dict(item.split("=", 1) for item in args.set)
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        figures_path = os.path.join(tmp, "figures.jsonl")
        env = {**os.environ, **scale, **overrides, FIGURES_ENV: figures_path}
        select = ["-k", args.select] if args.select else []
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *select, *paths], cwd=REPO,
                               env=env)
        rows = load(figures_path)
    print("\n" + render_report(rows) if rows else "no figures were recorded")
    if rows:
        write(rows)
        print(f"\nfigures written to {os.path.relpath(RESULTS_PATH, REPO)}")
    return code


if __name__ == "__main__":
    sys.exit(main())
