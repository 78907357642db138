"""Rebuild what a workspace lost: staging from landing (``recon restage``), the catalog from landing, the
published outputs and the journals (``recon catalog rebuild``).

Landing is immutable and content-addressed, so staging is a function of it and of the channel settings:
``restage`` normalises every registered file again (each with the date it was reported by) and says which
files came out different from what was recorded (the channel settings changed since), recording the new
statuses.

The catalog holds four kinds of state, each rebuilt from where it also lives: the file registry and the
files' statuses from the journals (``journal.FILES``, ``journal.FILE_STATUS``), each published date's run
and what it left behind from ``outputs/<date>/.catalog/`` (the rows the run committed), the resolutions from
their journal. The old catalog is kept beside the new one (``catalog.duckdb.replaced-<UTC time>``). What
is not rebuilt: the run history before each date's latest run, and the ingest events (pending, refused,
replaced files), which the next pulls observe again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from typing import Any

import polars as pl

from pipelines.catalog import journal
from pipelines.catalog.store import LIFECYCLE_TABLES, Catalog, FileRecord, FileStatus, RunRow, open_catalog
from pipelines.core import config
from pipelines.core.channels import load_channels
from pipelines.publish.outputs import CATALOG_ROWS, RUN_FILE, output_dir
from pipelines.run.integrity import published_dates, staging_differences, staging_mismatches

log = logging.getLogger(__name__)


def restage(home: str | None = None, rules: str | None = None, every_file: bool = False) -> dict[str, Any]:
    """Normalise again, from landing, every registered file whose staged rows differ from what was recorded
    (``every_file``: all of them); record their statuses. Returns what was restaged and what changed."""
    from pipelines.run.stages import _locked
    from pipelines.validate.normalise import normalise_files

    settings = config.settings(home, rules)
    settings.ensure()
    catalog = open_catalog(settings)
    channels = load_channels(settings.rules)
    with _locked(home, rules, "restage"):
        recorded = catalog.file_statuses()
        damaged = {st.file_id for st, _ in staging_mismatches(settings, recorded)}
        chosen = [s for s in recorded.values() if every_file or s.file_id in damaged]
        by_batch: dict[tuple[str, dt.date], list[FileRecord]] = defaultdict(list)
        records = {r.file_id: r for ch in channels for r in catalog.files_of_channel(ch)}
        missing = [s.file_id for s in chosen if s.file_id not in records or s.channel not in channels]
        if missing:
            raise RuntimeError(
                f"{len(missing)} file(s) with a recorded status are not registered or their channel is gone "
                f"(first: {missing[0]}): rebuild the catalog first (`recon catalog rebuild`)"
            )
        for st in chosen:
            by_batch[(st.channel, st.assigned_date)].append(records[st.file_id])
        new: list[FileStatus] = []
        for (channel_id, day), recs in sorted(by_batch.items()):
            new += normalise_files(recs, channels[channel_id], settings, day)
        changed = [_change(recorded[s.file_id], s) for s in new if _change(recorded[s.file_id], s)]
        if new:
            catalog.record_file_statuses(new, dt.datetime.now(dt.UTC))
    remaining = staging_differences(settings, catalog.file_statuses())
    return {"restaged": len(new), "changed": changed, "remaining": remaining}


def _change(before: FileStatus, after: FileStatus) -> str:
    keys = ("status", "rows_in", "rows_staged", "rows_quarantined", "business_dates")
    diff = [f"{k} {getattr(before, k)} -> {getattr(after, k)}" for k in keys if getattr(before, k) != getattr(after, k)]
    return f"{after.channel} file {after.file_id[:12]}: " + ", ".join(diff) if diff else ""


def rebuild_catalog(home: str | None = None, rules: str | None = None) -> dict[str, Any]:
    """A new catalog from the journals and the published outputs (the old one, if any, kept aside)."""
    from pipelines.run.stages import _locked

    settings = config.settings(home, rules)
    settings.ensure()
    with _locked(home, rules, "catalog rebuild"):
        catalog = open_catalog(settings)
        kept = catalog.move_aside(dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"))
        catalog.ensure_schema()
        files = _replay_files(catalog)
        statuses = _replay_statuses(catalog)
        runs, skipped = _replay_runs(settings, catalog)
        resolutions = catalog.insert_resolutions(journal.read(settings.home, journal.RESOLUTIONS))
    return {
        "catalog": catalog.location,
        "previous_catalog": kept,
        "files": files,
        "file_statuses": statuses,
        "runs": runs,
        "dates_not_rebuilt": skipped,
        "resolutions": resolutions,
    }


def _replay_files(catalog: Catalog) -> int:
    """Register the journal's deliveries again, in the order and with the times they were registered."""
    fields = set(FileRecord.__dataclass_fields__)
    batches: dict[str, list[FileRecord]] = {}  # by registration time, in journal order
    for e in journal.read(catalog.home, journal.FILES):
        record = FileRecord(**{k: v for k, v in e.items() if k in fields})
        batches.setdefault(e.get("observed_at") or e["arrived_at"], []).append(record)
    for observed, records in batches.items():
        when = dt.datetime.fromisoformat(observed.replace("Z", "+00:00"))
        catalog.register_deliveries(records, when, journal_it=False)
    return sum(len(r) for r in batches.values())


def _replay_statuses(catalog: Catalog) -> int:
    latest: dict[str, tuple[FileStatus, str]] = {}
    for e in journal.read(catalog.home, journal.FILE_STATUS):
        processed = e.pop("processed_at")
        latest[e["file_id"]] = (FileStatus.from_dict(e), processed)
    by_time: dict[str, list[FileStatus]] = defaultdict(list)
    for status, processed in latest.values():
        by_time[processed].append(status)
    for processed, statuses in by_time.items():
        catalog.record_file_statuses(statuses, dt.datetime.fromisoformat(processed), journal_it=False)
    return len(latest)


def _replay_runs(settings: config.Settings, catalog: Catalog) -> tuple[int, list[str]]:
    done, skipped = 0, []
    for day in published_dates(settings):
        folder = output_dir(settings, day).resolve()
        rows = folder / CATALOG_ROWS
        if not (rows / RUN_FILE).is_file():
            skipped.append(f"{day}: published by a version that kept no catalog rows: re-run it")
            continue
        run = json.loads((rows / RUN_FILE).read_text())
        summary = json.loads((folder / "summary.json").read_text())
        frames = {
            t: pl.read_parquet(rows / f"{t}.parquet") for t in LIFECYCLE_TABLES if (rows / f"{t}.parquet").is_file()
        }
        when = dt.datetime.fromtimestamp((folder / "summary.json").stat().st_mtime, dt.UTC)
        catalog.commit_run(
            RunRow(
                run["run_id"],
                day,
                run["mode"],
                run["rules_version"],
                when,
                when,
                summary,
                folder.relative_to(settings.outputs.resolve()).as_posix(),
            ),
            frames,
        )
        done += 1
    return done, skipped
