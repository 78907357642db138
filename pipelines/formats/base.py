"""What every format parser shares: the signature, the result and the row-rejection helper.

A parser is ``parse(path: Path, ctx: ParseContext) -> ParseResult``. It returns the canonical rows it
could read and one reject row per (line, field) it could not; it raises ``FileRejected`` when the file
as a whole cannot be read (bad XML, wrong header, control totals that disagree).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar, cast

import polars as pl

from pipelines.core import money
from pipelines.core.channels import Channel
from pipelines.core.schema import table

REJECT_SCHEMA = pl.Schema(
    {
        "line_no": pl.Int64(),
        "field": pl.String(),
        "reason": pl.String(),
        "raw": pl.String(),
        "amount_minor": pl.Int64(),
        "currency": pl.String(),
    }
)


_FEW_REJECTED = 64  # up to this many rejected rows, the valid rows are sliced out of the frame, not copied


class FileRejected(ValueError):
    """The whole file is unreadable or inconsistent; the message says precisely why."""


@dataclass(frozen=True)
class ParseContext:
    channel: Channel
    file_id: str
    file_name: str


@dataclass
class ParseResult:
    table: str
    frame: pl.DataFrame
    rejects: pl.DataFrame
    rows_in: int

    @property
    def rows_rejected(self) -> int:
        return int(self.rejects["line_no"].n_unique()) if self.rejects.height else 0


class Parser(Protocol):
    def __call__(self, path: Path, ctx: ParseContext) -> ParseResult: ...


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


#: characters no reference may hold: C0 and C1 controls (NUL, TAB, CR, LF, ESC...), DEL, and the invisible
#: formatting characters that make two references look equal when they are not (zero-width spaces and
#: joiners, direction marks and overrides, line and paragraph separators, word joiner, byte-order mark)
CONTROL_CHARS = "\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
CONTROL_PATTERN = r"[\x00-\x1F\x7F-\x9F\x{200B}-\x{200F}\x{2028}-\x{202E}\x{2060}-\x{2064}\x{2066}-\x{2069}\x{FEFF}]"
_CONTROL = re.compile(f"[{CONTROL_CHARS}]")
_SURROGATE = re.compile("[\udc80-\udcff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by ``surrogateescape``
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shown(text: str, limit: int = 80) -> str:
    """``text`` as it may appear in a message, a log line or a terminal: control and invisible characters
    (and undecodable bytes of a ``surrogateescape`` name) as ``\\xNN`` / ``\\uNNNN`` escapes, the rest as it is;
    longer than ``limit`` characters, cut with ``...`` and its length."""
    out = _SURROGATE.sub(_escaped, _CONTROL.sub(_escaped, text))
    if len(out) <= limit:
        return out
    return f"{out[:limit]}... ({len(text)} characters)"


def read_limited(path: Path, what: str, max_bytes: int) -> bytes:
    """The file's bytes; rejected when above ``max_bytes`` (``what`` names the format) or blank."""
    size = path.stat().st_size
    if size > max_bytes:
        raise FileRejected(f"file is {size} bytes, above the {max_bytes} byte limit for {what}")
    data = path.read_bytes()
    if not data.strip():
        raise FileRejected("file is empty")
    return data


def finish(
    table_name: str, good: pl.DataFrame | pl.LazyFrame, rejects: pl.DataFrame, ctx: ParseContext, rows_in: int
) -> ParseResult:
    """The result: the valid rows stamped with the file id and channel and conformed to the table.

    A lazy ``good`` is collected with only the table's columns, so work for other columns is skipped.
    """
    tbl = table(table_name)
    rows = good.lazy().with_columns(pl.lit(ctx.file_id).alias("file_id"), pl.lit(ctx.channel.id).alias("channel"))
    present = set(rows.collect_schema().names())
    if table_name == "psp_settlement_lines" and "payout_id" in present:
        # what the bank credit of a payout names: its batch where the parser says so, else the payout id
        given = pl.col("payout_reference") if "payout_reference" in present else pl.lit(None, pl.String)
        rows = rows.with_columns(pl.coalesce(given, pl.col("payout_id")).alias("payout_reference"))
        present.add("payout_reference")
    rows = rows.select([c.name for c in tbl.columns if c.name in present])
    # conformed in the same query: an eager select on the collected frame would first align its columns' chunks
    return ParseResult(table=table_name, frame=tbl.conform_lazy(rows).collect(), rejects=rejects, rows_in=rows_in)


