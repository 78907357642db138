"""Publishing a run's outputs to S3, against moto's S3 server on loopback (no mock of the publisher).

Invariants asserted here:

1. A reader who follows the date's pointer (``LATEST.json``) reads a complete version only: the pointer is
   written after the version's marker, the marker after every object, the claim before any of them.
2. A complete version never changes; a re-run whose outputs differ (same run id, after a resolution) is a new
   version (``v2``, ...) and the pointer moves to it; outputs identical to the newest version are a no-op.
3. A publication that fails half-way is resumed in its own version; nothing a reader trusts is half-written.
4. An S3 endpoint that cannot be reached (closed port, unknown host, no answer) is one line naming the
   endpoint and the bucket, with no botocore traceback: for the publisher and for the S3 source transport.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import channel_with, settings_in
from servers import Fault, fault_proxy, free_port, s3_client, s3_connection_uri

from pipelines.core.channels import RetryPolicy
from pipelines.ingest import landing as ingest
from pipelines.ingest.transports import TransportError
from pipelines.publish.s3 import CLAIM, MARKER, POINTER, PublishError, S3Target, publish_run, read_publication

DATE = "2026-11-26"
DAY = dt.date.fromisoformat(DATE)
RUN = "run-0123abcd"
OTHER_RUN = "run-4567ef01"
FAST = RetryPolicy(attempts=2, backoff_seconds=0.01)
ROOT = "recon/outputs/"


def no_sleep(_: float) -> None:
    pass


@pytest.fixture
def target(endpoint: str, request: pytest.FixtureRequest) -> S3Target:
    bucket = "recon-pub-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:12]
    s3_client(endpoint).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return S3Target(bucket=bucket, prefix=ROOT, endpoint_url=endpoint, region="eu-west-1", addressing_style="path")


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    folder = tmp_path / "outputs" / DATE
    (folder / "sub").mkdir(parents=True)
    (folder / "summary.json").write_text('{"breaks": 15}\n')
    (folder / "breaks.csv").write_text("break_type,amount\namount_mismatch,100\n")
    (folder / "report.html").write_text("<html></html>\n")
    (folder / "sub" / "positions.csv").write_text("currency,net\nEUR,1\n")
    return folder


def version_prefix(version: int, run: str = RUN) -> str:
    return f"{ROOT}{DATE}/{run}/v{version}/"


def keys(endpoint: str, target: S3Target) -> list[str]:
    listed = s3_client(endpoint).list_objects_v2(Bucket=target.bucket, Prefix=ROOT)
    return sorted(str(o["Key"]) for o in listed.get("Contents", []))


def pointer(endpoint: str, target: S3Target) -> dict[str, Any] | None:
    client = s3_client(endpoint)
    try:
        body = client.get_object(Bucket=target.bucket, Key=f"{ROOT}{DATE}/{POINTER}")["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    doc: dict[str, Any] = json.loads(body)
    return doc


def recording_client(endpoint: str) -> tuple[Any, list[str]]:
    """A client that records the key of every PutObject, in order."""
    client = s3_client(endpoint)
    puts: list[str] = []
    client.meta.events.register("before-parameter-build.s3.PutObject", lambda params, **_: puts.append(params["Key"]))
    return client, puts


def shown_chain(exc: BaseException) -> list[BaseException]:
    """The exceptions a traceback of ``exc`` would print (causes, and contexts not suppressed)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None:
        out.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return out


