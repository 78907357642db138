"""Exact formatting of the report's amounts, rates and percentages, from integer minor units (never a float)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl

from pipelines.core import money


# --------------------------------------------------------------------------------------------------
# amounts: exact, from integer minor units (never a float)
# --------------------------------------------------------------------------------------------------
def group_digits(digits: str) -> str:
    """``1234567`` -> ``1,234,567``."""
    head = len(digits) % 3 or 3
    return ",".join([digits[:head], *[digits[i : i + 3] for i in range(head, len(digits), 3)]])


def fmt_number(minor: int, currency: str) -> str:
    """Minor units as a decimal of the currency's exponent with thousands separators, exactly
    (``-123456`` EUR -> ``-1,234.56``; ``1234`` JPY -> ``1,234``; ``5`` BHD -> ``0.005``)."""
    text = money.format_minor(minor, currency)
    sign = "-" if text.startswith("-") else ""
    whole, _, frac = text.lstrip("-").partition(".")
    return f"{sign}{group_digits(whole)}" + (f".{frac}" if frac else "")


def fmt_amount(minor: int | None, currency: str | None) -> str:
    """``1,234.56 EUR``; an amount in a currency without minor unit (``XXX``: none) in minor units."""
    if minor is None or currency is None:
        return ""
    try:
        return f"{fmt_number(int(minor), currency)} {currency}"
    except ValueError:
        return "" if currency == "XXX" and not minor else f"{minor} (minor units) {currency}"


def fmt_rate(rate: Decimal | None) -> str:
    """A rate as exact decimal text without trailing zeros (``6.124300000000`` -> ``6.1243``)."""
    if rate is None:
        return ""
    text = format(rate, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_percent(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{(value * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)}%"


def _major(minor: int, currency: str) -> Decimal:
    """Minor units as major units, for chart geometry only (never shown as an amount)."""
    try:
        return Decimal(minor).scaleb(-money.exponent(currency))
    except ValueError:
        return Decimal(minor)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _has(frame: pl.DataFrame, *names: str) -> bool:
    return all(n in frame.columns for n in names)
