"""Ingest: pull each new file of a channel into the content-addressed landing area, exactly once.

Landing path: ``landing/<channel>/<sha256[:2]>/<sha256>``; the same bytes always land on the same path, so
landing is idempotent. Registration in the catalog is a separate step (``register``) so per-channel tasks
never write the catalog concurrently: a pull only reads the registry and returns its records and events.

One pull of one channel, through one transport session (``pipelines.ingest.transports``):

1. **List** the channel's folder or prefix (paginated, optionally recursive). Hostile names (``..``, slash,
   backslash, NUL, control characters, bytes that are not UTF-8) and symlinks leading out of the folder are
   refused and reported one by one (an undecodable byte of a name shown as ``\\xNN``); the other files go on.
2. **Complete files only**: with ``stability.polls`` > 1 the folder is listed again after the interval and a
   file whose size or mtime moved is left pending; with a completion policy a file is taken only when its
   sibling marker exists, or when a manifest lists it with the size it has now.
3. **Zero-byte** files are quarantined with their reason; so are unreadable ones (permission denied). A
   zero-byte delivery is also registered as a file of its own (its id: the SHA-256 of the channel, path and
   listing, since it has no bytes to name it), which normalisation quarantines whole with the reason
   ``empty file (0 bytes)``: the run's manifest and summary show it, as any file refused whole.
4. **Incremental**: a remote file whose listing (size, mtime, ETag) is unchanged since it was registered is
   not downloaded again; its delivery is recorded as a duplicate (a no-op).
5. **Download** to a temporary file, verify (size; SHA-256 or ETag when the source has one), fsync, rename
   into landing. Transient faults are retried with bounded exponential backoff on a fresh connection; a
   cut connection never leaves a partial file. A file that still fails makes the pull fail (after the
   other files are landed) so the task is retried and the run never reconciles without it unnoticed.
6. **Exactly once**: the same bytes again (any name) are a recorded no-op; different bytes under a name
   already ingested are kept in ``quarantine/ingest/<channel>/<sha256>/`` and reported as ``replaced``,
   never landed over what was processed.
7. **Move after download** (optional): a receipt of the landed file is written first, so a pull that dies
   between the move and the registration hands the file over on its next run instead of losing it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.catalog.store import Catalog, FileRecord, IngestEvent, IngestState, open_catalog
from pipelines.core.channels import Channel
from pipelines.core.config import PROJECT_ROOT, Settings
from pipelines.ingest.transports import (
    Downloaded,
    FileChanged,
    FileUnreadable,
    RemoteFile,
    TransientError,
    Transport,
    TransportError,
    name_problem,
    open_transport,
    printable,
)
from pipelines.run import s3home

log = logging.getLogger(__name__)

#: a file that was not taken, and why (kept under this name for the stages that pass it on)
Skipped = IngestEvent


EMPTY_FILE = "empty file (0 bytes)"


def shown_name(name: str) -> str:
    """A file name or path as text any report or database can hold: the bytes that are not UTF-8 (kept by
    the file system interface as ``surrogateescape`` code points) shown as ``\\xNN``."""
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def not_utf8(name: str) -> str | None:
    """Why a listed name is refused when it is not valid UTF-8 (None when it is)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"name is not valid UTF-8: {shown_name(name)} (each byte that is not shown as \\xNN)"
    return None


def empty_file_id(channel: str, source_path: str, identity: str) -> str:
    """The id of a zero-byte delivery: every file's bytes would hash alike, so the channel, the source path
    and the listing (size, mtime, ETag) name it; the same empty file listed again has the same id."""
    text = "\0".join(["empty file", channel, shown_name(source_path), identity])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class IngestError(RuntimeError):
    """A channel's source cannot be read, or some of its files could not be transferred."""


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    """``{"files": [{"name": ..., "size": ..., "sha256": ...}]}``: files of the manifest's own folder."""

    model_config = ConfigDict(extra="allow")

    files: list[ManifestEntry]


def landing_path(settings: Settings, channel: str, file_id: str) -> Path:
    return settings.landing / channel / file_id[:2] / file_id


def incoming_dir(settings: Settings, channel: str) -> Path:
    """Temporary files of downloads in progress (same file system as landing, so the rename is atomic)."""
    return settings.landing / channel / ".incoming"


def receipts_dir(settings: Settings, channel: str) -> Path:
    return settings.landing / channel / ".receipts"


