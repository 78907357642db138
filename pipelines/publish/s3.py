"""Publish a run's outputs to S3 (optional per deployment), so readers never see a partial publication.

Layout, per business date::

    s3://<bucket>/<prefix><date>/LATEST.json                       the date's pointer, rewritten last
    s3://<bucket>/<prefix><date>/<run_id>/v<N>/_VERSION.json       claim of version N, written first
    s3://<bucket>/<prefix><date>/<run_id>/v<N>/<file>              every file of the run's outputs folder
    s3://<bucket>/<prefix><date>/<run_id>/v<N>/_COMPLETE.json      completion marker, written after the files

The run id names the inputs and the rules, not the outputs: re-running a date after a break was resolved
gives the same run id with other outputs. Each such publication is a new *version* (``v1``, ``v2``, ...) of
the run, never a failure and never a change to a complete version; publishing outputs identical to the
newest complete version of the run is a no-op.

A version exists once its claim is written (``If-None-Match: *``, so two publishers never share a version; a
publication that failed half-way is resumed in its own version, whose objects it overwrites). It is complete
once its marker is written (``If-None-Match: *`` too: a complete version never changes), which lists every
object with its size and SHA-256. Then the date's pointer ``LATEST.json`` names the run, the version, its
marker and the marker's SHA-256. Readers list nothing: they read the pointer, then the marker it names, then
exactly the objects the marker names (``read_publication``); objects of a version without a marker are never
trusted. The pointer always names the outputs the date's latest publication carries (publishing an older
run's outputs again moves it back there); pointer writes are last-writer-wins, which the workspace lock
(one writer per workspace) keeps in order.

Every object is uploaded with its SHA-256 checksum, which S3 verifies on receipt. Every S3 call is retried
with bounded backoff on transient faults; what cannot be completed is a ``PublishError`` of one line naming
the bucket and, when the endpoint cannot be reached (connection refused, unknown host, timeout), the endpoint.

The publishing principal needs ``s3:GetObject``, ``s3:PutObject`` and ``s3:ListBucket`` on the prefix (without
the last, S3 answers 403 instead of 404 for an absent object, which is refused, not taken for absent).

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
from typing import Any, TypeVar

from pipelines.core.channels import RetryPolicy
from pipelines.ingest.transports.base import CHUNK, FileChanged, TransportError, with_retries
from pipelines.ingest.transports.connections import get_connection
from pipelines.ingest.transports.s3 import make_client, s3_error

log = logging.getLogger(__name__)
MARKER = "_COMPLETE.json"
CLAIM = "_VERSION.json"
POINTER = "LATEST.json"
SINGLE_PUT_LIMIT = 64 * 1024 * 1024  # bytes; larger files go up in parts (composite SHA-256)
MAX_CLAIM_TRIES = 5  # versions claimed by another publisher in between before giving up
T = TypeVar("T")


class PublishError(RuntimeError):
    """The publication cannot be completed or read (one line: what, where, why)."""


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
        if not bucket:
            raise PublishError(f"{url!r}: an s3://bucket/prefix URL is expected (no bucket)")
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

    def date_prefix(self, day: dt.date) -> str:
        return f"{self.prefix}{day.isoformat()}/"

    def run_prefix(self, day: dt.date, run_id: str) -> str:
        return f"{self.date_prefix(day)}{run_id}/"

    def version_prefix(self, day: dt.date, run_id: str, version: int) -> str:
        return f"{self.run_prefix(day, run_id)}v{version}/"

    def pointer_key(self, day: dt.date) -> str:
        return self.date_prefix(day) + POINTER

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _files(folder: Path) -> list[dict[str, Any]]:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest, size = _sha256_file(path)
        files.append({"key": path.relative_to(folder).as_posix(), "size": size, "sha256": digest})
    if not files:
        raise PublishError(f"{folder}: no output to publish")
    return files


def _fingerprint(files: list[dict[str, Any]]) -> str:
    """The SHA-256 of a version's file list (names, sizes, digests): equal outputs, equal fingerprints."""
    return hashlib.sha256(json.dumps(files, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _json_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


class _Session:
    """One client for a publication or a read, every call retried on transient faults and turned into a
    one-line ``TransportError`` (``ingest.transports.s3.s3_error``) when it fails."""

    def __init__(
        self,
        target: S3Target,
        client: Any,
        retry: RetryPolicy | None,
        sleep: Callable[[float], None] | None,
        label: str,
    ) -> None:
        self.target = target
        self.given = client
        self._client = client
        self.policy = retry or RetryPolicy()
        self.sleep = sleep
        self.label = label

    def _session(self) -> Any:
        if self._client is None:
            self._client = self.target.client()
        return self._client

    def _reset(self) -> None:
        if self.given is None:  # a client we made is dropped after a fault; a given one is the caller's
            self._client = None

    def call(self, what: str, op: Callable[[Any], T]) -> T:
        def once() -> T:
            try:
                return op(self._session())
            except Exception as exc:
                raise s3_error(exc, what) from None

        return with_retries(once, self.policy, self.label, sleep=self.sleep, reset=self._reset)

    def get_json(self, key: str) -> tuple[dict[str, Any], bytes] | None:
        """The JSON document at ``key`` and its bytes, or None when there is no such object."""
        try:
            body = self.call(
                f"reading {self.target.url(key)}",
                lambda c: c.get_object(Bucket=self.target.bucket, Key=key)["Body"].read(),
            )
        except FileChanged:  # s3_error's "object deleted": here, simply absent
            return None
        try:
            doc = json.loads(body)
        except ValueError:
            raise PublishError(f"{self.target.url(key)}: not a JSON document") from None
        if not isinstance(doc, dict):
            raise PublishError(f"{self.target.url(key)}: not a JSON object")
        return doc, bytes(body)

    def put_bytes(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        """Put a small JSON object with its SHA-256; ``create_only``: fail (FileChanged) if it exists."""
        extra: dict[str, Any] = {"IfNoneMatch": "*"} if create_only else {}

        def put(c: Any) -> Any:
            return c.put_object(
                Bucket=self.target.bucket,
                Key=key,
                Body=data,
                ContentType="application/json",
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_b64_sha256(data),
                **extra,
            )

        self.call(f"writing {self.target.url(key)}", put)

    def upload(self, path: Path, key: str, entry: dict[str, Any]) -> None:
        what = f"uploading {entry['key']} to {self.target.url(key)}"
        if entry["size"] <= SINGLE_PUT_LIMIT:
            checksum = base64.b64encode(bytes.fromhex(entry["sha256"])).decode("ascii")

            def put(c: Any) -> Any:
                with path.open("rb") as body:
                    return c.put_object(
                        Bucket=self.target.bucket,
                        Key=key,
                        Body=body,
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=checksum,
                    )

            self.call(what, put)
            return

        def upload(c: Any) -> Any:
            return c.upload_file(str(path), self.target.bucket, key, ExtraArgs={"ChecksumAlgorithm": "SHA256"})

        self.call(what, upload)


@dataclass(frozen=True)
class _Version:
    number: int
    fingerprint: str
    marker: dict[str, Any] | None  # None: claimed, not complete
    marker_bytes: bytes = b""


def _versions(s: _Session, day: dt.date, run_id: str) -> list[_Version]:
    """The versions of a run, oldest first: each complete (its marker) or only claimed. A version with a
    marker always has its claim (written before), so the first number with neither ends the list."""
    out: list[_Version] = []
    number = 1
    while True:
        prefix = s.target.version_prefix(day, run_id, number)
        marker = s.get_json(prefix + MARKER)
        if marker is not None:
            out.append(_Version(number, _fingerprint(marker[0].get("files") or []), marker[0], marker[1]))
        else:
            claim = s.get_json(prefix + CLAIM)
            if claim is None:
                return out
            out.append(_Version(number, str(claim[0].get("outputs_sha256", "")), None))
        number += 1


def read_publication(
    target: S3Target,
    day: dt.date,
    run_id: str | None = None,
    client: Any = None,
    *,
    version: int | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any] | None:
    """The marker of a complete publication, or None when there is none: without ``run_id``, the one the
    date's pointer names (the date's latest publication; the marker is checked against the SHA-256 the pointer
    records); with ``run_id``, that run's newest complete version, or its ``version``. The marker lists the
    objects (``key`` below its ``prefix``, ``size``, ``sha256``) to read, and nothing else."""
    s = _Session(target, client, retry, sleep, f"reading s3://{target.bucket}/{target.date_prefix(day)}")
    try:
        if run_id is None:
            pointer = s.get_json(target.pointer_key(day))
            if pointer is None:
                return None
            key = str(pointer[0].get("marker", ""))
            marker = s.get_json(key) if key else None
            if marker is None or hashlib.sha256(marker[1]).hexdigest() != pointer[0].get("marker_sha256"):
                raise PublishError(f"{target.url(target.pointer_key(day))}: names a marker it does not match ({key})")
            return marker[0]
        if version is not None:
            found = s.get_json(target.version_prefix(day, run_id, version) + MARKER)
            return found[0] if found else None
        complete = [v for v in _versions(s, day, run_id) if v.marker is not None]
        return complete[-1].marker if complete else None
    except TransportError as exc:
        raise PublishError(str(exc)) from None


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
    """Publish ``output_dir`` as a version of the run: claim a new version (or resume the claimed one of the
    same outputs), upload every file, write the completion marker, then the date's pointer. Outputs identical
    to the run's newest complete version are not uploaded again (the pointer is set to it when it names
    another). Returns the status, the version's prefix, its number, the objects and the pointer."""
    folder = output_dir.resolve()
    files = _files(folder)
    s = _Session(target, client, retry, sleep, f"publishing s3://{target.bucket}/{target.run_prefix(day, run_id)}")
    try:
        return _publish(s, folder, files, day, run_id)
    except TransportError as exc:
        raise PublishError(str(exc)) from None


def _publish(s: _Session, folder: Path, files: list[dict[str, Any]], day: dt.date, run_id: str) -> dict[str, Any]:
    target = s.target
    fingerprint = _fingerprint(files)
    for _ in range(MAX_CLAIM_TRIES):
        versions = _versions(s, day, run_id)
        complete = [v for v in versions if v.marker is not None]
        newest = complete[-1] if complete else None
        if newest is not None and newest.fingerprint == fingerprint:
            moved = _point(s, day, run_id, newest.number, newest.marker_bytes)
            where = target.url(target.version_prefix(day, run_id, newest.number))
            log.info("%s: already published%s", where, "; the date's pointer moved to it" if moved else "")
            return _result("already published", s, day, run_id, newest.number, len(files))
        resumable = [
            v
            for v in versions
            if v.marker is None and v.fingerprint == fingerprint and (newest is None or v.number > newest.number)
        ]
        if resumable:
            number = resumable[-1].number
            break
        number = versions[-1].number + 1 if versions else 1
        claim = {"business_date": day.isoformat(), "run_id": run_id, "version": number, "outputs_sha256": fingerprint}
        try:
            s.put_bytes(target.version_prefix(day, run_id, number) + CLAIM, _json_bytes(claim), create_only=True)
            break
        except FileChanged:  # claimed in between (or by our own try whose answer was lost): look again
            continue
    else:
        raise PublishError(f"{s.label}: no version could be claimed after {MAX_CLAIM_TRIES} tries")

    prefix = target.version_prefix(day, run_id, number)
    for entry in files:
        s.upload(folder / entry["key"], prefix + entry["key"], entry)
    marker = {"business_date": day.isoformat(), "run_id": run_id, "version": number, "prefix": prefix, "files": files}
    data = _json_bytes(marker)
    try:
        s.put_bytes(prefix + MARKER, data, create_only=True)
    except FileChanged:  # written already: by our own try whose answer was lost, or it is not ours
        again = s.get_json(prefix + MARKER)
        if again is None or again[0].get("files") != files:
            raise PublishError(f"{target.url(prefix)}: completed by another publication with other outputs") from None
        data = again[1]
    _point(s, day, run_id, number, data)
    log.info("%s: %d object(s) published, marker written, then the date's pointer", target.url(prefix), len(files))
    return _result("published", s, day, run_id, number, len(files))


def _point(s: _Session, day: dt.date, run_id: str, number: int, marker: bytes) -> bool:
    """Set the date's pointer to a complete version (after its marker, whose bytes are ``marker``); False when
    it named that version already."""
    target = s.target
    prefix = target.version_prefix(day, run_id, number)
    pointer = {
        "business_date": day.isoformat(),
        "run_id": run_id,
        "version": number,
        "prefix": prefix,
        "marker": prefix + MARKER,
        "marker_sha256": hashlib.sha256(marker).hexdigest(),
    }
    current = s.get_json(target.pointer_key(day))
    if current is not None and current[0] == pointer:
        return False
    s.put_bytes(target.pointer_key(day), _json_bytes(pointer))
    return True


def _result(status: str, s: _Session, day: dt.date, run_id: str, number: int, objects: int) -> dict[str, Any]:
    target = s.target
    return {
        "status": status,
        "prefix": target.url(target.version_prefix(day, run_id, number)),
        "run_id": run_id,
        "version": number,
        "objects": objects,
        "pointer": target.url(target.pointer_key(day)),
    }
