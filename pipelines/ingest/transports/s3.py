"""The S3 transport (boto3): paginated listing, downloads verified against the object's own checksum.

Credentials: the Airflow ``aws`` connection (``login`` = access key id, ``password`` = secret access key,
extras ``aws_session_token``, ``region_name``, ``endpoint_url`` or ``service_config.s3.endpoint_url``), or,
with no connection, boto3's standard credential chain. The channel's ``s3.endpoint_url`` and
``s3.region`` take precedence, so S3-compatible stores work.

Verification of a downloaded object, strongest first:

* ``sha256``: the object carries a full-object SHA-256 checksum (put with ``ChecksumAlgorithm=SHA256``);
* ``sha256-composite``: a multipart object uploaded with SHA-256 part checksums: the SHA-256 of the parts'
  SHA-256 digests, recomputed from the downloaded bytes cut at the part sizes;
* ``md5-etag``: a single-part object without SHA-256 and without SSE-KMS: its ETag is the MD5 of the bytes;
* ``multipart-etag``: a multipart object without SHA-256: its ETag is the MD5 of the parts' MD5s, "-N";
* ``size``: only when nothing else is available (SSE-KMS objects).

Every GET carries ``If-Match`` with the listed ETag, so an object replaced after it was listed is left
for the next poll instead of being mixed up with its listing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipelines.core.channels import RetryPolicy
from pipelines.ingest.transports.base import (
    CHUNK,
    AuthError,
    ConfigError,
    FileChanged,
    FileUnreadable,
    IntegrityError,
    Listing,
    Refused,
    RemoteFile,
    Sink,
    TransientError,
    Transport,
    TransportError,
    file_digest,
    name_problem,
    printable,
)
from pipelines.ingest.transports.connections import ConnectionInfo

S3Client = Any  # botocore builds the client class at run time

_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
    "500",
    "502",
    "503",
    "504",
}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}
_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}


def make_client(
    conn: ConnectionInfo | None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    timeout: float = 30.0,
    addressing_style: str = "auto",
) -> S3Client:
    """An S3 client with timeouts on connect and read; retries are the caller's (bounded, with backoff)."""
    import boto3
    from botocore.config import Config

    extra = dict(conn.extra) if conn else {}
    service_config = extra.get("service_config") or {}
    endpoint = (
        endpoint_url
        or (service_config.get("s3", {}) if isinstance(service_config, dict) else {}).get("endpoint_url")
        or extra.get("endpoint_url")
    )
    region_name = region or extra.get("region_name")
    if conn is not None and conn.login:
        session = boto3.session.Session(
            aws_access_key_id=conn.login,
            aws_secret_access_key=conn.password,
            aws_session_token=extra.get("aws_session_token"),
            region_name=region_name,
        )
    else:
        session = boto3.session.Session(region_name=region_name)
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": addressing_style},
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


def _endpoint(exc: Exception) -> str:
    """The endpoint (scheme, host and port, no path) a botocore connection error names."""
    url = str(getattr(exc, "kwargs", {}).get("endpoint_url") or "")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "?"
    if not parts.scheme or not host:
        return "?"
    host = f"[{host}]" if ":" in host else host  # no user or password, were the URL to carry them
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _unreachable(exc: Exception) -> str | None:
    """Why the endpoint could not be reached (unknown host, connection refused, timeout), or None when the
    fault is another one. One line, from the exception's type and errno, never its text as a whole."""
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

    if isinstance(exc, ConnectTimeoutError):
        return f"cannot reach endpoint {_endpoint(exc)} (connect timed out)"
    if isinstance(exc, ReadTimeoutError):
        return f"endpoint {_endpoint(exc)} did not answer in time (read timed out)"
    if not isinstance(exc, EndpointConnectionError):
        return None
    cause = exc.kwargs.get("error")
    from urllib3.exceptions import NameResolutionError

    if isinstance(cause, NameResolutionError):
        why = "unknown host"
    else:
        found = re.search(r"\[Errno -?\d+\] ([^)\]\"'\n]+)", str(cause))
        why = found.group(1).strip().lower() if found else "connection failed"
    return f"cannot reach endpoint {_endpoint(exc)} ({why})"


