"""Adyen Settlement Details Report (SDR) CSV to ``psp_settlement_lines``.

Column documentation: Adyen Docs, "Settlement details report"
(https://docs.adyen.com/reporting/settlement-reconciliation/transaction-level/settlement-details-report),
which lists the columns and the journal types (Settled, Refunded, Chargeback, Fee, MerchantPayout, ...).
Columns differ between report versions and batches, so every column is read by its header name. The
report carries one line per journal entry of one settlement batch; amounts are major-unit decimal text
split into debit and credit columns, in the gross (GC) or net (NC) currency. A batch pays out each of its
net currencies separately (one MerchantPayout line each): one payout per currency (``psputil.payouts_per_currency``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.formats import csvutil, psputil
from pipelines.formats.base import ParseContext, ParseResult, RowCheck, check, currency_check, finish, split_valid
from pipelines.formats.csvutil import amount_check, blank, is_blank, optional, stripped

TABLE = "psp_settlement_lines"

RECORD_TYPES: dict[str, str] = {
    "Settled": "payment",
    "SettledBulk": "payment",
    "Refunded": "refund",
    "RefundedBulk": "refund",
    "Chargeback": "chargeback",
    "ChargebackReversed": "chargeback",
    "SecondChargeback": "chargeback",
    "RefundedReversed": "chargeback",
    "Fee": "fee",
    "MiscCosts": "fee",
    "PaymentCost": "fee",
    "Commission": "fee",
    "MerchantPayout": "payout",
    "Balancetransfer": "adjustment",
    "DepositCorrection": "adjustment",
    "InvoiceDeduction": "adjustment",
    "ReserveAdjustment": "adjustment",
    "ManualCorrected": "adjustment",
}

REQUIRED_COLUMNS = (
    "Merchant Account",
    "Psp Reference",
    "Merchant Reference",
    "Creation Date",
    "TimeZone",
    "Type",
    "Net Currency",
    "Net Debit (NC)",
    "Net Credit (NC)",
    "Batch Number",
)
OPTIONAL_COLUMNS = (
    "Payment Method",
    "Gross Currency",
    "Gross Debit (GC)",
    "Gross Credit (GC)",
    "Exchange Rate",
    "Commission (NC)",
    "Markup (NC)",
    "Scheme Fees (NC)",
    "Interchange (NC)",
    "Booking Date",
    "Booking Date TimeZone",
)
FEE_COLUMNS = ("Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)")
NET_COLUMNS = ("Net Debit (NC)", "Net Credit (NC)")
GROSS_COLUMNS = ("Gross Debit (GC)", "Gross Credit (GC)")

# Adyen writes the wall-clock zone of its Amsterdam office as CET or CEST depending on the season.
ZONE_ALIASES = {"CET": "Europe/Amsterdam", "CEST": "Europe/Amsterdam"}
_TIMESTAMP_HINT = "YYYY-MM-DD HH:MM:SS"


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    ch = ctx.channel
    opts = ch.csv
    src = csvutil.read_csv(path, opts, REQUIRED_COLUMNS, OPTIONAL_COLUMNS, named_only=True)
    frame = src.frame
    zone_texts = pl.concat([frame["TimeZone"].unique(), frame["Booking Date TimeZone"].unique()])
    zone_texts = zone_texts.str.strip_chars().drop_nulls().unique()
    booked, zones = psputil.to_utc(pl.col("_booked_naive"), pl.col("_tz"), zone_texts.to_list(), ZONE_ALIASES)

    # currencies, types and zones: each distinct text read once
    coded = csvutil.per_value(
        frame,
        {
            "_net_ccy": stripped("Net Currency").str.to_uppercase(),
            "_gross_ccy": stripped("Gross Currency").str.to_uppercase(),
            "_type": stripped("Type"),
            "record_type": stripped("Type").replace_strict(RECORD_TYPES, default=None, return_dtype=pl.String),
            "_booking_tz": stripped("Booking Date TimeZone"),
            "_creation_tz": stripped("TimeZone"),
            "merchant_account": optional("Merchant Account"),
            "payment_method": optional("Payment Method"),
            "batch_number": optional("Batch Number"),
        },
    )
    frame = frame.with_columns(coded["_net_ccy"].alias("_net_ccy"), coded["_gross_ccy"].alias("_gross_ccy"))
    frame = csvutil.parse_amounts(
        frame,
        {c: "_gross_ccy" if c in GROSS_COLUMNS else "_net_ccy" for c in (*NET_COLUMNS, *FEE_COLUMNS, *GROSS_COLUMNS)},
        opts,
    )
    rate, rate_error = csvutil.rate_decimal(pl.col("Exchange Rate"), "Exchange Rate")
    frame = csvutil.per_distinct(
        frame,
        ["Exchange Rate"],
        {
            "exchange_rate": rate,
            "_e:Exchange Rate": pl.when(is_blank("Exchange Rate")).then(pl.lit(None, pl.String)).otherwise(rate_error),
        },
    )
    # each timestamp is only used on the rows it applies to, and read only when some row uses it
    with_booking = frame.select(pl.len(), (~is_blank("Booking Date")).sum()).row(0)
    used = {"Booking Date": with_booking[1] > 0, "Creation Date": with_booking[1] < with_booking[0]}
    frame = csvutil.naive_timestamps(frame, {f"_stamp:{c}": pl.col(c) for c, needed in used.items() if needed})
    unused = pl.lit(None, pl.Datetime("us"))
    lazy = (
        frame.lazy()
        .with_columns(
            coded["_type"].alias("_type"),
            ~is_blank("Booking Date").alias("_has_booking"),
            (
                pl.when(~is_blank("Booking Date")).then(pl.col("_stamp:Booking Date"))
                if used["Booking Date"]
                else unused
            ).alias("_booking_naive"),
            (
                pl.when(is_blank("Booking Date")).then(pl.col("_stamp:Creation Date"))
                if used["Creation Date"]
                else unused
            ).alias("_creation_naive"),
            coded["_booking_tz"].alias("_booking_tz"),
            coded["_creation_tz"].alias("_creation_tz"),
        )
        .with_columns(
            pl.when(pl.col("_has_booking"))
            .then(pl.col("_booking_naive"))
            .otherwise(pl.col("_creation_naive"))
            .alias("_booked_naive"),
            pl.when(pl.col("_has_booking")).then(pl.col("_booking_tz")).otherwise(pl.col("_creation_tz")).alias("_tz"),
            coded["record_type"].alias("record_type"),
        )
        .with_columns(booked.alias("booked_at"))
    )

    def minor(name: str) -> pl.Expr:
        return pl.col(f"_m:{name}")

    net_present = ~(minor("Net Debit (NC)").is_null() & minor("Net Credit (NC)").is_null())
    # (a column: the checks and the rows' gross currency use it again)
    lazy = lazy.with_columns((~(is_blank("Gross Debit (GC)") & is_blank("Gross Credit (GC)"))).alias("_gross_present"))
    gross_present = pl.col("_gross_present")
    lazy = lazy.with_columns(
        (minor("Net Credit (NC)").fill_null(0) - minor("Net Debit (NC)").fill_null(0)).alias("net_minor"),
        pl.when(gross_present)
        .then(minor("Gross Credit (GC)").fill_null(0) - minor("Gross Debit (GC)").fill_null(0))
        .otherwise(pl.lit(None, pl.Int64))
        .alias("gross_minor"),
        pl.sum_horizontal([minor(c).fill_null(0) for c in FEE_COLUMNS]).cast(pl.Int64).alias("fee_minor"),
    )

    net_ccy = currency_check(pl.col("_net_ccy"))
    gross_ccy = check((gross_present | ~blank(pl.col("_gross_ccy")), currency_check(pl.col("_gross_ccy"))))

    def timestamp_error(column: str, naive: str, used: pl.Expr) -> RowCheck:
        gap = pl.col("_tz").is_in(list(zones)) & pl.col("booked_at").is_null()
        reason = check(
            (is_blank(column), f"{column} is missing"),
            (
                pl.col(naive).is_null(),
                pl.format("'{}' is not a timestamp ({})", pl.col(column), pl.lit(_TIMESTAMP_HINT)),
            ),
            (gap, pl.format("'{}' does not exist in time zone {} (DST gap)", pl.col(column), pl.col("_tz"))),
        ).reason
        # a blank text is no timestamp: the rows without one are the suspects (no blank test on every row)
        return check((used, RowCheck(suspect=pl.col(naive).is_null() | gap.fill_null(False), reason=reason)))

    def zone_error(column: str, zone: str, used: pl.Expr) -> RowCheck:
        # ``zone``: the column's text without surrounding blanks
        return check(
            (
                used,
                check(
                    (is_blank(column), f"{column} is missing"),
                    (~pl.col(zone).is_in(list(zones)), pl.format("unknown time zone '{}'", pl.col(zone))),
                ),
            )
        )

    booking, creation = pl.col("_has_booking"), ~pl.col("_has_booking")
    checks: dict[str, pl.Expr | RowCheck] = {
        "Type": psputil.type_check("_type", "Type"),
        "Psp Reference": psputil.key_check(
            is_blank("Psp Reference") & is_blank("Merchant Reference"), "Psp Reference nor Merchant Reference"
        ),
        "Net Currency": net_ccy,
        "Net Debit (NC)": amount_check("Net Debit (NC)", net_ccy.reason),
        "Net Credit (NC)": check(
            (net_ccy.suspect, pl.lit(None, pl.String)),
            (pl.col("_e:Net Credit (NC)").is_not_null(), pl.col("_e:Net Credit (NC)")),
            (
                ~net_present & pl.col("_e:Net Debit (NC)").is_null(),
                "Net Debit (NC) and Net Credit (NC) are both empty",
            ),
        ),
        **{c: amount_check(c, net_ccy.reason) for c in FEE_COLUMNS},
        "Gross Currency": gross_ccy,
        **{c: amount_check(c, gross_ccy.reason) for c in GROSS_COLUMNS},
        "Exchange Rate": pl.col("_e:Exchange Rate"),
        "Booking Date": timestamp_error("Booking Date", "_booking_naive", booking),
        "Booking Date TimeZone": zone_error("Booking Date TimeZone", "_booking_tz", booking),
        "Creation Date": timestamp_error("Creation Date", "_creation_naive", creation),
        "TimeZone": zone_error("TimeZone", "_creation_tz", creation),
        **csvutil.record_checks(src),
    }
    good, rejects = split_valid(
        lazy,
        checks,
        raw=pl.col(csvutil.RECORD),
        amount=pl.when(
            net_present & pl.col("_e:Net Debit (NC)").is_null() & pl.col("_e:Net Credit (NC)").is_null()
        ).then(pl.col("net_minor")),
        currency=pl.col("_net_ccy"),
    )
    merchant_account = coded["merchant_account"]
    good = good.with_columns(
        psputil.booked_business_date(ch),
        optional("Psp Reference").alias("psp_reference"),
        optional("Merchant Reference").alias("merchant_reference"),
        merchant_account.alias("merchant_account"),
        coded["payment_method"].alias("payment_method"),
        pl.when(gross_present).then(pl.col("_gross_ccy")).alias("gross_currency"),
        pl.col("_net_ccy").alias("currency"),
    )
    # the batch key as a column: the payout id refers to it up to three times
    good = good.with_columns(
        pl.concat_str([pl.col("merchant_account"), coded["batch_number"]], separator="-").alias("_batch")
    )
    good = psputil.payouts_per_currency(good, pl.col("_batch"), "currency")
    return finish(TABLE, good, rejects, ctx, src.rows_in)
