"""``recon inspect FILE [--format NAME]``: what a provider's file is and whether it can be trusted.

Detects the format from the content when it is not given, parses the file with the registered parser
(under a throw-away channel: UTC, the CSV options the detected variant documents) and reports the
format, the number of entries, the sums per currency and direction (or record type / status), the
control-total check, and the rows rejected; or the precise reason the whole file is rejected.
``inspect_file`` returns the structured result, ``render`` prints it, ``main_inspect`` does both and
returns the exit code (0 read, 1 rejected, 2 format unknown, 3 read but some rows would be quarantined).

Whatever the file holds (binary garbage, UTF-16 text, NUL bytes, a header field of megabytes, lines ending
with a carriage return alone), ``recon inspect`` prints no traceback: a file it cannot read gives one line
naming the file and, where known, the line and field, and why, with a non-zero exit code. Text taken from the
file is printed escaped (control characters as ``\\xNN``), never as terminal control sequences or markup.
The rows' reference fields and NUL bytes are checked as a run checks them (``validate.plausibility``; the
date window needs a run's date and is not applied).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines.core import money
from pipelines.core.channels import Channel, CsvOptions
from pipelines.formats import controls, registry
from pipelines.formats.base import FileRejected, ParseContext, shown
from pipelines.formats.detect import Detection, detect
from pipelines.validate import plausibility

EXIT_READ, EXIT_REJECTED, EXIT_UNKNOWN, EXIT_ROWS_REJECTED = 0, 1, 2, 3
KINDS = {"bank_statement_lines": "bank", "psp_settlement_lines": "psp", "payment_status": "rail"}
GROUPS = {
    "bank_statement_lines": ("currency", "direction", "amount_minor"),
    "psp_settlement_lines": ("currency", "record_type", "net_minor"),
    "payment_status": ("currency", "status", "amount_minor"),
    "orders": ("currency", "status", "amount_minor"),
}
MAX_REJECTS_SHOWN = 20


@dataclass
class Sum:
    currency: str | None
    group: str | None
    count: int
    total_minor: int | None

    def total_text(self) -> str:
        if self.total_minor is None:
            return ""
        try:
            return money.format_minor(self.total_minor, self.currency or "")
        except ValueError:
            return str(self.total_minor)


@dataclass
class InspectResult:
    path: str
    format: str | None
    detected: bool
    evidence: str | None
    csv_note: str | None
    table: str | None
    status: str  # read | rejected | unknown
    reason: str | None = None
    rows_in: int = 0
    rows_read: int = 0
    rows_rejected: int = 0
    control: str | None = None
    checks: list[dict[str, str]] = field(default_factory=list)  # each check the parser reports, as a dict
    group_by: str | None = None
    sums: list[Sum] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    dates: list[tuple[str, int]] = field(default_factory=list)  # own business date of the rows -> rows
    date_basis: str = ""  # the time zone and cut-off the dates are taken in
    head: pl.DataFrame | None = None  # the first canonical rows (``--rows N``), as a run stages them

    @property
    def exit_code(self) -> int:
        if self.status == "read" and self.rows_rejected:
            return EXIT_ROWS_REJECTED
        return {"read": EXIT_READ, "rejected": EXIT_REJECTED}.get(self.status, EXIT_UNKNOWN)


# Control totals of the formats whose modules predate the ``CONTROL_TOTALS`` attribute.
KNOWN_CONTROLS = {"camt053": "opening balance + credits - debits = closing balance, per statement"}


def _control_text(name: str, module_name: str, checks: list[controls.Check] | None) -> str:
    """What was checked. A parser that reports its checks says which ran: "agree" only when every one ran and
    agreed. Otherwise the module's ``CONTROL_TOTALS`` (they agreed, or the file would be rejected)."""
    module = importlib.import_module(module_name)
    declared = getattr(module, "CONTROL_TOTALS", None) or KNOWN_CONTROLS.get(name)
    if not declared:
        return "none in this format; every row was checked on its own"
    if checks is None or (checks and all(c.status == "passed" for c in checks)):
        return f"agree ({declared})"
    if not checks:
        return f"none in this file (the format's: {declared})"
    return f"NOT ALL CHECKED: {controls.summary(checks)} (the format's: {declared})"


