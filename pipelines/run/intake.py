"""What a business date's run takes in: the time model.

A run's business date is a processing date. The run of D takes every *unit* received so far that no other
run has taken and whose row date is on or before D (a unit is one file's staged rows of one canonical table
and one row date, or one file's quarantined rows), plus the units it took before if D is re-run; items still
open from earlier dates come on top (carried). Every row keeps its own dates. A unit whose row date already
had a published run when D takes it is *late*, with its lag in days. The catalog records each run's units
(``run_inputs``), so a re-run takes the same units again (plus any received since whose date is on or before
D and that no run has taken), and coverage (every staged row taken by exactly one run) can be proven.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import pyarrow.parquet as pq

from pipelines.catalog.store import FileStatus
from pipelines.core.config import Settings
from pipelines.core.dates import partition_date

UNIT_KEY = ["file_id", "item_table", "row_date"]
UNIT_SCHEMA = {
    "file_id": pl.String,
    "channel": pl.String,
    "item_table": pl.String,
    "row_date": pl.Date,
    "rows": pl.Int64,
    "path": pl.String,
}


RECORDED_SCHEMA = {
    "as_of_date": pl.Date,
    "file_id": pl.String,
    "channel": pl.String,
    "item_table": pl.String,
    "row_date": pl.Date,
    "rows": pl.Int64,
    "late_days": pl.Int32,
}


@dataclass(frozen=True)
class Intake:
    """The units a run takes (``taken``: unit columns and ``late_days``) and, once it has taken them, the units
    dated on or before its date that no run or several runs took (``uncovered``: must be empty)."""

    taken: pl.DataFrame
    uncovered: pl.DataFrame
    units: pl.DataFrame  # every unit of the workspace (``workspace_units``)
    known: pl.DataFrame  # the units taken by the runs of dates up to the run's own, this run included
    first_day: dt.date  # the earliest date run in the workspace, or the run's own

    def paths(self, table: str) -> list[str]:
        return taken_paths(self.taken, table)

    def recorded(self, day: dt.date) -> pl.DataFrame:
        """The units as the catalog records them for the run of ``day`` (``run_inputs``)."""
        return recorded_units(self.taken, day)


def plan(
    settings: Settings,
    day: dt.date,
    statuses: dict[str, FileStatus],
    recorded: pl.DataFrame | None = None,
    run_dates: list[dt.date] | None = None,
) -> Intake:
    """The intake of the run of ``day``, given what the catalog recorded of every run (``run_inputs``) and the
    dates with a published run (none given: a workspace with no run yet)."""
    before = recorded if recorded is not None else pl.DataFrame(schema=RECORDED_SCHEMA)
    units = workspace_units(settings, statuses)
    taken = take(units, before, day, run_dates or [])
    after = pl.concat([before.filter(pl.col("as_of_date") != day), recorded_units(taken, day)])
    first_day = min([day, *(run_dates or [])])
    known = units.join(after.filter(pl.col("as_of_date") <= day).select(UNIT_KEY), on=UNIT_KEY, how="semi")
    return Intake(taken=taken, uncovered=uncovered(units, after, day), units=units, known=known, first_day=first_day)


def recorded_units(taken: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """Taken units as the catalog records them for the run of ``day`` (``run_inputs``)."""
    return taken.select(pl.lit(day).alias("as_of_date"), *[c for c in RECORDED_SCHEMA if c != "as_of_date"])


def workspace_units(settings: Settings, statuses: dict[str, FileStatus]) -> pl.DataFrame:
    """Every unit of the workspace: the staged partitions (rows from their Parquet footers) and the files with
    quarantined rows (whole files included), dated by the file's assigned date."""
    rows: list[dict[str, object]] = []
    for path in sorted(settings.staging.glob("*/business_date=*/channel=*/*.parquet")):
        row_date = partition_date(path.parent.parent.name)
        if row_date is None:
            continue
        rows.append(
            {
                "file_id": path.stem,
                "channel": path.parent.name.removeprefix("channel="),
                "item_table": path.parent.parent.parent.name,
                "row_date": row_date,
                "rows": pq.read_metadata(path).num_rows,
                "path": str(path),
            }
        )
    for st in sorted(statuses.values(), key=lambda s: s.file_id):
        if st.rows_quarantined or st.status == "quarantined":
            rows.append(
                {
                    "file_id": st.file_id,
                    "channel": st.channel,
                    "item_table": "quarantine",
                    "row_date": st.assigned_date,
                    "rows": st.rows_quarantined,
                    "path": None,
                }
            )
    return pl.DataFrame(rows, schema=UNIT_SCHEMA)


