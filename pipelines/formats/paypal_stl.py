"""PayPal Settlement Report (STL, delivered over SFTP) to ``psp_settlement_lines``.

Column documentation: PayPal "Settlement Report (STL) specification" (PayPal Developer, Reports) and the
transaction event code (T-code) reference. A CSV file whose first field is the row type: RH report header
(generation date, reporting window, account id, version), FH file header, SH section header (period),
CH column headers, SB section body (one per balance movement), SF section footer (totals per currency),
SC section record count, RF report footer, RC report record count, FF file footer. Body columns read by
their CH names: Transaction ID, Invoice ID, PayPal Reference ID, Transaction Event Code, Transaction
Initiation Date, Transaction Completion Date, Transaction Debit or Credit, Gross Transaction Amount,
Gross Transaction Currency, Fee Debit or Credit, Fee Amount, Fee Currency, Custom Field.

Amounts are whole numbers of the currency's minor unit (``1000`` is 10.00 USD) with a separate CR/DR;
a fee DR is a cost. Dates are ``YYYY/MM/DD HH:MM:SS`` with a numeric offset (``-0800``). The record type
comes from the T-code group (T00 payments, T01 fees, T04 withdrawals, T1107 refunds, T1106/T12xx
chargebacks and reversals, the other groups adjustments).

Control totals, a failure rejects the file with the figures: each section's SC count and the report's RC
count equal the SB rows; each SF row (currency, gross credits, gross debits, fee credits, fee debits)
equals the sums of its section's rows in that currency. No real STL file was available; the sample under
``data_samples/formats/paypal_stl/`` follows the specification.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from pipelines.core import money
from pipelines.formats import csvutil, psputil
from pipelines.formats.base import FileRejected, ParseContext, ParseResult, finish, split_valid
from pipelines.formats.csvutil import optional

TABLE = "psp_settlement_lines"
CONTROL_TOTALS = "SC/RC record counts and SF gross and fee totals per currency"
MAX_BYTES = 512 * 1024 * 1024
REQUIRED = (
    "Transaction ID",
    "Transaction Event Code",
    "Transaction Initiation Date",
    "Transaction Debit or Credit",
    "Gross Transaction Amount",
    "Gross Transaction Currency",
)
OPTIONAL = (
    "Invoice ID",
    "PayPal Reference ID",
    "Transaction Completion Date",
    "Fee Debit or Credit",
    "Fee Amount",
    "Fee Currency",
    "Custom Field",
)
REFUND_CODES = ("T1107",)
CHARGEBACK_CODES = ("T1106", "T1201", "T1202")
GROUPS = {"T00": "payment", "T01": "fee", "T04": "payout", "T12": "chargeback"}


def _fields(record: str) -> list[str]:
    return next(csv.reader([record]), [])


def _record_type(code: pl.Expr) -> pl.Expr:
    group = code.str.slice(0, 3)
    return (
        pl.when(~code.str.contains(r"^T\d{4}$"))
        .then(pl.lit(None, pl.String))
        .when(code.is_in(list(REFUND_CODES)))
        .then(pl.lit("refund"))
        .when(code.is_in(list(CHARGEBACK_CODES)))
        .then(pl.lit("chargeback"))
        .otherwise(group.replace_strict(GROUPS, default="adjustment", return_dtype=pl.String))
    )


def _timestamp(text: pl.Expr) -> pl.Expr:
    return (
        text.str.strip_chars()
        .str.to_datetime("%Y/%m/%d %H:%M:%S %z", strict=False, time_unit="us")
        .dt.convert_time_zone("UTC")
    )


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    text = csvutil.read_text(path, ctx.channel.csv.encoding, "a PayPal STL report", MAX_BYTES)
    if not text.strip():
        raise FileRejected("file is empty")  # a byte-order mark alone
    lines = pl.DataFrame({"rec": text.split("\n")}, schema={"rec": pl.String()}).with_row_index("line_no", offset=1)
    lines = lines.with_columns(pl.col("line_no").cast(pl.Int64), pl.col("rec").str.strip_suffix("\r"))
    lines = lines.filter(pl.col("rec").str.strip_chars() != "").with_columns(
        pl.col("rec").str.extract(r'^"?([A-Z]{2})"?(,|$)', 1).alias("kind")
    )
    unknown = lines.filter(~pl.col("kind").is_in(["RH", "FH", "SH", "CH", "SB", "SF", "SC", "RF", "RC", "FF"]))
    if unknown.height:
        line, rec = unknown.select("line_no", "rec").row(0)
        raise FileRejected(
            f"line {line}: not an STL row (first field must be RH, FH, SH, CH, SB, SF, SC, RF, RC or FF): {rec[:40]!r}"
        )
    if lines["kind"][0] != "RH":
        raise FileRejected("an STL report starts with an RH (report header) row")
    if lines["kind"][-1] not in ("FF", "RF", "RC"):
        raise FileRejected("file is truncated: no RF/RC/FF footer after the last section")
    headers = lines.filter(pl.col("kind") == "CH")
    if headers.is_empty():
        raise FileRejected("no CH (column header) row")
    columns = [c.strip() for c in _fields(headers["rec"][0])]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FileRejected(f"CH row (line {headers['line_no'][0]}) lacks column(s): {', '.join(missing)}")
    lines = lines.with_columns((pl.col("kind") == "SH").cum_sum().alias("section"))
    body = lines.filter(pl.col("kind") == "SB")
    if body.height:
        fields = pl.read_csv(
            io.StringIO("\n".join(body["rec"].to_list()) + "\n"),
            has_header=False,
            new_columns=columns,
            infer_schema=False,
            truncate_ragged_lines=True,
        )
        if fields.height != body.height:
            raise FileRejected(f"could not align SB rows: {fields.height} read, {body.height} present")
        frame = pl.concat(
            [fields, body.select("line_no", "section", pl.col("rec").alias(csvutil.RECORD))], how="horizontal"
        )
    else:
        frame = pl.DataFrame(
            schema={
                **{c: pl.String() for c in columns},
                "line_no": pl.Int64(),
                "section": pl.UInt32(),
                csvutil.RECORD: pl.String(),
            }
        )
    frame = frame.with_columns([pl.lit(None, pl.String).alias(c) for c in OPTIONAL if c not in frame.columns])

    gross = optional("Gross Transaction Amount")
    fee = optional("Fee Amount")
    frame = frame.with_columns(
        optional("Gross Transaction Currency").str.to_uppercase().alias("_ccy"),
        optional("Fee Currency").str.to_uppercase().alias("_fccy"),
        optional("Transaction Debit or Credit").str.to_uppercase().alias("_dc"),
        optional("Fee Debit or Credit").str.to_uppercase().alias("_fdc"),
        pl.when(gross.str.contains(r"^\d+$")).then(gross.cast(pl.Int64, strict=False)).alias("_gross"),
        pl.when(fee.str.contains(r"^\d+$")).then(fee.cast(pl.Int64, strict=False)).alias("_fee"),
        optional("Transaction Event Code").alias("transaction_type"),
        _record_type(optional("Transaction Event Code").fill_null("")).alias("record_type"),
        _timestamp(pl.col("Transaction Initiation Date")).alias("booked_at"),
    )
    frame = frame.with_columns(
        pl.when(pl.col("_dc") == "DR").then(-pl.col("_gross")).otherwise(pl.col("_gross")).alias("gross_minor"),
        pl.when(pl.col("_fdc") == "CR").then(-pl.col("_fee")).otherwise(pl.col("_fee")).fill_null(0).alias("fee_minor"),
    ).with_columns((pl.col("gross_minor") - pl.col("fee_minor")).alias("net_minor"))
    _check_controls(lines, frame)
    ccy_error = money.currency_error(pl.col("_ccy"))
    checks: dict[str, pl.Expr] = {
        "Transaction Event Code": pl.when(pl.col("record_type").is_null()).then(
            pl.format("'{}' is not a transaction event code (T + 4 digits)", pl.col("transaction_type"))
        ),
        "Gross Transaction Currency": ccy_error,
        "Gross Transaction Amount": pl.when(pl.col("_gross").is_null()).then(
            pl.format("'{}' is not an amount in minor units", pl.col("Gross Transaction Amount"))
        ),
        "Transaction Debit or Credit": pl.when(~pl.col("_dc").is_in(["CR", "DR"])).then(
            pl.format("'{}' is neither CR nor DR", pl.col("Transaction Debit or Credit"))
        ),
        "Fee Amount": pl.when(fee.is_not_null() & pl.col("_fee").is_null()).then(
            pl.format("'{}' is not an amount in minor units", pl.col("Fee Amount"))
        ),
        "Fee Currency": pl.when(pl.col("_fee").fill_null(0) != 0).then(
            pl.when(pl.col("_fccy") != pl.col("_ccy")).then(
                pl.format("fee in {} but gross in {}", pl.col("_fccy"), pl.col("_ccy"))
            )
        ),
        "Transaction Initiation Date": pl.when(pl.col("booked_at").is_null()).then(
            pl.format("'{}' is not YYYY/MM/DD HH:MM:SS +hhmm", pl.col("Transaction Initiation Date"))
        ),
        "Transaction ID": pl.when(optional("Transaction ID").is_null()).then(pl.lit("Transaction ID is missing")),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col(csvutil.RECORD), amount=pl.col("net_minor"), currency=pl.col("_ccy")
    )
    ch = ctx.channel
    good = good.with_columns(
        psputil.booked_business_date(ch),
        optional("Transaction ID").alias("psp_reference"),
        pl.coalesce(optional("Invoice ID"), optional("Custom Field")).alias("merchant_reference"),
        optional("PayPal Reference ID").alias("related_reference"),
        pl.col("_ccy").alias("currency"),
        pl.col("_ccy").alias("gross_currency"),
        pl.lit("S").alias("status"),
    )
    return finish(TABLE, good, rejects, ctx, frame.height)


def _check_controls(lines: pl.DataFrame, frame: pl.DataFrame) -> None:
    errors: list[str] = []
    counts = frame.group_by("section").agg(pl.len().alias("n"))
    by_section = {int(s): int(n) for s, n in counts.iter_rows()}
    for line, section, rec in lines.filter(pl.col("kind") == "SC").select("line_no", "section", "rec").iter_rows():
        stated = _fields(rec)[1:2]
        present = by_section.get(int(section), 0)
        if not stated or not stated[0].strip().isdigit() or int(stated[0]) != present:
            errors.append(
                f"SC (line {line}) counts {stated[0] if stated else 'nothing'} rows but section has {present}"
            )
    for line, rec in lines.filter(pl.col("kind") == "RC").select("line_no", "rec").iter_rows():
        stated = _fields(rec)[1:2]
        if not stated or not stated[0].strip().isdigit() or int(stated[0]) != frame.height:
            errors.append(
                f"RC (line {line}) counts {stated[0] if stated else 'nothing'} rows but the report has {frame.height}"
            )
    sums = frame.group_by("section", "_ccy").agg(
        pl.col("_gross").filter(pl.col("_dc") == "CR").sum().alias("gc"),
        pl.col("_gross").filter(pl.col("_dc") == "DR").sum().alias("gd"),
        pl.col("_fee").filter(pl.col("_fdc") == "CR").sum().alias("fc"),
        pl.col("_fee").filter(pl.col("_fdc") == "DR").sum().alias("fd"),
    )
    totals = {(int(r[0]), r[1]): tuple(int(v or 0) for v in r[2:]) for r in sums.iter_rows()}
    for line, section, rec in lines.filter(pl.col("kind") == "SF").select("line_no", "section", "rec").iter_rows():
        values = [v.strip() for v in _fields(rec)[1:6]]
        if len(values) < 5 or not all(v.isdigit() for v in values[1:]):
            errors.append(f"SF (line {line}) is not currency + 4 totals in minor units: {rec!r}")
            continue
        ccy, stated_totals = values[0], tuple(int(v) for v in values[1:])
        computed = totals.get((int(section), ccy), (0, 0, 0, 0))
        if stated_totals != computed:
            names = ("gross credits", "gross debits", "fee credits", "fee debits")
            diffs = [
                f"{n} {money.format_minor(s, ccy) if ccy in money.exponents() else s} stated, "
                f"{money.format_minor(c, ccy) if ccy in money.exponents() else c} in the rows"
                for n, s, c in zip(names, stated_totals, computed, strict=True)
                if s != c
            ]
            errors.append(f"SF (line {line}) {ccy}: " + "; ".join(diffs))
    if errors:
        raise FileRejected("control totals do not agree: " + "; ".join(errors))
