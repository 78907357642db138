"""Breaks over time, completeness and clearing on the four-day scenario (samplegen/scenario.py,
data_samples/scenario): files arrive day by day; orders settle late, a second orders extract and a Stripe report
come a day late (the day without the report is incomplete), a two-currency Adyen batch is paid in EUR but not in
GBP, a failed order is settled, payouts arrive T+1 and T+2 across a weekend and a holiday of one currency only,
one break is written off by hand and others close by themselves; withdrawals over SEPA, PIX and ACH are debited on
their day, a day late or never, twice, for another amount or from another account, rejected, timed out and
returned days later. Every day: each break and closure by type and reference, the invariants and the workspace's
coverage; the withdrawals' outcomes, breaks, order feedback, positions, fund verification and rates against an
expectation derived from the plan (``expected_order_outcome`` and what follows from it)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import PROJECT_ROOT, tree_bytes
from payout_helpers import group_break_id

from pipelines.catalog.store import Catalog
from pipelines.core import calendars
from pipelines.core.config import Settings
from pipelines.run import stages as pipeline
from pipelines.run.intake import coverage, workspace_units
from samplegen import scenario
from samplegen.plan import WITHDRAWAL_BREAK_TYPES

DAY1, DAY2, DAY3, DAY4 = scenario.DAYS
D1, D2, D3, D4 = (d.isoformat() for d in scenario.DAYS)
BAD_COVERAGE = {"not taken", "taken twice", "changed"}
GBP_PAYOUT = "PayPlatformEU-102-GBP"  # the GBP half of Adyen batch 102, whose bank credit never comes
STRIPE_MISSING = f"stripe_mx {D2}"  # Stripe's day-2 report comes with day 3's files


def _missing_file_break_id(channel: str, day: str) -> str:
    """The stable id of an ``expected_file_missing`` break (pipelines/run/completeness.py)."""
    return "B" + hashlib.sha256(f"expected_file_missing|{channel}|{day}".encode()).hexdigest()[:16]


@dataclass
class Scenario:
    """The workspace after the four days, and what each day's run published (its outputs as they were right
    after the run) with the coverage of the workspace at that moment."""

    home: Path
    rules: str
    snapshots: dict[str, dict[str, bytes]]
    coverage: dict[str, pl.DataFrame]

    def table(self, day: str, name: str) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self.snapshots[day][f"{name}.parquet"]))

    def summary(self, day: str) -> dict[str, Any]:
        return json.loads(self.snapshots[day]["summary.json"])

    def breaks(self, day: str) -> list[tuple[str, str, str]]:
        """(type, reference, status) of every break of the day."""
        return sorted(self.table(day, "breaks").select("break_type", "item_ref", "status").rows())

    def payin_breaks(self, day: str) -> pl.DataFrame:
        """The day's breaks but the withdrawals' (their item names a withdrawal or a debit no withdrawal explains)."""
        return self.table(day, "breaks").filter(~pl.col("item_ref").is_in(sorted(WITHDRAWAL_REFS)))

    def closures(self, day: str, before: str) -> list[tuple[str, str, str]]:
        """(type, reference, how it closed) of every break the run of ``day`` closed, each as the run of
        ``before`` (the previous one) showed it."""
        shown = self.table(before, "breaks").select("break_id", "break_type", "item_ref")
        closed = self.table(day, "closed_breaks").join(shown, on="break_id", how="left")
        assert closed["break_type"].null_count() == 0, "a closed break the previous run did not show"
        return sorted(closed.select("break_type", "item_ref", "closed_by").rows())


def _table(home: Path, day: str, name: str) -> pl.DataFrame:
    return pl.read_parquet(home / "outputs" / day / f"{name}.parquet")


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    data = tmp_path_factory.mktemp("scenario")
    home = tmp_path_factory.mktemp("home")
    rules = str(data / "rules")
    settings = Settings(home=home, rules=Path(rules))
    snapshots: dict[str, dict[str, bytes]] = {}
    covered: dict[str, pl.DataFrame] = {}
    for k, day in enumerate(scenario.DAYS):
        scenario.write_all(data, scenario.DAYS[: k + 1])  # the files of that day arrive
        pipeline.run_all(day, "nightly", str(home), rules)
        snapshots[day.isoformat()] = tree_bytes(home / "outputs" / day.isoformat())
        catalog = Catalog(settings.catalog_path)
        covered[day.isoformat()] = coverage(
            workspace_units(settings, catalog.file_statuses()), catalog.run_inputs(), day
        )
        if day.isoformat() == D2:
            amount = _table(home, D2, "breaks").filter(pl.col("break_type") == "amount_mismatch")
            pipeline.resolve_break(
                amount["break_id"][0], "write_off", "Adyen short-paid 1.00 EUR", "ana@ops", str(home), rules
            )
    return Scenario(home, rules, snapshots, covered)


@pytest.mark.parametrize("day", [D1, D2, D3, D4])
def test_every_day_proves_its_invariants_and_covers_every_row(days: Scenario, day: str) -> None:
    invariants = days.summary(day)["invariants"]
    assert "every_row_taken" in invariants
    assert {name: check["ok"] for name, check in invariants.items()} == {name: True for name in invariants}
    report = days.coverage[day]
    assert report.height > 0
    assert report.filter(pl.col("state").is_in(sorted(BAD_COVERAGE))).height == 0, report
    # the late units are the late file's and the late report's, each taken by the run after its date
    late = report.filter(pl.col("state") == "late").select("channel", "row_date", "taken_by", "late_days", "rows")
    late_file, late_report = ("orders", DAY1, DAY2, 1, 1), ("stripe_mx", DAY2, DAY3, 3, 1)
    expected = {D1: [], D2: [late_file], D3: [late_file, late_report], D4: [late_file, late_report]}
    assert late.sort("channel").rows() == expected[day]


@pytest.mark.parametrize("day", [D1, D3, D4])
def test_every_other_day_is_complete(days: Scenario, day: str) -> None:
    # every channel delivered for each of its delivery days, with a file that has no rows where nothing
    # happened: the day-1 bank statement has no entries, Stripe's day-4 report is a header alone
    assert days.summary(day)["completeness"] == {"complete": True, "missing_files": [], "reasons": []}


def test_files_without_rows_are_deliveries_of_their_day(days: Scenario) -> None:
    statuses = Catalog(days.home / "catalog.duckdb").file_statuses()
    empty = sorted((st.channel, st.status, st.assigned_date) for st in statuses.values() if st.rows_in == 0)
    assert empty == [("bank_eu", "staged", DAY1), ("stripe_mx", "staged", DAY4)]


def test_day_one_pending_is_not_a_break(days: Scenario) -> None:
    s = days.summary(D1)
    # A6's order has not come (its orders extract is late): its Adyen line is a break for now
    # T1 is pending in the order system, within its channel's timeout: pending, not a break
    # withdrawals: W1, W3 and W4 wait for their debits (pending), W2 timed out (a break), the 4 reports matched;
    # one more FX rate (BRL)
    assert s["outcomes"] == {"break": 3 + 1, "matched": 6 + 4, "pending": 4 + 3, "reference": 3 + 1}
    assert s["rows_in"]["bank_statement_lines"] == 0  # the bank statement of a day without credits nor debits
    assert s["intake"]["late"] == []
    assert days.breaks(D1) == sorted(
        [("amount_mismatch", "8815000000000002", "open"), ("psp_line_without_order", "8815000000000006", "open")]
        + expected_withdrawal_breaks(DAY1)
    )
    assert days.table(D1, "closed_breaks").height == 0
    funds = days.table(D1, "fund_verification").filter(pl.col("direction") == "payin")
    # Stripe T+2 from Thursday: USD (NYSE) on Monday, MXN on Tuesday as Monday is a Mexican holiday
    assert funds.select("counterparty", "currency", "value_date", "expected_minor", "status").rows() == [
        ("adyen_eu", "EUR", dt.date(2026, 11, 13), 17225, "not_due"),
        ("stripe_mx", "USD", dt.date(2026, 11, 16), 4365, "not_due"),
        ("stripe_mx", "MXN", dt.date(2026, 11, 17), 97000, "not_due"),
    ]


def test_day_two_late_file_missing_report_and_a_new_break(days: Scenario) -> None:
    s = days.summary(D2)
    # T1 among them (still within its timeout), and W1 to W4 (pending, or W2 timed out)
    assert s["carried_forward_in"] == 10 + 4
    assert days.breaks(D2) == sorted(
        [
            ("amount_mismatch", "8815000000000002", "open"),
            ("expected_file_missing", STRIPE_MISSING, "open"),
            ("order_not_settled", "S2", "open"),
        ]
        + expected_withdrawal_breaks(DAY2)
    )
    # the late orders extract brings A6's order: its Adyen line of day 1 matches it (and W2's debit closes its
    # order_timeout: expected_withdrawal_closures)
    assert days.closures(D2, D1) == sorted(
        [("psp_line_without_order", "8815000000000006", "matched")] + expected_withdrawal_closures(DAY2)
    )
    closed = days.table(D2, "closed_breaks").sort("rule_id")
    assert closed["rule_id"].to_list() == ["order_psp_reference_exact", "withdrawal_debit_end_to_end"]
    breaks = days.payin_breaks(D2).sort("break_type")
    assert breaks.select("break_type", "item_ref", "first_seen", "age_days", "aging_bucket", "status").rows() == [
        ("amount_mismatch", "8815000000000002", dt.date(2026, 11, 12), 1, "0-1", "open"),
        ("expected_file_missing", STRIPE_MISSING, dt.date(2026, 11, 13), 0, "0-1", "open"),
        ("order_not_settled", "S2", dt.date(2026, 11, 13), 0, "0-1", "open"),
    ]
    missing = breaks.filter(pl.col("break_type") == "expected_file_missing")
    assert missing.select("break_id", "channel", "item_count").rows() == [
        (_missing_file_break_id("stripe_mx", D2), "stripe_mx", 0)
    ]
    assert breaks.filter(pl.col("break_type") != "expected_file_missing")["sla_status"].to_list() == [
        "within",
        "within",
    ]
    # late file: the second orders extract of day 1 is taken today and flagged late
    assert s["intake"]["late"] == [{"channel": "orders", "lag_days": 1, "row_date": D1, "rows": 1}]
    manifest = days.table(D2, "run_manifest").filter(pl.col("rows_late") > 0)
    assert manifest.select("file_name", "rows_in", "rows_late", "late_days", "first_row_date").rows() == [
        (f"orders_{D1}_2.csv", 1, 1, 1, DAY1)
    ]
    # missing file: Stripe's report of the day has not come
    assert s["completeness"] == {
        "complete": False,
        "missing_files": [
            {"arrived_files": 0, "channel": "stripe_mx", "due": D2, "expected_date": D2, "expected_files": 1}
        ],
        "reasons": [f"stripe_mx: 0 of 1 file(s) for {D2}"],
    }
    matched = set(days.table(D2, "matches")["item_ref"].to_list())
    assert {"A3", "A6", "A7"} <= matched  # pending yesterday, settled today; the late order; the GBP order
    assert "S3" not in matched  # its Stripe line is in the report that has not come
    feedback = days.table(D2, "order_feedback").filter(~pl.col("order_id").is_in(sorted(WITHDRAWAL_REFS)))
    assert feedback.select("order_id", "internal_status", "suggested_status").rows() == [
        ("S2", "succeeded", "unsettled")
    ]
    funds = days.table(D2, "fund_verification").filter(pl.col("direction") == "payin")
    assert funds.select(
        "counterparty", "currency", "value_date", "expected_minor", "received_minor", "status"
    ).rows() == [
        ("adyen_eu", "EUR", dt.date(2026, 11, 13), 17225, 17225, "received"),
        ("adyen_eu", "EUR", dt.date(2026, 11, 16), 4950, 0, "not_due"),
        ("adyen_eu", "GBP", dt.date(2026, 11, 16), 3960, 0, "not_due"),  # pending until its value date
        ("stripe_mx", "USD", dt.date(2026, 11, 16), 4365, 0, "not_due"),
        ("stripe_mx", "MXN", dt.date(2026, 11, 17), 97000, 0, "not_due"),
    ]


def test_day_three_breaks_close_and_the_gbp_payout_breaks(days: Scenario) -> None:
    s = days.summary(D3)
    assert days.breaks(D3) == sorted(
        [
            ("amount_mismatch", "8815000000000002", "resolved"),
            ("order_timeout", "T1", "open"),
            ("payout_without_bank_credit", GBP_PAYOUT, "open"),
        ]
        + expected_withdrawal_breaks(DAY3)
    )
    # S2 settles by itself, the written-off break is closed, the late Stripe report clears the missing file (and
    # W4's late debit closes its withdrawal_not_executed)
    assert days.closures(D3, D2) == sorted(
        [
            ("amount_mismatch", "8815000000000002", "resolved"),
            ("expected_file_missing", STRIPE_MISSING, "cleared"),
            ("order_not_settled", "S2", "matched"),
        ]
        + expected_withdrawal_closures(DAY3)
    )
    closed = days.table(D3, "closed_breaks").sort("closed_by", "rule_id")
    assert closed.select("closed_by", "rule_id").rows() == [
        ("cleared", None),
        ("matched", "order_psp_reference_exact"),
        ("matched", "withdrawal_debit_end_to_end"),
        ("resolved", None),
    ]
    assert closed.filter(pl.col("closed_by") == "cleared")["break_id"].to_list() == [
        _missing_file_break_id("stripe_mx", D2)
    ]
    breaks = days.table(D3, "breaks")
    assert breaks.filter(pl.col("status") == "resolved").select(
        "break_type", "resolution_action", "resolved_by"
    ).rows() == [("amount_mismatch", "write_off", "ana@ops")]
    # the late report's row is taken today, flagged late, and its order matched
    assert s["completeness"]["complete"] is True
    assert s["intake"]["late"] == [{"channel": "stripe_mx", "lag_days": 3, "row_date": D2, "rows": 1}]
    manifest = days.table(D3, "run_manifest").filter(pl.col("rows_late") > 0)
    assert manifest.select("file_name", "rows_late", "late_days", "first_row_date").rows() == [
        (f"payout_reconciliation_itemized_{D2}.csv", 1, 3, DAY2)
    ]
    assert {"S2", "S3"} <= set(days.table(D3, "matches")["item_ref"].to_list())
    # the failed order A8 is pending on its day (within its one-day window): no break, no feedback; T1 timed out
    # (and the withdrawals waiting for their debits are pending)
    outcomes = days.table(D3, "outcomes")
    pending_orders = outcomes.filter(pl.col("item_table") == "orders", pl.col("outcome") == "pending")
    waiting = [(w.amount, w.currency) for w in scenario.WITHDRAWALS if expected_order_outcome(w, DAY3) == "pending"]
    assert sorted(pending_orders.select("amount_minor", "currency").rows()) == sorted([(1500, "EUR"), *waiting])
    feedback = days.table(D3, "order_feedback").filter(~pl.col("order_id").is_in(sorted(WITHDRAWAL_REFS)))
    assert feedback.select("order_id", "internal_status", "suggested_status").rows() == [("T1", "pending", "expired")]
    positions = days.table(D3, "positions").filter(pl.col("direction") == "payin").sort("counterparty", "value_date")
    # S2 settled on the Mexican holiday: its payout is due two Mexican business days after the 17th; the late
    # Stripe report's payout is counted today
    assert positions.select("counterparty", "currency", "value_date", "net_expected_minor").rows() == [
        ("adyen_eu", "EUR", dt.date(2026, 11, 17), 990),
        ("stripe_mx", "MXN", dt.date(2026, 11, 18), 19400),
        ("stripe_mx", "MXN", dt.date(2026, 11, 19), 48500),
    ]


def test_two_currency_batch_gbp_credit_missing_eur_unaffected(days: Scenario) -> None:
    # batch 102 (Friday) pays out EUR and GBP, T+1 on TARGET2 and London days: both due Monday 11-16
    for day in (D2, D3, D4):
        payouts = days.table(day, "breaks").filter(pl.col("break_type") == "payout_without_bank_credit")
        if day == D2:
            assert payouts.height == 0  # pending until its value date
            continue
        assert payouts.select("break_id", "item_ref", "amount_minor", "currency", "first_seen").rows() == [
            (group_break_id("adyen_eu", GBP_PAYOUT), GBP_PAYOUT, 3960, "GBP", DAY3)
        ]
    matches = days.table(D3, "matches").filter(pl.col("rule_id") == "payout_batch_to_bank_credit")
    eur = matches.filter(
        pl.col("match_id") == matches.filter(pl.col("item_ref") == "PayPlatformEU-102-EUR")["match_id"]
    )
    assert sorted(eur.select("item_table", "item_ref", "amount_minor", "currency").rows()) == [
        ("bank_statement_lines", "PayPlatformEU-102", 4950, "EUR"),  # the credit names the batch
        ("psp_settlement_lines", "8815000000000003", 2970, "EUR"),
        ("psp_settlement_lines", "8815000000000004", 1980, "EUR"),
        ("psp_settlement_lines", "PayPlatformEU-102-EUR", 0, "EUR"),
    ]
    assert GBP_PAYOUT not in matches["item_ref"].to_list()
    funds = days.table(D3, "fund_verification").filter(
        pl.col("value_date") == DAY3, pl.col("counterparty") == "adyen_eu"
    )
    assert funds.select("currency", "expected_minor", "received_minor", "status").rows() == [
        ("EUR", 4950, 4950, "received"),
        ("GBP", 3960, 0, "missing"),
    ]
    age = days.table(D4, "breaks").filter(pl.col("item_ref") == GBP_PAYOUT)
    assert age.select("first_seen", "age_days", "status").rows() == [(DAY3, 1, "open")]


def test_holiday_of_one_currency_only(days: Scenario) -> None:
    # Stripe's Thursday payouts, T+2: USD on NYSE days is due Monday 11-16, MXN is not (Mexican holiday): on
    # day 3 the USD credit is received and the MXN payout is not due, nor a break; on day 4 it is received
    funds = days.table(D3, "fund_verification").filter(pl.col("counterparty") == "stripe_mx")
    assert funds.select("currency", "value_date", "received_minor", "status").rows() == [
        ("USD", dt.date(2026, 11, 16), 4365, "received"),
        ("MXN", dt.date(2026, 11, 17), 0, "not_due"),
        ("MXN", dt.date(2026, 11, 18), 0, "not_due"),
        ("MXN", dt.date(2026, 11, 19), 0, "not_due"),
    ]
    assert "po_MX20261112" not in days.table(D3, "breaks")["item_ref"].to_list()
    assert "po_US20261112" in days.table(D3, "matches")["item_ref"].to_list()
    day4 = days.table(D4, "fund_verification").filter(
        pl.col("value_date") == DAY4, pl.col("counterparty") == "stripe_mx"
    )
    assert day4.select("currency", "expected_minor", "received_minor", "status").rows() == [
        ("MXN", 97000, 97000, "received")
    ]


def test_day_four_failed_order_settled_and_payouts_received(days: Scenario) -> None:
    s = days.summary(D4)
    assert s["breaks"]["total"] == 3 + len(expected_withdrawal_breaks(DAY4))
    assert days.breaks(D4) == sorted(
        [
            ("order_timeout", "T1", "open"),
            ("payout_without_bank_credit", GBP_PAYOUT, "open"),
            ("status_mismatch", "8815000000000008", "open"),
        ]
        + expected_withdrawal_breaks(DAY4)
    )
    # W13's order_timeout became withdrawal_not_executed under the same id: not a closure
    assert days.table(D4, "closed_breaks").height == 0
    assert s["intake"]["late"] == []
    # A8 failed in the order system, yet Adyen settled it a business day later
    feedback = days.table(D4, "order_feedback").filter(~pl.col("order_id").is_in(sorted(WITHDRAWAL_REFS)))
    assert feedback.select("order_id", "internal_status", "settled_as", "suggested_status").rows() == [
        ("A8", "failed", "settled", "succeeded"),
        ("T1", "pending", "not_settled", "expired"),
    ]
    status = days.payin_breaks(D4).filter(pl.col("break_type").is_in(["status_mismatch", "order_timeout"]))
    assert sorted(feedback["break_id"].to_list()) == sorted(status["break_id"].to_list())
    funds = days.table(D4, "fund_verification").filter(pl.col("direction") == "payin")
    assert funds.select("counterparty", "currency", "value_date", "status").rows() == [
        ("adyen_eu", "EUR", dt.date(2026, 11, 13), "received"),
        ("adyen_eu", "EUR", dt.date(2026, 11, 16), "received"),
        ("adyen_eu", "GBP", dt.date(2026, 11, 16), "missing"),
        ("stripe_mx", "USD", dt.date(2026, 11, 16), "received"),
        ("adyen_eu", "EUR", dt.date(2026, 11, 17), "received"),
        ("stripe_mx", "MXN", dt.date(2026, 11, 17), "received"),
        ("adyen_eu", "EUR", dt.date(2026, 11, 18), "not_due"),
        ("stripe_mx", "MXN", dt.date(2026, 11, 18), "not_due"),
        ("stripe_mx", "MXN", dt.date(2026, 11, 19), "not_due"),
    ]


@pytest.fixture(scope="module")
def rerun(days: Scenario) -> dict[str, dict[str, bytes]]:
    """Re-run day 2 and every later day (the late Stripe report stays with day 3, which took it); the
    outputs of every day afterwards."""
    results = pipeline.rerun_from(DAY2, str(days.home), days.rules)
    assert [r["business_date"] for r in results] == [D2, D3, D4]
    return {d: tree_bytes(days.home / "outputs" / d) for d in (D1, D2, D3, D4)}


def test_rerun_of_day_two_changes_only_what_should(days: Scenario, rerun: dict[str, dict[str, bytes]]) -> None:
    home, rules, before, after = days.home, days.rules, days.snapshots, rerun
    assert after[D1] == before[D1]
    for day in (D2, D3, D4):
        for name in ("matches.parquet", "positions.parquet", "fund_verification.parquet"):
            assert after[day][name] == before[day][name], f"{day} {name}"
    labels = {"summary.json", "report.html", "run_manifest.csv", "run_manifest.parquet"}  # carry mode and run id
    labels |= {".catalog/run.json", ".catalog/break_log.parquet", ".catalog/break_closures.parquet"}
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
    d3 = _table(home, D3, "breaks").filter(~pl.col("item_ref").is_in(sorted(WITHDRAWAL_REFS)))
    assert d3.select("break_type", "item_ref").rows() == [
        ("order_timeout", "T1"),
        ("payout_without_bank_credit", GBP_PAYOUT),
    ]
    # history is not duplicated: one break_log row per break and date, one resolution in the audit log
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


def test_rerun_keeps_the_missing_report_of_day_two(days: Scenario, rerun: dict[str, dict[str, bytes]]) -> None:
    # the re-run of day 2 takes the same units as before (the late report stays with day 3): still incomplete,
    # and day 3 still clears the break
    summary = json.loads(rerun[D2]["summary.json"])
    assert summary["completeness"] == days.summary(D2)["completeness"]
    missing = _missing_file_break_id("stripe_mx", D2)
    assert missing in pl.read_parquet(io.BytesIO(rerun[D2]["breaks.parquet"]))["break_id"].to_list()
    closed = pl.read_parquet(io.BytesIO(rerun[D3]["closed_breaks.parquet"]))
    assert closed.filter(pl.col("break_id") == missing)["closed_by"].to_list() == ["cleared"]


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
    assert _summary(home, D1)["rows_in"]["orders"] == 7 + sum(w.day == DAY1 for w in scenario.WITHDRAWALS)
    pipeline.resolve_break(replaced["break_id"][0], "accept", "provider resent by mistake", "ana@ops", str(home), rules)
    pipeline.reconcile_and_publish(DAY2, "rerun", str(home), rules)
    assert _table(home, D2, "breaks").filter(pl.col("break_type") == "file_replaced")["status"].to_list() == [
        "resolved"
    ]


def _summary(home: Path, day: str) -> dict[str, Any]:
    return json.loads((home / "outputs" / day / "summary.json").read_text())


# --------------------------------------------------------------------------------------------------------------
# order timeouts and the metrics of each day, derived from the scenario's plan (samplegen/scenario.py)
# --------------------------------------------------------------------------------------------------------------
def _day_end_utc(day: dt.date, tz: str) -> dt.datetime:
    """The end of a business day with a midnight cut-off in ``tz``: the next local midnight, in UTC."""
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


def _timeout_day(order: scenario.Order) -> dt.date | None:
    """The first scenario day whose run finds ``order`` (pending) past its channel's pay-in timeout."""
    minutes = scenario.TIMEOUTS[order.channel]["payin_minutes"]
    deadline = order.created_at + dt.timedelta(minutes=minutes)
    return next((d for d in scenario.DAYS if deadline <= _day_end_utc(d, "Europe/Amsterdam")), None)


