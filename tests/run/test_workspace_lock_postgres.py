"""The workspace lock with the catalog in PostgreSQL (``RECON_CATALOG_URL``): processes on different hosts
exclude each other through an advisory lock of the catalog's database. Two hosts are played by two workspace
folders, whose file locks never meet, sharing one catalog. The file lock alone (no catalog URL) is tested,
unchanged, in ``tests/run/test_workspace_lock.py``.

1. A second host gives up after its wait, naming the holder (pid, host, command, business date, since when).
2. A holder killed with ``kill -9`` holds the lock no longer: the server ends its session.
3. Within a process the lock is re-entered without a second session; let go, the next holder gets it at once.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT
from pg_server import PgCluster

from pipelines.core.config import CATALOG_URL_ENV
from pipelines.run import lock as workspace

DAY = dt.date(2026, 11, 26)
_HOLD = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from pipelines.run.lock import workspace_lock
    with workspace_lock(sys.argv[1], "run (nightly)", dt.date(2026, 11, 26), 5):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


@pytest.fixture
def catalog_url(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    database = pg_cluster.create_database()
    monkeypatch.setenv(CATALOG_URL_ENV, pg_cluster.url(database))
    yield pg_cluster.url(database)
    pg_cluster.drop_database(database)


def test_a_second_host_gives_up_naming_the_holder_until_it_is_killed(catalog_url: str, tmp_path: Path) -> None:
    host_a, host_b = tmp_path / "host_a", tmp_path / "host_b"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(host_a), "600"], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        named = f"held by pid {holder.pid} on {socket.gethostname()} (run (nightly), business date 2026-11-26, since"
        with pytest.raises(workspace.WorkspaceBusy, match=re.escape(named)) as busy:
            with workspace.workspace_lock(host_b, "waiter", None, 0.3):
                pass
        assert f"workspace {host_b.resolve()} is busy" in str(busy.value)
        assert workspace.holder(host_b) is None and not workspace.held(host_b)  # its file lock let go too
    finally:
        holder.kill()
        holder.communicate()
    with workspace.workspace_lock(host_b, "next", DAY, 5):  # the server ended the killed holder's session
        assert workspace.held(host_b)


def test_re_entered_in_a_process_and_let_go_for_the_next(catalog_url: str, tmp_path: Path) -> None:
    host_a, host_b = tmp_path / "host_a", tmp_path / "host_b"
    with workspace.workspace_lock(host_a, "outer", DAY, 0):
        with workspace.workspace_lock(host_a, "inner", None, 0):  # run_all calling the other writers
            assert workspace.held(host_a)
        with pytest.raises(workspace.WorkspaceBusy, match=f"held by pid {os.getpid()} "):
            with workspace.workspace_lock(host_b, "other", None, 0):
                pass
    with workspace.workspace_lock(host_b, "other", None, 0):
        assert workspace.held(host_b) and not workspace.held(host_a)


def test_without_a_catalog_url_two_workspaces_are_two_locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOG_URL_ENV, raising=False)
    with workspace.workspace_lock(tmp_path / "a", "one", None, 0), workspace.workspace_lock(tmp_path / "b", "two"):
        assert workspace.held(tmp_path / "a") and workspace.held(tmp_path / "b")