def ingest_quarantine_dir(settings: Settings, channel: str, file_id: str) -> Path:
    return settings.quarantine / "ingest" / channel / file_id


def _utc(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Pull:
    """The state of one pull of one channel."""

    def __init__(
        self,
        channel: Channel,
        settings: Settings,
        now: dt.datetime,
        state: IngestState,
        sleep: Callable[[float], None] | None,
    ) -> None:
        self.channel = channel
        self.settings = settings
        self.now = now
        self.state = state
        self.sleep = sleep
        self.records: list[FileRecord] = []
        self.events: list[IngestEvent] = []
        self.failed: list[str] = []
        self.downloaded = 0

    # ---- reporting -----------------------------------------------------------------------------------
    def _event(
        self,
        transport: Transport,
        f: RemoteFile,
        outcome: str,
        reason: str,
        *,
        file_id: str = "",
        previous_file_id: str | None = None,
        quarantine_path: str | None = None,
    ) -> None:
        event = IngestEvent(
            channel=self.channel.id,
            source_path=transport.source_path(f),
            reason=reason,
            outcome=outcome,
            file_name=f.name,
            file_id=file_id,
            previous_file_id=previous_file_id,
            size_bytes=f.size,
            identity=f.identity,
            quarantine_path=quarantine_path,
        )
        level = logging.INFO if outcome == "pending" else logging.WARNING
        log.log(level, "channel %s: %s %s: %s", self.channel.id, outcome, printable(f.rel_path), reason)
        self.events.append(event)

    # ---- listing -------------------------------------------------------------------------------------
    def _is_control(self, name: str) -> bool:
        completion = self.channel.completion
        if completion.policy == "marker":
            return fnmatch.fnmatchcase(name, completion.marker_glob())
        if completion.policy == "manifest":
            return fnmatch.fnmatchcase(name, completion.manifest_pattern)
        return False

    def _list(self, transport: Transport) -> tuple[list[RemoteFile], dict[str, RemoteFile]]:
        """Candidates whose listing held still across the stability polls, and everything last listed."""
        skip = frozenset({self.channel.move_after_download}) if self.channel.move_after_download else frozenset()
        stability = self.channel.effective_stability()
        listings = [transport.list_files(self.channel.recursive, skip)]
        for _ in range(stability.polls - 1):
            (self.sleep or transport.sleep)(stability.interval_seconds)
            listings.append(transport.list_files(self.channel.recursive, skip))
        last = listings[-1]
        for refused in last.refused:
            self.events.append(
                IngestEvent(
                    channel=self.channel.id,
                    source_path=transport.source_path(RemoteFile(rel_path=refused.rel_path, size=0)),
                    reason=refused.reason,
                    outcome="refused",
                    file_name=refused.name,
                )
            )
            log.warning("channel %s: refused %s: %s", self.channel.id, refused.rel_path, refused.reason)
        earlier = [listing.by_path() for listing in listings[:-1]]
        stable: list[RemoteFile] = []
        for f in sorted(last.files, key=lambda x: x.rel_path):
            if self._is_control(f.name) or not fnmatch.fnmatchcase(f.name, self.channel.pattern):
                continue
            problem = not_utf8(f.rel_path)
            if problem:
                self._refuse_undecodable(transport, f, problem)
                continue
            seen = [m.get(f.rel_path) for m in earlier]
            if any(s is None for s in seen):
                self._event(transport, f, "pending", "appeared while the folder was polled; taken on the next poll")
            elif any(s is not None and s.identity != f.identity for s in seen):
                self._event(transport, f, "pending", "still being written: size or mtime changed between two polls")
            else:
                stable.append(f)
        return stable, last.by_path()

    def _refuse_undecodable(self, transport: Transport, f: RemoteFile, reason: str) -> None:
        """A listed file whose name is not UTF-8: refused alone, its name shown with ``\\xNN`` escapes."""
        self.events.append(
            IngestEvent(
                channel=self.channel.id,
                source_path=shown_name(transport.source_path(f)),
                reason=reason,
                outcome="refused",
                file_name=shown_name(f.rel_path),
                size_bytes=f.size,
            )
        )
        log.warning("channel %s: refused %s: %s", self.channel.id, shown_name(f.rel_path), reason)

    def _manifests(self, transport: Transport, listed: dict[str, RemoteFile]) -> dict[str, ManifestEntry]:
        entries: dict[str, ManifestEntry] = {}
        pattern = self.channel.completion.manifest_pattern
        for m in sorted(listed.values(), key=lambda x: x.rel_path):
            if not fnmatch.fnmatchcase(m.name, pattern):
                continue
            try:
                manifest = Manifest.model_validate_json(transport.read_small(m))
            except (ValidationError, FileChanged, FileUnreadable) as exc:
                reason = "invalid manifest" if isinstance(exc, ValidationError) else f"manifest unreadable: {exc}"
                self._event(transport, m, "refused", reason)
                continue
            prefix = f"{m.folder}/" if m.folder else ""
            for entry in manifest.files:
                problem = name_problem(entry.name)
                if problem:
                    self._event(transport, m, "refused", f"manifest entry {printable(entry.name)}: {problem}")
                    continue
                entries[prefix + entry.name] = entry
        return entries

    # ---- taking one file -----------------------------------------------------------------------------
    def _complete(
        self,
        transport: Transport,
        f: RemoteFile,
        listed: dict[str, RemoteFile],
        manifests: dict[str, ManifestEntry],
    ) -> bool:
        completion = self.channel.completion
        if completion.policy == "marker":
            marker = completion.marker_for(f.name)
            if (f"{f.folder}/{marker}" if f.folder else marker) not in listed:
                self._event(transport, f, "pending", f"waiting for its completion marker {marker}")
                return False
        elif completion.policy == "manifest":
            entry = manifests.get(f.rel_path)
            if entry is None:
                self._event(transport, f, "pending", "not listed in a manifest yet")
                return False
            if entry.size != f.size:
                self._event(
                    transport, f, "pending", f"{f.size} bytes, its manifest says {entry.size} (still being written?)"
                )
                return False
        return True

    def _quarantine(self, got: Downloaded, f: RemoteFile, reason: str, source_path: str) -> Path:
        folder = ingest_quarantine_dir(self.settings, self.channel.id, got.sha256)
        dest = got.commit(folder / f.name)
        payload = {
            "channel": self.channel.id,
            "file_id": got.sha256,
            "file_name": f.name,
            "source_path": source_path,
            "reason": reason,
        }
        _write_atomic(folder / "reason.json", json.dumps(payload, indent=2, sort_keys=True) + "\n")
        return dest

    def _write_receipt(self, rec: FileRecord) -> None:
        name = hashlib.sha256(rec.source_path.encode()).hexdigest()[:32]
        _write_atomic(receipts_dir(self.settings, self.channel.id) / f"{name}.json", json.dumps(rec.to_dict()))

    def _accept(self, transport: Transport, f: RemoteFile, rec: FileRecord, listed: dict[str, RemoteFile]) -> None:
        folder = self.channel.move_after_download
        if folder:
            self._write_receipt(rec)
            try:
                transport.move(f, folder)
                if self.channel.completion.policy == "marker":
                    marker_name = self.channel.completion.marker_for(f.name)
                    marker = listed.get(f"{f.folder}/{marker_name}" if f.folder else marker_name)
                    if marker is not None:
                        transport.move(marker, folder)
            except TransportError as exc:  # landed and verified: the next poll finds it unchanged and moves it
                log.warning("channel %s: %s landed but not moved: %s", self.channel.id, printable(f.rel_path), exc)
        self.records.append(rec)

    def _take(
        self,
        transport: Transport,
        f: RemoteFile,
        listed: dict[str, RemoteFile],
        manifests: dict[str, ManifestEntry],
    ) -> None:
        if not self._complete(transport, f, listed, manifests):
            return
        if f.size == 0:
            self._empty(transport, f)
            return
        source = transport.source_path(f)
        previous = self.state.accepted.get(source)
        if previous is not None and self._was_empty(previous):
            previous = None  # a zero-byte delivery under this name, refused: the bytes now come for the first time
        known = self.state.objects.get(source)
        if transport.trusts_identity and known is not None and known.identity == f.identity:
            if known.outcome in ("new", "duplicate"):
                reg = self.state.files.get(known.file_id)
                if reg is not None and s3home.has(self.settings, reg.landing_path):
                    rec = FileRecord(
                        file_id=reg.file_id,
                        channel=self.channel.id,
                        file_name=f.name,
                        source_path=source,
                        size_bytes=reg.size_bytes,
                        landing_path=reg.landing_path,
                        arrived_at=_utc(self.now),
                        remote_identity=f.identity,
                        verified_by="unchanged listing",
                    )
                    self._accept(transport, f, rec, listed)
                    return
            elif known.outcome == "replaced" and previous and previous != known.file_id:
                self._replaced(transport, f, known.file_id, previous, None)
                return
        try:
            with transport.download(f, incoming_dir(self.settings, self.channel.id)) as got:
                self.downloaded += 1
                entry = manifests.get(f.rel_path)
                if entry is not None and entry.sha256 != got.sha256:
                    reason = "SHA-256 differs from its manifest's"
                    path = self._quarantine(got, f, reason, source)
                    self._event(
                        transport,
                        f,
                        "quarantined",
                        reason,
                        file_id=got.sha256,
                        quarantine_path=self.settings.stored(path),
                    )
                    return
                if previous is not None and previous != got.sha256:
                    self._replaced(transport, f, got.sha256, previous, got)
                    return
                dest = got.commit(landing_path(self.settings, self.channel.id, got.sha256))
                rec = FileRecord(
                    file_id=got.sha256,
                    channel=self.channel.id,
                    file_name=f.name,
                    source_path=source,
                    size_bytes=got.size,
                    landing_path=self.settings.stored(dest),
                    arrived_at=_utc(self.now),
                    remote_identity=f.identity,
                    verified_by=got.verified_by,
                )
            self._accept(transport, f, rec, listed)
        except FileChanged as exc:
            self._event(transport, f, "pending", f"changed during the pull, taken on the next poll: {exc}")
        except FileUnreadable as exc:
            self._event(transport, f, "quarantined", f"unreadable: {exc}")
        except TransientError as exc:
            log.error("channel %s: %s", self.channel.id, exc)
            self.failed.append(printable(f.rel_path))

    def _empty(self, transport: Transport, f: RemoteFile) -> None:
        """A zero-byte file: kept in the ingest quarantine with its reason, and reported by an event that
        ``register`` also registers as a file (which normalisation quarantines whole, for the run to show)."""
        source = transport.source_path(f)
        file_id = empty_file_id(self.channel.id, source, f.identity)
        folder = ingest_quarantine_dir(self.settings, self.channel.id, file_id)
        kept = folder / f.name
        if not (kept.exists() and (folder / "reason.json").exists()):
            _write_atomic(kept, "")
            payload = {
                "channel": self.channel.id,
                "file_id": file_id,
                "file_name": f.name,
                "source_path": source,
                "reason": EMPTY_FILE,
                "size_bytes": 0,
            }
            _write_atomic(folder / "reason.json", json.dumps(payload, indent=2, sort_keys=True) + "\n")
        self._event(
            transport, f, "quarantined", EMPTY_FILE, file_id=file_id, quarantine_path=self.settings.stored(kept)
        )

    def _was_empty(self, file_id: str) -> bool:
        """Whether ``file_id`` is a zero-byte delivery of this channel (``_empty``)."""
        reason = ingest_quarantine_dir(self.settings, self.channel.id, file_id) / "reason.json"
        try:
            return bool(reason.is_file() and json.loads(reason.read_text(encoding="utf-8")).get("size_bytes") == 0)
        except (OSError, ValueError):
            return False

    def _replaced(
        self, transport: Transport, f: RemoteFile, file_id: str, previous: str, got: Downloaded | None
    ) -> None:
        source = transport.source_path(f)
        reason = (
            f"different bytes under a name already ingested (was {previous[:12]}, now {file_id[:12]}): "
            "kept in quarantine, the ingested file stays"
        )
        path = (
            self._quarantine(got, f, reason, source)
            if got is not None
            else ingest_quarantine_dir(self.settings, self.channel.id, file_id) / f.name
        )
        self._event(
            transport,
            f,
            "replaced",
            reason,
            file_id=file_id,
            previous_file_id=previous,
            quarantine_path=self.settings.stored(path),
        )

    def _recover_receipts(self, transport: Transport, listed: dict[str, RemoteFile]) -> None:
        """Hand over files landed and moved by an earlier pull that did not get registered."""
        folder = receipts_dir(self.settings, self.channel.id)
        if not folder.is_dir():
            return
        listed_sources = {transport.source_path(f) for f in listed.values()}
        for path in sorted(folder.glob("*.json")):
            try:
                rec = FileRecord(**json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                log.warning("channel %s: unreadable receipt %s removed", self.channel.id, path.name)
                path.unlink(missing_ok=True)
                continue
            if self.state.accepted.get(rec.source_path) == rec.file_id:
                path.unlink(missing_ok=True)  # registered: the receipt has done its work
            elif rec.source_path in listed_sources:
                continue  # still at the source: this pull takes it
            elif s3home.has(self.settings, rec.landing_path):
                log.info("channel %s: recovering %s from its receipt", self.channel.id, rec.file_name)
                self.records.append(rec)
            else:
                log.warning("channel %s: receipt of %s has no landed file; removed", self.channel.id, rec.file_name)
                path.unlink(missing_ok=True)

    def run(self, transport: Transport) -> None:
        candidates, listed = self._list(transport)
        self._recover_receipts(transport, listed)
        manifests = self._manifests(transport, listed) if self.channel.completion.policy == "manifest" else {}
        for f in candidates:
            self._take(transport, f, listed, manifests)


def pull_channel(
    channel: Channel,
    settings: Settings,
    now: dt.datetime,
    base: Path | None = None,
    *,
    catalog: Catalog | None = None,
    sleep: Callable[[float], None] | None = None,
) -> tuple[list[FileRecord], list[Skipped]]:
    """Land every new, complete file of a channel; return one record per file taken (new or already known)
    and one event per file not taken. Reads the catalog, never writes it."""
    if base is None:
        base = settings.rules.parent if settings.rules.parent.exists() else PROJECT_ROOT
    state = (catalog or open_catalog(settings)).ingest_state(channel.id)
    pull = _Pull(channel, settings, now, state, sleep)
    with open_transport(channel, base, sleep) as transport:
        pull.run(transport)
        sessions = transport.connections
    counts: dict[str, int] = {}
    for ev in pull.events:
        counts[ev.outcome] = counts.get(ev.outcome, 0) + 1
    log.info(
        "channel %s: %d file(s) taken (%d downloaded, %d session(s)); not taken: %s",
        channel.id,
        len(pull.records),
        pull.downloaded,
        sessions,
        counts or "none",
    )
    if pull.failed:
        raise IngestError(
            f"channel {channel.id}: {len(pull.failed)} file(s) could not be transferred after "
            f"{channel.retry.attempts} attempt(s): {', '.join(pull.failed)}; the other files were landed"
        )
    return pull.records, pull.events


def register(
    catalog: Catalog, records: list[FileRecord], now: dt.datetime, events: list[IngestEvent] | None = None
) -> dict[str, int]:
    """Register landed files and the pull's events in the catalog (single writer). Same bytes twice is a
    recorded no-op ('duplicate'). A zero-byte delivery (its event) is registered as a file too, for
    normalisation to quarantine it whole (counted once, as 'quarantined'). Every text is made UTF-8 first (a
    name that is not would stop the registration of every file)."""
    records = [_utf8_record(r) for r in records]
    events = [_utf8_event(e) for e in events or []]
    empties = [r for r in (_empty_record(e, now) for e in events) if r is not None]
    outcomes = catalog.register_deliveries([*records, *empties], now, events)
    counts = {"new": 0, "duplicate": 0, "pending": 0, "refused": 0, "quarantined": 0, "replaced": 0}
    for _, outcome in outcomes[: len(records)]:
        counts[outcome] += 1
    for ev in events:
        counts[ev.outcome] = counts.get(ev.outcome, 0) + 1
    return counts


def _empty_record(ev: IngestEvent, now: dt.datetime) -> FileRecord | None:
    """The file record of a zero-byte delivery's event (None for any other event)."""
    if ev.outcome != "quarantined" or ev.reason != EMPTY_FILE or not ev.file_id or not ev.quarantine_path:
        return None
    return FileRecord(
        file_id=ev.file_id,
        channel=ev.channel,
        file_name=ev.file_name,
        source_path=ev.source_path,
        size_bytes=0,
        landing_path=ev.quarantine_path,
        arrived_at=_utc(now),
        verified_by="size",
    )


def _utf8_record(rec: FileRecord) -> FileRecord:
    names = {"file_name": rec.file_name, "source_path": rec.source_path, "landing_path": rec.landing_path}
    fixed: dict[str, Any] = {k: shown_name(v) for k, v in names.items() if not_utf8(v)}
    return dataclasses.replace(rec, **fixed) if fixed else rec


def _utf8_event(ev: IngestEvent) -> IngestEvent:
    texts = {"file_name": ev.file_name, "source_path": ev.source_path, "reason": ev.reason}
    fixed: dict[str, Any] = {k: shown_name(v) for k, v in texts.items() if not_utf8(v)}
    return dataclasses.replace(ev, **fixed) if fixed else ev