def test_pending_order_times_out_and_is_aged(days: Scenario) -> None:
    pending = [o for o in scenario.ORDERS if o.status == "pending"]
    assert pending, "the scenario plans an order that times out"
    for order in pending:
        timed_out = _timeout_day(order)
        assert timed_out is not None
        for day in scenario.DAYS:
            breaks = days.table(day.isoformat(), "breaks").filter(pl.col("item_ref") == order.order_id)
            if day < timed_out:  # pending (carried), not a break
                assert breaks.height == 0, day
                outcome = days.table(day.isoformat(), "outcomes").filter(
                    pl.col("item_table") == "orders", pl.col("amount_minor") == order.amount
                )
                assert "pending" in outcome["outcome"].to_list(), day
                continue
            assert breaks.select("break_type", "first_seen", "age_days", "status", "amount_minor").rows() == [
                ("order_timeout", timed_out, (day - timed_out).days, "open", order.amount)
            ], day
            feedback = days.table(day.isoformat(), "order_feedback").filter(pl.col("order_id") == order.order_id)
            assert feedback.select("internal_status", "settled_as", "suggested_status", "break_id").rows() == [
                ("pending", "not_settled", "expired", breaks["break_id"][0])
            ]


def _nearest_rank(values: list[int], q: float) -> int:
    """The nearest-rank percentile (DuckDB's quantile_disc): the ceil(n q)-th smallest value."""
    import math

    ordered = sorted(values)
    return ordered[max(math.ceil(len(ordered) * q) - 1, 0)]


