"""Reconcile one business date: load staging, match, classify breaks, clear, and prove the invariants.

The result is a set of frames (matches, breaks, outcomes, positions, run manifest, quarantine) and a
summary; ``publish`` writes them. The wall clock is read only to time the steps (``StepClock``, never
written into an output): the same staged inputs and rules give the same result.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines import calendars, clearing, lifecycle, money, schema, sqlfiles
from pipelines.catalog import FileStatus
from pipelines.channels import Channel
from pipelines.config import Settings
from pipelines.match import release_scratch, run_matching
from pipelines.normalise import rows_quarantine_path, staging_path
from pipelines.rules import MATCHABLE_TABLES, RuleSet
from pipelines.sqlfiles import ident

log = logging.getLogger(__name__)
STAGED_TABLES = (*MATCHABLE_TABLES, "fx_rates")
# FX rules convert at the rate of a named date (an order's, a value date); an item carried from an earlier day
# needs that day's rate, so the rates staged for the days before the run (this far back) are loaded too
FX_HISTORY_DAYS = 366


class InvariantError(AssertionError):
    """A run invariant does not hold; the run is not published."""


class StepClock:
    """Wall and CPU seconds of the consecutive steps of a run, each also logged. CPU seconds are those of every
    thread of the process during the step (DuckDB's threads, and the background writer of the matches CSV
    while it runs)."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.steps[name] = {"wall_s": round(wall - self._wall, 3), "cpu_s": round(cpu - self._cpu, 3)}
        log.info("%s: %.2f s (%.2f CPU s)", name, wall - self._wall, cpu - self._cpu)
        self._wall, self._cpu = wall, cpu


@dataclass
class RunResult:
    """A reconciled business date. The large tables (matches, outcomes) were streamed by DuckDB into
    ``folder`` (not yet visible to readers: ``publish`` switches to it); the small ones are frames."""

    business_date: str
    run_id: str
    mode: str
    rules_version: str
    folder: Path
    breaks: pl.DataFrame
    positions: pl.DataFrame
    manifest: pl.DataFrame
    quarantine: pl.DataFrame
    closed_breaks: pl.DataFrame
    order_feedback: pl.DataFrame
    fund_verification: pl.DataFrame
    net_by_currency: pl.DataFrame
    open_items: pl.DataFrame
    receipts: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, float]] = field(default_factory=dict)  # StepClock's, not part of any output

    @property
    def matches(self) -> pl.DataFrame:
        return pl.read_parquet(self.folder / "matches.parquet")

    @property
    def outcomes(self) -> pl.DataFrame:
        return pl.read_parquet(self.folder / "outcomes.parquet")


def _duckdb_config(settings: Settings) -> dict[str, str | bool | int | float | list[str]]:
    """Bounded memory for the run's DuckDB (``RECON_DUCKDB_MEMORY``, default 1GB); it spills to the workspace."""
    import os

    spill = settings.home / "tmp" / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    return {"memory_limit": os.environ.get("RECON_DUCKDB_MEMORY", "1GB"), "temp_directory": str(spill)}


def _staged_files(settings: Settings, table: str, business_date: str) -> list[str]:
    folder = settings.staging / table / f"business_date={business_date}"
    return sorted(str(p) for p in folder.glob("channel=*/*.parquet"))


def _fx_history_files(settings: Settings, business_date: str) -> list[str]:
    """Staged FX rate files of the ``FX_HISTORY_DAYS`` days before the business date (never of later days)."""
    day = dt.date.fromisoformat(business_date)
    first = day - dt.timedelta(days=FX_HISTORY_DAYS)
    out: list[str] = []
    for folder in (settings.staging / "fx_rates").glob("business_date=*"):
        try:
            d = dt.date.fromisoformat(folder.name.removeprefix("business_date="))
        except ValueError:
            continue
        if first <= d < day:
            out += [str(p) for p in folder.glob("channel=*/*.parquet")]
    return sorted(out)


def _define_names(con: duckdb.DuckDBPyConnection, file_ids: set[str], channel_ids: set[str]) -> None:
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