_Frame = TypeVar("_Frame", pl.DataFrame, pl.LazyFrame)


@dataclass(frozen=True)
class RowCheck:
    """A row check whose reason is built only on the rows it may reject (see ``check``).

    ``reason`` is a check expression as ``split_valid`` takes it (null when the field is valid, else the
    reason); ``suspect`` is true on every row where ``reason`` is not null (it may be true on others, never
    null). ``split_valid`` evaluates ``suspect`` on every row and ``reason`` only where ``suspect`` holds.
    """

    suspect: pl.Expr
    reason: pl.Expr


def check(*branches: tuple[pl.Expr, pl.Expr | str | RowCheck]) -> RowCheck:
    """``pl.when(c1).then(r1).when(c2).then(r2)...`` (the reason of the first condition that holds; a null
    condition does not hold) as a ``RowCheck``: only the conditions are evaluated on every row, a reason text
    is built only where a condition holds (usually on no row). A reason is an expression, a literal text, or a
    nested ``RowCheck`` (suspect where the condition holds and the nested check is suspect)."""
    if not branches:
        raise ValueError("a check needs at least one (condition, reason) branch")
    chain: pl.Expr | None = None
    suspect: pl.Expr | None = None
    for condition, reason in branches:
        holds = condition.fill_null(False)
        if isinstance(reason, RowCheck):
            holds, reason = holds & reason.suspect, reason.reason
        text = pl.lit(reason, pl.String) if isinstance(reason, str) else reason
        chain = pl.when(condition).then(text) if chain is None else chain.when(condition).then(text)  # type: ignore[attr-defined]
        suspect = holds if suspect is None else suspect | holds
    assert chain is not None and suspect is not None
    return RowCheck(suspect=suspect, reason=chain)


def split_valid(
    frame: _Frame,
    checks: Mapping[str, pl.Expr | RowCheck],
    *,
    raw: pl.Expr,
    amount: pl.Expr | None = None,
    currency: pl.Expr | None = None,
) -> tuple[_Frame, pl.DataFrame]:
    """Split ``frame`` (which must have ``line_no``) into valid rows and reject rows.

    ``checks`` maps a field name to an expression that is null when the field is valid and the reason
    otherwise, or to a ``RowCheck`` (the same, with the rows it may reject given apart). A row with any failing
    check is rejected once per failing field. ``raw``, ``amount`` and ``currency`` (row-wise expressions)
    give the reject's record text, amount and currency. The valid rows come back as the frame came in: a
    lazy frame stays lazy, to be fused with the steps that follow.

    Every check expression and every ``RowCheck``'s ``suspect`` is evaluated on every row, once; a ``RowCheck``'s
    reason, and the reject rows' record text, amount and currency, only on the rows that may be rejected
    (usually none), so no reason text is built for a valid row. One check is added to every parser's: a
    record holding a NUL byte is rejected (field ``record``), whichever field the byte is in, even one the
    format does not read.
    """
    checks = {**checks, RECORD_FIELD: nul_in_record(raw)} if RECORD_FIELD not in checks else checks
    names: list[str] = [f"__err_{i}" for i in range(len(checks))]
    deferred = {n: c for n, c in zip(names, checks.values(), strict=True) if isinstance(c, RowCheck)}
    first = [
        c.suspect.alias(n) if isinstance(c, RowCheck) else c.alias(n)
        for n, c in zip(names, checks.values(), strict=True)
    ]
    suspect = [pl.col(n) if n in deferred else pl.col(n).is_not_null() for n in names]
    flagged: pl.DataFrame = (
        frame.lazy().with_columns(first).with_columns(pl.any_horizontal(suspect).alias("__bad")).collect()
    )
    # (lazy from here on: eager steps on the collected frame would first align its columns' chunks)
    mask: pl.Series = flagged["__bad"]
    bad = flagged.filter(mask)
    if deferred and bad.height:
        # the reasons of the rows that may be rejected; the rows no check rejects after all are valid
        bad = bad.with_columns([c.reason.alias(n) for n, c in deferred.items()])
        failing = bad.select(pl.any_horizontal([pl.col(n).is_not_null() for n in names])).to_series()
        if not failing.all():
            mask = mask.scatter(mask.arg_true().filter(~failing), False)
            bad = bad.filter(failing)
    elif deferred:
        bad = bad.with_columns([pl.lit(None, pl.String).alias(n) for n in deferred])
    rows = flagged.lazy()
    if 0 < bad.height <= _FEW_REJECTED:
        # the valid rows between the rejected ones, as slices of the frame: no copy
        bounds = [-1, *mask.arg_true().to_list(), flagged.height]
        rows = pl.concat([rows.slice(a + 1, b - a - 1) for a, b in itertools.pairwise(bounds)], rechunk=False)
    elif bad.height:
        rows = rows.with_columns(mask.alias("__bad")).filter(~pl.col("__bad"))
    good = rows.drop([*names, "__bad"])
    bad = bad.select(
        *names,
        pl.col("line_no").cast(pl.Int64),
        raw.cast(pl.String).alias("raw"),
        (amount if amount is not None else pl.lit(None, pl.Int64)).cast(pl.Int64).alias("amount_minor"),
        (currency if currency is not None else pl.lit(None, pl.String)).cast(pl.String).alias("currency"),
    )
    parts = [
        bad.filter(pl.col(n).is_not_null()).select(
            "line_no", pl.lit(field).alias("field"), pl.col(n).alias("reason"), "raw", "amount_minor", "currency"
        )
        for n, field in zip(names, checks, strict=True)
    ]
    rejects = pl.concat(parts) if parts else empty_rejects()
    valid = good if isinstance(frame, pl.LazyFrame) else good.collect()
    return cast(_Frame, valid), rejects.sort("line_no", "field")


