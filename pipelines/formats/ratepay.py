"""Ratepay settlement report (Abrechnungsreport, CSV) to ``psp_settlement_lines``.

Column documentation: Ratepay merchant portal, "Settlement report" / "Abrechnungsdatei" (semicolon-
separated, every field quoted, UTF-8): SHOP_ID, PAYMENTDATE (date of the payout), PAYMENTMONTH, AMOUNT,
DESCRIPTOR, SHOPSORDER_ID, INVOICENUMBER, DESCRIPTION, FEETYPE, ORDERDATE, SENTDATE, TRANSACTION_ID.
Several rows per order: the factoring purchase price Ratepay pays for the receivable, its disagio and
the buyer transaction fee, goodwill (Kulanz), returns and charge-backs.

Signs: AMOUNT is written from Ratepay's side (a purchase price paid to us is negative, a fee charged to
us positive); the canonical net is the opposite (credit to us positive) and a fee row carries its cost
in ``fee_minor``. The record type comes from DESCRIPTION (German or English keywords, ``TYPE_KEYWORDS``);
a description matching none is rejected. The payout is identified by shop and payment date. The report
has no control total.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.core import money
from pipelines.formats import csvutil, psputil
from pipelines.formats.base import ParseContext, ParseResult, finish, local_to_utc, split_valid
from pipelines.formats.csvutil import amount_error, optional, stripped

TABLE = "psp_settlement_lines"
CONTROL_TOTALS = None
REQUIRED_COLUMNS = ("SHOP_ID", "PAYMENTDATE", "AMOUNT", "DESCRIPTION", "TRANSACTION_ID")
OPTIONAL_COLUMNS = ("SHOPSORDER_ID", "INVOICENUMBER", "FEETYPE", "DESCRIPTOR", "PAYMENTMONTH", "CURRENCY")
DEFAULT_CURRENCY = "EUR"

TYPE_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("rückbelastung", "chargeback"),
    ("chargeback", "chargeback"),
    ("retoure", "refund"),
    ("storno", "refund"),
    ("gutschrift", "refund"),
    ("refund", "refund"),
    ("kulanz", "adjustment"),
    ("goodwill", "adjustment"),
    ("disagio", "fee"),
    ("gebühr", "fee"),
    ("fee", "fee"),
    ("kaufpreis", "payment"),
    ("purchase price", "payment"),
)


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    ch = ctx.channel
    src = csvutil.read_csv(path, ch.csv, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    frame = src.frame
    frame = frame.with_columns(
        pl.coalesce(optional("CURRENCY").str.to_uppercase(), pl.lit(ch.currency or DEFAULT_CURRENCY)).alias("_ccy"),
        psputil.keyword_type(stripped("DESCRIPTION"), TYPE_KEYWORDS).alias("record_type"),
        stripped("PAYMENTDATE").str.to_date("%Y-%m-%d", strict=False).alias("payout_date"),
    )
    frame = csvutil.parse_amounts(frame, {"AMOUNT": "_ccy"}, ch.csv)
    ours = -pl.col("_m:AMOUNT")
    is_fee = pl.col("record_type") == "fee"
    frame = frame.with_columns(
        ours.alias("net_minor"),
        pl.when(is_fee).then(pl.col("_m:AMOUNT")).otherwise(0).alias("fee_minor"),
        pl.when(is_fee).then(pl.lit(None, pl.Int64)).otherwise(ours).alias("gross_minor"),
    )
    ccy_error = money.currency_error(pl.col("_ccy"))
    checks = {
        "DESCRIPTION": pl.when(pl.col("record_type").is_null()).then(
            pl.format("unknown DESCRIPTION '{}' (no known settlement keyword)", pl.col("DESCRIPTION"))
        ),
        "CURRENCY": ccy_error,
        "AMOUNT": amount_error("AMOUNT", ccy_error, required=True),
        "PAYMENTDATE": pl.when(pl.col("payout_date").is_null()).then(
            pl.format("'{}' is not a date (YYYY-MM-DD)", pl.col("PAYMENTDATE"))
        ),
        "TRANSACTION_ID": pl.when(
            (pl.col("record_type") != "fee")
            & optional("TRANSACTION_ID").is_null()
            & optional("SHOPSORDER_ID").is_null()
        ).then(pl.lit("missing key: neither TRANSACTION_ID nor SHOPSORDER_ID is given")),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col(csvutil.RECORD), amount=pl.col("net_minor"), currency=pl.col("_ccy")
    )
    good = good.with_columns(
        local_to_utc(pl.col("payout_date").cast(pl.Datetime("us")), ch.timezone).alias("booked_at"),
        pl.col("payout_date").alias("business_date"),
        optional("TRANSACTION_ID").alias("psp_reference"),
        optional("SHOPSORDER_ID").alias("merchant_reference"),
        optional("SHOP_ID").alias("merchant_account"),
        pl.col("_ccy").alias("currency"),
        pl.when(pl.col("gross_minor").is_not_null()).then(pl.col("_ccy")).alias("gross_currency"),
        optional("DESCRIPTION").alias("transaction_type"),
        optional("INVOICENUMBER").alias("related_reference"),
        pl.concat_str([optional("SHOP_ID"), optional("PAYMENTDATE")], separator="-").alias("payout_id"),
        optional("PAYMENTMONTH").alias("batch_id"),
    )
    return finish(TABLE, good, rejects, ctx, src.rows_in)
