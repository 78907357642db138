"""Formula neutralisation of the published CSVs (CSV injection), the one place the rule lives.

A spreadsheet opening a CSV evaluates a cell that begins with ``=``, ``+``, ``-`` or ``@`` (or with a tab or a
carriage return, which some spreadsheets skip before reading one of those) as a formula. The published CSVs
carry text taken verbatim from the files received (order ids, PSP references, quarantined raw rows, reasons,
resolution notes), so, following the OWASP rule (CSV Injection), every *text* cell beginning with one of
those characters is written with a single quote ``'`` in front of it; the CSV quoting then applies as usual
(a cell holding the separator or a double quote is still quoted, its double quotes doubled).

* Which characters: ``FORMULA_STARTS`` (``= + - @``, tab, carriage return), as the first character only.
* Which columns: text columns only (Polars ``String``, ``Categorical``, ``Enum``; DuckDB ``VARCHAR``). Numbers,
  dates and decimals are written as they are: a negative amount in minor units such as ``-1250`` (int64) stays
  a number. A null stays an empty cell and an empty text stays empty.
* The Parquet outputs are not touched: they keep the raw values, the machine-readable truth.

``neutralise`` is the rule on one value, ``neutralise_frame`` applies it to a Polars frame before
``write_csv``.
"""

from __future__ import annotations

import polars as pl

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell whose first character is one of these is a formula to a spreadsheet."""

QUOTE = "'"
"""What is put in front of such a cell."""

_TEXT_DTYPES = (pl.String, pl.Categorical, pl.Enum)


def neutralise(value: str | None) -> str | None:
    """The CSV cell of a text value: prefixed with ``'`` when it begins with one of ``FORMULA_STARTS``."""
    if value and value.startswith(FORMULA_STARTS):
        return QUOTE + value
    return value


def neutralise_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with ``neutralise`` applied to every text column (other columns unchanged)."""
    text = [name for name, dtype in frame.schema.items() if isinstance(dtype, _TEXT_DTYPES)]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).cast(pl.String).str.slice(0, 1).is_in(list(FORMULA_STARTS)))
        .then(pl.lit(QUOTE) + pl.col(name).cast(pl.String))
        .otherwise(pl.col(name).cast(pl.String))
        .alias(name)
        for name in text
    )
