"""BAI2 cash management balance reporting file to ``bank_statement_lines``.

Column documentation: "Cash Management Balance Reporting Specifications Version 2" (BAI, now ANSI X9.121),
records 01 file header, 02 group header, 03 account identifier and summary, 16 transaction detail,
88 continuation, 49 account trailer, 98 group trailer, 99 file trailer; type codes 100-399 are credits
and 400-699 debits; funds types 0/1/2/Z, S (three availability amounts), V (value date and time) and
D (distribution: a count then that many day/amount pairs). Amounts carry no decimal point: they are
minor units of the currency (03, else 02, else USD).

What real files do, and how it is read: records end with ``/`` or not (then the line ends them); several
records on one physical line (``.../ 16,...``); a record broken across physical lines (a line that does
not start with a record code continues the previous one); ``88`` continues the previous record's fields
(03) or its text (16): a 16 that ends before its text (``/`` right after the customer reference) has the
text on its 88s, which fills ``remittance_info``, never a reference; text with commas in the last field of
a 16; non-standard times like ``14:59:35``. KEY: value pairs in 16/88 text (``EREF:``, ``DBNM:``,
``CRNM:``, ``TRID:``) fill ``end_to_end_id``, ``counterparty_name`` and ``transaction_id``.

Control totals, a failure rejects the file with the figures: the account trailer (49) total is the sum of
every amount of the account's 03 and 16 records and its record count counts 03 to 49 with the 88s; the
group trailer (98) holds the sum of its accounts' totals, their number and its records (02 to 98); the
file trailer (99) the sum of the groups' totals, their number and all records. Each is reported
(``controls``): passed per trailer level, and a record count the trailer does not give as skipped.

The parser is written here: the BAI2 library tried does not give line numbers, and fails on three of the
six corpus files (funds type D, several records on one line, record counts).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.core import money
from pipelines.formats import controls as ctl
from pipelines.formats import csvutil
from pipelines.formats.base import FileRejected, ParseContext, finish, split_valid

TABLE = "bank_statement_lines"
CONTROL_TOTALS = "account (49), group (98) and file (99) control totals and record counts"
MAX_BYTES = 256 * 1024 * 1024
DEFAULT_CURRENCY = "USD"
CODES = ("01", "02", "03", "16", "49", "88", "98", "99")
LEVELS = {"49": "account", "98": "group", "99": "file"}
_RECORD_START = re.compile(r"^(01|02|03|16|49|88|98|99),")
_SPLIT = re.compile(r"(?<=/)\s*(?=(?:01|02|03|16|49|88|98|99),)")
_KEYS = re.compile(r"\b(EREF|CREF|DBNM|CRNM|REMI|ENDT|TRID|IDNM|DACT|CACT|DABA|CABA|DBIC):\s*")
FEE_WORDS = re.compile(r"\b(CHRG|CHARGE|FEE|FEES|SERVICE CHG)\b", re.IGNORECASE)
RETURN_WORDS = re.compile(r"\b(RETURN\w*|RTN|RTD|REJECT\w*|RETURNED)\b", re.IGNORECASE)
INTEREST_WORDS = re.compile(r"\bINTEREST\b", re.IGNORECASE)


@dataclass
class _Record:
    code: str
    line: int
    fields: list[str]
    physical: int = 1  # physical records it counts for (itself and its 88 continuations)
    raw: list[str] = field(default_factory=list)


def _records(text: str) -> list[_Record]:
    """Logical records with the line they start on; 88 continuations folded into their record."""
    pieces: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if not _RECORD_START.match(line.lstrip()):
            if not pieces:
                raise FileRejected(f"line {number}: not a BAI2 record (no 01 file header first): {line[:40]!r}")
            prev_line, prev = pieces[-1]
            pieces[-1] = (prev_line, prev.rstrip() + " " + line.strip())  # a record broken across lines
            continue
        for part in _SPLIT.split(line.strip()):
            pieces.append((number, part))
    records: list[_Record] = []
    for number, piece in pieces:
        body = piece.strip()
        body = body[:-1] if body.endswith("/") else body
        code, _, rest = body.partition(",")
        if code == "88":
            if not records:
                raise FileRejected(f"line {number}: 88 continuation with no record before it")
            last = records[-1]
            if last.code == "16":
                # the text is the last field of a 16, after its funds type's fields and the two references;
                # a 16 that ended before its text has it on the 88s that follow
                text_at = 5 + _funds_extra(last.fields, 2)
                if len(last.fields) <= text_at:
                    last.fields.extend([""] * (text_at - len(last.fields)) + [rest.strip()])
                else:
                    last.fields[-1] = (last.fields[-1].rstrip() + " " + rest.strip()).strip()
            else:
                last.fields.extend(rest.split(","))
            last.physical += 1
            last.raw.append(piece)
            continue
        records.append(_Record(code=code, line=number, fields=rest.split(","), raw=[piece]))
    return records


def _int(text: str, what: str, line: int) -> int:
    value = text.strip()
    if not re.fullmatch(r"[+-]?\d+", value):
        raise FileRejected(f"line {line}: {what} '{text}' is not a whole number")
    return int(value)


def _funds_extra(fields: list[str], at: int) -> int:
    """Number of fields after the funds type at ``at`` (S: 3, V: 2, D: 1 + 2 * count, others: 0)."""
    kind = fields[at].strip().upper() if at < len(fields) else ""
    if kind == "S":
        return 3
    if kind == "V":
        return 2
    if kind == "D":
        count = fields[at + 1].strip() if at + 1 < len(fields) else ""
        return 1 + 2 * int(count) if count.isdigit() else 1
    return 0


def _summary_amounts(fields: list[str], line: int) -> list[int]:
    """Amounts of a 03 record's type/amount/count/funds groups (after account and currency)."""
    amounts: list[int] = []
    i = 2
    while i < len(fields):
        if not fields[i].strip() and all(not f.strip() for f in fields[i:]):
            break
        amount = fields[i + 1].strip() if i + 1 < len(fields) else ""
        if amount:
            amounts.append(_int(amount, "summary amount", line))
        i += 4 + _funds_extra(fields, i + 3)
    return amounts


