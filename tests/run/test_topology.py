"""The distributed topology on loopback: PostgreSQL (a cluster the test creates with initdb: Airflow's metadata
database, Celery's result backend and the recon catalog, each a database of its own), Redis (Debian's
``redis-server``, the Celery broker), Airflow's API server, scheduler and dag-processor and two Celery workers
(``apache-airflow-providers-celery``), each a process of its own with its own environment.

``recon_nightly`` is triggered for the sample day through the REST API; the test checks that both workers ran
tasks of the run (each reports its own host name through ``[core] hostname_callable``), that the run succeeded,
and that its published outputs are byte-identical to those of an embedded run (``recon run``: DuckDB catalog,
one process).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from airflow_servers import Topology, airflow_services
from conftest import tree_bytes
from servers import redis_server

DATE = "2026-11-26"
NIGHTLY = "recon_nightly"
RUN_TIMEOUT_S = 900.0
WORKERS = ("a", "b")

pytestmark = pytest.mark.airflow_services


def test_the_nightly_run_on_celery_workers_with_postgresql_publishes_what_the_embedded_run_does(
    tmp_path: Path, pg_cluster: Any
) -> None:
    started = time.monotonic()
    metadata, catalog = pg_cluster.create_database(), pg_cluster.create_database()
    workspace = tmp_path / "workspace"
    try:
        with redis_server(tmp_path / "redis") as broker:
            topology = Topology(
                database_url=pg_cluster.url(metadata).replace("postgresql://", "postgresql+psycopg://", 1),
                broker_url=broker,
                result_backend="db+" + pg_cluster.url(metadata).replace("postgresql://", "postgresql+psycopg://", 1),
                workers={name: {"RECON_TEST_WORKER": f"worker-{name}"} for name in WORKERS},
                env={
                    "RECON_CATALOG_URL": pg_cluster.url(catalog),
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_servers.worker_hostname",
                },
            )
            with airflow_services(tmp_path / "deployment", workspace, topology=topology) as af:
                af.wait_dags(NIGHTLY)
                assert af.call("PATCH", f"/dags/{NIGHTLY}", {"is_paused": False})["is_paused"] is False
                af.trigger(NIGHTLY, "nightly-1", {"business_date": DATE})
                run = af.wait_finished(NIGHTLY, "nightly-1", RUN_TIMEOUT_S)
                tis = af.task_instances(NIGHTLY, "nightly-1")
                failed = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in tis if ti["state"] != "success"}
                assert run["state"] == "success", f"{failed}\n{af.tails()}"
                hosts = {ti["hostname"] for ti in tis if ti["state"] == "success"}
                ran = time.monotonic()
    finally:
        for database in (metadata, catalog):
            pg_cluster.drop_database(database)
    assert hosts == {f"worker-{name}" for name in WORKERS}, hosts

    from pipelines.run import stages

    embedded = tmp_path / "embedded"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RECON_CATALOG_URL", raising=False)
        stages.run_all(dt.date.fromisoformat(DATE), "nightly", str(embedded))
    published = tree_bytes(workspace / "outputs" / DATE)
    assert "report.html" in published and "summary.json" in published
    assert published == tree_bytes(embedded / "outputs" / DATE)
    print(f"topology: the nightly run took {ran - started:.0f} s from start, {len(tis)} task instances")
