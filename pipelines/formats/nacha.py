"""NACHA ACH file (returns, notifications of change, reversals, originations incl. IAT) to ``payment_status``.

Column documentation: NACHA Operating Rules, Appendix Three "ACH Record Format Specifications": 94-character
records 1 file header, 5 batch header, 6 entry detail, 7 addenda (05 payment related, 98 notification of
change, 99 return incl. dishonored and contested dishonored returns, 10-18 IAT), 8 batch control, 9 file
control and all-9 block filler; Appendix Four (return reason codes R01..R85) and Five (change codes C01..C13).

Rows: one per entry detail record (6), with its 98/99 addenda read into the status: a return (addenda
99) is ``returned`` with its R code and the original trace; a notification of change (98) ``corrected``
with the C code and the corrected data; an entry of a batch whose description is REVERSAL ``reversed``;
any other entry is an ``initiated`` origination (the original side a later return is matched to). The
amount is in cents of USD, or of the originating currency of an IAT batch; ``direction`` follows the
transaction code (x1-x4 credit the receiver, x5-x9 debit it).

Control totals, a failure rejects the file with the figures: per batch, the entry/addenda count, the entry
hash (sum of the 8-digit receiving DFI routing numbers, last 10 digits) and the debit and credit totals of
the batch control (8); for the file, the batch count, block count, entry/addenda count, hash and totals
of the file control (9). Records are sliced with vectorised Polars string operations.

Real files: LF or CRLF, records shorter than 94 characters (a file header of 69, a file control of 55) are
padded with spaces, a file with no batches (a "zero file") is valid.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.core import money
from pipelines.formats import csvutil
from pipelines.formats.base import FileRejected, ParseContext, ParseResult, finish, split_valid

TABLE = "payment_status"
CONTROL_TOTALS = (
    "batch (8) and file (9) control: entry/addenda count, entry hash, debit and credit totals, batch and block counts"
)
MAX_BYTES = 512 * 1024 * 1024
RECORD = 94
CREDIT_DIGITS = ("1", "2", "3", "4")
DEBIT_DIGITS = ("5", "6", "7", "8", "9")
# An entry's status follows from its record type: a return (99 addenda), a notification of change (98), a
# reversal (by its batch description) or else an initiation.
STATUS_OF_RECORD_TYPE = {
    "return": "returned",
    "notification_of_change": "corrected",
    "reversal": "reversed",
    "initiation": "initiated",
}


def _field(start: int, end: int) -> pl.Expr:
    """Characters start..end (1-based, inclusive, as in the NACHA record layouts)."""
    return pl.col("rec").str.slice(start - 1, end - start + 1)


def _num(start: int, end: int) -> pl.Expr:
    return _field(start, end).str.strip_chars().cast(pl.Int64, strict=False)


def _text(start: int, end: int) -> pl.Expr:
    value = _field(start, end).str.strip_chars()
    return pl.when(value != "").then(value)


def _lines(text: str) -> pl.DataFrame:
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    frame = pl.DataFrame({"rec": raw}, schema={"rec": pl.String()}).with_row_index("line_no", offset=1)
    frame = frame.with_columns(pl.col("line_no").cast(pl.Int64), pl.col("rec").str.strip_suffix("\r"))
    too_long = frame.filter(pl.col("rec").str.len_chars() > RECORD)
    if too_long.height:
        line, rec = too_long.row(0)
        raise FileRejected(f"line {line} has {len(rec)} characters; NACHA records are {RECORD}")
    frame = frame.filter(pl.col("rec").str.strip_chars() != "")
    return frame.with_columns(pl.col("rec").str.pad_end(RECORD), pl.col("rec").str.slice(0, 1).alias("type"))


def _check_structure(types: str, lines: list[int]) -> None:
    """Record order: 1, then batches (5, 6 with their 7s, 8), then 9 and optional all-9 filler."""
    state = "start"
    expected = {
        "start": "1",
        "file": "59",
        "batch": "68",
        "entry": "678",
        "after": "9",
    }
    for kind, line in zip(types, lines, strict=True):
        if state == "after":
            if kind != "9":
                raise FileRejected(f"line {line}: record type {kind!r} after the file control record")
            continue
        if kind not in expected[state]:
            wanted = " or ".join(expected[state])
            raise FileRejected(f"line {line}: record type {kind!r} where {wanted} is expected")
        state = {"1": "file", "5": "batch", "6": "entry", "7": "entry", "8": "file", "9": "after"}[kind]
    if state != "after":
        raise FileRejected("file is truncated: no file control (9) record")


def _fmt(minor: int) -> str:
    return money.format_minor(minor, "USD")


def _entry_total_errors(
    where: str, stated: tuple[int | None, int | None, int | None, int | None], present: tuple[int, int, int, int]
) -> list[str]:
    """A batch or file control's (entries and addenda, entry hash, debits, credits) against what is present."""
    (c_count, c_hash, c_debits, c_credits), (count, hashed, debits, credits) = stated, present
    errors = []
    if c_count != count:
        errors.append(f"{where} states {c_count} entries and addenda but {count} are present")
    if c_hash != hashed:
        errors.append(f"{where} states entry hash {c_hash} but the routing numbers add up to {hashed}")
    if c_debits != debits:
        errors.append(f"{where} states debits {_fmt(c_debits or 0)} but the entries total {_fmt(debits)}")
    if c_credits != credits:
        errors.append(f"{where} states credits {_fmt(c_credits or 0)} but the entries total {_fmt(credits)}")
    return errors