def _date(text: str | None) -> dt.date | None:
    text = (text or "").strip()
    if len(text) != 6 or not text.isdigit():
        return None
    try:
        return dt.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        return None


def _keyed(text: str) -> dict[str, str]:
    parts = _KEYS.split(text)
    found: dict[str, str] = {}
    for key, value in zip(parts[1::2], parts[2::2], strict=False):
        found.setdefault(key, value.strip().rstrip(",").strip())
    return found


@dataclass
class _Totals:
    """The control checks of the trailers: each trailer's total and record count, passed or failed; a count the
    trailer does not give is skipped."""

    checks: list[ctl.Check] = field(default_factory=list)
    passed: dict[str, int] = field(default_factory=dict)  # what -> trailers whose checks passed

    def check(
        self, level: str, what: str, line: int, stated: int, computed: int, count_stated: int | None, count: int
    ) -> None:
        where = f"{what} (line {line})"
        ok = True
        if stated != computed:
            ok = False
            self.checks.append(
                ctl.failed(
                    "control total",
                    where,
                    f"{where} states control total {stated} but its amounts add up to {computed} "
                    f"(difference {stated - computed}, in minor units)",
                )
            )
        if count_stated is None:
            self.checks.append(ctl.skipped("record count", where, "the trailer gives no record count"))
        elif count_stated != count:
            ok = False
            self.checks.append(
                ctl.failed("record count", where, f"{where} states {count_stated} records but {count} are present")
            )
        if ok:
            self.passed[level] = self.passed.get(level, 0) + 1

    def trailer(self, what: str, rec: _Record, total_what: str, total: int, count_at: int, count: int) -> None:
        """A 49, 98 or 99 trailer: its control total (field 1) and record count (field ``count_at``, else none)."""
        f = rec.fields
        stated = _int(f[0], total_what, rec.line)
        count_stated = _int(f[count_at], "record count", rec.line) if len(f) > count_at else None
        self.check(LEVELS[rec.code], what, rec.line, stated, total, count_stated, count)

    def members(self, what: str, rec: _Record, noun: str, count: int) -> None:
        """A 98 or 99 trailer's number of accounts or groups (field 2), when given."""
        f = rec.fields
        if len(f) > 1 and _int(f[1], f"number of {noun}", rec.line) != count:
            where = f"{what} (line {rec.line})"
            self.checks.append(
                ctl.failed(f"number of {noun}", where, f"{where} states {f[1]} {noun} but {count} are present")
            )

    def all(self) -> list[ctl.Check]:
        """One passed check per trailer level (account, group, file), then the failed and skipped ones."""
        what = "the amounts and records add up to what the trailer states"
        return [ctl.passed("control total and record count", _trailers(k, n), what) for k, n in self.passed.items()] + (
            self.checks
        )


