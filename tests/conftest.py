"""Shared fixtures. Invariants every run proves (checked by pipelines.run.reconcile and asserted here):

1. Every input row ends in exactly one outcome: matched, break, quarantined, no_settlement_expected
   (or reference, for FX rates). Counts add up per file.
2. Per file and currency, the amounts of all outcomes add up to the amounts that came in.
3. No item is used twice in a pairing; every match balances within the tolerance recorded on it.
4. Net positions recomputed from the staged lines and matched bank credits equal the published ones.
5. Same inputs and rules give byte-identical outputs.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
logging.getLogger("great_expectations").setLevel(logging.WARNING)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Airflow reads its configuration when first imported: point it at a scratch home (embedded SQLite) and at
# the project's DAGs before any test imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="recon-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
os.environ.pop("RECON_HOME", None)
os.environ.pop("RECON_RULES", None)
os.environ.pop("RECON_CATALOG_URL", None)  # the DuckDB file, unless a test chooses its backend (catalog_backend)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) for DagBag and dag.test() runs."""
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "airflow"), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return _AIRFLOW_HOME


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (following the outputs symlink) by relative path."""
    root = folder.resolve()
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    """A fresh workspace in the test's temporary folder, with the project's rules (``helpers.settings_in``)."""
    from helpers import settings_in

    return settings_in(tmp_path)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """An empty local folder a channel pulls from."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """An S3 API server (moto's server mode) on loopback, one per test module."""
    from servers import moto_server

    with moto_server() as url:
        yield url


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A PostgreSQL cluster for the session, started when a test first needs it (``tests/pg_server.py``)."""
    from pg_server import pg_cluster as cluster

    with cluster() as running:
        yield running


@pytest.fixture(params=["duckdb", "postgres"])
def catalog_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Runs a test once per catalog backend: the DuckDB file of the workspace, then a fresh PostgreSQL
    database named in ``RECON_CATALOG_URL`` (``pg_server.CatalogBackend``)."""
    from pg_server import backend

    cluster = request.getfixturevalue("pg_cluster") if request.param == "postgres" else None
    yield from backend(request.param, cluster, monkeypatch)
