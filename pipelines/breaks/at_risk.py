"""Money at risk of a break (docs/money-at-risk.md), one rule per break type.

- ``difference``: the two sides disagree on the amount only; what is at risk is the difference
  ``|amount_minor - counter_amount_minor|`` (both as the rule compared them, in the item's currency). When the
  two sides are not in one currency (or the break names no counterpart amount) the item's whole amount.
- ``item``: the item's whole amount ``|amount_minor|``: money received, paid or debited that nothing explains
  yet (an unmatched item, a duplicate, a currency, status or date mismatch, an ambiguous match, a timeout).
- ``none``: 0; the break has no amount (a file delivered again with other bytes, an expected file missing).

Amounts at risk are never negative (a bank debit of -480.00 EUR puts 480.00 EUR at risk), int64 minor units of
the item's currency; the conversion into the reporting currency rounds half-even once, at the end
(``pipelines.core.money.convert_minor``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pipelines.core import money

Rule = Literal["difference", "item", "none"]

#: break type -> how its money at risk is counted (every type of ``schemas/breaks.yaml``; docs/money-at-risk.md
#: lists the same table, and tests/breaks/test_money_at_risk.py checks that they agree)
AT_RISK_RULES: dict[str, Rule] = {
    "amount_mismatch": "difference",
    "payout_amount_mismatch": "difference",
    "withdrawal_amount_mismatch": "difference",
    "psp_line_without_order": "item",
    "order_not_settled": "item",
    "currency_mismatch": "item",
    "status_mismatch": "item",
    "outside_date_window": "item",
    "duplicate_settlement_line": "item",
    "duplicate_order": "item",
    "payout_without_bank_credit": "item",
    "bank_credit_without_payout": "item",
    "bank_debit_unexplained": "item",
    "ambiguous_match": "item",
    "no_applicable_rule": "item",
    "order_timeout": "item",
    "withdrawal_not_executed": "item",
    "withdrawal_rejected_but_debited": "item",
    "withdrawal_debited_twice": "item",
    "withdrawal_returned": "item",
    "debit_without_withdrawal": "item",
    "withdrawal_currency_mismatch": "item",
    "withdrawal_status_mismatch": "item",
    "file_replaced": "none",
    "expected_file_missing": "none",
}


def rule_of(break_type: str) -> Rule:
    """The rule of a break type (an unknown type: the item's whole amount, the cautious reading)."""
    return AT_RISK_RULES.get(break_type, "item")


def at_risk_minor(
    break_type: str,
    amount_minor: int,
    currency: str,
    counter_amount_minor: int | None,
    counter_currency: str | None,
) -> tuple[int, str]:
    """Money at risk of one break: (minor units, currency), never negative."""
    rule = rule_of(break_type)
    if rule == "none":
        return 0, currency
    if rule == "difference" and counter_amount_minor is not None and counter_currency == currency:
        return abs(amount_minor - counter_amount_minor), currency
    return abs(amount_minor), currency


def to_reporting(
    minor: int, currency: str, reporting_currency: str, fx: dict[str, Decimal]
) -> tuple[int | None, Decimal | None]:
    """``minor`` units of ``currency`` in the reporting currency, with the rate used (units of ``currency`` per 1
    reporting currency; 1 for the reporting currency itself): half-even once, at the end. ``(None, None)`` when
    the date has no rate for the currency; nothing at risk is 0 in any currency, without a rate."""
    if currency == reporting_currency:
        return minor, Decimal(1)
    rate = fx.get(currency)
    if rate is None or rate == 0:
        return (0, None) if minor == 0 else (None, None)
    try:
        return money.convert_minor(minor, currency, reporting_currency, Decimal(1) / rate), rate
    except ValueError:  # a currency without a minor unit (XXX: a file break)
        return (0, None) if minor == 0 else (None, None)
