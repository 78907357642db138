"""Plausibility of the rows a parser read, checked before they are validated and staged.

A parser accepts what its format allows; some of it cannot be true of a row that belongs in the day:

* **dates** far from the run's business date: every date and timestamp of a row (its own business date,
  booking, value, settlement, payout, effective date, creation or booking instant) must lie within the
  channel's ``dates`` window around the date of the run that reads it (default 400 days before, 31 days
  after); a year 9999 or 1970 from a broken export would otherwise move the row out of the day unseen;
* **references** (order id, PSP and merchant references, payout ids, end-to-end ids... ``REFERENCE_COLUMNS``)
  must hold no control or invisible formatting character and be at most the channel's
  ``references.max_chars`` characters (default 256): such a value never matches what the other side wrote;
* **NUL bytes** in any text of a row.

A row that breaks one of these is taken out of the file's rows and quarantined, one reject per field, with a
reason naming the file, the line, the field, the value (escaped, cut) and the rule with its channel setting;
the other rows go on. The file's row accounting (``rows_in`` = staged + quarantined lines) still holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from pipelines.core.channels import Channel
from pipelines.formats.base import CONTROL_CHARS, CONTROL_PATTERN, REJECT_SCHEMA, ParseResult, shown

#: the text columns of each canonical table that identify something another file must name the same way
REFERENCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id", "psp_channel", "psp_reference", "merchant_account"),
    "psp_settlement_lines": (
        "psp_reference",
        "merchant_reference",
        "merchant_account",
        "payout_id",
        "payout_reference",
        "related_reference",
        "batch_id",
    ),
    "bank_statement_lines": (
        "account_id",
        "statement_id",
        "entry_ref",
        "end_to_end_id",
        "bank_reference",
        "customer_reference",
        "transaction_id",
        "creditor_reference",
        "mandate_id",
        "counterparty_account",
        "batch_id",
    ),
    "payment_status": (
        "message_id",
        "original_message_id",
        "batch_id",
        "end_to_end_id",
        "instruction_id",
        "transaction_id",
        "original_transaction_id",
        "uetr",
        "account_id",
        "counterparty_account",
    ),
    "fx_rates": (),
}

#: the amount and currency a quarantined row of each table carries (as its item would: bank debits negative)
_AMOUNTS: dict[str, tuple[pl.Expr | None, str | None]] = {
    "orders": (pl.col("amount_minor"), "currency"),
    "psp_settlement_lines": (pl.col("net_minor"), "currency"),
    "bank_statement_lines": (
        pl.when(pl.col("direction") == "debit").then(-pl.col("amount_minor")).otherwise(pl.col("amount_minor")),
        "currency",
    ),
    "payment_status": (pl.col("amount_minor"), "currency"),
    "fx_rates": (None, "quote_currency"),
}

_NOT_SHOWN_IN_RAW = ("file_id", "line_no", "channel")
SHOWN_CHARS = 64  # characters of a value quoted in a reason
_CONTROL = re.compile(f"[{CONTROL_CHARS}]")


@dataclass(frozen=True)
class _Check:
    field: str
    flagged: pl.Expr  # true where the row breaks the rule
    reason: Callable[[Any], str]  # the rule broken, given the value


def _window_text(channel: Channel, day: dt.date) -> str:
    first, last = channel.dates.bounds(day)
    return (
        f"outside the plausible dates {first.isoformat()} to {last.isoformat()} "
        f"({channel.dates.days_before} days before to {channel.dates.days_after} days after the run's "
        f"business date {day.isoformat()}; channel {channel.id} dates.days_before / dates.days_after)"
    )


def _first_control(value: str) -> str:
    found = _CONTROL.search(value)
    if found is None:
        return ""
    what = "NUL byte" if found.group() == "\x00" else "control character"
    return f"{what} {shown(found.group())} at character {found.start() + 1}"


def _checks(frame: pl.DataFrame, table: str, channel: Channel, day: dt.date | None) -> list[_Check]:
    checks: list[_Check] = []
    references = set(REFERENCE_COLUMNS.get(table, ()))
    limit = channel.references.max_chars
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.String and name in references:
            checks.append(
                _Check(
                    name,
                    col.str.contains(CONTROL_PATTERN).fill_null(False),
                    lambda v: f"holds a {_first_control(v)} (a reference holds none): '{shown(v, SHOWN_CHARS)}'",
                )
            )
            checks.append(
                _Check(
                    name,
                    (col.str.len_chars() > limit).fill_null(False),
                    lambda v: (
                        f"is {len(v)} characters long, above the limit of {limit} "
                        f"(channel {channel.id} references.max_chars): '{shown(v, SHOWN_CHARS)}'"
                    ),
                )
            )
        elif dtype == pl.String:
            checks.append(
                _Check(
                    name,
                    col.str.contains("\x00", literal=True).fill_null(False),
                    lambda v: f"holds a {_first_control(v)}: '{shown(v, SHOWN_CHARS)}'",
                )
            )
        elif day is not None and (dtype == pl.Date or isinstance(dtype, pl.Datetime)):
            first, last = channel.dates.bounds(day)
            value = col if dtype == pl.Date else col.dt.date()
            window = _window_text(channel, day)
            checks.append(
                _Check(
                    name,
                    ((value < pl.lit(first)) | (value > pl.lit(last))).fill_null(False),
                    _outside(window),
                )
            )
    return checks


def _outside(window: str) -> Callable[[Any], str]:
    def reason(value: Any) -> str:
        return f"{_date_text(value)} is {window}"

    return reason


def _date_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _raw(row: dict[str, Any]) -> str:
    """The canonical row as text, for the quarantine: ``field=value`` of its non-null fields."""
    return "; ".join(f"{k}={_date_text(v)}" for k, v in row.items() if v is not None and k not in _NOT_SHOWN_IN_RAW)


def screen(result: ParseResult, channel: Channel, file_name: str, day: dt.date | None) -> ParseResult:
    """``result`` with the rows that break a plausibility rule moved to its rejects (every row of their line).

    ``day``: the business date of the run reading the file (None: no date window, as ``recon inspect``
    reads a file outside any run).
    """
    frame = result.frame
    if not frame.height:
        return result
    checks = _checks(frame, result.table, channel, day)
    if not checks:
        return result
    if not frame.select(pl.any_horizontal([c.flagged for c in checks]).any()).item():
        return result  # the common case: one pass over the columns, no row copied
    flags = [f"__plausible_{i}" for i in range(len(checks))]
    marked = frame.with_columns([c.flagged.alias(f) for c, f in zip(checks, flags, strict=True)])
    bad = marked.filter(pl.any_horizontal(flags))
    amount, currency = _AMOUNTS.get(result.table, (None, None))
    bad = bad.with_columns(
        (amount if amount is not None else pl.lit(None)).cast(pl.Int64).alias("__amount"),
        (pl.col(currency) if currency and currency in frame.columns else pl.lit(None)).cast(pl.String).alias("__ccy"),
    )
    labels = channel.csv.columns
    rejects: list[dict[str, Any]] = []
    seen: set[tuple[int, str, str]] = set()
    for row in bad.iter_rows(named=True):
        line = int(row["line_no"])
        raw = _raw({k: row[k] for k in frame.columns})
        for check, flag in zip(checks, flags, strict=True):
            if not row[flag]:
                continue
            text = check.reason(row[check.field])
            if (line, check.field, text) in seen:  # several rows of one line with the same fault
                continue
            seen.add((line, check.field, text))
            field = f"{labels[check.field]} ({check.field})" if check.field in labels else check.field
            rejects.append(
                {
                    "line_no": line,
                    "field": check.field,
                    "reason": f"{file_name}: line {line}: field {field} {text}",
                    "raw": raw,
                    "amount_minor": row["__amount"],
                    "currency": row["__ccy"],
                }
            )
    lines = sorted({r["line_no"] for r in rejects})
    kept = frame.filter(~pl.col("line_no").is_in(lines))
    before = set(result.rejects["line_no"].to_list()) if result.rejects.height else set()
    new_lines = len(set(lines) - before)
    added = pl.DataFrame(rejects, schema=REJECT_SCHEMA)
    return dataclasses.replace(  # the same kind of result (a parser's control checks, say, kept with it)
        result,
        frame=kept,
        rejects=pl.concat([result.rejects, added]).sort("line_no", "field"),
        rows_in=result.rows_in - (frame.height - kept.height) + new_lines,
    )
