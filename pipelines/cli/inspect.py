"""``recon inspect FILE [--format NAME]``: what a provider's file is and whether it can be trusted.

Detects the format from the content when it is not given, parses the file with the registered parser
(under a throw-away channel: UTC, the CSV options the detected variant documents) and reports the
format, the number of entries, the sums per currency and direction (or record type / status), the
control-total check, and the rows rejected; or the precise reason the whole file is rejected.
``inspect_file`` returns the structured result, ``render`` prints it, ``main_inspect`` does both and
returns the exit code (0 read, 1 rejected, 2 format unknown).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from pipelines.core import money
from pipelines.core.channels import Channel, CsvOptions
from pipelines.formats import registry
from pipelines.formats.base import FileRejected, ParseContext
from pipelines.formats.detect import Detection, detect

EXIT_READ, EXIT_REJECTED, EXIT_UNKNOWN = 0, 1, 2
KINDS = {"bank_statement_lines": "bank", "psp_settlement_lines": "psp", "payment_status": "bank"}
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
    group_by: str | None = None
    sums: list[Sum] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    dates: list[tuple[str, int]] = field(default_factory=list)  # own business date of the rows -> rows
    date_basis: str = ""  # the time zone and cut-off the dates are taken in

    @property
    def exit_code(self) -> int:
        return {"read": EXIT_READ, "rejected": EXIT_REJECTED}.get(self.status, EXIT_UNKNOWN)


# Control totals of the formats whose modules predate the ``CONTROL_TOTALS`` attribute.
KNOWN_CONTROLS = {"camt053": "opening balance + credits - debits = closing balance, per statement"}


def _control_text(name: str, module_name: str) -> str:
    """What was checked: the module's ``CONTROL_TOTALS`` (they agreed, or the file would be rejected)."""
    module = importlib.import_module(module_name)
    declared = getattr(module, "CONTROL_TOTALS", None) or KNOWN_CONTROLS.get(name)
    if declared:
        return f"agree ({declared})"
    return "none in this format; every row was checked on its own"


def inspect_file(path: str | Path, fmt: str | None = None, channel: Channel | None = None) -> InspectResult:
    """Inspect one file; with ``channel`` (its declaration), with that channel's format (unless ``fmt``), CSV
    options, time zone and cut-off, so the rows' own business dates are those a run gives them."""
    file = Path(path)
    if channel is not None and fmt is None:
        fmt = channel.format
    result = InspectResult(
        path=str(file), format=fmt, detected=fmt is None, evidence=None, csv_note=None, table=None, status="unknown"
    )
    if not file.is_file():
        result.reason = f"no such file: {file}"
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
    result.status = "read"
    result.rows_in, result.rows_read, result.rows_rejected = parsed.rows_in, parsed.frame.height, parsed.rows_rejected
    result.control = _control_text(name, registry.get(name).__module__)
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
    if "business_date" in frame.columns:
        per_date = frame.group_by("business_date").len().sort("business_date")
        result.dates = [(d.isoformat(), int(n)) for d, n in per_date.iter_rows() if d is not None]
    return result


def render(result: InspectResult, console: Console) -> None:
    console.print(f"[bold]{result.path}[/bold]")
    if result.format:
        how = "detected" if result.detected else "given"
        console.print(f"format: [bold]{result.format}[/bold] ({how}){' -> ' + result.table if result.table else ''}")
    if result.evidence:
        console.print(f"evidence: {result.evidence}")
    if result.csv_note:
        console.print(f"number format: {result.csv_note}")
    if result.status != "read":
        label = "REJECTED" if result.status == "rejected" else "NOT READ"
        console.print(f"[bold red]{label}[/bold red]: {result.reason}")
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
            t.add_row(s.currency or "", s.group or "", str(s.count), s.total_text())
        console.print(t)
    console.print(f"[green]control totals:[/green] {result.control}")
    if result.dates:
        days = ", ".join(f"{d}: {n}" for d, n in result.dates)
        console.print(f"rows by own business date ({result.date_basis}): {days}")
    if result.rejects:
        r = Table(title=f"Rejected rows (first {len(result.rejects)})")
        for col in ("line", "field", "reason"):
            r.add_column(col, overflow="fold")
        for row in result.rejects:
            r.add_row(str(row["line_no"]), str(row["field"]), str(row["reason"]))
        console.print(r)


def main_inspect(path: str, fmt: str | None, channel: Channel | None = None) -> int:
    """Inspect one file, print the result, return the exit code (0 read, 1 rejected, 2 unknown format)."""
    result = inspect_file(path, fmt, channel)
    render(result, Console())
    return result.exit_code
