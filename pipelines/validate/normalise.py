"""Normalise: parse a landed file, validate it, and write it to staging as canonical Parquet.

Staging layout (``staging``): ``staging/<table>/business_date=<D>/channel=<C>/<file_id>.parquet``. Rows that cannot be
parsed go to ``quarantine/rows/<channel>/<file_id>.parquet`` with file, line, field and reason; a file
that cannot be read at all, or breaks its data contract, goes whole to ``quarantine/files/<channel>/<file_id>/``
with the reason (and the validation result) beside it. The same file always produces the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.catalog.store import FileRecord, FileStatus
from pipelines.core import schema
from pipelines.core.channels import Channel
from pipelines.core.config import Settings
from pipelines.formats import controls, registry
from pipelines.formats.base import FileRejected, ParseContext, ParseResult
from pipelines.ingest.landing import EMPTY_FILE
from pipelines.run import s3home
from pipelines.validate import contracts as validate
from pipelines.validate import pieces, plausibility
from pipelines.validate.staging import (
    PYARROW_PARQUET_OPTS,
    file_quarantine_dir,
    rows_quarantine_path,
    staging_path,
    write_parquet_atomic,
    write_text_atomic,
)

log = logging.getLogger(__name__)


def _quarantine_file(settings: Settings, rec: FileRecord, reason: str, details: dict[str, Any] | None = None) -> None:
    folder = file_quarantine_dir(settings, rec.channel, rec.file_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / rec.file_name
    if not target.exists():
        shutil.copyfile(s3home.fetch(settings, rec.landing_path), target)
    payload = {"file_id": rec.file_id, "file_name": rec.file_name, "channel": rec.channel, "reason": reason}
    write_text_atomic(json.dumps(payload, indent=2, sort_keys=True) + "\n", folder / "reason.json")
    if details is not None:
        write_text_atomic(json.dumps(details, indent=2, sort_keys=True, default=str) + "\n", folder / "validation.json")


def _remove_previous(settings: Settings, table: str, channel: str, file_id: str) -> None:
    """A re-normalisation replaces the file's earlier staging output."""
    for old in (settings.staging / table).glob(f"business_date=*/channel={channel}/{file_id}.parquet"):
        old.unlink()
    rows_quarantine_path(settings, channel, file_id).unlink(missing_ok=True)


def _status(
    rec: FileRecord,
    channel: Channel,
    fallback_date: dt.date,
    state: str,
    reason: str | None,
    rows_in: int = 0,
    staged: int = 0,
    quarantined: int = 0,
    dates: list[dt.date] | None = None,
    checks: str | None = None,
) -> FileStatus:
    return FileStatus(
        file_id=rec.file_id,
        channel=channel.id,
        format=channel.format,
        canonical_table=registry.table_of(channel.format),
        status=state,
        reason=reason,
        rows_in=rows_in,
        rows_staged=staged,
        rows_quarantined=quarantined,
        business_dates=dates or [],
        assigned_date=min(dates) if dates else fallback_date,
        controls=checks,
    )


def parse_file(
    rec: FileRecord, channel: Channel, settings: Settings, fallback_date: dt.date
) -> ParseResult | FileStatus:
    """First half of ``normalise_file``: parse a landed file (its earlier staging output removed). A file
    that cannot be read is quarantined here and its status returned."""
    table = registry.table_of(channel.format)
    parser = registry.get(channel.format)
    ctx = ParseContext(channel=channel, file_id=rec.file_id, file_name=rec.file_name)
    _remove_previous(settings, table, channel.id, rec.file_id)
    if rec.size_bytes == 0:  # a zero-byte delivery: a visible refusal, not a file of no rows
        reason = f"{rec.file_name}: {EMPTY_FILE}"
        log.warning("file quarantined: %s", reason)
        _quarantine_file(settings, rec, reason)
        return _status(rec, channel, fallback_date, "quarantined", reason)
    try:
        return parser(s3home.fetch(settings, rec.landing_path), ctx)
    except Exception as exc:  # a parser must never take the run down with it: the file is quarantined
        return _unreadable(rec, channel, settings, fallback_date, exc)


