"""Stripe itemized payout reconciliation report CSV (``payout_reconciliation.itemized.5``) to ``psp_settlement_lines``.

Column documentation: Stripe Docs, "Report types" > "Payout reconciliation" (https://docs.stripe.com/reports/report-types/payout-reconciliation)
and the reporting category list (https://docs.stripe.com/reports/reporting-categories). One line per balance
transaction paid out in an automatic payout; amounts are major-unit decimal text, currencies lower case,
timestamps ``created_utc`` in UTC. Columns are read by name.

Beside the amounts: ``payment_intent_id`` (the payment intent the charge, refund or dispute belongs to) fills
``payment_intent_id``; the payout's effective date ``automatic_payout_effective_at`` (the day Stripe expects
the payout to arrive in the bank, in UTC; ``automatic_payout_effective_at_utc`` where the report has that
column) fills ``payout_date``; ``available_on_utc`` (else ``available_on``: the day the line's funds became
available in the Stripe balance) fills ``settlement_date``. ``business_date`` stays the line's own booking
(``created_utc`` in the channel's time zone and cut-off).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.formats import csvutil, psputil
from pipelines.formats.base import ParseContext, ParseResult, RowCheck, check, currency_check, finish, split_valid
from pipelines.formats.csvutil import amount_check, blank, is_blank, optional, stripped

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
    "automatic_payout_effective_at",
    "automatic_payout_effective_at_utc",
    "available_on",
    "available_on_utc",
    "balance_transaction_id",
    "charge_id",
    "customer_facing_amount",
    "customer_facing_currency",
    "payment_intent_id",
    "payment_metadata[order_id]",
    "payment_method_type",
)
# the payout's effective (arrival) date and the day the line became available: UTC column first
PAYOUT_DATE_COLUMNS = ("automatic_payout_effective_at_utc", "automatic_payout_effective_at")
SETTLEMENT_DATE_COLUMNS = ("available_on_utc", "available_on")


def _day_text(columns: tuple[str, ...]) -> pl.Expr:
    """The text of the first of ``columns`` that is given."""
    return pl.coalesce([optional(c) for c in columns])


def _day(text: str, stamp: str) -> pl.Expr:
    """The date in column ``text`` (a timestamp or a date), given column ``stamp``: ``text`` read as a
    timestamp (``csvutil.naive_timestamp``)."""
    return pl.coalesce(pl.col(stamp).dt.date(), pl.col(text).str.to_date("%Y-%m-%d", strict=False))


# the date columns, the columns each is read from, and the columns holding its text and the text as a timestamp
_DAYS = {
    "payout_date": (PAYOUT_DATE_COLUMNS, "_payout_text", "_payout_stamp"),
    "settlement_date": (SETTLEMENT_DATE_COLUMNS, "_settled_text", "_settled_stamp"),
}


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    ch = ctx.channel
    opts = ch.csv
    src = csvutil.read_csv(path, opts, REQUIRED_COLUMNS, OPTIONAL_COLUMNS, named_only=True)
    # currencies and categories: each distinct text read once
    coded = csvutil.per_value(
        src.frame,
        {
            "_ccy": stripped("currency").str.to_uppercase(),
            "_cf_ccy": stripped("customer_facing_currency").str.to_uppercase(),
            "_category": stripped("reporting_category"),
            "record_type": psputil.mapped_type(stripped("reporting_category"), RECORD_TYPES),
        },
    )
    frame = src.frame.with_columns(
        coded["_ccy"].alias("_ccy"),
        coded["_cf_ccy"].alias("_cf_ccy"),
        *[_day_text(columns).alias(text) for columns, text, _ in _DAYS.values()],
    )
    frame = csvutil.naive_timestamps(
        frame,
        {"_booked_naive": pl.col("created_utc"), **{stamp: pl.col(text) for _, text, stamp in _DAYS.values()}},
    )
    frame = csvutil.parse_amounts(
        frame,
        {"gross": "_ccy", "fee": "_ccy", "net": "_ccy", "customer_facing_amount": "_cf_ccy"},
        opts,
    )
    lazy = (
        frame.lazy()
        .with_columns(coded["_category"].alias("_category"))
        .with_columns(
            coded["record_type"].alias("record_type"),
            pl.col("_booked_naive").dt.replace_time_zone("UTC").alias("booked_at"),
            pl.coalesce(optional("charge_id"), optional("source_id")).alias("psp_reference"),
            optional("payment_metadata[order_id]").alias("merchant_reference"),
            optional("payment_intent_id").alias("payment_intent_id"),
            *[_day(text, stamp).alias(name) for name, (_, text, stamp) in _DAYS.items()],
        )
    )
    facing = ~is_blank("customer_facing_amount")
    lazy = lazy.with_columns(
        pl.when(facing).then(pl.col("_m:customer_facing_amount")).otherwise(pl.col("_m:gross")).alias("gross_minor"),
        pl.when(facing)
        .then(pl.col("_cf_ccy"))
        .when(is_blank("gross"))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("_ccy"))
        .alias("gross_currency"),
        pl.col("_m:fee").fill_null(0).alias("fee_minor"),
        pl.col("_m:net").alias("net_minor"),
    )

    ccy = currency_check(pl.col("_ccy"))
    cf_ccy = check((facing | ~blank(pl.col("_cf_ccy")), currency_check(pl.col("_cf_ccy"))))

    def day_check(name: str, text: str) -> RowCheck:
        return check(
            (
                pl.col(text).is_not_null() & pl.col(name).is_null(),
                pl.format("'{}' is not a date or timestamp (YYYY-MM-DD[ HH:MM:SS])", pl.col(text)),
            )
        )

    checks: dict[str, pl.Expr | RowCheck] = {
        "reporting_category": psputil.type_check("_category", "reporting_category"),
        "source_id": psputil.key_check(
            pl.col("psp_reference").is_null() & pl.col("merchant_reference").is_null(),
            "charge_id, source_id nor payment_metadata[order_id]",
        ),
        "currency": ccy,
        "gross": amount_check("gross", ccy.reason),
        "fee": amount_check("fee", ccy.reason),
        "net": check(
            (ccy.suspect, pl.lit(None, pl.String)),
            (pl.col("_e:net").is_not_null(), pl.col("_e:net")),
            (pl.col("net_minor").is_null(), "net is missing"),
        ),
        "customer_facing_currency": cf_ccy,
        "customer_facing_amount": amount_check("customer_facing_amount", cf_ccy.reason),
        # a blank text is no timestamp: the rows without one are the suspects (no blank test on every row)
        "created_utc": RowCheck(
            suspect=pl.col("booked_at").is_null(),
            reason=check(
                (is_blank("created_utc"), "created_utc is missing"),
                (
                    pl.col("booked_at").is_null(),
                    pl.format("'{}' is not a timestamp (YYYY-MM-DD HH:MM:SS)", pl.col("created_utc")),
                ),
            ).reason,
        ),
        **{columns[0].removesuffix("_utc"): day_check(name, text) for name, (columns, text, _) in _DAYS.items()},
        **csvutil.record_checks(src),
    }
    good, rejects = split_valid(
        lazy, checks, raw=pl.col(csvutil.RECORD), amount=pl.col("net_minor"), currency=pl.col("_ccy")
    )
    good = good.with_columns(
        psputil.booked_business_date(ch),
        pl.lit(None, pl.String).alias("merchant_account"),
        optional("payment_method_type").alias("payment_method"),
        pl.col("_ccy").alias("currency"),
        pl.lit(None, pl.Decimal(38, 12)).alias("exchange_rate"),
        optional("automatic_payout_id").alias("payout_id"),
    )
    return finish(TABLE, good, rejects, ctx, src.rows_in)