def _trailers(level: str, n: int) -> str:
    """'3 account trailers (49)', '1 group trailer (98)', 'file trailer (99)'."""
    code = {v: k for k, v in LEVELS.items()}[level]
    if level == "file":
        return f"file trailer ({code})"
    return f"{n} {level} trailer{'' if n == 1 else 's'} ({code})"


def read(text: str) -> tuple[pl.DataFrame, list[ctl.Check]]:
    """Rows of every 16 record (String columns) and the control checks (passed, skipped or failed)."""
    records = _records(text)
    if not records or records[0].code != "01":
        raise FileRejected("not a BAI2 file: the first record is not a 01 file header")
    rows: dict[str, list[Any]] = {
        n: []
        for n in (
            "line_no",
            "_raw",
            "_type",
            "_amt",
            "_funds",
            "_vdate",
            "bank_reference",
            "customer_reference",
            "remittance_info",
            "account_id",
            "_ccy",
            "_asof",
            "statement_id",
        )
    }
    totals = _Totals()
    header = records[0].fields
    file_id = header[4].strip() if len(header) > 4 else ""
    group_ccy = DEFAULT_CURRENCY
    group_total = file_total = 0
    group_records = file_records = 0
    group_accounts = groups = 0
    account_total = account_records = 0
    account: str | None = None
    account_ccy = DEFAULT_CURRENCY
    asof: str | None = None
    group_no = 0
    state = "file"
    for rec in records:
        file_records += rec.physical
        f = rec.fields
        if rec.code == "01":
            if rec is not records[0]:
                raise FileRejected(f"line {rec.line}: a second 01 file header")
        elif rec.code == "02":
            if state != "file":
                raise FileRejected(f"line {rec.line}: 02 group header inside a group (no 98 before it)")
            state, group_no = "group", group_no + 1
            group_ccy = (f[5].strip() if len(f) > 5 else "") or DEFAULT_CURRENCY
            asof = f[3].strip() if len(f) > 3 else None
            group_total, group_records, group_accounts = 0, rec.physical, 0
        elif rec.code == "03":
            if state != "group":
                raise FileRejected(f"line {rec.line}: 03 account record outside a group or inside an account")
            state = "account"
            account = f[0].strip() if f else None
            account_ccy = (f[1].strip() if len(f) > 1 else "") or group_ccy
            account_total, account_records = sum(_summary_amounts(f, rec.line)), rec.physical
        elif rec.code == "16":
            if state != "account":
                raise FileRejected(f"line {rec.line}: 16 detail record outside an account")
            account_records += rec.physical
            extra = _funds_extra(f, 2)
            amount = f[1].strip() if len(f) > 1 else ""
            if amount:
                account_total += _int(amount, "detail amount", rec.line)
            tail = f[3 + extra :]
            rows["line_no"].append(rec.line)
            rows["_raw"].append("\n".join(rec.raw))
            rows["_type"].append(f[0].strip() if f else None)
            rows["_amt"].append(amount or None)
            rows["_funds"].append(f[2].strip() if len(f) > 2 else None)
            rows["_vdate"].append(f[3].strip() if len(f) > 3 and f[2].strip().upper() == "V" else None)
            rows["bank_reference"].append(tail[0].strip() if tail and tail[0].strip() else None)
            rows["customer_reference"].append(tail[1].strip() if len(tail) > 1 and tail[1].strip() else None)
            text = ",".join(tail[2:]).strip() if len(tail) > 2 else ""
            rows["remittance_info"].append(text or None)
            rows["account_id"].append(account or None)
            rows["_ccy"].append(account_ccy)
            rows["_asof"].append(asof)
            rows["statement_id"].append(f"{file_id}/{group_no}" if file_id else str(group_no))
        elif rec.code == "49":
            if state != "account":
                raise FileRejected(f"line {rec.line}: 49 account trailer without an account")
            account_records += rec.physical
            totals.trailer(
                f"account {account} trailer", rec, "account control total", account_total, 1, account_records
            )
            group_total += account_total
            group_records += account_records
            group_accounts += 1
            state = "group"
        elif rec.code == "98":
            if state != "group":
                raise FileRejected(f"line {rec.line}: 98 group trailer outside a group")
            group_records += rec.physical
            totals.trailer(f"group {group_no} trailer", rec, "group control total", group_total, 2, group_records)
            totals.members(f"group {group_no} trailer", rec, "accounts", group_accounts)
            file_total += group_total
            groups += 1
            state = "file"
        elif rec.code == "99":
            if state != "file":
                raise FileRejected(f"line {rec.line}: 99 file trailer before the last group's 98 trailer")
            totals.trailer("file trailer", rec, "file control total", file_total, 2, file_records)
            totals.members("file trailer", rec, "groups", groups)
            state = "done"
        else:
            raise FileRejected(f"line {rec.line}: unknown record code {rec.code!r}")
    if state != "done":
        raise FileRejected("file is truncated: no 99 file trailer after the last record")
    return pl.DataFrame(rows, schema={n: pl.String() for n in rows} | {"line_no": pl.Int64()}), totals.all()


