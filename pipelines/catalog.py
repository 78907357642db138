"""The catalog: small state (file registry, deliveries, file processing status, runs).

An embedded DuckDB file by default. A DuckDB file admits one writing process at a time, so the pipeline
keeps every catalog write in a single task; per-channel tasks only read it and return their records.
All access goes through ``Catalog`` so a server database can stand behind the same methods.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipelines import sqlfiles


@dataclass(frozen=True)
class FileRecord:
    file_id: str
    channel: str
    file_name: str
    source_path: str
    size_bytes: int
    landing_path: str
    arrived_at: str  # ISO 8601 UTC

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    business_dates: list[str]
    assigned_date: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.connect(read_only=False):
                pass
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path), read_only=read_only)
        try:
            if not read_only:
                con.execute(sqlfiles.load("catalog_schema"))
            yield con
        finally:
            con.close()

    # ---- files -----------------------------------------------------------------------------------
    def known_file_ids(self, file_ids: list[str]) -> set[str]:
        if not file_ids:
            return set()
        with self.connect(read_only=True) as con:
            rows = con.execute("SELECT file_id FROM files WHERE file_id IN (SELECT unnest(?))", [file_ids]).fetchall()
        return {r[0] for r in rows}

    def register_deliveries(self, records: list[FileRecord], observed_at: dt.datetime) -> list[tuple[str, str]]:
        """Register files; return (file_id, outcome) per record: 'new' or 'duplicate' (same bytes seen)."""
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
                outcomes.append((rec.file_id, outcome))
            con.execute("COMMIT")
        return outcomes

    def files_of_channel(self, channel: str) -> list[FileRecord]:
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT file_id, channel, file_name, source_path, size_bytes, landing_path, "
                "strftime(arrived_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') "
                "FROM files WHERE channel = ? ORDER BY file_id",
                [channel],
            ).fetchall()
        return [FileRecord(*r) for r in rows]

    def deliveries(self) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            cur = con.execute("SELECT channel, source_path, file_id, outcome FROM deliveries ORDER BY observed_at")
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    # ---- file processing -------------------------------------------------------------------------
    def file_statuses(self, channel: str | None = None) -> dict[str, FileStatus]:
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT file_id, channel, format, canonical_table, status, reason, rows_in, rows_staged, "
                "rows_quarantined, business_dates, strftime(assigned_date, '%Y-%m-%d') FROM file_status "
                "WHERE ? IS NULL OR channel = ? ORDER BY file_id",
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
                business_dates=list(r[9]),
                assigned_date=r[10],
            )
            for r in rows
        }

    def record_file_statuses(self, statuses: list[FileStatus], processed_at: dt.datetime) -> None:
        with self.connect() as con:
            con.execute("BEGIN")
            for s in statuses:
                con.execute("DELETE FROM file_status WHERE file_id = ?", [s.file_id])
                con.execute(
                    "INSERT INTO file_status VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        s.business_dates,
                        s.assigned_date,
                        processed_at,
                    ],
                )
            con.execute("COMMIT")

    # ---- runs ------------------------------------------------------------------------------------
    def record_run(
        self,
        run_id: str,
        business_date: str,
        mode: str,
        rules_version: str,
        status: str,
        started_at: dt.datetime,
        finished_at: dt.datetime,
        summary: dict[str, Any],
    ) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    business_date,
                    mode,
                    rules_version,
                    status,
                    started_at,
                    finished_at,
                    json.dumps(summary, sort_keys=True),
                ],
            )

    def runs(self, business_date: str | None = None) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            cur = con.execute(
                "SELECT run_id, strftime(business_date, '%Y-%m-%d') AS business_date, mode, rules_version, status "
                "FROM runs WHERE ? IS NULL OR business_date = CAST(? AS DATE) ORDER BY started_at",
                [business_date, business_date],
            )
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
