"""Loading a business date into the run's DuckDB: the date's staged rows, the items still open from earlier
dates (carried forward), the FX rates of earlier days, the currency exponents and the SQL macros.

File ids, channels and item tables are held as the run's enumerations from loading on: the run's tables
repeat a few of each on millions of rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from pipelines.breaks.lifecycle import History
from pipelines.core import money, schema, sqlfiles
from pipelines.core.config import Settings
from pipelines.core.dates import partition_date
from pipelines.core.sqlfiles import ident
from pipelines.match.rules import MATCHABLE_TABLES
from pipelines.validate.staging import staging_path

# fx_rates keeps its place (4th) in the item ids of the run: payment_status, matchable since withdrawals are
# reconciled against the rails' status reports, comes after it
STAGED_TABLES = (*MATCHABLE_TABLES[:3], "fx_rates", *MATCHABLE_TABLES[3:])
# FX rules convert at the rate of a named date (an order's, a value date); an item carried from an earlier day
# needs that day's rate, so the rates staged for the days before the run (this far back) are loaded too
FX_HISTORY_DAYS = 366


def staged_files(settings: Settings, table: str, day: dt.date) -> list[str]:
    folder = settings.staging / table / f"business_date={day.isoformat()}"
    return sorted(str(p) for p in folder.glob("channel=*/*.parquet"))


def fx_history_files(settings: Settings, day: dt.date) -> list[str]:
    """Staged FX rate files of the ``FX_HISTORY_DAYS`` days before the business date (never of later days)."""
    first = day - dt.timedelta(days=FX_HISTORY_DAYS)
    out: list[str] = []
    for folder in (settings.staging / "fx_rates").glob("business_date=*"):
        d = partition_date(folder.name)
        if d is not None and first <= d < day:
            out += [str(p) for p in folder.glob("channel=*/*.parquet")]
    return sorted(out)


def define_names(con: duckdb.DuckDBPyConnection, file_ids: set[str], channel_ids: set[str]) -> None:
    """The run's enumerations of file ids, channels and the tables of outcomes ("unknown": a quarantined row
    of a file whose table is not known): the run's tables repeat a few of each on millions of rows and hold
    an integer instead of the text (they are written out as text). In the text's order, so they sort as it."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE recon_names AS SELECT 'file' AS kind, unnest(CAST($files AS VARCHAR[])) AS v "
        "UNION ALL SELECT 'channel', unnest(CAST($channels AS VARCHAR[])) "
        "UNION ALL SELECT 'table', unnest(CAST($tables AS VARCHAR[]))",
        {"files": sorted(file_ids), "channels": sorted(channel_ids), "tables": [*STAGED_TABLES, "unknown"]},
    )
    for table in ("all_items", "out_outcomes", *STAGED_TABLES):  # loaded before: these use the old types
        con.execute(f"DROP TABLE IF EXISTS {ident(table)}")
    for name, kind in (("recon_file_id", "file"), ("recon_channel", "channel"), ("recon_item_table", "table")):
        con.execute(f"DROP TYPE IF EXISTS {name}")
        con.execute(f"CREATE TYPE {name} AS ENUM (SELECT v FROM recon_names WHERE kind = '{kind}' ORDER BY v)")


def _files_to_load(settings: Settings, taken: dict[str, list[str]], carried: pl.DataFrame) -> dict[str, list[str]]:
    """Per staged table: the files of the units the run takes plus the files of the items carried from earlier
    dates."""
    files: dict[str, list[str]] = {}
    for table in STAGED_TABLES:
        own = taken.get(table, [])
        mine = carried.filter(pl.col("item_table") == table)
        extra = sorted(
            {
                str(staging_path(settings, table, d, ch, fid))
                for fid, d, ch in mine.select("file_id", "item_business_date", "channel").unique().iter_rows()
            }
            - set(own)
        )
        missing = [f for f in extra if not Path(f).exists()]
        if missing:
            raise FileNotFoundError(f"staged file of a carried item is missing: {missing[0]}")
        files[table] = sorted(own + extra)
    return files


# Canonical columns added to a staged table after files were staged without them, and what such a file means
# by them: its rows are read with that expression (a column of the same row) instead of NULL.
#: a canonical column files staged under an older contract lack -> what it is for them (SQL over the staged row
#: ``s``; absent here: the column's ``default`` in its schema, else NULL)
ADDED_COLUMNS = {("psp_settlement_lines", "payout_reference"): "s.payout_id"}
_ENUMS = {"file_id": "recon_file_id", "channel": "recon_channel"}


