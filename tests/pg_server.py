"""A PostgreSQL cluster for the catalog tests, and the backend the catalog tests run against.

``PgCluster``: ``initdb`` in a temporary folder, the server started with ``pg_ctl`` on a unix socket in that
folder and on a free 127.0.0.1 port (password authentication there), one fresh database per test copied
from a template (``CREATE DATABASE ... TEMPLATE``), the cluster stopped and its folder removed at the end.
The template database compares text with ICU's ``en-US`` collation where the server has ICU (``b`` before
``Bank``), so a query whose order would depend on the database's collation gives another order than on
DuckDB and is caught. ``initdb`` refuses to run as root: as root the cluster runs as ``nobody`` (its
folder belongs to it), started through ``setpriv`` as ``tests/servers.py`` starts sshd. The binaries are
Debian's (``/usr/lib/postgresql/<version>/bin``, the newest; ``.ci/ensure-system-packages`` installs
``postgresql``), else those on the PATH; without them the PostgreSQL tests are skipped.

``CatalogBackend``: what a test parametrised over ``catalog_backend`` (``tests/conftest.py``) gets: the
backend's name, its ``RECON_CATALOG_URL`` (set in the environment for the test; None for DuckDB) and the
few things a test does to a catalog outside its interface (lose it, open another one for a second
workspace).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from servers import free_port

from pipelines.catalog.backends import SCHEMA
from pipelines.core.config import CATALOG_URL_ENV

if TYPE_CHECKING:
    import psycopg

USER = "recon"
PASSWORD = "recon-test-secret"  # a made-up value: the TCP listener asks for it (scram-sha-256)
TEMPLATE = "recon_template"
SETTINGS = {  # a throw-away cluster: no durability, little memory
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "40",
    "log_min_messages": "warning",
}


def pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl: Debian's newest, else the PATH's."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


@dataclass
class PgCluster:
    bin: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="recon-pg-")))
    port: int = 0
    started: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        """A database over the unix socket in the cluster's folder (trusted)."""
        return f"postgresql://{USER}@/{database}?host={self.root}&port={self.port}"

    def tcp_url(self, database: str) -> str:
        """The same database over 127.0.0.1, with the password."""
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, *cmd: str) -> list[str]:
        if os.geteuid() != 0:
            return list(cmd)
        nobody = pwd.getpwnam("nobody")
        return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", *cmd]

    def _run(self, *cmd: str) -> None:
        done = subprocess.run(self._as_owner(*cmd), capture_output=True, text=True, cwd=self.root)
        if done.returncode:
            raise RuntimeError(f"{Path(cmd[0]).name} failed ({done.returncode}): {done.stderr or done.stdout}")

    def start(self) -> PgCluster:
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, pwd.getpwnam("nobody").pw_uid, -1)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        pwfile.unlink()
        self.port = free_port()
        options = " ".join(
            [f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root}"]
            + [f"-c {k}={v}" for k, v in SETTINGS.items()]
        )
        log = str(self.root / "server.log")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", log, "-w", "-o", options, "start")
        self.started = True
        with self.admin() as conn:
            try:
                conn.execute(
                    f"CREATE DATABASE {TEMPLATE} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
                    "LOCALE 'C.UTF-8'"
                )
            except Exception:  # a server without ICU (or older than 15): the cluster's own collation
                conn.execute(f"CREATE DATABASE {TEMPLATE} TEMPLATE template0")
        return self

    @contextlib.contextmanager
    def admin(self) -> Iterator[psycopg.Connection[Any]]:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            yield conn

    def create_database(self) -> str:
        """A fresh database copied from the template; its name."""
        name = "t_" + uuid.uuid4().hex[:16]
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                capture_output=True,
                cwd=self.root,
            )
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    folder = pg_bin()
    if folder is None:
        pytest.skip("PostgreSQL is not installed (bash .ci/ensure-system-packages installs it)")
    cluster = PgCluster(folder)
    try:
        try:
            cluster.start()
        except RuntimeError as exc:
            log = cluster.root / "server.log"
            raise RuntimeError(f"{exc}\n{log.read_text() if log.exists() else ''}") from None
        yield cluster
    finally:
        cluster.stop()


@dataclass
class CatalogBackend:
    """The catalog backend of a test: ``duckdb`` (the file in each workspace) or ``postgres`` (a database of
    its own, named in ``RECON_CATALOG_URL``)."""

    name: str
    cluster: PgCluster | None = None
    databases: list[str] = field(default_factory=list)

    @property
    def url(self) -> str | None:
        """The test's ``RECON_CATALOG_URL`` (None: the DuckDB file of the workspace)."""
        return self.cluster.url(self.databases[0]) if self.cluster and self.databases else None

    def another_url(self) -> str | None:
        """A second, empty catalog (for a second workspace in the same test); None with DuckDB."""
        if self.cluster is None:
            return None
        self.databases.append(self.cluster.create_database())
        return self.cluster.url(self.databases[-1])

    def lose(self, home: Path) -> None:
        """The catalog of ``home`` lost: its file deleted, or its schema dropped."""
        if self.cluster is None:
            (home / "catalog.duckdb").unlink()
            return
        import psycopg

        with psycopg.connect(self.url or "", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")

    def schemas(self) -> list[str]:
        """The schemas of the test's database other than PostgreSQL's own (``recon``, and those moved aside)."""
        import psycopg

        with psycopg.connect(self.url or "", autocommit=True) as conn:
            rows = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg_%' AND nspname NOT IN "
                "('public', 'information_schema') ORDER BY 1"
            ).fetchall()
        return [r[0] for r in rows]


def backend(name: str, cluster: PgCluster | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[CatalogBackend]:
    """The backend ``name`` for one test: the environment names its catalog; its databases go afterwards."""
    if cluster is None:
        monkeypatch.delenv(CATALOG_URL_ENV, raising=False)
        yield CatalogBackend(name)
        return
    chosen = CatalogBackend(name, cluster, [cluster.create_database()])
    monkeypatch.setenv(CATALOG_URL_ENV, chosen.url or "")
    try:
        yield chosen
    finally:
        for database in chosen.databases:
            cluster.drop_database(database)
