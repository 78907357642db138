"""Checkout.com "Financial Actions by Payout ID" report (CSV) to ``psp_settlement_lines``.

Column documentation: Checkout.com Docs, Funds management > Retrieve financial reports > Settlement reports >
"Financial Actions by Payout ID Report" and its "Breakdown types": one row per breakdown (the gross amount,
each fee) of each financial action (capture, refund, chargeback, payout ...) that makes up a settlement;
columns read here: Action ID, Action Type, Payment ID, Reference, Processed On (UTC), Payout ID, Breakdown
Type, Processing Currency, Holding Currency, Processing Currency Amount, Holding Currency Amount, FX Rate
Applied, Payment Method, Sub Entity ID. No real file was available (the SDK fixture is a stub); the sample
``data_samples/formats/checkout/`` follows these columns.

Amounts are major-unit decimals, signed from our side: the gross of a capture is positive, fees and the
gross of a refund or chargeback negative. The breakdown rows of one action become one canonical line:
gross = the Gross breakdown in the holding (settlement) currency, fee = the fee breakdowns as a cost,
net = the sum of all its breakdowns; the processing currency amount and the FX rate applied are kept as
gross currency and exchange rate when they differ. A row that cannot be read rejects its whole action (its
other rows are rejected too, naming the line), so no partial action is staged. No file control total.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.core import money
from pipelines.formats import csvutil, psputil
from pipelines.formats.base import ParseContext, ParseResult, finish, split_valid
from pipelines.formats.csvutil import amount_error, optional

TABLE = "psp_settlement_lines"
CONTROL_TOTALS = None
REQUIRED_COLUMNS = (
    "Action ID",
    "Action Type",
    "Processed On",
    "Breakdown Type",
    "Holding Currency",
    "Holding Currency Amount",
)
OPTIONAL_COLUMNS = (
    "Payment ID",
    "Reference",
    "Payout ID",
    "Processing Currency",
    "Processing Currency Amount",
    "FX Rate Applied",
    "Payment Method",
    "Sub Entity ID",
)
ACTION_TYPES = {
    "capture": "payment",
    "refund": "refund",
    "chargeback": "chargeback",
    "chargeback reversal": "chargeback",
    "payout": "payout",
    "card payout": "payout",
    "reserve hold": "adjustment",
    "reserve release": "adjustment",
    "adjustment": "adjustment",
    "fee": "fee",
}


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    ch = ctx.channel
    src = csvutil.read_csv(path, ch.csv, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    frame = src.frame
    breakdown = optional("Breakdown Type").str.to_lowercase()
    frame = frame.with_columns(
        optional("Holding Currency").str.to_uppercase().alias("_ccy"),
        optional("Processing Currency").str.to_uppercase().alias("_pccy"),
        optional("Action Type").alias("transaction_type"),
        psputil.mapped_type(optional("Action Type"), ACTION_TYPES).alias("record_type"),
        pl.when(breakdown.str.contains("fee"))
        .then(pl.lit("fee"))
        .when(breakdown.str.contains("gross"))
        .then(pl.lit("gross"))
        .when(breakdown.str.contains("reserve") | breakdown.str.contains("adjustment"))
        .then(pl.lit("other"))
        .alias("_part"),
        csvutil.iso_utc(pl.col("Processed On")).alias("booked_at"),
    )
    frame = csvutil.parse_amounts(
        frame, {"Holding Currency Amount": "_ccy", "Processing Currency Amount": "_pccy"}, ch.csv
    )
    rate, rate_error = csvutil.rate_decimal(pl.col("FX Rate Applied"), "FX Rate Applied")
    frame = frame.with_columns(rate.alias("_rate"))
    ccy_error = money.currency_error(pl.col("_ccy"))
    pccy_error = pl.when(optional("Processing Currency Amount").is_not_null()).then(
        money.currency_error(pl.col("_pccy"))
    )
    checks: dict[str, pl.Expr] = {
        "Action ID": pl.when(optional("Action ID").is_null()).then(pl.lit("Action ID is missing")),
        "Action Type": pl.when(pl.col("record_type").is_null()).then(
            pl.format("unknown Action Type '{}'", pl.col("Action Type"))
        ),
        "Breakdown Type": pl.when(pl.col("_part").is_null()).then(
            pl.format("unknown Breakdown Type '{}'", pl.col("Breakdown Type"))
        ),
        "Holding Currency": ccy_error,
        "Holding Currency Amount": amount_error("Holding Currency Amount", ccy_error, required=True),
        "Processing Currency": pccy_error,
        "Processing Currency Amount": amount_error("Processing Currency Amount", pccy_error),
        "FX Rate Applied": pl.when(optional("FX Rate Applied").is_not_null()).then(rate_error),
        "Processed On": pl.when(pl.col("booked_at").is_null()).then(
            pl.format("'{}' is not an ISO 8601 timestamp", pl.col("Processed On"))
        ),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col(csvutil.RECORD), amount=pl.col("_m:Holding Currency Amount"), currency=pl.col("_ccy")
    )
    # An action with any rejected row is rejected whole: its other rows go to quarantine too.
    bad_actions = (
        frame.join(rejects.select("line_no").unique(), on="line_no")
        .select(pl.col("Action ID"), pl.col("line_no").alias("_bad_line"))
        .group_by("Action ID")
        .agg(pl.col("_bad_line").min())
    )
    dragged = good.join(bad_actions, on="Action ID", how="inner")
    if dragged.height:
        rejects = pl.concat(
            [
                rejects,
                dragged.select(
                    pl.col("line_no"),
                    pl.lit("Action ID").alias("field"),
                    pl.format(
                        "another row of action {} (line {}) was rejected", pl.col("Action ID"), pl.col("_bad_line")
                    ).alias("reason"),
                    pl.col(csvutil.RECORD).alias("raw"),
                    pl.col("_m:Holding Currency Amount").alias("amount_minor"),
                    pl.col("_ccy").alias("currency"),
                ),
            ]
        ).sort("line_no", "field")
        good = good.join(bad_actions, on="Action ID", how="anti")
    amount = pl.col("_m:Holding Currency Amount")
    lines = (
        good.sort("line_no")
        .group_by("Action ID", maintain_order=True)
        .agg(
            pl.col("line_no").first(),
            pl.col("record_type").first(),
            pl.col("transaction_type").first(),
            pl.col("booked_at").first(),
            pl.col("_ccy").first().alias("currency"),
            pl.col("_pccy").filter(pl.col("_part") == "gross").first().alias("_pccy"),
            amount.filter(pl.col("_part") == "gross").sum().alias("gross_minor"),
            (-amount.filter(pl.col("_part") == "fee")).sum().alias("fee_minor"),
            amount.sum().alias("net_minor"),
            pl.col("_m:Processing Currency Amount").filter(pl.col("_part") == "gross").sum().alias("_pgross"),
            pl.col("_rate").drop_nulls().first().alias("exchange_rate"),
            optional("Payment ID").drop_nulls().first().alias("psp_reference"),
            optional("Reference").drop_nulls().first().alias("merchant_reference"),
            optional("Payout ID").drop_nulls().first().alias("payout_id"),
            optional("Payment Method").drop_nulls().first().alias("payment_method"),
            optional("Sub Entity ID").drop_nulls().first().alias("merchant_account"),
            pl.col("_ccy").n_unique().alias("_currencies"),
        )
    )
    foreign = pl.col("_pccy").is_not_null() & (pl.col("_pccy") != pl.col("currency"))
    # One canonical line per action: the rows in are the actions staged plus the report rows rejected.
    rows_in = lines.height + (int(rejects["line_no"].n_unique()) if rejects.height else 0)
    lines = lines.with_columns(
        psputil.booked_business_date(ch),
        pl.when(foreign).then(pl.col("_pgross")).otherwise(pl.col("gross_minor")).alias("gross_minor"),
        pl.when(foreign).then(pl.col("_pccy")).otherwise(pl.col("currency")).alias("gross_currency"),
        pl.col("Action ID").alias("related_reference"),
    )
    return finish(TABLE, lines, rejects, ctx, rows_in)
