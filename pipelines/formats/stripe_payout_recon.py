"""Stripe itemized payout reconciliation report CSV (``payout_reconciliation.itemized.5``) to ``psp_settlement_lines``.

Column documentation: Stripe Docs, "Report types" > "Payout reconciliation" (https://docs.stripe.com/reports/report-types/payout-reconciliation)
and the reporting category list (https://docs.stripe.com/reports/reporting-categories). One line per balance
transaction paid out in an automatic payout; amounts are major-unit decimal text, currencies lower case,
timestamps ``created_utc`` in UTC. Columns are read by name.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines import money
from pipelines.formats import csvutil
from pipelines.formats.base import ParseContext, ParseResult, business_date, split_valid
from pipelines.schema import table

TABLE = "psp_settlement_lines"

RECORD_TYPES: dict[str, str] = {
    "charge": "payment",
    "payment": "payment",
    "refund": "refund",
    "payment_refund": "refund",
    "refund_failure": "refund",
    "dispute": "chargeback",
    "dispute_reversal": "chargeback",
    "fee": "fee",
    "network_cost": "fee",
    "stripe_fee": "fee",
    "tax": "fee",
    "payout": "payout",
    "payout_reversal": "payout",
    "other_adjustment": "adjustment",
    "transfer": "adjustment",
    "topup": "adjustment",
    "connect_reserved_funds": "adjustment",
    "risk_reserved_funds": "adjustment",
}
KEYED_TYPES = ("payment", "refund", "chargeback")

REQUIRED_COLUMNS = (
    "automatic_payout_id",
    "created_utc",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "source_id",
)
OPTIONAL_COLUMNS = (
    "balance_transaction_id",
    "charge_id",
    "customer_facing_amount",
    "customer_facing_currency",
    "payment_metadata[order_id]",
    "payment_method_type",
)


def _text(name: str) -> pl.Expr:
    return pl.col(name).str.strip_chars()


def _blank(expr: pl.Expr) -> pl.Expr:
    return expr.is_null() | (expr == "")


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    ch = ctx.channel
    opts = ch.csv
    src = csvutil.read_csv(path, opts, REQUIRED_COLUMNS)
    frame = src.frame.with_columns([pl.lit(None, pl.String).alias(c) for c in OPTIONAL_COLUMNS if c not in src.columns])
    frame = frame.with_columns(
        _text("currency").str.to_uppercase().alias("_ccy"),
        _text("customer_facing_currency").str.to_uppercase().alias("_cf_ccy"),
        _text("reporting_category").alias("_category"),
        _text("reporting_category")
        .str.to_lowercase()
        .replace_strict(RECORD_TYPES, default=None, return_dtype=pl.String)
        .alias("record_type"),
        csvutil.naive_timestamp(pl.col("created_utc")).dt.replace_time_zone("UTC").alias("booked_at"),
        pl.coalesce(_text("charge_id").replace("", None), _text("source_id").replace("", None)).alias("psp_reference"),
        _text("payment_metadata[order_id]").replace("", None).alias("merchant_reference"),
    )
    frame = csvutil.parse_amounts(
        frame,
        {"gross": "_ccy", "fee": "_ccy", "net": "_ccy", "customer_facing_amount": "_cf_ccy"},
        opts,
    )
    facing = ~_blank(_text("customer_facing_amount"))
    frame = frame.with_columns(
        pl.when(facing).then(pl.col("_m:customer_facing_amount")).otherwise(pl.col("_m:gross")).alias("gross_minor"),
        pl.when(facing)
        .then(pl.col("_cf_ccy"))
        .when(_blank(_text("gross")))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("_ccy"))
        .alias("gross_currency"),
        pl.col("_m:fee").fill_null(0).alias("fee_minor"),
        pl.col("_m:net").alias("net_minor"),
    )

    ccy_error = money.currency_error(pl.col("_ccy"))
    cf_ccy_error = pl.when(facing | ~_blank(pl.col("_cf_ccy"))).then(money.currency_error(pl.col("_cf_ccy")))

    def amount_error(name: str, currency_error: pl.Expr) -> pl.Expr:
        return pl.when(currency_error.is_null()).then(pl.col(f"_e:{name}"))

    checks: dict[str, pl.Expr] = {
        "reporting_category": pl.when(_blank(pl.col("_category")))
        .then(pl.lit("reporting_category is missing"))
        .when(pl.col("record_type").is_null())
        .then(pl.format("unknown reporting_category '{}'", pl.col("_category"))),
        "source_id": pl.when(
            pl.col("record_type").is_in(list(KEYED_TYPES))
            & pl.col("psp_reference").is_null()
            & pl.col("merchant_reference").is_null()
        ).then(pl.lit("missing key: neither charge_id, source_id nor payment_metadata[order_id] is given")),
        "currency": ccy_error,
        "gross": amount_error("gross", ccy_error),
        "fee": amount_error("fee", ccy_error),
        "net": pl.when(ccy_error.is_not_null())
        .then(pl.lit(None, pl.String))
        .when(pl.col("_e:net").is_not_null())
        .then(pl.col("_e:net"))
        .when(pl.col("net_minor").is_null())
        .then(pl.lit("net is missing")),
        "customer_facing_currency": cf_ccy_error,
        "customer_facing_amount": amount_error("customer_facing_amount", cf_ccy_error),
        "created_utc": pl.when(_blank(_text("created_utc")))
        .then(pl.lit("created_utc is missing"))
        .when(pl.col("booked_at").is_null())
        .then(pl.format("'{}' is not a timestamp (YYYY-MM-DD HH:MM:SS)", pl.col("created_utc"))),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col(csvutil.RECORD), amount=pl.col("net_minor"), currency=pl.col("_ccy")
    )
    good = good.with_columns(
        pl.lit(ctx.file_id).alias("file_id"),
        pl.lit(ch.id).alias("channel"),
        business_date(pl.col("booked_at"), ch.timezone, ch.cutoff).alias("business_date"),
        pl.lit(None, pl.String).alias("merchant_account"),
        _text("payment_method_type").replace("", None).alias("payment_method"),
        pl.col("_ccy").alias("currency"),
        pl.lit(None, pl.Decimal(38, 12)).alias("exchange_rate"),
        _text("automatic_payout_id").replace("", None).alias("payout_id"),
    )
    return ParseResult(table=TABLE, frame=table(TABLE).conform(good), rejects=rejects, rows_in=src.rows_in)
