"""``recon breaks import FILE.xlsx --by NAME``: the resolutions analysts typed into a run's workbook.

The Breaks sheet of ``recon_<date>.xlsx`` (``pipelines.publish.workbook``) has three columns to fill per break:
``resolve_action`` (one of ``recon breaks resolve``'s actions), ``resolve_by`` (who decided; ``--by`` when
empty) and ``resolve_note`` (why; required, as ``--note`` is). Each filled row is checked on its own and, when
it passes, recorded through the very function ``recon breaks resolve`` uses (``stages.resolve_break``: the
journal, then the catalog's audit log), with the workbook and its row added to the note. A refused row records
nothing, and says why:

* ``--by`` missing (who imports the workbook);
* no break id, an unknown break id, or a break that is not one of the workbook's business date;
* an action that is not one of ``ACTIONS``, or an action without a note (or a note without an action);
* conflicting edits: the same break with different resolutions in the file (every such row is refused), or a
  break whose resolution changed since the workbook was written (its ``resolution_action`` column shows the
  resolution as of the run; the audit log's latest now differs).

A row asking for the resolution the break already has is skipped (nothing recorded twice), as is a repeat of
an identical row: importing the same file twice records each resolution once. Exit code 0 when no row was
refused, 1 when some were, 2 when the file cannot be read as a recon workbook.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from pipelines.breaks.lifecycle import ACTIONS
from pipelines.catalog.store import Catalog, open_catalog
from pipelines.core import config
from pipelines.publish.workbook import BREAKS, PROPERTY_DATE, RESOLVE_ACTION, RESOLVE_BY, RESOLVE_NOTE
from pipelines.run.lock import WorkspaceBusy

EXIT_OK, EXIT_REFUSED, EXIT_UNREADABLE = 0, 1, 2

console = Console(soft_wrap=True)  # one line per row, break ids never wrapped
if not console.is_terminal:
    console = Console(width=160, soft_wrap=True)

State = Literal["applied", "refused", "skipped"]


class WorkbookError(Exception):
    """The file is not a workbook ``recon breaks import`` can read (the message says why)."""


@dataclass(frozen=True)
class Entry:
    """A row of the Breaks sheet with something typed in its resolution columns."""

    row: int  # the spreadsheet's row number (1 is the header)
    break_id: str
    action: str
    by: str
    note: str
    shown: str  # resolution_action as the workbook was written ("" when none)


@dataclass(frozen=True)
class Outcome:
    row: int
    break_id: str
    state: State
    detail: str


@dataclass(frozen=True)
class Sheet:
    """What the import reads from a workbook: its business date and the filled rows of its Breaks sheet."""

    business_date: dt.date
    entries: list[Entry]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_workbook(path: Path) -> Sheet:
    """The business date and the rows with a resolution typed in, of ``path``'s Breaks sheet."""
    import zipfile

    from openpyxl import load_workbook

    if not path.is_file():
        raise WorkbookError(f"{path}: no such file")
    try:
        book = load_workbook(path, read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise WorkbookError(f"{path}: not an Excel workbook ({exc})") from None
    try:
        if BREAKS not in book.sheetnames:
            raise WorkbookError(f"{path}: no {BREAKS!r} sheet (sheets: {', '.join(book.sheetnames)})")
        rows = book[BREAKS].iter_rows(values_only=True)
        header = [_text(v) for v in next(rows, ())]
        missing = [c for c in ("break_id", RESOLVE_ACTION) if c not in header]
        if missing:
            raise WorkbookError(f"{path}: the {BREAKS} sheet has no column {', '.join(missing)}")
        col = {name: i for i, name in reversed(list(enumerate(header))) if name}

        def cell(values: tuple[Any, ...], name: str) -> Any:
            i = col.get(name)
            return values[i] if i is not None and i < len(values) else None

        entries: list[Entry] = []
        dates: set[str] = set()
        for number, values in enumerate(rows, start=2):
            if cell(values, "business_date") is not None:
                dates.add(_text(cell(values, "business_date")))
            action, by, note = (_text(cell(values, c)) for c in (RESOLVE_ACTION, RESOLVE_BY, RESOLVE_NOTE))
            if action or by or note:
                break_id, shown = _text(cell(values, "break_id")), _text(cell(values, "resolution_action"))
                entries.append(Entry(number, break_id, action, by, note, shown))
        day = _business_date(book, dates, path)
    finally:
        book.close()
    return Sheet(day, entries)


def _business_date(book: Any, dates: set[str], path: Path) -> dt.date:
    """The workbook's business date: its document property, else the Breaks sheet's business_date column."""
    props = {p.name: p.value for p in getattr(book, "custom_doc_props", None) or []}
    found = str(props.get(PROPERTY_DATE) or "") or (next(iter(dates)) if len(dates) == 1 else "")
    try:
        return dt.date.fromisoformat(found[:10])
    except ValueError:
        raise WorkbookError(f"{path}: cannot tell the workbook's business date (is it a recon_<date>.xlsx?)") from None


def check(sheet: Sheet, importer: str, catalog: Catalog) -> tuple[list[Outcome], list[Entry]]:
    """Every entry checked: the refused and skipped ones as outcomes, and the entries to apply, in row order."""
    outcomes: dict[int, Outcome] = {}
    day = sheet.business_date

    def refuse(e: Entry, why: str) -> None:
        outcomes[e.row] = Outcome(e.row, e.break_id, "refused", why)

    valid: list[Entry] = []
    for e in sheet.entries:
        if not importer.strip():
            refuse(e, "missing --by (who imports the workbook)")
        elif not e.break_id:
            refuse(e, "no break id in the row")
        elif not e.action:
            refuse(e, f"{RESOLVE_BY}/{RESOLVE_NOTE} filled but no {RESOLVE_ACTION}")
        elif e.action not in ACTIONS:
            refuse(e, f"action {e.action!r} is not one of {', '.join(ACTIONS)}")
        elif not e.note:
            refuse(e, f"a resolution needs a note ({RESOLVE_NOTE} is empty)")
        else:
            seen = catalog.break_dates(e.break_id)
            if not seen:
                refuse(e, f"unknown break id: no run listed {e.break_id}")
            elif day not in seen:
                where = ", ".join(f"{d} ({s})" for d, s in seen.items())
                refuse(e, f"not a break of {day}; it is a break of {where}")
            else:
                valid.append(e)

    chosen: dict[str, Entry] = {}
    conflicted: set[str] = set()
    for e in valid:
        first = chosen.setdefault(e.break_id, e)
        if first is not e and _decision(first, importer) != _decision(e, importer):
            conflicted.add(e.break_id)
    to_apply: list[Entry] = []
    for e in valid:
        first = chosen[e.break_id]
        if e.break_id in conflicted:
            rows = ", ".join(str(x.row) for x in valid if x.break_id == e.break_id)
            refuse(e, f"conflicting edits: rows {rows} give {e.break_id} different resolutions")
        elif first is not e:
            outcomes[e.row] = Outcome(e.row, e.break_id, "skipped", f"same resolution as row {first.row}")
        else:
            history = catalog.resolutions(e.break_id)
            now, who = (str(history[-1]["action"]), str(history[-1]["resolved_by"])) if history else ("", "")
            if now == e.action:
                outcomes[e.row] = Outcome(e.row, e.break_id, "skipped", f"already {now} (by {who})")
            elif now != e.shown:
                refuse(
                    e,
                    f"conflicting edits: resolved as {now or 'none'} by {who or '?'} since the workbook was "
                    f"written (it shows {e.shown or 'no resolution'})",
                )
            else:
                to_apply.append(e)
    return sorted(outcomes.values(), key=lambda o: o.row), to_apply


def _decision(e: Entry, importer: str) -> tuple[str, str, str]:
    return e.action, e.by or importer.strip(), e.note


def import_workbook(path: Path, importer: str, home: str | None, rules: str | None) -> list[Outcome]:
    """Check every filled row of the workbook and apply those that pass through ``resolve_break`` (the audit
    log of ``recon breaks resolve``); return one outcome per filled row, in row order."""
    from pipelines.run.stages import resolve_break

    settings = config.settings(home, rules)
    catalog = open_catalog(settings)
    if not catalog.exists():
        raise WorkbookError(f"no catalog in {settings.home}: nothing was run there yet")
    sheet = read_workbook(path)
    outcomes, to_apply = check(sheet, importer, catalog)
    busy: str | None = None
    for e in to_apply:
        if busy is not None:
            outcomes.append(Outcome(e.row, e.break_id, "refused", f"not recorded: {busy}"))
            continue
        by = e.by or importer.strip()
        note = f"{e.note} (workbook {path.name} row {e.row}, imported by {importer.strip()})"
        try:
            rid = resolve_break(e.break_id, e.action, note, by, home, rules)
        except (KeyError, ValueError) as exc:
            outcomes.append(Outcome(e.row, e.break_id, "refused", str(exc).strip("'\"")))
            continue
        except WorkspaceBusy as exc:
            busy = str(exc)
            outcomes.append(Outcome(e.row, e.break_id, "refused", f"not recorded: {busy}"))
            continue
        outcomes.append(Outcome(e.row, e.break_id, "applied", f"{e.action} by {by} ({rid})"))
    return sorted(outcomes, key=lambda o: o.row)


def cmd_import(args: argparse.Namespace) -> int:
    """``recon breaks import FILE --by NAME``: one line per filled row (applied, refused with the reason, or
    skipped) and a total; 0 when nothing was refused, 1 when some rows were, 2 when the file is unreadable."""
    path = Path(args.file)
    try:
        outcomes = import_workbook(path, getattr(args, "by", None) or "", args.home, args.rules)
    except WorkbookError as exc:
        console.print(f"recon breaks import: {exc}", markup=False, highlight=False, style="red")
        return EXIT_UNREADABLE
    colour = {"applied": "green", "refused": "red", "skipped": "yellow"}
    for o in outcomes:
        console.print(
            f"row {o.row} {o.break_id or '-'} {o.state}: {o.detail}",
            markup=False,
            highlight=False,
            style=colour[o.state],
        )
    count = {s: sum(o.state == s for o in outcomes) for s in ("applied", "refused", "skipped")}
    if not outcomes:
        console.print(f"{path.name}: no resolution typed in the {BREAKS} sheet", markup=False, highlight=False)
        return EXIT_OK
    console.print(
        f"{path.name}: {count['applied']} applied, {count['refused']} refused, {count['skipped']} skipped "
        f"of {len(outcomes)} row(s); applied resolutions take effect on the next run",
        markup=False,
        highlight=False,
    )
    return EXIT_REFUSED if count["refused"] else EXIT_OK