RECORD_FIELD = "record"  # the field named by a reject about the record as a whole


def nul_in_record(raw: pl.Expr) -> RowCheck:
    """Reason when the record text holds a NUL byte (never part of a valid record of any format)."""
    text = raw.cast(pl.String)
    at = text.str.find("\x00", literal=True)
    return RowCheck(
        suspect=text.str.contains("\x00", literal=True).fill_null(False),
        reason=pl.when(at.is_not_null()).then(pl.format("NUL byte (\\x00) in the record, at byte {}", at + 1)),
    )


def required(expr: pl.Expr, field: str) -> pl.Expr:
    """Reason when a mandatory text field is missing or blank."""
    return pl.when(expr.is_null() | (expr.cast(pl.String).str.strip_chars() == "")).then(pl.lit(f"{field} is missing"))


def required_check(expr: pl.Expr, field: str) -> RowCheck:
    """``required`` as a ``RowCheck``, blank found without copying the text (``\\s`` is the set
    ``str.strip_chars`` strips)."""
    return check((expr.is_null() | expr.cast(pl.String).str.contains(r"^\s*$"), f"{field} is missing"))


def currency_check(currency: pl.Expr) -> RowCheck:
    """``money.currency_error`` as a ``RowCheck`` whose ``suspect`` is exact: where the currency is invalid."""
    known = pl.Series(list(money.exponents()), dtype=pl.String)
    invalid = currency.is_null() | (currency == "") | ~currency.is_in(known.implode())
    return RowCheck(suspect=invalid.fill_null(False), reason=money.currency_error(currency))


def business_date(ts_utc: pl.Expr, timezone: str, cutoff: dt.time) -> pl.Expr:
    """Business date of a UTC instant in the channel's time zone; at or after the cut-off rolls over.

    A cut-off of 00:00 means the calendar day. DST-safe: the wall clock is computed by the time zone
    database for each instant.
    """
    local = ts_utc.dt.convert_time_zone(timezone)
    day = local.dt.date()
    if cutoff == dt.time(0, 0):
        return day
    return pl.when(local.dt.time() >= pl.lit(cutoff)).then(day + pl.duration(days=1)).otherwise(day)


def local_to_utc(naive: pl.Expr, timezone: str) -> pl.Expr:
    """Naive local wall-clock timestamps to UTC; an ambiguous (DST fall-back) time takes the earliest."""
    return naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
