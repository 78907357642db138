"""The catalog: small state (file registry, deliveries, ingest events, file processing status, runs).

An embedded DuckDB file by default. A DuckDB file admits one writing process at a time, so the pipeline
keeps every catalog write in a single task; per-channel tasks only read it and return their records.
All access goes through ``Catalog``, built by ``open_catalog(settings)``: with ``RECON_CATALOG_URL`` a
PostgreSQL database stands behind the same methods, with the same results (``backends``). Every query is
written once, in SQL both accept; each multi-statement write is one transaction on either.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.catalog import journal
from pipelines.catalog.backends import Backend, DuckDBBackend, PostgresBackend, Session, held, held_session
from pipelines.core import schema, sqlfiles
from pipelines.core.config import Settings
from pipelines.core.dates import parse_business_date
from pipelines.core.failpoints import failpoint


@dataclass(frozen=True)
class FileRecord:
    file_id: str
    channel: str
    file_name: str
    source_path: str
    size_bytes: int
    landing_path: str
    arrived_at: str  # ISO 8601 UTC
    remote_identity: str = ""  # what the source listed (size, mtime, ETag): unchanged means not re-downloaded
    verified_by: str = ""  # how the bytes were checked against the source: sha256, md5-etag, size...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IngestEvent:
    """A listed file that was not taken this time, and why.

    ``outcome``: ``pending`` (incomplete: still growing, no completion marker, not in a manifest yet;
    retried next poll), ``refused`` (hostile name, symlink out of the folder, not a regular file),
    ``quarantined`` (zero bytes, unreadable, does not match its manifest), ``replaced`` (different bytes under
    a name already ingested: kept in quarantine, never landed over what was processed).
    """

    channel: str
    source_path: str
    reason: str
    outcome: str = "refused"
    file_name: str = ""
    file_id: str = ""  # SHA-256 of the bytes when they were downloaded, else ''
    previous_file_id: str | None = None  # replaced: the file ingested earlier under this name
    size_bytes: int | None = None
    identity: str = ""
    quarantine_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KnownObject:
    identity: str
    file_id: str
    outcome: str  # new | duplicate | replaced


@dataclass(frozen=True)
class IngestState:
    """What the registry knows about one channel's source paths (read by the per-channel pull)."""

    accepted: dict[str, str]  # source path -> file id last accepted (new or duplicate) under that path
    objects: dict[str, KnownObject]  # source path -> last identity registered and its outcome
    files: dict[str, FileRecord]  # file id -> registered file, for the ids in ``objects``


@dataclass(frozen=True)
class FileStatus:
    file_id: str
    channel: str
    format: str
    canonical_table: str
    status: str
    reason: str | None
    rows_in: int
    rows_staged: int
    rows_quarantined: int
    business_dates: list[dt.date]  # the dates of the file's staged rows
    assigned_date: dt.date  # the date whose run reports the file (its earliest row date, else the run's)
    controls: str | None = None  # the file's own control checks as performed (None: its format reports none)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (dates as ISO 8601 text), as Airflow passes it between tasks."""
        out = asdict(self)
        out["business_dates"] = [d.isoformat() for d in self.business_dates]
        out["assigned_date"] = self.assigned_date.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileStatus:
        return cls(
            **{
                **data,
                "business_dates": [parse_business_date(d) for d in data["business_dates"]],
                "assigned_date": parse_business_date(data["assigned_date"]),
            }
        )


#: what a date's run leaves behind in the catalog, replaced as a whole when the date is re-run
METRIC_TREND_RUNS = 7  # earlier runs whose metrics a run's report shows as a trend
LIFECYCLE_TABLES = (
    "open_items",
    "break_log",
    "break_closures",
    "position_log",
    "receipt_log",
    "run_inputs",
    "metric_log",
)


#: the columns of ``metric_log`` after ``as_of_date``: the ``metrics`` contract's, without its business date
METRIC_COLUMNS = tuple(c.name for c in schema.table("metrics").columns if c.name != "business_date")


@dataclass(frozen=True)
class RunRow:
    """A published run as the catalog records it."""

    run_id: str
    business_date: dt.date
    mode: str
    rules_version: str
    started_at: dt.datetime
    finished_at: dt.datetime
    summary: dict[str, Any]
    output_folder: str | None  # relative to outputs/: .runs/<date>/<folder>