def _unreadable(
    rec: FileRecord, channel: Channel, settings: Settings, fallback_date: dt.date, exc: Exception
) -> FileStatus:
    """The file quarantined whole because it could not be read (``FileRejected``: the reason the parser gave)."""
    if isinstance(exc, FileRejected):
        reason = f"{rec.file_name}: {exc}"
        log.warning("file quarantined: %s", reason)
    else:
        reason = f"{rec.file_name}: unreadable as {channel.format}: {type(exc).__name__}: {exc}"
        log.error("file quarantined: %s", reason, exc_info=exc)
    _quarantine_file(settings, rec, reason)
    return _status(rec, channel, fallback_date, "quarantined", reason)


VALIDATION_BATCH_ROWS = 1_000_000  # files of a channel validated together, up to about this many rows


def stage_file(
    rec: FileRecord, channel: Channel, settings: Settings, fallback_date: dt.date, result: ParseResult
) -> FileStatus:
    """Second half of ``normalise_file``: validate a parsed file and write it to staging (or quarantine it
    whole when it breaks its table's contract), its unparsable rows to the row quarantine."""
    return stage_files([(rec, result)], channel, settings, fallback_date)[0]


def stage_files(
    parsed: list[tuple[FileRecord, ParseResult]], channel: Channel, settings: Settings, fallback_date: dt.date
) -> list[FileStatus]:
    """``stage_file`` for several parsed files of one channel (one table), with one validation for all.

    Every expectation of a contract holds for a frame exactly when it holds for each part of it (the
    column list, and conditions on single values), so when the files' rows together pass, each file
    passes; Great Expectations' cost per validation, about a tenth of a second whatever the size, is paid
    once. When they do not pass, each file is validated alone, and only the files that break the contract
    are quarantined, each with its own validation result.

    Before that, the rows that break a plausibility rule (``plausibility.screen``: dates outside the channel's
    window around ``fallback_date``, the run's business date; control characters or over-long references;
    NUL bytes) are moved to the file's row quarantine.
    """
    parsed = [(rec, plausibility.screen(result, channel, rec.file_name, fallback_date)) for rec, result in parsed]
    frames = [schema.table(result.table).conform(result.frame) for _, result in parsed]
    if len(parsed) > 1 and validate.validate_frame(parsed[0][1].table, pl.concat(frames, rechunk=False)).success:
        outcomes: list[validate.ValidationOutcome | None] = [None] * len(parsed)
    else:
        outcomes = [
            validate.validate_frame(result.table, frame) for (_, result), frame in zip(parsed, frames, strict=True)
        ]
    return [
        _staged(rec, channel, settings, fallback_date, result, frame, outcome)
        for (rec, result), frame, outcome in zip(parsed, frames, outcomes, strict=True)
    ]


def rows_of_date(frame: pl.DataFrame, day: dt.date, dates: int) -> pl.DataFrame:
    """The rows of ``frame`` dated ``day`` (one of its ``dates`` distinct business dates) in line order, in one
    chunk (the Parquet written from it has the same row groups whatever chunks the parser read). A frame of one
    date whose lines strictly increase (a parser keeps a file's order) is that already: joined into one chunk
    rather than filtered and sorted."""
    if dates == 1 and frame.height and frame["business_date"].null_count() == 0:
        lines = frame["line_no"]
        if lines.null_count() == 0 and (frame.height == 1 or bool((lines.diff().slice(1) > 0).all())):
            return frame.rechunk()
    return frame.filter(pl.col("business_date") == pl.lit(day, dtype=pl.Date)).sort("line_no")


