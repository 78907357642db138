"""Where the catalog lives: the embedded DuckDB file (the default) or a PostgreSQL database.

``Catalog`` (``store.py``) holds every query once, written in the SQL both databases accept, values bound
as ``?``. A backend opens sessions on its database and keeps the few differences here, explicit:

- parameters: psycopg takes ``%s`` where the catalog's SQL has ``?`` (``PostgresSession`` rewrites them);
- frames out: DuckDB hands Arrow to Polars; PostgreSQL rows become a frame of the types the result's
  columns declare (``BIGINT`` Int64, ``INTEGER`` Int32, ``DATE`` Date, ``DECIMAL(p,s)`` Decimal(p,s): the
  dtypes DuckDB gives, money never through a float);
- frames in: DuckDB inserts a registered frame, PostgreSQL takes its rows through ``COPY`` (positionally:
  the frame's columns are the table's, in order, for both);
- the schema: the same DDL (``sql/catalog_schema.sql``). On PostgreSQL it lives in the schema ``recon``,
  its text columns compare bytewise (``COLLATE "C"``, as DuckDB's do) whatever the database's collation, so
  every ``ORDER BY`` gives the order it gives on DuckDB; it is created, or brought up to date, under an
  advisory lock when its version (a hash of the DDL, kept as the schema's comment) differs, so two processes
  may create it at once and an up-to-date schema costs one query per connection;
- transactions: a writing session runs the statements the catalog sends (``BEGIN`` ... ``COMMIT``) as they
  come (autocommit otherwise); a session that is closed, or whose process dies, before ``COMMIT`` leaves
  nothing (the server rolls the transaction back when the connection ends). A reading session is one
  read-only snapshot (``REPEATABLE READ``): every query of a method sees the same committed state;
- where it is (``location``; a URL without its password), whether it exists, and how ``recon catalog
  rebuild`` moves it aside: the file renamed, the schema renamed.

A PostgreSQL catalog also carries the workspace lock across hosts (``pipelines.run.lock``): a session
holding a session-level advisory lock (``lock_session``, ``try_lock``), released when the session ends,
however its process ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import duckdb
import polars as pl

from pipelines.core import sqlfiles
from pipelines.core.config import wait_seconds

if TYPE_CHECKING:
    import psycopg


class Rows(Protocol):
    """The result of ``Session.execute`` (a DB-API cursor)."""

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Session(Protocol):
    """One connection to the catalog's database."""

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Rows: ...

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame: ...

    def insert_frame(self, table: str, frame: pl.DataFrame) -> None: ...

    def abandon(self) -> None: ...


class Backend(Protocol):
    """Where the catalog lives."""

    @property
    def location(self) -> str: ...

    def connect(self, read_only: bool = False) -> AbstractContextManager[Session]: ...

    def exists(self) -> bool: ...

    def move_aside(self, stamp: str) -> str | None: ...


# sessions ``held`` keeps open, by thread and catalog location
_HELD: dict[tuple[int, str], Session] = {}


@contextmanager
def held(backend: Backend) -> Iterator[None]:
    """One writing session for every call on the catalog at ``backend.location`` made inside (from this thread,
    through any ``Catalog`` of that location: ``held_session``), instead of one each: opening the DuckDB file
    costs about 20 ms of CPU (the engine builds its function catalog for every database it opens). For short
    spans of catalog work only: while it is held no other process can open the DuckDB file (they wait, ``_open``)."""
    key = (threading.get_ident(), backend.location)
    if key in _HELD:
        yield
        return
    with backend.connect(read_only=False) as con:
        _HELD[key] = con
        try:
            yield
        finally:
            del _HELD[key]


def held_session(backend: Backend) -> Session | None:
    """The session ``held`` keeps open for this thread on the catalog of ``backend``, if any."""
    return _HELD.get((threading.get_ident(), backend.location))


# ---- DuckDB: the file <home>/catalog.duckdb ---------------------------------------------------------------
class DuckDBSession:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Rows:
        return self.con.execute(sql) if params is None else self.con.execute(sql, list(params))

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        frame = pl.from_arrow(self.con.sql(sql, params=list(params or [])).to_arrow_table())
        assert isinstance(frame, pl.DataFrame)
        return frame

    def insert_frame(self, table: str, frame: pl.DataFrame) -> None:
        self.con.register("frame_src", frame)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM frame_src")
        finally:
            self.con.unregister("frame_src")

    def abandon(self) -> None:
        """Roll back the transaction a failed method left open (none open: nothing to do)."""
        try:
            self.con.execute("ROLLBACK")
        except duckdb.Error:
            pass


