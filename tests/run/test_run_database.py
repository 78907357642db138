"""Where a run holds its tables (``reconcile.open_run``): in memory when they fit in half of DuckDB's memory limit
(``RECON_RUN_DATABASE=auto``, the default), else in a database file of the workspace's tmp folder; ``memory`` and
``file`` force either. The published outputs are the same bytes either way: the sample day in one process, and
the four-day scenario (carried items, late files) with the DAG's steps over checkpoints in a file against one
process in memory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, tree_bytes

from pipelines.core.config import Settings
from pipelines.run import stages
from pipelines.run.reconcile import (
    RUN_BYTES_PER_ROW,
    RUN_DATABASE,
    memory_bytes,
    open_run,
    run_database_in_memory,
)

DAY = dt.date(2026, 11, 26)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5729MiB", 5729 * 2**20),
        ("8GB", 8 * 10**9),
        ("1.5 GiB", 3 * 2**29),
        ("512kb", 512_000),
        ("100", 100),
        ("2T", 2 * 10**12),
        ("3 TiB", 3 * 2**40),
    ],
)
def test_memory_sizes_are_read_as_duckdb_reads_them(text: str, expected: int) -> None:
    assert memory_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "1 GBs", "-1GB", "1,5GB"])
def test_a_memory_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a memory size"):
        memory_bytes(text)


def test_the_tables_are_held_in_memory_when_they_take_at_most_half_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECON_RUN_DATABASE", raising=False)
    limit = "2GiB"
    fits = 2**30 // RUN_BYTES_PER_ROW  # rows whose tables take exactly half of the limit
    assert run_database_in_memory(fits, limit)
    assert not run_database_in_memory(fits + 1, limit)
    assert not run_database_in_memory(None, limit)  # unknown size: the file
    monkeypatch.setenv("RECON_DUCKDB_MEMORY", "100MB")  # the limit the run's DuckDB gets when none is given
    assert run_database_in_memory(50_000_000 // RUN_BYTES_PER_ROW)
    assert not run_database_in_memory(50_000_000 // RUN_BYTES_PER_ROW + 1)
    monkeypatch.setenv("RECON_RUN_DATABASE", "file")
    assert not run_database_in_memory(1, limit)
    monkeypatch.setenv("RECON_RUN_DATABASE", " Memory ")
    assert run_database_in_memory(10**12, limit) and run_database_in_memory(None, limit)
    monkeypatch.setenv("RECON_RUN_DATABASE", "disk")
    with pytest.raises(ValueError, match="RECON_RUN_DATABASE='disk': expected memory, file or auto"):
        run_database_in_memory(1, limit)


def test_a_run_held_in_memory_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(home=tmp_path / "home", rules=PROJECT_ROOT / "rules")
    monkeypatch.setenv("RECON_DUCKDB_MEMORY", "600MiB")
    monkeypatch.delenv("RECON_RUN_DATABASE", raising=False)
    with open_run(settings, rows=1000) as con:
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(1000)")
        (database, path) = con.execute(
            "SELECT database_name, path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchone() or ("", "")
        assert database == RUN_DATABASE and path is None
        assert con.execute("SELECT count(*) FROM run.t").fetchone() == (1000,)
    assert not list((settings.home / "tmp").glob("run-*"))
    with open_run(settings, rows=10**9) as con:  # a run too large for memory gets its file
        (path,) = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = 'run'").fetchone() or ("",)
        assert Path(str(path)).parent == settings.home / "tmp" and Path(str(path)).is_file()
    assert not list((settings.home / "tmp").glob("run-*"))


def test_the_sample_day_publishes_the_same_bytes_from_memory_and_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = {}
    for where in ("memory", "file"):
        monkeypatch.setenv("RECON_RUN_DATABASE", where)
        home = tmp_path / where
        stages.run_all(DAY, "nightly", str(home))
        published[where] = tree_bytes(home / "outputs" / DAY.isoformat())
    assert len(published["file"]) > 10 and published["memory"] == published["file"]


def _scenario(root: Path, where: str, steps: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    from samplegen import scenario

    monkeypatch.setenv("RECON_RUN_DATABASE", where)
    data, home = root / "data", root / "home"
    h, r = str(home), str(data / "rules")
    out: dict[str, bytes] = {}
    for k, day in enumerate(scenario.DAYS):
        scenario.write_all(data, scenario.DAYS[: k + 1])  # the files of that day arrive (and the rules)
        if steps:
            pulled = [stages.ingest_channel(c, h, r) for c in stages.channel_ids(h, r)]
            stages.register_files(pulled, h, r)
            stages.record_statuses(stages.normalise_channels(stages.channel_ids(h, r), day, h, r), h, r)
            for step in stages.STEPS:
                stages.reconcile_step(step, day, "nightly", h, r)
        else:
            stages.run_all(day, "nightly", h, r)
        out.update({f"{day}/{name}": v for name, v in tree_bytes(home / "outputs" / day.isoformat()).items()})
    return out


def test_the_scenario_s_days_publish_the_same_bytes_from_memory_and_from_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_memory = _scenario(tmp_path / "memory", "memory", steps=False, monkeypatch=monkeypatch)
    in_files = _scenario(tmp_path / "file", "file", steps=True, monkeypatch=monkeypatch)
    assert len(in_memory) > 40 and in_files == in_memory
