"""The sample day run with its catalog in PostgreSQL, beside the same day run with the DuckDB file: what a
PostgreSQL catalog changes is where the state lives, nothing else.

1. ``recon run`` publishes byte-identical outputs (every file of ``outputs/<date>``, the catalog rows of
   ``.catalog/`` included), and the two catalogs hold the same rows (but for wall-clock times, the
   workspace's own path and the random part of a run folder's name).
2. A run killed (SIGKILL) between writing its outputs and committing them, inside the catalog transaction
   (``RECON_FAILPOINT=catalog-commit``), leaves what the commit writes (the run, the rows it leaves behind)
   in each catalog exactly as it was, and the outputs as published.
3. A run killed after the commit, before ``outputs/<date>`` is switched (``after-catalog-commit``), leaves
   each catalog with the new run; the next run completes the switch; both workspaces end byte-identical.
4. ``recon catalog rebuild`` keeps the old catalog aside (a renamed file, a renamed schema) and rebuilds the
   same rows on both (a lost one is refused the same way on both: ``tests/run/test_integrity.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ROOT, tree_bytes
from pg_server import CatalogBackend, PgCluster

from pipelines.catalog.store import LIFECYCLE_TABLES, Catalog, open_catalog
from pipelines.cli.main import main as recon
from pipelines.core import config
from pipelines.core.failpoints import ENV as FAILPOINT_ENV
from pipelines.publish.outputs import published_folder

DATE = "2026-11-26"
DAY = dt.date.fromisoformat(DATE)
TABLES = (
    "files",
    "deliveries",
    "remote_objects",
    "ingest_events",
    "file_status",
    "runs",
    "run_inputs",
    "open_items",
    "break_log",
    "break_closures",
    "position_log",
    "receipt_log",
    "metric_log",
    "resolutions",
)
CLOCK = {"arrived_at", "observed_at", "processed_at", "started_at", "finished_at", "first_seen", "last_seen"}
CLOCK |= {"recorded_at", "resolution_id"}  # a resolution's id hashes its time
COMMITTED = ("runs", *LIFECYCLE_TABLES)  # what a run's commit writes (its registration of files comes before)


@dataclass
class Workspace:
    """A workspace and its catalog's backend (a PostgreSQL database of its own, or the DuckDB file in ``home``)."""

    home: Path
    backend: CatalogBackend

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def url(self) -> str | None:
        return self.backend.url

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """The environment of a process working on this workspace: ``RECON_CATALOG_URL`` set or unset."""
        with pytest.MonkeyPatch.context() as mp:
            if self.url:
                mp.setenv(config.CATALOG_URL_ENV, self.url)
            else:
                mp.delenv(config.CATALOG_URL_ENV, raising=False)
            yield

    def catalog(self) -> Catalog:
        with self.active():
            return open_catalog(config.settings(self.home, None))

    def recon(self, *argv: str) -> int:
        with self.active():
            return recon(["--home", str(self.home), *argv])

    def killed_at(self, failpoint: str, *argv: str) -> subprocess.CompletedProcess[str]:
        """``recon --home H ARGV`` in a process of its own that kills itself at ``failpoint``."""
        env = {k: v for k, v in os.environ.items() if k != config.CATALOG_URL_ENV}
        env |= {FAILPOINT_ENV: failpoint} | ({config.CATALOG_URL_ENV: self.url} if self.url else {})
        return subprocess.run(
            [sys.executable, "-m", "pipelines.cli.main", "--home", str(self.home), *argv],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )

    def outputs(self) -> dict[str, bytes]:
        return tree_bytes(self.home / "outputs" / DATE)

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every catalog table's rows, sorted, without what differs by nature between two workspaces."""
        out = {}
        with self.catalog().connect(read_only=True) as con:
            for table in TABLES:
                cur = con.execute(f"SELECT * FROM {table}")
                names = [d[0] for d in cur.description]
                rows = [
                    tuple(self._same(n, v) for n, v in zip(names, row, strict=True) if n not in CLOCK)
                    for row in cur.fetchall()
                ]
                out[table] = sorted(rows, key=repr)
        return out

    def _same(self, name: str, value: Any) -> Any:
        if name == "summary" and isinstance(value, str):  # JSON: text from DuckDB, parsed by psycopg
            return json.loads(value)
        if name == "output_folder" and value:  # .runs/<date>/<run id>-<random>
            return re.sub(r"-[^-/]+$", "", value)
        if isinstance(value, str):
            return value.replace(str(self.home), "<home>")
        return value


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, pg_cluster: PgCluster) -> Iterator[dict[str, Workspace]]:
    """The sample day run in two fresh workspaces, one per catalog backend."""
    spaces = {
        "duckdb": Workspace(tmp_path_factory.mktemp("duckdb"), CatalogBackend("duckdb")),
        "postgres": Workspace(
            tmp_path_factory.mktemp("postgres"),
            CatalogBackend("postgres", pg_cluster, [pg_cluster.create_database()]),
        ),
    }
    try:
        for ws in spaces.values():
            assert ws.recon("run", "--date", DATE) == 0
        yield spaces
    finally:
        for database in spaces["postgres"].backend.databases:
            pg_cluster.drop_database(database)


