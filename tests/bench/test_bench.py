"""The benchmark commands at a small size: they run, and what they generate comes out as planted."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from bench import match as bench_match
from bench import run as bench


def test_pipeline_benchmark_reconciles_what_it_planted(tmp_path: Path) -> None:
    r = bench.run(3000, dt.date(2026, 11, 26), tmp_path / "bench", keep=False)
    assert r["rows_orders"] >= 3000 and r["rows_psp_lines"] > 0 and r["rows_bank_lines"] > 0
    assert r["invariants_hold"]
    assert r["matches"] == r["expected_matches"]
    assert r["breaks_as_planted"]
    assert {"ingest", "record", "match_clear_publish"} <= set(r["stages_s"])
    assert r["total_s"] > 0 and r["peak_rss_mb"] > 0
    # CPU seconds per stage (the workers counted once they have ended) add up to no more than the run's
    assert r["cpu_s"]["total"] >= r["cpu_s"]["ingest_normalise"] + r["cpu_s"]["match_clear_publish"] - 0.05
    assert r["cpu_s"]["ingest_normalise"] > 0 and r["cpu_s"]["match_clear_publish"] > 0
    # the parts of normalisation: each worker's start (the stager's includes importing the validation library),
    # parsing and staging, all within the stage's CPU seconds
    parts = r["normalise_cpu_s"]
    assert set(parts) == {"parser_start", "stager_start", "parse", "stage"}
    assert all(v > 0 for v in parts.values())
    assert parts["stager_start"] > parts["parser_start"]
    assert sum(parts.values()) <= r["cpu_s"]["ingest_normalise"] + 0.05
    # the steps of reconciliation and publication, in order, within that stage's wall and CPU seconds
    steps = r["match_clear_publish_steps"]
    assert list(steps)[:3] == ["load", "matching", "items_and_manifest"] and list(steps)[-1] == "publish"
    assert sum(s["wall_s"] for s in steps.values()) <= r["stages_s"]["match_clear_publish"] + 0.05
    assert sum(s["cpu_s"] for s in steps.values()) <= r["cpu_s"]["match_clear_publish"] + 0.05
    # the bare DuckDB floor ran in the same call, on the same files
    assert r["floor_s"] > 0 and abs(r["ratio_to_floor"] * r["floor_s"] / r["total_s"] - 1) < 0.1
    assert r["duckdb_memory_limit"].endswith("MiB") and r["peak_spilled_mb"] >= 0
    assert r["peak_tree_rss_mb"] >= r["peak_rss_mb"] > 0 and r["floor_peak_tree_rss_mb"] > 0
    assert not (tmp_path / "bench").exists()


def test_the_benchmark_runs_the_partitions_as_separate_processes_beside_one(tmp_path: Path) -> None:
    r = bench.run(1500, dt.date(2026, 11, 26), tmp_path / "bench", keep=False, partitions=2)
    assert r["partition_processes"] == 2
    assert set(r["match_partition_s"]) == {"adyen_eu", "stripe_eu", "other"}
    assert r["match_single_s"] > 0 and r["match_partitions_s"] > 0 and r["match_join_s"] > 0
    assert r["match_partitioned_total_s"] == pytest.approx(r["match_partitions_s"] + r["match_join_s"], abs=0.02)
    assert r["partitioned_equal"] is True


def test_floor_classifies_every_order_and_line_once(tmp_path: Path) -> None:
    import duckdb

    from bench.floor import run_floor
    from samplegen import day as samples

    samples.write_day(tmp_path / "data", dt.date(2026, 11, 26), 3000, seed=11, plant=True)
    assert run_floor(tmp_path / "data", tmp_path / "out") > 0
    con = duckdb.connect()
    out = tmp_path / "out"
    orders, lines = (con.execute(f"SELECT count(*) FROM '{out}/{n}.parquet'").fetchone() for n in ("orders", "psp"))
    outcomes = dict(con.execute(f"SELECT outcome, count(*) FROM '{tmp_path}/out/breaks.parquet' GROUP BY 1").fetchall())
    assert orders and lines and orders[0] >= 3000 and lines[0] > 0
    assert {"order_missing", "duplicate"} <= set(outcomes)  # the generator plants unsettled and repeated items
    positions = con.execute(f"SELECT sum(lines) FROM '{tmp_path}/out/positions.parquet'").fetchone()
    assert positions == lines


def test_matching_benchmark_rules_find_what_was_planted() -> None:
    r = bench_match.run(6000, 1, dt.date(2026, 11, 26))
    assert r["matches_balance_and_no_reuse"]
    assert r["rules"] >= 6
    for rule_id, planted in r["planted_per_rule"].items():
        if rule_id == "order_fuzzy_reference":
            # the fuzzy rule may also propose near-copies of unsettled orders (confidence low)
            assert r["matches_per_rule"][rule_id] >= planted
        else:
            assert r["matches_per_rule"][rule_id] == planted, rule_id
    assert r["exact_key_join_s"] > 0 and r["join_and_classify_s"] > 0
    # the floor takes the first rule's unique pairs: those the engine's first rule takes before resolving ties
    exact = r["matches_per_rule"]["order_psp_reference_exact"]
    assert 0 < r["first_rule_floor_pairs"] <= exact
    assert r["first_rule_floor_s"] > 0


def test_sharded_day_reconciles_as_planted_and_as_one_file_per_channel(tmp_path: Path) -> None:
    """The benchmark's day in shards (several files per channel) is reconciled as planted, and exactly as the
    same rows delivered in one file per channel."""
    sharded = bench.run(1500, dt.date(2026, 11, 26), tmp_path / "sharded", keep=True, shard_orders=500)
    joined = bench.run(1500, dt.date(2026, 11, 26), tmp_path / "joined", keep=True, shard_orders=500, join_shards=True)
    assert sharded["files"] == {**joined["files"], "orders": 3, "stripe_eu": 3, "bank_eu": 3}
    assert joined["files"]["orders"] == joined["files"]["stripe_eu"] == joined["files"]["bank_eu"] == 1
    assert sharded["files"]["adyen_eu"] == 12
    for r in (sharded, joined):
        assert r["invariants_hold"] and r["breaks_as_planted"] and r["matches"] == r["expected_matches"]
    summaries = [
        json.loads(next((tmp_path / name / "home" / "outputs").glob("*/summary.json")).read_text())
        for name in ("sharded", "joined")
    ]
    assert bench.reconciliation_figures(summaries[0]) == bench.reconciliation_figures(summaries[1])


def test_a_failed_reconciliation_is_reported_with_how_far_it_got_and_the_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.run import result, stages

    def fails(*args: object, **kwargs: object) -> dict[str, object]:
        clock = result.StepClock()
        clock.lap("load")
        raise RuntimeError("Out of Memory Error: failed to offload data block (max_temp_directory_size)")

    monkeypatch.setattr(stages, "reconcile_and_publish", fails)
    r = bench.run(1500, dt.date(2026, 11, 26), tmp_path / "bench", keep=False)
    assert r["failed"] and r["error"].startswith("RuntimeError: Out of Memory Error")
    assert list(r["steps_done"]) == ["load"]
    assert {"ingest", "normalise", "match_clear_publish"} <= set(r["stages_s"]) and r["floor_s"] > 0
    assert r["peak_tree_rss_mb"] > 0 and r["generate_peak_rss_mb"] > 0
