"""Reference FX rates CSV (``fx_rates_csv``) to ``fx_rates``.

Column documentation: the reference-rate extract contract, header ``rate_date,base_currency,quote_currency,rate``
(one unit of base_currency costs ``rate`` units of quote_currency, as in the ECB euro foreign exchange
reference rates, https://www.ecb.europa.eu/stats/policy_and_exchange_rates/euro_reference_exchange_rates/).
``rate`` is decimal text kept exact as Decimal(38,12); ``rate_date`` is an ISO date and the business date.
A file with other headers is read through the channel's ``csv.columns`` mapping (``CSV_COLUMNS``); its
rejects then name the file's headers.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.core import money
from pipelines.formats import csvutil
from pipelines.formats.base import ParseContext, ParseResult, finish, split_valid

TABLE = "fx_rates"
REQUIRED_COLUMNS = ("rate_date", "base_currency", "quote_currency", "rate")
# format -> the columns its channel's ``csv.columns`` may map to other headers
CSV_COLUMNS = {"fx_rates_csv": REQUIRED_COLUMNS}


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    src = csvutil.read_csv(path, ctx.channel.csv, REQUIRED_COLUMNS)
    rate_text = pl.col("rate").str.strip_chars()
    if ctx.channel.csv.thousands:
        rate_text = rate_text.str.replace_all(ctx.channel.csv.thousands, "", literal=True)
    if ctx.channel.csv.decimal != ".":
        rate_text = rate_text.str.replace_all(ctx.channel.csv.decimal, ".", literal=True)
    name = src.label
    rate, rate_error = csvutil.rate_decimal(rate_text, name("rate"))
    frame = src.frame.with_columns(
        pl.col("rate_date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False).alias("business_date"),
        pl.col("base_currency").str.strip_chars().str.to_uppercase().alias("base_currency"),
        pl.col("quote_currency").str.strip_chars().str.to_uppercase().alias("quote_currency"),
        rate.alias("_rate"),
        rate_error.alias("_rate_error"),
    )
    key = ["business_date", "base_currency", "quote_currency"]
    frame = frame.with_columns(
        pl.col("line_no").first().over(key).alias("_first_line"),
    )

    def currency_error(column: str) -> pl.Expr:
        return csvutil.missing_as_header(money.currency_error(pl.col(column)), "currency", column, src.labels)

    checks = {
        name("rate_date"): pl.when(pl.col("rate_date").is_null() | (pl.col("rate_date").str.strip_chars() == ""))
        .then(pl.lit(f"{name('rate_date')} is missing"))
        .when(pl.col("business_date").is_null())
        .then(pl.format("'{}' is not a date (YYYY-MM-DD)", pl.col("rate_date"))),
        name("base_currency"): currency_error("base_currency"),
        name("quote_currency"): pl.coalesce(
            currency_error("quote_currency"),
            pl.when(pl.col("quote_currency") == pl.col("base_currency")).then(
                pl.lit(f"{name('quote_currency')} equals {name('base_currency')}")
            ),
        ),
        name("rate"): pl.when(pl.col("_rate_error").is_not_null())
        .then(pl.col("_rate_error"))
        .when(pl.col("_rate") <= 0)
        .then(pl.format("{} must be positive, got '{}'", pl.lit(name("rate")), pl.col("rate"))),
        ",".join(name(c) for c in ("rate_date", "base_currency", "quote_currency")): pl.when(
            pl.col("business_date").is_not_null() & (pl.col("_first_line") != pl.col("line_no"))
        ).then(pl.format("rate for this date and currency pair already given on line {}", pl.col("_first_line"))),
    }
    good, rejects = split_valid(frame, checks, raw=pl.col(csvutil.RECORD), currency=pl.col("quote_currency"))
    return finish(TABLE, good.with_columns(pl.col("_rate").alias("rate")), rejects, ctx, src.rows_in)