def _select_list(table: str, files: list[str]) -> tuple[str, str]:
    """The ``{columns}`` and ``{options}`` of ``load_tables``: every column as staged, or, when some files lack a
    canonical column (staged under an older contract), the canonical columns by name with the absent ones
    filled (``ADDED_COLUMNS``, else NULL)."""
    enums = ", ".join(f"CAST(s.{c} AS {e}) AS {c}" for c, e in _ENUMS.items())
    present = [set(pq.read_schema(f).names) for f in files]
    canonical = schema.table(table).columns
    if all(c.name in names for names in present for c in canonical):
        return f"s.* EXCLUDE (filename) REPLACE ({enums})", "filename = true"
    out = []
    for c in canonical:
        name = ident(c.name)
        if c.name in _ENUMS:
            out.append(f"CAST(s.{name} AS {_ENUMS[c.name]}) AS {name}")
            continue
        fallback = ADDED_COLUMNS.get((table, c.name))
        default = fallback or (sqlfiles.literal(c.default) if c.default is not None else "NULL")
        if any(c.name in names for names in present):
            out.append(f"CAST(coalesce(s.{name}, {default}) AS {c.duckdb_type()}) AS {name}")
        else:
            out.append(f"CAST({default} AS {c.duckdb_type()}) AS {name}")
    return ", ".join(out), "filename = true, union_by_name = true"


def _load_table(con: duckdb.DuckDBPyConnection, table: str, files: list[str], taken: set[str]) -> None:
    if files:
        columns, options = _select_list(table, files)
        con.execute(
            sqlfiles.render("load_tables", table=ident(table), columns=columns, options=options),
            {
                "files": files,
                "taken": [f in taken for f in files],
                "table_index": STAGED_TABLES.index(table) + 1,
                "table_name": table,
            },
        )
        return
    con.execute(
        schema.table(table).duckdb_ddl(f"empty_{table}").replace("CREATE TABLE", "CREATE OR REPLACE TEMP TABLE")
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {ident(table)} AS "
        f"SELECT CAST(NULL AS BIGINT) AS item_id, * REPLACE (CAST(file_id AS recon_file_id) AS file_id, "
        f"CAST(channel AS recon_channel) AS channel) FROM {ident('empty_' + table)}"
    )


def _load_fx_history(con: duckdb.DuckDBPyConnection, settings: Settings, day: dt.date, loaded: list[str]) -> None:
    """Rates of earlier days, for FX rules whose named date falls before the run's date (not outcomes of this
    run; the files already ``loaded`` as the run's own rates are left out)."""
    fx_history = sorted(set(fx_history_files(settings, day)) - set(loaded))
    columns = "business_date, base_currency, quote_currency, rate"
    if fx_history:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE fx_history AS SELECT {columns} FROM read_parquet($files) "
            "WHERE business_date < $business_date",
            {"files": fx_history, "business_date": day},
        )
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE fx_history AS SELECT {columns} FROM fx_rates LIMIT 0")


def _load_carried_matches(con: duckdb.DuckDBPyConnection) -> None:
    """Pairings a carried item already matched in stay matched (``run_matching`` starts from these)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE carried_used AS "
        + " UNION ALL ".join(
            f"SELECT split_part(u.x, '|', 1) AS pairing, split_part(u.x, '|', 2) AS side, '{t}' AS item_table, "
            f"t.item_id, split_part(u.x, '|', 3) AS match_id "
            f"FROM carried AS c, unnest(string_split(c.used_in, ';')) AS u(x) "
            f"JOIN {ident(t)} AS t ON t.file_id = c.file_id AND t.line_no = c.line_no "
            f"WHERE c.item_table = '{t}' AND c.used_in IS NOT NULL AND u.x <> ''"
            for t in MATCHABLE_TABLES
        )
    )


def _load_exponents(con: duckdb.DuckDBPyConnection) -> None:
    exps = pl.DataFrame(
        {"currency": list(money.exponents()), "exponent": list(money.exponents().values())},
        schema={"currency": pl.String, "exponent": pl.Int64},
    )
    con.register("currency_exponents_src", exps)
    con.execute("CREATE OR REPLACE TABLE currency_exponents AS SELECT * FROM currency_exponents_src")


def load_day(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    day: dt.date,
    history: History,
    taken: dict[str, list[str]],
    known_files: Iterable[str] = (),
) -> dict[str, list[str]]:
    """Load the rows of the staged files the run takes (``taken``, per table: see ``run.intake``) plus the items
    still open from earlier dates (carried forward); ``known_files`` are more file ids the run names
    (quarantined files), for the file-id enumeration. Returns the staged files loaded, per table."""
    carried = history.open_items
    con.register("carried_src", carried)
    con.execute("CREATE OR REPLACE TEMP TABLE carried AS SELECT * FROM carried_src")
    files = _files_to_load(settings, taken, carried)
    # a staged file is named by its file id, in the folder of its channel (validate.staging.staging_path)
    staged = [Path(f) for fs in files.values() for f in fs]
    define_names(
        con,
        set(known_files) | {p.stem for p in staged},
        {p.parent.name.removeprefix("channel=") for p in staged} | set(carried["channel"].to_list()),
    )
    for table in STAGED_TABLES:
        _load_table(con, table, files[table], set(taken.get(table, [])))
    _load_fx_history(con, settings, day, files["fx_rates"])
    _load_carried_matches(con)
    _load_exponents(con)
    con.execute(sqlfiles.load("macros"))
    return files
