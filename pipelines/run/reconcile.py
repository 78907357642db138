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
from pathlib import Path
from typing import Any

import duckdb

from pipelines.breaks import build as breaks
from pipelines.breaks import lifecycle
from pipelines.catalog.store import FileStatus
from pipelines.clearing import funds
from pipelines.clearing.positions import positions, rail_ids
from pipelines.core import sqlfiles
from pipelines.core.channels import Channel
from pipelines.core.config import Settings
from pipelines.match.engine import release_scratch, run_matching
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


def default_memory_limit() -> str:
    """DuckDB's memory limit when ``RECON_DUCKDB_MEMORY`` is not set: a quarter of the memory available at the
    start of the run (at least 512 MiB). The rest stays for the parsing workers' frames and the operating
    system's file cache; what does not fit spills to ``<home>/tmp/duckdb``."""
    import psutil

    available = psutil.virtual_memory().available
    return f"{max(MEMORY_FLOOR_BYTES, int(available * MEMORY_SHARE)) // 2**20}MiB"


def spill_folder(settings: Settings) -> Path:
    return settings.home / "tmp" / "duckdb"


def duckdb_config(settings: Settings) -> dict[str, str | bool | int | float | list[str]]:
    """Bounded memory for the run's DuckDB (``RECON_DUCKDB_MEMORY``, default ``default_memory_limit``); it
    spills to the workspace (``RECON_DUCKDB_THREADS`` overrides DuckDB's default of one thread per core)."""
    spill = spill_folder(settings)
    spill.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": os.environ.get("RECON_DUCKDB_MEMORY") or default_memory_limit(),
        "temp_directory": str(spill),
    }
    if threads := os.environ.get("RECON_DUCKDB_THREADS"):
        config["threads"] = int(threads)
    return config


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
    (nothing published) when an invariant does not hold."""
    intake = intake or plan(settings, day, statuses)
    history = history or lifecycle.History()
    policy = policy or lifecycle.load_policy(settings.rules)
    con = duckdb.connect(config=duckdb_config(settings))
    try:
        clock = StepClock()
        taken = {table: intake.paths(table) for table in STAGED_TABLES}
        load_day(con, settings, day, history, taken, set(statuses))
        clock.lap("load")

        per_rule = run_matching(con, ruleset)
        release_scratch(con)
        clock.lap("matching")

        quarantine = manifests.quarantine_rows(settings, statuses, intake)
        manifests.register_items(con, quarantine, statuses)
        lifecycle.apply(con, day, channels, policy, history, ruleset.kept_break_types(), ruleset.found_break_types())
        manifests.register_intake(con, intake)
        run_id, manifest = manifests.build_manifest(
            intake, day, mode, ruleset.version_hash, statuses, file_names, history, quarantine
        )
        clock.lap("items_and_manifest")

        missing = completeness.missing_deliveries(channels, intake.known, statuses, day, intake.first_day, mode)
        fx = lifecycle.fx_rates(con, day, policy.reporting_currency)
        day_breaks = breaks.day_breaks(
            con,
            day,
            policy,
            history,
            fx,
            replaced_files or [],
            settings,
            completeness.missing_file_breaks(missing, day),
            file_names,
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE out_outcomes AS " + sqlfiles.load("out_outcomes"), {"business_date": day}
        )
        clock.lap("breaks_and_outcomes")

        # the large outputs go straight from DuckDB into the (not yet visible) run folder, as Parquet only
        folder = new_run_folder(settings, day, run_id)
        copy_out(con, sqlfiles.load("out_matches"), "matches", folder, {"business_date": day})
        clock.lap("matches_parquet")
        copy_out(con, "out_outcomes", "outcomes", folder)
        clock.lap("outcomes_parquet")

        open_items = breaks.open_items(con)
        shown = breaks.shown_before(settings, history.previous_date)
        closed = breaks.closed_breaks(
            con, day, run_id, day_breaks, shown, history.resolutions, policy.reporting_currency, fx
        )
        breaks.staged_withdrawals(con, settings, day)  # the withdrawals this run's returns name
        feedback = breaks.order_feedback(con, settings, day)
        clock.lap("lifecycle")

        day_positions, receipts = positions(con, day, channels)
        net = funds.net_by_currency(day_positions, day, policy.reporting_currency, fx)
        verified = funds.fund_verification(
            day, day_positions, receipts, history.positions, history.receipts, day_breaks, rail_ids(channels)
        )
        clock.lap("clearing")

        day_metrics = metrics.compute(con, day, day_breaks, closed, history)
        clock.lap("metrics")

        result = RunResult(
            business_date=day,
            run_id=run_id,
            mode=mode,
            rules_version=ruleset.version_hash,
            folder=folder,
            breaks=day_breaks,
            positions=day_positions,
            manifest=manifest,
            quarantine=quarantine,
            closed_breaks=closed,
            order_feedback=feedback,
            fund_verification=verified,
            net_by_currency=net,
            open_items=open_items,
            receipts=receipts,
            intake=intake.taken,
            completeness=completeness.state(missing, int(intake.taken["rows"].sum())),
            metrics=day_metrics,
            metric_trend=metrics.trend(day_metrics, history.metrics),
            steps=clock.steps,
        )
        invariants = check_invariants(con, result, intake.uncovered, channels)
        result.summary = build_summary(con, result, per_rule, invariants, policy.reporting_currency)
        clock.lap("invariants_and_summary")
        refuse_if_broken(result, invariants)
        return result
    finally:
        con.close()
