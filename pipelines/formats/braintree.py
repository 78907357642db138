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

from pipelines.core import money
from pipelines.formats import csvutil, psputil
from pipelines.formats.base import ParseContext, ParseResult, finish, split_valid
from pipelines.formats.csvutil import amount_error, optional, stripped

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


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    ch = ctx.channel
    src = csvutil.read_csv(path, ch.csv, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    frame = src.frame
    frame = frame.with_columns(
        stripped("Settlement Currency").str.to_uppercase().alias("_ccy"),
        stripped("Presentment Currency").str.to_uppercase().alias("_pccy"),
        psputil.mapped_type(stripped("Transaction Type"), RECORD_TYPES).alias("record_type"),
        stripped("Settlement Date").str.to_date("%Y-%m-%d", strict=False).alias("settlement_date"),
        stripped("Disbursement Date").str.to_date("%Y-%m-%d", strict=False).alias("payout_date"),
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
        pl.when(optional("Exchange Rate").is_not_null()).then(rate_error).alias("_rate_error"),
    )
    frame = frame.with_columns((pl.col("_settled") - pl.col("fee_minor")).alias("net_minor"))
    ccy_error = money.currency_error(pl.col("_ccy"))
    pccy_error = pl.when(optional("Presentment Amount").is_not_null()).then(money.currency_error(pl.col("_pccy")))
    checks = {
        "Transaction Type": pl.when(pl.col("record_type").is_null()).then(
            pl.format("unknown Transaction Type '{}'", pl.col("Transaction Type"))
        ),
        "Transaction ID": pl.when(optional("Transaction ID").is_null()).then(pl.lit("Transaction ID is missing")),
        "Settlement Currency": ccy_error,
        "Settlement Amount": amount_error("Settlement Amount", ccy_error, required=True),
        "Total Fee Amount": amount_error("Total Fee Amount", ccy_error),
        "Presentment Currency": pccy_error,
        "Presentment Amount": amount_error("Presentment Amount", pccy_error),
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
        booked.alias("booked_at"),
        pl.col("settlement_date").alias("business_date"),
        optional("Transaction ID").alias("psp_reference"),
        optional("Order ID").alias("merchant_reference"),
        optional("Merchant Account ID").alias("merchant_account"),
        pl.coalesce(optional("Card Brand"), optional("Payment Instrument")).alias("payment_method"),
        pl.col("_pccy").alias("gross_currency"),
        pl.col("_ccy").alias("currency"),
        optional("Transaction Type").alias("transaction_type"),
        optional("Original Transaction ID").alias("related_reference"),
        pl.coalesce(optional("Deposit ID"), pl.col("payout_date").cast(pl.String)).alias("payout_id"),
    )
    return finish(TABLE, good, rejects, ctx, src.rows_in)