def _rate(n: int, d: int) -> Decimal:
    return (Decimal(n) / Decimal(d)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def _metric_rows(days: Scenario, day: str, metric: str, group_by: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    m = days.table(day, "metrics").filter(pl.col("metric") == metric, pl.col("group_by") == group_by)
    keys = ["statistic", *[c for c in group_by.split(",") if c != "all"]]
    return {
        tuple(r[k] for k in keys): (r["numerator"], r["denominator"], r["value"], r["amount_minor"])
        for r in m.iter_rows(named=True)
    }


def _taken_orders(day: dt.date) -> list[scenario.Order | scenario.Withdrawal]:
    """The orders the run of ``day`` takes: those whose orders file arrives with that day's files (the withdrawals
    are in the first extract of their day)."""
    payins = [o for o in scenario.ORDERS if scenario.arrival("orders", o.day, o.extract) == day]
    return [*payins, *(w for w in scenario.WITHDRAWALS if scenario.arrival("orders", w.day) == day)]


def _direction(o: scenario.Order | scenario.Withdrawal) -> str:
    return "withdrawal" if isinstance(o, scenario.Withdrawal) else "payin"


@pytest.mark.parametrize("day", scenario.DAYS)
def test_payment_success_rate_of_each_day(days: Scenario, day: dt.date) -> None:
    # by the order status: the withdrawals' execution by the bank is withdrawal_execution_rate's
    taken = _taken_orders(day)
    dims: dict[str, Callable[[scenario.Order | scenario.Withdrawal], str]] = {
        "direction,channel": lambda o: o.channel,
        "direction,payment_method": lambda o: o.payment_method,
        "direction,country": lambda o: o.country,
        "direction,currency": lambda o: o.currency,
        "direction": lambda o: "",
    }
    for group_by, key in dims.items():
        expected: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for direction, k in sorted({(_direction(o), key(o)) for o in taken}):
            mine = [o for o in taken if (_direction(o), key(o)) == (direction, k)]
            n = sum(o.status in ("succeeded", "refunded") for o in mine)
            group = ("rate", direction, k) if k else ("rate", direction)
            expected[group] = (n, len(mine), _rate(n, len(mine)), None)
        assert _metric_rows(days, day.isoformat(), "payment_success_rate", group_by) == expected, group_by


def _psp_arrival(s: scenario.Settlement) -> dt.date:
    return scenario.arrival("adyen" if s.order.channel == "adyen_eu" else "stripe", s.day)


def _booked_utc(s: scenario.Settlement) -> dt.datetime:
    """When the PSP booked the line (Adyen: 12:00 CET, Stripe: 15:00 UTC), as the scenario writes it."""
    hour = 11 if s.order.channel == "adyen_eu" else 15
    return dt.datetime.combine(s.day, dt.time(hour), tzinfo=dt.UTC)


@pytest.mark.parametrize("day", scenario.DAYS)
def test_settlement_latency_of_each_day(days: Scenario, day: dt.date) -> None:
    # created -> booked: the orders matched today (both sides here, same amount, a settling status)
    matched = [
        s
        for s in scenario.SETTLEMENTS
        if max(_psp_arrival(s), scenario.arrival("orders", s.order.day, s.order.extract)) == day
        and s.gross == s.order.amount
        and s.order.status in ("succeeded", "refunded")
    ]
    groups: dict[tuple[str, str], list[int]] = {}
    for s in matched:
        minutes = (_booked_utc(s) - s.order.created_at) // dt.timedelta(minutes=1)
        groups.setdefault((s.order.channel, s.order.currency), []).append(minutes)
    expected = {
        (stat, "payin", ch, cur): (None, len(v), Decimal(value), None)
        for (ch, cur), v in groups.items()
        for stat, value in (("p50", _nearest_rank(v, 0.5)), ("p95", _nearest_rank(v, 0.95)), ("max", max(v)))
    }
    got = _metric_rows(days, day.isoformat(), "settlement_latency_booking", "direction,channel,currency")
    assert got == expected
    # booked -> bank value date: the payment lines of the payouts whose bank credit came today
    paid = {
        p.payout_id: p
        for p in scenario.payouts()
        if p.value_date == day and p.payout_id not in scenario.MISSING_CREDITS
    }
    lines: dict[tuple[str, str], list[int]] = {}
    for p in paid.values():
        for s in scenario.SETTLEMENTS:
            if s.day == p.day and s.order.channel == p.channel and s.order.currency == p.currency:
                lines.setdefault((p.channel, p.currency), []).append((p.value_date - s.day).days)
    by_value_date: dict[tuple[Any, ...], tuple[Any, ...]] = {
        (stat, ch, cur): (None, len(v), Decimal(value), None)
        for (ch, cur), v in lines.items()
        for stat, value in (("p50", _nearest_rank(v, 0.5)), ("p95", _nearest_rank(v, 0.95)), ("max", max(v)))
    }
    assert _metric_rows(days, day.isoformat(), "settlement_latency_value_date", "channel,currency") == by_value_date


@pytest.mark.parametrize("day", [D1, D2, D3, D4])
def test_money_at_risk_new_carried_and_closed(days: Scenario, day: str) -> None:
    """summary.json's money_at_risk (docs/money-at-risk.md) adds up the day's open breaks, splits them into new and
    carried by first seen, and counts the breaks the run closed with the money the previous run showed at risk."""
    risk = days.summary(day)["money_at_risk"]
    breaks = days.table(day, "breaks")
    open_breaks = breaks.filter(pl.col("status") == "open")
    assert risk["open_breaks"] == open_breaks.height
    assert risk["total_reporting_minor"] == open_breaks["at_risk_reporting_minor"].drop_nulls().sum()
    new = open_breaks.filter(pl.col("first_seen") == dt.date.fromisoformat(day))
    assert risk["new"]["breaks"] == new.height
    assert risk["carried"]["breaks"] == open_breaks.height - new.height
    assert (
        risk["new"]["at_risk_reporting_minor"] + risk["carried"]["at_risk_reporting_minor"]
        == (risk["total_reporting_minor"])
    )
    per_currency: dict[str, int] = {}
    for r in risk["by_counterparty_currency"]:
        per_currency[r["currency"]] = per_currency.get(r["currency"], 0) + r["at_risk_minor"]
    got = _metric_rows(days, day, "money_at_risk", "currency")  # the metric is the same figure per currency
    assert {k[1]: v[3] for k, v in got.items()} == {c: a for c, a in per_currency.items() if c != "XXX"}
    closed = days.table(day, "closed_breaks")
    assert risk["closed"] == {
        "breaks": closed.height,
        "at_risk_reporting_minor": closed["at_risk_reporting_minor"].drop_nulls().sum(),
    }
    if day == D1:
        assert closed.height == 0
        return
    before = days.table(scenario.DAYS[scenario.DAYS.index(dt.date.fromisoformat(day)) - 1].isoformat(), "breaks")
    shown = closed.join(before, on="break_id", how="left", suffix="_before")
    assert (
        shown.select("break_type", "at_risk_minor", "at_risk_currency").rows()
        == shown.select("break_type_before", "at_risk_minor_before", "at_risk_currency_before").rows()
    )
    if day == D3:  # A2's short payment written off by hand (its gap), S2 settled (its amount), the file arrived (0)
        a2 = next(s for s in scenario.SETTLEMENTS if s.order.order_id == "A2")
        s2 = next(o for o in scenario.ORDERS if o.order_id == "S2")
        payins = closed.filter(~pl.col("item_ref").is_in(sorted(WITHDRAWAL_REFS))).sort("break_type")
        assert payins.select("break_type", "closed_by", "resolved_by", "at_risk_minor", "at_risk_currency").rows() == [
            ("amount_mismatch", "resolved", "ana@ops", a2.order.amount - a2.gross, "EUR"),
            ("expected_file_missing", "cleared", None, 0, "XXX"),
            ("order_not_settled", "matched", None, s2.amount, "MXN"),
        ]


@pytest.mark.parametrize("day", [D1, D2, D3, D4])
def test_match_and_break_rates_money_at_risk_and_time_to_resolve(days: Scenario, day: str) -> None:
    outcomes = days.summary(day)["outcomes"]
    reconciled = sum(outcomes.get(k, 0) for k in ("matched", "break", "pending", "no_settlement_expected"))
    for metric, outcome in (("match_rate", "matched"), ("break_rate", "break")):
        n = outcomes.get(outcome, 0)
        assert _metric_rows(days, day, metric, "all") == {("rate",): (n, reconciled, _rate(n, reconciled), None)}
    # money at risk of the open breaks, from the plan: A2's short payment (the difference) on day 1 and 2, A6's
    # Adyen line without its order (the line's net) on day 1, S2 unsettled on day 2, T1 and the GBP payout after
    a2 = next(s for s in scenario.SETTLEMENTS if s.order.order_id == "A2")
    a6 = next(s for s in scenario.SETTLEMENTS if s.order.order_id == "A6")
    s2 = next(o for o in scenario.ORDERS if o.order_id == "S2")
    t1 = next(o for o in scenario.ORDERS if o.order_id == "T1")
    a8 = next(s for s in scenario.SETTLEMENTS if s.order.order_id == "A8")
    gbp = next(p for p in scenario.payouts() if p.payout_id == GBP_PAYOUT)
    at_risk = {
        D1: {"EUR": a2.order.amount - a2.gross + (a6.gross - a6.fee)},
        D2: {"EUR": a2.order.amount - a2.gross, "MXN": s2.amount},
        D3: {"EUR": t1.amount, "GBP": gbp.net},
        D4: {"EUR": t1.amount + a8.gross, "GBP": gbp.net},  # A8: the settled gross its status disputes
    }[day]
    for currency, amount in expected_withdrawal_at_risk(dt.date.fromisoformat(day)).items():
        at_risk[currency] = at_risk.get(currency, 0) + amount
    got = _metric_rows(days, day, "money_at_risk", "currency")
    assert {k[1]: v[3] for k, v in got.items()} == at_risk
    # time to resolve: business days from first seen to the run that closed it (matched, cleared, resolved)
    ttr = {
        D1: [],
        D2: [(DAY2 - DAY1).days],  # A6's line matched its late order
        D3: [(DAY3 - DAY1).days, (DAY3 - DAY2).days, (DAY3 - DAY2).days],  # A2 written off; S2; the missing file
        D4: [],
    }[day]
    # and the withdrawals' breaks their debit closed: W2's order_timeout on day 2, W4's on day 3
    ttr += [(d - first).days for d, first in expected_withdrawal_resolutions() if d.isoformat() == day]
    expected = (
        {
            ("max",): (None, len(ttr), Decimal(max(ttr)), None),
            ("p50",): (None, len(ttr), Decimal(_nearest_rank(ttr, 0.5)), None),
        }
        if ttr
        else {}
    )
    assert _metric_rows(days, day, "time_to_resolve", "all") == expected


def test_metrics_are_committed_with_the_run_and_trend_in_the_report(days: Scenario) -> None:
    cat = Catalog(days.home / "catalog.duckdb")
    with cat.connect(read_only=True) as con:
        logged = con.execute("SELECT as_of_date, count(*) FROM metric_log GROUP BY 1 ORDER BY 1").fetchall()
    assert [d for d, _ in logged] == list(scenario.DAYS)
    for day, n in logged:  # as published now (the re-run of day 2 may have run before this test)
        assert n == _table(days.home, day.isoformat(), "metrics").height
        rows = pl.read_parquet(days.home / "outputs" / day.isoformat() / ".catalog" / "metric_log.parquet")
        assert rows.height == n
    report = days.snapshots[D4]["report.html"].decode()
    assert "Trend over the last runs (4)" in report
    assert all(d in report for d in (D1, D2, D3, D4))
    summary = days.summary(D4)["metrics"]
    assert {"metric": "payment_success_rate", "statistic": "rate", "group_by": "direction"}.items() <= summary[
        next(i for i, r in enumerate(summary) if r["metric"] == "payment_success_rate" and r["group_by"] == "direction")
    ].items()


# --------------------------------------------------------------------------------------------------------------
# withdrawals, against an expectation derived from the plan (samplegen/scenario.py WITHDRAWALS)
# --------------------------------------------------------------------------------------------------------------
WITHDRAWAL_REFS = {w.order_id for w in scenario.WITHDRAWALS} | {d.end_to_end_id for d in scenario.OTHER_DEBITS}
VERDICTS = ("matched", "withdrawal_not_executed", "withdrawal_amount_mismatch", "withdrawal_currency_mismatch")
OWED = ("succeeded", "pending", "refunded")


def _previous(day: dt.date) -> dt.date | None:
    k = scenario.DAYS.index(day)
    return scenario.DAYS[k - 1] if k else None


def _window_due(w: scenario.Withdrawal) -> dt.date:
    """The business day by which the rail's window for a debit has passed (its window from the order's day)."""
    s = scenario.RAIL_SETTLEMENT[w.channel]
    return calendars.add_business_days(w.day, s["window_business_days"], s["calendar"])


def _timed_out(w: scenario.Withdrawal, day: dt.date) -> bool:
    """A withdrawal pending in the order system past its channel's timeout by the end of ``day`` (rail's zone)."""
    minutes = scenario.TIMEOUTS[w.channel]["withdrawal_minutes"]
    deadline = w.created_at + dt.timedelta(minutes=minutes)
    return w.status == "pending" and deadline <= _day_end_utc(day, scenario.RAILS[w.rail].timezone)


def expected_order_outcome(w: scenario.Withdrawal, day: dt.date | None) -> str | None:
    """What the run of ``day`` finds for the order of ``w`` (None: not created yet). A failed one matches its
    rejection; one whose debit is booked by then matches it (a break when the debit is for another amount or from
    another currency's account); without a debit it is withdrawal_not_executed once its rail's window has passed,
    whatever its timeout (the verdict comes first), before that an order_timeout if the order system shows it
    pending past its channel's timeout and no rejection names it, else pending."""
    if day is None or w.day > day:
        return None
    if w.status == "failed":
        return "matched"
    debit = next((d for d in w.debits if d.day <= day), None)
    if debit is not None:
        if debit.currency not in (None, w.currency):
            return "withdrawal_currency_mismatch"
        if debit.amount not in (None, w.amount):
            return "withdrawal_amount_mismatch"
        return "matched"
    if _window_due(w) <= day:
        return "withdrawal_not_executed"
    if _timed_out(w, day) and w.report != "RJCT":
        return "order_timeout"
    return "pending"


def _in_run(w: scenario.Withdrawal, day: dt.date) -> bool:
    """The order is among the run's items: taken on its day, or carried (pending or in a break) from the last."""
    return w.day == day or (w.day < day and expected_order_outcome(w, _previous(day)) != "matched")


def _withdrawal_breaks(day: dt.date) -> list[tuple[str, scenario.Withdrawal | None, str, int]]:
    """(type, withdrawal, currency, amount at risk) of every withdrawal break open after the run of ``day``: on
    the order (its verdict or its timeout), on its debits (rejected but debited, the second one, another amount or
    account), on the rail's reports (a rejection the order contradicts, a return not refunded yet), and the debits
    no withdrawal explains. None is resolved by hand, so each stays open until its item matches."""
    out: list[tuple[str, scenario.Withdrawal | None, str, int]] = []
    for w in scenario.WITHDRAWALS:
        if w.day > day:
            continue
        outcome = expected_order_outcome(w, day)
        booked = [d for d in w.debits if d.day <= day]
        if outcome in ("order_timeout", "withdrawal_not_executed"):
            out.append((str(outcome), w, w.currency, w.amount))
        elif outcome == "withdrawal_amount_mismatch":  # the debit's gap to the order (docs/money-at-risk.md)
            gap = abs((booked[0].amount or w.amount) - w.amount)
            out.append((str(outcome), w, booked[0].currency or w.currency, gap))
        elif outcome == "withdrawal_currency_mismatch":
            out.append((str(outcome), w, booked[0].currency or w.currency, booked[0].amount or w.amount))
        if w.status == "failed" and booked:
            out.append(("withdrawal_rejected_but_debited", w, w.currency, w.amount))
        if len(booked) > 1:
            out.append(("withdrawal_debited_twice", w, w.currency, booked[1].amount or w.amount))
        if w.report == "RJCT" and w.status != "failed":
            out.append(("withdrawal_status_mismatch", w, w.currency, w.amount))
        if w.returned is not None and w.returned[0] <= day and w.status != "refunded":
            out.append(("withdrawal_returned", w, w.currency, w.amount))
    out += [("debit_without_withdrawal", None, d.currency, d.amount) for d in scenario.OTHER_DEBITS if d.day <= day]
    return out


def _ref(w: scenario.Withdrawal | None) -> str:
    return w.end_to_end_id if w is not None else scenario.OTHER_DEBITS[0].end_to_end_id


def expected_withdrawal_breaks(day: dt.date) -> list[tuple[str, str, str]]:
    """(type, reference, status) of the withdrawal breaks of the day."""
    return sorted((t, _ref(w), "open") for t, w, _, _ in _withdrawal_breaks(day))


def expected_withdrawal_at_risk(day: dt.date) -> dict[str, int]:
    """Money at risk of the withdrawal breaks per currency: each break's item amount, the gap to the order for an
    amount mismatch (docs/money-at-risk.md)."""
    out: dict[str, int] = {}
    for _, _, currency, amount in _withdrawal_breaks(day):
        out[currency] = out.get(currency, 0) + amount
    return out


def expected_withdrawal_closures(day: dt.date) -> list[tuple[str, str, str]]:
    """(type, reference, how) of the withdrawal breaks the run of ``day`` closes: an order that timed out or was
    not executed, debited since."""
    before = _previous(day)
    return sorted(
        (str(expected_order_outcome(w, before)), w.order_id, "matched")
        for w in scenario.WITHDRAWALS
        if expected_order_outcome(w, before) in ("order_timeout", "withdrawal_not_executed")
        and expected_order_outcome(w, day) == "matched"
    )


def expected_withdrawal_resolutions() -> list[tuple[dt.date, dt.date]]:
    """(day closed, first seen) of every withdrawal break closed in the scenario."""
    out = []
    for w in scenario.WITHDRAWALS:
        broken = [
            d for d in scenario.DAYS if expected_order_outcome(w, d) in ("order_timeout", "withdrawal_not_executed")
        ]
        closed = [d for d in scenario.DAYS if broken and d > broken[0] and expected_order_outcome(w, d) == "matched"]
        if closed:
            out.append((closed[0], broken[0]))
    return out


def _order_line(w: scenario.Withdrawal) -> tuple[str, int]:
    """(file id, line) of the order of ``w``: its day's first extract, after the pay-ins of that extract."""
    path = PROJECT_ROOT / "data_samples" / "scenario" / "orders" / f"orders_{w.day}.csv"
    payins = sum(1 for o in scenario.ORDERS if o.day == w.day and o.extract == 1)
    mine = [x for x in scenario.WITHDRAWALS if x.day == w.day]
    return hashlib.sha256(path.read_bytes()).hexdigest(), 2 + payins + mine.index(w)


@pytest.mark.parametrize("day", scenario.DAYS)
def test_withdrawal_orders_end_as_planned(days: Scenario, day: dt.date) -> None:
    outcomes = days.table(day.isoformat(), "outcomes").filter(pl.col("item_table") == "orders")
    types = dict(days.table(day.isoformat(), "breaks").select("break_id", "break_type").iter_rows())
    for w in scenario.WITHDRAWALS:
        file_id, line = _order_line(w)
        row = outcomes.filter(pl.col("file_id") == file_id, pl.col("line_no") == line)
        if not _in_run(w, day):  # not yet created, or decided by an earlier run
            assert row.height == 0, (w.order_id, day)
            continue
        outcome, ref = row.select("outcome", "ref").row(0)
        assert (types[ref] if outcome == "break" else outcome) == expected_order_outcome(w, day), (w.order_id, day)


def test_every_withdrawal_break_type_is_in_the_scenario(days: Scenario) -> None:
    seen = {t for d in scenario.DAYS for t, ref, _ in days.breaks(d.isoformat()) if ref in WITHDRAWAL_REFS}
    assert seen == set(WITHDRAWAL_BREAK_TYPES) | {"order_timeout"}


def test_a_withdrawal_past_its_timeout_and_its_window_gets_one_break(days: Scenario) -> None:
    # W6 (PIX, pending): its 60-minute timeout and PIX's window of 0 both passed by the end of its day; the
    # verdict comes first, and stays the one break of the order
    w6 = next(w for w in scenario.WITHDRAWALS if w.order_id == "W6")
    assert _timed_out(w6, w6.day) and _window_due(w6) <= w6.day
    for day in (D2, D3, D4):
        mine = days.table(day, "breaks").filter(pl.col("item_ref") == "W6")
        assert mine.select("break_type", "first_seen").rows() == [("withdrawal_not_executed", DAY2)]
        assert days.table(day, "order_feedback").filter(pl.col("order_id") == "W6").height == 1
    # W13 (SEPA, pending): past its 12-hour timeout within SEPA's window on day 3 (order_timeout), past the
    # window on day 4: the same break, now withdrawal_not_executed, aged from day 3
    w13 = [days.table(d, "breaks").filter(pl.col("item_ref") == "W13") for d in (D3, D4)]
    assert [b.select("break_type", "first_seen", "age_days").row(0) for b in w13] == [
        ("order_timeout", DAY3, 0),
        ("withdrawal_not_executed", DAY3, 1),
    ]
    assert w13[0]["break_id"].to_list() == w13[1]["break_id"].to_list()
    assert [
        days.table(d, "order_feedback").filter(pl.col("order_id") == "W13")["suggested_status"].to_list()
        for d in (D3, D4)
    ] == [
        ["expired"],
        ["failed"],
    ]


def _expected_feedback(day: dt.date) -> list[tuple[str, str, str, str, str | None]]:
    """(order, internal status, settled as, suggested status, action) of the withdrawals' feedback rows."""
    rows: list[tuple[str, str, str, str, str | None]] = []
    for t, w, _, _ in _withdrawal_breaks(day):
        if w is None:
            continue  # a debit no withdrawal explains names no order
        rows.append(
            {
                "order_timeout": (w.order_id, w.status, "not_settled", "expired", None),
                "withdrawal_not_executed": (w.order_id, w.status, "not_executed", "failed", "investigate"),
                "withdrawal_amount_mismatch": (w.order_id, w.status, "debited", w.status, "investigate"),
                "withdrawal_currency_mismatch": (w.order_id, w.status, "debited", w.status, "investigate"),
                "withdrawal_rejected_but_debited": (w.order_id, w.status, "debited", "succeeded", "recall_funds"),
                "withdrawal_debited_twice": (w.order_id, w.status, "debited_twice", w.status, "recall_funds"),
                "withdrawal_status_mismatch": (w.order_id, w.status, "rejected", "failed", "mark_failed"),
                "withdrawal_returned": (w.order_id, w.status, "returned", "refunded", "refund_to_wallet"),
            }[t]
        )
    for w in scenario.WITHDRAWALS:  # pending in the order system and debited today: mark it executed
        before = expected_order_outcome(w, _previous(day))
        if w.status == "pending" and expected_order_outcome(w, day) == "matched" and before != "matched":
            rows.append((w.order_id, "pending", "executed", "succeeded", "mark_executed"))
    return sorted(rows, key=lambda r: (r[0], r[2]))


@pytest.mark.parametrize("day", scenario.DAYS)
def test_withdrawal_feedback_of_each_day(days: Scenario, day: dt.date) -> None:
    feedback = days.table(day.isoformat(), "order_feedback").filter(pl.col("order_id").is_in(sorted(WITHDRAWAL_REFS)))
    got = feedback.select("order_id", "internal_status", "settled_as", "suggested_status", "action").rows()
    assert sorted(got, key=lambda r: (r[0], r[2])) == _expected_feedback(day)
    # a return days after the withdrawal was decided names its order all the same: refund the wallet (W3, R03)
    returned = feedback.filter(pl.col("action") == "refund_to_wallet")
    assert all("R03" in e for e in returned["evidence"].to_list())


def _value_date(w: scenario.Withdrawal) -> dt.date:
    """The order's business date plus the rail's cycle (0: no cycle declared) on the rail's calendar."""
    return calendars.add_business_days(w.day, 0, scenario.RAIL_SETTLEMENT[w.channel]["calendar"])


def _first_debit(w: scenario.Withdrawal, by: dt.date) -> int:
    """The debit booked for ``w`` in its own currency by ``by`` (the first: a second one is a break), else 0."""
    debit = next((d for d in w.debits if d.day <= by), None)
    if debit is None or debit.currency not in (None, w.currency):
        return 0
    return debit.amount or w.amount


@pytest.mark.parametrize("day", scenario.DAYS)
def test_withdrawal_positions_and_fund_verification(days: Scenario, day: dt.date) -> None:
    owed = [w for w in scenario.WITHDRAWALS if w.status in OWED]
    # positions: the withdrawals the run took in (their day), owed out, against the debits booked with them
    positions: dict[tuple[str, str, dt.date], list[int]] = {}
    for w in owed:
        if w.day == day:
            cell = positions.setdefault((w.channel, w.currency, _value_date(w)), [0, 0])
            cell[0] += w.amount
            if w.debits and w.debits[0].day == day:  # paired in the run that took the order
                cell[1] += _first_debit(w, day)
    got = days.table(day.isoformat(), "positions").filter(pl.col("direction") == "withdrawal")
    assert sorted(
        got.select("counterparty", "currency", "value_date", "net_expected_minor", "received_minor").rows()
    ) == sorted((*k, v[0], v[1]) for k, v in positions.items())
    # fund verification: every run so far, each debit received once (at its order's value date)
    funds: dict[tuple[str, str, dt.date], list[int]] = {}
    for w in owed:
        if w.day <= day:
            cell = funds.setdefault((w.channel, w.currency, _value_date(w)), [0, 0])
            cell[0] += w.amount
            cell[1] += _first_debit(w, day)

    def status(value_date: dt.date, expected: int, received: int) -> str:
        if value_date > day and received == 0:
            return "not_due"
        if received == expected:
            return "received"
        return "missing" if received == 0 else ("short" if received < expected else "over")

    verified = days.table(day.isoformat(), "fund_verification").filter(pl.col("direction") == "withdrawal")
    got_funds = verified.select("counterparty", "currency", "value_date", "expected_minor", "received_minor", "status")
    assert sorted(got_funds.rows()) == sorted((*k, e, r, status(k[2], e, r)) for k, (e, r) in funds.items())


@pytest.mark.parametrize("day", scenario.DAYS)
def test_withdrawal_execution_and_return_rates(days: Scenario, day: dt.date) -> None:
    # a withdrawal counts in the run that first gives it a verdict; executed when a debit was booked for it by then
    decided = [
        w
        for w in scenario.WITHDRAWALS
        if expected_order_outcome(w, day) in VERDICTS
        and (w.day == day or expected_order_outcome(w, _previous(day)) not in VERDICTS)
    ]
    executed = {w.order_id for w in decided if any(d.day <= day for d in w.debits)}
    returned = {w.order_id for w in scenario.WITHDRAWALS if w.returned is not None and w.returned[0] == day}
    execution: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    returns: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for method in sorted({w.payment_method for w in scenario.WITHDRAWALS}):
        mine = [w.order_id for w in decided if w.payment_method == method]
        n = sum(o in executed for o in mine)
        if mine:
            execution[("rate", method)] = (n, len(mine), _rate(n, len(mine)), None)
        of = {w.order_id for w in scenario.WITHDRAWALS if w.payment_method == method} & (executed | returned)
        if of:
            k = len(of & returned)
            returns[("rate", method)] = (k, len(of), _rate(k, len(of)), None)
    assert _metric_rows(days, day.isoformat(), "withdrawal_execution_rate", "rail") == execution
    assert _metric_rows(days, day.isoformat(), "withdrawal_return_rate", "rail") == returns
