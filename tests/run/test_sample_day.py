"""The sample business day (data_samples/) reconciles to exactly the outcome listed in its README."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import PROJECT_ROOT, tree_bytes

from pipelines.run import stages as pipeline
from samplegen.day import write_day
from samplegen.outcome import Expected
from samplegen.plan import PLANTED_WITHDRAWAL_BREAKS

DATE = "2026-11-26"
DAY = dt.date.fromisoformat(DATE)
EXPECTED_BREAKS = {
    "amount_mismatch": 2,
    "bank_credit_without_payout": 1,
    "bank_debit_unexplained": 1,
    "currency_mismatch": 1,
    "duplicate_settlement_line": 1,
    "order_not_settled": 3,
    "payout_amount_mismatch": 1,
    "payout_without_bank_credit": 1,
    "psp_line_without_order": 2,
    "status_mismatch": 2,
} | PLANTED_WITHDRAWAL_BREAKS
SAMPLE_FILES = 11  # orders, 4 Adyen batches, Stripe, camt.053, FX, the SEPA and PIX pain.002, the ACH NACHA file


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Expected:
    """What the generator planted in data_samples/ (tests/samplegen checks the files are its output)."""
    return write_day(tmp_path_factory.mktemp("plan"), DAY, 400, seed=7)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    home = tmp_path_factory.mktemp("home")
    out = pipeline.run_all(DAY, "nightly", str(home))
    summary = json.loads((Path(out["output"]) / "summary.json").read_text())
    return home, summary


def test_expected_outcome(sample_run: tuple[Path, dict[str, Any]], plan: Expected) -> None:
    _, s = sample_run
    # payment_status: the rails' status reports (SEPA and PIX pain.002, the ACH NACHA file)
    assert s["rows_in"] == {
        "orders": 400 + plan.withdrawal_orders,
        "psp_settlement_lines": 392,
        "bank_statement_lines": plan.bank_rows,
        "fx_rates": 7,
        "payment_status": plan.payment_status_rows,
    }
    assert plan.withdrawal_orders == 23 and plan.bank_rows == 8 + 21 and plan.payment_status_rows == 25
    assert s["breaks"]["by_type"] == EXPECTED_BREAKS
    assert s["matches"]["per_rule"] == {
        "order_psp_reference_exact": 364,
        "order_merchant_reference_tolerance": 2,
        "payout_batch_to_bank_credit": 5,
        # the withdrawal pairings, as planned (samplegen.rails.withdrawal_matches)
        **plan.withdrawal_matches,
    }
    assert s["outcomes"]["quarantined"] == 4
    assert s["outcomes"]["pending"] == plan.withdrawals_pending == 2
    assert s["outcomes"]["no_settlement_expected"] == 24
    assert all(inv["ok"] for inv in s["invariants"].values()), s["invariants"]


def test_every_row_accounted_for_per_file(sample_run: tuple[Path, dict[str, Any]]) -> None:
    home, s = sample_run
    out = home / "outputs" / DATE
    outcomes = pl.read_parquet(out / "outcomes.parquet")
    manifest = pl.read_parquet(out / "run_manifest.parquet")
    per_file = outcomes.group_by("file_id").len()
    joined = manifest.join(per_file, on="file_id")
    assert joined.height == manifest.height == SAMPLE_FILES
    assert (joined["rows_in"] == joined["len"]).all()
    q = pl.read_parquet(out / "quarantine.parquet")
    # the bad rows planted in the files, found by reading the files as text
    planted = set()
    for f in sorted((PROJECT_ROOT / "data_samples").glob("*/*.csv")):
        for i, line in enumerate(f.read_text().splitlines()[1:], start=2):
            if line.startswith(",") or ",12.3x," in line or ",XYZ," in line or ",10.123," in line:
                planted.add((f.name, i))
    assert set(zip(q["file_name"], q["line_no"], strict=True)) == planted
    assert len(planted) == 4
    fields = {(r["file_name"].split("_")[0], r["field"]) for r in q.to_dicts()}
    assert fields == {
        ("orders", "order_id"),
        ("orders", "amount"),
        ("settlement", "Gross Credit (GC)"),
        ("settlement", "Gross Currency"),
        ("settlement", "Net Currency"),
    }
    assert all(r for r in q["reason"].to_list())


def test_breaks_carry_items_rule_and_reason(sample_run: tuple[Path, dict[str, Any]]) -> None:
    home, _ = sample_run
    breaks = pl.read_parquet(home / "outputs" / DATE / "breaks.parquet")
    assert breaks["reason"].str.len_chars().min() > 20  # type: ignore[operator]
    amount = breaks.filter(pl.col("break_type") == "amount_mismatch")
    assert amount["counter_table"].to_list() == ["orders", "orders"]
    assert amount["closest_rule"].is_not_null().all()
    payout = breaks.filter(pl.col("break_type") == "payout_amount_mismatch").row(0, named=True)
    assert payout["amount_minor"] - payout["counter_amount_minor"] == 1000  # 10.00 MXN short
    assert payout["currency"] == "MXN"


def test_money_at_risk_is_the_difference_and_adds_up(sample_run: tuple[Path, dict[str, Any]]) -> None:
    """The 10.00 MXN payout shortfall is 10.00 MXN at risk (0.47 EUR), not the 4,413.14 EUR payout; summary.json
    adds the day's money at risk up (docs/money-at-risk.md); breaks name their files as received."""
    home, s = sample_run
    breaks = pl.read_parquet(home / "outputs" / DATE / "breaks.parquet")
    payout = breaks.filter(pl.col("break_type") == "payout_amount_mismatch").row(0, named=True)
    assert (payout["at_risk_minor"], payout["at_risk_currency"], payout["at_risk_reporting_minor"]) == (1000, "MXN", 47)
    assert payout["amount_reporting_minor"] == 441314  # the whole payout, converted: not what is at risk
    assert (payout["fx_rate"], payout["fx_rate_date"]) == (Decimal("21.3501"), DAY)
    assert (payout["file_name"], payout["counter_file_name"]) == (
        "payout_reconciliation_itemized_2026-11-26.csv",
        "camt053_2026-11-26.xml",
    )
    assert "(camt053_2026-11-26.xml line " in payout["reason"]
    assert (breaks["at_risk_minor"] >= 0).all() and breaks["at_risk_reporting_minor"].null_count() == 0
    # every item from a file names it; a reason naming where an item came from names the file
    assert breaks.filter(pl.col("file_id").is_not_null() & pl.col("file_name").is_null()).height == 0
    labelled = breaks.filter(pl.col("item_table") != "orders", pl.col("line_no").is_not_null())
    for r in labelled.iter_rows(named=True):
        assert f"({r['file_name']} line {r['line_no']}, {r['channel']})" in r["reason"]
    risk = s["money_at_risk"]
    assert risk["reporting_currency"] == "EUR" and risk["open_breaks"] == breaks.height == sum(EXPECTED_BREAKS.values())
    assert risk["total_reporting_minor"] == breaks["at_risk_reporting_minor"].sum() == 1061723
    assert risk["new"] == {"breaks": breaks.height, "at_risk_reporting_minor": 1061723}  # the first run: all new
    assert risk["carried"] == risk["closed"] == {"breaks": 0, "at_risk_reporting_minor": 0}
    rows = {(r["counterparty"], r["currency"]): r for r in risk["by_counterparty_currency"]}
    assert rows["stripe_eu", "MXN"] == {
        "counterparty": "stripe_eu",
        "currency": "MXN",
        "breaks": 2,
        "at_risk_minor": 1000 + 19600,  # the payout shortfall and a 196.00 MXN short payment
        "at_risk_reporting_minor": 47 + 918,
    }
    assert sum(r["at_risk_reporting_minor"] for r in rows.values()) == risk["total_reporting_minor"]
    assert sum(r["breaks"] for r in risk["by_aging"]) == sum(r["breaks"] for r in risk["by_sla"]) == breaks.height


