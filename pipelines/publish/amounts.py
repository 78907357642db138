"""Amounts of the published tables as decimals of their currency, for people and spreadsheets.

The tables hold money as ``int64`` minor units (``*_minor`` columns) beside an ISO 4217 currency. A reader
wants ``12.34 EUR``, ``1234 JPY``, ``1.234 BHD``: the amount in major units with as many decimals as the
currency's exponent (``pipelines.core.money``). Both conversions here are exact: integer and text
arithmetic for the CSVs (``with_decimal_text``), ``Decimal`` for the workbook (``to_decimal``); never a float.

Which currency an amount column is in (``currency_column``): ``*_reporting_minor`` is in
``reporting_currency`` (none when the table has no such column); ``<prefix>_..._minor`` is in
``<prefix>_currency`` when the table has that column (``counter_amount_minor`` -> ``counter_currency``,
``at_risk_minor`` -> ``at_risk_currency``); any other amount is in ``currency``. An amount whose currency is
missing or unknown has no decimal form (null).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import polars as pl

from pipelines.core import money

MINOR_SUFFIX = "_minor"
_INTEGER_DTYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def currency_column(amount: str, columns: Sequence[str]) -> str | None:
    """The column holding the currency of the ``*_minor`` column ``amount``, or None when there is none."""
    if not amount.endswith(MINOR_SUFFIX):
        return None
    words = amount.removesuffix(MINOR_SUFFIX).split("_")
    if "reporting" in words:  # in the reporting currency, or in none known: never in the item's currency
        return "reporting_currency" if "reporting_currency" in columns else None
    candidates = [f"{'_'.join(words[:n])}_currency" for n in range(len(words), 0, -1)]
    candidates.append("currency")
    return next((c for c in candidates if c in columns), None)


def amount_columns(frame: pl.DataFrame) -> dict[str, str]:
    """Every integer ``*_minor`` column of ``frame`` whose currency column is known -> that currency column."""
    found: dict[str, str] = {}
    for name, dtype in frame.schema.items():
        if name.endswith(MINOR_SUFFIX) and isinstance(dtype, _INTEGER_DTYPES):
            currency = currency_column(name, frame.columns)
            if currency is not None:
                found[name] = currency
    return found


def decimal_name(amount: str, columns: Sequence[str]) -> str:
    """The name of the decimal twin of ``amount``: without ``_minor`` (``amount_minor`` -> ``amount``)."""
    name = amount.removesuffix(MINOR_SUFFIX)
    return name if name not in columns else f"{name}_decimal"


def decimal_text(minor: pl.Expr, currency: pl.Expr) -> pl.Expr:
    """The exact decimal text of minor units in each row's currency (``-1234`` EUR -> ``"-12.34"``, ``1234``
    JPY -> ``"1234"``, ``5`` BHD -> ``"0.005"``), as ``money.format_minor`` gives it; null where the amount or
    the currency is missing or the currency is not an ISO 4217 currency with a minor unit."""
    exp = currency.cast(pl.String).replace_strict(money.exponents(), default=None, return_dtype=pl.Int64)
    digits = minor.cast(pl.Int64).abs().cast(pl.String).str.zfill(exp + 1)
    split = digits.str.len_chars().cast(pl.Int64) - exp
    body = pl.when(exp > 0).then(digits.str.slice(0, split) + pl.lit(".") + digits.str.slice(split)).otherwise(digits)
    sign = pl.when(minor < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.when(minor.is_not_null() & exp.is_not_null()).then(sign + body).otherwise(pl.lit(None, pl.String))


def with_decimal_text(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with, after its columns, a decimal text column for each amount column (``amount_columns``):
    ``amount_minor`` -> ``amount``. Appended at the end, so the columns a reader of the table knew keep their
    places."""
    pairs = amount_columns(frame)
    if not pairs:
        return frame
    return frame.with_columns(
        decimal_text(pl.col(amount), pl.col(currency)).alias(decimal_name(amount, frame.columns))
        for amount, currency in pairs.items()
    )


def to_decimal(minor: int, currency: str | None) -> Decimal | None:
    """Minor units as an exact ``Decimal`` of major units (``1234`` EUR -> ``Decimal("12.34")``), or None when
    the currency is missing or unknown."""
    if currency is None:
        return None
    exponent = money.exponents().get(currency)
    if exponent is None:
        return None
    return Decimal(minor).scaleb(-exponent)