# --------------------------------------------------------------------------------------------------
# versions and the date's pointer
# --------------------------------------------------------------------------------------------------
def test_claim_first_then_objects_then_marker_then_pointer(outputs: Path, target: S3Target, endpoint: str) -> None:
    client, puts = recording_client(endpoint)
    assert read_publication(target, DAY, client=client) is None
    assert read_publication(target, DAY, RUN, client) is None
    result = publish_run(outputs, DAY, RUN, target, client=client)
    prefix = version_prefix(1)
    assert result == {
        "status": "published",
        "prefix": f"s3://{target.bucket}/{prefix}",
        "run_id": RUN,
        "version": 1,
        "objects": 4,
        "pointer": f"s3://{target.bucket}/{ROOT}{DATE}/{POINTER}",
    }
    assert puts[0] == prefix + CLAIM
    assert sorted(puts[1:5]) == [prefix + k for k in ("breaks.csv", "report.html", "sub/positions.csv", "summary.json")]
    assert puts[5:] == [prefix + MARKER, f"{ROOT}{DATE}/{POINTER}"]

    marker = read_publication(target, DAY, client=client)  # what a reader finds through the pointer
    assert marker is not None and marker == read_publication(target, DAY, RUN, client)
    assert (marker["run_id"], marker["version"], marker["prefix"]) == (RUN, 1, prefix)
    for entry in marker["files"]:
        obj = client.get_object(Bucket=target.bucket, Key=marker["prefix"] + entry["key"], ChecksumMode="ENABLED")
        body = obj["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert hashlib.sha256((outputs / entry["key"]).read_bytes()).hexdigest() == entry["sha256"]
        assert obj["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    p = pointer(endpoint, target)
    assert p is not None and (p["run_id"], p["version"], p["marker"]) == (RUN, 1, prefix + MARKER)
    raw = client.get_object(Bucket=target.bucket, Key=prefix + MARKER)["Body"].read()
    assert p["marker_sha256"] == hashlib.sha256(raw).hexdigest()


def test_a_rerun_with_other_outputs_is_a_new_version_and_the_pointer_moves(
    outputs: Path, target: S3Target, endpoint: str
) -> None:
    publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    first = read_publication(target, DAY, client=s3_client(endpoint))
    (outputs / "summary.json").write_text('{"breaks": 14}\n')  # a break resolved, the date re-run: same run id
    second = publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    assert (second["status"], second["version"]) == ("published", 2)
    assert second["prefix"] == f"s3://{target.bucket}/{version_prefix(2)}"

    latest = read_publication(target, DAY, client=s3_client(endpoint))
    assert latest is not None and latest["version"] == 2
    summary = next(f for f in latest["files"] if f["key"] == "summary.json")
    assert summary["sha256"] == hashlib.sha256(b'{"breaks": 14}\n').hexdigest()
    assert read_publication(target, DAY, RUN, s3_client(endpoint)) == latest
    # the first version is still complete and unchanged
    assert read_publication(target, DAY, RUN, s3_client(endpoint), version=1) == first
    body = s3_client(endpoint).get_object(Bucket=target.bucket, Key=version_prefix(1) + "summary.json")["Body"]
    assert body.read() == b'{"breaks": 15}\n'

    # the resolution reopened: the first outputs again are newer than the second's, so a third version
    (outputs / "summary.json").write_text('{"breaks": 15}\n')
    third = publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    assert (third["status"], third["version"]) == ("published", 3)
    p = pointer(endpoint, target)
    assert p is not None and p["version"] == 3


def test_identical_outputs_published_again_are_a_no_op(outputs: Path, target: S3Target, endpoint: str) -> None:
    publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    before = keys(endpoint, target)
    client, puts = recording_client(endpoint)
    again = publish_run(outputs, DAY, RUN, target, client=client)
    assert (again["status"], again["version"]) == ("already published", 1)
    assert puts == []  # nothing written, not even the pointer
    assert keys(endpoint, target) == before


def test_another_run_of_the_date_moves_the_pointer_and_back(outputs: Path, target: S3Target, endpoint: str) -> None:
    publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    (outputs / "breaks.csv").write_text("break_type,amount\n")  # a late file arrived: other inputs, other run id
    other = publish_run(outputs, DAY, OTHER_RUN, target, client=s3_client(endpoint))
    assert other["version"] == 1
    marker = read_publication(target, DAY, client=s3_client(endpoint))
    assert marker is not None and (marker["run_id"], marker["version"]) == (OTHER_RUN, 1)

    # the first run's outputs published again (its complete version exists): no upload, the pointer follows
    (outputs / "breaks.csv").write_text("break_type,amount\namount_mismatch,100\n")
    client, puts = recording_client(endpoint)
    back = publish_run(outputs, DAY, RUN, target, client=client)
    assert (back["status"], back["version"]) == ("already published", 1)
    assert puts == [f"{ROOT}{DATE}/{POINTER}"]
    marker = read_publication(target, DAY, client=s3_client(endpoint))
    assert marker is not None and (marker["run_id"], marker["version"]) == (RUN, 1)


def test_a_failed_upload_is_resumed_in_its_own_version(outputs: Path, target: S3Target, endpoint: str) -> None:
    from botocore.exceptions import EndpointConnectionError

    publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    (outputs / "summary.json").write_text('{"breaks": 13}\n')
    client = s3_client(endpoint)
    puts: list[str] = []

    def flaky(params: dict[str, Any], **_: Any) -> None:
        puts.append(params["Key"])
        if len(puts) >= 3:  # the network goes away after the claim and one object
            raise EndpointConnectionError(endpoint_url=endpoint)

    client.meta.events.register("before-parameter-build.s3.PutObject", flaky)
    with pytest.raises(PublishError, match=r"failed after 2 attempt\(s\)"):
        publish_run(outputs, DAY, RUN, target, client=client, retry=FAST, sleep=no_sleep)
    assert puts[0] == version_prefix(2) + CLAIM
    assert not any(k.endswith((MARKER, POINTER)) for k in puts)
    # readers still see the first version, complete
    latest = read_publication(target, DAY, client=s3_client(endpoint))
    assert latest is not None and latest["version"] == 1
    assert read_publication(target, DAY, RUN, s3_client(endpoint)) == latest

    resumed = publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    assert (resumed["status"], resumed["version"]) == ("published", 2)  # the claimed version, not a third
    p = pointer(endpoint, target)
    assert p is not None and p["version"] == 2
    assert not [k for k in keys(endpoint, target) if "/v3/" in k]

    # an abandoned version of other outputs is skipped; the outputs of the newest complete one are a no-op
    (outputs / "summary.json").write_text('{"breaks": 12}\n')
    failing = s3_client(endpoint)

    def claim_only(params: dict[str, Any], **_: Any) -> None:
        if not params["Key"].endswith(CLAIM):
            raise EndpointConnectionError(endpoint_url=endpoint)

    failing.meta.events.register("before-parameter-build.s3.PutObject", claim_only)
    with pytest.raises(PublishError):
        publish_run(outputs, DAY, RUN, target, client=failing, retry=FAST, sleep=no_sleep)
    (outputs / "summary.json").write_text('{"breaks": 13}\n')
    assert publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))["status"] == "already published"
    (outputs / "summary.json").write_text('{"breaks": 11}\n')
    assert publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))["version"] == 4


