"""Money at risk of a break (pipelines/breaks/at_risk.py, docs/money-at-risk.md).

Invariants checked here:
1. Every break type of the breaks contract has exactly one rule, and docs/money-at-risk.md lists the same one.
2. Money at risk is int64 minor units, never negative: the difference for amount and payout mismatches in one
   currency, the item's whole amount otherwise, 0 for breaks without an amount.
3. The reporting-currency amount is converted with a Decimal rate and rounded half-even once, at the end; without
   a rate it is empty (nothing at risk is 0 in any currency).
4. Reasons name the files items came from (as received), not only their channel.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from pipelines.breaks import at_risk, lifecycle
from pipelines.breaks.build import label_with_file, name_files
from pipelines.core import schema
from pipelines.core.config import PROJECT_ROOT

DAY = dt.date(2026, 11, 26)
FX = {"MXN": Decimal("21.3501"), "USD": Decimal("2"), "JPY": Decimal("160"), "GBP": Decimal("0.8381")}


def test_every_break_type_has_one_rule_and_the_docs_say_the_same() -> None:
    types = set(schema.table("breaks").column("break_type").allowed or ())
    assert set(at_risk.AT_RISK_RULES) == types
    doc = (PROJECT_ROOT / "docs" / "money-at-risk.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `([a-z_]+)` \| (difference|item|none) \|", doc, flags=re.MULTILINE))
    assert documented == at_risk.AT_RISK_RULES
    described = schema.table("breaks").column("at_risk_minor").description
    for break_type, rule in at_risk.AT_RISK_RULES.items():
        if rule != "item":  # the contract names the exceptions; every other type is the item's amount
            assert break_type in described


# break type, amount, currency, counter amount, counter currency -> expected (minor, currency)
CASES: list[tuple[str, int, str, int | None, str | None, tuple[int, str]]] = [
    ("payout_amount_mismatch", 9422098, "MXN", 9421098, "MXN", (1000, "MXN")),  # a 10.00 MXN shortfall
    ("amount_mismatch", 59113, "MXN", 78713, "MXN", (19600, "MXN")),  # short: the gap, positive
    ("amount_mismatch", 708390, "BRL", 566790, "BRL", (141600, "BRL")),  # over: the gap
    ("withdrawal_amount_mismatch", 83550, "EUR", 83300, "EUR", (250, "EUR")),
    ("amount_mismatch", 1000, "EUR", 1000, "EUR", (0, "EUR")),  # equal amounts (another condition): nothing
    ("amount_mismatch", 1000, "EUR", 900, "USD", (1000, "EUR")),  # two currencies: the whole item
    ("payout_amount_mismatch", 1000, "EUR", None, None, (1000, "EUR")),  # no counterpart amount: the whole item
    ("currency_mismatch", 12750, "GBP", 12750, "EUR", (12750, "GBP")),
    ("status_mismatch", 4950, "EUR", 4950, "EUR", (4950, "EUR")),  # same amounts, wrong status: the whole item
    ("duplicate_settlement_line", 9514, "EUR", 9514, "EUR", (9514, "EUR")),
    ("debit_without_withdrawal", -48000, "EUR", None, None, (48000, "EUR")),  # a debit: never negative
    ("withdrawal_debited_twice", -143850, "EUR", -143850, "EUR", (143850, "EUR")),
    ("order_not_settled", 2733902, "CLP", None, None, (2733902, "CLP")),
    ("file_replaced", 0, "XXX", None, None, (0, "XXX")),
    ("expected_file_missing", 0, "XXX", None, None, (0, "XXX")),
    ("a_type_added_later", -700, "EUR", 500, "EUR", (700, "EUR")),  # unknown: the cautious reading, the item
]


@pytest.mark.parametrize(("break_type", "amount", "currency", "counter", "counter_currency", "expected"), CASES)
def test_at_risk_per_break_type(
    break_type: str, amount: int, currency: str, counter: int | None, counter_currency: str | None, expected: Any
) -> None:
    got = at_risk.at_risk_minor(break_type, amount, currency, counter, counter_currency)
    assert got == expected
    assert isinstance(got[0], int) and got[0] >= 0


# minor units, currency -> expected (reporting minor units, rate used); EUR reporting
CONVERSIONS: list[tuple[int, str, tuple[int | None, Decimal | None]]] = [
    (1000, "MXN", (47, Decimal("21.3501"))),  # 10.00 MXN / 21.3501 = 0.46838... EUR
    (5, "USD", (2, Decimal("2"))),  # 0.025 EUR: half-even down to 0.02
    (15, "USD", (8, Decimal("2"))),  # 0.075 EUR: half-even up to 0.08
    (1000, "JPY", (625, Decimal("160"))),  # no minor unit in JPY: 1000 / 160 = 6.25 EUR
    (12345, "EUR", (12345, Decimal(1))),  # the reporting currency itself
    (500, "CHF", (None, None)),  # no rate of the date
    (0, "CHF", (0, None)),  # nothing at risk is 0, rate or not
    (0, "XXX", (0, None)),  # a file break
]


@pytest.mark.parametrize(("minor", "currency", "expected"), CONVERSIONS)
def test_reporting_conversion_rounds_half_even_once(minor: int, currency: str, expected: Any) -> None:
    assert at_risk.to_reporting(minor, currency, "EUR", FX) == expected


def _found(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "business_date": DAY,
        "break_id": "B1",
        "break_type": "payout_amount_mismatch",
        "channel": "stripe_eu",
        "item_table": "psp_settlement_lines",
        "item_ref": "po_1",
        "amount_minor": 9422098,
        "currency": "MXN",
        "counter_amount_minor": 9421098,
        "counter_currency": "MXN",
        "item_count": 2,
        "reason": "r",
    }
    return {**row, **over}


def test_enriched_breaks_carry_money_at_risk_beside_the_item_amount() -> None:
    found = pl.DataFrame(
        [
            _found(),
            _found(
                break_id="B2", break_type="file_replaced", amount_minor=0, currency="XXX", counter_amount_minor=None
            ),
            _found(break_id="B3", break_type="order_not_settled", currency="CHF", counter_amount_minor=None),
            _found(break_id="B4", break_type="debit_without_withdrawal", amount_minor=-48000, currency="EUR"),
        ],
        infer_schema_length=None,
    )
    out = lifecycle.enrich_breaks(found, DAY, lifecycle.BreakPolicy(), lifecycle.History(), FX)
    cols = (
        "break_id",
        "counterparty",
        "at_risk_minor",
        "at_risk_currency",
        "at_risk_reporting_minor",
        "amount_reporting_minor",
        "fx_rate",
        "fx_rate_date",
    )
    assert out.select(cols).rows() == [
        # the 10.00 MXN shortfall: 0.47 EUR at risk, the payout itself worth 4,413.14 EUR
        ("B1", "stripe_eu", 1000, "MXN", 47, 441314, Decimal("21.3501"), DAY),
        ("B2", "stripe_eu", 0, "XXX", 0, None, None, None),
        ("B3", "stripe_eu", 9422098, "CHF", None, None, None, None),  # no CHF rate: counted, not converted
        ("B4", "stripe_eu", 48000, "EUR", 48000, -48000, Decimal(1), DAY),
    ]
    assert out.schema["at_risk_minor"] == pl.Int64 and out.schema["fx_rate"] == pl.Decimal(38, 12)
    assert schema.table("breaks").column_names == out.columns


def test_labels_name_the_files_as_received() -> None:
    reason = (
        "bank debit W1 (bank_eu line 422) repeats bank debit W1 (bank_eu line 379) (same reference, type and amounts)"
    )
    item = label_with_file(reason, "bank_eu", 422, "camt053_2026-11-26.xml")
    both = label_with_file(item, "bank_eu", 379, "camt053_2026-11-25.xml", counterpart=True)
    assert both == (
        "bank debit W1 (camt053_2026-11-26.xml line 422, bank_eu) repeats bank debit W1 "
        "(camt053_2026-11-25.xml line 379, bank_eu) (same reference, type and amounts)"
    )
    # the same channel and line in two files: the item's label comes first, its counterpart's after it
    same = "PSP payment X (adyen_eu line 2) repeats PSP payment X (adyen_eu line 2) (same reference)"
    named = label_with_file(label_with_file(same, "adyen_eu", 2, "b.csv"), "adyen_eu", 2, "a.csv", counterpart=True)
    assert (
        named
        == "PSP payment X (b.csv line 2, adyen_eu) repeats PSP payment X (a.csv line 2, adyen_eu) (same reference)"
    )
    # a repeated order: where it is and where its first occurrence is
    order = (
        "order o2 at line 2 repeats order o2 at line 3 of another file (same order_id); only the first is reconciled"
    )
    named = label_with_file(label_with_file(order, "orders", 2, "orders_b.csv"), "orders", 3, "orders_a.csv", True)
    assert named == (
        "order o2 at line 2 of orders_b.csv repeats order o2 at line 3 of orders_a.csv (same order_id); "
        "only the first is reconciled"
    )
    assert label_with_file(order, "orders", 2, None) == order  # a file without a known name: as it was


def test_name_files_rewrites_every_reason_of_a_frame() -> None:
    found = pl.DataFrame(
        {
            "reason": ["PSP payment X (adyen_eu line 11) amount 1.00 EUR differs from order O1", "order O2 (1.00 EUR)"],
            "channel": ["adyen_eu", "orders"],
            "line_no": [11, 5],
            "file_name": ["settlement_detail_report_batch_5242.csv", "orders_2026-11-26.csv"],
            "counter_channel": ["orders", None],
            "counter_line_no": [114, None],
            "counter_file_name": ["orders_2026-11-26.csv", None],
        }
    )
    assert name_files(found)["reason"].to_list() == [
        "PSP payment X (settlement_detail_report_batch_5242.csv line 11, adyen_eu) amount 1.00 EUR differs from "
        "order O1",
        "order O2 (1.00 EUR)",
    ]