def _record_type() -> pl.Expr:
    text = pl.col("remittance_info").fill_null("")
    return (
        pl.when(text.str.contains(FEE_WORDS.pattern))
        .then(pl.lit("fee"))
        .when(text.str.contains(RETURN_WORDS.pattern))
        .then(pl.lit("return"))
        .when(text.str.contains(INTEREST_WORDS.pattern))
        .then(pl.lit("interest"))
        .otherwise(pl.lit("payment"))
    )


def parse(path: Path, ctx: ParseContext) -> ctl.CheckedResult:
    frame, controls = read(csvutil.read_text(path, ctx.channel.csv.encoding, "BAI2", MAX_BYTES))
    ctl.reject_failures(controls, "control totals do not agree: ")
    code = pl.col("_type").cast(pl.Int64, strict=False)
    amount = pl.col("_amt").str.strip_chars()
    keyed = pl.col("remittance_info").map_elements(
        lambda t: _keyed(t), return_dtype=pl.Struct({k: pl.String() for k in ("EREF", "DBNM", "CRNM", "REMI", "TRID")})
    )
    frame = frame.with_columns(
        pl.when(amount.str.contains(r"^\d+$")).then(amount.cast(pl.Int64, strict=False)).alias("amount_minor"),
        pl.when(code.is_between(100, 399))
        .then(pl.lit("credit"))
        .when(code.is_between(400, 699))
        .then(pl.lit("debit"))
        .alias("direction"),
        pl.col("_asof").str.to_date("%y%m%d", strict=False).alias("booking_date"),
        pl.col("_vdate").str.to_date("%y%m%d", strict=False).alias("_value"),
        money.currency_error(pl.col("_ccy")).alias("_ccy_error"),
        keyed.alias("_keyed"),
    )
    frame = frame.with_columns(
        pl.coalesce("_value", "booking_date").alias("value_date"),
        pl.col("_ccy").alias("currency"),
        pl.col("_type").alias("bank_tx_code"),
        _record_type().alias("record_type"),
        pl.col("_keyed").struct.field("EREF").alias("end_to_end_id"),
        pl.col("_keyed").struct.field("TRID").str.extract(r"^(\S+)").alias("transaction_id"),
        pl.when(pl.col("direction") == "credit")
        .then(pl.col("_keyed").struct.field("DBNM"))
        .otherwise(pl.col("_keyed").struct.field("CRNM"))
        .alias("counterparty_name"),
        pl.lit("entry").alias("record_level"),
        pl.lit("BOOK").alias("entry_status"),
        pl.col("booking_date").alias("business_date"),
        pl.col("bank_reference").alias("entry_ref"),
    )
    checks = {
        "type code": pl.when(pl.col("direction").is_null()).then(
            pl.format("type code '{}' is not a credit (100-399) or debit (400-699) detail", pl.col("_type"))
        ),
        "amount": pl.when(pl.col("_amt").is_null())
        .then(pl.lit("amount is missing"))
        .when(pl.col("amount_minor").is_null())
        .then(pl.format("'{}' is not an amount in minor units", pl.col("_amt"))),
        "currency": pl.col("_ccy_error"),
        "as-of date": pl.when(pl.col("booking_date").is_null()).then(
            pl.format("group as-of date '{}' is not a date (YYMMDD)", pl.col("_asof"))
        ),
        "value date": pl.when(pl.col("_vdate").is_not_null() & pl.col("_value").is_null()).then(
            pl.format("value date '{}' is not a date (YYMMDD)", pl.col("_vdate"))
        ),
        "account": pl.when(pl.col("account_id").is_null()).then(pl.lit("03 record has no account number")),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col("_raw"), amount=pl.col("amount_minor"), currency=pl.col("_ccy")
    )
    return ctl.with_checks(finish(TABLE, good, rejects, ctx, frame.height), controls)
