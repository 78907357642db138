"""The transport interface: list a channel's source, download one file verified, move it after landing.

A transport object is one session with one source (a local folder, an SFTP server, an S3 bucket): it
connects on first use, reuses that connection for every file of the pull, reconnects only after a
transient fault, and puts a timeout on every network call. Operations that can fail transiently are
retried with bounded exponential backoff (the channel's ``retry`` policy).

A download streams the bytes into a temporary file beside the landing area while hashing them, fsyncs
it, and verifies it against what the source says about the file (its listed size always; an SHA-256
checksum or an MD5 ETag when the source gives one). Only then may the caller rename it into place
(``Downloaded.commit``); on any failure the temporary file is removed, so no partial file is ever left.

Error messages name the channel, the host or bucket and the file, never a credential.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, ClassVar, Protocol, TypeVar

from pipelines.core.channels import RetryPolicy

log = logging.getLogger(__name__)
CHUNK = 1 << 20
T = TypeVar("T")


class TransportError(RuntimeError):
    """A source cannot be read as asked. The message never carries a credential."""


class TransientError(TransportError):
    """Connection lost, timed out or throttled: worth another try on a fresh connection."""


class IntegrityError(TransientError):
    """The downloaded bytes do not match the size or checksum the source declares (retried)."""


class ConfigError(TransportError):
    """The channel or its connection is misconfigured (missing folder, bucket, connection, host key)."""


class HostKeyError(ConfigError):
    """The SFTP server's host key is unknown or differs from the pinned key: the connection is refused."""


class AuthError(TransportError):
    """The source rejected the credentials."""


class FileUnreadable(TransportError):
    """The file is listed but cannot be read (permission denied)."""


class FileChanged(TransportError):
    """The file changed or disappeared between listing and download: it is left for the next poll."""


def name_problem(name: str) -> str | None:
    """Why a remote name is refused, or None if it is safe to use as one path component."""
    if name == "":
        return "empty name"
    if "\x00" in name:
        return "name contains NUL"
    if "/" in name:
        return "name contains a slash"
    if "\\" in name:
        return "name contains a backslash"
    if ".." in name:
        return "name contains '..'"
    if name == ".":
        return "name is '.'"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "name contains control characters"
    if len(name.encode("utf-8", "surrogateescape")) > 255:
        return "name longer than 255 bytes"
    return None


def printable(name: str, limit: int = 120) -> str:
    """A remote name as it may appear in a report or a log line (escaped, bounded)."""
    text = name.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class RemoteFile:
    """One file as the source lists it. ``rel_path`` is '/'-separated below the channel's folder or prefix."""

    rel_path: str
    size: int
    mtime: float | None = None
    etag: str | None = None
    version_id: str | None = None
    checksum_algorithms: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.rel_path.rsplit("/", 1)[-1]

    @property
    def folder(self) -> str:
        return self.rel_path.rsplit("/", 1)[0] if "/" in self.rel_path else ""

    @property
    def identity(self) -> str:
        """What the source says identifies this version of the file (compared across polls and pulls)."""
        parts = [f"size={self.size}"]
        if self.mtime is not None:
            parts.append(f"mtime={self.mtime:.6f}")
        if self.etag is not None:
            parts.append(f"etag={self.etag}")
        if self.version_id is not None:
            parts.append(f"version={self.version_id}")
        return ";".join(parts)


@dataclass(frozen=True)
class Refused:
    """A listed entry that is not taken: hostile name, symlink out of the folder, not a regular file."""

    rel_path: str  # printable form of the path below the channel's folder
    name: str  # printable form of the entry's own name (which may hold a slash)
    reason: str


@dataclass(frozen=True)
class Listing:
    files: list[RemoteFile]
    refused: list[Refused]

    def by_path(self) -> dict[str, RemoteFile]:
        return {f.rel_path: f for f in self.files}


class Sink(Protocol):
    def write(self, chunk: bytes) -> None: ...


class _HashingWriter:
    """Writes through to a file while computing the SHA-256 and the size of what was written."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.sha256.update(chunk)
        self.size += len(chunk)


@dataclass
class Downloaded:
    """A verified, fsynced temporary copy of a remote file; ``commit`` renames it into place."""

    path: Path
    sha256: str
    size: int
    verified_by: str
    _done: bool = field(default=False, repr=False)

    def commit(self, dest: Path) -> Path:
        """Rename into ``dest`` atomically; if ``dest`` already exists (same content address) keep it."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            self.discard()
        else:
            os.replace(self.path, dest)
            _fsync_dir(dest.parent)
            self._done = True
        return dest

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self._done = True

    def __enter__(self) -> Downloaded:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            self.discard()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: Path, algorithm: str, start: int = 0, length: int | None = None) -> bytes:
    """Digest of a byte range of a local file."""
    h = hashlib.new(algorithm, usedforsecurity=algorithm != "md5")
    remaining = length
    with path.open("rb") as f:
        f.seek(start)
        while remaining is None or remaining > 0:
            chunk = f.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not chunk:
                break
            h.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    return h.digest()