def inspect_file(
    path: str | Path, fmt: str | None = None, channel: Channel | None = None, rows: int = 0
) -> InspectResult:
    """Inspect one file; with ``channel`` (its declaration), with that channel's format (unless ``fmt``), CSV
    options, time zone and cut-off, so the rows' own business dates are those a run gives them. Never raises
    for what the file holds: a file that cannot be read is a result with its reason."""
    file = Path(path)
    if channel is not None and fmt is None:
        fmt = channel.format
    result = InspectResult(
        path=str(file), format=fmt, detected=fmt is None, evidence=None, csv_note=None, table=None, status="unknown"
    )
    try:
        return _inspect(file, fmt, channel, result, rows)
    except OSError as exc:
        result.status, result.reason = "rejected", f"cannot read the file: {exc.strerror or exc}"
    except Exception as exc:  # a parser's unforeseen failure is a rejection with its reason, as in a run
        result.status = "rejected"
        result.reason = f"unreadable as {result.format or 'any format'}: {type(exc).__name__}: {exc}"
    return result


def _inspect(
    file: Path, fmt: str | None, channel: Channel | None, result: InspectResult, rows: int = 0
) -> InspectResult:
    if not file.exists():
        result.reason = f"no such file: {file}"
        return result
    if not file.is_file():
        result.reason = f"not a regular file: {file}"
        return result
    options = CsvOptions()
    if fmt is None:
        try:
            found: Detection = detect(file)
        except FileRejected as exc:
            result.reason = str(exc)
            return result
        result.format, result.evidence, result.csv_note = found.format, found.evidence, found.csv_note
        options = found.csv
    name = str(result.format)
    if name not in registry.registered():
        result.reason = f"format {name!r} has no parser; known: {', '.join(registry.registered())}"
        return result
    table_name = registry.table_of(name)
    result.table = table_name
    if fmt is not None and table_name in ("psp_settlement_lines",):
        try:
            found = detect(file)
            if found.format == name:
                options, result.csv_note = found.csv, found.csv_note
        except FileRejected:
            pass
    if channel is None:
        channel = Channel(id="inspect", kind=KINDS.get(table_name, "reference"), location=".", format=name, csv=options)
        result.date_basis = "UTC, cut-off 00:00; give --channel for the channel's time zone and cut-off"
    else:
        channel = channel.model_copy(update={"format": name})
        result.date_basis = f"{channel.timezone}, cut-off {channel.cutoff.strftime('%H:%M')}, channel {channel.id}"
    ctx = ParseContext(channel=channel, file_id="inspect", file_name=file.name)
    try:
        parsed = registry.get(name)(file, ctx)
    except FileRejected as exc:
        result.status, result.reason = "rejected", str(exc)
        return result
    parsed = plausibility.screen(parsed, channel, shown(file.name), None)
    result.status = "read"
    result.rows_in, result.rows_read, result.rows_rejected = parsed.rows_in, parsed.frame.height, parsed.rows_rejected
    checks = controls.checks_of(parsed)
    result.control = _control_text(name, registry.get(name).__module__, checks)
    result.checks = [c.as_dict() for c in checks or []]
    ccy, group, amount = GROUPS.get(table_name, ("currency", "", "amount_minor"))
    frame = parsed.frame
    if group and group in frame.columns and ccy in frame.columns and amount in frame.columns:
        result.group_by = group
        sums = (
            frame.group_by(ccy, group)
            .agg(pl.len().alias("n"), pl.col(amount).sum().alias("total"))
            .sort(ccy, group, nulls_last=True)
        )
        result.sums = [Sum(r[ccy], r[group], int(r["n"]), r["total"]) for r in sums.iter_rows(named=True)]
    result.rejects = parsed.rejects.head(MAX_REJECTS_SHOWN).select("line_no", "field", "reason").to_dicts()
    if rows > 0:
        from pipelines.core import schema

        columns = [c.name for c in schema.table(table_name).columns if c.name in frame.columns]
        result.head = frame.select(columns).drop("file_id", "channel", strict=False).head(rows)
    if "business_date" in frame.columns:
        per_date = frame.group_by("business_date").len().sort("business_date")
        result.dates = [(d.isoformat(), int(n)) for d, n in per_date.iter_rows() if d is not None]
    return result


