"""PayPal "Activity download" and monthly "Statement" CSV reports to ``psp_settlement_lines``.

Column documentation: PayPal Help Center, "Activity download" (Reports > Activity download; balance-
affecting transactions) and "Monthly statement" CSV; PayPal "Transaction event codes" for the types.
Both exports write one row per balance movement with Date, Time, Time zone, Type (activity) or
Description (statement), Currency, Gross, Fee (negative: a cost), Net, Balance, Transaction ID and
Reference Txn ID; headers are localised with the account's language (English and Spanish are read;
others are added to ``HEADERS``).

Decimal and thousands separators come from the channel's CSV options (``decimal: ","`` and
``thousands: "."`` for a Spanish statement), never from the data. The date order (D/M/YYYY or
M/D/YYYY) is proved by the file's own dates, else taken from the header language's convention (the
Spanish export is day-first); an English file whose dates fit both orders is rejected rather than
guessed. Time zones are IANA names (statement) or PayPal's abbreviations (PST/PDT in the activity
download). Rows: payments, refunds, chargebacks, fees, withdrawals (payouts), currency conversions,
holds and releases (adjustments); a Pending row is kept with its status.

Control totals: Net = Gross + Fee on every row (else the row is rejected), and, where the report has a
Balance column, each row's balance is the previous balance of its currency plus its net (in file
order, either oldest- or newest-first); a break rejects the file with the figures.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.core import money
from pipelines.formats import controls, csvutil, psputil
from pipelines.formats.base import FileRejected, ParseContext, ParseResult, finish, split_valid

TABLE = "psp_settlement_lines"
CONTROL_TOTALS = "net = gross + fee per row; running balance per currency"

# canonical field -> header names, per language; the first language whose required names all appear wins
HEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "date": ("Date",),
        "time": ("Time",),
        "zone": ("TimeZone", "Time Zone"),
        "type": ("Type", "Description"),
        "status": ("Status",),
        "currency": ("Currency",),
        "gross": ("Gross",),
        "fee": ("Fee",),
        "net": ("Net",),
        "balance": ("Balance",),
        "txn_id": ("Transaction ID",),
        "ref_txn_id": ("Reference Txn ID",),
        "invoice": ("Invoice Number", "Invoice ID"),
        "name": ("Name",),
    },
    "es": {
        "date": ("Fecha",),
        "time": ("Hora",),
        "zone": ("Zona horaria",),
        "type": ("Descripción", "Tipo"),
        "status": ("Estado",),
        "currency": ("Divisa",),
        "gross": ("Bruto",),
        "fee": ("Comisión", "Tarifa"),
        "net": ("Neto",),
        "balance": ("Saldo",),
        "txn_id": ("Id. de transacción",),
        "ref_txn_id": ("Id. de referencia de trans.",),
        "invoice": ("Id. de factura", "Número de factura"),
        "name": ("Nombre",),
    },
}
REQUIRED = ("date", "time", "zone", "type", "currency", "gross", "net", "txn_id")
DAY_FIRST_LANGUAGES = {"en": None, "es": "dmy"}

# Type / Description keywords (lower case, any language read) -> canonical record type, first match wins.
TYPE_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("chargeback", "chargeback"),
    ("contracargo", "chargeback"),
    ("dispute", "chargeback"),
    ("reversal", "chargeback"),
    ("refund", "refund"),
    ("reembolso", "refund"),
    ("devolución", "refund"),
    ("withdraw", "payout"),
    ("retirada", "payout"),
    ("transfer to bank", "payout"),
    ("currency conversion", "adjustment"),
    ("conversión de divisa", "adjustment"),
    ("hold", "adjustment"),
    ("release", "adjustment"),
    ("retención", "adjustment"),
    ("liberación", "adjustment"),
    ("reserve", "adjustment"),
    ("fee", "fee"),
    ("comisión", "fee"),
    ("payment", "payment"),
    ("pago", "payment"),
    ("donation", "payment"),
    ("subscription", "payment"),
)


def language(columns: list[str]) -> tuple[str, dict[str, str]]:
    """The header's language and the column name of each canonical field found."""
    for lang, fields in HEADERS.items():
        found = {f: next((n for n in names if n in columns), "") for f, names in fields.items()}
        if all(found[f] for f in REQUIRED):
            return lang, {f: n for f, n in found.items() if n}
    raise FileRejected(
        "header is not a PayPal activity or statement header in a known language "
        f"(needs {', '.join(HEADERS['en'][f][0] for f in REQUIRED)} or their Spanish names)"
    )


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    ch = ctx.channel
    opts = ch.csv
    src = psputil.read_csv(path, opts, ())
    lang, cols = language(src.columns)
    order, _how = psputil.date_order(src.frame[cols["date"]], DAY_FIRST_LANGUAGES[lang], "Date")

    def col(field: str) -> pl.Expr:
        name = cols.get(field)
        return pl.col(name).str.strip_chars() if name else pl.lit(None, pl.String)

    def optional(field: str) -> pl.Expr:
        value = col(field)
        return pl.when(value != "").then(value)

    frame = src.frame.with_columns(
        col("currency").str.to_uppercase().alias("_ccy"),
        col("type").alias("transaction_type"),
        psputil.keyword_type(col("type"), TYPE_KEYWORDS).alias("record_type"),
        psputil.slash_date(col("date"), order).alias("_date"),
        col("time").str.to_time("%H:%M:%S", strict=False).alias("_time"),
        col("zone").alias("_zone"),
        col("gross").alias("_gross"),
        col("fee").alias("_fee"),
        col("net").alias("_net"),
        col("balance").alias("_balance"),
    )
    zone_texts = frame["_zone"].drop_nulls().unique().to_list()
    naive = pl.col("_date").dt.combine(pl.col("_time"))
    booked, zones = psputil.to_utc(naive, pl.col("_zone"), zone_texts)
    frame = frame.with_columns(booked.alias("booked_at"))
    frame = csvutil.parse_amounts(frame, {"_gross": "_ccy", "_fee": "_ccy", "_net": "_ccy", "_balance": "_ccy"}, opts)
    frame = frame.with_columns(
        pl.col("_m:_gross").alias("gross_minor"),
        (-pl.col("_m:_fee").fill_null(0)).alias("fee_minor"),
        pl.col("_m:_net").alias("net_minor"),
        pl.col("_m:_balance").alias("balance_minor"),
    )
    ccy_error = money.currency_error(pl.col("_ccy"))

    def amount_error(name: str, required: bool) -> pl.Expr:
        return csvutil.amount_error(name, ccy_error, required=required, label=cols.get(name[1:], name))

    amounts_ok = pl.col("gross_minor").is_not_null() & pl.col("net_minor").is_not_null()
    checks = {
        cols["type"]: pl.when(pl.col("transaction_type").is_null() | (pl.col("transaction_type") == ""))
        .then(pl.lit("transaction type is missing"))
        .when(pl.col("record_type").is_null())
        .then(pl.format("unknown transaction type '{}'", pl.col("transaction_type"))),
        cols["currency"]: ccy_error,
        cols["gross"]: amount_error("_gross", True),
        cols.get("fee", "Fee"): amount_error("_fee", False),
        cols["net"]: pl.when(amount_error("_net", True).is_not_null())
        .then(amount_error("_net", True))
        .when(amounts_ok & (pl.col("gross_minor") - pl.col("fee_minor") != pl.col("net_minor")))
        .then(pl.format("net {} is not gross {} + fee {}", pl.col("_net"), pl.col("_gross"), pl.col("_fee"))),
        cols.get("balance", "Balance"): amount_error("_balance", False),
        cols["date"]: pl.when(pl.col("_date").is_null()).then(
            pl.format("'{}' is not a date ({})", col("date"), pl.lit("D/M/YYYY" if order == "dmy" else "M/D/YYYY"))
        ),
        cols["time"]: pl.when(pl.col("_time").is_null()).then(pl.format("'{}' is not a time (HH:MM:SS)", col("time"))),
        cols["zone"]: pl.when(~pl.col("_zone").is_in(list(zones))).then(
            pl.format("unknown time zone '{}'", pl.col("_zone"))
        ),
        cols["txn_id"]: pl.when(optional("txn_id").is_null()).then(pl.lit("Transaction ID is missing")),
    }
    errors = psputil.running_balance_errors(frame, "_ccy", "net_minor", "balance_minor") if "balance" in cols else []
    if errors:
        raise FileRejected("running balance does not agree: " + "; ".join(errors))
    performed = [_balance_check(frame)] if "balance" in cols else []
    good, rejects = split_valid(
        frame, checks, raw=pl.col(csvutil.RECORD), amount=pl.col("net_minor"), currency=pl.col("_ccy")
    )
    good = good.with_columns(
        psputil.booked_business_date(ch),
        optional("txn_id").alias("psp_reference"),
        optional("invoice").alias("merchant_reference"),
        optional("ref_txn_id").alias("related_reference"),
        optional("status").alias("status"),
        pl.col("_ccy").alias("currency"),
        pl.col("_ccy").alias("gross_currency"),
    )
    return controls.with_checks(finish(TABLE, good, rejects, ctx, src.rows_in), performed)


def _balance_check(frame: pl.DataFrame) -> controls.Check:
    """The running balance as checked: passed, or skipped around the rows whose amount, currency or balance
    could not be read (those rows are rejected on their own; their neighbours' balances are not compared)."""
    unreadable = frame.filter(
        pl.col("_ccy").is_null() | pl.col("net_minor").is_null() | pl.col("balance_minor").is_null()
    ).height
    if unreadable:
        why = f"{unreadable} row(s) with an unreadable amount, currency or balance: the rows next to them unchecked"
        return controls.skipped("running balance", "file", why)
    return controls.passed("running balance", "file", f"{frame.height} row(s), every balance = previous + net")