def _staged(
    rec: FileRecord,
    channel: Channel,
    settings: Settings,
    fallback_date: dt.date,
    result: ParseResult,
    frame: pl.DataFrame,
    outcome: validate.ValidationOutcome | None,
) -> FileStatus:
    """Write a validated file (``outcome`` None: validated with others, passed) to staging, or quarantine it
    whole when its own validation failed."""
    table = result.table
    if outcome is not None and not outcome.success:
        reason = f"{rec.file_name}: breaks the {table} contract: " + "; ".join(outcome.failed)
        log.warning("file quarantined: %s", reason)
        _quarantine_file(settings, rec, reason, outcome.result)
        return _status(rec, channel, fallback_date, "quarantined", reason, result.rows_in, 0, result.rows_in)

    dates: list[dt.date] = sorted(set(frame["business_date"].unique().to_list()))
    for d in dates:
        part = rows_of_date(frame, d, len(dates))
        write_parquet_atomic(part, staging_path(settings, table, d, channel.id, rec.file_id))
    _write_rejects(rec, channel, settings, result.rejects)
    if result.rows_in != frame.height + result.rows_rejected:
        raise AssertionError(
            f"{rec.file_name}: {result.rows_in} rows read but {frame.height} staged + "
            f"{result.rows_rejected} quarantined"
        )
    checks = controls.described(controls.checks_of(result))
    return _status(
        rec, channel, fallback_date, "staged", None, result.rows_in, frame.height, result.rows_rejected, dates, checks
    )


def _write_rejects(rec: FileRecord, channel: Channel, settings: Settings, rejects: pl.DataFrame) -> None:
    if not rejects.height:
        return
    q = rejects.select(
        pl.lit(rec.file_id).alias("file_id"),
        pl.lit(rec.file_name).alias("file_name"),
        pl.lit(channel.id).alias("channel"),
        "line_no",
        "field",
        "reason",
        "raw",
        "amount_minor",
        "currency",
    ).sort("line_no", "field")
    write_parquet_atomic(schema.table("quarantine").conform(q), rows_quarantine_path(settings, channel.id, rec.file_id))


def in_pieces(rec: FileRecord, channel: Channel, settings: Settings | None = None) -> bool:
    """Whether the file is parsed and staged in pieces (``pipelines.validate.pieces``)."""
    path = s3home.fetch(settings, rec.landing_path) if settings is not None else Path(rec.landing_path)
    return rec.size_bytes > 0 and pieces.splits(channel, path, rec.size_bytes)


def parse_in_pieces(rec: FileRecord, channel: Channel, settings: Settings) -> Iterator[ParseResult]:
    """The file parsed piece by piece (its earlier staging output removed first)."""
    _remove_previous(settings, registry.table_of(channel.format), channel.id, rec.file_id)
    ctx = ParseContext(channel=channel, file_id=rec.file_id, file_name=rec.file_name)
    folder = settings.home / "tmp" / "pieces"
    return pieces.parse_pieces(s3home.fetch(settings, rec.landing_path), ctx, registry.get(channel.format), folder)


