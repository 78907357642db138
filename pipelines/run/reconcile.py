"""Reconcile one business date, as a list of steps: load, match, manifest, breaks and outcomes, the large
outputs, lifecycle, clearing, metrics, invariants and summary.

Each step is a function of its stage's module; they share one DuckDB connection (bounded memory, spilling to
the workspace). The result is a set of frames and the large outputs already written into a run folder not
yet visible to readers; ``publish`` makes it visible. The wall clock is read only to time the steps
(``StepClock``, never written into an output): the same staged inputs and rules give the same result.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines.breaks import build as breaks
from pipelines.breaks import lifecycle
from pipelines.catalog.store import FileStatus
from pipelines.clearing import funds
from pipelines.clearing.positions import positions, rail_ids
from pipelines.core import sqlfiles
from pipelines.core.channels import Channel
from pipelines.core.config import Settings
from pipelines.match.engine import Partition, PartitionResult, release_scratch, run_matching
from pipelines.match.load import STAGED_TABLES, load_day
from pipelines.match.rules import RuleSet
from pipelines.publish.outputs import copy_out, new_run_folder
from pipelines.run import completeness, metrics
from pipelines.run import manifest as manifests
from pipelines.run.intake import Intake, plan
from pipelines.run.invariants import check_invariants, refuse_if_broken
from pipelines.run.result import RunResult, StepClock
from pipelines.run.summary import build_summary

MEMORY_SHARE = 0.25  # of the memory available when the run starts
MEMORY_FLOOR_BYTES = 512 * 2**20
CGROUP_ROOT = Path("/sys/fs/cgroup")


def default_memory_limit(cgroup: Path = CGROUP_ROOT) -> str:
    """DuckDB's memory limit when ``RECON_DUCKDB_MEMORY`` is not set: a quarter of the memory available at the
    start of the run (at least 512 MiB): the machine's, or what the process's container (cgroup) has left when
    it is less (a pod's or a compose service's memory limit). The rest stays for the parsing workers' frames
    and the operating system's file cache; what does not fit spills to ``<home>/tmp/duckdb``."""
    import psutil

    available = psutil.virtual_memory().available
    if (left := cgroup_memory_left(cgroup)) is not None:
        available = min(available, left)
    return f"{max(MEMORY_FLOOR_BYTES, int(available * MEMORY_SHARE)) // 2**20}MiB"


def cgroup_memory_left(root: Path = CGROUP_ROOT) -> int | None:
    """Bytes the container may still use: its memory limit minus its usage, from cgroup v2
    (``memory.max``, ``memory.current``) or v1 (``memory/memory.limit_in_bytes``, ``memory.usage_in_bytes``);
    None without a limit (v2 ``max``, v1's page-rounded 2**63) or when neither is readable."""
    for limit_file, usage_file in (
        (root / "memory.max", root / "memory.current"),
        (root / "memory" / "memory.limit_in_bytes", root / "memory" / "memory.usage_in_bytes"),
    ):
        try:
            limit_text, usage_text = limit_file.read_text().strip(), usage_file.read_text().strip()
        except OSError:
            continue
        if limit_text == "max" or not limit_text.isdigit() or not usage_text.isdigit():
            return None
        limit = int(limit_text)
        if limit >= 2**62:  # cgroup v1 without a limit
            return None
        return max(0, limit - int(usage_text))
    return None


def spill_folder(settings: Settings) -> Path:
    return settings.home / "tmp" / "duckdb"


def duckdb_config(settings: Settings) -> dict[str, str | bool | int | float | list[str]]:
    """Bounded memory for the run's DuckDB (``RECON_DUCKDB_MEMORY``, default ``default_memory_limit``); it
    spills to the workspace, at most ``RECON_DUCKDB_MAX_TEMP`` (default DuckDB's: 90 % of the disk space
    available) (``RECON_DUCKDB_THREADS`` overrides DuckDB's default of one thread per core)."""
    spill = spill_folder(settings)
    spill.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": os.environ.get("RECON_DUCKDB_MEMORY") or default_memory_limit(),
        "temp_directory": str(spill),
    }
    if threads := os.environ.get("RECON_DUCKDB_THREADS"):
        config["threads"] = int(threads)
    if max_temp := os.environ.get("RECON_DUCKDB_MAX_TEMP"):
        config["max_temp_directory_size"] = max_temp
    return config


