"""Cardinalities: one-to-many (split settlements), many-to-one (payout batches), bounded many-to-many, and
ambiguity, priority and exclusivity across them. Each inline row carries the outcome it must end in."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from helpers import bank, order, psp
from match_helpers import (
    EXACT_PSP_REFERENCE,
    ORDERS_PSP,
    PSP_BANK,
    assert_expected,
    break_of,
    match_of,
    rule,
    rules_dir,
    run_case,
)


def split_rule(tolerance: int = 0, max_size: str = "") -> str:
    return rule(
        "split_settlements",
        f"""
kind: one_to_many
left: {{filter: {{status: [succeeded]}}}}
right: {{filter: {{record_type: [payment]}}, group_by: [merchant_reference]}}
keys: [{{left: order_id, right: merchant_reference}}]
amount: {{left: amount_minor, right: gross_minor, tolerance_minor: {tolerance}}}
currency: {{left: currency, right: gross_currency}}
{max_size}
""",
        priority=50,
    )


def test_one_to_many_split_settlements(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": ORDERS_PSP + EXACT_PSP_REFERENCE + split_rule(tolerance=1)})
    orders = [
        order("o1", 1000, psp_reference="r1", expected="matched:by_psp_reference"),
        order("o2", 1000, expected="matched:split_settlements"),  # 400 + 600
        order("o3", 1000, expected="matched:split_settlements"),  # 400 + 601: at the tolerance of 1
        order("o4", 1000, expected="amount_mismatch"),  # 400 + 602: one beyond
        order("o5", 999, "BHD", expected="matched:split_settlements"),  # three lines, 3-decimal currency
    ]
    lines = [
        psp("r1", 1000, merchant_reference="o1", expected="matched:by_psp_reference"),
        psp("a", 400, merchant_reference="o2", expected="matched:split_settlements"),
        psp("b", 600, merchant_reference="o2", expected="matched:split_settlements"),
        psp("c", 400, merchant_reference="o3", expected="matched:split_settlements"),
        psp("d", 601, merchant_reference="o3", expected="matched:split_settlements"),
        psp("e", 400, merchant_reference="o4", expected="amount_mismatch"),
        psp("f", 602, merchant_reference="o4", expected="amount_mismatch"),
        psp("g", 333, "BHD", merchant_reference="o5", expected="matched:split_settlements"),
        psp("h", 333, "BHD", merchant_reference="o5", expected="matched:split_settlements"),
        psp("i", 333, "BHD", merchant_reference="o5", expected="matched:split_settlements"),
    ]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    m = match_of(r, "orders", 4)
    assert m.height == 3 and m["rule_kind"].unique().to_list() == ["one_to_many"]
    assert m["amount_difference_minor"].unique().to_list() == [-1] and m["tolerance_minor"].unique().to_list() == [1]
    b = break_of(r, "orders", 5)
    assert b["item_count"] == 3  # the two lines of the group and the order they point to
    assert "group o4 (2 psp_settlement_lines items, total 10.02 EUR) differs from order o4" in b["reason"]


def test_one_to_many_group_size_is_bounded(tmp_path: Path) -> None:
    rules = rules_dir(
        tmp_path, {"10_orders_psp.yaml": ORDERS_PSP + EXACT_PSP_REFERENCE + split_rule(max_size="max_group_size: 2")}
    )
    orders = [order("o1", 900, expected="order_not_settled")]
    lines = [psp(x, 300, merchant_reference="o1", expected="psp_line_without_order") for x in "abc"]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    assert (
        "has more items than the max_group_size (2) of rule split_settlements"
        in break_of(r, "psp_settlement_lines", 2)["reason"]
    )


def test_one_to_many_tie_is_ambiguous(tmp_path: Path) -> None:
    # the same order id twice (two order rows, equal amounts): the group of lines cannot choose
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": ORDERS_PSP + EXACT_PSP_REFERENCE + split_rule()})
    orders = [order("o1", 900, expected="ambiguous_match"), order("o1", 900, expected="ambiguous_match")]
    lines = [psp(x, 450, merchant_reference="o1", expected="ambiguous_match") for x in "ab"]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    assert r.matches.height == 0


BATCH = rule(
    "batch_to_credit",
    """
