"""Braintree "Transaction Level Fee Report" CSV to ``psp_settlement_lines``.

Column documentation: Braintree Developer Docs, "Transaction-level fee report" (Reporting > Transaction
Level Fee Report, columns Merchant Account ID, Transaction ID, Original Transaction ID, Transaction Type,
Presentment Currency/Amount, Settlement Currency/Amount, Settlement Date, Disbursement Date, Exchange
Rate, Order ID, Discount, Per Transaction Fee, Multicurrency Fee Amount, Braintree Total Amount, Total
Fee Amount and their "Credit" counterparts). One row per settled transaction: the customer pays the
presentment amount (gross, presentment currency), the merchant's account settles the settlement amount
(settlement currency) less the total fee, paid out on the disbursement date.

Signs: sales are credits; ``credit`` (refund) transactions are debits; the fee columns are costs and
their ``... Credit`` columns give fees back. ``Discount`` is a rate (0.0190 = 1.90 %), not an amount.
Net = settlement amount - total fee, in the settlement currency. The report has no control total.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines import money
from pipelines.formats import csvutil
from pipelines.formats.base import ParseContext, ParseResult, split_valid
from pipelines.schema import table

TABLE = "psp_settlement_lines"
CONTROL_TOTALS = None

RECORD_TYPES = {"sale": "payment", "credit": "refund", "refund": "refund", "dispute": "chargeback"}
REQUIRED_COLUMNS = (
    "Transaction ID",
    "Transaction Type",
    "Settlement Currency",
    "Settlement Amount",
    "Settlement Date",
)
OPTIONAL_COLUMNS = (
    "Merchant Account ID",
    "Original Transaction ID",
    "Presentment Currency",
    "Presentment Amount",
    "Disbursement Date",
    "Exchange Rate",
    "Order ID",
    "Payment Instrument",
    "Card Brand",
    "Total Fee Amount",
    "Deposit ID",
)


def _text(name: str) -> pl.Expr:
    return pl.col(name).str.strip_chars()


def _optional(name: str) -> pl.Expr:
    value = _text(name)
    return pl.when(value != "").then(value)


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    ch = ctx.channel
    src = csvutil.read_csv(path, ch.csv, REQUIRED_COLUMNS)
    frame = src.frame.with_columns([pl.lit(None, pl.String).alias(c) for c in OPTIONAL_COLUMNS if c not in src.columns])
    kind = _text("Transaction Type").str.to_lowercase()
    frame = frame.with_columns(
        _text("Settlement Currency").str.to_uppercase().alias("_ccy"),
        _text("Presentment Currency").str.to_uppercase().alias("_pccy"),
        kind.replace_strict(RECORD_TYPES, default=None, return_dtype=pl.String).alias("record_type"),
        _text("Settlement Date").str.to_date("%Y-%m-%d", strict=False).alias("settlement_date"),
        _text("Disbursement Date").str.to_date("%Y-%m-%d", strict=False).alias("payout_date"),
    )
    frame = csvutil.parse_amounts(
        frame,
        {"Settlement Amount": "_ccy", "Total Fee Amount": "_ccy", "Presentment Amount": "_pccy"},
        ch.csv,
    )
    sign = pl.when(pl.col("record_type") == "payment").then(1).otherwise(-1)
    rate, rate_error = csvutil.rate_decimal(pl.col("Exchange Rate"), "Exchange Rate")
    frame = frame.with_columns(
        (pl.col("_m:Settlement Amount") * sign).alias("_settled"),
        pl.col("_m:Total Fee Amount").fill_null(0).alias("fee_minor"),
        (pl.col("_m:Presentment Amount") * sign).alias("gross_minor"),
        rate.alias("exchange_rate"),
        pl.when(_optional("Exchange Rate").is_not_null()).then(rate_error).alias("_rate_error"),
    )
    frame = frame.with_columns((pl.col("_settled") - pl.col("fee_minor")).alias("net_minor"))
    ccy_error = money.currency_error(pl.col("_ccy"))
    pccy_error = pl.when(_optional("Presentment Amount").is_not_null()).then(money.currency_error(pl.col("_pccy")))
    checks = {
        "Transaction Type": pl.when(pl.col("record_type").is_null()).then(
            pl.format("unknown Transaction Type '{}'", pl.col("Transaction Type"))
        ),
        "Transaction ID": pl.when(_optional("Transaction ID").is_null()).then(pl.lit("Transaction ID is missing")),
        "Settlement Currency": ccy_error,
        "Settlement Amount": pl.when(ccy_error.is_null()).then(
            pl.when(_optional("Settlement Amount").is_null())
            .then(pl.lit("Settlement Amount is missing"))
            .otherwise(pl.col("_e:Settlement Amount"))
        ),
        "Total Fee Amount": pl.when(ccy_error.is_null()).then(pl.col("_e:Total Fee Amount")),
        "Presentment Currency": pccy_error,
        "Presentment Amount": pl.when(pccy_error.is_null()).then(pl.col("_e:Presentment Amount")),
        "Exchange Rate": pl.col("_rate_error"),
        "Settlement Date": pl.when(pl.col("settlement_date").is_null()).then(
            pl.format("'{}' is not a date (YYYY-MM-DD)", pl.col("Settlement Date"))
        ),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col(csvutil.RECORD), amount=pl.col("net_minor"), currency=pl.col("_ccy")
    )
    booked = pl.col("settlement_date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    good = good.with_columns(
        pl.lit(ctx.file_id).alias("file_id"),
        pl.lit(ch.id).alias("channel"),
        booked.alias("booked_at"),
        pl.col("settlement_date").alias("business_date"),
        _optional("Transaction ID").alias("psp_reference"),
        _optional("Order ID").alias("merchant_reference"),
        _optional("Merchant Account ID").alias("merchant_account"),
        pl.coalesce(_optional("Card Brand"), _optional("Payment Instrument")).alias("payment_method"),
        pl.col("_pccy").alias("gross_currency"),
        pl.col("_ccy").alias("currency"),
        _optional("Transaction Type").alias("transaction_type"),
        _optional("Original Transaction ID").alias("related_reference"),
        pl.coalesce(_optional("Deposit ID"), pl.col("payout_date").cast(pl.String)).alias("payout_id"),
    )
    return ParseResult(table=TABLE, frame=table(TABLE).conform(good), rejects=rejects, rows_in=src.rows_in)
