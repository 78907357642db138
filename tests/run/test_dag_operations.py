"""The reconciliation DAGs as an operator runs them (``dag.test()`` on the sample day): params validated
before anything runs, a channel subset, permanent errors failing without retry, the writing tasks in the
one-slot ``recon_workspace`` pool, one line of figures per task, and the asset event of the published
outputs driving ``recon_export``."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ROOT

DATE = "2026-11-26"
WHEN = dt.datetime(2026, 11, 27, 3, 30, tzinfo=dt.UTC)
WRITERS = {"register", "normalise", "record", "match", "lifecycle", "clearing", "publish"}


def _dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).get_dag(dag_id)
    assert dag is not None
    return dag


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def sample_run(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One nightly run of the sample day through Airflow, with the figures lines it logged; the workspace
    from the environment (the deployment), the pool ``recon_workspace`` not created."""
    home = tmp_path_factory.mktemp("deployment") / "home"
    figures_log = logging.getLogger("pipelines.run.task_support")
    handler, level = _Lines(), figures_log.level
    figures_log.addHandler(handler)
    figures_log.setLevel(logging.INFO)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECON_HOME", str(home))
        try:
            run = _dag("recon_nightly").test(run_conf={"business_date": DATE}, logical_date=WHEN)
        finally:
            figures_log.removeHandler(handler)
            figures_log.setLevel(level)
        yield {"run": run, "home": home, "lines": handler.lines}


def _states(run: Any) -> dict[tuple[str, int], tuple[str, int]]:
    return {(ti.task_id, ti.map_index): (ti.state, ti.try_number) for ti in run.get_task_instances()}


def test_business_date_is_a_date_param_validated_before_the_run(airflow_db: Path) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    dag = _dag("recon_nightly")
    param = dag.params.get_param("business_date")
    assert param.schema["format"] == "date" and "string" in param.schema["type"]  # the UI's date picker
    assert param.resolve(DATE) == DATE
    assert param.resolve(None) is None  # derived from the run
    for bad in ("2026-13-01", "26/11/2026", "2026-11-26T00:00:00"):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)
    with pytest.raises(ParamValidationError):
        dag.test(run_conf={"business_date": "2026-02-30"}, logical_date=WHEN)
    assert dag.params.get_param("channels").resolve([]) == []
    assert dag.params.get_param("renormalise_quarantined").resolve(False) is False
    with pytest.raises(ParamValidationError):
        dag.params.get_param("renormalise_quarantined").resolve("yes")
    assert not {"home", "rules"} & set(dag.params.keys())  # the deployment's, never a trigger's


def test_every_task_has_a_timeout_and_the_writers_share_the_one_slot_pool(airflow_db: Path) -> None:
    for dag_id in ("recon_nightly", "recon_intraday", "recon_export"):
        dag = _dag(dag_id)
        for t in dag.tasks:
            assert t.execution_timeout is not None and t.execution_timeout > dt.timedelta(0), (dag_id, t.task_id)
            assert (t.pool == "recon_workspace") == (t.task_id in WRITERS), (dag_id, t.task_id, t.pool)
    assert _dag("recon_nightly").get_task("ingest").retry_exponential_backoff


def test_the_sample_day_runs_without_the_pool_created(sample_run: dict[str, Any]) -> None:
    from airflow.models.pool import Pool

    assert Pool.get_pool("recon_workspace") is None  # dag.test() runs tasks without the scheduler's pool check
    assert sample_run["run"].state == "success"
    states = _states(sample_run["run"])
    assert {s for s, _ in states.values()} == {"success"}
    assert (sample_run["home"] / "outputs" / DATE / "summary.json").is_file()


def test_each_task_logs_one_line_of_figures(sample_run: dict[str, Any]) -> None:
    import json

    lines = [ln for ln in sample_run["lines"] if ln.startswith("figures ")]
    tasks = [ln.split(":", 1)[0].removeprefix("figures ") for ln in lines]
    instances = [task for task, _ in _states(sample_run["run"])]
    assert sorted(tasks) == sorted(instances)  # one line per task instance (mapped ones: one per channel)
    # the first pairing matched in one task per partition (PSP channels and other), joined by match
    partitions = sorted(ln for ln in lines if ln.startswith("figures match_partition:"))
    assert len(partitions) == 3 and all("ran=True" in ln for ln in partitions), partitions
    (matched,) = [ln for ln in lines if ln.startswith("figures match:")]
    assert "partitions=3" in matched and "ran=match" in matched
    (reconcile,) = [ln for ln in lines if ln.startswith("figures publish:")]
    summary = json.loads((sample_run["home"] / "outputs" / DATE / "summary.json").read_text())
    at_risk = summary["money_at_risk"]
    assert f"breaks={summary['breaks']['total']} " in reconcile
    assert f"files={len(summary['files'])} " in reconcile
    assert reconcile.endswith(at_risk["reporting_currency"])
    assert at_risk["total_reporting_minor"] > 0
    from pipelines.core.money import format_minor

    money = format_minor(at_risk["total_reporting_minor"], at_risk["reporting_currency"])
    assert f"money_at_risk={money} {at_risk['reporting_currency']}" in reconcile