class Transport(ABC):
    """One session with one channel's source. Use as a context manager: it always closes."""

    kind: ClassVar[str]
    #: whether an unchanged listing identity (size, mtime, ETag) proves unchanged bytes well enough to skip
    #: the download of a file already registered under the same path (incremental listing)
    trusts_identity: ClassVar[bool] = True

    def __init__(self, channel_id: str, retry: RetryPolicy, sleep: Callable[[float], None] | None = None) -> None:
        self.channel_id = channel_id
        self.retry_policy = retry
        self.sleep = sleep or time.sleep
        self.connections = 0  # sessions opened by this transport (1 unless a fault forced a reconnect)

    # ---- to implement --------------------------------------------------------------------------------
    @abstractmethod
    def describe(self) -> str:
        """Where the channel's files come from, without credentials (for messages)."""

    @abstractmethod
    def source_path(self, f: RemoteFile) -> str:
        """Stable, credential-free address of a remote file (the registry key of 'the same name')."""

    @abstractmethod
    def _list(self, recursive: bool, skip_folders: frozenset[str]) -> Listing:
        """List the files below the channel's folder; ``skip_folders`` are relative folders not descended."""

    @abstractmethod
    def _copy_to(self, f: RemoteFile, out: Sink) -> dict[str, Any]:
        """Stream the file's bytes into ``out``; return what the source said about them (checksums...)."""

    @abstractmethod
    def _move(self, f: RemoteFile, folder: str) -> str:
        """Move the file to ``folder`` (relative to the channel's folder); return its new address."""

    def _verify(self, f: RemoteFile, facts: dict[str, Any], tmp: Path, sha256_hex: str, size: int) -> str:
        """Check the bytes against the source's own checksum; return how they were verified."""
        return "size"

    def _reset(self) -> None:  # noqa: B027 - a transport without a session has nothing to drop
        """Drop the session after a transient fault; the next operation reconnects."""

    def close(self) -> None:
        self._reset()

    # ---- the interface -------------------------------------------------------------------------------
    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def list_files(self, recursive: bool = False, skip_folders: frozenset[str] = frozenset()) -> Listing:
        return self._retrying(lambda: self._list(recursive, skip_folders))

    def read_small(self, f: RemoteFile, limit: int = 1 << 20) -> bytes:
        """The whole content of a small control file (a manifest), checked against its listed size."""
        if f.size > limit:
            raise TransportError(f"{self.describe()}: {printable(f.rel_path)} is larger than {limit} bytes")

        def once() -> bytes:
            buf = _MemoryWriter()
            self._copy_to(f, buf)
            if buf.size != f.size:
                raise FileChanged(f"{printable(f.rel_path)}: size changed since listing")
            return bytes(buf.data)

        return self._retrying(once)

    def download(self, f: RemoteFile, incoming: Path) -> Downloaded:
        """Download ``f`` into a temporary file in ``incoming`` (same file system as the landing area),
        verified and fsynced. Retried on transient faults and integrity failures; raises FileChanged when
        the file changed since it was listed and FileUnreadable when it cannot be read."""
        return self._retrying(lambda: self._download_once(f, incoming))

    def move(self, f: RemoteFile, folder: str) -> str:
        return self._retrying(lambda: self._move(f, folder))

    # ---- helpers -------------------------------------------------------------------------------------
    def _download_once(self, f: RemoteFile, incoming: Path) -> Downloaded:
        incoming.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=incoming, prefix=".part-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                writer = _HashingWriter(out)
                facts = self._copy_to(f, writer)
                out.flush()
                os.fsync(out.fileno())
            if writer.size != f.size:
                raise FileChanged(
                    f"{printable(f.rel_path)}: listed with {f.size} bytes, {writer.size} bytes read "
                    "(changed while it was downloaded)"
                )
            digest = writer.sha256.hexdigest()
            verified_by = self._verify(f, facts, tmp, digest, writer.size)
            return Downloaded(path=tmp, sha256=digest, size=writer.size, verified_by=verified_by)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _retrying(self, op: Callable[[], T]) -> T:
        return with_retries(op, self.retry_policy, f"channel {self.channel_id}", sleep=self.sleep, reset=self._reset)


def with_retries(
    op: Callable[[], T],
    policy: RetryPolicy,
    label: str,
    *,
    sleep: Callable[[float], None] | None = None,
    reset: Callable[[], None] | None = None,
) -> T:
    """Run ``op``; on a transient fault call ``reset`` (drop the session), wait, and try again, with the
    exponential, bounded waits of ``policy``. The last fault is raised with the number of attempts."""
    delays = policy.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return op()
        except TransientError as exc:
            if reset is not None:
                reset()
            if attempt > len(delays):
                raise TransientError(f"{label}: failed after {attempt} attempt(s): {exc}") from exc
            delay = delays[attempt - 1]
            log.warning("%s: %s; retry %d/%d in %.2f s", label, exc, attempt, len(delays), delay)
            (sleep or time.sleep)(delay)


class _MemoryWriter:
    def __init__(self) -> None:
        self.data = bytearray()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.data += chunk
        self.size += len(chunk)
