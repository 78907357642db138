"""One writer per workspace: the workspace lock between real processes, ``breaks resolve`` during a run, and
what a run killed with ``kill -9`` leaves (its workers die with it; the next run cleans up after it).

A run is held "in the middle" by stopping its process (SIGSTOP) once it holds the lock, and let go on with
SIGCONT: the run itself is the real ``recon run`` of the sample day, unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from conftest import PROJECT_ROOT, tree_bytes

from pipelines.catalog.store import Catalog
from pipelines.run import lock as workspace
from pipelines.run import stages as pipeline

DATE = "2026-11-26"
DAY = dt.date.fromisoformat(DATE)
PYTHON = sys.executable


def recon(home: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """``recon --home HOME ARGS`` as a child process (its own pid: no shell between)."""
    return subprocess.Popen(
        [PYTHON, "-m", "pipelines.cli.main", "--home", str(home), *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def wait_for_holder(home: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until ``proc`` holds the workspace lock of ``home``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if (workspace.holder(home) or {}).get("pid") == proc.pid:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it was seen holding the lock: {finish(proc)}")
        time.sleep(0.01)
    pytest.fail("the run never took the workspace lock")


def state(pid: int) -> str:
    """The process state letter of ``pid`` ('gone' when it no longer exists; 'Z': dead, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Child processes of a test, ended (continued, then killed) whatever the test's outcome."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGCONT)
            p.kill()
            p.communicate()


@pytest.fixture(scope="module")
def clean_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The outputs of the sample day run alone in a fresh workspace."""
    home = tmp_path_factory.mktemp("clean")
    pipeline.run_all(DAY, "nightly", str(home))
    return tree_bytes(home / "outputs" / DATE)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_second_run_gives_up_naming_the_holder_and_the_first_completes(
    tmp_path: Path, clean_outputs: dict[str, bytes], procs: list[subprocess.Popen[str]]
) -> None:
    home = tmp_path / "ws"
    first = recon(home, "run", "--date", DATE)
    procs.append(first)
    wait_for_holder(home, first)
    os.kill(first.pid, signal.SIGSTOP)  # the first run, holding the lock, takes as long as we like
    try:
        holder = workspace.holder(home)
        assert holder is not None
        assert holder["business_date"] == DATE and holder["command"].startswith("recon run")
        assert holder["since"].endswith("Z") and holder["host"]
        started = time.monotonic()
        second = recon(home, "run", "--date", DATE, RECON_LOCK_WAIT_SECONDS="2")
        procs.append(second)
        rc, text = finish(second, timeout=60)
        took = time.monotonic() - started
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert rc == workspace.EXIT_BUSY, text
    assert 2 <= took < 30  # it waited, and gave up
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert f"pid {first.pid}" in lines[0] and "busy" in lines[0] and "RECON_LOCK_WAIT_SECONDS" in lines[0]
    assert DATE in lines[0]

    rc, text = finish(first)
    assert rc == 0, text
    assert tree_bytes(home / "outputs" / DATE) == clean_outputs
    assert workspace.holder(home) is None  # released: no holder recorded


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_resolve_during_a_run_waits_for_it_and_never_fails_it(
    tmp_path: Path, clean_outputs: dict[str, bytes], procs: list[subprocess.Popen[str]]
) -> None:
    home = tmp_path / "ws"
    pipeline.run_all(DAY, "nightly", str(home))
    break_id = pl.read_parquet(home / "outputs" / DATE / "breaks.parquet")["break_id"].sort()[0]
    resolve = ["breaks", "resolve", break_id, "--action", "accept", "--note", "known", "--by", "ops"]

    run = recon(home, "run", "--date", DATE)  # the same day again (every file a recorded no-op)
    procs.append(run)
    wait_for_holder(home, run)
    os.kill(run.pid, signal.SIGSTOP)
    try:
        impatient = recon(home, *resolve, RECON_RESOLVE_WAIT_SECONDS="1")
        procs.append(impatient)
        rc, text = finish(impatient, timeout=60)
        assert rc == workspace.EXIT_BUSY, text
        assert f"pid {run.pid}" in text and "RECON_RESOLVE_WAIT_SECONDS" in text and "Traceback" not in text

        patient = recon(home, *resolve)  # default wait: 60 s
        procs.append(patient)
        time.sleep(2)
        assert patient.poll() is None  # waiting for the run, not writing the catalog under it
    finally:
        os.kill(run.pid, signal.SIGCONT)
    rc, text = finish(run)
    assert rc == 0, text
    rc, text = finish(patient, timeout=90)
    assert rc == 0, text
    assert f"accept of {break_id}" in " ".join(text.split())
    assert [r["action"] for r in Catalog(home / "catalog.duckdb").resolutions(break_id)] == ["accept"]
    assert tree_bytes(home / "outputs" / DATE) == clean_outputs  # the run was published as if alone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_during_normalisation_leaves_no_worker_and_the_next_run_cleans_up(
    tmp_path: Path, clean_outputs: dict[str, bytes], procs: list[subprocess.Popen[str]]
) -> None:
    home = tmp_path / "ws"
    parked = home / "tmp" / "parsed"
    run = recon(home, "run", "--date", DATE, "--workers", "2")
    procs.append(run)
    end = time.monotonic() + 120
    while not parked.is_dir():  # the first channel parsed and parked: normalisation is under way
        if run.poll() is not None or time.monotonic() > end:
            pytest.fail(f"normalisation was not seen: {finish(run)}")
        time.sleep(0.002)
    os.kill(run.pid, signal.SIGSTOP)  # keep the run where it is while its workers are listed
    workers = children(run.pid)
    assert len(workers) >= 4, workers  # two parsers, two stagers (and the resource tracker)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()

    end = time.monotonic() + 10
    while time.monotonic() < end and any(state(pid) not in ("gone", "Z") for pid in workers):
        time.sleep(0.1)
    assert {pid: state(pid) for pid in workers if state(pid) not in ("gone", "Z")} == {}

    # what a run killed a moment later would also have left: a half-written file of a dead process and a
    # parked file; a temporary file of a live process (this one) is not touched
    dead_tmp = home / "staging" / f".{'0' * 64}.parquet.tmp-{run.pid}"
    dead_tmp.parent.mkdir(parents=True, exist_ok=True)
    dead_tmp.write_bytes(b"half")
    parked.mkdir(parents=True, exist_ok=True)
    (parked / f"{'0' * 64}.frame.arrow").write_bytes(b"half")
    live_tmp = home / "quarantine" / f".probe.parquet.tmp-{os.getpid()}"
    live_tmp.parent.mkdir(parents=True, exist_ok=True)
    live_tmp.write_bytes(b"live")

    again = recon(home, "run", "--date", DATE, "--workers", "2")
    procs.append(again)
    rc, text = finish(again)
    assert rc == 0, text
    assert not dead_tmp.exists()
    assert not parked.exists() or not any(parked.iterdir())
    leftovers = [p for p in home.rglob(".*.tmp-*") if p != live_tmp]
    assert leftovers == []
    assert live_tmp.exists()
    live_tmp.unlink()
    assert tree_bytes(home / "outputs" / DATE) == clean_outputs


_HOLD = textwrap.dedent(
    """
    import sys, time
    from pipelines.run.lock import workspace_lock
    with workspace_lock(sys.argv[1], "test holder", None, 5):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_lock_is_reentrant_in_a_process_and_exclusive_between_processes(tmp_path: Path) -> None:
    with workspace.workspace_lock(tmp_path, "outer", DAY, 0):
        with workspace.workspace_lock(tmp_path, "inner", None, 0):  # run_all calling the other writers
            assert workspace.held(tmp_path)
        assert workspace.held(tmp_path)
        assert json.loads((tmp_path / ".lock").read_text())["command"] == "outer"
        other = subprocess.run(
            [PYTHON, "-c", _HOLD, str(tmp_path), "0"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
        )
        assert other.returncode != 0
        assert "WorkspaceBusy" in other.stderr and f"pid {os.getpid()}" in other.stderr
    assert not workspace.held(tmp_path)
    assert workspace.holder(tmp_path) is None


def test_a_holder_killed_with_kill_9_releases_the_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [PYTHON, "-c", _HOLD, str(tmp_path), "600"], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(workspace.WorkspaceBusy, match=f"pid {holder.pid}"):
            with workspace.workspace_lock(tmp_path, "waiter", None, 0.3):
                pass
    finally:
        holder.kill()
        holder.communicate()
    with workspace.workspace_lock(tmp_path, "next", None, 0):  # at once: the kernel released it
        assert workspace.held(tmp_path)
