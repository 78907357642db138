"""The run's DuckDB settings from the environment: memory limit, threads and the most it may spill; its tables in a
database file of the workspace's tmp folder, removed when the run ends (``reconcile.open_run``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import PROJECT_ROOT

from pipelines.core.config import Settings
from pipelines.run.reconcile import RUN_DATABASE, duckdb_config, open_run, run_database_file, spill_folder


def test_spill_is_capped_by_recon_duckdb_max_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(home=tmp_path / "home", rules=PROJECT_ROOT / "rules")
    monkeypatch.delenv("RECON_DUCKDB_MAX_TEMP", raising=False)
    assert "max_temp_directory_size" not in duckdb_config(settings)
    monkeypatch.setenv("RECON_DUCKDB_MAX_TEMP", "3GB")
    monkeypatch.setenv("RECON_DUCKDB_MEMORY", "600MiB")
    config = duckdb_config(settings)
    assert config["max_temp_directory_size"] == "3GB" and config["temp_directory"] == str(spill_folder(settings))
    con = duckdb.connect(config=config)
    try:
        (cap,) = con.execute("SELECT current_setting('max_temp_directory_size')").fetchone() or ("",)
        assert cap == "2.7 GiB"  # 3 GB as DuckDB shows it
    finally:
        con.close()


def _run_files(settings: Settings) -> list[str]:
    return sorted(p.name for p in (settings.home / "tmp").glob("run-*"))


def test_the_run_s_tables_are_in_a_file_of_the_workspace_removed_when_the_run_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home", rules=PROJECT_ROOT / "rules")
    monkeypatch.setenv("RECON_DUCKDB_MEMORY", "600MiB")
    with open_run(settings) as con:
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(1000)")
        con.execute("CREATE TEMP TABLE u AS SELECT 1 AS j")
        (database, path) = con.execute(
            "SELECT database_name, path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchone() or ("", "")
        assert database == RUN_DATABASE and Path(str(path)).parent == settings.home / "tmp"
        assert con.execute("SELECT database_name FROM duckdb_tables() WHERE table_name = 't'").fetchall() == [
            (RUN_DATABASE,)
        ]
        assert Path(str(path)).name in _run_files(settings)
    assert _run_files(settings) == []
    with pytest.raises(RuntimeError), open_run(settings) as con:  # a failed run removes its file too
        con.execute("CREATE TABLE t AS SELECT 1 AS i")
        raise RuntimeError("the run failed")
    assert _run_files(settings) == []


def test_a_file_a_killed_process_left_is_removed_at_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home", rules=PROJECT_ROOT / "rules")
    monkeypatch.setenv("RECON_DUCKDB_MEMORY", "600MiB")
    mine = run_database_file(settings)
    host = mine.name.split("-")[1]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = settings.home / "tmp"
    folder.mkdir(parents=True)
    left = [
        f"run-{host}-{dead.stdout.strip()}-0000aaaa.duckdb",  # its process is gone: removed, with its WAL
        f"run-{host}-{dead.stdout.strip()}-0000aaaa.duckdb.wal",
    ]
    kept = [
        f"run-{host}-{os.getppid()}-0000bbbb.duckdb",  # a running process's
        f"run-otherhost-{dead.stdout.strip()}-0000cccc.duckdb",  # another host's
    ]
    for name in left + kept:
        (folder / name).write_bytes(b"")
    with open_run(settings):
        assert [n for n in kept + left if (folder / n).exists()] == kept