def test_rerun_is_byte_identical(sample_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    home, _ = sample_run
    first = tree_bytes(home / "outputs" / DATE)
    assert {"matches.parquet", "breaks.csv", "positions.csv", "summary.json", "report.html"} <= set(first)
    pipeline.run_all(DAY, "nightly", str(home))  # same workspace: every file is a recorded no-op
    assert tree_bytes(home / "outputs" / DATE) == first
    pipeline.run_all(DAY, "nightly", str(tmp_path / "other"))  # a fresh workspace
    assert tree_bytes(tmp_path / "other" / "outputs" / DATE) == first


def test_channels_normalised_in_worker_processes_give_the_same_outputs(
    sample_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    home, _ = sample_run
    seconds: dict[str, float] = {}
    ids = pipeline.channel_ids(str(tmp_path / "parallel"))
    pulled = [pipeline.ingest_channel(c, str(tmp_path / "parallel")) for c in ids]
    pipeline.register_files(pulled, str(tmp_path / "parallel"))
    stale = tmp_path / "parallel" / "tmp" / "parsed" / "left-by-a-run-that-died.frame.arrow"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"not a frame")
    with pipeline.start_normalisers(2) as pool:
        statuses = pipeline.normalise_channels(ids, DAY, str(tmp_path / "parallel"), pool=pool, seconds=seconds)
    assert set(seconds) == set(ids) and all(s > 0 for s in seconds.values())
    assert not list(stale.parent.glob("*"))  # nothing parked is left, nor what an earlier run left
    assert len(statuses) == len(ids) and all(statuses)  # one list per channel, in order, each with its files
    assert [{s["channel"] for s in st} for st in statuses] == [{c} for c in ids]
    pipeline.record_statuses(statuses, str(tmp_path / "parallel"))
    pipeline.reconcile_and_publish(DAY, "nightly", str(tmp_path / "parallel"))
    assert tree_bytes(tmp_path / "parallel" / "outputs" / DATE) == tree_bytes(home / "outputs" / DATE)
    # the CLI path: run_all with two workers
    pipeline.run_all(DAY, "nightly", str(tmp_path / "cli"), workers=2)
    assert tree_bytes(tmp_path / "cli" / "outputs" / DATE) == tree_bytes(home / "outputs" / DATE)


def test_same_bytes_twice_is_a_recorded_noop(sample_run: tuple[Path, dict[str, Any]]) -> None:
    from pipelines.catalog.store import Catalog

    home, _ = sample_run
    deliveries = Catalog(home / "catalog.duckdb").deliveries()
    new = [d for d in deliveries if d["outcome"] == "new"]
    dup = [d for d in deliveries if d["outcome"] == "duplicate"]
    assert len(new) == SAMPLE_FILES  # the files of data_samples
    assert len(dup) >= SAMPLE_FILES and {d["file_id"] for d in dup} == {d["file_id"] for d in new}


def test_withdrawal_breaks_are_the_planted_items_with_feedback(
    sample_run: tuple[Path, dict[str, Any]], plan: Expected
) -> None:
    home, _ = sample_run
    out = home / "outputs" / DATE
    breaks = pl.read_parquet(out / "breaks.parquet").filter(pl.col("break_type").is_in(list(PLANTED_WITHDRAWAL_BREAKS)))
    names = dict(pl.read_parquet(out / "run_manifest.parquet").select("file_id", "file_name").iter_rows())
    got = {(r["break_type"], names[r["file_id"]], r["line_no"]) for r in breaks.iter_rows(named=True)}
    planted = {
        (c.kind, Path(c.item.file).name, c.item.line_no) for c in plan.cases if c.kind in PLANTED_WITHDRAWAL_BREAKS
    }
    assert got == planted and len(planted) == len(PLANTED_WITHDRAWAL_BREAKS)
    # every withdrawal break but the orderless debit gives an order-feedback row for its order
    feedback = pl.read_parquet(out / "order_feedback.parquet").filter(pl.col("order_id").str.starts_with("WDR-"))
    ordered = [c for c in plan.cases if c.kind in PLANTED_WITHDRAWAL_BREAKS and c.kind != "debit_without_withdrawal"]
    orders = {
        (c.counter if c.item.file.startswith("rails/") or c.item.file.startswith("bank/") else c.item) for c in ordered
    }
    assert set(feedback["order_id"]) == {o.ref for o in orders if o is not None}
    actions = dict(feedback.select("order_id", "action").iter_rows())
    returned = next(c for c in ordered if c.kind == "withdrawal_returned")
    assert returned.counter is not None and actions[returned.counter.ref] == "refund_to_wallet"


def test_withdrawal_rates_follow_the_bank_not_the_order_status(sample_run: tuple[Path, dict[str, Any]]) -> None:
    # from the plan: a withdrawal still within its rail's window (pending) has no verdict yet; one is executed when
    # the bank debited it (whatever the order system says), returned when the rail returned it
    from samplegen.plan import CLEAN_WITHDRAWALS, PLANTED_WITHDRAWALS, RAIL_METHODS
    from samplegen.rails import PENDING_TAGS

    decided = [w for w in (*CLEAN_WITHDRAWALS, *PLANTED_WITHDRAWALS) if w.tag not in PENDING_TAGS]
    execution: dict[str, tuple[int, int]] = {}
    returns: dict[str, tuple[int, int]] = {}
    for rail, method in enumerate(RAIL_METHODS):
        mine = [w for w in decided if w.rail == rail]
        executed = [w for w in mine if w.debits]
        execution[method] = (len(executed), len(mine))
        returns[method] = (sum(w.returned is not None for w in executed), len(executed))
    _, summary = sample_run
    rows = [r for r in summary["metrics"] if r["metric"] in ("withdrawal_execution_rate", "withdrawal_return_rate")]
    got = {(r["metric"], r["rail"]): (r["numerator"], r["denominator"]) for r in rows}
    assert got == {("withdrawal_execution_rate", k): v for k, v in execution.items()} | {
        ("withdrawal_return_rate", k): v for k, v in returns.items()
    }
    # the order system shows every PIX withdrawal as succeeded; one was never debited
    assert execution["pix"] == (4, 5)