def _load(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    business_date: str,
    history: lifecycle.History,
    known_files: Iterable[str] = (),
) -> dict[str, list[str]]:
    """Load the date's staged rows plus the items still open from earlier dates (carried forward);
    ``known_files`` are more file ids the run names (quarantined files), for the file-id enumeration."""
    files: dict[str, list[str]] = {}
    carried = history.open_items
    con.register("carried_src", carried)
    con.execute("CREATE OR REPLACE TEMP TABLE carried AS SELECT * FROM carried_src")
    for table in STAGED_TABLES:
        own = _staged_files(settings, table, business_date)
        mine = carried.filter(pl.col("item_table") == table)
        extra = sorted(
            {
                str(staging_path(settings, table, d.isoformat(), ch, fid))
                for fid, d, ch in mine.select("file_id", "item_business_date", "channel").unique().iter_rows()
            }
            - set(own)
        )
        missing = [f for f in extra if not Path(f).exists()]
        if missing:
            raise FileNotFoundError(f"staged file of a carried item is missing: {missing[0]}")
        files[table] = sorted(own + extra)
    # a staged file is named by its file id, in the folder of its channel (normalise.staging_path)
    staged = [Path(f) for fs in files.values() for f in fs]
    _define_names(
        con,
        set(known_files) | {p.stem for p in staged},
        {p.parent.name.removeprefix("channel=") for p in staged} | set(carried["channel"].to_list()),
    )
    for table in STAGED_TABLES:
        t = schema.table(table)
        if files[table]:
            con.execute(
                sqlfiles.render("load_tables", table=ident(table)),
                {
                    "files": files[table],
                    "table_index": STAGED_TABLES.index(table) + 1,
                    "business_date": dt.date.fromisoformat(business_date),
                    "table_name": table,
                },
            )
        else:
            con.execute(t.duckdb_ddl(f"empty_{table}").replace("CREATE TABLE", "CREATE OR REPLACE TEMP TABLE"))
            con.execute(
                f"CREATE OR REPLACE TABLE {ident(table)} AS "
                f"SELECT CAST(NULL AS BIGINT) AS item_id, * REPLACE (CAST(file_id AS recon_file_id) AS file_id, "
                f"CAST(channel AS recon_channel) AS channel) FROM {ident('empty_' + table)}"
            )
    # rates of earlier days, for FX rules whose named date falls before the run's date (not outcomes of this run)
    fx_history = _fx_history_files(settings, business_date)
    columns = "business_date, base_currency, quote_currency, rate"
    if fx_history:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE fx_history AS SELECT {columns} FROM read_parquet($files) "
            "WHERE business_date < $business_date",
            {"files": fx_history, "business_date": dt.date.fromisoformat(business_date)},
        )
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE fx_history AS SELECT {columns} FROM fx_rates LIMIT 0")
    # pairings a carried item already matched in stay matched (run_matching starts from these)
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
    exps = pl.DataFrame(
        {"currency": list(money.exponents()), "exponent": list(money.exponents().values())},
        schema={"currency": pl.String, "exponent": pl.Int64},
    )
    con.register("currency_exponents_src", exps)
    con.execute("CREATE OR REPLACE TABLE currency_exponents AS SELECT * FROM currency_exponents_src")
    con.execute(sqlfiles.load("macros"))
    return files


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
    table = con.sql(sql, params=params or {}).to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    # the run's enumerations (file ids, channels, tables) come back as text
    return frame.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))


def _quarantine_rows(
    settings: Settings, statuses: dict[str, FileStatus], business_date: str, channels: dict[str, Channel]
) -> pl.DataFrame:
    frames = []
    for st in statuses.values():
        if st.assigned_date != business_date or st.status != "staged" or not st.rows_quarantined:
            continue
        path = rows_quarantine_path(settings, st.channel, st.file_id)
        if path.exists():
            frames.append(pl.read_parquet(path))
    q = schema.table("quarantine")
    if not frames:
        return pl.DataFrame(schema=q.polars_schema())
    return q.conform(pl.concat(frames)).sort("file_id", "line_no", "field")


