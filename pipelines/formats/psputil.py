"""Helpers shared by the PSP report parsers added with the PayPal, Braintree, Ratepay, Checkout.com,
Worldpay, PIX and UPI formats (and Adyen's time zones): header clean-up, time zones, dates written day- or
month-first, record types by keyword, the running-balance control total, and the declared settlement CSV."""

from __future__ import annotations

import os
import tempfile
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.core import money
from pipelines.core.channels import Channel, CsvOptions
from pipelines.formats import csvutil
from pipelines.formats.base import (
    FileRejected,
    ParseContext,
    ParseResult,
    RowCheck,
    business_date,
    check,
    finish,
    local_to_utc,
    split_valid,
)

TABLE = "psp_settlement_lines"

# Abbreviations providers write instead of an IANA zone; each names one set of rules.
ZONE_ALIASES = {
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "CET": "Europe/Paris",
    "CEST": "Europe/Paris",
    "GMT": "UTC",
    "UTC": "UTC",
    "BST": "Europe/London",
}


def zone(name: str, aliases: dict[str, str] = ZONE_ALIASES) -> str | None:
    """The IANA zone a report's zone text names (``aliases`` first), or None when unknown."""
    if name in aliases:
        return aliases[name]
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return name


def to_utc(
    naive: pl.Expr, zone_text: pl.Expr, texts: Sequence[str], aliases: dict[str, str] = ZONE_ALIASES
) -> tuple[pl.Expr, dict[str, str]]:
    """Naive wall clock in a per-row zone to UTC (one branch per distinct zone); also the known zones."""
    zones = {t: z for t in texts if (z := zone(t, aliases)) is not None}
    by_zone: dict[str, list[str]] = {}
    for text, iana in zones.items():
        by_zone.setdefault(iana, []).append(text)
    result = pl.lit(None, pl.Datetime("us", "UTC"))
    for iana, names in sorted(by_zone.items()):
        result = pl.when(zone_text.is_in(names)).then(local_to_utc(naive, iana)).otherwise(result)
    return result, zones


