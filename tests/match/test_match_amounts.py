"""Amounts: absolute and relative tolerances at their edges, gross or net with fees, and FX conversion.

Every tolerance is tested exactly at its edge and one minor unit beyond, in 2-, 0- and 3-decimal
currencies. Conversions round half to even, once per item. Each inline row carries its expected outcome."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from helpers import DAY, bank, order, psp
from match_helpers import ORDERS_PSP, PSP_BANK, assert_expected, fx, match_of, rule, rules_dir, run_case


def orders_rule(amount: str, currency: str = "{left: currency, right: gross_currency}", extra: str = "") -> str:
    return ORDERS_PSP + rule(
        "by_reference",
        f"""
left: {{filter: {{status: [succeeded]}}}}
right: {{filter: {{record_type: [payment]}}}}
keys: [{{left: psp_reference, right: psp_reference}}]
amount: {amount}
currency: {currency}
{extra}
""",
    )


@pytest.mark.parametrize(
    ("currency", "right_amount", "tolerance", "at_edge"),
    [
        # 10 bps of 1000.00 EUR is 1.00 EUR
        ("EUR", 100000, "tolerance_bps: 10", 100),
        # 10 bps of 150000 JPY is 150 JPY
        ("JPY", 150000, "tolerance_bps: 10", 150),
        # 1 bp of 1234.567 BHD is 0.123 BHD (the allowance is rounded down to whole minor units)
        ("BHD", 1234567, "tolerance_bps: 1", 123),
        # the larger of the two applies: 5 minor units beat 10 bps of 10.00 EUR (0.01 EUR)
        ("EUR", 1000, "tolerance_minor: 5, tolerance_bps: 10", 5),
        ("CLP", 15990, "tolerance_minor: 3", 3),
    ],
)
def test_tolerance_edges(tmp_path: Path, currency: str, right_amount: int, tolerance: str, at_edge: int) -> None:
    rules = rules_dir(
        tmp_path, {"10_orders_psp.yaml": orders_rule(f"{{left: amount_minor, right: gross_minor, {tolerance}}}")}
    )
    orders = [
        order("o1", right_amount + at_edge, currency, psp_reference="r1", expected="matched"),  # exactly at
        order("o2", right_amount - at_edge, currency, psp_reference="r2", expected="matched"),  # at, below
        order("o3", right_amount + at_edge + 1, currency, psp_reference="r3", expected="amount_mismatch"),  # beyond
        order("o4", right_amount - at_edge - 1, currency, psp_reference="r4", expected="amount_mismatch"),
    ]
    lines = [psp(f"r{i}", right_amount, currency, expected=o["expected"]) for i, o in enumerate(orders, start=1)]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    m = r.matches
    assert sorted(m["amount_difference_minor"].unique().to_list()) == [-at_edge, at_edge]
    assert m["tolerance_minor"].unique().to_list() == [at_edge]  # the allowance in minor units is recorded
    if "bps" in tolerance:
        assert m["tolerance_bps"].unique().to_list() == [int(tolerance.split("tolerance_bps: ")[1])]


def test_fee_explains_gross_minus_net(tmp_path: Path) -> None:
    # the order is gross; the line reports its net and its fee: order - fee = net
    rules = rules_dir(
        tmp_path,
        {
            "10_orders_psp.yaml": orders_rule(
                "{left: amount_minor, right: net_minor, gross_side: left, fee: {side: right, column: fee_minor}}",
                "{left: currency, right: currency}",
            )
        },
    )
    orders = [
        order("o1", 10000, psp_reference="r1", expected="matched"),
        order("o2", 10000, psp_reference="r2", expected="amount_mismatch"),
        order("o3", 10000, psp_reference="r3", expected="amount_mismatch"),
    ]
    lines = [
        psp("r1", 10000, fee=290, expected="matched"),  # net 9710 + fee 290 = 10000
        psp("r2", 10000, fee=290, net=9709, expected="amount_mismatch"),  # one minor unit short
        psp("r3", 10000, fee=0, net=9710, expected="amount_mismatch"),  # no fee to explain the difference
    ]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    line = match_of(r, "psp_settlement_lines", 2).filter(pl.col("side") == "right").row(0, named=True)
    assert (line["amount_minor"], line["fee_minor"], line["original_amount_minor"]) == (10000, 290, 9710)
    reason = r.breaks.filter(pl.col("item_ref") == "r2")["reason"][0]
    assert "(with fee 2.90 EUR)" in reason and "by -0.01 EUR" in reason


def test_fee_on_the_gross_side(tmp_path: Path) -> None:
    # the PSP line is gross with its fee; the bank credit is what arrived: gross - fee = credit
    rules = rules_dir(
        tmp_path,
        {
            "20_psp_bank.yaml": PSP_BANK
            + rule(
                "line_to_credit",
                """
