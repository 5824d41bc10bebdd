"""`make bench` cannot rot: a tiny run of every scenario, checking the results' shape (never timings)."""

from __future__ import annotations

import json

from bench.run import main

FIGURES = {
    "onboarding_overhead_s": dict,
    "onboarding_overhead_long_s": dict,
    "onboarding_total_s": dict,
    "arm_calls_per_onboarding": dict,
    "arm_calls_minimum": dict,
    "arm_calls_per_onboarding_long": dict,
    "arm_calls_noop_reconcile": dict,
    "table_ops_per_reconcile": dict,
    "sweep_links": int,
    "sweep_subscriptions": int,
    "sweep_wall_s": float,
    "sweep_arm_reads": int,
    "sweep_hub_reads": int,
    "sweep_reads_per_acting_link": float,
    "sweep_max_reads_per_s_per_subscription": int,
    "sweep_429s": int,
    "cold_import_ms": float,
    "cold_import_rss_mb": float,
    "eager_import_ms": dict,
    "eager_import_rss_mb": dict,
    "burst_reaction_s": dict,
    "burst_ready_lag_s": dict,
    "burst_ready": int,
    "burst_event_grid_over_30s": int,
    "burst_execution_s_per_onboarding": float,
    "day1_wall_over_floor": float,
    "day1_ready": int,
    "day1_throttled_share": (int, float),
    "day1_progress": list,
    "scaleout_hosts": int,
    "scaleout_one_endpoint_and_record": int,
    "scaleout_throttled_share": (int, float),
    "scaleout_ready_announced_once": int,
    "scaleout_reaction_s": dict,
}
KINDS = {"reads", "writes", "deletes", "polls", "total"}


def test_small_run_reports_every_figure(tmp_path):
    out = tmp_path / "results.json"
    assert main(["--small", "--out", str(out)]) == 0
    results = json.loads(out.read_text())

    assert results["mode"] == "small" and results["errors"] == {}
    assert results["machine"]["cpu_count"] >= 1 and results["machine"]["python"].startswith("3.")
    assert len(results["machine"]["load_average"]) == 3 and isinstance(results["date"], str)
    figures = results["figures"]
    assert set(figures) == set(FIGURES)
    for name, kind in FIGURES.items():
        fig = figures[name]
        assert isinstance(fig["value"], kind), (name, fig["value"])
        assert (fig["goal"] is None) == (fig["met"] is None), name  # a goal always comes with a verdict
        assert fig["met"] in (True, False, None), name

    for name in ("onboarding_overhead_s", "onboarding_overhead_long_s"):
        assert set(figures[name]["value"]) == {"p50", "p95"}
        assert figures[name]["ready"] == figures[name]["clusters"] == 2
    for case in ("short", "long"):
        total = figures["onboarding_total_s"]["value"][case]
        assert 0 < total["p50"] <= total["p95"]
    for name in ("arm_calls_per_onboarding", "arm_calls_minimum", "arm_calls_per_onboarding_long", "arm_calls_noop_reconcile"):
        counts = figures[name]["value"]
        assert set(counts) == KINDS and all(isinstance(v, int) and v >= 0 for v in counts.values())
        assert counts["total"] == counts["reads"] + counts["writes"] + counts["deletes"] + counts["polls"]
    assert figures["arm_calls_per_onboarding"]["value"]["writes"] >= 3  # endpoint, approval, A record
    assert figures["arm_calls_noop_reconcile"]["value"]["reads"] > 0
    assert set(figures["table_ops_per_reconcile"]["value"]) == {"onboarding", "onboarding_long", "noop"}

    assert figures["sweep_links"]["value"] == 20 and figures["sweep_subscriptions"]["value"] == 4
    assert figures["sweep_arm_reads"]["per_link_reconcile_would_read"] > 0 and figures["sweep_wall_s"]["value"] > 0
    assert figures["sweep_hub_reads"]["value"] >= 1 and figures["sweep_reads_per_acting_link"]["acting"] >= 1
    assert figures["sweep_max_reads_per_s_per_subscription"]["value"] >= 1
    assert figures["sweep_links"]["phases"].keys() <= {"Ready", "Pending", "Failed"}

    assert 0 < figures["cold_import_ms"]["value"] and 0 < figures["cold_import_rss_mb"]["value"]
    assert set(figures["eager_import_ms"]["value"]) == {"six", "seven"}

    assert figures["burst_ready"]["value"] == 3 and figures["burst_ready"]["met"]
    assert set(figures["burst_reaction_s"]["value"]) == {"p50", "p95"} and figures["burst_reaction_s"]["clusters"] == 3
    assert (
        figures["burst_event_grid_over_30s"]["deliveries"] >= 3 and figures["burst_execution_s_per_onboarding"]["invocations"] > 0
    )