def stage_pieces(
    rec: FileRecord, channel: Channel, settings: Settings, fallback_date: dt.date, parsed: Iterable[ParseResult]
) -> FileStatus:
    """``stage_file`` of a file parsed in pieces: each piece screened (``plausibility``), validated and
    appended, in line order, to the file's staged Parquet of each business date, written aside and put in
    place once every piece has passed. A piece that cannot be read quarantines the file as unreadable; a
    piece that breaks the table's contract quarantines it whole with that piece's validation result. The
    staged rows, quarantined rows and status are those of the file staged whole."""
    import pyarrow.parquet as pq

    writers: dict[dt.date, tuple[Path, pq.ParquetWriter]] = {}
    rejects: list[pl.DataFrame] = []
    rows_in = staged = rejected = 0
    failed: tuple[str, validate.ValidationOutcome] | None = None
    pieces_seen = iter(parsed)
    try:
        for result in pieces_seen:
            rows_in += result.rows_in
            if failed is not None:  # the file is quarantined: its other pieces only count its rows
                continue
            result = plausibility.screen(result, channel, rec.file_name, fallback_date)
            frame = schema.table(result.table).conform(result.frame)
            outcome = validate.validate_frame(result.table, frame)
            if not outcome.success:
                failed = (result.table, outcome)
                continue
            piece_dates = sorted(set(frame["business_date"].unique().to_list()))
            for d in piece_dates:
                if d not in writers:
                    dest = staging_path(settings, result.table, d, channel.id, rec.file_id)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
                    part = rows_of_date(frame, d, len(piece_dates))
                    table = part.to_arrow()
                    writers[d] = (tmp, pq.ParquetWriter(tmp, table.schema, **PYARROW_PARQUET_OPTS))
                else:
                    part = rows_of_date(frame, d, len(piece_dates))
                    table = part.to_arrow().cast(writers[d][1].schema)
                writers[d][1].write_table(table)
            rejects.append(result.rejects)
            staged += frame.height
            rejected += result.rows_rejected
            if result.rows_in != frame.height + result.rows_rejected:
                raise AssertionError(
                    f"{rec.file_name}: {result.rows_in} rows read but {frame.height} staged + "
                    f"{result.rows_rejected} quarantined"
                )
    except Exception as exc:
        _discard(writers)
        return _unreadable(rec, channel, settings, fallback_date, exc)
    if failed is not None:
        _discard(writers)
        table_name, outcome = failed
        reason = f"{rec.file_name}: breaks the {table_name} contract: " + "; ".join(outcome.failed)
        log.warning("file quarantined: %s", reason)
        _quarantine_file(settings, rec, reason, outcome.result)
        return _status(rec, channel, fallback_date, "quarantined", reason, rows_in, 0, rows_in)
    for d, (tmp, writer) in writers.items():
        writer.close()
        os.replace(tmp, staging_path(settings, registry.table_of(channel.format), d, channel.id, rec.file_id))
    if rejects:
        _write_rejects(rec, channel, settings, pl.concat(rejects, how="vertical_relaxed"))
    dates = sorted(writers)
    return _status(rec, channel, fallback_date, "staged", None, rows_in, staged, rejected, dates)


def _discard(writers: dict[dt.date, tuple[Path, Any]]) -> None:
    for tmp, writer in writers.values():
        writer.close()
        tmp.unlink(missing_ok=True)


def normalise_file(rec: FileRecord, channel: Channel, settings: Settings, fallback_date: dt.date) -> FileStatus:
    """Parse, validate and stage one landed file; return its status for the catalog."""
    parsed = parse_file(rec, channel, settings, fallback_date)
    if isinstance(parsed, FileStatus):
        return parsed
    return stage_file(rec, channel, settings, fallback_date, parsed)


class ChannelStager:
    """Stages the parsed files of one channel with ``stage_files``, in batches of about ``limit`` rows (so
    that no more than about that many parsed rows wait in memory), and keeps their statuses in file order."""

    def __init__(
        self, channel: Channel, settings: Settings, fallback_date: dt.date, limit: int = VALIDATION_BATCH_ROWS
    ) -> None:
        self.channel, self.settings, self.fallback_date, self.limit = channel, settings, fallback_date, limit
        self._statuses: list[FileStatus | None] = []
        self._batch: list[tuple[int, FileRecord, ParseResult]] = []

    def add_status(self, status: FileStatus) -> None:
        """A file that ended before staging (quarantined while parsing)."""
        self._statuses.append(status)

    def add(self, rec: FileRecord, result: ParseResult) -> None:
        self._statuses.append(None)
        self._batch.append((len(self._statuses) - 1, rec, result))
        if sum(result.rows_in for _, _, result in self._batch) >= self.limit:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        parsed = [(rec, result) for _, rec, result in self._batch]
        staged = stage_files(parsed, self.channel, self.settings, self.fallback_date)
        for (i, _, _), status in zip(self._batch, staged, strict=True):
            self._statuses[i] = status
        self._batch.clear()

    def statuses(self) -> list[FileStatus]:
        self.flush()
        return [status for status in self._statuses if status is not None]