class DuckDBBackend:
    """The embedded default: one file, one writing process at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def location(self) -> str:
        return str(self.path)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[DuckDBSession]:
        if read_only and not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.connect(read_only=False):
                pass
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open(read_only)
        try:
            if not read_only:
                con.execute(sqlfiles.load("catalog_schema"))
            yield DuckDBSession(con)
        finally:
            con.close()

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """The file opened; while another process has it open in a way that excludes this one (a writer, or
        readers when this one writes: DuckDB locks the file per process), tried again for up to
        ``RECON_LOCK_WAIT_SECONDS`` (a reader such as a partition task holds it for the few queries it runs)."""
        deadline = time.monotonic() + wait_seconds()
        pause = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                if "Could not set lock" not in str(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def exists(self) -> bool:
        return self.path.exists()

    def move_aside(self, stamp: str) -> str | None:
        """Rename the file (and its write-ahead log) to ``catalog.duckdb.replaced-<stamp>``; return its path."""
        if not self.path.exists():
            return None
        kept = self.path.with_name(f"{self.path.name}.replaced-{stamp}")
        self.path.rename(kept)
        wal = self.path.with_name(self.path.name + ".wal")
        if wal.exists():
            wal.rename(kept.with_name(kept.name + ".wal"))
        return str(kept)


# ---- PostgreSQL: RECON_CATALOG_URL=postgresql://... -------------------------------------------------------
SCHEMA = "recon"
#: ``pg_advisory_xact_lock`` key of the schema's creation (any fixed number: "recon" in ASCII)
SCHEMA_LOCK_KEY = 0x7265636F6E
#: ``pg_advisory_lock`` key of the workspace lock: one writer per catalog database ("recon" "W")
WORKSPACE_LOCK_KEY = 0x7265636F6E57
#: a session's settings: the catalog's schema; timestamps read back in UTC and dates as ISO text whatever the
#: server's defaults; a transaction left open by a client that hangs (not one that dies: the server sees
#: that at once) is ended after 5 minutes rather than holding its row locks
SESSION_OPTIONS = (
    f"-c search_path={SCHEMA} -c TimeZone=UTC -c DateStyle=ISO -c idle_in_transaction_session_timeout=300000"
)
_VARCHAR = re.compile(r"\bVARCHAR\b(?!\s*\[)")


def postgres_ddl() -> str:
    """``sql/catalog_schema.sql`` with its text columns collated bytewise (``COLLATE "C"``), as DuckDB's."""
    return _VARCHAR.sub('VARCHAR COLLATE "C"', sqlfiles.load("catalog_schema"))


def schema_version() -> str:
    return "recon catalog " + hashlib.sha256(postgres_ddl().encode()).hexdigest()[:16]


def postgres_polars_type(column: Any) -> pl.DataType:
    """The Polars dtype of a result column (a psycopg ``Column``), as DuckDB's Arrow gives it."""
    from psycopg.postgres import types

    info = types.get(column.type_code)
    name = info.name if info is not None else str(column.type_code)
    simple: dict[str, pl.DataType] = {
        "int8": pl.Int64(),
        "int4": pl.Int32(),
        "int2": pl.Int16(),
        "varchar": pl.String(),
        "text": pl.String(),
        "bpchar": pl.String(),
        "name": pl.String(),
        "date": pl.Date(),
        "bool": pl.Boolean(),
        "float8": pl.Float64(),
        "timestamptz": pl.Datetime("us", "UTC"),
        "timestamp": pl.Datetime("us"),
        "_varchar": pl.List(pl.String()),
        "_text": pl.List(pl.String()),
    }
    if name in simple:
        return simple[name]
    if name == "numeric" and column.precision is not None:
        return pl.Decimal(column.precision, column.scale or 0)
    raise TypeError(f"catalog column {column.name!r}: no Polars type for PostgreSQL type {name}")