def take(units: pl.DataFrame, recorded: pl.DataFrame, day: dt.date, run_dates: list[dt.date]) -> pl.DataFrame:
    """The units the run of ``day`` takes (``units`` columns plus ``late_days``), sorted.

    ``recorded``: the catalog's ``run_inputs`` (as_of_date and the unit key); ``run_dates``: the dates with a
    published run. A unit recorded for another date stays with that run; a unit recorded for ``day`` is taken
    again; an unrecorded one is taken when its row date is on or before ``day``. It is late when a run of a
    date from its row date up to the day before ``day`` had been published."""
    others = recorded.filter(pl.col("as_of_date") != day).select(UNIT_KEY)
    mine = recorded.filter(pl.col("as_of_date") == day).select(UNIT_KEY)
    fresh = units.join(recorded.select(UNIT_KEY), on=UNIT_KEY, how="anti").filter(pl.col("row_date") <= day)
    again = units.join(mine, on=UNIT_KEY, how="semi").join(others, on=UNIT_KEY, how="anti")
    taken = pl.concat([again, fresh]).unique(UNIT_KEY).sort("channel", "item_table", "row_date", "file_id")
    earlier_runs = sorted(d for d in run_dates if d < day)

    def late(row_date: dt.date) -> int | None:
        return (day - row_date).days if any(row_date <= d for d in earlier_runs) else None

    return taken.with_columns(pl.col("row_date").map_elements(late, return_dtype=pl.Int32).alias("late_days"))


def uncovered(units: pl.DataFrame, recorded: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """Units dated on or before ``day`` that no run took, or that several runs took (with ``runs``, the number
    of runs that took them); ``recorded`` includes the run of ``day``. Empty when every row is covered."""
    counts = recorded.group_by(UNIT_KEY).agg(pl.len().cast(pl.Int64).alias("runs"))
    due = units.filter(pl.col("row_date") <= day).join(counts, on=UNIT_KEY, how="left")
    changed = due.join(
        recorded.select(*UNIT_KEY, pl.col("rows").alias("rows_taken")).unique(UNIT_KEY), on=UNIT_KEY, how="left"
    ).filter(pl.col("rows_taken").is_not_null() & (pl.col("rows_taken") != pl.col("rows")))
    bad = due.filter(pl.col("runs").fill_null(0) != 1)
    return (
        pl.concat([bad, changed.drop("rows_taken")])
        .unique(UNIT_KEY)
        .with_columns(pl.col("runs").fill_null(0))
        .sort("channel", "row_date", "item_table", "file_id")
    )


def taken_paths(taken: pl.DataFrame, table: str) -> list[str]:
    """The staged partition files of ``table`` among the units taken."""
    return sorted(taken.filter((pl.col("item_table") == table) & pl.col("path").is_not_null())["path"].to_list())


def coverage(units: pl.DataFrame, recorded: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """Rows of the workspace per channel, own date and table, with the run that took them and a state:
    ``taken``, ``late`` (taken after a run of their date), ``awaiting`` (dated after ``day``: no run of their
    date yet), ``not taken`` or ``taken twice`` / ``changed`` (invariant 6 broken)."""
    runs = recorded.group_by(UNIT_KEY).agg(
        pl.col("as_of_date").min().alias("taken_by"),
        pl.len().alias("runs"),
        pl.col("rows").first().alias("rows_taken"),
        pl.col("late_days").max(),
    )
    joined = units.join(runs, on=UNIT_KEY, how="left").with_columns(pl.col("runs").fill_null(0))
    state = (
        pl.when(pl.col("runs") > 1)
        .then(pl.lit("taken twice"))
        .when((pl.col("runs") == 1) & (pl.col("rows_taken") != pl.col("rows")))
        .then(pl.lit("changed"))
        .when(pl.col("runs") == 1)
        .then(pl.when(pl.col("late_days").is_not_null()).then(pl.lit("late")).otherwise(pl.lit("taken")))
        .when(pl.col("row_date") > day)
        .then(pl.lit("awaiting"))
        .otherwise(pl.lit("not taken"))
    )
    return (
        joined.with_columns(state.alias("state"))
        .group_by("channel", "row_date", "item_table", "state", "taken_by", "late_days")
        .agg(pl.col("rows").sum(), pl.len().alias("files"))
        .sort("channel", "row_date", "item_table", "state")
    )