def normalise_files(
    records: list[FileRecord], channel: Channel, settings: Settings, fallback_date: dt.date
) -> list[FileStatus]:
    """``normalise_file`` for the new files of one channel (statuses in the same order), the parsed files
    validated together in batches (``ChannelStager``)."""
    stager = ChannelStager(channel, settings, fallback_date)
    for rec in records:
        if in_pieces(rec, channel, settings):
            stager.add_status(
                stage_pieces(rec, channel, settings, fallback_date, parse_in_pieces(rec, channel, settings))
            )
            continue
        parsed = parse_file(rec, channel, settings, fallback_date)
        if isinstance(parsed, FileStatus):
            stager.add_status(parsed)
        else:
            stager.add(rec, parsed)
    return stager.statuses()


# A file parsed in one process and staged in another waits in Arrow IPC files of the workspace (the
# exact frames and types).
def _parked_folder(settings: Settings) -> Path:
    return settings.home / "tmp" / "parsed"


def _parked_paths(settings: Settings, file_id: str) -> tuple[Path, Path]:
    folder = _parked_folder(settings)
    return folder / f"{file_id}.frame.arrow", folder / f"{file_id}.rejects.arrow"


def discard_all_parked(settings: Settings) -> None:
    """Remove what a run that died between parsing and staging left parked (a run starts with none)."""
    shutil.rmtree(_parked_folder(settings), ignore_errors=True)


def park(result: ParseResult, settings: Settings, file_id: str) -> dict[str, Any]:
    frame_path, rejects_path = _parked_paths(settings, file_id)
    frame_path.parent.mkdir(parents=True, exist_ok=True)
    result.frame.write_ipc(frame_path)
    result.rejects.write_ipc(rejects_path)
    checks = controls.checks_of(result)
    parked = {"table": result.table, "rows_in": result.rows_in, "file_id": file_id}
    return parked if checks is None else {**parked, "checks": [c.as_dict() for c in checks]}


def unpark(parked: dict[str, Any], settings: Settings) -> ParseResult:
    frame_path, rejects_path = _parked_paths(settings, parked["file_id"])
    result = ParseResult(
        table=parked["table"],
        frame=pl.read_ipc(frame_path),
        rejects=pl.read_ipc(rejects_path),
        rows_in=parked["rows_in"],
    )
    if "checks" not in parked:
        return result
    return controls.with_checks(result, [controls.Check(**c) for c in parked["checks"]])


def discard_parked(settings: Settings, file_id: str) -> None:
    for path in _parked_paths(settings, file_id):
        path.unlink(missing_ok=True)


def park_pieces(rec: FileRecord, channel: Channel, settings: Settings, fallback_date: dt.date) -> dict[str, Any]:
    """``parse_in_pieces`` with each piece parked as it is parsed: ``{"pieces": [...], "file_id": ...}`` for
    ``unpark_pieces``, or ``{"status": ...}`` when the file could not be read (what was parked removed)."""
    parked: list[dict[str, Any]] = []
    try:
        for n, result in enumerate(parse_in_pieces(rec, channel, settings)):
            parked.append(park(result, settings, f"{rec.file_id}.{n}"))
    except Exception as exc:  # as ``parse_file``: the file is quarantined, the run goes on
        for item in parked:
            discard_parked(settings, item["file_id"])
        return {"status": _unreadable(rec, channel, settings, fallback_date, exc).to_dict()}
    return {"pieces": parked, "file_id": rec.file_id}


def unpark_pieces(item: dict[str, Any], settings: Settings) -> Iterator[ParseResult]:
    """The pieces ``park_pieces`` parked, one at a time, each removed once read."""
    for parked in item["pieces"]:
        result = unpark(parked, settings)
        discard_parked(settings, parked["file_id"])
        yield result
