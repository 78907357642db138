"""``recon breaks import FILE.xlsx --by NAME``: resolutions typed into the run's workbook go through the audit
log of ``recon breaks resolve``; every refused row says why and records nothing.

Invariants checked after every import:

1. Each filled row gets exactly one line: applied, refused (with its reason) or skipped.
2. The audit log (catalog and journal) gains exactly the applied rows, nothing from a refused or skipped one.
3. The exit code is 0 when nothing was refused, 1 otherwise (2: not a readable recon workbook).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from pipelines.catalog import journal
from pipelines.catalog.store import Catalog
from pipelines.cli.workbook_import import cmd_import
from pipelines.core.config import Settings
from pipelines.publish.workbook import BREAKS, workbook_name
from pipelines.run import stages as pipeline

DAY = dt.date(2026, 11, 26)
Filled = tuple[str | None, str | None, str | None]  # resolve_action, resolve_by, resolve_note


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the sample day was run once (copied by each test: imports change its catalog)."""
    home = tmp_path_factory.mktemp("pristine")
    pipeline.run_all(DAY, "nightly", str(home))
    return home


@pytest.fixture
def home(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(pristine, copy, symlinks=True)
    return copy


def _published(home: Path) -> Path:
    return home / "outputs" / DAY.isoformat() / workbook_name(DAY)


def _break_ids(home: Path) -> list[str]:
    return pl.read_parquet(home / "outputs" / DAY.isoformat() / "breaks.parquet")["break_id"].to_list()


def _fill(
    home: Path,
    target: Path,
    filled: dict[str, Filled],
    extra: Sequence[tuple[str, Filled]] = (),
    business_date: str | None = None,
) -> dict[str, int]:
    """Copy the published workbook to ``target`` with the resolution cells of ``filled`` typed in (and
    ``extra`` rows appended: a break id and its resolution); return each break's row number."""
    book = openpyxl.load_workbook(_published(home))
    sheet = book[BREAKS]
    header = {c.value: c.column for c in sheet[1]}
    rows = {sheet.cell(r, header["break_id"]).value: r for r in range(2, sheet.max_row + 1)}

    def put(r: int, values: Filled) -> None:
        for name, value in zip(("resolve_action", "resolve_by", "resolve_note"), values, strict=True):
            sheet.cell(r, header[name]).value = value

    for break_id, values in filled.items():
        put(rows[break_id], values)
    for break_id, values in extra:
        r = sheet.max_row + 1
        sheet.cell(r, header["break_id"]).value = break_id
        put(r, values)
    if business_date is not None:
        for prop in book.custom_doc_props:
            if prop.name == "business_date":
                prop.value = business_date
    book.save(target)
    return rows


def _import(home: Path, path: Path, by: str | None = "carol") -> int:
    return cmd_import(argparse.Namespace(file=str(path), by=by, home=str(home), rules=None))


def _log(home: Path) -> list[dict[str, Any]]:
    return Catalog(Settings(home=home, rules=Path("rules")).catalog_path).resolutions()


def _lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("row ")]


