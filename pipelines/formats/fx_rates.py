"""Reference FX rates CSV (``fx_rates_csv``) to ``fx_rates``.

Column documentation: the reference-rate extract contract, header ``rate_date,base_currency,quote_currency,rate``
(one unit of base_currency costs ``rate`` units of quote_currency, as in the ECB euro foreign exchange
reference rates, https://www.ecb.europa.eu/stats/policy_and_exchange_rates/euro_reference_exchange_rates/).
``rate`` is decimal text kept exact as Decimal(38,12); ``rate_date`` is an ISO date and the business date.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.core import money
from pipelines.formats import csvutil
from pipelines.formats.base import ParseContext, ParseResult, finish, split_valid

TABLE = "fx_rates"
REQUIRED_COLUMNS = ("rate_date", "base_currency", "quote_currency", "rate")


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    src = csvutil.read_csv(path, ctx.channel.csv, REQUIRED_COLUMNS)
    rate_text = pl.col("rate").str.strip_chars()
    if ctx.channel.csv.thousands:
        rate_text = rate_text.str.replace_all(ctx.channel.csv.thousands, "", literal=True)
    if ctx.channel.csv.decimal != ".":
        rate_text = rate_text.str.replace_all(ctx.channel.csv.decimal, ".", literal=True)
    rate, rate_error = csvutil.rate_decimal(rate_text, "rate")
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
    checks = {
        "rate_date": pl.when(pl.col("rate_date").is_null() | (pl.col("rate_date").str.strip_chars() == ""))
        .then(pl.lit("rate_date is missing"))
        .when(pl.col("business_date").is_null())
        .then(pl.format("'{}' is not a date (YYYY-MM-DD)", pl.col("rate_date"))),
        "base_currency": money.currency_error(pl.col("base_currency")),
        "quote_currency": pl.coalesce(
            money.currency_error(pl.col("quote_currency")),
            pl.when(pl.col("quote_currency") == pl.col("base_currency")).then(
                pl.lit("quote_currency equals base_currency")
            ),
        ),
        "rate": pl.when(pl.col("_rate_error").is_not_null())
        .then(pl.col("_rate_error"))
        .when(pl.col("_rate") <= 0)
        .then(pl.format("rate must be positive, got '{}'", pl.col("rate"))),
        "rate_date,base_currency,quote_currency": pl.when(
            pl.col("business_date").is_not_null() & (pl.col("_first_line") != pl.col("line_no"))
        ).then(pl.format("rate for this date and currency pair already given on line {}", pl.col("_first_line"))),
    }
    good, rejects = split_valid(frame, checks, raw=pl.col(csvutil.RECORD), currency=pl.col("quote_currency"))
    return finish(TABLE, good.with_columns(pl.col("_rate").alias("rate")), rejects, ctx, src.rows_in)