def _value_dates(business_date: dt.date, channels: dict[str, Channel]) -> pl.DataFrame:
    rows = []
    for ch in sorted(channels.values(), key=lambda c: c.id):
        if ch.kind != "psp":
            continue
        value_date = calendars.add_business_days(
            business_date, ch.settlement.cycle_business_days, ch.settlement.calendar
        )
        rows.append({"channel": ch.id, "value_date": value_date, "model": ch.settlement.model})
    return pl.DataFrame(rows, schema={"channel": pl.String, "value_date": pl.Date, "model": pl.String})


def _copy_out(
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


def _csv_from_parquet(parquet: Path) -> None:
    """The CSV twin of a written Parquet file, from a DuckDB of its own (one thread, little memory): it runs
    in a background thread while the run goes on in the main DuckDB."""
    con = duckdb.connect(config={"threads": 1, "memory_limit": "256MB"})
    try:
        con.execute(
            f"COPY (SELECT * FROM read_parquet({sqlfiles.literal(str(parquet))})) "
            f"TO {sqlfiles.literal(str(parquet.with_suffix('.csv')))} (FORMAT csv, HEADER)"
        )
    finally:
        con.close()


def _replaced_breaks(replaced: list[dict[str, Any]], day: dt.date, settings: Settings) -> pl.DataFrame:
    """Files delivered again under an ingested name with other bytes: a break each, until resolved."""
    rows = []
    for r in sorted(replaced, key=lambda r: (r["channel"], r["source_path"], r["file_id"])):
        where = r.get("quarantine_path") or ""
        if where.startswith(str(settings.home)):
            where = where[len(str(settings.home)) + 1 :]
        rows.append(
            {
                "business_date": day,
                "break_id": "B"
                + hashlib.sha256(f"{r['channel']}|{r['source_path']}|{r['file_id']}".encode()).hexdigest()[:16],
                "break_type": "file_replaced",
                "channel": r["channel"],
                "item_table": "files",
                "item_ref": r["file_name"],
                "file_id": r["file_id"],
                "amount_minor": 0,
                "currency": "XXX",
                "counter_table": "files",
                "counter_ref": r.get("previous_file_id"),
                "item_count": 0,
                "reason": f"{r['file_name']} was delivered again with other bytes (SHA-256 {r['file_id'][:12]}…, "
                f"ingested before as {str(r.get('previous_file_id'))[:12]}…); the new bytes are kept in "
                f"{where} and were not processed",
            }
        )
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def run_id_for(business_date: str, mode: str, rules_version: str, file_ids: list[str]) -> str:
    h = hashlib.sha256("|".join([business_date, mode, rules_version, *sorted(file_ids)]).encode())
    return h.hexdigest()[:16]


def reconcile(
    settings: Settings,
    business_date: str,
    ruleset: RuleSet,
    channels: dict[str, Channel],
    statuses: dict[str, FileStatus],
    file_names: dict[str, str],
    mode: str = "nightly",
    history: lifecycle.History | None = None,
    policy: lifecycle.BreakPolicy | None = None,
    replaced_files: list[dict[str, Any]] | None = None,
) -> RunResult:
    day = dt.date.fromisoformat(business_date)
    con = duckdb.connect(config=_duckdb_config(settings))
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-output")
    try:
        return _reconcile(
            con,
            background,
            settings,
            day,
            ruleset,
            channels,
            statuses,
            file_names,
            mode,
            history or lifecycle.History(),
            policy or lifecycle.load_policy(settings.rules),
            replaced_files or [],
        )
    finally:
        background.shutdown(wait=True)
        con.close()


def _reconcile(
    con: duckdb.DuckDBPyConnection,
    background: ThreadPoolExecutor,
    settings: Settings,
    day: dt.date,
    ruleset: RuleSet,
    channels: dict[str, Channel],
    statuses: dict[str, FileStatus],
    file_names: dict[str, str],
    mode: str,
    history: lifecycle.History,
    policy: lifecycle.BreakPolicy,
    replaced_files: list[dict[str, Any]],
) -> RunResult:
    business_date = day.isoformat()
    clock = StepClock()
    staged = _load(con, settings, business_date, history, set(statuses))
    clock.lap("load")
    per_rule = run_matching(con, ruleset)
    release_scratch(con)
    clock.lap("matching")
    quarantine = _quarantine_rows(settings, statuses, business_date, channels)
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
    # every staged item once (file ids and channels are the run's enumerations, see _define_names)
    item_union = " UNION ALL ".join(
        f"SELECT CAST(item_table AS recon_table) AS item_table, item_id, file_id, "
        f"line_no, channel, business_date, item_ref, amount_minor, currency "
        f"FROM {ident('items_' + t)}"
        for t in MATCHABLE_TABLES
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE all_items AS {item_union}")
    lifecycle.apply(con, day, channels, policy, history)

    # ---- manifest: every file that contributes rows (or a quarantine) to this date --------------------
    staged_counts = _frame(
        con,
        " UNION ALL ".join(
            f"SELECT '{t}' AS canonical_table, file_id, count(*) AS n FROM {ident(t)} "
            f"WHERE business_date = CAST($day AS DATE) GROUP BY file_id"
            for t in STAGED_TABLES
        ),
        {"day": day},
    )
    staged_by_file = {r["file_id"]: r["n"] for r in staged_counts.iter_rows(named=True)}
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
    manifest_rows = []
    for st in sorted(statuses.values(), key=lambda s: (s.channel, s.file_id)):
        in_date = st.file_id in staged_by_file or st.assigned_date == business_date or st.file_id in carried_by_file
        if not in_date:
            continue
        n_staged = int(staged_by_file.get(st.file_id, 0))
        if st.status == "quarantined":
            n_q = st.rows_quarantined
        else:
            n_q = int(q_by_file.get(st.file_id, 0))
        manifest_rows.append(
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
            }
        )
    file_ids = [str(r["file_id"]) for r in manifest_rows]
    run_id = run_id_for(business_date, mode, ruleset.version_hash, file_ids)
    manifest = schema.table("run_manifest").conform(
        pl.DataFrame(
            [
                {**r, "run_id": run_id, "business_date": day, "mode": mode, "rules_version": ruleset.version_hash}
                for r in manifest_rows
            ],
            schema_overrides={"business_date": pl.Date},
        )
        if manifest_rows
        else pl.DataFrame(schema=schema.table("run_manifest").polars_schema())
    )
    clock.lap("items_and_manifest")

    # ---- matches, breaks, outcomes ----------------------------------------------------------------------
    fx = lifecycle.fx_rates(con, day, policy.reporting_currency)
    breaks = lifecycle.enrich_breaks(
        pl.concat(
            [
                _frame(con, sqlfiles.load("out_breaks"), {"business_date": day}),
                _replaced_breaks(replaced_files, day, settings),
            ],
            how="diagonal_relaxed",
        ),
        day,
        policy,
        history,
        fx,
    )
    con.execute("CREATE OR REPLACE TEMP TABLE out_outcomes AS " + sqlfiles.load("out_outcomes"), {"business_date": day})
    clock.lap("breaks_and_outcomes")

    # ---- the large outputs go straight from DuckDB into the (not yet visible) run folder ------------------
    runs_dir = settings.outputs / ".runs" / business_date
    runs_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=runs_dir, prefix=f"{run_id}-"))
    matches = _copy_out(con, sqlfiles.load("out_matches"), "matches", folder, params={"business_date": day})
    matches_csv = background.submit(_csv_from_parquet, matches)
    clock.lap("matches_parquet")
    _copy_out(con, "out_outcomes", "outcomes", folder)
    clock.lap("outcomes_parquet")

    # ---- lifecycle: what stays open, what closed, what the order system should hear -------------------
    open_items = _frame(con, sqlfiles.load("lifecycle_open_items"))
    closed = schema.table("closed_breaks").conform(
        _frame(con, sqlfiles.load("lifecycle_closures"), {"business_date": day, "run_id": run_id})
    )
    staged_orders = sorted(
        str(p)
        for p in (settings.staging / "orders").glob("business_date=*/channel=*/*.parquet")
        if p.parent.parent.name <= f"business_date={business_date}"
    )
    if staged_orders:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE staged_orders AS SELECT order_id, psp_channel, status "
            "FROM read_parquet($files) WHERE order_id IN "
            "(SELECT merchant_reference FROM psp_settlement_lines WHERE record_type = 'refund')",
            {"files": staged_orders},
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE staged_orders AS SELECT order_id, psp_channel, status FROM orders")
    feedback = schema.table("order_feedback").conform(
        _frame(con, sqlfiles.load("order_feedback"), {"business_date": day})
    )
    clock.lap("lifecycle")

    # ---- clearing -----------------------------------------------------------------------------------------
    con.register("value_dates_src", _value_dates(day, channels))
    con.execute("CREATE OR REPLACE TEMP TABLE value_dates AS SELECT * FROM value_dates_src")
    sqlfiles.execute(con, sqlfiles.load("positions"), {"business_date": day})
    positions = (
        schema.table("positions")
        .conform(_frame(con, "SELECT * FROM positions_out"))
        .sort("counterparty", "currency", "value_date")
    )

    receipts = _frame(con, sqlfiles.load("receipts"), {"business_date": day})
    net = clearing.net_by_currency(positions, day, policy.reporting_currency, fx)
    funds = clearing.fund_verification(day, positions, receipts, history.positions, history.receipts, breaks)
    clock.lap("clearing")

    result = RunResult(
        business_date=business_date,
        run_id=run_id,
        mode=mode,
        rules_version=ruleset.version_hash,
        folder=folder,
        breaks=breaks,
        positions=positions,
        manifest=manifest,
        quarantine=quarantine,
        closed_breaks=closed,
        order_feedback=feedback,
        fund_verification=funds,
        net_by_currency=net,
        open_items=open_items,
        receipts=receipts,
        steps=clock.steps,
    )
    invariants = check_invariants(con, result, staged, settings)
    result.summary = _summary(con, result, per_rule, invariants, ruleset)
    clock.lap("invariants_and_summary")
    matches_csv.result()  # the invariants read the Parquet outputs only: they ran while the CSV was written
    clock.lap("matches_csv_wait")
    failed = [name for name, inv in invariants.items() if not inv["ok"]]
    if failed:
        failed_dir = folder.with_name(folder.name + ".failed")
        shutil.rmtree(failed_dir, ignore_errors=True)
        folder.rename(failed_dir)
        (failed_dir / "summary.json").write_text(json.dumps(result.summary, indent=2, sort_keys=True, default=str))
        raise InvariantError(
            f"{business_date}: invariant(s) failed: {', '.join(failed)}: "
            + "; ".join(str(invariants[n]["detail"]) for n in failed)
        )
    return result


