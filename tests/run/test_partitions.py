"""Matching the first pairing (pay-in orders against PSP lines) partition by partition: one partition per PSP
channel and ``other``, each matched in a process of its own (the nightly DAG's mapped ``match_partition``
tasks), then joined by ``match``: the published outputs equal the one-process run's, byte for byte, on the
sample day and on every day of the four-day scenario (carried items, late files, duplicates). A partition of
other inputs, or a missing one, is never joined: ``match`` matches every pairing itself."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, tree_bytes
from helpers import stage_sample_day

from pipelines.run import checkpoint, stages

DAY = dt.date(2026, 11, 26)


def _partitions_in_processes(home: str, day: dt.date, mode: str = "nightly", rules: str | None = None) -> list[dict]:
    """Every partition of ``day`` matched at once, each in a process of its own (as the DAG's mapped tasks)."""
    import json

    code = (
        "import datetime as dt, json, sys\n"
        "from pipelines.run import stages\n"
        "out = stages.match_partition(sys.argv[1], dt.date.fromisoformat(sys.argv[2]), sys.argv[3], sys.argv[4], "
        "sys.argv[5] or None)\n"
        "print(json.dumps(out))\n"
    )
    names = stages.match_partitions(home, rules)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, name, day.isoformat(), mode, home, rules or ""],
            cwd=PROJECT_ROOT,
            env={**os.environ, "RECON_DUCKDB_THREADS": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in names
    ]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-3000:]
        done.append(json.loads(out.decode().strip().splitlines()[-1]))
    return done


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    home = tmp_path_factory.mktemp("one-process")
    stages.run_all(DAY, "nightly", str(home))
    return tree_bytes(home / "outputs" / DAY.isoformat())


def test_the_partitions_are_the_psp_channels_and_other() -> None:
    assert stages.match_partitions() == ["adyen_eu", "stripe_eu", "other"]


def test_partitions_matched_in_separate_processes_publish_what_one_process_publishes(
    tmp_path: Path, one_process: dict[str, bytes]
) -> None:
    home = stage_sample_day(tmp_path)
    done = _partitions_in_processes(home, DAY)
    assert [d["partition"] for d in done] == ["adyen_eu", "stripe_eu", "other"]
    assert all(d["ran"] for d in done)
    by_name = {d["partition"]: d["figures"]["matches"] for d in done}
    assert by_name["adyen_eu"] > 0 and by_name["stripe_eu"] > 0 and by_name["other"] == 0
    # a partition run again on the same inputs keeps its result
    again = stages.match_partition("adyen_eu", DAY, "nightly", home)
    assert again["ran"] is False and again["figures"]["matches"] == by_name["adyen_eu"]

    matched = stages.reconcile_step("match", DAY, "nightly", home)
    assert matched["figures"]["partitions"] == 3
    assert matched["figures"]["matches"] >= sum(by_name.values())
    assert not checkpoint.partitions_folder(stages.context(home).settings, DAY, "nightly").exists()
    for step in ("lifecycle", "clearing", "publish"):
        stages.reconcile_step(step, DAY, "nightly", home)
    assert tree_bytes(tmp_path / "outputs" / DAY.isoformat()) == one_process


def test_a_partition_of_other_inputs_or_a_missing_one_is_not_joined(
    tmp_path: Path, one_process: dict[str, bytes]
) -> None:
    home = stage_sample_day(tmp_path)
    for name in stages.match_partitions(home):
        stages.match_partition(name, DAY, "nightly", home)
    folder = checkpoint.partitions_folder(stages.context(home).settings, DAY, "nightly")
    (folder / "stripe_eu" / checkpoint.KEY_FILE).write_text("other inputs")
    assert stages.reconcile_step("match", DAY, "nightly", home)["figures"]["partitions"] == 0
    checkpoint.discard(stages.context(home).settings, DAY, "nightly")

    stages.match_partition("adyen_eu", DAY, "nightly", home)  # one of three
    assert stages.reconcile_step("match", DAY, "nightly", home)["figures"]["partitions"] == 0
    for step in ("lifecycle", "clearing", "publish"):
        stages.reconcile_step(step, DAY, "nightly", home)
    assert tree_bytes(tmp_path / "outputs" / DAY.isoformat()) == one_process


def test_an_unknown_partition_is_refused(tmp_path: Path) -> None:
    home = stage_sample_day(tmp_path)
    with pytest.raises(ValueError, match="no partition 'paypal_eu'"):
        stages.match_partition("paypal_eu", DAY, "nightly", home)


def _scenario_outputs(root: Path, partitioned: bool) -> dict[str, bytes]:
    """The four-day scenario reconciled day by day as the files arrive, the first pairing matched in
    partitions (``partitioned``) or in one process; every published output of every day."""
    from samplegen import scenario

    data, home = root / "data", root / "home"
    h, r = str(home), str(data / "rules")
    out: dict[str, bytes] = {}
    for k, day in enumerate(scenario.DAYS):
        scenario.write_all(data, scenario.DAYS[: k + 1])  # the files of that day arrive (and the rules)
        pulled = [stages.ingest_channel(c, h, r) for c in stages.channel_ids(h, r)]
        stages.register_files(pulled, h, r)
        stages.record_statuses(stages.normalise_channels(stages.channel_ids(h, r), day, h, r), h, r)
        if partitioned:
            done = _partitions_in_processes(h, day, "nightly", r)
            assert {d["partition"] for d in done} == set(stages.match_partitions(h, r))
            assert stages.reconcile_step("match", day, "nightly", h, r)["figures"]["partitions"] == len(done)
        for step in stages.STEPS:
            stages.reconcile_step(step, day, "nightly", h, r)
        out.update({f"{day}/{k2}": v for k2, v in tree_bytes(home / "outputs" / day.isoformat()).items()})
    return out


def test_the_scenario_days_partitioned_publish_what_one_process_publishes(tmp_path: Path) -> None:
    one = _scenario_outputs(tmp_path / "one", partitioned=False)
    parts = _scenario_outputs(tmp_path / "parts", partitioned=True)
    assert len(one) > 4 and parts == one
