"""Publish a run's outputs atomically into ``outputs/<business_date>/``.

The outputs are written into a fresh folder ``outputs/.runs/<date>/<run_id>-*`` (``write_outputs``), the
catalog commits the run naming that folder, and then ``outputs/<date>`` (a symbolic link) is switched to it
with one atomic rename (``switch``): a reader sees either the previous complete output or the new complete
output, never a mix; a re-run replaces, never appends. With an S3 home the run folder is uploaded before the
commit and the date's completion marker after the switch (``pipelines.run.s3home``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines.core import schema, sqlfiles
from pipelines.core.config import Settings
from pipelines.core.sqlfiles import ident
from pipelines.publish import amounts, csvsafe
from pipelines.publish.report import render_report
from pipelines.publish.workbook import write_run_workbook
from pipelines.run import s3home
from pipelines.run.result import RunResult
from pipelines.validate.staging import PARQUET_OPTS


def output_dir(settings: Settings, day: dt.date) -> Path:
    return settings.outputs / day.isoformat()


def new_run_folder(settings: Settings, day: dt.date, run_id: str) -> Path:
    """A fresh, not yet visible folder for a run's outputs (``publish`` switches ``outputs/<date>`` to it)."""
    runs_dir = settings.outputs / ".runs" / day.isoformat()
    runs_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=runs_dir, prefix=f"{run_id}-"))


def copy_out(
    con: duckdb.DuckDBPyConnection, source: str, name: str, folder: Path, params: dict[str, Any] | None = None
) -> Path:
    """Write a result (a table name or a SELECT) as Parquet in its canonical column order and types. A text
    column held as an enumeration fixed by the rules and schemas (rule ids, sides, tables, kinds) is written
    as it is: Parquet stores it as text with the enumeration as its dictionary, without turning every value
    back into a string first. File ids and channels are cast to text: their enumerations depend on the files
    a run loads, and a dictionary holding an unused file would change the bytes of an unchanged output."""
    t = schema.table(name)
    relation = ident(source) if re.fullmatch(r"[a-z_]+", source) else f"({source.strip().rstrip(';')})"
    held = {str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {relation}", params or {}).fetchall()}

    def column(c: schema.Column) -> str:
        fixed = c.name not in ("file_id", "channel") and held.get(c.name, "").startswith("ENUM(")
        if c.duckdb_type() == "VARCHAR" and fixed:
            return ident(c.name)
        return f"CAST({ident(c.name)} AS {c.duckdb_type()}) AS {ident(c.name)}"

    cols = ", ".join(column(c) for c in t.columns)
    target = folder / f"{name}.parquet"
    con.execute(
        f"COPY (SELECT {cols} FROM {relation}) TO {sqlfiles.literal(str(target))} "
        "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)",
        params or {},
    )
    return target


def _write_table(frame: pl.DataFrame, folder: Path, name: str, csv: bool = True) -> None:
    """The table as Parquet (its contract's columns, raw values) and, when ``csv``, as CSV: formula cells of
    text columns neutralised (csvsafe), and after the contract's columns a decimal text twin of each amount
    (``amount_minor`` -> ``amount``, "12.34" in the row's currency, ``amounts.with_decimal_text``; added after
    the neutralisation: a negative amount "-12.34" is a number to a spreadsheet, not a formula)."""
    frame.write_parquet(folder / f"{name}.parquet", **PARQUET_OPTS)
    if csv:
        shown = amounts.with_decimal_text(csvsafe.neutralise_frame(frame))
        shown.write_csv(folder / f"{name}.csv", date_format="%Y-%m-%d")


CATALOG_ROWS = ".catalog"  # the run's catalog rows, beside its outputs (``recon catalog rebuild`` reads them)
RUN_FILE = "run.json"


def write_outputs(result: RunResult, catalog_rows: dict[str, pl.DataFrame]) -> Path:
    """Write every output of the run into its (not yet visible) folder, with the catalog rows the run
    commits (``.catalog/``), all fsynced; return the folder."""
    folder = result.folder  # matches and outcomes are already there
    _write_table(result.breaks, folder, "breaks")
    _write_table(result.positions, folder, "positions")
    _write_table(result.manifest, folder, "run_manifest")
    _write_table(result.quarantine, folder, "quarantine")
    _write_table(result.closed_breaks, folder, "closed_breaks")
    _write_table(result.order_feedback, folder, "order_feedback")
    _write_table(result.fund_verification, folder, "fund_verification")
    _write_table(result.net_by_currency, folder, "net_by_currency")
    _write_table(schema.table("metrics").conform(result.metrics), folder, "metrics")
    (folder / "summary.json").write_text(json.dumps(result.summary, indent=2, sort_keys=True, default=str) + "\n")
    (folder / "report.html").write_text(render_report(result), encoding="utf-8")
    write_run_workbook(result, folder)  # recon_<date>.xlsx: the analysts' workbook (pipelines.publish.workbook)
    rows = folder / CATALOG_ROWS
    rows.mkdir(exist_ok=True)
    for table, frame in catalog_rows.items():
        frame.write_parquet(rows / f"{table}.parquet", **PARQUET_OPTS)
    run = {"run_id": result.run_id, "business_date": result.business_date.isoformat(), "mode": result.mode}
    (rows / RUN_FILE).write_text(json.dumps({**run, "rules_version": result.rules_version}, sort_keys=True) + "\n")
    for f in [*folder.iterdir(), *rows.iterdir()]:
        if f.is_file():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(rows)
    _fsync_dir(folder)
    folder.chmod(0o755)
    return folder


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def relative_folder(settings: Settings, folder: Path) -> str:
    """How the catalog names a run folder: relative to ``outputs/`` (``.runs/<date>/<folder>``)."""
    return folder.relative_to(settings.outputs).as_posix()


def published_folder(settings: Settings, day: dt.date) -> str | None:
    """The run folder ``outputs/<date>`` shows (relative to ``outputs/``), or None when there is none."""
    link = output_dir(settings, day)
    if not link.is_symlink():
        return None
    return Path(os.readlink(link)).as_posix()


def switch(settings: Settings, day: dt.date, folder: Path) -> Path:
    """Show ``folder`` as ``outputs/<date>`` (one atomic rename of a symbolic link), then drop the date's
    other run folders but the one it replaced (older runs, runs that died before their commit)."""
    link = output_dir(settings, day)
    before = published_folder(settings, day)
    tmp_link = settings.outputs / f".{day.isoformat()}.link-{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(folder.relative_to(settings.outputs))
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(tmp_link, link)
    _fsync_dir(settings.outputs)
    s3home.publish_link(settings.home, link)  # an S3 home: the run folder, then the date's marker, last
    kept = {folder} | ({settings.outputs / before} if before else set())
    _prune(folder.parent, kept)
    return link


def _prune(runs_dir: Path, keep: set[Path]) -> None:
    """Remove the date's run folders but ``keep`` (the new one and the one it replaced): older runs, and
    folders of runs that died before their catalog commit."""
    for old in runs_dir.iterdir():
        if old.is_dir() and old not in keep:
            shutil.rmtree(old, ignore_errors=True)