def test_the_run_publishes_byte_identical_outputs_and_the_same_catalog_rows(both: dict[str, Workspace]) -> None:
    duck, pg = both["duckdb"], both["postgres"]
    assert pg.catalog().location.startswith("postgresql://") and not (pg.home / "catalog.duckdb").exists()
    outputs = duck.outputs()
    assert {"matches.parquet", "breaks.csv", "summary.json", "report.html", ".catalog/run.json"} <= set(outputs)
    assert pg.outputs() == outputs
    rows = duck.rows()
    assert rows["runs"] and rows["break_log"] and rows["metric_log"] and rows["files"]
    assert pg.rows() == rows


def test_a_run_killed_inside_the_catalog_commit_leaves_each_catalog_as_it_was(both: dict[str, Workspace]) -> None:
    for ws in both.values():
        rows, outputs = ws.rows(), ws.outputs()
        killed = ws.killed_at("catalog-commit", "run", "--date", DATE, "--mode", "rerun")
        assert killed.returncode == -9, killed.stderr[-2000:]
        after = ws.rows()
        assert {t: after[t] for t in COMMITTED} == {t: rows[t] for t in COMMITTED}, ws.name
        assert len(after["deliveries"]) > len(rows["deliveries"])  # the files seen again were registered before
        assert ws.outputs() == outputs, ws.name
    assert both["postgres"].rows() == both["duckdb"].rows()


def test_a_run_killed_after_the_commit_is_completed_by_the_next_the_same_on_both(both: dict[str, Workspace]) -> None:
    for ws in both.values():
        shown = published_folder(config.settings(ws.home, None), DAY)
        killed = ws.killed_at("after-catalog-commit", "run", "--date", DATE, "--mode", "rerun")
        assert killed.returncode == -9, killed.stderr[-2000:]
        committed = ws.catalog().published()[DAY]
        assert committed["mode"] == "rerun" and committed["output_folder"] != shown  # the new state, not shown yet
        assert published_folder(config.settings(ws.home, None), DAY) == shown
        assert ws.recon("run", "--date", DATE, "--mode", "rerun") == 0  # completes the switch first, then runs
    duck, pg = both["duckdb"], both["postgres"]
    assert pg.outputs() == duck.outputs()
    assert json.loads(pg.outputs()["summary.json"])["mode"] == "rerun"
    rows = duck.rows()
    assert sorted(r[2] for r in rows["runs"]) == ["nightly", "rerun", "rerun"]  # the mode of each run
    assert pg.rows() == rows


def test_catalog_rebuild_keeps_the_old_catalog_aside_and_rebuilds_the_same_on_both(
    both: dict[str, Workspace],
) -> None:
    for ws in both.values():
        published = ws.catalog().published()
        assert ws.recon("catalog", "rebuild") == 0
        assert ws.catalog().published() == published
    duck, pg = both["duckdb"], both["postgres"]
    assert [p.name.split(".replaced-")[0] for p in duck.home.glob("catalog.duckdb.replaced-*")] == ["catalog.duckdb"]
    kept = pg.backend.schemas()
    assert kept[0] == "recon" and len(kept) == 2 and kept[1].startswith("recon_replaced_")
    assert pg.rows() == duck.rows()