kind: many_to_one
left: {filter: {record_type: [payment, fee]}, group_by: [channel, payout_id]}
right: {filter: {direction: [credit]}}
keys: [{left: payout_id, right: end_to_end_id}]
amount: {left: net_minor, right: amount_minor, tolerance_minor: 1}
currency: {left: currency, right: currency}
""",
    priority=100,
)


def test_many_to_one_batches_and_their_ties(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, {"20_psp_bank.yaml": PSP_BANK + BATCH})
    lines = [
        psp("a", 1000, payout_id="P1", expected="matched"),
        psp(None, 0, record_type="fee", net=-30, payout_id="P1", expected="matched"),
        psp("b", 500, payout_id="P2", expected="matched"),  # at the tolerance: 499 arrived
        psp("c", 500, payout_id="P3", expected="payout_amount_mismatch"),  # one beyond: 498 arrived
        psp("d", 700, payout_id="P4", expected="ambiguous_match"),  # two equal credits
        psp("e", 800, "GBP", payout_id="P5", expected="payout_amount_mismatch"),  # credit in another currency
    ]
    credits = [
        bank("P1", 970, expected="matched"),
        bank("P2", 499, expected="matched"),
        bank("P3", 498, expected="payout_amount_mismatch"),
        bank("P4", 700, expected="ambiguous_match"),
        bank("P4", 700, expected="ambiguous_match"),
        bank("P5", 800, "EUR", expected="payout_amount_mismatch"),
    ]
    r = run_case(tmp_path, [], lines, credits, rules=rules)
    assert_expected(r, "psp_settlement_lines", lines)
    assert_expected(r, "bank_statement_lines", credits)
    p4 = break_of(r, "psp_settlement_lines", 6)
    assert p4["item_count"] == 3 and "another candidate matches equally well" in p4["reason"]


def test_many_to_many_within_a_key_group_and_its_bound(tmp_path: Path) -> None:
    def m2m(max_size: int) -> str:
        return PSP_BANK + rule(
            "lines_to_credits",
            f"""
kind: many_to_many
left: {{filter: {{record_type: [payment]}}, group_by: [payout_id]}}
right: {{filter: {{direction: [credit]}}, group_by: [end_to_end_id]}}
keys: [{{left: payout_id, right: end_to_end_id}}]
amount: {{left: net_minor, right: amount_minor}}
currency: {{left: currency, right: currency}}
max_group_size: {max_size}
""",
        )

    lines = [
        psp("a", 100, payout_id="K1", expected="matched"),
        psp("b", 200, payout_id="K1", expected="matched"),
        psp("c", 300, payout_id="K1", expected="matched"),
        psp("d", 100, payout_id="K2", expected="payout_amount_mismatch"),
        psp("e", 100, payout_id="K2", expected="payout_amount_mismatch"),
    ]
    credits = [
        bank("K1", 250, expected="matched"),
        bank("K1", 350, expected="matched"),
        bank("K2", 150, expected="payout_amount_mismatch"),
        bank("K2", 51, expected="payout_amount_mismatch"),
    ]
    r = run_case(tmp_path / "a", [], lines, credits, rules=rules_dir(tmp_path / "a", {"20.yaml": m2m(3)}))
    assert_expected(r, "psp_settlement_lines", lines)
    assert_expected(r, "bank_statement_lines", credits)
    m = match_of(r, "bank_statement_lines", 2)
    assert m.height == 5 and m["rule_kind"].unique().to_list() == ["many_to_many"]

    # with at most 2 items per group, K1's three lines cannot match; the credits stay unexplained
    for row in lines[:3]:
        row["expected"] = "payout_without_bank_credit"
    for row in credits[:2]:
        row["expected"] = "bank_credit_without_payout"
    r = run_case(tmp_path / "b", [], lines, credits, rules=rules_dir(tmp_path / "b", {"20.yaml": m2m(2)}))
    assert_expected(r, "psp_settlement_lines", lines)
    assert_expected(r, "bank_statement_lines", credits)
    assert "more items than the max_group_size (2)" in break_of(r, "psp_settlement_lines", 2)["reason"]


def test_priority_and_exclusivity_across_kinds(tmp_path: Path) -> None:
    # a line taken by the exact rule is not offered to the split rule; the split rule then sees a group of
    # one line that does not add up, and the order it points to is already matched
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": ORDERS_PSP + EXACT_PSP_REFERENCE + split_rule()})
    orders = [order("o1", 1000, psp_reference="r1", expected="matched:by_psp_reference")]
    lines = [
        psp("r1", 1000, merchant_reference="o1", expected="matched:by_psp_reference"),
        psp("x", 1000, merchant_reference="o1", expected="duplicate_settlement_line"),
    ]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    assert r.matches.select("item_table", "line_no").is_duplicated().sum() == 0
    assert r.matches.filter(pl.col("rule_id") == "split_settlements").height == 0
