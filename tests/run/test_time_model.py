"""The time model (README, "Time model"): a run's date is a processing date; every row received is taken by
exactly one run, late rows by the next run (flagged with their lag), and coverage is proven over the whole
workspace."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import PROJECT_ROOT

from pipelines.catalog.store import Catalog
from pipelines.cli.main import main
from pipelines.core import config
from pipelines.run import stages as pipeline
from pipelines.run.intake import coverage, workspace_units

D1, D2 = dt.date(2026, 11, 26), dt.date(2026, 11, 27)
HEADER = "order_id,psp_channel,psp_reference,merchant_account,status,amount,currency,created_at\n"
LATE_ORDER = "ORD-20261126-9999999"


def _workspace(tmp_path: Path) -> tuple[str, str]:
    """A copy of the sample day's files and rules (channel folders resolve against the copy)."""
    for name in ("rules", "data_samples"):
        shutil.copytree(PROJECT_ROOT / name, tmp_path / name)
    return str(tmp_path / "var"), str(tmp_path / "rules")


def _deliver_late_order(tmp_path: Path) -> None:
    line = f"{LATE_ORDER},adyen_eu,4959072055589999,PayPlatformEU,succeeded,12.00,EUR,2026-11-26T21:02:46Z\n"
    (tmp_path / "data_samples" / "orders" / "orders_2026-11-26_late.csv").write_text(HEADER + line)


def _summary(home: str, day: dt.date) -> dict[str, Any]:
    return dict(json.loads((Path(home) / "outputs" / day.isoformat() / "summary.json").read_text()))


def _table(home: str, day: dt.date, name: str) -> pl.DataFrame:
    return pl.read_parquet(Path(home) / "outputs" / day.isoformat() / f"{name}.parquet")


def _outcome_of_late_order(home: str, day: dt.date) -> pl.DataFrame:
    manifest = _table(home, day, "run_manifest").filter(pl.col("file_name") == "orders_2026-11-26_late.csv")
    assert manifest.height == 1
    fid = manifest["file_id"][0]
    return _table(home, day, "outcomes").filter((pl.col("file_id") == fid) & (pl.col("item_table") == "orders"))


def _coverage(home: str, rules: str, day: dt.date) -> pl.DataFrame:
    settings = config.settings(home, rules)
    catalog = Catalog(settings.catalog_path)
    return coverage(workspace_units(settings, catalog.file_statuses()), catalog.run_inputs(), day)


def test_a_late_row_is_taken_by_the_next_run_and_flagged_with_its_lag(tmp_path: Path) -> None:
    home, rules = _workspace(tmp_path)
    pipeline.run_all(D1, "nightly", home, rules)
    _deliver_late_order(tmp_path)
    pipeline.run_all(D2, "nightly", home, rules)

    late = _table(home, D2, "run_manifest").filter(pl.col("rows_late") > 0)
    assert late.select("file_name", "rows_in", "rows_late", "late_days", "first_row_date", "last_row_date").rows() == [
        ("orders_2026-11-26_late.csv", 1, 1, 1, D1, D1)
    ]
    outcome = _outcome_of_late_order(home, D2)
    assert outcome.height == 1 and outcome["outcome"][0] == "break"  # the order never settled: a break, not lost
    s = _summary(home, D2)
    assert s["intake"]["late"] == [{"channel": "orders", "lag_days": 1, "row_date": "2026-11-26", "rows": 1}]
    assert s["invariants"]["every_row_taken"]["ok"] is True
    assert s["invariants"]["every_row_taken"]["rows_taken"] == 1
    # the first day's run did not take it: its own manifest has no such file
    assert "orders_2026-11-26_late.csv" not in _table(home, D1, "run_manifest")["file_name"].to_list()
    cov = _coverage(home, rules, D2)
    assert set(cov["state"].to_list()) == {"taken", "late"}
    assert cov.filter(pl.col("state") == "late").select("channel", "row_date", "rows", "taken_by").rows() == [
        ("orders", D1, 1, D2)
    ]


def test_re_running_the_earlier_date_takes_the_late_row_on_time_with_the_same_final_state(tmp_path: Path) -> None:
    late_home, rules = _workspace(tmp_path / "late")
    pipeline.run_all(D1, "nightly", late_home, rules)
    _deliver_late_order(tmp_path / "late")
    pipeline.run_all(D2, "nightly", late_home, rules)

    cascade_home, cascade_rules = _workspace(tmp_path / "cascade")
    pipeline.run_all(D1, "nightly", cascade_home, cascade_rules)
    _deliver_late_order(tmp_path / "cascade")
    pipeline.register_files(
        [pipeline.ingest_channel("orders", cascade_home, cascade_rules)], cascade_home, cascade_rules
    )
    pipeline.record_statuses(
        pipeline.normalise_channels(["orders"], D1, cascade_home, cascade_rules), cascade_home, cascade_rules
    )
    pipeline.rerun_from(D1, cascade_home, cascade_rules)  # no later date was run: the row is taken on time
    outcome = _outcome_of_late_order(cascade_home, D1)
    assert outcome.height == 1
    assert _table(cascade_home, D1, "run_manifest").filter(pl.col("rows_late") > 0).height == 0
    pipeline.run_all(D2, "nightly", cascade_home, cascade_rules)

    # both ways, the next day ends in the same state: the same breaks open, the same items carried
    for name, key in (("breaks", ["break_id", "break_type"]), ("positions", ["counterparty", "currency"])):
        a, b = _table(late_home, D2, name).select(key).sort(key), _table(cascade_home, D2, name).select(key).sort(key)
        assert a.equals(b), name
    assert _summary(late_home, D2)["open_items_out"] == _summary(cascade_home, D2)["open_items_out"]
    for home in (late_home, cascade_home):
        assert _summary(home, D2)["invariants"]["every_row_taken"]["ok"] is True


def test_a_re_run_takes_the_same_rows_again(tmp_path: Path) -> None:
    home, rules = _workspace(tmp_path)
    pipeline.run_all(D1, "nightly", home, rules)
    _deliver_late_order(tmp_path)
    pipeline.run_all(D2, "nightly", home, rules)
    before = {d: _table(home, d, "run_manifest") for d in (D1, D2)}
    pipeline.rerun_from(D1, home, rules)  # D1 keeps its rows; the late file stays with D2
    for d in (D1, D2):
        assert _table(home, d, "run_manifest").drop("run_id", "mode").equals(before[d].drop("run_id", "mode"))
    inputs = Catalog(config.settings(home, rules).catalog_path).run_inputs()
    assert inputs.group_by("file_id", "item_table", "row_date").len()["len"].max() == 1


def test_recon_coverage_lists_rows_no_run_took(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, rules = _workspace(tmp_path)
    pipeline.run_all(D1, "nightly", home, rules)
    assert main(["--home", home, "--rules", rules, "coverage"]) == 0
    _deliver_late_order(tmp_path)
    pipeline.register_files([pipeline.ingest_channel("orders", home, rules)], home, rules)
    pipeline.record_statuses(pipeline.normalise_channels(["orders"], D1, home, rules), home, rules)
    capsys.readouterr()
    assert main(["--home", home, "--rules", rules, "coverage", "--date", "2026-11-26"]) == 1
    out = capsys.readouterr().out
    assert "not taken" in out and "1 row(s) without exactly one run" in out
    assert main(["--home", home, "--rules", rules, "coverage", "--date", "2026-11-25"]) == 0  # dated later: awaiting