def s3_error(exc: Exception, what: str) -> TransportError:
    """The transport error for a botocore exception: one line with the operation (which names the bucket) and
    the code, or the endpoint and why it could not be reached; never a credential."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        FlexibleChecksumError,
        HTTPClientError,
        IncompleteReadError,
        NoCredentialsError,
        ResponseStreamingError,
    )

    if isinstance(exc, TransportError):
        return exc
    unreachable = _unreachable(exc)
    if unreachable is not None:
        return TransientError(f"{what}: {unreachable}")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in ("PreconditionFailed", "412") or status == "412":
            return FileChanged(f"{what}: object replaced since it was listed")
        if code in ("NoSuchKey", "404", "NotFound"):
            return FileChanged(f"{what}: object deleted since it was listed")
        if code == "NoSuchBucket":
            return ConfigError(f"{what}: no such bucket")
        if code in _AUTH_CODES:
            return AuthError(f"{what}: credentials rejected ({code})")
        if code in _DENIED_CODES:
            return FileUnreadable(f"{what}: access denied")
        if code in _TRANSIENT_CODES or status.startswith("5"):
            return TransientError(f"{what}: {code or status}")
        return TransportError(f"{what}: {code or status}")
    if isinstance(exc, FlexibleChecksumError):
        return IntegrityError(f"{what}: checksum of the response does not match")
    if isinstance(exc, NoCredentialsError):
        return AuthError(f"{what}: no AWS credentials found")
    if isinstance(exc, IncompleteReadError | ResponseStreamingError | ConnectionError | HTTPClientError):
        return TransientError(f"{what}: connection lost ({type(exc).__name__})")
    if isinstance(exc, BotoCoreError | OSError):
        return TransientError(f"{what}: {type(exc).__name__}")
    return TransportError(f"{what}: {type(exc).__name__}")


def b64_sha256(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class S3Transport(Transport):
    kind = "s3"

    def __init__(
        self,
        channel_id: str,
        client_factory: Callable[[], S3Client],
        bucket: str,
        prefix: str,
        retry: RetryPolicy,
        *,
        page_size: int = 1000,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(channel_id, retry, sleep)
        self._factory = client_factory
        self._client: S3Client | None = None
        self.bucket = bucket
        self.prefix = prefix
        self.page_size = page_size

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def source_path(self, f: RemoteFile) -> str:
        return f"s3://{self.bucket}/{self._key(f)}"

    def _key(self, f: RemoteFile) -> str:
        return self.prefix + f.rel_path

    def _session(self) -> S3Client:
        if self._client is None:
            try:
                self._client = self._factory()
            except Exception as exc:
                raise s3_error(exc, f"{self.describe()}: creating the client") from None
            self.connections += 1
        return self._client

    def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken client must not hide the fault that broke it
                pass

    def _call(self, what: str, op: Callable[[], Any]) -> Any:
        try:
            return op()
        except Exception as exc:
            raise s3_error(exc, what) from None

    # ---- operations ----------------------------------------------------------------------------------
    def _list(self, recursive: bool, skip_folders: frozenset[str]) -> Listing:
        client = self._session()
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix}
        if not recursive:
            kwargs["Delimiter"] = "/"
        files: list[RemoteFile] = []
        refused: list[Refused] = []

        def pages() -> list[dict[str, Any]]:
            paginator = client.get_paginator("list_objects_v2")
            return list(paginator.paginate(**kwargs, PaginationConfig={"PageSize": self.page_size}))

        for page in self._call(f"listing {self.describe()}", pages):
            for obj in page.get("Contents", []):
                key = str(obj["Key"])
                rel_path = key[len(self.prefix) :]
                if not rel_path or rel_path.endswith("/"):
                    continue  # the prefix itself, folder placeholders
                parts = rel_path.split("/")
                problem = next((p for p in (name_problem(part) for part in parts) if p), None)
                if problem:
                    refused.append(Refused(printable(rel_path), printable(rel_path), problem))
                    continue
                if any(part.startswith(".") for part in parts):
                    continue  # hidden
                if any("/".join(parts[:i]) in skip_folders for i in range(1, len(parts))):
                    continue
                files.append(
                    RemoteFile(
                        rel_path=rel_path,
                        size=int(obj["Size"]),
                        mtime=obj["LastModified"].timestamp(),
                        etag=str(obj["ETag"]),
                        checksum_algorithms=tuple(obj.get("ChecksumAlgorithm") or ()),
                    )
                )
        return Listing(files=files, refused=refused)

    def _copy_to(self, f: RemoteFile, out: Sink) -> dict[str, Any]:
        client = self._session()
        what = f"downloading {self.source_path(f)}"
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(f), "ChecksumMode": "ENABLED"}
        if f.etag:
            args["IfMatch"] = f.etag
        resp = self._call(what, lambda: client.get_object(**args))
        body = resp["Body"]
        try:
            for chunk in body.iter_chunks(CHUNK):
                out.write(chunk)
        except Exception as exc:
            raise s3_error(exc, what) from None
        finally:
            body.close()
        return {k: resp.get(k) for k in ("ETag", "ChecksumSHA256", "ChecksumType", "ServerSideEncryption")}

    def _part_sizes(self, f: RemoteFile, parts: int) -> list[int]:
        """Sizes of the parts of a multipart object (HEAD with partNumber). Were the object replaced since
        the download, the sizes or the digests would not match and the download is retried."""
        client = self._session()
        key = self._key(f)

        def head(number: int) -> Any:
            return client.head_object(Bucket=self.bucket, Key=key, PartNumber=number)

        sizes = []
        for number in range(1, parts + 1):
            part = self._call(f"reading part {number} of {self.source_path(f)}", functools.partial(head, number))
            sizes.append(int(part["ContentLength"]))
        return sizes

    def _part_digests(self, f: RemoteFile, tmp: Path, parts: int, size: int, algorithm: str) -> bytes:
        """The concatenated digests of the downloaded file's parts, cut at the object's part sizes."""
        sizes = self._part_sizes(f, parts)
        if sum(sizes) != size:
            raise IntegrityError(f"{self.source_path(f)}: part sizes add up to {sum(sizes)} bytes, {size} downloaded")
        digests, offset = b"", 0
        for part_size in sizes:
            digests += file_digest(tmp, algorithm, offset, part_size)
            offset += part_size
        return digests

    def _verify(self, f: RemoteFile, facts: dict[str, Any], tmp: Path, sha256_hex: str, size: int) -> str:
        etag = str(facts.get("ETag") or f.etag or "").strip('"')
        parts = int(etag.rsplit("-", 1)[1]) if "-" in etag and etag.rsplit("-", 1)[1].isdigit() else 0
        checksum = str(facts.get("ChecksumSHA256") or "")
        value, _, suffix = checksum.partition("-")
        where = self.source_path(f)
        if checksum:
            composite = facts.get("ChecksumType") == "COMPOSITE" or bool(suffix)
            if not composite or parts == 0:
                if value != b64_sha256(bytes.fromhex(sha256_hex)):
                    raise IntegrityError(f"{where}: SHA-256 of the downloaded bytes differs from the object's")
                return "sha256"
            digests = self._part_digests(f, tmp, parts, size, "sha256")
            if value != b64_sha256(hashlib.sha256(digests).digest()):
                raise IntegrityError(f"{where}: composite SHA-256 of the downloaded parts differs from the object's")
            return "sha256-composite"
        if facts.get("ServerSideEncryption") == "aws:kms" or not etag:
            return "size"  # the ETag of an SSE-KMS object is not an MD5 of its bytes
        if parts == 0:
            if file_digest(tmp, "md5").hex() != etag:
                raise IntegrityError(f"{where}: MD5 of the downloaded bytes differs from the ETag")
            return "md5-etag"
        md5s = self._part_digests(f, tmp, parts, size, "md5")
        if f"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-{parts}" != etag:
            raise IntegrityError(f"{where}: multipart ETag of the downloaded parts differs from the object's")
        return "multipart-etag"

    def _move(self, f: RemoteFile, folder: str) -> str:
        client = self._session()
        dest_key = f"{self.prefix}{folder}/{f.rel_path}"
        source = {"Bucket": self.bucket, "Key": self._key(f)}
        copy_args: dict[str, Any] = {"Bucket": self.bucket, "Key": dest_key, "CopySource": source}
        if f.etag:
            copy_args["CopySourceIfMatch"] = f.etag
        self._call(f"copying {self.source_path(f)}", lambda: client.copy_object(**copy_args))
        key = self._key(f)
        self._call(f"deleting {self.source_path(f)}", lambda: client.delete_object(Bucket=self.bucket, Key=key))
        return f"s3://{self.bucket}/{dest_key}"