def _safe(text: object) -> str:
    """Text from a file (or its name) as it may be printed: escaped control characters, no markup."""
    return escape(shown(str(text), limit=2_000))


def render(result: InspectResult, console: Console) -> None:
    path = _safe(result.path)
    console.print(f"[bold]{path}[/bold]", soft_wrap=True)
    if result.format:
        how = "detected" if result.detected else "given"
        table = f" -> {result.table}" if result.table else ""
        console.print(f"format: [bold]{_safe(result.format)}[/bold] ({how}){table}", soft_wrap=True)
    if result.evidence:
        console.print(f"evidence: {_safe(result.evidence)}", soft_wrap=True)
    if result.csv_note:
        console.print(f"number format: {_safe(result.csv_note)}", soft_wrap=True)
    if result.status != "read":
        label = "REJECTED" if result.status == "rejected" else "NOT READ"
        console.print(f"[bold red]{label}[/bold red]: {path}: {_safe(result.reason)}", soft_wrap=True)
        return
    console.print(f"entries: {result.rows_in}  read: {result.rows_read}  rejected rows: {result.rows_rejected}")
    if result.sums:
        t = Table(title=f"Sums per currency and {result.group_by}")
        for col, justify in (
            ("currency", "left"),
            (result.group_by or "", "left"),
            ("entries", "right"),
            ("total", "right"),
        ):
            t.add_column(col, justify=justify)  # type: ignore[arg-type]
        for s in result.sums:
            t.add_row(_safe(s.currency or ""), _safe(s.group or ""), str(s.count), s.total_text())
        console.print(t)
    colour = "green" if (result.control or "").startswith(("agree", "none in this format")) else "yellow"
    console.print(f"[{colour}]control totals:[/{colour}] {_safe(result.control or '')}")
    for check in result.checks:
        if check["status"] != "passed":
            console.print("  " + _safe(f"{check['status']}: {check['name']}, {check['scope']}: {check['detail']}"))
    if result.dates:
        days = ", ".join(f"{d}: {n}" for d, n in result.dates)
        console.print(f"rows by own business date ({result.date_basis}): {days}")
    if result.head is not None:
        _render_head(result.head, result.table or "", console)
    if result.rejects:
        r = Table(title=f"Rejected rows (first {len(result.rejects)})")
        for col in ("line", "field", "reason"):
            r.add_column(col, overflow="fold")
        for row in result.rejects:
            r.add_row(str(row["line_no"]), _safe(row["field"]), _safe(row["reason"]))
        console.print(r)
        first = result.rejects[0]
        console.print(
            f"[bold yellow]ROWS REJECTED[/bold yellow]: {_safe(result.path)}: {result.rows_rejected} row(s) would be "
            f"quarantined; first: line {first['line_no']}, field {_safe(first['field'])}: {_safe(first['reason'])}",
            soft_wrap=True,
        )


def _render_head(head: pl.DataFrame, table: str, console: Console) -> None:
    """The first canonical rows, one block per row (column: value), only the columns the file filled."""
    filled = [c for c in head.columns if head[c].null_count() < head.height]
    console.print(f"first {head.height} canonical row(s) of {table} (columns the file left empty not shown):")
    for row in head.select(filled).iter_rows(named=True):
        console.print("  " + "  ".join(f"{k}={_safe(v)}" for k, v in row.items()), soft_wrap=True)


def main_inspect(path: str, fmt: str | None, channel: Channel | None = None, rows: int = 0) -> int:
    """Inspect one file, print the result, return the exit code (0 read, 1 rejected, 2 unknown format, 3 read
    with rows that would be quarantined)."""
    console = Console()
    try:
        result = inspect_file(path, fmt, channel, rows)
        render(result, console)
    except Exception as exc:  # never a traceback: one line, the file and why
        console.print(f"[bold red]REJECTED[/bold red]: {_safe(path)}: {_safe(f'{type(exc).__name__}: {exc}')}")
        return EXIT_REJECTED
    return result.exit_code
