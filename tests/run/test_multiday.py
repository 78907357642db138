"""Breaks over time and clearing on the four-day scenario (samplegen/scenario.py, data_samples/scenario):
files arrive day by day; orders settle late, payouts arrive T+2 across a weekend and a Mexican holiday,
one break is written off by hand and one closes by itself."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import PROJECT_ROOT, tree_bytes

from pipelines.run import stages as pipeline
from samplegen import scenario

DAY1, DAY2, DAY3, DAY4 = scenario.DAYS
D1, D2, D3, D4 = (d.isoformat() for d in scenario.DAYS)


def _summary(home: Path, day: str) -> dict[str, Any]:
    return json.loads((home / "outputs" / day / "summary.json").read_text())


def _table(home: Path, day: str, name: str) -> pl.DataFrame:
    return pl.read_parquet(home / "outputs" / day / f"{name}.parquet")


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, dict[str, bytes]]]:
    data = tmp_path_factory.mktemp("scenario")
    home = tmp_path_factory.mktemp("home")
    rules = str(data / "rules")
    snapshots: dict[str, dict[str, bytes]] = {}
    for k, day in enumerate(scenario.DAYS):
        scenario.write_all(data, scenario.DAYS[: k + 1])  # the files of that day arrive
        pipeline.run_all(day, "nightly", str(home), rules)
        snapshots[day.isoformat()] = tree_bytes(home / "outputs" / day.isoformat())
        if day.isoformat() == D2:
            amount = _table(home, D2, "breaks").filter(pl.col("break_type") == "amount_mismatch")
            pipeline.resolve_break(
                amount["break_id"][0], "write_off", "Adyen short-paid 1.00 EUR", "ana@ops", str(home), rules
            )
    return home, rules, snapshots


def test_day_one_pending_is_not_a_break(days: tuple[Path, str, dict[str, dict[str, bytes]]]) -> None:
    home, _, _ = days
    s = _summary(home, D1)
    assert s["outcomes"] == {"break": 2, "matched": 4, "pending": 3, "reference": 3}
    assert s["breaks"]["by_type"] == {"amount_mismatch": 1}
    funds = _table(home, D1, "fund_verification")
    assert funds["status"].to_list() == ["not_due", "not_due"]
    # Stripe MXN T+2 from Thursday: Friday, (weekend, Monday is a Mexican holiday), Tuesday
    assert funds.filter(pl.col("counterparty") == "stripe_mx")["value_date"].to_list() == [dt.date(2026, 11, 17)]


def test_day_two_late_settlement_and_a_new_break(days: tuple[Path, str, dict[str, dict[str, bytes]]]) -> None:
    home, _, _ = days
    s = _summary(home, D2)
    assert s["carried_forward_in"] == 7
    breaks = _table(home, D2, "breaks").sort("break_type")
    assert breaks.select("break_type", "item_ref", "first_seen", "age_days", "aging_bucket", "status").rows() == [
        ("amount_mismatch", "8815000000000002", dt.date(2026, 11, 12), 1, "0-1", "open"),
        ("order_not_settled", "S2", dt.date(2026, 11, 13), 0, "0-1", "open"),
    ]
    assert breaks["sla_status"].to_list() == ["within", "within"]
    matched = _table(home, D2, "matches")
    assert {"A3"} <= set(matched["item_ref"].to_list())  # pending yesterday, settled today
    feedback = _table(home, D2, "order_feedback")
    assert feedback.select("order_id", "internal_status", "suggested_status").rows() == [
        ("S2", "succeeded", "unsettled")
    ]
    funds = _table(home, D2, "fund_verification").filter(pl.col("value_date") == dt.date(2026, 11, 13))
    assert funds.select("counterparty", "expected_minor", "received_minor", "status").rows() == [
        ("adyen_eu", 14750, 14750, "received")
    ]


def test_day_three_break_closes_by_itself_and_resolution_is_honoured(
    days: tuple[Path, str, dict[str, dict[str, bytes]]],
) -> None:
    home, _, _ = days
    closed = _table(home, D3, "closed_breaks").sort("closed_by")
    assert closed.select("closed_by", "rule_id").rows() == [
        ("matched", "order_psp_reference_exact"),
        ("resolved", None),
    ]
    breaks = _table(home, D3, "breaks")
    assert breaks.select("break_type", "status", "resolution_action", "resolved_by").rows() == [
        ("amount_mismatch", "resolved", "write_off", "ana@ops")
    ]
    positions = _table(home, D3, "positions").sort("counterparty")
    # S2 settled on the Mexican holiday: its payout is due two Mexican business days after the 17th
    assert positions.select("counterparty", "value_date", "net_expected_minor").rows() == [
        ("adyen_eu", dt.date(2026, 11, 17), 990),
        ("stripe_mx", dt.date(2026, 11, 19), 48500),
    ]


def test_day_four_t_plus_two_payout_received(days: tuple[Path, str, dict[str, dict[str, bytes]]]) -> None:
    home, _, _ = days
    s = _summary(home, D4)
    assert s["breaks"]["total"] == 0
    funds = _table(home, D4, "fund_verification")
    assert funds.select("counterparty", "value_date", "status").rows() == [
        ("adyen_eu", dt.date(2026, 11, 13), "received"),
        ("adyen_eu", dt.date(2026, 11, 16), "received"),
        ("adyen_eu", dt.date(2026, 11, 17), "received"),
        ("stripe_mx", dt.date(2026, 11, 17), "received"),
        ("stripe_mx", dt.date(2026, 11, 18), "not_due"),
        ("stripe_mx", dt.date(2026, 11, 19), "not_due"),
    ]
    assert all(inv["ok"] for inv in s["invariants"].values())


def test_rerun_of_day_two_changes_only_what_should(days: tuple[Path, str, dict[str, dict[str, bytes]]]) -> None:
    home, rules, before = days
    results = pipeline.rerun_from(DAY2, str(home), rules)
    assert [r["business_date"] for r in results] == [D2, D3, D4]
    after = {d: tree_bytes(home / "outputs" / d) for d in (D1, D2, D3, D4)}
    assert after[D1] == before[D1]
    for day in (D2, D3, D4):
        for name in ("matches.parquet", "positions.parquet", "fund_verification.parquet"):
            assert after[day][name] == before[day][name], f"{day} {name}"
    labels = {"summary.json", "report.html", "run_manifest.csv", "run_manifest.parquet"}  # carry mode and run id
    assert {k: v for k, v in after[D4].items() if k not in labels} == {
        k: v for k, v in before[D4].items() if k not in labels
    }
    # day 3 no longer carries the two rows of the written-off break; every other outcome is unchanged
    written_off = _table(home, D2, "breaks").filter(pl.col("break_type") == "amount_mismatch")["break_id"][0]
    d3_before = pl.read_parquet(before[D3]["outcomes.parquet"])
    assert d3_before.filter(pl.col("ref") == written_off).height == 2
    assert _table(home, D3, "outcomes").equals(d3_before.filter(pl.col("ref").ne_missing(written_off)))
    # the write-off recorded after day 2 now shows on day 2, and day 3 no longer carries that break
    d2 = _table(home, D2, "breaks").filter(pl.col("break_type") == "amount_mismatch")
    assert d2["status"].to_list() == ["resolved"]
    assert _table(home, D3, "breaks").height == 0
    # history is not duplicated: one break_log row per break and date, one resolution in the audit log
    from pipelines.catalog.store import Catalog

    cat = Catalog(home / "catalog.duckdb")
    with cat.connect(read_only=True) as con:
        dup = con.execute(
            "SELECT count(*) FROM (SELECT as_of_date, break_id FROM break_log GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()
    assert dup == (0,)
    assert [r["action"] for r in cat.resolutions()] == ["write_off"]
    # and re-running again is a no-op on every output
    pipeline.rerun_from(DAY2, str(home), rules)
    assert {d: tree_bytes(home / "outputs" / d) for d in (D1, D2, D3, D4)} == after


def test_committed_scenario_matches_the_generator(tmp_path: Path) -> None:
    scenario.write_all(tmp_path)
    committed = PROJECT_ROOT / "data_samples" / "scenario"
    assert tree_bytes(tmp_path) == tree_bytes(committed)


def test_replaced_file_is_a_break_until_resolved(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    rules = str(data / "rules")
    scenario.write_all(data, scenario.DAYS[:1])
    pipeline.run_all(DAY1, "nightly", str(home), rules)
    scenario.write_all(data, scenario.DAYS[:2])
    orders = data / "orders" / f"orders_{D1}.csv"
    orders.write_text(orders.read_text().replace("100.00", "100.01"))  # new bytes under an ingested name
    pipeline.run_all(DAY2, "nightly", str(home), rules)
    replaced = _table(home, D2, "breaks").filter(pl.col("break_type") == "file_replaced")
    assert replaced.select("item_ref", "status", "item_count").rows() == [(f"orders_{D1}.csv", "open", 0)]
    assert "were not processed" in replaced["reason"][0]
    # the processed bytes stay what they were: day 1's outputs are unchanged by the replacement
    assert _summary(home, D1)["rows_in"]["orders"] == 5
    pipeline.resolve_break(replaced["break_id"][0], "accept", "provider resent by mistake", "ana@ops", str(home), rules)
    pipeline.reconcile_and_publish(DAY2, "rerun", str(home), rules)
    assert _table(home, D2, "breaks").filter(pl.col("break_type") == "file_replaced")["status"].to_list() == [
        "resolved"
    ]