def _check_controls(frame: pl.DataFrame, filler: int) -> None:
    entries = frame.filter(pl.col("type").is_in(["6", "7"]))
    per_batch = entries.group_by("batch").agg(
        pl.len().alias("count"),
        pl.col("_rdfi").sum().alias("hash"),
        pl.col("_amount").filter(pl.col("_debit")).sum().alias("debits"),
        pl.col("_amount").filter(pl.col("_credit")).sum().alias("credits"),
    )
    controls = frame.filter(pl.col("type") == "8").select(
        "batch",
        "line_no",
        _num(5, 10).alias("c_count"),
        _num(11, 20).alias("c_hash"),
        _num(21, 32).alias("c_debits"),
        _num(33, 44).alias("c_credits"),
    )
    errors: list[str] = []
    joined = controls.join(per_batch, on="batch", how="left").sort("batch")
    for row in joined.iter_rows(named=True):
        count, hashed = int(row["count"] or 0), int(row["hash"] or 0) % 10**10
        debits, credits = int(row["debits"] or 0), int(row["credits"] or 0)
        stated = (row["c_count"], row["c_hash"], row["c_debits"], row["c_credits"])
        where = f"batch {row['batch']} control (line {row['line_no']})"
        errors += _entry_total_errors(where, stated, (count, hashed, debits, credits))
    control = frame.filter(pl.col("type") == "9").head(1)
    line = int(control["line_no"][0])
    c = control.select(
        _num(2, 7).alias("batches"),
        _num(8, 13).alias("blocks"),
        _num(14, 21).alias("count"),
        _num(22, 31).alias("hash"),
        _num(32, 43).alias("debits"),
        _num(44, 55).alias("credits"),
    ).row(0, named=True)
    batches = int(frame.filter(pl.col("type") == "5").height)
    count = entries.height
    hashed = int(entries["_rdfi"].sum() or 0) % 10**10
    debits = int(entries.filter(pl.col("_debit"))["_amount"].sum() or 0)
    credits = int(entries.filter(pl.col("_credit"))["_amount"].sum() or 0)
    records = frame.height + filler
    blocks = -(-records // 10)
    where = f"file control (line {line})"
    if c["batches"] != batches:
        errors.append(f"{where} states {c['batches']} batches but {batches} are present")
    if c["blocks"] is not None and c["blocks"] != blocks:
        errors.append(f"{where} states {c['blocks']} blocks but the {records} records make {blocks}")
    stated = (c["count"], c["hash"], c["debits"], c["credits"])
    errors += _entry_total_errors(where, stated, (count, hashed, debits, credits))
    if errors:
        raise FileRejected("control totals do not agree: " + "; ".join(errors))


def read(text: str) -> pl.DataFrame:
    """All records (line_no, rec, type) with batch and entry indexes and the parsed entry amounts."""
    frame = _lines(text)
    if frame.is_empty():
        raise FileRejected("file is empty")
    filler_mask = (frame["type"] == "9") & frame["rec"].str.contains(r"^9{94}$")
    first_nine = frame.filter(pl.col("type") == "9").head(1)
    if first_nine.height and not bool(filler_mask.filter(frame["type"] == "9")[0]):
        first_line = int(first_nine["line_no"][0])
        filler_mask = filler_mask & (frame["line_no"] > first_line)
    filler = int(filler_mask.sum())
    frame = frame.filter(~filler_mask)
    _check_structure("".join(frame["type"].to_list()), frame["line_no"].to_list())
    return (
        frame.with_columns(
            (pl.col("type") == "5").cum_sum().alias("batch"),
            (pl.col("type") == "6").cum_sum().alias("entry"),
        )
        .with_columns(
            pl.when(pl.col("type") == "6").then(_num(4, 11)).otherwise(0).alias("_rdfi"),
            pl.when(pl.col("type") == "6").then(_num(30, 39)).otherwise(0).alias("_amount"),
            ((pl.col("type") == "6") & _field(3, 3).is_in(list(CREDIT_DIGITS))).alias("_credit"),
            ((pl.col("type") == "6") & _field(3, 3).is_in(list(DEBIT_DIGITS))).alias("_debit"),
        )
        .with_columns(pl.lit(filler).alias("_filler"))
    )


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    frame = read(csvutil.read_text(path, ctx.channel.csv.encoding, "NACHA", MAX_BYTES))
    _check_controls(frame, int(frame["_filler"][0]))
    header = frame.filter(pl.col("type") == "1").select(
        _text(24, 29).alias("created"), _text(30, 33).alias("time"), _text(34, 34).alias("modifier")
    )
    created = header["created"][0]
    message_id = "".join(str(v) for v in header.row(0) if v)
    batches = frame.filter(pl.col("type") == "5").select(
        "batch",
        _text(51, 53).alias("sec"),
        _text(54, 63).alias("description"),
        _text(41, 50).alias("company_id"),
        _text(70, 75).alias("effective"),
        _text(88, 94).alias("batch_number"),
        pl.when(_field(51, 53) == "IAT").then(_text(64, 66)).otherwise(pl.lit("USD")).alias("_ccy"),
    )
    addenda = (
        frame.filter((pl.col("type") == "7") & _field(2, 3).is_in(["98", "99"]))
        .group_by("entry")
        .agg(pl.col("rec").first().alias("_addenda"), pl.col("line_no").first().alias("_addenda_line"))
    )
    all_addenda = (
        frame.filter(pl.col("type") == "7").group_by("entry").agg(pl.col("rec").str.join("\n").alias("_lines"))
    )
    iat = pl.col("sec") == "IAT"
    entries = (
        frame.filter(pl.col("type") == "6")
        .join(batches, on="batch", how="left")
        .join(addenda, on="entry", how="left")
        .join(all_addenda, on="entry", how="left")
        .with_columns(
            _field(2, 3).alias("_tx"),
            pl.col("_addenda").str.slice(1, 2).alias("_addenda_type"),
            pl.col("_addenda").str.slice(3, 3).str.strip_chars().alias("_code"),
            pl.col("_addenda").str.slice(6, 15).str.strip_chars().alias("_orig_trace"),
            pl.col("_addenda").str.slice(35, 29).str.strip_chars().alias("_corrected"),
            pl.col("_addenda").str.slice(35, 44).str.strip_chars().alias("_info"),
        )
    )
    returned = pl.col("_addenda_type") == "99"
    noc = pl.col("_addenda_type") == "98"
    reversal = pl.col("description").fill_null("").str.to_uppercase().str.contains("REVERSAL")
    record_type = (
        pl.when(returned)
        .then(pl.lit("return"))
        .when(noc)
        .then(pl.lit("notification_of_change"))
        .when(reversal)
        .then(pl.lit("reversal"))
        .otherwise(pl.lit("initiation"))
    )
    entries = entries.with_columns(
        record_type.alias("record_type"),
        record_type.replace_strict(STATUS_OF_RECORD_TYPE, return_dtype=pl.String).alias("status"),
        pl.lit("transaction").alias("scope"),
        pl.col("_tx").alias("status_code"),
        pl.when(returned | noc).then(pl.col("_code")).alias("reason_code"),
        pl.when(returned).then(pl.col("_info").replace("", None)).alias("reason_info"),
        pl.lit(message_id).alias("message_id"),
        pl.col("batch_number").alias("batch_id"),
        pl.when(iat).then(pl.lit(None, pl.String)).otherwise(_text(40, 54)).alias("end_to_end_id"),
        _text(80, 94).alias("transaction_id"),
        pl.when(returned | noc).then(pl.col("_orig_trace")).alias("original_transaction_id"),
        pl.col("_amount").alias("amount_minor"),
        pl.col("_ccy").alias("currency"),
        pl.when(pl.col("_credit"))
        .then(pl.lit("credit"))
        .when(pl.col("_debit"))
        .then(pl.lit("debit"))
        .alias("direction"),
        pl.col("company_id").alias("account_id"),
        pl.when(iat).then(_text(40, 74)).otherwise(_text(13, 29)).alias("counterparty_account"),
        pl.when(iat).then(pl.lit(None, pl.String)).otherwise(_text(55, 76)).alias("counterparty_name"),
        pl.when(noc).then(pl.col("_corrected")).alias("corrected_data"),
        pl.col("effective").str.to_date("%y%m%d", strict=False).alias("effective_date"),
        pl.lit(created).str.to_date("%y%m%d", strict=False).alias("_created"),
        pl.concat_str([pl.col("rec"), pl.col("_lines")], separator="\n", ignore_nulls=True).alias("_raw"),
    )
    entries = entries.with_columns(pl.coalesce("effective_date", "_created").alias("business_date"))
    checks = {
        "transaction code": pl.when(pl.col("direction").is_null()).then(
            pl.format("transaction code '{}' is neither a credit (x1-x4) nor a debit (x5-x9)", pl.col("_tx"))
        ),
        "amount": pl.when(pl.col("amount_minor").is_null()).then(
            pl.format("amount '{}' is not a number of cents", pl.col("rec").str.slice(29, 10))
        ),
        "currency": money.currency_error(pl.col("currency")),
        "date": pl.when(pl.col("business_date").is_null()).then(
            pl.lit("neither the effective entry date nor the file creation date is a date (YYMMDD)")
        ),
    }
    good, rejects = split_valid(
        entries, checks, raw=pl.col("_raw"), amount=pl.col("amount_minor"), currency=pl.col("currency")
    )
    return finish(TABLE, good, rejects, ctx, entries.height)