def read_csv(path: Path, options: CsvOptions, required: Sequence[str]) -> csvutil.CsvFile:
    """``csvutil.read_csv``, first dropping empty names at the end of the header.

    Some exports pad the header with empty columns the data rows do not have (``...,"Id",,,,,,``); the
    padding is removed from a copy of the file, the rows are left as they are.
    """
    data = path.read_bytes()
    text = csvutil.decode(data, options.encoding)
    end = text.find("\n" if "\n" in text else "\r")  # lines may end with a carriage return alone
    header = text[: end if end >= 0 else len(text)].rstrip("\r")
    trimmed = header.rstrip(options.delimiter + " ")
    if trimmed == header or not trimmed:
        return csvutil.read_csv(path, options, required)
    fixed = trimmed + text[len(header) :]
    fd, name = tempfile.mkstemp(suffix=path.suffix, prefix=".recon-csv-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(fixed.encode("utf-8"))
        utf8 = options.model_copy(update={"encoding": "utf-8"})
        return csvutil.read_csv(Path(name), utf8, required)
    finally:
        os.unlink(name)


def keyword_type(text: pl.Expr, keywords: Sequence[tuple[str, str]]) -> pl.Expr:
    """The record type of the first (keyword, type) whose keyword the lower-cased text contains, else null."""
    lower = text.str.to_lowercase()
    result = pl.lit(None, pl.String)
    for keyword, kind in reversed(keywords):
        result = pl.when(lower.str.contains(keyword, literal=True)).then(pl.lit(kind)).otherwise(result)
    return result


KEYED_TYPES = ("payment", "refund", "chargeback")  # the record types matched to an order by a reference


def type_check(text: str, column: str) -> RowCheck:
    """The record type of a row: the column ``column`` (its stripped text in ``text``) is missing, or names no
    type the parser knows (``record_type`` is null)."""
    return check(
        (csvutil.blank(pl.col(text)), f"{column} is missing"),
        (pl.col("record_type").is_null(), pl.format(f"unknown {column} '{{}}'", pl.col(text))),
    )


def key_check(missing: pl.Expr, names: str) -> RowCheck:
    """A payment, refund or chargeback line without any reference an order can be found by (``missing``)."""
    return check((pl.col("record_type").is_in(list(KEYED_TYPES)) & missing, f"missing key: neither {names} is given"))


def mapped_type(text: pl.Expr, types: dict[str, str]) -> pl.Expr:
    """The record type ``types`` gives the lower-cased text, else null."""
    return text.str.to_lowercase().replace_strict(types, default=None, return_dtype=pl.String)


def booked_business_date(channel: Channel) -> pl.Expr:
    """``business_date`` of the row's ``booked_at`` instant in the channel's time zone and cut-off."""
    return business_date(pl.col("booked_at"), channel.timezone, channel.cutoff).alias("business_date")


def payouts_per_currency(rows: pl.LazyFrame, batch: pl.Expr, currency: str) -> pl.LazyFrame:
    """``payout_id`` and ``payout_reference`` of a report whose payout batches may pay out several currencies
    (Adyen: one MerchantPayout line per currency under one batch number): one payout per currency of a batch,
    each paid by its own bank credit. A batch of several currencies gives its lines the payout id
    ``<batch>-<currency>``; a batch of one currency keeps the batch as its id. The reference, what the bank
    credit of each currency names, is the batch."""
    payout = batch
    if rows.select(pl.col(currency).n_unique() > 1).collect().item():  # else no batch has several: skip the window
        several = batch.is_not_null() & (pl.col(currency).n_unique().over(batch) > 1)
        payout = pl.when(several).then(pl.concat_str([batch, pl.col(currency)], separator="-")).otherwise(batch)
    return rows.with_columns(payout.alias("payout_id"), batch.alias("payout_reference"))


def slash_date(text: pl.Expr, order: str) -> pl.Expr:
    """``D/M/YYYY`` (order 'dmy') or ``M/D/YYYY`` ('mdy'), one or two digits, to a date (null if invalid)."""
    parts = text.str.strip_chars().str.extract_groups(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
    first, second, year = (parts.struct.field(n) for n in ("1", "2", "3"))
    day, month = (first, second) if order == "dmy" else (second, first)
    iso = pl.concat_str([year, month.str.zfill(2), day.str.zfill(2)], separator="-")
    return iso.str.to_date("%Y-%m-%d", strict=False)


def date_order(dates: pl.Series, default: str | None, what: str) -> tuple[str, str]:
    """Whether ``D/M/Y`` or ``M/D/Y``: proved by the file's own dates, else the header language's default.

    Returns (order, how it was established). A file with dates that only fit day-first and others that
    only fit month-first, or with no date proving either and no default, is rejected.
    """
    parts = dates.drop_nulls().str.strip_chars().str.extract_groups(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
    first = parts.struct.field("1").cast(pl.Int64, strict=False)
    second = parts.struct.field("2").cast(pl.Int64, strict=False)
    day_first = int((first > 12).sum())
    month_first = int((second > 12).sum())
    if day_first and month_first:
        raise FileRejected(
            f"{what}: {day_first} dates are only valid day-first (D/M/YYYY) and {month_first} only month-first"
        )
    if day_first:
        return "dmy", f"day-first: {day_first} dates have a first number above 12"
    if month_first:
        return "mdy", f"month-first: {month_first} dates have a second number above 12"
    if default is None:
        raise FileRejected(f"{what}: every date fits both D/M/YYYY and M/D/YYYY; the date order cannot be known")
    return default, f"{'day' if default == 'dmy' else 'month'}-first, the convention of the header's language"


def running_balance_errors(frame: pl.DataFrame, currency: str, net: str, balance: str) -> list[str]:
    """Rows whose reported balance is not the previous balance (same currency) plus the row's net.

    The file may list rows oldest-first or newest-first: the order that holds is used; with neither,
    the first three breaks of the file order are reported. Rows with an unreadable amount are skipped.
    """
    usable = frame.filter(pl.col(currency).is_not_null())
    if usable.height < 2:
        return []

    def breaks(ordered: pl.DataFrame) -> pl.DataFrame:
        # a row with an unreadable amount or balance (rejected on its own) leaves the rows around it unchecked
        return ordered.with_columns(pl.col(balance).shift(1).over(currency).alias("_prev")).filter(
            pl.col("_prev").is_not_null()
            & pl.col(net).is_not_null()
            & pl.col(balance).is_not_null()
            & (pl.col("_prev") + pl.col(net) != pl.col(balance))
        )

    forward = breaks(usable)
    if forward.is_empty() or breaks(usable.reverse()).is_empty():
        return []
    errors = []
    for row in forward.head(3).iter_rows(named=True):
        ccy = row[currency]
        prev, amount, stated = (money.format_minor(row[c], ccy) for c in ("_prev", net, balance))
        errors.append(
            f"line {row['line_no']}: balance {prev} {ccy} + net {amount} = "
            f"{money.format_minor(row['_prev'] + row[net], ccy)} but the report states {stated}"
        )
    return errors


@dataclass(frozen=True)
class SettlementCsv:
    """A one-line-per-transaction settlement CSV, declared by its column names and conventions.

    ``type_map`` maps the lower-cased transaction type to the canonical record type (an unknown type is a
    row reject). Amounts are major-unit decimal text. ``signed`` says whether the gross and net columns
    carry the sign (credit to us positive); otherwise they are unsigned and refunds, chargebacks, fees and
    payouts are debits. Fee columns are costs, positive. When a net column is given, net = gross - fees is
    checked on every row.
    """

    required: tuple[str, ...]
    type_column: str
    type_map: dict[str, str]
    gross: str
    fees: tuple[str, ...] = ()
    net: str | None = None
    currency: str | None = None
    fixed_currency: str | None = None
    timestamp: str | None = None
    date: str | None = None
    psp_reference: str | None = None
    merchant_reference: str | None = None
    related_reference: str | None = None
    payout_id: str | None = None
    payout_date: str | None = None
    batch_id: str | None = None
    payment_method: str | None = None
    merchant_account: str | None = None
    status: str | None = None
    excluded_statuses: tuple[str, ...] = ()
    signed: bool = True
    tax: str | None = None


DEBIT_TYPES = ("refund", "chargeback", "fee", "payout")


def parse_settlement_csv(path: Path, ctx: ParseContext, spec: SettlementCsv) -> ParseResult:
    """Read a ``SettlementCsv`` report into ``psp_settlement_lines`` (vectorised; see the spec's fields)."""
    ch = ctx.channel
    opts = ch.csv
    names = [
        c
        for c in (
            spec.net,
            spec.currency,
            spec.timestamp,
            spec.date,
            spec.psp_reference,
            spec.merchant_reference,
            spec.related_reference,
            spec.payout_id,
            spec.payout_date,
            spec.batch_id,
            spec.payment_method,
            spec.merchant_account,
            spec.status,
            spec.tax,
            *spec.fees,
        )
        if c
    ]
    src = csvutil.read_csv(path, opts, spec.required, names)
    frame = src.frame

    def text(name: str | None) -> pl.Expr:
        return pl.lit(None, pl.String) if name is None else csvutil.optional(name)

    ccy = pl.lit(spec.fixed_currency) if spec.fixed_currency else text(spec.currency).str.to_uppercase()
    kind = text(spec.type_column)
    frame = frame.with_columns(
        ccy.alias("_ccy"),
        kind.alias("transaction_type"),
        mapped_type(kind, spec.type_map).alias("record_type"),
    )
    amount_columns = {c: "_ccy" for c in (spec.gross, *spec.fees, spec.net, spec.tax) if c}
    frame = csvutil.parse_amounts(frame, amount_columns, opts)
    sign = (
        pl.lit(1)
        if spec.signed
        else pl.when(pl.col("record_type").is_in(list(DEBIT_TYPES))).then(pl.lit(-1)).otherwise(pl.lit(1))
    )
    fee_sum = (
        pl.sum_horizontal([pl.col(f"_m:{f}").fill_null(0) for f in spec.fees]).cast(pl.Int64)
        if spec.fees
        else pl.lit(0, pl.Int64)
    )
    frame = frame.with_columns(
        (pl.col(f"_m:{spec.gross}") * sign).alias("gross_minor"),
        fee_sum.alias("fee_minor"),
        (pl.col(f"_m:{spec.tax}") if spec.tax else pl.lit(None, pl.Int64)).alias("tax_minor"),
    )
    computed = pl.col("gross_minor") - pl.col("fee_minor") - pl.col("tax_minor").fill_null(0)
    frame = frame.with_columns(
        ((pl.col(f"_m:{spec.net}") * sign) if spec.net else computed).alias("net_minor"),
    )
    if spec.timestamp:
        booked = csvutil.iso_utc(pl.col(spec.timestamp))
        when_text = text(spec.timestamp)
    else:
        day = text(spec.date).str.to_date("%Y-%m-%d", strict=False)
        booked = local_to_utc(day.cast(pl.Datetime("us")), ch.timezone)
        when_text = text(spec.date)
    frame = frame.with_columns(booked.alias("booked_at"))
    ccy_error = money.currency_error(pl.col("_ccy"))

    def amount_error(name: str | None, required: bool) -> pl.Expr:
        if name is None:
            return pl.lit(None, pl.String)
        return csvutil.amount_error(name, ccy_error, required=required)

    checks: dict[str, pl.Expr] = {
        spec.type_column: pl.when(kind.is_null())
        .then(pl.lit(f"{spec.type_column} is missing"))
        .when(pl.col("record_type").is_null())
        .then(pl.format("unknown {} '{}'", pl.lit(spec.type_column), kind)),
        spec.currency or "currency": ccy_error,
        spec.gross: amount_error(spec.gross, True),
        **{f: amount_error(f, False) for f in spec.fees},
        (spec.timestamp or spec.date or "date"): pl.when(pl.col("booked_at").is_null()).then(
            pl.format("'{}' is not a {}", when_text, pl.lit("timestamp with offset" if spec.timestamp else "date"))
        ),
    }
    if spec.tax:
        checks[spec.tax] = amount_error(spec.tax, False)
    if spec.net:
        checks[spec.net] = (
            pl.when(amount_error(spec.net, True).is_not_null())
            .then(amount_error(spec.net, True))
            .when(
                pl.col("gross_minor").is_not_null()
                & pl.col("net_minor").is_not_null()
                & (computed != pl.col("net_minor"))
            )
            .then(pl.format("net {} is not gross minus fees ({} minor units)", text(spec.net), computed))
        )
    if spec.psp_reference:
        keyed = pl.col("record_type").is_in(["payment", "refund", "chargeback"])
        checks[spec.psp_reference] = pl.when(
            keyed & text(spec.psp_reference).is_null() & text(spec.merchant_reference).is_null()
        ).then(pl.lit(f"missing key: neither {spec.psp_reference} nor {spec.merchant_reference} is given"))
    if spec.status and spec.excluded_statuses:
        checks[spec.status] = pl.when(text(spec.status).str.to_lowercase().is_in(list(spec.excluded_statuses))).then(
            pl.format("status '{}' is not a settled line", text(spec.status))
        )
    good, rejects = split_valid(
        frame, checks, raw=pl.col(csvutil.RECORD), amount=pl.col("net_minor"), currency=pl.col("_ccy")
    )
    payout_day = text(spec.payout_date).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    good = good.with_columns(
        booked_business_date(ch),
        text(spec.psp_reference).alias("psp_reference"),
        text(spec.merchant_reference).alias("merchant_reference"),
        text(spec.related_reference).alias("related_reference"),
        text(spec.payout_id).alias("payout_id"),
        payout_day.alias("payout_date"),
        text(spec.batch_id).alias("batch_id"),
        text(spec.payment_method).alias("payment_method"),
        text(spec.merchant_account).alias("merchant_account"),
        text(spec.status).alias("status"),
        pl.col("_ccy").alias("currency"),
        pl.col("_ccy").alias("gross_currency"),
    )
    return finish(TABLE, good, rejects, ctx, src.rows_in)