def test_the_published_outputs_emit_an_asset_event_and_the_export_dag_copies_the_workbook(
    sample_run: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    run = sample_run["run"]
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "recon_outputs", AssetEvent.source_run_id == run.run_id)
            .all()
        )
        assert len(events) == 1
        extra = dict(events[0].extra)
    assert extra["business_date"] == DATE and extra["dates"] == [DATE]
    assert Path(extra["output"]).resolve() == (sample_run["home"] / "outputs" / DATE).resolve()

    export_dir = tmp_path / "exports"
    monkeypatch.setenv("RECON_HOME", str(sample_run["home"]))
    monkeypatch.setenv("RECON_EXPORT_DIR", str(export_dir))
    exported = _dag("recon_export").test(logical_date=WHEN + dt.timedelta(minutes=5))
    assert exported.state == "success"
    name = f"recon_{DATE}.xlsx"
    published = sample_run["home"] / "outputs" / DATE / name
    assert (export_dir / name).read_bytes() == published.read_bytes()
    assert [p.name for p in export_dir.iterdir()] == [name]  # no temporary file left


def test_a_channel_subset_processes_only_those_channels(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.catalog.store import Catalog

    home = tmp_path / "home"
    monkeypatch.setenv("RECON_HOME", str(home))
    run = _dag("recon_nightly").test(
        run_conf={"business_date": DATE, "channels": ["stripe_eu", "orders"]}, logical_date=WHEN
    )
    states = _states(run)
    for task in ("ingest", "normalise", "deliveries"):
        assert sorted(m for t, m in states if t == task) == [0, 1]
    assert states[("list_channels", -1)][0] == "success"
    assert states[("register", -1)][0] == "success" and states[("record", -1)][0] == "success"
    catalog = Catalog(home / "catalog.duckdb")
    channels = {s.channel for s in catalog.file_statuses().values()}
    assert channels == {"orders", "stripe_eu"}


def _fails_at_list_channels_without_retry(run: Any) -> None:
    assert run.state == "failed"
    states = _states(run)
    assert states[("list_channels", -1)] == ("failed", 1)  # failed at its first try, no retry left pending
    assert not any(s == "up_for_retry" for s, _ in states.values())
    assert "ingest" not in {t for t, _ in states if states[(t, _)][0] == "success"}


def test_an_unknown_channel_fails_at_once_naming_the_known_ones(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipelines.run.task_support import failing_at_once, select_channels

    with pytest.raises(AirflowFailException, match=r"unknown channel\(s\) nope; known: orders, stripe_eu"):
        with failing_at_once():
            select_channels(["orders", "nope"], ["orders", "stripe_eu"])
    monkeypatch.setenv("RECON_HOME", str(tmp_path / "home"))
    run = _dag("recon_nightly").test(run_conf={"business_date": DATE, "channels": ["nope"]}, logical_date=WHEN)
    _fails_at_list_channels_without_retry(run)
    assert not (tmp_path / "home" / "catalog.duckdb").exists()  # nothing written


def test_invalid_rules_are_a_permanent_error(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    path = rules / "channels" / "stripe_eu.yaml"
    path.write_text(path.read_text() + "\nnot_a_field: 1\n")
    monkeypatch.setenv("RECON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECON_RULES", str(rules))
    run = _dag("recon_nightly").test(run_conf={"business_date": DATE}, logical_date=WHEN)
    _fails_at_list_channels_without_retry(run)


def test_a_transient_error_keeps_its_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.run.task_support import failing_at_once

    with pytest.raises(OSError, match="connection reset"):  # not AirflowFailException: retried with backoff
        with failing_at_once():
            raise OSError("connection reset")