@dataclass
class Inputs:
    """What the run of a date reads before it reconciles: rules, channels, the catalog's file statuses, names
    and history, the break policy, replaced files and the intake (``intake.plan``)."""

    settings: Settings
    day: dt.date
    ruleset: RuleSet
    channels: dict[str, Channel]
    statuses: dict[str, FileStatus]
    file_names: dict[str, str]
    mode: str
    history: lifecycle.History
    policy: lifecycle.BreakPolicy
    replaced_files: list[dict[str, Any]]
    intake: Intake
    # the first pairing as its partitions decided it, when each was matched as a task of its own
    # (``checkpoint.partition_results``); None: the match phase matches every pairing itself
    joined: list[PartitionResult] | None = None


@dataclass
class Carry:
    """What a phase hands to the next besides the DuckDB state (``pipelines.run.checkpoint`` keeps both
    between the DAG's tasks): small Python values and frames, never an input read again."""

    per_rule: dict[str, int] = field(default_factory=dict)
    run_id: str = ""
    manifest: pl.DataFrame | None = None
    quarantine: pl.DataFrame | None = None
    missing: Any = None
    fx: dict[str, Decimal] = field(default_factory=dict)
    day_breaks: pl.DataFrame | None = None
    folder: Path | None = None
    open_items: pl.DataFrame | None = None
    closed: pl.DataFrame | None = None
    feedback: pl.DataFrame | None = None
    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    result: RunResult | None = None
    started: dt.datetime | None = None  # when the run's first phase started (the catalog records it)


def match_phase(con: duckdb.DuckDBPyConnection, inp: Inputs, carry: Carry, clock: StepClock) -> None:
    """Load the staged units and the carried items, run the rules."""
    taken = {table: inp.intake.paths(table) for table in STAGED_TABLES}
    load_day(con, inp.settings, inp.day, inp.history, taken, set(inp.statuses))
    clock.lap("load")

    carry.per_rule = run_matching(con, inp.ruleset, joined=inp.joined)
    release_scratch(con)
    clock.lap("matching")


def partition_phase(con: duckdb.DuckDBPyConnection, inp: Inputs, part: Partition) -> dict[str, int]:
    """Load the day as ``match_phase`` does and match one partition of the first pairing; its result is the
    partition's rows of ``engine.PARTITION_TABLES`` left in ``con``. Returns its matches per rule."""
    taken = {table: inp.intake.paths(table) for table in STAGED_TABLES}
    load_day(con, inp.settings, inp.day, inp.history, taken, set(inp.statuses))
    return run_matching(con, inp.ruleset, part=part)


def lifecycle_phase(con: duckdb.DuckDBPyConnection, inp: Inputs, carry: Carry, clock: StepClock) -> None:
    """Items and manifest, the break lifecycle (carried, stable ids, ageing, closed), the day's breaks and
    outcomes, the large outputs into a fresh run folder, open items and order feedback."""
    day, history, policy, intake = inp.day, inp.history, inp.policy, inp.intake
    quarantine = manifests.quarantine_rows(inp.settings, inp.statuses, intake)
    manifests.register_items(con, quarantine, inp.statuses)
    lifecycle.apply(
        con, day, inp.channels, policy, history, inp.ruleset.kept_break_types(), inp.ruleset.found_break_types()
    )
    manifests.register_intake(con, intake)
    run_id, manifest = manifests.build_manifest(
        intake, day, inp.mode, inp.ruleset.version_hash, inp.statuses, inp.file_names, history, quarantine
    )
    clock.lap("items_and_manifest")

    missing = completeness.missing_deliveries(inp.channels, intake.known, inp.statuses, day, intake.first_day, inp.mode)
    fx = lifecycle.fx_rates(con, day, policy.reporting_currency)
    day_breaks = breaks.day_breaks(
        con,
        day,
        policy,
        history,
        fx,
        inp.replaced_files,
        inp.settings,
        completeness.missing_file_breaks(missing, day),
        inp.file_names,
    )
    con.execute("CREATE OR REPLACE TABLE out_outcomes AS " + sqlfiles.load("out_outcomes"), {"business_date": day})
    clock.lap("breaks_and_outcomes")

    # the large outputs go straight from DuckDB into the (not yet visible) run folder, as Parquet only
    folder = new_run_folder(inp.settings, day, run_id)
    copy_out(con, sqlfiles.load("out_matches"), "matches", folder, {"business_date": day})
    clock.lap("matches_parquet")
    copy_out(con, "out_outcomes", "outcomes", folder)
    clock.lap("outcomes_parquet")

    carry.open_items = breaks.open_items(con)
    shown = breaks.shown_before(inp.settings, history.previous_date)
    carry.closed = breaks.closed_breaks(
        con, day, run_id, day_breaks, shown, history.resolutions, policy.reporting_currency, fx
    )
    breaks.staged_withdrawals(con, inp.settings, day)  # the withdrawals this run's returns name
    carry.feedback = breaks.order_feedback(con, inp.settings, day)
    clock.lap("lifecycle")
    carry.run_id, carry.manifest, carry.quarantine, carry.missing = run_id, manifest, quarantine, missing
    carry.fx, carry.day_breaks, carry.folder = fx, day_breaks, folder