def test_a_publisher_that_died_before_the_pointer_is_completed_by_the_retry(
    outputs: Path, target: S3Target, endpoint: str
) -> None:
    from botocore.exceptions import EndpointConnectionError

    client = s3_client(endpoint)

    def no_pointer(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].endswith(POINTER):
            raise EndpointConnectionError(endpoint_url=endpoint)

    client.meta.events.register("before-parameter-build.s3.PutObject", no_pointer)
    with pytest.raises(PublishError):
        publish_run(outputs, DAY, RUN, target, client=client, retry=FAST, sleep=no_sleep)
    assert read_publication(target, DAY, client=s3_client(endpoint)) is None  # no pointer yet: nothing to read
    assert read_publication(target, DAY, RUN, s3_client(endpoint)) is not None  # the version itself is complete
    again = publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    assert (again["status"], again["version"]) == ("already published", 1)
    assert read_publication(target, DAY, client=s3_client(endpoint)) is not None


def test_a_version_claimed_in_between_by_another_publisher_is_left_to_it(
    outputs: Path, target: S3Target, endpoint: str
) -> None:
    publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    (outputs / "summary.json").write_text('{"breaks": 9}\n')
    client = s3_client(endpoint)
    foreign = json.dumps({"run_id": RUN, "version": 2, "outputs_sha256": "0" * 64}).encode()

    def racing(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == version_prefix(2) + CLAIM and not keys(endpoint, target).count(params["Key"]):
            s3_client(endpoint).put_object(Bucket=target.bucket, Key=params["Key"], Body=foreign)

    client.meta.events.register("before-parameter-build.s3.PutObject", racing)
    result = publish_run(outputs, DAY, RUN, target, client=client)
    assert result["version"] == 3
    body = s3_client(endpoint).get_object(Bucket=target.bucket, Key=version_prefix(2) + CLAIM)["Body"].read()
    assert body == foreign  # the other publisher's claim is untouched
    latest = read_publication(target, DAY, client=s3_client(endpoint))
    assert latest is not None and latest["version"] == 3


def test_a_pointer_that_does_not_match_its_marker_is_refused(outputs: Path, target: S3Target, endpoint: str) -> None:
    publish_run(outputs, DAY, RUN, target, client=s3_client(endpoint))
    p = pointer(endpoint, target)
    assert p is not None
    p["marker_sha256"] = "0" * 64
    key = f"{ROOT}{DATE}/{POINTER}"
    s3_client(endpoint).put_object(Bucket=target.bucket, Key=key, Body=json.dumps(p).encode())
    with pytest.raises(PublishError, match="names a marker it does not match"):
        read_publication(target, DAY, client=s3_client(endpoint))


def test_target_from_environment_with_an_airflow_connection(
    outputs: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_client(endpoint).create_bucket(
        Bucket="recon-pub-env-v", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    monkeypatch.setenv("AIRFLOW_CONN_RECON_PUBLISH", s3_connection_uri(endpoint))
    monkeypatch.setenv("RECON_PUBLISH_S3_URL", "s3://recon-pub-env-v/nightly/")
    monkeypatch.setenv("RECON_PUBLISH_S3_CONNECTION", "recon_publish")
    target = S3Target.from_env()
    assert target is not None and (target.bucket, target.prefix) == ("recon-pub-env-v", "nightly/")
    assert publish_run(outputs, DAY, RUN, target)["objects"] == 4
    marker = read_publication(target, DAY)
    assert marker is not None and marker["prefix"] == f"nightly/{DATE}/{RUN}/v1/"
    monkeypatch.delenv("RECON_PUBLISH_S3_URL")
    assert S3Target.from_env() is None


# --------------------------------------------------------------------------------------------------
# an endpoint that cannot be reached: one line, the endpoint and the bucket, no botocore traceback
# --------------------------------------------------------------------------------------------------
def assert_one_line(exc: BaseException, endpoint: str, bucket: str, why: str) -> None:
    text = str(exc)
    assert "\n" not in text
    assert f"endpoint {endpoint}" in text and f"s3://{bucket}/" in text and why in text, text
    for shown in shown_chain(exc):
        assert not type(shown).__module__.startswith(("botocore", "urllib3")), shown_chain(exc)


def unreachable_target(endpoint: str) -> S3Target:
    return S3Target(
        bucket="recon-unreachable",
        prefix=ROOT,
        endpoint_url=endpoint,
        region="eu-west-1",
        addressing_style="path",
        timeout_seconds=1,
    )


@pytest.mark.parametrize(
    ("where", "why"),
    [("closed_port", "(connection refused)"), ("unknown_host", "(unknown host)"), ("no_answer", "read timed out")],
)
def test_an_unreachable_endpoint_is_one_line_naming_it(
    outputs: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch, where: str, why: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIARECONTEST0000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    port = int(endpoint.rsplit(":", 1)[1])
    with fault_proxy(port, [Fault(stall_after=0)] * 8) as proxy:
        url = {
            "closed_port": f"http://127.0.0.1:{free_port()}",
            "unknown_host": "http://recon-s3.invalid:9000",
            "no_answer": f"http://127.0.0.1:{proxy.port}",
        }[where]
        target = unreachable_target(url)
        with pytest.raises(PublishError) as err:
            publish_run(outputs, DAY, RUN, target, retry=FAST, sleep=no_sleep)
        assert_one_line(err.value, url, target.bucket, why)
        assert "failed after 2 attempt(s)" in str(err.value)
        with pytest.raises(PublishError) as read_err:
            read_publication(target, DAY, retry=FAST, sleep=no_sleep)
        assert_one_line(read_err.value, url, target.bucket, why)


def test_an_unreachable_source_endpoint_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The S3 source transport (a channel's files) fails the same way."""
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_RECON_S3_DOWN", s3_connection_uri(url))
    ch = channel_with(
        {
            "id": "psp_s3",
            "kind": "psp",
            "format": "stripe_payout_recon",
            "transport": "s3",
            "location": "s3://recon-source-bucket/stripe/payouts",
            "pattern": "*.csv",
            "s3": {"connection_id": "recon_s3_down", "addressing_style": "path", "timeout_seconds": 1},
            "retry": {"attempts": 2, "backoff_seconds": 0.01, "max_backoff_seconds": 0.01},
        },
        {},
    )
    with pytest.raises(TransportError) as err:
        ingest.pull_channel(ch, settings_in(tmp_path), dt.datetime(2026, 11, 27, 3, 30, tzinfo=dt.UTC))
    assert_one_line(err.value, url, "recon-source-bucket", "(connection refused)")
    assert str(err.value).startswith("channel psp_s3: failed after 2 attempt(s): listing s3://recon-source-bucket/")