def test_import_applies_through_the_audit_log_and_the_next_run_closes(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _break_ids(home)[:2]
    path = tmp_path / "filled.xlsx"
    rows = _fill(home, path, {a: ("accept", "alice", "timing, settles tomorrow"), b: ("write_off", None, "small")})
    assert _import(home, path) == 0
    out = capsys.readouterr().out
    assert _lines(out) == [
        f"row {rows[a]} {a} applied: accept by alice ({_log(home)[0]['resolution_id']})",
        f"row {rows[b]} {b} applied: write_off by carol ({_log(home)[1]['resolution_id']})",
    ]
    assert "2 applied, 0 refused, 0 skipped of 2 row(s)" in out
    log = {r["break_id"]: r for r in _log(home)}
    assert set(log) == {a, b}
    assert (log[a]["action"], log[a]["resolved_by"]) == ("accept", "alice")
    assert log[a]["note"] == f"timing, settles tomorrow (workbook filled.xlsx row {rows[a]}, imported by carol)"
    assert (log[b]["action"], log[b]["resolved_by"]) == ("write_off", "carol")
    assert {e["break_id"] for e in journal.read(home, journal.RESOLUTIONS)} == {a, b}  # the journal first

    # importing the same file again records nothing twice
    assert _import(home, path) == 0
    again = capsys.readouterr().out
    assert _lines(again) == [
        f"row {rows[a]} {a} skipped: already accept (by alice)",
        f"row {rows[b]} {b} skipped: already write_off (by carol)",
    ]
    assert len(_log(home)) == 2

    # the next run honours them: both breaks resolved, and the new workbook shows it
    pipeline.run_all(DAY, "rerun", str(home))
    breaks = pl.read_parquet(home / "outputs" / DAY.isoformat() / "breaks.parquet")
    resolved = breaks.filter(pl.col("break_id").is_in([a, b])).sort("break_id")
    assert resolved["status"].to_list() == ["resolved", "resolved"]
    assert dict(zip(resolved["break_id"], resolved["resolution_action"], strict=True)) == {
        a: "accept",
        b: "write_off",
    }
    assert breaks.filter(~pl.col("break_id").is_in([a, b]))["status"].unique().to_list() == ["open"]
    sheet = openpyxl.load_workbook(_published(home))[BREAKS]
    header = [c.value for c in sheet[1]]
    shown = {
        r[header.index("break_id")]: r[header.index("resolution_action")] for r in sheet.iter_rows(2, values_only=True)
    }
    assert (shown[a], shown[b]) == ("accept", "write_off")


def test_refused_rows_say_why_and_record_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _break_ids(home)
    good, bad_action, no_note, note_only, twice, same = ids[:6]
    path = tmp_path / "filled.xlsx"
    rows = _fill(
        home,
        path,
        {
            good: ("manual_match", "dan", "paired by hand with the bank line"),
            bad_action: ("close", "dan", "done"),
            no_note: ("accept", "dan", None),
            note_only: (None, None, "looked at it"),
            twice: ("accept", "dan", "first opinion"),
            same: ("write_off", "dan", "rounding"),
        },
        extra=[
            ("Bdoesnotexist00", ("accept", "dan", "?")),
            (twice, ("write_off", "dan", "second opinion")),  # conflicting edits of one break in the file
            (same, ("write_off", "dan", "rounding")),  # an identical repeat: once
        ],
    )
    last = max(rows.values())
    assert _import(home, path) == 1
    out = capsys.readouterr().out
    assert _lines(out) == sorted(
        [
            f"row {rows[good]} {good} applied: manual_match by dan ({_log(home)[0]['resolution_id']})",
            f"row {rows[bad_action]} {bad_action} refused: action 'close' is not one of write_off, manual_match, "
            "accept, reopen",
            f"row {rows[no_note]} {no_note} refused: a resolution needs a note (resolve_note is empty)",
            f"row {rows[note_only]} {note_only} refused: resolve_by/resolve_note filled but no resolve_action",
            f"row {rows[twice]} {twice} refused: conflicting edits: rows {rows[twice]}, {last + 2} give {twice} "
            "different resolutions",
            f"row {rows[same]} {same} applied: write_off by dan ({_log(home)[1]['resolution_id']})",
            f"row {last + 1} Bdoesnotexist00 refused: unknown break id: no run listed Bdoesnotexist00",
            f"row {last + 2} {twice} refused: conflicting edits: rows {rows[twice]}, {last + 2} give {twice} "
            "different resolutions",
            f"row {last + 3} {same} skipped: same resolution as row {rows[same]}",
        ],
        key=lambda line: int(line.split()[1]),
    )
    assert "2 applied, 6 refused, 1 skipped of 9 row(s)" in out
    assert {r["break_id"] for r in _log(home)} == {good, same}


def test_a_break_resolved_since_the_workbook_was_written(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed, agreed = _break_ids(home)[:2]
    pipeline.resolve_break(changed, "write_off", "written off by hand", "erin", str(home))
    pipeline.resolve_break(agreed, "accept", "known", "erin", str(home))
    path = tmp_path / "filled.xlsx"
    rows = _fill(home, path, {changed: ("accept", "dan", "timing"), agreed: ("accept", "dan", "timing")})
    assert _import(home, path) == 1
    assert _lines(capsys.readouterr().out) == [
        f"row {rows[changed]} {changed} refused: conflicting edits: resolved as write_off by erin since the "
        "workbook was written (it shows no resolution)",
        f"row {rows[agreed]} {agreed} skipped: already accept (by erin)",
    ]
    assert [(r["break_id"], r["resolved_by"]) for r in _log(home)] == [(changed, "erin"), (agreed, "erin")]


def test_a_break_of_another_date(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (first,) = _break_ids(home)[:1]
    path = tmp_path / "other.xlsx"
    rows = _fill(home, path, {first: ("accept", "dan", "timing")}, business_date="2026-11-25")
    assert _import(home, path) == 1
    assert _lines(capsys.readouterr().out) == [
        f"row {rows[first]} {first} refused: not a break of 2026-11-25; it is a break of 2026-11-26 (open)"
    ]
    assert _log(home) == []


@pytest.mark.parametrize("by", [None, "", "  "])
def test_missing_by_refuses_every_row(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], by: str) -> None:
    a, b = _break_ids(home)[:2]
    path = tmp_path / "filled.xlsx"
    _fill(home, path, {a: ("accept", "alice", "timing"), b: ("accept", None, "timing")})
    assert _import(home, path, by=by) == 1
    lines = _lines(capsys.readouterr().out)
    assert len(lines) == 2 and all(line.endswith("refused: missing --by (who imports the workbook)") for line in lines)
    assert _log(home) == []


def test_nothing_typed(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _import(home, _published(home)) == 0
    assert "no resolution typed in the Breaks sheet" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"break_id,resolve_action\nB1,accept\n", b""])
def test_not_a_workbook(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    path = tmp_path / "breaks.xlsx"
    path.write_bytes(content)
    assert _import(home, path) == 2
    assert "not an Excel workbook" in capsys.readouterr().out
    assert _import(home, tmp_path / "missing.xlsx") == 2
    assert "no such file" in capsys.readouterr().out
    assert _log(home) == []


def test_a_workbook_without_the_resolution_columns(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = openpyxl.load_workbook(_published(home))
    sheet = book[BREAKS]
    sheet.delete_cols([c.value for c in sheet[1]].index("resolve_action") + 1)
    book.save(tmp_path / "cut.xlsx")
    assert _import(home, tmp_path / "cut.xlsx") == 2
    assert "the Breaks sheet has no column resolve_action" in capsys.readouterr().out


def test_through_the_command_line(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli.main import main

    (first,) = _break_ids(home)[:1]
    path = tmp_path / "filled.xlsx"
    _fill(home, path, {first: ("accept", None, "timing")})
    assert main(["--home", str(home), "breaks", "import", str(path), "--by", "carol"]) == 0
    assert "1 applied, 0 refused, 0 skipped of 1 row(s)" in capsys.readouterr().out
    assert [(r["break_id"], r["action"], r["resolved_by"]) for r in _log(home)] == [(first, "accept", "carol")]
