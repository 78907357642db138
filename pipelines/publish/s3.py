"""Publish a run's outputs to S3 (optional per deployment), so readers never see a partial publication.

Layout: ``s3://<bucket>/<prefix><business_date>/<run_id>/<file>`` for every file of the run's outputs
folder, then ``.../<run_id>/_COMPLETE.json``, written last, which lists every object with its size and
SHA-256. A publication exists only once its marker exists: a reader lists nothing, it reads the marker
and then exactly the objects it names (``read_publication``). An upload that fails half-way leaves
objects without a marker, which no reader trusts, and the retry overwrites them.

Every object is uploaded with its SHA-256 checksum, which S3 verifies on receipt. The marker is written
with ``If-None-Match: *``: a complete publication is never changed. Publishing the same outputs again is
a no-op; different outputs under the same run id (which names the inputs and rules) are refused.

Where to publish: ``S3Target.from_env()`` reads ``RECON_PUBLISH_S3_URL`` (``s3://bucket/prefix``),
``RECON_PUBLISH_S3_CONNECTION`` (an Airflow ``aws`` connection id; default: the AWS credential chain),
``RECON_PUBLISH_S3_ENDPOINT_URL`` and ``RECON_PUBLISH_S3_REGION``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.core.channels import RetryPolicy
from pipelines.ingest.transports.base import CHUNK, TransportError, with_retries
from pipelines.ingest.transports.connections import get_connection
from pipelines.ingest.transports.s3 import make_client, s3_error

log = logging.getLogger(__name__)
MARKER = "_COMPLETE.json"
SINGLE_PUT_LIMIT = 64 * 1024 * 1024  # bytes; larger files go up in parts (composite SHA-256)


class PublishError(RuntimeError):
    """The publication cannot be completed (or would change a complete one)."""


@dataclass(frozen=True)
class S3Target:
    bucket: str
    prefix: str = ""
    connection_id: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str = "auto"
    timeout_seconds: float = 30.0

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Target:
        if not url.startswith("s3://"):
            raise PublishError(f"{url!r}: an s3://bucket/prefix URL is expected")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        prefix = prefix.strip("/")
        return cls(bucket=bucket, prefix=f"{prefix}/" if prefix else "", **options)

    @classmethod
    def from_env(cls) -> S3Target | None:
        url = os.environ.get("RECON_PUBLISH_S3_URL")
        if not url:
            return None
        return cls.from_url(
            url,
            connection_id=os.environ.get("RECON_PUBLISH_S3_CONNECTION") or None,
            endpoint_url=os.environ.get("RECON_PUBLISH_S3_ENDPOINT_URL") or None,
            region=os.environ.get("RECON_PUBLISH_S3_REGION") or None,
        )

    def client(self) -> Any:
        conn = get_connection(self.connection_id) if self.connection_id else None
        return make_client(
            conn,
            endpoint_url=self.endpoint_url,
            region=self.region,
            timeout=self.timeout_seconds,
            addressing_style=self.addressing_style,
        )

    def run_prefix(self, day: dt.date, run_id: str) -> str:
        return f"{self.prefix}{day.isoformat()}/{run_id}/"


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _manifest(folder: Path, day: dt.date, run_id: str) -> dict[str, Any]:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest, size = _sha256_file(path)
        files.append({"key": path.relative_to(folder).as_posix(), "size": size, "sha256": digest})
    if not files:
        raise PublishError(f"{folder}: no output to publish")
    return {"business_date": day.isoformat(), "run_id": run_id, "files": files}


def read_publication(target: S3Target, day: dt.date, run_id: str, client: Any = None) -> dict[str, Any] | None:
    """The marker of a complete publication, or None when the run is not (completely) published."""
    from botocore.exceptions import ClientError

    client = client or target.client()
    key = target.run_prefix(day, run_id) + MARKER
    try:
        body = client.get_object(Bucket=target.bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise s3_error(exc, f"reading s3://{target.bucket}/{key}") from None
    result: dict[str, Any] = json.loads(body)
    return result


def publish_run(
    output_dir: Path,
    day: dt.date,
    run_id: str,
    target: S3Target,
    *,
    client: Any = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Upload every file of ``output_dir`` under the run prefix, then the completion marker."""
    folder = output_dir.resolve()
    manifest = _manifest(folder, day, run_id)
    prefix = target.run_prefix(day, run_id)
    where = f"s3://{target.bucket}/{prefix}"
    policy = retry or RetryPolicy()
    state: dict[str, Any] = {"client": client}

    def session() -> Any:
        if state["client"] is None:
            state["client"] = target.client()
        return state["client"]

    def reset() -> None:
        if client is None:  # a client we made is dropped after a fault; a given one is the caller's
            state["client"] = None

    def call(what: str, op: Callable[[Any], Any]) -> Any:
        def once() -> Any:
            try:
                return op(session())
            except Exception as exc:
                raise s3_error(exc, what) from None

        try:
            return with_retries(once, policy, f"publishing {where}", sleep=sleep, reset=reset)
        except TransportError as exc:
            raise PublishError(str(exc)) from None

    existing = read_publication(target, day, run_id, session())
    if existing is not None:
        if existing.get("files") != manifest["files"]:
            raise PublishError(f"{where} is already published with different outputs; a publication never changes")
        log.info("%s: already published", where)
        return {"status": "already published", "prefix": where, "objects": len(manifest["files"])}

    for entry in manifest["files"]:
        path, key = folder / entry["key"], prefix + entry["key"]
        if entry["size"] <= SINGLE_PUT_LIMIT:
            checksum = base64.b64encode(bytes.fromhex(entry["sha256"])).decode("ascii")

            def put(c: Any, path: Path = path, key: str = key, checksum: str = checksum) -> Any:
                with path.open("rb") as body:
                    return c.put_object(
                        Bucket=target.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum
                    )

            call(f"uploading {entry['key']}", put)
        else:

            def upload(c: Any, path: Path = path, key: str = key) -> Any:
                return c.upload_file(str(path), target.bucket, key, ExtraArgs={"ChecksumAlgorithm": "SHA256"})

            call(f"uploading {entry['key']}", upload)

    marker = json.dumps(manifest, indent=2, sort_keys=True).encode()
    marker_sha = base64.b64encode(hashlib.sha256(marker).digest()).decode("ascii")

    def put_marker(c: Any) -> Any:
        return c.put_object(
            Bucket=target.bucket,
            Key=prefix + MARKER,
            Body=marker,
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=marker_sha,
            IfNoneMatch="*",
        )

    try:
        call(f"writing {MARKER}", put_marker)
    except PublishError as exc:
        again = read_publication(target, day, run_id, session())
        if again is None or again.get("files") != manifest["files"]:
            raise PublishError(f"{where}: the completion marker could not be written: {exc}") from None
    log.info("%s: %d object(s) published, marker written last", where, len(manifest["files"]))
    return {"status": "published", "prefix": where, "objects": len(manifest["files"])}