def lifecycle_frames(day: dt.date, run_id: str, result: Any) -> dict[str, pl.DataFrame]:
    """The rows a run of ``day`` leaves in each of ``LIFECYCLE_TABLES`` (a ``RunResult``'s frames, in the
    tables' column order). Also written with the outputs (``.catalog/``), so a lost catalog can be rebuilt."""

    def as_of(frame: pl.DataFrame, *columns: str | pl.Expr) -> pl.DataFrame:
        return frame.select(pl.lit(day).alias("as_of_date"), *columns)

    return {
        "open_items": as_of(
            result.open_items,
            *("item_table", "file_id", "line_no", "item_business_date", "channel", "status", "break_id", "used_in"),
        ),
        "break_log": as_of(
            result.breaks,
            *("break_id", "break_type", "channel", "item_ref", "amount_minor", "currency", "status"),
            pl.lit(run_id).alias("run_id"),
        ),
        "break_closures": result.closed_breaks.select("as_of_date", "break_id", "run_id", "rule_id", "match_id"),
        "position_log": as_of(
            result.positions, "counterparty", "currency", "value_date", "net_expected_minor", "received_minor"
        ),
        "receipt_log": result.receipts.select("as_of_date", "counterparty", "currency", "value_date", "received_minor"),
        "run_inputs": as_of(result.intake, "file_id", "channel", "item_table", "row_date", "rows", "late_days"),
        "metric_log": as_of(schema.table("metrics").conform(result.metrics), *METRIC_COLUMNS),
    }


def open_catalog(settings: Settings) -> Catalog:
    """The workspace's catalog: the DuckDB file ``settings.catalog_path``, or the PostgreSQL database of
    ``settings.catalog_url`` (``RECON_CATALOG_URL``) when one is set."""
    backend = PostgresBackend(settings.catalog_url) if settings.catalog_url else None
    return Catalog(settings.catalog_path, backend)


