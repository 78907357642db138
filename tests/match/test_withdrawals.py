"""Withdrawals: orders the platform pays out over a rail, against the bank debits that execute them, the rail's
status reports and its returns (``rules/matching/30_withdrawals_bank.yaml``, ``35_withdrawals_status.yaml``,
``40_withdrawals_returns.yaml``), one small inline case per break type.

Invariants asserted here, after every run:

1. every row ends in exactly one outcome (``reconcile`` proves it; ``assert_expected`` reads it per row);
2. a withdrawal order's outcome is decided by its bank debit (30_withdrawals_bank), never by a status report or
   a return, which are decided in their own pairings (a report contradicting the order, a return not yet
   refunded: a break of the report's own);
3. pay-in orders are untouched by the withdrawal pairings (and withdrawals by the pay-in pairing);
4. every withdrawal break but ``debit_without_withdrawal`` gives an order-feedback row naming the action;
5. the withdrawal positions (owed out per rail, currency and value date, against the debits booked) equal their
   independent recomputation (run invariant 4), and a run whose published positions differ is not published.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import DAY, bank, order, psp
from match_helpers import assert_expected, break_of, run_case

from pipelines.clearing.positions import recompute_withdrawal_positions
from pipelines.core.channels import load_channels
from pipelines.core.config import PROJECT_ROOT
from pipelines.run.intake import taken_paths
from pipelines.run.invariants import InvariantError, positions_invariant
from pipelines.run.result import RunResult


def withdrawal(
    order_id: str, amount: int, currency: str = "EUR", status: str = "succeeded", **extra: Any
) -> dict[str, Any]:
    rail = {"EUR": "sepa_out", "BRL": "pix_out", "USD": "ach_out"}.get(currency, "sepa_out")
    method = {"EUR": "sepa_credit_transfer", "BRL": "pix", "USD": "ach"}.get(currency, "sepa_credit_transfer")
    return order(
        order_id,
        amount,
        currency,
        status,
        psp_channel=extra.pop("psp_channel", rail),
        direction="withdrawal",
        payment_method=extra.pop("payment_method", method),
        **extra,
    )


def debit(end_to_end_id: str | None, amount: int, currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    return bank(end_to_end_id, amount, currency, "debit", record_type="payment", **extra)


def report(
    end_to_end_id: str, amount: int, status: str = "accepted", currency: str = "EUR", **extra: Any
) -> dict[str, Any]:
    """A rail status item: pain.002 accepted / rejected (record_type status), a NACHA return (record_type return)."""
    record_type = extra.pop("record_type", "return" if status == "returned" else "status")
    return {
        "channel": "sepa_out",
        "business_date": DAY,
        "record_type": record_type,
        "scope": "transaction",
        "status": status,
        "end_to_end_id": end_to_end_id,
        "amount_minor": amount,
        "currency": currency,
        **extra,
    }


RAIL_CHANNELS = Path(__file__).parent / "rail_channels"


def rules_with_policy(tmp_path: Path) -> Path:
    """The project's rules folder as shipped (channels, matching, breaks.yaml with its pending delays) plus the
    rail channels of ``rail_channels/`` (sepa_out, pix_out, ach_out: their settlement windows)."""
    out = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", out)
    for path in sorted(RAIL_CHANNELS.glob("*.yaml")):
        shutil.copy(path, out / "channels" / path.name)
    return out


def case(
    tmp_path: Path,
    orders: list[dict[str, Any]],
    debits: list[dict[str, Any]],
    reports: list[dict[str, Any]] | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> RunResult:
    r = run_case(tmp_path, orders, lines or [], debits, rules=rules_with_policy(tmp_path), status_rows=reports)
    assert_expected(r, "orders", orders)
    assert_expected(r, "bank_statement_lines", debits)
    if reports:
        assert_expected(r, "payment_status", reports)
    return r


def feedback(r: RunResult, order_id: str) -> dict[str, Any]:
    rows = r.order_feedback.filter(pl.col("order_id") == order_id)
    assert rows.height == 1, f"{order_id}: {rows.height} feedback rows"
    return rows.row(0, named=True)


def test_an_executed_withdrawal_matches_its_debit_and_its_acceptance(tmp_path: Path) -> None:
    orders = [
        withdrawal("WDR-1", 10000, expected="matched:withdrawal_debit_end_to_end"),
        withdrawal("WDR-2", 2500, status="pending", expected="matched:withdrawal_debit_end_to_end"),
        order("ORD-1", 700, psp_reference="p1", direction="payin", expected="matched:order_psp_reference_exact"),
    ]
    debits = [debit("WDR1", 10000, expected="matched"), debit("wdr-2", 2500, expected="matched")]
    reports = [report("WDR-1", 10000, expected="matched:withdrawal_status_accepted")]
    r = case(tmp_path, orders, debits, reports, lines=[psp("p1", 700)])
    # a withdrawal the order system still shows as pending, debited: mark it executed
    fb = feedback(r, "WDR-2")
    assert (fb["settled_as"], fb["suggested_status"], fb["action"]) == ("executed", "succeeded", "mark_executed")
    assert r.order_feedback.filter(pl.col("order_id") == "WDR-1").is_empty()


def test_a_withdrawal_without_debit_is_pending_in_its_rails_window_then_not_executed(tmp_path: Path) -> None:
    # sepa_out: 1 TARGET2 day of window; pix_out: none (instant)
    orders = [
        withdrawal("WDR-1", 10000, expected="pending"),
        withdrawal("WDR-2", 5000, currency="BRL", expected="withdrawal_not_executed"),
    ]
    r = case(tmp_path, orders, [debit("OTHER", 1, expected="debit_without_withdrawal")])
    b = break_of(r, "orders", 3)
    assert b["amount_minor"] == 5000 and b["sla_days"] == 1
    fb = feedback(r, "WDR-2")
    assert (fb["settled_as"], fb["action"]) == ("not_executed", "investigate")
    # the earlier withdrawal, a business day later, is a break too
    old = withdrawal("WDR-3", 100, business_date=DAY - dt.timedelta(days=3), expected="withdrawal_not_executed")
    r = case(tmp_path / "later", [old], [])
    assert break_of(r, "orders", 2)["break_type"] == "withdrawal_not_executed"


def test_rejected_but_debited_debited_twice_and_debit_without_withdrawal(tmp_path: Path) -> None:
    orders = [
        withdrawal("WDR-1", 10000, status="failed", expected="matched:withdrawal_status_rejected"),
        withdrawal("WDR-2", 2500, expected="matched"),
    ]
    debits = [
        debit("WDR-1", 10000, expected="withdrawal_rejected_but_debited"),
        debit("WDR-2", 2500, expected="matched"),
        debit("WDR-2", 2500, expected="withdrawal_debited_twice"),
        debit("NOTPROVIDED", 999, expected="debit_without_withdrawal"),
        # a bank charge is no withdrawal's business: the payouts pairing keeps it
        bank("NOTPROVIDED", 50, direction="debit", record_type="fee", expected="bank_debit_unexplained"),
    ]
    reports = [report("WDR-1", 10000, "rejected", reason_code="AC04", expected="matched:withdrawal_status_rejected")]
    r = case(tmp_path, orders, debits, reports)
    assert break_of(r, "bank_statement_lines", 2)["counter_ref"] == "WDR-1"
    fb = feedback(r, "WDR-1")
    assert (fb["settled_as"], fb["action"]) == ("debited", "recall_funds")
    assert "AC04" in fb["evidence"]
    fb = feedback(r, "WDR-2")
    assert (fb["settled_as"], fb["action"]) == ("debited_twice", "recall_funds")
    twice = break_of(r, "bank_statement_lines", 4)
    assert twice["amount_minor"] == -2500  # a debit: money that left the account


def test_amount_and_currency_differ(tmp_path: Path) -> None:
    # the debit's break claims its order: both items end in the same break
    orders = [
        withdrawal("WDR-1", 10000, expected="withdrawal_amount_mismatch"),
        withdrawal("WDR-2", 2500, expected="withdrawal_currency_mismatch"),
    ]
    debits = [
        debit("WDR-1", 10010, expected="withdrawal_amount_mismatch"),
        debit("WDR-2", 2500, currency="GBP", expected="withdrawal_currency_mismatch"),
    ]
    r = case(tmp_path, orders, debits)
    b = break_of(r, "bank_statement_lines", 2)
    assert (b["amount_minor"], b["counter_amount_minor"], b["counter_ref"]) == (10010, 10000, "WDR-1")
    for oid in ("WDR-1", "WDR-2"):
        assert feedback(r, oid)["action"] == "investigate"


def test_returned_withdrawal_and_status_mismatch(tmp_path: Path) -> None:
    orders = [
        withdrawal("WDR-1", 10000, expected="matched"),
        withdrawal("WDR-2", 2500, status="refunded", expected="matched"),
        withdrawal("WDR-3", 700, status="pending", expected="pending"),
    ]
    debits = [debit("WDR-1", 10000, expected="matched"), debit("WDR-2", 2500, expected="matched")]
    reports = [
        report("WDR1", 10000, "returned", reason_code="R03", channel="ach_out", expected="withdrawal_returned"),
        report("WDR-2", 2500, "returned", reason_code="AC04", expected="matched:withdrawal_return_refunded"),
        report("WDR-3", 700, "rejected", reason_code="AM04", expected="withdrawal_status_mismatch"),
    ]
    r = case(tmp_path, orders, debits, reports)
    ret = break_of(r, "payment_status", 2)
    assert ret["counter_ref"] == "WDR-1" and ret["sla_days"] == 2
    fb = feedback(r, "WDR-1")
    assert (fb["settled_as"], fb["suggested_status"], fb["action"]) == ("returned", "refunded", "refund_to_wallet")
    assert "R03" in fb["evidence"]
    fb = feedback(r, "WDR-3")
    assert (fb["settled_as"], fb["suggested_status"], fb["action"]) == ("rejected", "failed", "mark_failed")
    assert "AM04" in fb["evidence"]


def test_pay_in_pairing_ignores_withdrawals(tmp_path: Path) -> None:
    # a withdrawal that happens to carry a PSP reference is not a pay-in: the PSP line finds an order its rules
    # do not accept (status_mismatch), and the withdrawal waits for its debit
    orders = [withdrawal("WDR-1", 700, psp_reference="p1", expected="pending")]
    r = run_case(tmp_path, orders, [psp("p1", 700, expected="status_mismatch")], [], rules=rules_with_policy(tmp_path))
    assert_expected(r, "orders", orders)


def test_positions_and_fund_verification_include_withdrawals(tmp_path: Path) -> None:
    orders = [
        withdrawal("WDR-1", 10000),
        withdrawal("WDR-2", 2500),
        withdrawal("WDR-3", 700, status="failed"),  # not owed: failed
        withdrawal("WDR-4", 4000, currency="BRL"),  # pix_out: not executed
        order("ORD-1", 900, psp_reference="p1", direction="payin"),
    ]
    debits = [debit("WDR-1", 10000), debit("WDR-2", 2600)]
    r = run_case(tmp_path, orders, [psp("p1", 900)], debits, rules=rules_with_policy(tmp_path))
    out = r.positions.filter(pl.col("direction") == "withdrawal").sort("counterparty", "currency")
    got = out.select("counterparty", "currency", "value_date", "net_expected_minor", "received_minor", "variance_minor")
    assert got.rows() == [
        ("pix_out", "BRL", DAY, 4000, 0, -4000),
        ("sepa_out", "EUR", DAY, 12500, 12600, 100),  # the debit of another amount was booked all the same
    ]
    assert (r.positions.filter(pl.col("direction") == "payin")["counterparty"] == "adyen_eu").all()
    fv = r.fund_verification.filter(pl.col("direction") == "withdrawal").sort("counterparty")
    assert fv.select("counterparty", "expected_minor", "received_minor", "status").rows() == [
        ("pix_out", 4000, 0, "missing"),
        ("sepa_out", 12500, 12600, "over"),
    ]
    # net per currency: the withdrawals owed out count against the pay-ins
    eur = r.net_by_currency.filter(pl.col("currency") == "EUR").row(0, named=True)
    payin = r.positions.filter((pl.col("direction") == "payin") & (pl.col("currency") == "EUR"))
    assert eur["net_expected_minor"] == int(payin["net_expected_minor"].sum()) - 12500


def _rates(r: RunResult, metric: str) -> dict[str, tuple[int, int]]:
    """(numerator, denominator) per rail of a withdrawal rate of the run."""
    rows = r.metrics.filter(pl.col("metric") == metric).iter_rows(named=True)
    return {row["rail"]: (row["numerator"], row["denominator"]) for row in rows}


def test_execution_and_return_rates_follow_the_reconciliation_not_the_order_status(tmp_path: Path) -> None:
    orders = [
        withdrawal("WDR-1", 10000, expected="matched:withdrawal_debit_end_to_end"),
        # succeeded in the order system, but no debit by the end of PIX's window: not executed
        withdrawal("WDR-2", 5000, currency="BRL", expected="withdrawal_not_executed"),
        withdrawal("WDR-3", 4000, currency="BRL", expected="matched:withdrawal_debit_end_to_end"),
        withdrawal("WDR-4", 700, status="pending", expected="pending"),  # SEPA's window is open: no verdict yet
        withdrawal("WDR-5", 2500, status="failed", expected="matched:withdrawal_status_rejected"),  # never debited
        withdrawal("WDR-6", 3000, currency="USD", expected="matched:withdrawal_debit_end_to_end"),  # then returned
        withdrawal("WDR-7", 1500, currency="USD", status="refunded", expected="matched:withdrawal_debit_end_to_end"),
    ]
    debits = [
        debit("WDR-1", 10000, expected="matched"),
        debit("WDR-3", 4000, currency="BRL", expected="matched"),
        debit("WDR6", 3000, currency="USD", expected="matched"),
        debit("WDR7", 1500, currency="USD", expected="matched"),
    ]
    reports = [
        report("WDR-5", 2500, "rejected", reason_code="AC01", expected="matched:withdrawal_status_rejected"),
        report(
            "WDR6",
            3000,
            "returned",
            currency="USD",
            reason_code="R03",
            channel="ach_out",
            expected="withdrawal_returned",
        ),
        report(
            "WDR7",
            1500,
            "returned",
            currency="USD",
            reason_code="R02",
            channel="ach_out",
            expected="matched:withdrawal_return_refunded",
        ),
    ]
    r = case(tmp_path, orders, debits, reports)
    # by the order status PIX would be 2 of 2 (both succeeded); by the bank, one of them was never debited
    pix = [o for o in orders if o["currency"] == "BRL"]
    assert all(o["status"] == "succeeded" for o in pix)
    assert _rates(r, "withdrawal_execution_rate") == {
        "sepa_credit_transfer": (1, 2),  # WDR-1 debited, WDR-5 rejected; WDR-4 is pending (not counted yet)
        "pix": (1, 2),
        "ach": (2, 2),
    }
    # returned: paired with a return (WDR-6 in a withdrawal_returned break, WDR-7 matched to its return)
    assert _rates(r, "withdrawal_return_rate") == {"sepa_credit_transfer": (0, 1), "pix": (0, 1), "ach": (2, 2)}
    rate = r.metrics.filter(pl.col("metric") == "withdrawal_execution_rate", pl.col("rail") == "pix")["value"]
    assert str(rate[0]) == "0.500000"


def _owed_case(tmp_path: Path) -> tuple[RunResult, dict[str, Any]]:
    orders = [
        withdrawal("WDR-1", 10000),
        withdrawal("WDR-2", 2500),
        withdrawal("WDR-3", 4000, currency="BRL"),  # not executed: owed, never debited
        withdrawal("WDR-4", 3000, currency="USD"),  # ACH: value date on the NYSE calendar (Thanksgiving: the 27th)
    ]
    debits = [debit("WDR-1", 10000), debit("WDR-2", 2600), debit("WDR4", 3000, currency="USD")]
    rules = rules_with_policy(tmp_path)
    return run_case(tmp_path, orders, [], debits, rules=rules), load_channels(rules)


def test_withdrawal_positions_are_recomputed_independently(tmp_path: Path) -> None:
    r, channels = _owed_case(tmp_path)
    recomputed = recompute_withdrawal_positions(taken_paths(r.intake, "orders"), r, channels)
    assert recomputed.rows() == [
        ("ach_out", "USD", dt.date(2026, 11, 27), 3000, 3000),
        ("pix_out", "BRL", DAY, 4000, 0),
        ("sepa_out", "EUR", DAY, 12500, 12600),  # the debit of another amount was booked all the same
    ]
    check = positions_invariant(r, channels)
    assert check["ok"] and check["withdrawal_positions"] == 3 and check["detail"] == []


def test_a_corrupted_withdrawal_position_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r, channels = _owed_case(tmp_path)
    sepa = (pl.col("direction") == "withdrawal") & (pl.col("counterparty") == "sepa_out")
    # a debit counted twice, an owed amount lost, a rail's row missing: each is caught and named
    for corrupt in (
        r.positions.with_columns(
            pl.when(sepa).then(pl.col("received_minor") + 2600).otherwise(pl.col("received_minor"))
        ),
        r.positions.with_columns(
            pl.when(sepa).then(0).otherwise(pl.col("net_expected_minor")).alias("net_expected_minor")
        ),
        r.positions.filter(~sepa),
    ):
        check = positions_invariant(dataclasses.replace(r, positions=corrupt), channels)
        assert not check["ok"]
        assert [row["counterparty"] for row in check["detail"][0]["withdrawal"]] == ["sepa_out"]
    # in a run, the corrupted position stops the publication
    from pipelines.run import reconcile

    real = reconcile.positions

    def corrupted(*args: Any, **kwargs: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
        out, receipts = real(*args, **kwargs)
        return out.with_columns(
            pl.when(pl.col("direction") == "withdrawal")
            .then(pl.col("received_minor") + 1)
            .otherwise(pl.col("received_minor"))
        ), receipts

    monkeypatch.setattr(reconcile, "positions", corrupted)
    with pytest.raises(InvariantError, match="positions_recomputed.*withdrawal.*sepa_out"):
        _owed_case(tmp_path / "again")
