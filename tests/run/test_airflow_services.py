"""``recon_nightly`` as a deployment runs it: a real scheduler (LocalExecutor), dag-processor and API server on
loopback (``tests/airflow_servers.py``), the runs triggered through the REST API with a conf, as an operator's
script would, and the published outputs compared byte for byte with a CLI run of the same date.

Two DAGs write one workspace: the nightly run and an intraday run of the same business date, triggered
together. Their writing tasks (register, normalise, record, match, lifecycle, clearing, publish) share the one-slot pool
``recon_workspace``: the test closes the pool (0 slots) until both runs wait at it, opens it (1 slot) and
checks that the writing tasks of both runs ran one at a time. A second trigger of ``recon_nightly`` itself
waits as a whole run (``max_active_runs`` is 1), queued behind the first.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from airflow_servers import POOL, Airflow, airflow_services
from conftest import tree_bytes

DATE = "2026-11-26"
WRITERS = ("register", "normalise", "record", "match", "lifecycle", "clearing", "publish")
NIGHTLY, INTRADAY = "recon_nightly", "recon_intraday"
RUN_TIMEOUT_S = 600.0

pytestmark = pytest.mark.airflow_services


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _state(af: Airflow, dag_id: str, run_id: str, task_id: str) -> str | None:
    return next(ti["state"] for ti in af.task_instances(dag_id, run_id) if ti["task_id"] == task_id)


def _pool_slots(af: Airflow, slots: int) -> None:
    body = {"name": POOL, "slots": slots, "include_deferred": False}
    assert af.call("PATCH", f"/pools/{POOL}", body, update_mask=["slots"])["slots"] == slots


def _writing(af: Airflow, runs: dict[str, str]) -> list[dict[str, Any]]:
    """The writing task instances of the runs (``dag_id -> run_id``), in the order they started."""
    found = [
        {**ti, "dag_id": dag_id}
        for dag_id, run_id in runs.items()
        for ti in af.task_instances(dag_id, run_id)
        if ti["task_id"] in WRITERS
    ]
    return sorted(found, key=lambda ti: _when(ti["start_date"]))


def test_runs_triggered_through_the_api_share_the_workspace_pool_and_publish_what_the_cli_does(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    workspace = tmp_path / "workspace"  # empty: the rules pull the sample day from data_samples/
    with airflow_services(tmp_path / "deployment", workspace) as af:
        af.wait_dags(NIGHTLY, INTRADAY)
        pool = af.call("GET", f"/pools/{POOL}")
        assert (pool["slots"], pool["include_deferred"]) == (1, False)
        _pool_slots(af, 0)  # closed: the writers line up
        for dag_id in (NIGHTLY, INTRADAY):
            assert af.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})["is_paused"] is False

        conf = {"business_date": DATE}
        nightly = af.trigger(NIGHTLY, "nightly-1", conf)
        assert nightly["conf"] == conf and nightly["logical_date"] is None
        af.trigger(INTRADAY, "intraday-1", conf)
        second = af.trigger(NIGHTLY, "nightly-2", {**conf, "mode": "rerun"})
        assert second["state"] == "queued"

        # both runs reach their first writing task and wait there for the pool
        af.wait(
            "both runs' register to wait for the pool",
            lambda: (
                _state(af, NIGHTLY, "nightly-1", "register") == "scheduled"
                and _state(af, INTRADAY, "intraday-1", "register") == "scheduled"
            ),
            timeout=RUN_TIMEOUT_S,
        )
        pool = af.call("GET", f"/pools/{POOL}")
        assert (pool["scheduled_slots"], pool["running_slots"], pool["queued_slots"]) == (2, 0, 0), pool
        # the second nightly run is still queued behind the first (one active run of a DAG at a time): it is
        # deleted, its run would only repeat the first
        assert af.dag_run(NIGHTLY, "nightly-2")["state"] == "queued"
        assert af.dag_run(NIGHTLY, "nightly-1")["state"] == "running"
        af.call("DELETE", f"/dags/{NIGHTLY}/dagRuns/nightly-2")
        gated = time.monotonic()

        _pool_slots(af, 1)
        runs = {NIGHTLY: "nightly-1", INTRADAY: "intraday-1"}
        finished = {dag_id: af.wait_finished(dag_id, run_id, RUN_TIMEOUT_S) for dag_id, run_id in runs.items()}
        ran = time.monotonic()
        failed = {
            (dag_id, ti["task_id"], ti["map_index"]): ti["state"]
            for dag_id, run_id in runs.items()
            for ti in af.task_instances(dag_id, run_id)
            if ti["state"] != "success"
        }
        assert {d: r["state"] for d, r in finished.items()} == {NIGHTLY: "success", INTRADAY: "success"}, (
            f"{failed}\n{af.tails()}"
        )

        writing = _writing(af, runs)
        assert len(writing) == 2 * (6 + 8) and {ti["pool"] for ti in writing} == {POOL}  # 8 channels normalised
        assert all(ti["try_number"] == 1 for ti in writing)  # never failed on a busy workspace lock
        for before, after in zip(writing, writing[1:], strict=False):
            assert _when(after["start_date"]) >= _when(before["end_date"]), (
                f"{before['dag_id']}.{before['task_id']}[{before['map_index']}] and "
                f"{after['dag_id']}.{after['task_id']}[{after['map_index']}] overlap"
            )
        last = [ti for ti in writing if ti["task_id"] == "publish"][-1]

    # the date's outputs are those of the publish that ran last; a CLI run of that mode publishes the same bytes
    from pipelines.run import stages

    mode = "nightly" if last["dag_id"] == NIGHTLY else "intraday"
    cli_home = tmp_path / "via-cli"
    stages.run_all(dt.date.fromisoformat(DATE), mode, str(cli_home))
    via_airflow = tree_bytes(workspace / "outputs" / DATE)
    assert "report.html" in via_airflow and "summary.json" in via_airflow
    assert via_airflow == tree_bytes(cli_home / "outputs" / DATE)
    print(
        f"airflow services: up and parsed in {gated - started:.0f} s (incl. gating), both runs {ran - gated:.0f} s, "
        f"total {time.monotonic() - started:.0f} s; last publish: {last['dag_id']}"
    )
