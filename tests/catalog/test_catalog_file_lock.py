"""The DuckDB catalog file admits one process while another writes it (a partition task reading it while a step
of another run writes it, or the reverse): a session waits for the file up to ``RECON_LOCK_WAIT_SECONDS`` and then
fails with DuckDB's error."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest
from helpers import hold_duckdb_file

from pipelines.catalog.backends import DuckDBBackend


@pytest.mark.parametrize("read_only", [False, True])
def test_a_session_waits_for_the_file_another_process_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_only: bool
) -> None:
    monkeypatch.setenv("RECON_LOCK_WAIT_SECONDS", "20")
    backend = DuckDBBackend(tmp_path / "catalog.duckdb")
    with backend.connect():
        pass
    holder = hold_duckdb_file(backend.path, 1.5)
    start = time.monotonic()
    try:
        with backend.connect(read_only=read_only) as session:
            waited = time.monotonic() - start
            assert session.con.execute("SELECT count(*) FROM files").fetchone() == (0,)
    finally:
        holder.kill()
        holder.wait()
    assert 0.5 < waited < 20


def test_a_session_fails_once_the_wait_is_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECON_LOCK_WAIT_SECONDS", "1")
    backend = DuckDBBackend(tmp_path / "catalog.duckdb")
    holder = hold_duckdb_file(backend.path, 60)
    start = time.monotonic()
    try:
        with pytest.raises(duckdb.IOException, match="Could not set lock"), backend.connect():
            pass
    finally:
        holder.kill()
        holder.wait()
    assert 0.5 < time.monotonic() - start < 10
