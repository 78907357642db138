"""S3 ingestion against an S3 API server on loopback (moto's ThreadedMotoServer), boto3 with endpoint_url.

Guarantees checked here:

1. Listing is paginated and incremental: an object whose ETag and size are unchanged since it was
   registered is not downloaded again (a recorded no-op).
2. Every download is verified by the strongest means the object offers: its SHA-256 checksum (single part),
   its composite SHA-256 (multipart with checksums), its MD5 ETag (single part), its multipart ETag.
3. Corrupted bytes and a connection cut mid-GET are retried on a fresh connection; nothing partial is left.
4. An object replaced under the same key is quarantined and reported as replaced, never landed over the
   processed one; an object replaced between listing and GET is left for the next poll.
5. Hostile keys are refused, zero-byte objects quarantined, moved objects not listed again.
6. The secret access key never appears in logs (botocore at DEBUG included) or errors.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import channel_with, settings_in
from servers import S3_SECRET, Fault, fault_proxy, s3_client, s3_connection_uri

from pipelines.catalog.store import Catalog, FileRecord, IngestEvent
from pipelines.core.channels import Channel
from pipelines.core.config import Settings
from pipelines.ingest import landing as ingest
from pipelines.ingest.transports import ConfigError
from pipelines.ingest.transports.s3 import S3Transport

NOW = dt.datetime(2026, 11, 27, 3, 30, tzinfo=dt.UTC)
CONN = "recon_s3_test"
PART = 5 * 1024 * 1024  # the smallest part S3 accepts (except the last one)


@pytest.fixture
def bucket(endpoint: str, request: pytest.FixtureRequest) -> str:
    digest = hashlib.sha256(request.node.name.encode()).hexdigest()[:16]
    name = f"recon-{digest}"
    s3_client(endpoint).create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return name


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_in(tmp_path)


def channel(bucket: str, endpoint: str, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> Channel:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", s3_connection_uri(endpoint))
    raw: dict[str, Any] = {
        "id": "psp_s3",
        "kind": "psp",
        "format": "stripe_payout_recon",
        "transport": "s3",
        "location": f"s3://{bucket}/stripe/payouts",
        "pattern": "*.csv",
        "s3": {"connection_id": CONN, "addressing_style": "path", "timeout_seconds": 5},
        "retry": {"attempts": 3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05},
    }
    return channel_with(raw, overrides)


def pull_and_register(ch: Channel, settings: Settings) -> tuple[list[FileRecord], list[IngestEvent], dict[str, int]]:
    records, events = ingest.pull_channel(ch, settings, NOW)
    counts = ingest.register(Catalog(settings.catalog_path), records, NOW, events)
    return records, events, counts


def put_multipart(client: Any, bucket: str, key: str, data: bytes, checksum: bool) -> None:
    extra = {"ChecksumAlgorithm": "SHA256"} if checksum else {}
    upload = client.create_multipart_upload(Bucket=bucket, Key=key, **extra)
    parts = []
    for number, offset in enumerate(range(0, len(data), PART), start=1):
        part = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=data[offset : offset + PART],
            **extra,
        )
        entry = {"PartNumber": number, "ETag": part["ETag"]}
        if checksum:
            entry["ChecksumSHA256"] = part["ChecksumSHA256"]
        parts.append(entry)
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def landed(settings: Settings, ch: Channel) -> dict[str, bytes]:
    root = settings.landing / ch.id
    return {p.name: p.read_bytes() for p in root.glob("??/*")} if root.exists() else {}


def no_leftovers(settings: Settings, ch: Channel) -> bool:
    folder = ingest.incoming_dir(settings, ch.id)
    return not folder.exists() or not any(folder.iterdir())


def test_paginated_incremental_listing(
    endpoint: str, bucket: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_client(endpoint)
    files = {f"payout_{i:02}.csv": f"payout,{i}\n".encode() for i in range(23)}
    for name, data in files.items():
        client.put_object(Bucket=bucket, Key=f"stripe/payouts/{name}", Body=data)
    client.put_object(Bucket=bucket, Key="stripe/other/outside.csv", Body=b"not this prefix\n")
    client.put_object(Bucket=bucket, Key="stripe/payouts/2026/nested.csv", Body=b"nested\n")
    client.put_object(Bucket=bucket, Key="stripe/payouts/readme.txt", Body=b"not the pattern\n")

    ch = channel(bucket, endpoint, monkeypatch, s3={"page_size": 5})
    records, events, counts = pull_and_register(ch, settings)
    assert sorted(r.file_name for r in records) == sorted(files)  # 5 pages of 5
    assert counts["new"] == 23 and events == []
    assert {r.source_path for r in records} == {f"s3://{bucket}/stripe/payouts/{n}" for n in files}

    records, events, counts = pull_and_register(ch, settings)  # nothing new: no object downloaded again
    assert counts["duplicate"] == 23 and counts["new"] == 0
    assert {r.verified_by for r in records} == {"unchanged listing"}

    recursive = channel(bucket, endpoint, monkeypatch, s3={"page_size": 5}, recursive=True)
    records, _, counts = pull_and_register(recursive, settings)
    assert counts["new"] == 1 and "nested.csv" in {r.file_name for r in records}


def test_every_object_is_verified_by_its_strongest_checksum(
    endpoint: str, bucket: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_client(endpoint)
    small = b"id,amount\n1,100\n"
    big = os.urandom(PART + 4321)
    big2 = os.urandom(PART + 1234)
    client.put_object(Bucket=bucket, Key="stripe/payouts/with_sha256.csv", Body=small, ChecksumAlgorithm="SHA256")
    client.put_object(Bucket=bucket, Key="stripe/payouts/plain.csv", Body=small + b"2,200\n")
    put_multipart(client, bucket, "stripe/payouts/multipart_sha256.csv", big, checksum=True)
    put_multipart(client, bucket, "stripe/payouts/multipart_plain.csv", big2, checksum=False)

    records, events, _ = pull_and_register(channel(bucket, endpoint, monkeypatch), settings)
    assert events == []
    assert {r.file_name: r.verified_by for r in records} == {
        "with_sha256.csv": "sha256",
        "plain.csv": "md5-etag",
        "multipart_sha256.csv": "sha256-composite",
        "multipart_plain.csv": "multipart-etag",
    }
    assert {r.file_name: r.file_id for r in records}["multipart_sha256.csv"] == sha(big)
    assert sha(big2) in landed(settings, channel(bucket, endpoint, monkeypatch))


@pytest.mark.parametrize("checksum", [False, True], ids=["multipart-etag", "composite-sha256"])
def test_corrupted_bytes_are_detected_and_downloaded_again(
    endpoint: str,
    bucket: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    checksum: bool,
) -> None:
    data = os.urandom(PART + 777)
    put_multipart(s3_client(endpoint), bucket, "stripe/payouts/big.csv", data, checksum=checksum)
    port = int(endpoint.rsplit(":", 1)[1])
    with fault_proxy(port, [Fault(flip_at=1_000_000)]) as proxy:
        ch = channel(bucket, endpoint.replace(str(port), str(proxy.port)), monkeypatch)
        records, events, _ = pull_and_register(ch, settings)
        assert proxy.connections >= 2  # the client that saw corrupt bytes was dropped, the retry reconnected
    assert [r.file_id for r in records] == [sha(data)] and events == []
    assert caplog.text.count("differs from the object's; retry 1/2") == 1
    assert landed(settings, ch) == {sha(data): data}
    assert no_leftovers(settings, ch)


def test_connection_cut_mid_get_leaves_nothing_and_the_retry_succeeds(
    endpoint: str, bucket: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = os.urandom(3_000_000)
    s3_client(endpoint).put_object(Bucket=bucket, Key="stripe/payouts/cut.csv", Body=data, ChecksumAlgorithm="SHA256")
    port = int(endpoint.rsplit(":", 1)[1])
    with fault_proxy(port, [Fault(cut_after=1_000_000)]) as proxy:
        ch = channel(bucket, endpoint.replace(str(port), str(proxy.port)), monkeypatch)
        records, _, _ = pull_and_register(ch, settings)
        assert proxy.connections == 3  # moto answers HTTP/1.0: listing, the cut GET, the GET again
    assert caplog.text.count("connection lost (ResponseStreamingError); retry 1/2") == 1
    assert [(r.file_id, r.verified_by) for r in records] == [(sha(data), "sha256")]
    assert no_leftovers(settings, ch)


def test_replaced_object_is_quarantined_never_landed_over_the_processed_one(
    endpoint: str, bucket: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_client(endpoint)
    key = "stripe/payouts/payout_2026-11-26.csv"
    first, second = b"payout,1,100\n", b"payout,1,999\n"
    client.put_object(Bucket=bucket, Key=key, Body=first, ChecksumAlgorithm="SHA256")
    ch = channel(bucket, endpoint, monkeypatch)
    _, _, counts = pull_and_register(ch, settings)
    assert counts["new"] == 1
    client.put_object(Bucket=bucket, Key=key, Body=second, ChecksumAlgorithm="SHA256")
    records, events, counts = pull_and_register(ch, settings)
    assert records == [] and counts["replaced"] == 1
    (event,) = events
    assert (event.file_id, event.previous_file_id) == (sha(second), sha(first))
    assert event.quarantine_path and Path(event.quarantine_path).read_bytes() == second
    assert landed(settings, ch) == {sha(first): first}
    assert [r["file_id"] for r in Catalog(settings.catalog_path).replaced_files()] == [sha(second)]


def test_object_replaced_between_listing_and_get_is_left_pending(
    endpoint: str, bucket: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_client(endpoint)
    key = "stripe/payouts/racing.csv"
    client.put_object(Bucket=bucket, Key=key, Body=b"v1\n")
    real_list = S3Transport._list

    def list_then_replace(self: S3Transport, recursive: bool, skip: frozenset[str]) -> Any:
        listing = real_list(self, recursive, skip)
        client.put_object(Bucket=bucket, Key=key, Body=b"v2, uploaded after the listing\n")
        return listing

    ch = channel(bucket, endpoint, monkeypatch)
    monkeypatch.setattr(S3Transport, "_list", list_then_replace)
    records, events, _ = pull_and_register(ch, settings)
    assert records == []
    assert [(e.outcome, "object replaced since it was listed" in e.reason) for e in events] == [("pending", True)]
    monkeypatch.setattr(S3Transport, "_list", real_list)
    records, events, _ = pull_and_register(ch, settings)
    assert [r.file_id for r in records] == [sha(b"v2, uploaded after the listing\n")] and events == []


def test_hostile_keys_empty_objects_and_move_after_download(
    endpoint: str, bucket: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_client(endpoint)
    for key, body in {
        "stripe/payouts/good.csv": b"good\n",
        "stripe/payouts/../escape.csv": b"dots\n",
        "stripe/payouts/sub/../../up.csv": b"dots\n",
        "stripe/payouts/back\\slash.csv": b"backslash\n",
        "stripe/payouts/empty.csv": b"",
    }.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    ch = channel(bucket, endpoint, monkeypatch, recursive=True, move_after_download="processed")
    records, events, counts = pull_and_register(ch, settings)
    assert [r.file_name for r in records] == ["good.csv"]
    assert {(e.file_name, e.outcome, e.reason) for e in events} == {
        ("../escape.csv", "refused", "name contains '..'"),
        ("sub/../../up.csv", "refused", "name contains '..'"),
        ("back\\\\slash.csv", "refused", "name contains a backslash"),
        ("empty.csv", "quarantined", "empty file (0 bytes)"),
    }
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="stripe/payouts/")["Contents"]}
    assert "stripe/payouts/processed/good.csv" in keys and "stripe/payouts/good.csv" not in keys
    records, _, _ = pull_and_register(ch, settings)
    assert records == []  # processed/ is never listed again


def test_secret_key_never_logged_and_errors_name_no_secret(
    endpoint: str,
    bucket: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore logs requests and headers at DEBUG
    s3_client(endpoint).put_object(Bucket=bucket, Key="stripe/payouts/x.csv", Body=b"x\n")
    records, _, _ = pull_and_register(channel(bucket, endpoint, monkeypatch), settings)
    assert len(records) == 1
    missing = channel(f"{bucket}-missing", endpoint, monkeypatch)
    with pytest.raises(ConfigError) as err:
        ingest.pull_channel(missing, settings, NOW)
    assert "no such bucket" in str(err.value)
    assert S3_SECRET not in caplog.text and S3_SECRET not in str(err.value)
    assert "Authorization" in caplog.text  # the DEBUG log was really captured
