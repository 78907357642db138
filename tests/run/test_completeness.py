"""Completeness (README, "Time model"): channels declare their expected deliveries; a day short of them is
incomplete (red banner, `recon run` exits 3, the channel's Airflow task fails), with an
``expected_file_missing`` break that closes, listed in ``closed_breaks``, once the file comes."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import PROJECT_ROOT
from helpers import run_nightly

from pipelines.catalog.store import FileStatus
from pipelines.cli.main import main
from pipelines.core.channels import Channel, Deliveries, Settlement
from pipelines.run import stages as pipeline
from pipelines.run.completeness import delivery_days, missing_deliveries
from pipelines.run.intake import UNIT_SCHEMA

D1, D2, D3 = dt.date(2026, 11, 26), dt.date(2026, 11, 27), dt.date(2026, 11, 28)  # Thursday, Friday, Saturday


def _channel(**deliveries: Any) -> Channel:
    return Channel(
        id="psp_x",
        kind="psp",
        location="/nowhere",
        format="adyen_sdr",
        settlement=Settlement(calendar="NL"),
        deliveries=Deliveries(**deliveries),
    )


def _units(*rows: tuple[str, dt.date]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"file_id": f, "channel": "psp_x", "item_table": "psp_settlement_lines", "row_date": d, "rows": 1}
            for f, d in rows
        ],
        schema={k: v for k, v in UNIT_SCHEMA.items() if k != "path"},
    )


def test_delivery_days_follow_the_calendar_or_every_day() -> None:
    # 2026-12-24 Thursday, 25 and 26 Christmas (Dutch holidays), 27 Sunday, 28 Monday
    first, last = dt.date(2026, 12, 24), dt.date(2026, 12, 28)
    assert delivery_days(_channel(), first, last) == [dt.date(2026, 12, 24), dt.date(2026, 12, 28)]
    assert len(delivery_days(_channel(days="every_day"), first, last)) == 5
    assert delivery_days(_channel(calendar="ECB"), first, last) == [dt.date(2026, 12, 24), dt.date(2026, 12, 28)]
    assert delivery_days(_channel(), last, first) == []


def test_a_day_short_of_its_files_is_missing_and_intraday_waits_for_today() -> None:
    ch = {"psp_x": _channel(files_per_day=2)}
    units = _units(("f1", D1), ("f2", D1), ("f3", D2))
    empty = FileStatus("f4", "psp_x", "adyen_sdr", "psp_settlement_lines", "staged", None, 0, 0, 0, [], D2)
    missing = missing_deliveries(ch, units, {"f4": empty}, D2, D1, "nightly")
    assert missing.rows() == []  # D1: f1, f2; D2: f3 and f4, a file with no rows, dated by its assignment
    # a file quarantined whole counts through its quarantine unit (once a run took it), not its status
    unreadable = FileStatus("f5", "psp_x", "adyen_sdr", "psp_settlement_lines", "quarantined", "bad", 0, 0, 0, [], D2)
    assert missing_deliveries(ch, units, {"f5": unreadable}, D2, D1, "nightly").height == 1
    missing = missing_deliveries(ch, units, {}, D2, D1, "nightly")
    assert missing.select("expected_date", "expected_files", "arrived_files").rows() == [(D2, 2, 1)]
    assert missing_deliveries(ch, units, {}, D2, D1, "intraday").height == 0  # D2's files may still come today
    none = missing_deliveries({"psp_x": _channel().model_copy(update={"deliveries": None})}, units, {}, D2, D1, "x")
    assert none.height == 0


def _workspace(tmp_path: Path) -> tuple[str, str]:
    for name in ("rules", "data_samples"):
        shutil.copytree(PROJECT_ROOT / name, tmp_path / name)
    return str(tmp_path / "var"), str(tmp_path / "rules")


def _out(home: str, day: dt.date, name: str) -> Path:
    return Path(home) / "outputs" / day.isoformat() / name


def test_a_day_without_its_files_is_incomplete_until_they_come(tmp_path: Path) -> None:
    home, rules = _workspace(tmp_path)
    assert main(["--home", home, "--rules", rules, "run", "--date", D1.isoformat()]) == 0
    summary = json.loads(_out(home, D1, "summary.json").read_text())
    assert summary["completeness"] == {"complete": True, "missing_files": [], "reasons": []}
    assert "INCOMPLETE" not in _out(home, D1, "report.html").read_text()

    # Friday: no file came at all
    assert main(["--home", home, "--rules", rules, "run", "--date", D2.isoformat()]) == 3
    summary = json.loads(_out(home, D2, "summary.json").read_text())
    assert summary["completeness"]["complete"] is False
    assert (
        "no new row arrived for this run (only items carried from earlier runs)" in summary["completeness"]["reasons"]
    )
    breaks = pl.read_parquet(_out(home, D2, "breaks.parquet")).filter(pl.col("break_type") == "expected_file_missing")
    assert sorted(breaks["item_ref"].to_list()) == [
        f"{c} 2026-11-27" for c in ("adyen_eu", "bank_eu", "fx_ecb", "orders", "stripe_eu")
    ]
    assert breaks["status"].unique().to_list() == ["open"]
    report = _out(home, D2, "report.html").read_text()
    assert "INCOMPLETE: this day is not all clear" in report and "orders: 0 of 1 file(s) for 2026-11-27" in report

    # Friday's orders arrive on Saturday; Saturday is no business day (only the orders are expected)
    header = (PROJECT_ROOT / "data_samples" / "orders" / "orders_2026-11-26.csv").read_text().splitlines()[0]
    line = (
        "ORD-20261127-0000001,adyen_eu,4959072055580001,PayPlatformEU,succeeded,5.00,EUR,2026-11-27T10:00:00Z,"
        "payin,card,NL"
    )
    (tmp_path / "data_samples" / "orders" / "orders_2026-11-27.csv").write_text(f"{header}\n{line}\n")
    assert main(["--home", home, "--rules", rules, "run", "--date", D3.isoformat()]) == 3
    closed = pl.read_parquet(_out(home, D3, "closed_breaks.parquet"))
    orders_break = breaks.filter(pl.col("item_ref") == "orders 2026-11-27")["break_id"][0]
    assert closed.filter(pl.col("break_id") == orders_break)["closed_by"].to_list() == ["cleared"]
    still = pl.read_parquet(_out(home, D3, "breaks.parquet")).filter(pl.col("break_type") == "expected_file_missing")
    assert sorted(still["item_ref"].to_list()) == [
        "adyen_eu 2026-11-27",
        "bank_eu 2026-11-27",
        "fx_ecb 2026-11-27",
        "orders 2026-11-28",
        "stripe_eu 2026-11-27",
    ]
    # the breaks still missing keep their id and age
    kept = still.filter(pl.col("item_ref") == "bank_eu 2026-11-27")
    assert kept["break_id"][0] == breaks.filter(pl.col("item_ref") == "bank_eu 2026-11-27")["break_id"][0]
    assert kept["age_days"][0] == 1


def test_the_channels_airflow_task_fails_when_its_files_are_missing(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    home, rules = _workspace(tmp_path)
    pipeline.run_all(D1, "nightly", home, rules)
    run = run_nightly(monkeypatch, D2, home, rules)  # the deployment's workspace and rules
    assert run.state == "failed"
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert states[("publish", -1)] == "success"  # published, with the breaks, then failed where it is due
    delivery_states = [s for (task, _), s in states.items() if task == "deliveries"]
    # the five channels that declare deliveries fail; the rails (sepa_out, pix_out, ach_out) declare none
    assert sorted(delivery_states) == ["failed"] * 5 + ["success"] * 3
    assert states[("day_complete", -1)] == "failed"


@pytest.mark.parametrize("mode", ["nightly", "intraday"])
def test_only_intraday_runs_wait_for_todays_files(mode: str) -> None:
    ch = {"psp_x": _channel(days_after=0)}
    missing = missing_deliveries(ch, _units(("f1", D1)), {}, D2, D1, mode)
    assert missing["expected_date"].to_list() == ([D2] if mode == "nightly" else [])


def test_a_delivery_calendar_is_checked_on_load() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown calendar 'XY'"):
        _channel(calendar="XY")
    with pytest.raises(ValidationError, match="files_per_day"):
        _channel(files_per_day=0)