def clearing_phase(con: duckdb.DuckDBPyConnection, inp: Inputs, carry: Carry, clock: StepClock) -> None:
    """Positions and fund verification, metrics, the invariants and the summary: the run's result, or
    ``InvariantError`` (nothing published) when an invariant does not hold."""
    day, policy, history = inp.day, inp.policy, inp.history
    assert carry.day_breaks is not None and carry.folder is not None and carry.manifest is not None
    assert carry.quarantine is not None and carry.closed is not None and carry.feedback is not None
    assert carry.open_items is not None
    day_positions, receipts = positions(con, day, inp.channels)
    net = funds.net_by_currency(day_positions, day, policy.reporting_currency, carry.fx)
    verified = funds.fund_verification(
        day, day_positions, receipts, history.positions, history.receipts, carry.day_breaks, rail_ids(inp.channels)
    )
    clock.lap("clearing")

    day_metrics = metrics.compute(con, day, carry.day_breaks, carry.closed, history)
    clock.lap("metrics")

    result = RunResult(
        business_date=day,
        run_id=carry.run_id,
        mode=inp.mode,
        rules_version=inp.ruleset.version_hash,
        folder=carry.folder,
        breaks=carry.day_breaks,
        positions=day_positions,
        manifest=carry.manifest,
        quarantine=carry.quarantine,
        closed_breaks=carry.closed,
        order_feedback=carry.feedback,
        fund_verification=verified,
        net_by_currency=net,
        open_items=carry.open_items,
        receipts=receipts,
        intake=inp.intake.taken,
        completeness=completeness.state(carry.missing, int(inp.intake.taken["rows"].sum())),
        metrics=day_metrics,
        metric_trend=metrics.trend(day_metrics, history.metrics),
    )
    invariants = check_invariants(con, result, inp.intake.uncovered, inp.channels)
    result.summary = build_summary(con, result, carry.per_rule, invariants, policy.reporting_currency)
    clock.lap("invariants_and_summary")
    result.steps = {**carry.steps, **clock.steps}
    refuse_if_broken(result, invariants)
    carry.result = result


Phase = Callable[[duckdb.DuckDBPyConnection, Inputs, Carry, StepClock], None]
# the phases of a run, in order; the nightly DAG runs each as its own task (``stages.reconcile_step``)
PHASES: dict[str, Phase] = {"match": match_phase, "lifecycle": lifecycle_phase, "clearing": clearing_phase}


RUN_DATABASE = "run"  # the database holding the run's tables (``open_run``); its temporary tables are in ``temp``


def run_database_file(settings: Settings) -> Path:
    """A new file for the run's database in ``<home>/tmp`` (never published, never pushed to an S3 home), named
    after this host and process (``run-<host>-<pid>-<random>.duckdb``): runs in other processes or threads never
    share it."""
    return settings.home / "tmp" / f"run-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.duckdb"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


RUN_DATABASE_SETTING = "RECON_RUN_DATABASE"  # memory, file or auto (the default: ``run_database_in_memory``)
# what the run's tables take per row of the run (staged rows taken plus items carried in), held in memory: measured
# on the benchmark's day at 1 M orders a side (1.9 M rows: 2.0 GB more resident memory than with the file)
RUN_BYTES_PER_ROW = 1024
RUN_MEMORY_SHARE = 0.5  # of DuckDB's memory limit the run's tables may take to be held in memory


