"""`python -m bench`: every scenario, one table, bench/results.json.

`--small` runs a tiny version of each scenario (tests/test_bench.py uses it so the code cannot
rot); its numbers mean nothing. `--only` picks scenarios while working on one; `--set
sweep.links=2000` changes one size (results.json keeps the configuration each scenario ran with).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from bench import burst, calls, coldstart, day1, onboarding, sweep
from bench.common import figure, machine, now_iso, table

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")
FULL: dict[str, dict[str, Any]] = {
    "onboarding": {"clusters": 20, "batch": 5, "scale": 1.0},
    "calls": {"scale": 1.0},
    "sweep": {"links": 10000, "subscriptions": 1000},
    "coldstart": {"repeats": 7},
    "burst": {"clusters": 200},
    "day1": {"clusters": 1000, "subscriptions": 100},
    "scaleout": {"clusters": 200, "hosts": 3},
}
SMALL: dict[str, dict[str, Any]] = {
    "onboarding": {"clusters": 2, "batch": 2, "scale": 0.1},
    "calls": {"scale": 0.1},
    "sweep": {"links": 20, "subscriptions": 4, "seed_workers": 8},
    "coldstart": {"repeats": 2},
    "burst": {"clusters": 3, "create_s": 1.0, "spread_s": 1.0, "provisioning_s": 3.0, "retry_after_s": 1, "timeout_s": 120.0},
    "day1": {"clusters": 8, "subscriptions": 4, "timeout_s": 180.0},
    "scaleout": {"clusters": 3, "create_s": 1.0, "spread_s": 1.0, "provisioning_s": 3.0, "retry_after_s": 1,
                 "timeout_s": 120.0, "hosts": 2},
}
SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "onboarding": onboarding.run, "calls": calls.run, "sweep": sweep.run, "coldstart": coldstart.run, "burst": burst.run,
    "day1": day1.run, "scaleout": burst.run}
OVERHEAD_GOAL_S = 1.0
SWEEP_WALL_GOAL_S = 60.0
READS_PER_S_GOAL = 25
SWEEP_HUB_READS_GOAL = 100
READS_PER_ACTING_GOAL = 2.0
COLD_RATIO_GOAL = 0.5
BURST_REACTION_GOAL_S = 1.0
BURST_LAG_GOAL_S = 1.0
BURST_EXECUTION_GOAL_S = 1.5
DAY1_RATIO_GOAL = 1.25
DAY1_THROTTLED_GOAL = 0.01


def _onboarding_figures(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    note = "real seconds" if d["scale"] == 1 else f"time-scaled x{d['scale']:g} (every duration and the event budget)"
    out = {}
    for key, case in (("onboarding_overhead_s", "short"), ("onboarding_overhead_long_s", "long")):
        c = d[case]
        value = c.get("overhead_s")
        out[key] = figure(value, f"p95 <= {OVERHEAD_GOAL_S:g} s", value is not None and value["p95"] <= OVERHEAD_GOAL_S,
                          provisioning_s=c["provisioning_s"], retry_after_s=c["retry_after_s"], clusters=c["clusters"],
                          ready=c["ready"], note=note)
    out["onboarding_total_s"] = figure({case: d[case].get("total_s") for case in ("short", "long")},
                                       floor_s={case: d[case].get("floor_s") for case in ("short", "long")},
                                       event_to_put_s={case: d[case].get("event_to_put_s") for case in ("short", "long")},
                                       note=note)
    return out


def _kinds(counts: dict[str, Any]) -> dict[str, int]:
    return {k: counts[k] for k in ("reads", "writes", "deletes", "polls", "total")}


def _calls_figures(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    short, long, noop = d["short"], d["long"], d["noop"]
    return {
        "arm_calls_per_onboarding": figure(
            _kinds(short["onboarding"]), "total equal to arm_calls_minimum",
            short["onboarding"]["total"] == short["minimum"]["total"], minimum=short["minimum"],
            provisioning_s=short["provisioning_s"], retry_after_s=d["retry_after_s"],
            invocations=short["onboarding"]["invocations"],
            note="the endpoint itself is read at each Retry-After: those status reads count as reads"),
        "arm_calls_minimum": figure(short["minimum"], steps=[f"{kind}: {call} ({why})"
                                                             for kind, call, why in calls.MINIMUM_STEPS]),
        "arm_calls_per_onboarding_long": figure(
            _kinds(long["onboarding"]), "total equal to its minimum",
            long["onboarding"]["total"] == long["minimum"]["total"], minimum=long["minimum"],
            provisioning_s=long["provisioning_s"], budget_s=d["budget_s"], invocations=long["onboarding"]["invocations"],
            note="later invocations read the endpoint itself at each Retry-After: those status reads count as reads"),
        "arm_calls_noop_reconcile": figure(_kinds(noop), "reads only (0 writes, 0 deletes)",
                                           noop["writes"] == 0 and noop["deletes"] == 0),
        "table_ops_per_reconcile": figure({"onboarding": short["table_ops"], "onboarding_long": long["table_ops"],
                                           "noop": noop["table_ops"]}),
    }


def _sweep_figures(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    acting = d["acting_links"]
    per_link = round(d["per_link_reads"] / acting, 2) if acting else 0.0
    return {
        "sweep_links": figure(d["links"], phases=d["seeding"]["phases"]),
        "sweep_subscriptions": figure(d["subscriptions"], tenants=d["tenants"]),
        "sweep_wall_s": figure(d["wall_s"], f"<= {SWEEP_WALL_GOAL_S:g} s", d["wall_s"] <= SWEEP_WALL_GOAL_S,
                               due=d["report"]["due"], deferred=d["report"]["deferred"]),
        "sweep_arm_reads": figure(d["arm_reads"], list_reads=d["list_reads"], per_link_reads=d["per_link_reads"],
                                  due=d["due"], per_link_reconcile_would_read=d["expected_reads"]),
        "sweep_hub_reads": figure(d["hub_reads"], f"<= {SWEEP_HUB_READS_GOAL}", d["hub_reads"] <= SWEEP_HUB_READS_GOAL),
        "sweep_reads_per_acting_link": figure(per_link, f"<= {READS_PER_ACTING_GOAL:g}", per_link <= READS_PER_ACTING_GOAL,
                                              acting=acting, checked=d["checked_links"], drifted=d["drifted_links"]),
        "sweep_max_reads_per_s_per_subscription": figure(
            d["max_reads_per_s_per_subscription"], f"<= {READS_PER_S_GOAL}",
            d["max_reads_per_s_per_subscription"] <= READS_PER_S_GOAL, busiest=d["busiest_subscription"],
            hub=d["max_reads_per_s_hub"], busiest_spoke=d["max_reads_per_s_spoke"]),
        "sweep_429s": figure(d["throttled_429"], "0", d["throttled_429"] == 0),
    }


def _coldstart_figures(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cold, six, seven = d["function_app"], d["eager_six"], d["eager_seven"]
    ratio = cold["ms"] / six["ms"] if six["ms"] else None
    return {
        "cold_import_ms": figure(cold["ms"], f"<= {COLD_RATIO_GOAL:g} x eager_import_ms (six packages)",
                                 ratio is not None and ratio <= COLD_RATIO_GOAL, ratio_six=round(ratio or 0, 3),
                                 ratio_seven=round(cold["ms"] / seven["ms"], 3) if seven["ms"] else None,
                                 repeats=d["repeats"]),
        "cold_import_rss_mb": figure(cold["rss_mb"], interpreter_rss_mb=d["interpreter"]["rss_mb"]),
        "eager_import_ms": figure({"six": six["ms"], "seven": seven["ms"]}),
        "eager_import_rss_mb": figure({"six": six["rss_mb"], "seven": seven["rss_mb"]}),
    }


def _burst_figures(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    case = {"clusters": d["clusters"], "provisioning_s": d["provisioning_s"], "retry_after_s": d["retry_after_s"],
            "created_in_s": d["created_in_s"]}
    reaction, lag = d.get("reaction_s"), d.get("ready_lag_s")
    return {
        "burst_reaction_s": figure(reaction, f"p95 <= {BURST_REACTION_GOAL_S:g} s",
                                   reaction is not None and reaction["p95"] <= BURST_REACTION_GOAL_S, **case),
        "burst_ready_lag_s": figure(lag, f"p95 <= {BURST_LAG_GOAL_S:g} s", lag is not None and lag["p95"] <= BURST_LAG_GOAL_S,
                                    measured=d["measured"], total_s=d.get("total_s")),
        "burst_ready": figure(d["ready"], f"all {d['clusters']} Ready", d["ready"] == d["clusters"]),
        "burst_event_grid_over_30s": figure(d["deliveries_over_30s"], "0", d["deliveries_over_30s"] == 0,
                                            deliveries=d["deliveries"], outcomes=d["delivery_outcomes"]),
        "burst_execution_s_per_onboarding": figure(
            d["execution_s_per_onboarding"], f"<= {BURST_EXECUTION_GOAL_S:g} s",
            d["execution_s_per_onboarding"] <= BURST_EXECUTION_GOAL_S, invocations=d["execution"]["invocations"],
            note="the event and queue invocations' durations (host log) summed over the burst, divided by the clusters"),
    }


def _day1_figures(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ratio = d["ratio"]
    return {
        "day1_wall_over_floor": figure(ratio, f"<= {DAY1_RATIO_GOAL:g}", ratio is not None and ratio <= DAY1_RATIO_GOAL,
                                       wall_s=d["wall_s"], floor_s=d["floor_s"], clusters=d["clusters"],
                                       subscriptions=d["subscriptions"], tenants=d["tenants"],
                                       provisioning_s=d["provisioning_s"], retry_after_s=d["retry_after_s"]),
        "day1_ready": figure(d["ready"], f"all {d['clusters']} Ready", d["ready"] == d["clusters"]),
        "day1_throttled_share": figure(d["throttled_share"], f"<= {DAY1_THROTTLED_GOAL:.0%} of calls",
                                       d["throttled_share"] <= DAY1_THROTTLED_GOAL, throttled=d["throttled"],
                                       calls=d["arm_calls"]),
        "day1_progress": figure([p["progress"] for p in d["progress"] if p["progress"]][-3:],
                                note="the status API's progress, sampled every 10 s (the last samples)"),
    }


def _scaleout_figures(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    n = d["clusters"]
    share = round(d["throttled"] / d["calls"], 4) if d["calls"] else 0.0
    return {
        "scaleout_hosts": figure(d["hosts"], clusters=n, ready=d["ready"]),
        "scaleout_one_endpoint_and_record": figure(
            d["clusters_with_one_endpoint_and_record"], f"all {n} clusters", d["clusters_with_one_endpoint_and_record"] == n,
            endpoint_creates_per_cluster=d["endpoint_creates"], record_writes_per_cluster=d["record_writes"]),
        "scaleout_throttled_share": figure(share, f"<= {DAY1_THROTTLED_GOAL:.0%} of calls", share <= DAY1_THROTTLED_GOAL,
                                           throttled=d["throttled"], calls=d["calls"]),
        "scaleout_ready_announced_once": figure(d["clusters_announced_once"], f"all {n} clusters",
                                                d["clusters_announced_once"] == n, notices_per_cluster=d["ready_notices"]),
        "scaleout_reaction_s": figure(d.get("reaction_s"), ready_lag_s=d.get("ready_lag_s"),
                                      event_grid_over_30s=d["deliveries_over_30s"]),
    }


FIGURES = {"onboarding": _onboarding_figures, "calls": _calls_figures, "sweep": _sweep_figures,
           "coldstart": _coldstart_figures, "burst": _burst_figures,
           "day1": _day1_figures, "scaleout": _scaleout_figures}


def run_all(config: dict[str, dict[str, Any]], only: Sequence[str] | None = None) -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {"date": now_iso(), "machine": machine(), "figures": {}, "details": {}, "errors": {}}
    for name, scenario in SCENARIOS.items():
        if only and name not in only:
            continue
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            detail = scenario(**config[name])
        except Exception:
            results["errors"][name] = traceback.format_exc()
            print(results["errors"][name], file=sys.stderr)
            continue
        detail["seconds"] = round(time.monotonic() - t0, 1)
        results["details"][name] = detail
        results["figures"].update(FIGURES[name](detail))
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results["duration_s"] = round(time.monotonic() - started, 1)
    return results


def _merged(path: str, new: dict[str, Any]) -> dict[str, Any]:
    """The results in `path` with the scenarios of `new` replaced (each scenario keeps its own date and machine)."""
    with open(path, encoding="utf-8") as fh:
        old = json.load(fh)
    ran = set(new["details"]) | set(new["errors"])
    runs = old.pop("runs", None) or {name: {"date": old.get("date"), "machine": old.get("machine")} for name in old["details"]}
    for name in ran:
        old["details"].pop(name, None)
        old["errors"].pop(name, None)
        runs[name] = {"date": new["date"], "machine": new["machine"]}
    return {**old, "figures": {**old["figures"], **new["figures"]}, "details": {**old["details"], **new["details"]},
            "errors": {**old["errors"], **new["errors"]}, "config": {**old.get("config", {}), **new.get("config", {})},
            "runs": runs, "date": new["date"], "mode": new["mode"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="a tiny run of every scenario (numbers mean nothing)")
    parser.add_argument("--only", help=f"comma-separated scenarios: {', '.join(SCENARIOS)}")
    parser.add_argument("--out", default=None, help=f"results file (default {RESULTS}; --small: not written unless given)")
    parser.add_argument("--merge", action="store_true",
                        help="update the results file with the scenarios run, keeping the other scenarios' results")
    parser.add_argument("--set", action="append", default=[], metavar="SCENARIO.NAME=VALUE",
                        help="change one size or duration of a scenario, e.g. --set day1.clusters=200 (repeatable)")
    args = parser.parse_args(argv)
    from devcloud import netguard

    netguard.install()
    log_file = os.path.join(tempfile.gettempdir(), "aks-hublink-bench.log")
    logging.basicConfig(filename=log_file, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    config = {name: dict(values) for name, values in (SMALL if args.small else FULL).items()}
    for item in args.set:
        key, sep, value = item.partition("=")
        scenario, _, name = key.partition(".")
        if not sep or scenario not in config or not name:
            parser.error(f"--set takes SCENARIO.NAME=VALUE with a scenario of {', '.join(config)}, got {item!r}")
        config[scenario][name] = json.loads(value)
    results = run_all(config, args.only.split(",") if args.only else None)
    results["config"] = {name: config[name] for name in results["details"]}
    results["mode"] = "small" if args.small else "full"
    print(table(results["figures"]))
    print(f"\n{results['duration_s']:.0f} s on {results['machine']['cpu_count']} cores, load average "
          f"{results['machine']['load_average']} -> {results['machine']['load_average_after']}; product logs: {log_file}")
    out = args.out or (None if args.small else RESULTS)
    if out and args.merge and os.path.exists(out):
        results = _merged(out, results)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1, sort_keys=False)
            fh.write("\n")
        print(f"wrote {out}")
    return 1 if results["errors"] else 0
