"""Outcome bookkeeping of a run: the quarantined rows that take part in the date, every staged item once,
and the run manifest (every file that contributes rows, a quarantine or carried items to the date, with its
counts) and the run id derived from it."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import duckdb
import polars as pl

from pipelines.breaks.lifecycle import History
from pipelines.catalog.store import FileStatus
from pipelines.core import schema, sqlfiles
from pipelines.core.config import Settings
from pipelines.core.sqlfiles import ident
from pipelines.match.rules import MATCHABLE_TABLES
from pipelines.run.intake import Intake
from pipelines.validate.staging import rows_quarantine_path


def run_id_for(day: dt.date, mode: str, rules_version: str, file_ids: list[str]) -> str:
    h = hashlib.sha256("|".join([day.isoformat(), mode, rules_version, *sorted(file_ids)]).encode())
    return h.hexdigest()[:16]


def quarantine_rows(settings: Settings, statuses: dict[str, FileStatus], intake: Intake) -> pl.DataFrame:
    """The row quarantine of the staged files whose quarantined rows the run takes (sorted by file, line and
    field)."""
    frames = []
    mine = set(intake.taken.filter(pl.col("item_table") == "quarantine")["file_id"].to_list())
    for st in statuses.values():
        if st.file_id not in mine or st.status != "staged" or not st.rows_quarantined:
            continue
        path = rows_quarantine_path(settings, st.channel, st.file_id)
        if path.exists():
            frames.append(pl.read_parquet(path))
    q = schema.table("quarantine")
    if not frames:
        return pl.DataFrame(schema=q.polars_schema())
    return q.conform(pl.concat(frames)).sort("file_id", "line_no", "field")


def register_items(con: duckdb.DuckDBPyConnection, quarantine: pl.DataFrame, statuses: dict[str, FileStatus]) -> None:
    """``quarantine_rows`` (one row per quarantined line, its reasons joined) and ``all_items`` (every staged
    item once; file ids and channels are the run's enumerations, see ``match.load.define_names``)."""
    table_of = {st.file_id: st.canonical_table for st in statuses.values()}
    q_rows = (
        quarantine.group_by("file_id", "line_no")
        .agg(
            pl.concat_str([pl.col("field"), pl.lit(": "), pl.col("reason")]).sort().str.join("; ").alias("ref"),
            pl.col("amount_minor").first(),
            pl.col("currency").first(),
        )
        .with_columns(pl.col("file_id").replace_strict(table_of, default="unknown").alias("item_table"))
    )
    con.register("quarantine_src", q_rows)
    con.execute("CREATE OR REPLACE TEMP TABLE quarantine_rows AS SELECT * FROM quarantine_src")
    item_union = " UNION ALL ".join(
        f"SELECT CAST(item_table AS recon_table) AS item_table, item_id, file_id, "
        f"line_no, channel, business_date, item_ref, amount_minor, currency "
        f"FROM {ident('items_' + t)}"
        for t in MATCHABLE_TABLES
    )
    con.execute(f"CREATE OR REPLACE TABLE all_items AS {item_union}")


def register_intake(con: duckdb.DuckDBPyConnection, intake: Intake) -> None:
    """``intake_units`` (what the run took in) and ``taken_psp_lines`` (its settlement lines, each with the value
    date of its own business date; needs ``due_dates``)."""
    con.register("intake_src", intake.taken.select("item_table", "file_id", "row_date", "late_days"))
    con.execute("CREATE OR REPLACE TEMP TABLE intake_units AS SELECT * FROM intake_src")
    sqlfiles.execute(con, sqlfiles.load("taken_lines"))


def build_manifest(
    intake: Intake,
    day: dt.date,
    mode: str,
    rules_version: str,
    statuses: dict[str, FileStatus],
    file_names: dict[str, str],
    history: History,
    quarantine: pl.DataFrame,
) -> tuple[str, pl.DataFrame]:
    """The run id and the manifest: every file the run takes rows of (staged or quarantined), or carries
    items of, with its row accounting, the dates its rows fall on and how late they came."""
    staged_units = intake.taken.filter(pl.col("item_table") != "quarantine")
    per_file = {
        r["file_id"]: r
        for r in staged_units.group_by("file_id")
        .agg(
            pl.col("rows").sum().alias("n"),
            pl.col("rows").filter(pl.col("late_days").is_not_null()).sum().alias("late"),
            pl.col("late_days").max().alias("lag"),
            pl.col("row_date").min().alias("first"),
            pl.col("row_date").max().alias("last"),
        )
        .iter_rows(named=True)
    }
    quarantine_taken = set(intake.taken.filter(pl.col("item_table") == "quarantine")["file_id"].to_list())
    carried_by_file: dict[str, int] = {}
    for fid in history.open_items["file_id"].to_list():
        carried_by_file[fid] = carried_by_file.get(fid, 0) + 1
    q_by_file = (
        {
            r["file_id"]: r["n"]
            for r in quarantine.group_by("file_id").agg(pl.col("line_no").n_unique().alias("n")).iter_rows(named=True)
        }
        if quarantine.height
        else {}
    )
    rows: list[dict[str, Any]] = []
    for st in sorted(statuses.values(), key=lambda s: (s.channel, s.file_id)):
        if not (st.file_id in per_file or st.file_id in quarantine_taken or st.file_id in carried_by_file):
            continue
        mine = per_file.get(st.file_id, {})
        n_staged = int(mine.get("n") or 0)
        n_q = 0
        if st.file_id in quarantine_taken:
            n_q = st.rows_quarantined if st.status == "quarantined" else int(q_by_file.get(st.file_id, 0))
        rows.append(
            {
                "file_id": st.file_id,
                "channel": st.channel,
                "file_name": file_names.get(st.file_id, "?"),
                "format": st.format,
                "file_status": st.status,
                "rows_in": n_staged + n_q,
                "rows_staged": n_staged,
                "rows_quarantined": n_q,
                "rows_carried": carried_by_file.get(st.file_id, 0),
                "rows_late": int(mine.get("late") or 0),
                "late_days": mine.get("lag"),
                "first_row_date": mine.get("first"),
                "last_row_date": mine.get("last"),
                "controls": st.controls,
            }
        )
    run_id = run_id_for(day, mode, rules_version, [str(r["file_id"]) for r in rows])
    if not rows:
        return run_id, pl.DataFrame(schema=schema.table("run_manifest").polars_schema())
    manifest = schema.table("run_manifest").conform(
        pl.DataFrame(
            [{**r, "run_id": run_id, "business_date": day, "mode": mode, "rules_version": rules_version} for r in rows],
            schema_overrides={
                "business_date": pl.Date,
                "first_row_date": pl.Date,
                "last_row_date": pl.Date,
                "late_days": pl.Int64,
            },
        )
    )
    return run_id, manifest