# --------------------------------------------------------------------------------------------------
# invariants
# --------------------------------------------------------------------------------------------------
def check_invariants(
    con: duckdb.DuckDBPyConnection, result: RunResult, staged: dict[str, list[str]], settings: Settings
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    con.register("manifest_src", result.manifest.select("file_id", "file_status", "rows_in", "rows_carried"))
    con.execute("CREATE OR REPLACE TEMP TABLE manifest_rows AS SELECT * FROM manifest_src")

    # 1. every input row has exactly one outcome; counts add up per file
    problems = _frame(con, sqlfiles.load("invariant_one_outcome"))
    staged_manifest = result.manifest.filter(pl.col("file_status") == "staged")
    staged_rows = int(staged_manifest["rows_in"].sum()) + int(staged_manifest["rows_carried"].sum())
    n_outcomes = con.sql("SELECT count(*) FROM out_outcomes").fetchall()[0]
    out["one_outcome_per_row"] = {
        "ok": problems.height == 0,
        "rows_in": staged_rows,
        "outcomes": int(n_outcomes[0]) if n_outcomes else 0,
        "detail": problems.head(10).to_dicts(),
    }

    # 2. per file and currency, amounts of all outcomes add up to the amounts that came in
    bad = _frame(con, sqlfiles.load("invariant_amounts"))
    per_currency = _frame(
        con,
        "SELECT currency, outcome, CAST(sum(amount_minor) AS BIGINT) AS amount_minor FROM out_outcomes "
        "WHERE outcome <> 'reference' GROUP BY ALL ORDER BY ALL",
    )
    out["amounts_conserved"] = {
        "ok": bad.height == 0,
        "per_currency_and_outcome": {
            f"{r['currency']}:{r['outcome']}": int(r["amount_minor"] or 0) for r in per_currency.iter_rows(named=True)
        },
        "detail": bad.head(10).to_dicts(),
    }

    # 3. no item used twice in a pairing; every match balances within its recorded tolerance
    match_problems = _frame(con, sqlfiles.load("invariant_matches"))
    matches = int(match_problems.filter(pl.col("problem") == "matches")["n"].sum())
    reused = match_problems.filter(pl.col("problem") == "used_twice")
    unbalanced = match_problems.filter(pl.col("problem") == "unbalanced")
    out["no_item_used_twice"] = {
        "ok": reused.height == 0,
        "reused": reused.height,
        "detail": reused.head(10).to_dicts(),
    }
    out["matches_balance"] = {
        "ok": unbalanced.height == 0,
        "matches": matches,
        "detail": unbalanced.head(10).to_dicts(),
    }

    # 4. positions recomputed from the staged lines and the matched bank credits equal the published ones
    recomputed = recompute_positions(settings, result)
    published = result.positions.select("counterparty", "currency", "net_expected_minor", "received_minor").sort(
        "counterparty", "currency"
    )
    out["positions_recomputed"] = {
        "ok": recomputed.equals(published),
        "positions": published.height,
        "detail": [] if recomputed.equals(published) else [recomputed.to_dicts(), published.to_dicts()],
    }
    return out


def recompute_positions(settings: Settings, result: RunResult) -> pl.DataFrame:
    """Positions from the staged Parquet (Polars, independently of the SQL) and the published matches."""
    files = _staged_files(settings, "psp_settlement_lines", result.business_date)
    schema_cols = ["counterparty", "currency", "net_expected_minor", "received_minor"]
    if not files:
        return pl.DataFrame(
            schema={
                "counterparty": pl.String,
                "currency": pl.String,
                "net_expected_minor": pl.Int64,
                "received_minor": pl.Int64,
            }
        )
    columns = ["file_id", "line_no", "channel", "record_type", "currency", "net_minor", "fee_minor", "payout_id"]
    all_lines = pl.read_parquet(files, columns=columns)
    lines = all_lines.filter(pl.col("record_type") != "payout")
    expected = lines.group_by("channel", "currency").agg(
        pl.col("net_minor").sum().alias("net_all"),
        pl.col("fee_minor").sum().alias("fees_all"),
        (pl.col("net_minor") + pl.col("fee_minor")).filter(pl.col("record_type") == "fee").sum().alias("fee_lines"),
    )
    m = pl.scan_parquet(result.folder / "matches.parquet")
    bank = m.filter((pl.col("item_table") == "bank_statement_lines") & (pl.col("side") == "right")).collect()
    # only the batches of this date's own lines (a credit for an earlier date's batch counts there)
    psp_members = (
        m.filter(
            (pl.col("item_table") == "psp_settlement_lines")
            & (pl.col("side") == "left")
            & pl.col("match_id").is_in(bank["match_id"].implode())
        )
        .join(all_lines.lazy().select("file_id", "line_no"), on=["file_id", "line_no"], how="semi")
        .select("match_id", "channel")
        .unique()
        .collect()
    )
    matched_credits = bank.join(psp_members, on="match_id", suffix="_psp").select(
        pl.col("channel_psp").alias("channel"), "currency", "amount_minor"
    )
    b = result.breaks
    batch_breaks = b.filter(
        (pl.col("item_table") == "psp_settlement_lines")
        & pl.col("line_no").is_null()
        & (pl.col("counter_table") == "bank_statement_lines")
    ).join(
        all_lines.select("channel", pl.col("payout_id").alias("item_ref")).unique(),
        on=["channel", "item_ref"],
        how="semi",
    )
    claimed = (
        pl.scan_parquet(result.folder / "outcomes.parquet")
        .filter((pl.col("outcome") == "break") & (pl.col("item_table") == "bank_statement_lines"))
        .collect()
    )
    broken_credits = batch_breaks.join(
        claimed, left_on=["break_id", "counter_file_id", "counter_line_no"], right_on=["ref", "file_id", "line_no"]
    ).select(
        "channel", pl.col("counter_currency").alias("currency"), pl.col("counter_amount_minor").alias("amount_minor")
    )
    received = (
        pl.concat([matched_credits, broken_credits])
        .group_by("channel", "currency")
        .agg(pl.col("amount_minor").sum().alias("received_minor"))
    )
    gross_model = {
        r["counterparty"]
        for r in result.positions.iter_rows(named=True)
        if r["net_expected_minor"]
        != r["gross_captured_minor"]
        + r["refunds_minor"]
        + r["chargebacks_minor"]
        + r["fees_minor"]
        + r["adjustments_minor"]
    }
    out = expected.join(received, on=["channel", "currency"], how="left").with_columns(
        pl.when(pl.col("channel").is_in(list(gross_model)))
        .then(pl.col("net_all") + pl.col("fees_all") - pl.col("fee_lines"))
        .otherwise(pl.col("net_all"))
        .alias("net_expected_minor"),
        pl.col("received_minor").fill_null(0),
    )
    return (
        out.select(
            pl.col("channel").alias("counterparty"),
            "currency",
            pl.col("net_expected_minor").cast(pl.Int64),
            pl.col("received_minor").cast(pl.Int64),
        )
        .select(schema_cols)
        .sort("counterparty", "currency")
    )


def _summary(
    con: duckdb.DuckDBPyConnection,
    result: RunResult,
    per_rule: dict[str, int],
    invariants: dict[str, dict[str, Any]],
    ruleset: RuleSet,
) -> dict[str, Any]:
    counts = con.execute("SELECT item_table, outcome, count(*) FROM out_outcomes GROUP BY ALL ORDER BY ALL").fetchall()
    rows_in = {t: sum(int(n) for tbl, _, n in counts if tbl == t) for t in (*MATCHABLE_TABLES, "fx_rates")}
    by_outcome: dict[str, int] = {}
    for _, outcome, n in counts:
        by_outcome[str(outcome)] = by_outcome.get(str(outcome), 0) + int(n)
    by_outcome = dict(sorted(by_outcome.items()))
    breaks_by_type = {
        str(k): int(v) for k, v in result.breaks.group_by("break_type").len().sort("break_type").iter_rows()
    }
    return {
        "business_date": result.business_date,
        "run_id": result.run_id,
        "mode": result.mode,
        "rules_version": result.rules_version,
        "files": result.manifest.select(
            "channel", "file_name", "file_id", "file_status", "rows_in", "rows_staged", "rows_quarantined"
        ).to_dicts(),
        "rows_in": rows_in,
        "outcomes": by_outcome,
        "matches": {
            "total": invariants["matches_balance"]["matches"],
            "per_rule": dict(sorted(per_rule.items())),
        },
        "breaks": {
            "total": result.breaks.height,
            "by_type": breaks_by_type,
            "open": int((result.breaks["status"] == "open").sum()),
            "resolved": int((result.breaks["status"] == "resolved").sum()),
            "closed_since_previous_run": result.closed_breaks.height,
            "by_aging_bucket": {
                str(k): int(v) for k, v in result.breaks.group_by("aging_bucket").len().sort("aging_bucket").iter_rows()
            },
            "sla_breached": int((result.breaks["sla_status"] == "breached").sum()),
        },
        "carried_forward_in": int(result.manifest["rows_carried"].sum()),
        "open_items_out": result.open_items.height,
        "order_feedback": result.order_feedback.height,
        "net_by_currency": [
            {
                k: (v.isoformat() if isinstance(v, dt.date) else (str(v) if v is not None and k == "fx_rate" else v))
                for k, v in r.items()
            }
            for r in result.net_by_currency.to_dicts()
        ],
        "fund_verification": {
            str(k): int(v) for k, v in result.fund_verification.group_by("status").len().sort("status").iter_rows()
        },
        "quarantined_files": result.manifest.filter(pl.col("file_status") == "quarantined")["file_name"].to_list(),
        "positions": [
            {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()}
            for r in result.positions.to_dicts()
        ],
        "invariants": {k: {kk: vv for kk, vv in v.items()} for k, v in invariants.items()},
    }