class Catalog:
    def __init__(self, path: Path, backend: Backend | None = None) -> None:
        """The catalog of the workspace ``path.parent``: the DuckDB file ``path``, unless ``backend`` holds it
        elsewhere (``open_catalog``); the journals are in the workspace either way."""
        self.path = path
        self.backend: Backend = backend or DuckDBBackend(path)

    @property
    def home(self) -> Path:
        """The workspace the catalog belongs to (its journals are under ``journal/`` there)."""
        return self.path.parent

    @property
    def location(self) -> str:
        """Where the catalog is, for messages: the file, or the database URL without its password."""
        return self.backend.location

    def exists(self) -> bool:
        """Whether the catalog was created (nothing was ever run in a workspace without one)."""
        return self.backend.exists()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Session]:
        """A session on the catalog; a writing one creates the missing tables first. Inside ``held`` (same
        thread, same catalog) the held session; a method that fails there rolls back what it left open."""
        con = held_session(self.backend)
        if con is None:
            with self.backend.connect(read_only) as fresh:
                yield fresh
            return
        try:
            yield con
        except BaseException:
            con.abandon()
            raise

    def held(self) -> AbstractContextManager[None]:
        """One writing session for the calls on this catalog made inside (``backends.held``)."""
        return held(self.backend)

    def ensure_schema(self) -> None:
        """Create missing catalog tables (a writer step: catalogs of older versions gain the new tables)."""
        with self.connect():
            pass

    def move_aside(self, stamp: str) -> str | None:
        """Keep the catalog aside under a name carrying ``stamp`` (``recon catalog rebuild``); return where
        it went (None: there was none)."""
        return self.backend.move_aside(stamp)

    # ---- files -----------------------------------------------------------------------------------
    def known_file_ids(self, file_ids: list[str]) -> set[str]:
        if not file_ids:
            return set()
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT file_id FROM files WHERE file_id IN (SELECT unnest(CAST(? AS VARCHAR[])))", [file_ids]
            ).fetchall()
        return {r[0] for r in rows}

    def register_deliveries(
        self,
        records: list[FileRecord],
        observed_at: dt.datetime,
        events: list[IngestEvent] | None = None,
        journal_it: bool = True,
    ) -> list[tuple[str, str]]:
        """Register files and the pull's events in one transaction; return (file_id, outcome) per record:
        'new' or 'duplicate' (same bytes seen before, under this name or another). The records are
        journaled first (``journal.FILES``; not when replaying that journal)."""
        if journal_it:
            journal.append(
                self.home, journal.FILES, [{**r.to_dict(), "observed_at": observed_at.isoformat()} for r in records]
            )
        outcomes: list[tuple[str, str]] = []
        with self.connect() as con:
            con.execute("BEGIN")
            for rec in records:
                exists = con.execute("SELECT 1 FROM files WHERE file_id = ?", [rec.file_id]).fetchone()
                outcome = "duplicate" if exists else "new"
                if not exists:
                    con.execute(
                        "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [
                            rec.file_id,
                            rec.channel,
                            rec.file_name,
                            rec.source_path,
                            rec.size_bytes,
                            rec.landing_path,
                            rec.arrived_at,
                        ],
                    )
                con.execute(
                    "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)",
                    [rec.channel, rec.source_path, rec.file_id, observed_at, outcome],
                )
                if rec.remote_identity:
                    self._upsert_object(
                        con, rec.channel, rec.source_path, rec.remote_identity, rec.file_id, outcome, observed_at
                    )
                con.execute(
                    "DELETE FROM ingest_events WHERE channel = ? AND source_path = ? AND outcome = 'pending'",
                    [rec.channel, rec.source_path],
                )
                outcomes.append((rec.file_id, outcome))
            for ev in events or []:
                con.execute(
                    "INSERT INTO ingest_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) "
                    "ON CONFLICT (channel, source_path, outcome, file_id) DO UPDATE SET reason = excluded.reason, "
                    "size_bytes = excluded.size_bytes, last_seen = excluded.last_seen, "
                    "times_seen = ingest_events.times_seen + 1",
                    [
                        ev.channel,
                        ev.source_path,
                        ev.outcome,
                        ev.file_id,
                        ev.file_name,
                        ev.reason,
                        ev.previous_file_id,
                        ev.size_bytes,
                        ev.quarantine_path,
                        observed_at,
                        observed_at,
                    ],
                )
                if ev.outcome == "replaced" and ev.identity and ev.file_id:
                    self._upsert_object(
                        con, ev.channel, ev.source_path, ev.identity, ev.file_id, "replaced", observed_at
                    )
            con.execute("COMMIT")
        return outcomes

    @staticmethod
    def _upsert_object(
        con: Session,
        channel: str,
        source_path: str,
        identity: str,
        file_id: str,
        outcome: str,
        observed_at: dt.datetime,
    ) -> None:
        con.execute(
            "INSERT INTO remote_objects VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, source_path) DO UPDATE SET "
            "identity = excluded.identity, file_id = excluded.file_id, outcome = excluded.outcome, "
            "observed_at = excluded.observed_at",
            [channel, source_path, identity, file_id, outcome, observed_at],
        )

    @staticmethod
    def _has_tables(con: Session, *names: str) -> bool:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_name IN (SELECT unnest(CAST(? AS VARCHAR[])))",
            [list(names)],
        ).fetchone()
        return bool(found and found[0] == len(names))

    def ingest_state(self, channel: str) -> IngestState:
        """The registry's view of a channel's source paths (read only: safe in per-channel tasks)."""
        if not self.exists():
            return IngestState(accepted={}, objects={}, files={})
        with self.connect(read_only=True) as con:
            accepted = {
                r[0]: r[1]
                for r in con.execute(
                    "SELECT DISTINCT ON (source_path) source_path, file_id FROM deliveries "
                    "WHERE channel = ? AND outcome IN ('new', 'duplicate') "
                    "ORDER BY source_path, observed_at DESC NULLS LAST",
                    [channel],
                ).fetchall()
            }
            if not self._has_tables(con, "remote_objects"):
                return IngestState(accepted=accepted, objects={}, files={})
            objects = {
                r[0]: KnownObject(identity=r[1], file_id=r[2], outcome=r[3])
                for r in con.execute(
                    "SELECT source_path, identity, file_id, outcome FROM remote_objects WHERE channel = ?", [channel]
                ).fetchall()
            }
            rows = con.execute(
                "SELECT file_id, channel, file_name, source_path, size_bytes, landing_path, arrived_at FROM files "
                "WHERE file_id IN (SELECT file_id FROM remote_objects WHERE channel = ?)",
                [channel],
            ).fetchall()
        return IngestState(accepted=accepted, objects=objects, files={r[0]: _file_record(r) for r in rows})

    def ingest_events(self, channel: str | None = None, outcome: str | None = None) -> list[dict[str, Any]]:
        """Files not taken, by channel and outcome (pending, refused, quarantined, replaced)."""
        with self.connect(read_only=True) as con:
            if not self._has_tables(con, "ingest_events"):
                return []
            cur = con.execute(
                "SELECT channel, source_path, outcome, file_id, file_name, reason, previous_file_id, size_bytes, "
                "quarantine_path, first_seen, last_seen, times_seen FROM ingest_events "
                "WHERE (CAST(? AS VARCHAR) IS NULL OR channel = ?) AND (CAST(? AS VARCHAR) IS NULL OR outcome = ?) "
                "ORDER BY channel, source_path, outcome, file_id",
                [channel, channel, outcome, outcome],
            )
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def replaced_files(self, channel: str | None = None) -> list[dict[str, Any]]:
        """New bytes delivered under a name already ingested (the 'file replaced' breaks)."""
        return self.ingest_events(channel, "replaced")

    def pending_files(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Files seen incomplete and not delivered since, with the time they were first seen."""
        return self.ingest_events(channel, "pending")

    def files_of_channel(self, channel: str) -> list[FileRecord]:
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT file_id, channel, file_name, source_path, size_bytes, landing_path, arrived_at "
                "FROM files WHERE channel = ? ORDER BY file_id",
                [channel],
            ).fetchall()
        return [_file_record(r) for r in rows]

    def file_names(self, channels: Iterable[str]) -> dict[str, str]:
        """The name each file of ``channels`` was received under, by file id (one query for all channels)."""
        wanted = sorted(set(channels))
        if not wanted:
            return {}
        rows = self._dicts(
            "SELECT file_id, file_name FROM files WHERE channel IN (SELECT unnest(CAST(? AS VARCHAR[]))) "
            "ORDER BY file_id",
            [wanted],
        )
        return {r["file_id"]: r["file_name"] for r in rows}

    def deliveries(self) -> list[dict[str, Any]]:
        return self._dicts("SELECT channel, source_path, file_id, outcome FROM deliveries ORDER BY observed_at", [])

    def file_journal(self) -> list[dict[str, Any]]:
        """The registered files as ``journal.FILES`` entries (seeding the journal of an older catalog)."""
        entries = self._dicts(
            "SELECT f.file_id, f.channel, f.file_name, f.source_path, f.size_bytes, f.landing_path, f.arrived_at, "
            "coalesce(o.identity, '') AS remote_identity, '' AS verified_by, f.arrived_at AS observed_at "
            "FROM files f LEFT JOIN remote_objects o ON o.file_id = f.file_id AND o.source_path = f.source_path "
            "ORDER BY f.arrived_at, f.file_id",
            [],
        )
        return [
            {**e, "arrived_at": _utc_text(e["arrived_at"]), "observed_at": _utc_text(e["observed_at"], "+00:00")}
            for e in entries
        ]

    def status_journal(self) -> list[dict[str, Any]]:
        """The files' statuses as ``journal.FILE_STATUS`` entries (seeding the journal of an older catalog)."""
        now = dt.datetime.now(dt.UTC).isoformat()
        return [{**s.to_dict(), "processed_at": now} for s in self.file_statuses().values()]

    # ---- file processing -------------------------------------------------------------------------
    def file_statuses(self, channel: str | None = None) -> dict[str, FileStatus]:
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT file_id, channel, format, canonical_table, status, reason, rows_in, rows_staged, "
                "rows_quarantined, business_dates, assigned_date, controls FROM file_status "
                "WHERE CAST(? AS VARCHAR) IS NULL OR channel = ? ORDER BY file_id",
                [channel, channel],
            ).fetchall()
        return {
            r[0]: FileStatus(
                file_id=r[0],
                channel=r[1],
                format=r[2],
                canonical_table=r[3],
                status=r[4],
                reason=r[5],
                rows_in=int(r[6]),
                rows_staged=int(r[7]),
                rows_quarantined=int(r[8]),
                business_dates=[parse_business_date(d) for d in r[9]],
                assigned_date=r[10],
                controls=r[11],
            )
            for r in rows
        }

    def record_file_statuses(
        self, statuses: list[FileStatus], processed_at: dt.datetime, journal_it: bool = True
    ) -> None:
        if journal_it:
            journal.append(
                self.home,
                journal.FILE_STATUS,
                [{**s.to_dict(), "processed_at": processed_at.isoformat()} for s in statuses],
            )
        with self.connect() as con:
            con.execute("BEGIN")
            for s in statuses:
                con.execute("DELETE FROM file_status WHERE file_id = ?", [s.file_id])
                con.execute(
                    "INSERT INTO file_status (file_id, channel, format, canonical_table, status, reason, rows_in, "
                    "rows_staged, rows_quarantined, business_dates, assigned_date, processed_at, controls) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        s.file_id,
                        s.channel,
                        s.format,
                        s.canonical_table,
                        s.status,
                        s.reason,
                        s.rows_in,
                        s.rows_staged,
                        s.rows_quarantined,
                        [d.isoformat() for d in s.business_dates],
                        s.assigned_date,
                        processed_at,
                        s.controls,
                    ],
                )
            con.execute("COMMIT")

    # ---- runs ------------------------------------------------------------------------------------
    def commit_run(self, run: RunRow, frames: dict[str, pl.DataFrame]) -> None:
        """The commit point of a run: its row in ``runs`` and what the date's run leaves behind (``frames``,
        from ``lifecycle_frames``: open items, breaks, closures, positions, receipts, inputs) replace the
        date's earlier ones in ONE transaction. A crash before it leaves the catalog as it was; after it,
        ``outputs/<date>`` is switched to ``run.output_folder`` (or the next run completes the switch)."""
        with self.connect() as con:
            con.execute("BEGIN")
            for table in LIFECYCLE_TABLES:
                frame = frames.get(table)  # None: rows a run published by an older version did not keep
                con.execute(f"DELETE FROM {table} WHERE as_of_date = ?", [run.business_date])
                if frame is not None and frame.height:
                    con.insert_frame(table, frame)
            con.execute(
                "INSERT INTO runs (run_id, business_date, mode, rules_version, status, started_at, finished_at, "
                "summary, output_folder) VALUES (?, ?, ?, ?, 'published', ?, ?, ?, ?)",
                [
                    run.run_id,
                    run.business_date,
                    run.mode,
                    run.rules_version,
                    run.started_at,
                    run.finished_at,
                    json.dumps(run.summary, sort_keys=True),
                    run.output_folder,
                ],
            )
            failpoint("catalog-commit")  # the transaction is open: a crash here must leave the old state
            con.execute("COMMIT")

    def published(self) -> dict[dt.date, dict[str, Any]]:
        """The latest published run of every date: run id, mode and the output folder it was published in
        (None for runs recorded before output folders were)."""
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT DISTINCT ON (business_date) business_date, run_id, output_folder, mode FROM runs "
                "WHERE status = 'published' ORDER BY business_date, finished_at DESC NULLS LAST"
            ).fetchall()
        return {r[0]: {"run_id": r[1], "output_folder": r[2], "mode": r[3]} for r in rows}

    def runs(self, business_date: dt.date | None = None) -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT run_id, CAST(business_date AS VARCHAR) AS business_date, mode, rules_version, status "
            "FROM runs WHERE CAST(? AS DATE) IS NULL OR business_date = CAST(? AS DATE) ORDER BY started_at",
            [business_date, business_date],
        )

    def _dicts(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    # ---- breaks over time ------------------------------------------------------------------------
    def run_dates(self) -> list[dt.date]:
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT DISTINCT business_date FROM runs WHERE status = 'published' ORDER BY 1"
            ).fetchall()
        return [r[0] for r in rows]

    def run_inputs(self) -> pl.DataFrame:
        """What every run took in (``run.intake``): one row per unit and date, in the order of the key."""
        with self.connect(read_only=True) as con:
            return con.frame(
                "SELECT as_of_date, file_id, channel, item_table, row_date, rows, late_days FROM run_inputs "
                "ORDER BY as_of_date, file_id, item_table, row_date",
                [],
            )

    def history_for(self, day: dt.date) -> Any:
        """What is known before ``day``'s run (a ``lifecycle.History``)."""
        from pipelines.breaks.lifecycle import History

        h = History()
        with self.connect(read_only=True) as con:
            prev = con.execute(
                "SELECT max(business_date) FROM runs WHERE status = 'published' AND business_date < ?", [day]
            ).fetchall()
            previous = prev[0][0] if prev else None
            if previous is not None:
                h.previous_date = previous
                h.open_breaks = con.frame(
                    "SELECT DISTINCT break_id, break_type FROM break_log WHERE as_of_date = ? AND status = 'open' "
                    "ORDER BY break_id",
                    [previous],
                )
                h.open_items = con.frame(
                    "SELECT item_table, file_id, line_no, item_business_date, channel, status, break_id, used_in "
                    "FROM open_items WHERE as_of_date = ? ORDER BY item_table, file_id, line_no",
                    [previous],
                )
            h.first_seen = dict(
                con.execute(
                    "SELECT break_id, min(as_of_date) FROM break_log WHERE as_of_date < ? GROUP BY break_id", [day]
                ).fetchall()
            )
            latest = con.execute(
                "SELECT DISTINCT ON (break_id) break_id, action, resolved_by, note FROM resolutions "
                "ORDER BY break_id, recorded_at DESC NULLS LAST"
            ).fetchall()
            h.resolutions = {b: (a, by, n) for b, a, by, n in latest}
            by_value_date = (
                "SELECT counterparty, currency, value_date, {} FROM {} WHERE as_of_date < ? ORDER BY 1, 2, 3, 4"
            )
            h.positions = con.frame(by_value_date.format("net_expected_minor", "position_log"), [day])
            h.receipts = con.frame(by_value_date.format("received_minor", "receipt_log"), [day])
            columns = ", ".join(map(sqlfiles.ident, METRIC_COLUMNS))
            every_column = ", ".join(str(i) for i in range(1, len(METRIC_COLUMNS) + 2))
            h.metrics = con.frame(
                f"SELECT as_of_date AS business_date, {columns} FROM metric_log WHERE as_of_date IN "
                "(SELECT DISTINCT as_of_date FROM metric_log WHERE as_of_date < ? ORDER BY 1 DESC LIMIT ?) "
                f"ORDER BY {every_column}",
                [day, METRIC_TREND_RUNS],
            )
        return h

    def add_resolution(self, break_id: str, action: str, note: str, resolved_by: str, now: dt.datetime) -> str:
        """Append a manual resolution to the audit log (the journal first, then the catalog; never
        rewritten); return its id."""
        import hashlib

        with self.connect(read_only=True) as con:
            known = con.execute("SELECT count(*) FROM break_log WHERE break_id = ?", [break_id]).fetchone()
        if not known or not known[0]:
            raise KeyError(f"no break {break_id!r} in any run")
        rid = "R" + hashlib.sha256(f"{break_id}|{action}|{now.isoformat()}".encode()).hexdigest()[:12]
        entry = {
            "resolution_id": rid,
            "break_id": break_id,
            "action": action,
            "note": note,
            "resolved_by": resolved_by,
            "recorded_at": now.isoformat(),
        }
        journal.append(self.home, journal.RESOLUTIONS, [entry])
        self.insert_resolutions([entry])
        return rid

    def insert_resolutions(self, entries: list[dict[str, Any]]) -> int:
        """Resolutions of the journal the catalog does not hold yet (by id); return how many were added."""
        added = 0
        with self.connect() as con:
            con.execute("BEGIN")
            for e in entries:
                if con.execute("SELECT 1 FROM resolutions WHERE resolution_id = ?", [e["resolution_id"]]).fetchone():
                    continue
                con.execute(
                    "INSERT INTO resolutions VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        e["resolution_id"],
                        e["break_id"],
                        e["action"],
                        e["note"],
                        e["resolved_by"],
                        dt.datetime.fromisoformat(e["recorded_at"]),
                    ],
                )
                added += 1
            con.execute("COMMIT")
        return added

    def break_dates(self, break_id: str) -> dict[dt.date, str]:
        """The dates whose run listed ``break_id``, with its status there."""
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT as_of_date, min(status) FROM break_log WHERE break_id = ? GROUP BY 1 ORDER BY 1", [break_id]
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def resolutions(self, break_id: str | None = None) -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT resolution_id, break_id, action, note, resolved_by, recorded_at FROM resolutions "
            "WHERE CAST(? AS VARCHAR) IS NULL OR break_id = ? ORDER BY recorded_at, resolution_id",
            [break_id, break_id],
        )


def _utc_text(when: dt.datetime, zone: str = "Z") -> str:
    """An instant as the ISO 8601 text the registry and its journal carry (microseconds, UTC)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + zone


def _file_record(row: tuple[Any, ...]) -> FileRecord:
    """A ``files`` row (``arrived_at`` last, a timestamp) as the record it was registered from."""
    file_id, channel, file_name, source_path, size_bytes, landing_path, arrived_at = row
    return FileRecord(file_id, channel, file_name, source_path, size_bytes, landing_path, _utc_text(arrived_at))
