"""The nightly DAG (``dag.test()``) with adyen_eu pulled from a real SFTP server and stripe_eu from an S3 API
server, both through Airflow Connections given as ``AIRFLOW_CONN_*`` environment variables, reconciles the
sample day to the same outcome as the local-folder run."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PROJECT_ROOT
from servers import SshServer, s3_client, s3_connection_uri

from pipelines.catalog.store import Catalog
from pipelines.ingest.transports import connections
from pipelines.run import stages as pipeline

DATE = "2026-11-26"
SAMPLES = PROJECT_ROOT / "data_samples"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


def remote_rules(tmp_path: Path, sftp_folder: Path) -> Path:
    """The project's rules, with adyen_eu on SFTP and stripe_eu on S3; the other channels stay local."""
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    for path in (rules / "channels").glob("*.yaml"):
        raw: dict[str, Any] = yaml.safe_load(path.read_text())
        if raw["id"] == "adyen_eu":
            raw.update(
                transport="sftp",
                location=str(sftp_folder),
                sftp={"connection_id": "adyen_sftp", "timeout_seconds": 10},
                stability={"polls": 2, "interval_seconds": 0.2},
                completion={"policy": "marker", "marker": "{name}.done"},
            )
        elif raw["id"] == "stripe_eu":
            raw.update(transport="s3", location="s3://recon-stripe/reports/payouts", s3={"connection_id": "stripe_s3"})
        else:
            raw["location"] = str(PROJECT_ROOT / raw["location"])
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return rules


def test_nightly_dag_with_sftp_and_s3_channels_matches_the_local_run(
    airflow_db: Path, sshd: SshServer, endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    folder = sshd.data / "outbound" / "settlement"
    folder.mkdir(parents=True)
    for path in sorted((SAMPLES / "adyen").glob("*.csv")):
        shutil.copy(path, folder / path.name)
        (folder / f"{path.name}.done").write_bytes(b"")
    client = s3_client(endpoint)
    client.create_bucket(Bucket="recon-stripe", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for path in sorted((SAMPLES / "stripe").glob("*.csv")):
        client.put_object(
            Bucket="recon-stripe",
            Key=f"reports/payouts/{path.name}",
            Body=path.read_bytes(),
            ChecksumAlgorithm="SHA256",
        )
    monkeypatch.setenv("AIRFLOW_CONN_ADYEN_SFTP", json.dumps(sshd.connection()))  # JSON form
    monkeypatch.setenv("AIRFLOW_CONN_STRIPE_S3", s3_connection_uri(endpoint))  # URI form
    rules = remote_rules(tmp_path, folder)
    through_airflow: list[str] = []
    real_from_airflow = connections._from_airflow

    def spy(conn_id: str) -> connections.ConnectionInfo:
        through_airflow.append(conn_id)
        return real_from_airflow(conn_id)

    monkeypatch.setattr(connections, "_from_airflow", spy)

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).get_dag("recon_nightly")
    assert dag is not None
    home = tmp_path / "remote"
    monkeypatch.setenv("RECON_HOME", str(home))  # the deployment's workspace and rules
    monkeypatch.setenv("RECON_RULES", str(rules))
    run = dag.test(
        run_conf={"business_date": DATE},
        logical_date=dt.datetime(2026, 11, 27, 3, 30, tzinfo=dt.UTC),
    )
    assert run.state == "success"
    assert sorted(through_airflow) == ["adyen_sftp", "stripe_s3"]  # resolved inside the tasks by Airflow
    monkeypatch.delenv("RECON_HOME")  # the local run below uses the project's rules in its own workspace
    monkeypatch.delenv("RECON_RULES")

    local = pipeline.run_all(dt.date.fromisoformat(DATE), "nightly", str(tmp_path / "local"))
    remote_summary = json.loads((home / "outputs" / DATE / "summary.json").read_text())
    local_summary = json.loads((Path(local["output"]) / "summary.json").read_text())
    for key in ("breaks", "matches", "outcomes", "rows_in", "files"):
        assert remote_summary[key] == local_summary[key], key
    assert all(inv["ok"] for inv in remote_summary["invariants"].values())

    deliveries = Catalog(home / "catalog.duckdb").deliveries()
    sources = {d["channel"]: d["source_path"] for d in deliveries}
    assert sources["adyen_eu"].startswith(f"sftp://adyen_sftp{folder}/settlement_detail_report_batch_")
    assert sources["stripe_eu"] == "s3://recon-stripe/reports/payouts/payout_reconciliation_itemized_2026-11-26.csv"
    # the 11 files of data_samples (8 pay-in files, the SEPA and PIX pain.002 and the ACH NACHA file)
    assert len(deliveries) == 11 and {d["outcome"] for d in deliveries} == {"new"}
