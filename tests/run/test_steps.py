"""The run of a date as separate steps (match, lifecycle, clearing, publish: the nightly DAG's tasks) over
checkpoints: the same outputs, byte for byte, as the run in one process; each step runs only its own phase;
a retried step does nothing again; a step whose inputs changed since the checkpoint starts again from match;
a publication that crashed before its commit is retried from the clearing checkpoint."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, tree_bytes
from helpers import stage_sample_day

from pipelines.run import stages

DAY = dt.date(2026, 11, 26)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    home = tmp_path_factory.mktemp("one-process")
    stages.run_all(DAY, "nightly", str(home))
    return tree_bytes(home / "outputs" / DAY.isoformat())


def test_steps_publish_what_one_process_publishes(tmp_path: Path, one_process: dict[str, bytes]) -> None:
    home = stage_sample_day(tmp_path)
    work = tmp_path / "work" / DAY.isoformat() / "nightly"
    ran = {}
    for step in stages.STEPS:
        done = stages.reconcile_step(step, DAY, "nightly", home)
        ran[step] = done["ran"]
        if step != "publish":
            assert sorted(p.name for p in work.iterdir()) == [step]  # only the last step's checkpoint is kept
    assert ran == {"match": ["match"], "lifecycle": ["lifecycle"], "clearing": ["clearing"], "publish": []}
    assert done["figures"]["breaks"] > 0 and done["figures"]["files"] > 0
    assert not work.exists()  # published: the checkpoints are gone
    assert tree_bytes(tmp_path / "outputs" / DAY.isoformat()) == one_process
    runs = stages.context(home).catalog.runs(DAY)
    assert len(runs) == 1 and runs[0]["mode"] == "nightly"


def test_a_retried_step_does_not_run_again_and_each_step_resumes(tmp_path: Path) -> None:
    home = stage_sample_day(tmp_path)
    first = stages.reconcile_step("match", DAY, "nightly", home)
    assert first["ran"] == ["match"] and first["figures"]["matches"] > 0
    assert stages.reconcile_step("match", DAY, "nightly", home)["ran"] == []
    # a step whose predecessor did not run runs it first (the DAG never does this, a manual call may)
    assert stages.reconcile_step("clearing", DAY, "nightly", home)["ran"] == ["lifecycle", "clearing"]
    assert stages.reconcile_step("clearing", DAY, "nightly", home)["ran"] == []


def test_a_step_whose_inputs_changed_starts_again_from_match(tmp_path: Path) -> None:
    import dataclasses

    from pipelines.run import checkpoint

    home = stage_sample_day(tmp_path)
    stages.reconcile_step("match", DAY, "nightly", home)
    stages.reconcile_step("lifecycle", DAY, "nightly", home)
    runs_dir = tmp_path / "outputs" / ".runs" / DAY.isoformat()
    (folder,) = list(runs_dir.iterdir())  # the unpublished run folder of the lifecycle step
    # the same status recorded again: the same inputs, the checkpoint is taken
    catalog = stages.context(home).catalog
    catalog.record_file_statuses([next(iter(catalog.file_statuses().values()))], dt.datetime.now(dt.UTC))
    assert stages.reconcile_step("clearing", DAY, "nightly", home)["ran"] == ["clearing"]
    # a re-run of the date has checkpoints of its own: the nightly run's stay
    assert stages.reconcile_step("clearing", DAY, "rerun", home)["ran"] == ["match", "lifecycle", "clearing"]
    assert (tmp_path / "work" / DAY.isoformat() / "nightly" / "clearing").is_dir() and folder.is_dir()
    # a checkpoint of other inputs is dropped with its unpublished folder, and the step starts from match
    (tmp_path / "work" / DAY.isoformat() / "nightly" / "clearing" / checkpoint.KEY_FILE).write_text("other inputs")
    assert stages.reconcile_step("publish", DAY, "nightly", home)["ran"] == ["match", "lifecycle", "clearing"]
    assert not folder.exists()
    assert [r["mode"] for r in stages.context(home).catalog.runs(DAY)] == ["nightly"]

    # what the key follows: the file statuses, the history before the date, the intake, the mode, the rules
    ctx = stages.context(home)
    inp = stages._inputs(ctx, DAY, "rerun")
    key = checkpoint.fingerprint(inp)
    assert checkpoint.fingerprint(stages._inputs(ctx, DAY, "rerun")) == key  # stable
    first = next(iter(inp.statuses))
    fewer = dataclasses.replace(inp.statuses[first], rows_staged=inp.statuses[first].rows_staged - 1)
    changed = [
        dataclasses.replace(inp, statuses={**inp.statuses, first: fewer}),
        dataclasses.replace(inp, history=dataclasses.replace(inp.history, first_seen={"b-1": DAY})),
        dataclasses.replace(inp, intake=dataclasses.replace(inp.intake, taken=inp.intake.taken.head(1))),
        dataclasses.replace(inp, mode="nightly"),
        dataclasses.replace(inp, ruleset=inp.ruleset.model_copy(update={"version_hash": "other"})),
    ]
    assert all(checkpoint.fingerprint(other) != key for other in changed)
    # content, not the order a mapping was filled in nor which equal strings are one object
    seen = dict(reversed(list({"b-1": DAY, "b-2": DAY + dt.timedelta(days=1)}.items())))
    one = dataclasses.replace(
        inp, history=dataclasses.replace(inp.history, first_seen={"b-1": DAY, "b-2": DAY + dt.timedelta(days=1)})
    )
    other = dataclasses.replace(inp, history=dataclasses.replace(inp.history, first_seen=seen))
    copied = dataclasses.replace(
        inp, file_names={"".join(list(k)): "".join(list(v)) for k, v in inp.file_names.items()}
    )
    assert checkpoint.fingerprint(one) == checkpoint.fingerprint(other) != key
    assert checkpoint.fingerprint(copied) == key


def test_a_publication_killed_before_its_commit_is_retried_from_the_clearing_checkpoint(
    tmp_path: Path, one_process: dict[str, bytes]
) -> None:
    home = stage_sample_day(tmp_path)
    for step in ("match", "lifecycle", "clearing"):
        stages.reconcile_step(step, DAY, "nightly", home)
    code = (
        "import datetime as dt\n"
        "from pipelines.run import stages\n"
        f"stages.reconcile_step('publish', dt.date.fromisoformat('{DAY}'), 'nightly', {home!r})\n"
    )
    env = {**os.environ, "RECON_FAILPOINT": "after-outputs-written"}
    killed = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert not (tmp_path / "outputs" / DAY.isoformat()).exists()  # nothing published, nothing committed
    assert stages.context(home).catalog.runs(DAY) == []
    done = stages.reconcile_step("publish", DAY, "nightly", home)
    assert done["ran"] == []  # matching, lifecycle and clearing are not done again
    assert tree_bytes(tmp_path / "outputs" / DAY.isoformat()) == one_process


def test_a_publication_killed_after_its_commit_keeps_its_folder_when_its_checkpoints_go(tmp_path: Path) -> None:
    home = stage_sample_day(tmp_path)
    for step in ("match", "lifecycle", "clearing"):
        stages.reconcile_step(step, DAY, "nightly", home)
    code = (
        "import datetime as dt\n"
        "from pipelines.run import stages\n"
        f"stages.reconcile_step('publish', dt.date.fromisoformat('{DAY}'), 'nightly', {home!r})\n"
    )
    env = {**os.environ, "RECON_FAILPOINT": "after-switch"}  # committed and shown, checkpoints not yet removed
    killed = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    shown = (tmp_path / "outputs" / DAY.isoformat()).resolve()
    assert (shown / "summary.json").is_file()
    assert (tmp_path / "work" / DAY.isoformat() / "nightly" / "clearing").is_dir()
    # the next run of the date: its inputs differ (a run is committed), the stale checkpoint goes, the folder stays
    assert stages.reconcile_step("match", DAY, "nightly", home)["ran"] == ["match"]
    assert (shown / "summary.json").is_file() and (tmp_path / "outputs" / DAY.isoformat()).resolve() == shown
