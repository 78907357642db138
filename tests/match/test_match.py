"""Matching rules on small inline tables: each item carries the outcome it must end in."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from helpers import bank, order, psp
from match_helpers import assert_expected, run_case

from pipelines.match.rules import load_rules


def test_exact_reference_and_tolerance_edges(tmp_path: Path) -> None:
    orders = [
        order("o1", 1000, psp_reference="r1", expected="matched"),
        order("o2", 1000, psp_reference="r2", expected="matched"),  # gross +2: at the tolerance
        order("o3", 1000, psp_reference="r3", expected="amount_mismatch"),  # gross +3: one beyond
        order("o4", 1000, psp_reference="r4", expected="matched"),  # gross -2
    ]
    lines = [
        psp("r1", 1000, expected="matched"),
        psp("x2", 1002, merchant_reference="o2", expected="matched"),
        psp("x3", 1003, merchant_reference="o3", expected="amount_mismatch"),
        psp("x4", 998, merchant_reference="o4", expected="matched"),
    ]
    r = run_case(tmp_path, orders, lines)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    tol = r.matches.filter(pl.col("rule_id") == "order_merchant_reference_tolerance")
    assert sorted(tol["amount_difference_minor"].unique().to_list()) == [-2, 2]
    assert tol["tolerance_minor"].unique().to_list() == [2]
    mismatch = r.breaks.filter(pl.col("break_type") == "amount_mismatch").row(0, named=True)
    assert mismatch["closest_rule"] == "order_merchant_reference_tolerance"
    assert "10.03 EUR differs from order o3 amount 10.00 EUR by 0.03 EUR" in mismatch["reason"]
    assert mismatch["item_count"] == 2


def test_zero_and_three_decimal_currencies(tmp_path: Path) -> None:
    orders = [
        order("c1", 15990, "CLP", psp_reference="rc1", expected="matched"),
        order("c2", 15990, "CLP", psp_reference="rc2", expected="amount_mismatch"),
        order("b1", 12345, "BHD", psp_reference="rb1", expected="matched"),
        order("b2", 12345, "BHD", psp_reference="rb2", expected="matched"),
    ]
    lines = [
        psp("rc1", 15990, "CLP", expected="matched"),
        psp("rc2", 15993, "CLP", expected="amount_mismatch"),
        psp("rb1", 12345, "BHD", expected="matched"),
        psp("zz", 12347, "BHD", merchant_reference="b2", expected="matched"),
    ]
    r = run_case(tmp_path, orders, lines)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    reason = r.breaks.filter(pl.col("break_type") == "amount_mismatch")["reason"][0]
    assert "15993 CLP differs from order c2 amount 15990 CLP by 3 CLP" in reason


def test_break_taxonomy_orders_side(tmp_path: Path) -> None:
    orders = [
        order("o1", 500, psp_reference="r1", expected="matched"),
        order("o2", 500, "GBP", psp_reference="r2", expected="currency_mismatch"),
        order("o3", 500, psp_reference="r3", status="failed", expected="status_mismatch"),
        order("o4", 500, psp_reference="r4", expected="order_not_settled"),
        order("o5", 500, psp_reference="r5", status="expired", expected="no_settlement_expected"),
    ]
    lines = [
        psp("r1", 500, expected="matched"),
        psp("r2", 500, "EUR", expected="currency_mismatch"),
        psp("r3", 500, expected="status_mismatch"),
        psp("r1", 500, expected="duplicate_settlement_line"),
        psp("r9", 700, expected="psp_line_without_order"),
    ]
    r = run_case(tmp_path, orders, lines)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)


def test_tie_is_ambiguous_never_row_order(tmp_path: Path) -> None:
    # two lines claim the same order equally well under the tolerance rule: neither is picked
    orders = [order("o1", 1000, psp_reference="nope", expected="ambiguous_match")]
    lines = [
        psp("a", 1001, merchant_reference="o1", expected="ambiguous_match"),
        psp("b", 999, merchant_reference="o1", expected="ambiguous_match"),
    ]
    r = run_case(tmp_path, orders, lines)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    # reversing the input order gives the same outcome
    r2 = run_case(tmp_path / "rev", orders, list(reversed(lines)))
    assert sorted(r2.breaks["break_type"].to_list()) == sorted(r.breaks["break_type"].to_list())


def test_payout_batches_against_bank_credits(tmp_path: Path) -> None:
    orders = [
        order("o1", 1000, psp_reference="r1", expected="matched"),
        order("o2", 2000, psp_reference="r2", expected="matched"),
    ]
    lines = [
        psp("r1", 1000, fee=20, payout_id="P1", expected="matched"),
        psp(None, 0, record_type="fee", net=-30, payout_id="P1", expected="matched"),
        psp(None, 0, record_type="payout", net=-950, payout_id="P1", expected="matched"),
        psp("r2", 2000, fee=40, payout_id="P2", expected="matched"),
        psp(None, 0, record_type="fee", net=-10, payout_id="P2", expected="payout_amount_mismatch"),
        psp(None, 0, record_type="fee", net=-5, payout_id="P3", expected="payout_without_bank_credit"),
    ]
    credits = [
        bank("P1", 950, expected="matched"),
        bank("P2", 1900, expected="payout_amount_mismatch"),
        bank("PX", 100, expected="bank_credit_without_payout"),
        bank(None, 7, direction="debit", expected="bank_debit_unexplained"),
    ]
    r = run_case(tmp_path, orders, lines, credits)
    assert_expected(r, "psp_settlement_lines", lines)
    assert_expected(r, "bank_statement_lines", credits)
    p2 = r.breaks.filter(pl.col("break_type") == "payout_amount_mismatch").row(0, named=True)
    assert (p2["item_ref"], p2["amount_minor"], p2["counter_amount_minor"]) == ("P2", 1950, 1900)
    pos = r.positions.row(0, named=True)
    assert pos["gross_captured_minor"] == 3000
    assert pos["fees_minor"] == -(20 + 30 + 40 + 10 + 5)
    assert pos["net_expected_minor"] == 3000 - 105
    # the P2 credit arrived but does not balance its batch: it counts as received, the variance shows it
    assert pos["received_minor"] == 950 + 1900
    assert pos["variance_minor"] == 950 + 1900 - 2895


def test_filter_values_are_bound_not_spliced(tmp_path: Path, project_root: Path) -> None:
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(project_root / "rules", rules)
    f = rules / "matching" / "10_orders_psp.yaml"
    f.write_text(f.read_text().replace("status: [succeeded, refunded]", 'status: ["x\') OR (1=1", succeeded]'))
    orders = [order("o1", 500, psp_reference="r1", status="refunded", expected="status_mismatch")]
    lines = [psp("r1", 500, expected="status_mismatch")]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "keys: [{left: psp_reference, right: psp_reference}]",
            'keys: [{left: "psp_reference; DROP TABLE orders", right: psp_reference}]',
            "rule order_psp_reference_exact: field 'keys[0].left': column 'psp_reference; DROP TABLE orders' "
            "does not exist in table orders",
        ),
        (
            "tolerance_minor: 2",
            "tolerance_minor: -1",
            "rule order_merchant_reference_tolerance: field 'amount.tolerance_minor': Input should be greater than or "
            "equal to 0",
        ),
        (
            "amount: {left: amount_minor, right: gross_minor, tolerance_minor: 0}",
            "amount: {left: amount_minor, right: gross_currency, tolerance_minor: 0}",
            "field 'amount.right': column 'gross_currency' of psp_settlement_lines is string, expected int64",
        ),
        (
            "min_days: 0, max_days: 3}\n  - id: order_merchant",
            "min_days: 4, max_days: 3}\n  - id: order_merchant",
            "rule order_psp_reference_exact: field 'date_window_days': Value error, "
            "min_days (4) is greater than max_days",
        ),
        (
            "  partition: {left: psp_channel, right: channel}\n",
            "  partition: {left: psp_chanel, right: channel}\n",
            "pairing: field 'partition.left': column 'psp_chanel' does not exist in table orders",
        ),
        (
            "  partition: {left: psp_channel, right: channel}\n",
            "  partition: {left: psp_channel, right: channel, by: hash}\n",
            "field 'pairing.partition.by': Extra inputs are not permitted; allowed fields: left, right",
        ),
    ],
)
def test_rule_errors_name_file_rule_and_field(
    tmp_path: Path, project_root: Path, old: str, new: str, message: str
) -> None:
    import shutil

    from pipelines.core.channels import RulesError

    rules = tmp_path / "rules"
    shutil.copytree(project_root / "rules", rules)
    f = rules / "matching" / "10_orders_psp.yaml"
    assert old in f.read_text()
    f.write_text(f.read_text().replace(old, new, 1))
    with pytest.raises(RulesError) as exc:
        load_rules(rules)
    assert "10_orders_psp.yaml" in str(exc.value)
    assert message in str(exc.value)
