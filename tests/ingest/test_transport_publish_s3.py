"""Publishing a run's outputs to S3 (moto server on loopback): the marker is written last, a failed upload
leaves no publication a reader would see, a complete publication never changes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import moto_server, s3_client, s3_connection_uri

from pipelines.core.channels import RetryPolicy
from pipelines.publish.s3 import MARKER, PublishError, S3Target, publish_run, read_publication

DATE = "2026-11-26"
DAY = dt.date.fromisoformat(DATE)
RUN = "run-0123abcd"
FAST = RetryPolicy(attempts=2, backoff_seconds=0.01)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def target(endpoint: str, request: pytest.FixtureRequest) -> S3Target:
    bucket = "recon-pub-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:12]
    s3_client(endpoint).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return S3Target(bucket=bucket, prefix="recon/outputs/", endpoint_url=endpoint, region="eu-west-1")


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    folder = tmp_path / "outputs" / DATE
    (folder / "sub").mkdir(parents=True)
    (folder / "summary.json").write_text('{"breaks": 15}\n')
    (folder / "breaks.csv").write_text("break_type,amount\namount_mismatch,100\n")
    (folder / "report.html").write_text("<html></html>\n")
    (folder / "sub" / "positions.csv").write_text("currency,net\nEUR,1\n")
    return folder


def test_publication_is_complete_and_its_marker_written_last(outputs: Path, target: S3Target, endpoint: str) -> None:
    client = s3_client(endpoint)
    order: list[str] = []
    client.meta.events.register("before-parameter-build.s3.PutObject", lambda params, **_: order.append(params["Key"]))
    assert read_publication(target, DAY, RUN, client) is None
    result = publish_run(outputs, DAY, RUN, target, client=client)
    prefix = f"recon/outputs/{DATE}/{RUN}/"
    assert result == {"status": "published", "prefix": f"s3://{target.bucket}/{prefix}", "objects": 4}
    assert order[-1] == prefix + MARKER and len(order) == 5
    marker = read_publication(target, DAY, RUN, client)
    assert marker is not None
    assert [f["key"] for f in marker["files"]] == ["breaks.csv", "report.html", "sub/positions.csv", "summary.json"]
    for entry in marker["files"]:
        obj = client.get_object(Bucket=target.bucket, Key=prefix + entry["key"], ChecksumMode="ENABLED")
        body = obj["Body"].read()
        assert (
            hashlib.sha256(body).hexdigest()
            == entry["sha256"]
            == hashlib.sha256((outputs / entry["key"]).read_bytes()).hexdigest()
        )
        assert obj["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()


def test_failed_upload_leaves_no_publication_and_the_retry_completes_it(
    outputs: Path, target: S3Target, endpoint: str
) -> None:
    from botocore.exceptions import EndpointConnectionError

    client = s3_client(endpoint)
    puts: list[str] = []

    def flaky(params: dict[str, Any], **_: Any) -> None:
        puts.append(params["Key"])
        if len(puts) >= 3:  # the network goes away after two objects
            raise EndpointConnectionError(endpoint_url=endpoint)

    client.meta.events.register("before-parameter-build.s3.PutObject", flaky)
    with pytest.raises(PublishError, match=r"failed after 2 attempt\(s\)"):
        publish_run(outputs, DAY, RUN, target, client=client, retry=FAST, sleep=lambda s: None)
    assert read_publication(target, DAY, RUN, client) is None  # readers see nothing
    assert not any(k.endswith(MARKER) for k in puts)

    result = publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    assert result["status"] == "published"
    assert read_publication(target, DAY, RUN, s3_client(endpoint)) is not None


def test_a_complete_publication_never_changes(outputs: Path, target: S3Target, endpoint: str) -> None:
    publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    again = publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    assert again["status"] == "already published"
    (outputs / "summary.json").write_text('{"breaks": 16}\n')
    with pytest.raises(PublishError, match="already published with different outputs"):
        publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    marker = read_publication(target, DAY, RUN, s3_client(endpoint))
    assert marker is not None
    assert hashlib.sha256(b'{"breaks": 15}\n').hexdigest() in {f["sha256"] for f in marker["files"]}


def test_target_from_environment_with_an_airflow_connection(
    outputs: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_client(endpoint).create_bucket(
        Bucket="recon-pub-env", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    monkeypatch.setenv("AIRFLOW_CONN_RECON_PUBLISH", s3_connection_uri(endpoint))
    monkeypatch.setenv("RECON_PUBLISH_S3_URL", "s3://recon-pub-env/nightly/")
    monkeypatch.setenv("RECON_PUBLISH_S3_CONNECTION", "recon_publish")
    target = S3Target.from_env()
    assert target is not None and (target.bucket, target.prefix) == ("recon-pub-env", "nightly/")
    assert publish_run(outputs, DAY, RUN, target)["objects"] == 4
    monkeypatch.delenv("RECON_PUBLISH_S3_URL")
    assert S3Target.from_env() is None