def _qmark_to_pyformat(sql: str) -> str:
    """The catalog's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresSession:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Rows:
        if params is None:  # as written (several statements may be sent at once)
            return self.conn.execute(sql)
        return self.conn.execute(_qmark_to_pyformat(sql), list(params))

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        cur = self.execute(sql, params)
        schema = {c.name: postgres_polars_type(c) for c in cur.description}
        return pl.DataFrame(cur.fetchall(), schema=schema, orient="row")

    def insert_frame(self, table: str, frame: pl.DataFrame) -> None:
        with self.conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
            for row in frame.iter_rows():
                copy.write_row(row)

    def abandon(self) -> None:
        """Roll back the transaction a failed method left open (none open: nothing to do)."""
        from psycopg import pq

        if self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
            self.conn.execute("ROLLBACK")


def masked(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresBackend:
    """A server database: concurrent readers and writers, on any host that reaches it."""

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def location(self) -> str:
        return masked(self.url)

    def _open(self, name: str | None = None) -> psycopg.Connection[Any]:
        """A session (autocommit) with the catalog's settings, named ``name`` (else the URL's name, else
        "recon catalog") where the server shows its sessions."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        given = conninfo_to_dict(self.url)
        options = " ".join(o for o in (str(given.get("options") or ""), SESSION_OPTIONS) if o)
        extra = {"application_name": name or given.get("application_name") or "recon catalog"}
        return psycopg.connect(make_conninfo(self.url, options=options, **extra), autocommit=True)

    def _current(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute(
            "SELECT d.description FROM pg_namespace n LEFT JOIN pg_description d "
            "ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass WHERE n.nspname = %s",
            [SCHEMA],
        ).fetchone()
        return bool(row and row[0] == schema_version())

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        """Create or update the schema unless it is current; one process at a time (advisory lock)."""
        if self._current(conn):
            return
        from psycopg import sql

        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEMA_LOCK_KEY])
            if self._current(conn):  # another process created it while this one waited
                return
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
            conn.execute(postgres_ddl())
            conn.execute(
                sql.SQL("COMMENT ON SCHEMA {} IS {}").format(sql.Identifier(SCHEMA), sql.Literal(schema_version()))
            )

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[PostgresSession]:
        from psycopg import IsolationLevel

        conn = self._open()
        try:
            self._ensure_schema(conn)
            if read_only:
                conn.autocommit = False
                conn.read_only = True
                conn.isolation_level = IsolationLevel.REPEATABLE_READ
            yield PostgresSession(conn)
            if read_only:
                conn.rollback()
        finally:
            conn.close()  # an open transaction (no COMMIT reached) is rolled back by the server

    def exists(self) -> bool:
        with self._open() as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{SCHEMA}.runs"]).fetchone()
        return bool(row and row[0])

    def move_aside(self, stamp: str) -> str | None:
        """Rename the schema to ``recon_replaced_<stamp>``; return where it is now."""
        from psycopg import sql

        kept = f"{SCHEMA}_replaced_{stamp.lower()}"
        with self._open() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEMA_LOCK_KEY])
            found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [SCHEMA]).fetchone()
            if found is None:
                return None
            conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(SCHEMA), sql.Identifier(kept)))
        return f"{self.location} (schema {kept})"

    # ---- the workspace lock (pipelines.run.lock) --------------------------------------------------------------
    def lock_session(self, name: str) -> psycopg.Connection[Any]:
        """A session to hold the workspace lock with, named ``name`` (what ``lock_holder`` reports)."""
        return self._open(name)

    @staticmethod
    def try_lock(session: psycopg.Connection[Any]) -> bool:
        """Take the workspace lock in ``session`` unless another session holds it (it is held until the
        session ends: closed, or its process gone)."""
        row = session.execute("SELECT pg_try_advisory_lock(%s)", [WORKSPACE_LOCK_KEY]).fetchone()
        return bool(row and row[0])

    def lock_holder(self) -> tuple[str, dt.datetime] | None:
        """The name of the session holding the workspace lock and since when it is idle holding it."""
        with self._open() as conn:
            row = conn.execute(
                "SELECT a.application_name, a.state_change FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = %s AND l.objid = %s "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                [WORKSPACE_LOCK_KEY >> 32, WORKSPACE_LOCK_KEY & 0xFFFFFFFF],
            ).fetchone()
        return (str(row[0]), row[1]) if row else None
