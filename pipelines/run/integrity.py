"""What a run checks before it reconciles, and how it completes a predecessor's interrupted publication.

A run's commit protocol (``stages.reconcile_and_publish``): the outputs are written into a fresh folder no
reader sees; ONE catalog transaction records the run, what it leaves behind and the folder's name; then
``outputs/<date>`` is switched to that folder. A crash before the commit leaves the old state (the folder is
removed by the date's next publication); a crash after it leaves the new state in the catalog with the old
outputs shown, which the next writer completes (``complete_interrupted``) before anything else.

Before reconciling, a run refuses (``IntegrityError``, with the command that repairs the workspace) when:

- the catalog records a published run whose folder is gone (``recon run --date D --mode rerun --cascade``);
- ``outputs/`` shows published dates the catalog does not know (a lost or replaced catalog:
  ``recon catalog rebuild``);
- staging does not hold, per file, the rows recorded when the file was staged (lost or damaged staging:
  ``recon restage``).

The resolutions of the journal the catalog lacks (a crash between the two writes) are added first
(``sync_journal``); a catalog of an older version gains the journals from its own tables.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

import pyarrow.parquet as pq

from pipelines.catalog import journal
from pipelines.catalog.store import Catalog, FileStatus
from pipelines.core.config import Settings
from pipelines.core.dates import partition_date
from pipelines.publish.outputs import published_folder, switch

log = logging.getLogger(__name__)


class IntegrityError(RuntimeError):
    """The workspace is not in a state a run can build on; the message names the command that repairs it."""


def published_dates(settings: Settings) -> list[dt.date]:
    """The dates ``outputs/`` shows a published run for."""
    out = []
    for p in settings.outputs.iterdir() if settings.outputs.exists() else []:
        day = partition_date(f"business_date={p.name}")
        if day is not None and p.is_symlink():
            out.append(day)
    return sorted(out)


def complete_interrupted(settings: Settings, catalog: Catalog, day: dt.date | None = None) -> list[dt.date]:
    """Switch ``outputs/<date>`` to the folder the catalog's latest run of the date committed, where a crash
    came between the commit and the switch; return the dates completed. Refuse when that folder is gone
    (lost or deleted: only a re-run brings it back), unless it is of ``day`` (the date about to be run) or
    later: the run of ``day`` (and the cascade after it) publishes them again."""
    done = []
    for when, run in catalog.published().items():
        recorded = run["output_folder"]
        if recorded is None:
            continue
        folder = settings.outputs / recorded
        shown = published_folder(settings, when) == recorded
        if shown and (folder / "summary.json").is_file():
            continue
        if not (folder / "summary.json").is_file():
            if day is not None and when >= day:
                continue
            raise IntegrityError(
                f"the catalog records run {run['run_id']} of {when} as published in outputs/{recorded}, which is "
                f"missing: re-run the date and those after it with "
                f"`recon run --date {when} --mode rerun --cascade`"
            )
        switch(settings, when, folder)
        log.warning("completed the publication of %s (run %s) an interrupted run had committed", when, run["run_id"])
        done.append(when)
    return done


def check_outputs_known(settings: Settings, catalog: Catalog) -> None:
    """Refuse when ``outputs/`` shows dates the catalog has no published run for (catalog lost or replaced)."""
    known = set(catalog.published())
    unknown = [d for d in published_dates(settings) if d not in known]
    if unknown:
        dates = unknown[0].isoformat() + (f" .. {unknown[-1].isoformat()}" if len(unknown) > 1 else "")
        state = "has no run at all" if not known else "does not record them"
        raise IntegrityError(
            f"outputs/ shows {len(unknown)} published date(s) ({dates}) but the catalog {catalog.location} {state} "
            f"(lost, emptied or replaced by an older copy): rebuild it from landing, outputs and the journals "
            f"with `recon catalog rebuild`"
        )


def staged_rows(settings: Settings) -> dict[str, int]:
    """Rows staged per file id, from the Parquet footers of ``staging/``."""
    rows: dict[str, int] = defaultdict(int)
    for path in settings.staging.glob("*/business_date=*/channel=*/*.parquet"):
        rows[path.stem] += pq.read_metadata(path).num_rows
    return dict(rows)


def staging_mismatches(settings: Settings, statuses: dict[str, FileStatus]) -> list[tuple[FileStatus, int]]:
    """Files whose staged rows differ from what was recorded when they were staged, with the rows found."""
    found = staged_rows(settings)
    ordered = sorted(statuses.values(), key=lambda s: (s.channel, s.file_id))
    return [(st, found.get(st.file_id, 0)) for st in ordered if found.get(st.file_id, 0) != st.rows_staged]


def staging_differences(settings: Settings, statuses: dict[str, FileStatus]) -> list[str]:
    """``staging_mismatches``, one line each."""
    return [
        f"{st.channel} file {st.file_id[:12]}: {have} staged row(s), {st.rows_staged} recorded"
        for st, have in staging_mismatches(settings, statuses)
    ]


def check_staging(settings: Settings, statuses: dict[str, FileStatus]) -> None:
    differences = staging_differences(settings, statuses)
    if differences:
        shown = "; ".join(differences[:5]) + (f"; and {len(differences) - 5} more" if len(differences) > 5 else "")
        raise IntegrityError(
            f"staging ({settings.staging}) does not hold what was staged: {shown}. Rebuild it from landing with "
            f"`recon restage`"
        )


def sync_journal(catalog: Catalog) -> int:
    """Bring journal and catalog level: the catalog gains the journal's resolutions it lacks; a catalog
    written before the journals existed seeds them from its own tables. Return the resolutions added."""
    home = catalog.home
    if not catalog.exists():
        return 0
    if not journal.exists(home, journal.RESOLUTIONS):
        journal.append(home, journal.RESOLUTIONS, [_jsonable(r) for r in catalog.resolutions()])
    if not journal.exists(home, journal.FILES):
        journal.append(home, journal.FILES, catalog.file_journal())
    if not journal.exists(home, journal.FILE_STATUS):
        journal.append(home, journal.FILE_STATUS, catalog.status_journal())
    added = catalog.insert_resolutions(journal.read(home, journal.RESOLUTIONS))
    if added:
        log.warning("added %d resolution(s) of the journal the catalog lacked", added)
    return added


def _jsonable(row: dict[str, object]) -> dict[str, object]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}


def before_reconciling(settings: Settings, catalog: Catalog, statuses: dict[str, FileStatus], day: dt.date) -> None:
    """Every check and repair a run of ``day`` makes before it reconciles (the workspace lock is held)."""
    sync_journal(catalog)
    complete_interrupted(settings, catalog, day)
    check_outputs_known(settings, catalog)
    check_staging(settings, statuses)