def memory_bytes(text: str) -> int:
    """Bytes of a memory size as DuckDB reads it: ``5729MiB``, ``8GB`` (10**9), ``1.5 GiB``, ``512KB``, ``100``."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B|[KMGT])?\s*", text, re.IGNORECASE)
    if found is None:
        raise ValueError(f"not a memory size: {text!r} (e.g. 8GB, 5729MiB)")
    number, unit = Decimal(found.group(1)), (found.group(2) or "B").upper()
    power = "BKMGT".index(unit[0])
    base = 1024 if unit.endswith("IB") else 1000
    return int(number * base**power)


def run_database_in_memory(rows: int | None, memory_limit: str | None = None) -> bool:
    """Whether the run's tables are held in memory rather than in a database file (``open_run``).
    ``RECON_RUN_DATABASE``: ``memory`` or ``file`` decide; ``auto`` (the default) holds them in memory when the run's
    ``rows`` (staged rows it takes plus the items it carries in) at ``RUN_BYTES_PER_ROW`` take at most half of
    DuckDB's memory limit (``duckdb_config``), so a small run does not pay for writing its tables compressed into
    a file and reading them back; unknown ``rows``: the file."""
    choice = os.environ.get(RUN_DATABASE_SETTING, "auto").strip().lower()
    if choice not in ("memory", "file", "auto"):
        raise ValueError(f"{RUN_DATABASE_SETTING}={choice!r}: expected memory, file or auto")
    if choice != "auto":
        return choice == "memory"
    if rows is None:
        return False
    limit = memory_bytes(memory_limit or os.environ.get("RECON_DUCKDB_MEMORY") or default_memory_limit())
    return rows * RUN_BYTES_PER_ROW <= limit * RUN_MEMORY_SHARE


def run_rows(inp: Inputs) -> int:
    """The rows the run of ``inp`` holds: the staged rows it takes and the items it carries in."""
    return int(inp.intake.taken["rows"].sum() or 0) + inp.history.open_items.height


@contextmanager
def open_run(settings: Settings, rows: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The run's DuckDB, bounded in memory and spilling to the workspace (``duckdb_config``), its tables in the
    database ``run``: held in memory for a run of ``rows`` that fits (``run_database_in_memory``), else in a
    database file of the workspace's ``tmp`` folder (``run_database_file``), removed when the run ends however it
    ends (and, at the next run, when its process was killed). Held in a file, a table is stored compressed
    (DuckDB compresses a large insert as it writes it): what does not fit in memory is read back from the file
    instead of being spilled uncompressed to ``<home>/tmp/duckdb``; temporary tables stay in memory and spill."""
    config = duckdb_config(settings)
    path = None if run_database_in_memory(rows, str(config["memory_limit"])) else run_database_file(settings)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(path.parent)
    con = duckdb.connect(config=config)
    try:
        con.execute(f"ATTACH {sqlfiles.literal(':memory:' if path is None else str(path))} AS {RUN_DATABASE}")
        con.execute(f"USE {RUN_DATABASE}")
        yield con
    finally:
        con.close()
        if path is not None:
            _remove_database_file(path)


def _remove_orphans(folder: Path) -> None:
    """Remove the run database files this host's killed processes left (a process still running keeps its own;
    another host's are left to that host)."""
    import psutil

    for path in folder.glob(f"run-{_host()}-*.duckdb"):
        pid = path.name.removeprefix(f"run-{_host()}-").split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
            _remove_database_file(path)


def _remove_database_file(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)


def run_phases(
    con: duckdb.DuckDBPyConnection, inp: Inputs, carry: Carry, names: list[str] | tuple[str, ...] = tuple(PHASES)
) -> Carry:
    """Run the phases ``names`` (in ``PHASES`` order) on ``con``, each adding its steps' seconds to
    ``carry.steps``."""
    for name in names:
        clock = StepClock()
        PHASES[name](con, inp, carry, clock)
        carry.steps.update(clock.steps)
    return carry


def reconcile(
    settings: Settings,
    day: dt.date,
    ruleset: RuleSet,
    channels: dict[str, Channel],
    statuses: dict[str, FileStatus],
    file_names: dict[str, str],
    mode: str = "nightly",
    history: lifecycle.History | None = None,
    policy: lifecycle.BreakPolicy | None = None,
    replaced_files: list[dict[str, Any]] | None = None,
    intake: Intake | None = None,
) -> RunResult:
    """Reconcile ``day``: the units of ``intake`` (default: every staged unit dated on or before ``day``, as
    for a workspace with no run yet) and the items carried from ``history``; raise ``InvariantError``
    (nothing published) when an invariant does not hold. Every phase in one process and one DuckDB."""
    inp = Inputs(
        settings=settings,
        day=day,
        ruleset=ruleset,
        channels=channels,
        statuses=statuses,
        file_names=file_names,
        mode=mode,
        history=history or lifecycle.History(),
        policy=policy or lifecycle.load_policy(settings.rules),
        replaced_files=replaced_files or [],
        intake=intake or plan(settings, day, statuses),
    )
    with open_run(settings, run_rows(inp)) as con:
        carry = run_phases(con, inp, Carry())
    assert carry.result is not None
    return carry.result