left: {filter: {record_type: [payment]}}
right: {filter: {direction: [credit]}}
keys: [{left: psp_reference, right: end_to_end_id}]
amount: {left: gross_minor, right: amount_minor, gross_side: left, fee: {side: left, column: fee_minor}}
currency: {left: currency, right: currency}
""",
            )
        },
    )
    lines = [
        psp("e1", 5000, fee=150, expected="matched"),
        psp("e2", 5000, fee=150, expected="payout_amount_mismatch"),
    ]
    credits = [bank("e1", 4850, expected="matched"), bank("e2", 4851, expected="payout_amount_mismatch")]
    r = run_case(tmp_path, [], lines, credits, rules=rules)
    assert_expected(r, "psp_settlement_lines", lines)
    assert_expected(r, "bank_statement_lines", credits)
    left = match_of(r, "psp_settlement_lines", 2).filter(pl.col("side") == "left").row(0, named=True)
    assert (left["amount_minor"], left["fee_minor"], left["original_amount_minor"]) == (4850, 150, 5000)


FX_RULE = "{left: currency, right: gross_currency, fx: {date: {side: left, column: business_date}}}"


def fx_rules(tolerance: str = "", fx_spec: str = FX_RULE) -> str:
    return orders_rule(f"{{left: amount_minor, right: gross_minor{tolerance}}}", fx_spec)


def test_fx_conversion_rounds_half_even_once(tmp_path: Path) -> None:
    # 1 EUR = 0.5 GBP: 1.01 EUR is 0.505 GBP -> 0.50 (half to even), 1.03 EUR is 0.515 GBP -> 0.52
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": fx_rules()})
    orders = [
        order("o1", 101, "EUR", psp_reference="r1", expected="matched"),
        order("o2", 101, "EUR", psp_reference="r2", expected="amount_mismatch"),
        order("o3", 103, "EUR", psp_reference="r3", expected="matched"),
        order("o4", 103, "EUR", psp_reference="r4", expected="amount_mismatch"),
        order("o5", 400, "GBP", psp_reference="r5", expected="matched"),  # same currency: no rate needed
    ]
    lines = [
        psp("r1", 50, "GBP", expected="matched"),
        psp("r2", 51, "GBP", expected="amount_mismatch"),  # what rounding half up would give
        psp("r3", 52, "GBP", expected="matched"),
        psp("r4", 51, "GBP", expected="amount_mismatch"),
        psp("r5", 400, "GBP", expected="matched"),
    ]
    r = run_case(tmp_path, orders, lines, rules=rules, rates=[fx("GBP", "0.5")])
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    o1 = match_of(r, "orders", 2).filter(pl.col("side") == "left").row(0, named=True)
    assert (o1["amount_minor"], o1["currency"], o1["original_amount_minor"], o1["original_currency"]) == (
        50,
        "GBP",
        101,
        "EUR",
    )
    assert o1["fx_rate"] == Decimal("0.5") and o1["fx_rate_date"] == DAY
    same = match_of(r, "orders", 6)
    assert same["fx_rate"].is_null().all()  # no conversion, no rate recorded


def test_fx_tolerance_in_basis_points_at_its_edge(tmp_path: Path) -> None:
    # 100.00 USD at 1 EUR = 1.0842 USD is 92.2339... EUR -> 92.23 EUR; 10 bps of 92.23 EUR is 0.09 EUR
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": fx_rules(", tolerance_bps: 10")})
    orders = [
        order("o1", 10000, "USD", psp_reference="r1", expected="matched"),
        order("o2", 10000, "USD", psp_reference="r2", expected="matched"),
        order("o3", 10000, "USD", psp_reference="r3", expected="amount_mismatch"),
    ]
    lines = [
        psp("r1", 9223, "EUR", expected="matched"),
        psp("r2", 9232, "EUR", expected="matched"),  # 0.09 EUR over: exactly at the edge
        psp("r3", 9233, "EUR", expected="amount_mismatch"),  # 0.10 EUR over
    ]
    r = run_case(tmp_path, orders, lines, rules=rules, rates=[fx("USD", "1.0842")])
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    m = match_of(r, "orders", 3)
    assert m["tolerance_minor"].unique().to_list() == [9]
    assert m["fx_rate"][0] == Decimal("0.922339051835")  # 1 / 1.0842, recorded to 12 decimals
    reason = r.breaks.filter(pl.col("item_ref") == "r3")["reason"][0]
    assert "(100.00 USD at 0.922339051835 of 2026-11-26)" in reason


def test_fx_cross_rates_and_zero_and_three_decimal_currencies(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": fx_rules()})
    rates = [fx("USD", "1.25"), fx("GBP", "0.5"), fx("JPY", "160"), fx("BHD", "0.4")]
    orders = [
        order("o1", 1000, "USD", psp_reference="r1", expected="matched"),  # 10.00 USD -> 4.00 GBP (cross rate)
        order("o2", 1000, "JPY", psp_reference="r2", expected="matched"),  # 1000 JPY -> 6.25 EUR
        order("o3", 1000, "BHD", psp_reference="r3", expected="matched"),  # 1.000 BHD -> 2.50 EUR
        order("o4", 1000, "EUR", psp_reference="r4", expected="matched"),  # 10.00 EUR -> 4.000 BHD
        order("o5", 1001, "EUR", psp_reference="r5", expected="amount_mismatch"),  # 10.01 EUR -> 4.004 BHD
        order("o6", 99, "EUR", psp_reference="r6", expected="matched"),  # 0.99 EUR -> 158.4 JPY -> 158
    ]
    lines = [
        psp("r1", 400, "GBP", expected="matched"),
        psp("r2", 625, "EUR", expected="matched"),
        psp("r3", 250, "EUR", expected="matched"),
        psp("r4", 4000, "BHD", expected="matched"),
        psp("r5", 4003, "BHD", expected="amount_mismatch"),
        psp("r6", 158, "JPY", expected="matched"),
    ]
    r = run_case(tmp_path, orders, lines, rules=rules, rates=rates)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    assert match_of(r, "orders", 2)["fx_rate"][0] == Decimal("0.4")


def test_fx_without_a_rate_is_a_currency_break(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": fx_rules()})
    orders = [order("o1", 1000, "CHF", psp_reference="r1", expected="currency_mismatch")]
    lines = [psp("r1", 1060, "EUR", expected="currency_mismatch")]
    r = run_case(tmp_path, orders, lines, rules=rules, rates=[fx("USD", "1.0842")])
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)


def test_fx_rate_of_an_earlier_named_date_comes_from_that_days_rates(tmp_path: Path) -> None:
    # the line's payout date is the day before the run: its rate (0.5) was staged that day; the run's own
    # rate (0.4) is of a later day and must not be used; a rate staged for a later day (0.3, which would
    # match o2) is never seen.
    spec = "{left: currency, right: gross_currency, fx: {date: {side: right, column: payout_date}}}"
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": fx_rules(fx_spec=spec)})
    before, after = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1)
    orders = [
        order("o1", 1000, "EUR", psp_reference="r1", expected="matched"),
        order("o2", 1000, "EUR", psp_reference="r2", expected="currency_mismatch"),
    ]
    lines = [
        psp("r1", 500, "GBP", payout_date=before, expected="matched"),
        psp("r2", 300, "GBP", payout_date=before - dt.timedelta(days=1), expected="currency_mismatch"),
    ]
    rates = [fx("GBP", "0.5", day=before), fx("GBP", "0.4"), fx("GBP", "0.3", day=after)]
    r = run_case(tmp_path, orders, lines, rules=rules, rates=rates)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    m = match_of(r, "orders", 2)
    assert m["fx_rate"].unique().to_list() == [Decimal("0.5")]
    assert m["fx_rate_date"].unique().to_list() == [before]
    # rates staged for the day before, which no run had taken, are this run's reference data (line 2); the run's
    # own are (line 3); the later day's are not received by this run (line 4): no outcome
    assert set(r.outcomes.filter(pl.col("item_table") == "fx_rates")["line_no"].to_list()) == {2, 3}


@pytest.mark.parametrize(("max_age", "matched"), [(0, False), (1, True)])
def test_fx_rate_of_a_named_later_date_within_its_age(tmp_path: Path, max_age: int, matched: bool) -> None:
    # the rate of the line's payout date (the day after) is not known yet: the day's own rate is one day old
    spec = (
        "{left: currency, right: gross_currency, "
        f"fx: {{date: {{side: right, column: payout_date}}, max_rate_age_days: {max_age}}}}}"
    )
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": fx_rules(fx_spec=spec)})
    want = "matched" if matched else "currency_mismatch"
    orders = [order("o1", 1000, "EUR", psp_reference="r1", expected=want)]
    lines = [psp("r1", 500, "GBP", payout_date=DAY + dt.timedelta(days=1), expected=want)]
    r = run_case(tmp_path, orders, lines, rules=rules, rates=[fx("GBP", "0.5")])
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    if matched:
        assert r.matches["fx_rate_date"].unique().to_list() == [DAY]


def test_grouped_fx_converts_each_item_then_sums(tmp_path: Path) -> None:
    # three USD lines of one payout against one EUR credit at 1 EUR = 2 USD: 1.01 + 1.01 + 1.01 USD are each
    # 0.505 EUR -> 0.50 EUR (half to even), so the batch is 1.50 EUR, not 1.52 (3.03 / 2 = 1.515)
    rules = rules_dir(
        tmp_path,
        {
            "20_psp_bank.yaml": PSP_BANK
            + rule(
                "batch_fx",
                """
kind: many_to_one
left: {filter: {record_type: [payment]}, group_by: [channel, payout_id]}
right: {filter: {direction: [credit]}}
keys: [{left: payout_id, right: end_to_end_id}]
amount: {left: net_minor, right: amount_minor}
currency: {left: currency, right: currency, fx: {date: {side: right, column: booking_date}}}
""",
            )
        },
    )
    lines = [psp(f"u{i}", 101, "USD", payout_id="P1", expected="matched") for i in range(3)]
    lines += [psp(f"v{i}", 101, "USD", payout_id="P2", expected="payout_amount_mismatch") for i in range(3)]
    credits = [bank("P1", 150, "EUR", expected="matched"), bank("P2", 152, "EUR", expected="payout_amount_mismatch")]
    r = run_case(tmp_path, [], lines, credits, rules=rules, rates=[fx("USD", "2")])
    assert_expected(r, "psp_settlement_lines", lines)
    assert_expected(r, "bank_statement_lines", credits)
    m = match_of(r, "bank_statement_lines", 2)
    assert m.filter(pl.col("side") == "left")["amount_minor"].to_list() == [50, 50, 50]
    assert m["fx_rate"].unique().to_list() == [Decimal("0.5")]
