"""The distributed topology on loopback, with no disk shared by the workers: PostgreSQL (a cluster the test
creates with initdb: Airflow's metadata database, Celery's result backend and the recon catalog, each a
database of its own), Redis (Debian's ``redis-server``, the Celery broker), an S3 API server (moto) holding the
workspace (``recon_home`` = ``s3://bucket/prefix``), Airflow's API server, scheduler and dag-processor and two
Celery workers (``apache-airflow-providers-celery``), each with its own empty local folder (``RECON_LOCAL_DIR``).

``recon_nightly`` is triggered for the sample day through the REST API; the test checks that the run
succeeded, that both workers ran tasks of it (each reports its own host name through ``[core]
hostname_callable``) and worked in their own folders only, and that the published outputs, read from S3
through the date's completion marker, are byte-identical to those of an embedded run (``recon run`` in a local
workspace: DuckDB catalog, one process).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from airflow_servers import Topology, airflow_services
from conftest import tree_bytes
from servers import S3_KEY_ID, S3_SECRET, redis_server, s3_client

from pipelines.core import config
from pipelines.run import s3home

DATE = "2026-11-26"
NIGHTLY = "recon_nightly"
RUN_TIMEOUT_S = 900.0
WORKERS = ("a", "b")
BUCKET, PREFIX = "recon-topology", "team/recon/"

pytestmark = pytest.mark.airflow_services


def _published_from_s3(s3: Any) -> dict[str, bytes]:
    """The date's outputs as the completion marker lists them, read straight from S3."""

    def get(rel: str) -> bytes:
        return bytes(s3.get_object(Bucket=BUCKET, Key=PREFIX + rel)["Body"].read())

    marker = json.loads(get(f"outputs/{DATE}{s3home.LINK_SUFFIX}"))
    return {name: get(f"outputs/{marker['target']}/{name}") for name in sorted(marker["objects"])}


def test_the_nightly_run_on_two_celery_workers_without_a_shared_disk_publishes_the_embedded_runs_bytes(
    tmp_path: Path, pg_cluster: Any, endpoint: str
) -> None:
    started = time.monotonic()
    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    metadata, catalog = pg_cluster.create_database(), pg_cluster.create_database()
    airflow_db = pg_cluster.url(metadata).replace("postgresql://", "postgresql+psycopg://", 1)
    local = {name: tmp_path / f"worker-{name}" / "local" for name in WORKERS}
    try:
        with redis_server(tmp_path / "redis") as broker:
            topology = Topology(
                database_url=airflow_db,
                broker_url=broker,
                result_backend="db+" + airflow_db,
                workers={
                    name: {"RECON_TEST_WORKER": f"worker-{name}", config.LOCAL_DIR_ENV: str(local[name])}
                    for name in WORKERS
                },
                env={
                    config.CATALOG_URL_ENV: pg_cluster.url(catalog),
                    s3home.ENDPOINT_ENV: endpoint,
                    "AWS_ACCESS_KEY_ID": S3_KEY_ID,
                    "AWS_SECRET_ACCESS_KEY": S3_SECRET,
                    "AWS_DEFAULT_REGION": "eu-west-1",
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_servers.worker_hostname",
                },
            )
            home = f"s3://{BUCKET}/{PREFIX.rstrip('/')}"
            with airflow_services(tmp_path / "deployment", home, topology=topology) as af:
                af.wait_dags(NIGHTLY)
                assert af.call("PATCH", f"/dags/{NIGHTLY}", {"is_paused": False})["is_paused"] is False
                af.trigger(NIGHTLY, "nightly-1", {"business_date": DATE})
                run = af.wait_finished(NIGHTLY, "nightly-1", RUN_TIMEOUT_S)
                tis = af.task_instances(NIGHTLY, "nightly-1")
                failed = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in tis if ti["state"] != "success"}
                assert run["state"] == "success", f"{failed}\n{af.tails()}"
                ran_on = {ti["hostname"] for ti in tis if ti["state"] == "success"}
                # the first pairing matched in one task per partition, on the workers, and joined by match
                xcom = f"/dags/{NIGHTLY}/dagRuns/nightly-1/taskInstances/%s/xcomEntries/%s"
                parts = sorted(ti["map_index"] for ti in tis if ti["task_id"] == "match_partition")
                done = [
                    af.call("GET", xcom % ("match_partition", "return_value"), map_index=i, deserialize=True)["value"]
                    for i in parts
                ]
                joined = af.call("GET", xcom % ("match", "figures"), deserialize=True)["value"]
                ran = time.monotonic()
    finally:
        for database in (metadata, catalog):
            pg_cluster.drop_database(database)
    assert ran_on == {f"worker-{name}" for name in WORKERS}, ran_on
    assert len(done) == 3 and all(d["ran"] is True for d in done), done
    assert joined["partitions"] == 3, joined
    # each worker worked in its own folder, and nothing was written where a shared workspace would be
    assert all((local[name] / ".sync").is_dir() for name in WORKERS)
    assert not (tmp_path / "deployment" / "var").exists()

    from pipelines.run import stages

    embedded = tmp_path / "embedded"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(config.CATALOG_URL_ENV, raising=False)
        stages.run_all(dt.date.fromisoformat(DATE), "nightly", str(embedded))
    expected = tree_bytes(embedded / "outputs" / DATE)
    assert "report.html" in expected and "summary.json" in expected
    assert _published_from_s3(s3) == expected
    print(f"topology: the nightly run took {ran - started:.0f} s from start, {len(tis)} task instances")
