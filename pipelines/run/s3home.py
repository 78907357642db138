"""An S3 workspace (``RECON_HOME=s3://bucket/prefix``) worked on through a synchronised local copy.

Every stage reads and writes local folders, as with a local workspace; the local folder
(``Settings.home``: ``RECON_LOCAL_DIR``, default ``<temp>/recon-<hash of the URL>``) is a copy of the remote
one, and each unit of work (a ``recon`` command, an Airflow task) pulls what it reads before it runs and pushes
what it wrote after, so that a task runs on any host, with an empty local disk or a stale one:

- the writers holding the workspace lock pull the workspace when they take it and push it when they let it
  go (``pipelines.run.lock``); a per-channel task pulls and pushes only the files of its channel and files;
- an object is transferred only when it differs: the local copy keeps a manifest (``.sync/manifest.json``:
  each file's ETag, size and modification time when it was last synchronised) and the listing gives each
  object's ETag (the MD5 of its bytes, or of its 64 MiB parts' MD5s), so an unchanged file is neither
  downloaded nor uploaded again, nor even hashed;
- every upload is verified (the ETag S3 returns must be the MD5 the file has here) and every download too
  (written aside, checked, renamed into place); transient faults are retried with bounded backoff;
- a landed file (``landing/<channel>/<xx>/<sha256>``, content-addressed) is put once and never overwritten
  (``If-None-Match: *``; an object already there must have the same bytes); a journal (append-only) is
  overwritten only if it is still the version this copy pulled (``If-Match``), and only under the lock;
- a file this copy knew (in its manifest) and removed is deleted remotely; objects it never saw (written by
  another host since) are left alone;
- a published date ``outputs/<date>`` (a symbolic link locally) is the object ``outputs/<date>.published.json``,
  the date's completion marker: it names the run folder and lists every object of it (size and MD5), and is
  written only after all of them are uploaded. A pull makes the link only from a marker whose objects it
  has, so a reader never sees a run folder whose marker was not written: a crash between the upload of a run
  folder and its marker leaves the previous run visible.

Never synchronised (local to each copy): ``.lock``, ``.sync/``, ``tmp/`` (scratch, spill), ``exports/``, and
the temporary files of a write in progress (``.incoming/``, ``.<name>.tmp-<pid>`` and the like).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.core.config import BINDING, Settings

log = logging.getLogger(__name__)

SYNC_DIR = ".sync"
MANIFEST = "manifest.json"
LINK_SUFFIX = ".published.json"  # outputs/<date> (a symbolic link here) is this object there
AREAS = ("landing/", "staging/", "quarantine/", "outputs/", "journal/", "work/")  # what is synchronised
PART = 64 * 1024 * 1024  # files above this go up in parts of this size (their ETag: MD5 of the parts' MD5s)
CONNECTION_ENV = "RECON_HOME_S3_CONNECTION"
ENDPOINT_ENV = "RECON_HOME_S3_ENDPOINT_URL"
REGION_ENV = "RECON_HOME_S3_REGION"

_LANDED = re.compile(r"^landing/[^/]+/[0-9a-f]{2}/[0-9a-f]{64}$")  # content-addressed: put once, never changed
_JOURNAL = re.compile(r"^journal/[^/]+\.jsonl$")
_SCRATCH = re.compile(r"(^|/)(\.incoming|\.sync|tmp)(/|$)|\.(tmp|link|partial|sync)-\d+|^\.lock$|^exports/")

Want = Callable[[str], bool]


class SyncError(RuntimeError):
    """The local copy and the S3 workspace cannot be brought in line (one line: what and where)."""


@dataclass
class Figures:
    """What one synchronisation moved: files and bytes each way, remote objects deleted, files left as they
    were because identical."""

    pulled: int = 0
    pulled_bytes: int = 0
    pushed: int = 0
    pushed_bytes: int = 0
    deleted: int = 0
    same: int = 0

    def add(self, other: Figures) -> None:
        for k, v in vars(other).items():
            setattr(self, k, getattr(self, k) + v)


TOTALS = Figures()  # this process's transfers, for the figures of a task and the tests


def scratch(rel: str) -> bool:
    """Whether a workspace path stays local (lock, scratch, temporary files of a write in progress)."""
    return bool(_SCRATCH.search(rel)) or rel.startswith("catalog.duckdb")


def etag_of(path: Path) -> str:
    """The ETag S3 gives the file's bytes as this module uploads them: their MD5 (hex), or for a file above
    ``PART`` the MD5 of its parts' MD5s and ``-<parts>``."""
    size = path.stat().st_size
    whole = hashlib.md5(usedforsecurity=False)
    parts: list[bytes] = []
    with path.open("rb") as fh:
        while chunk := fh.read(PART if size > PART else 1024 * 1024):
            if size > PART:
                parts.append(hashlib.md5(chunk, usedforsecurity=False).digest())
            else:
                whole.update(chunk)
    if size <= PART:
        return whole.hexdigest()
    return hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest() + f"-{len(parts)}"


@dataclass
class _Manifest:
    """The local copy's record of what it last synchronised: rel path -> etag, size, mtime_ns (files) or etag,
    link (published dates). Changes are merged into the file under a lock (processes of one host share it)."""

    path: Path
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> _Manifest:
        path = root / SYNC_DIR / MANIFEST
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError):
            entries = {}
        return cls(path, entries if isinstance(entries, dict) else {})

    def get(self, rel: str) -> dict[str, Any] | None:
        return self.entries.get(rel)

    def set(self, rel: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            self.entries.pop(rel, None)
        else:
            self.entries[rel] = entry
        self.changes[rel] = entry

    def save(self) -> None:
        if not self.changes:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / "manifest.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = json.loads(self.path.read_text())
            except (OSError, ValueError):
                current = {}
            for rel, entry in self.changes.items():
                if entry is None:
                    current.pop(rel, None)
                else:
                    current[rel] = entry
            tmp = self.path.with_name(f".{MANIFEST}.tmp-{os.getpid()}")
            tmp.write_text(json.dumps(current, sort_keys=True, separators=(",", ":")))
            os.replace(tmp, self.path)
        self.changes = {}


def _file_entry(path: Path, etag: str) -> dict[str, Any]:
    st = path.stat()
    return {"etag": etag, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _unchanged(entry: dict[str, Any] | None, path: Path) -> bool:
    """The file is as it was when last synchronised (same size and modification time)."""
    if entry is None or "link" in entry:
        return False
    st = path.stat()
    return bool(entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns)


class Home:
    """One S3 workspace and its local copy ``root``."""

    def __init__(self, remote: str, root: Path, client: Any = None) -> None:
        from pipelines.publish.s3 import S3Target, _Session

        self.remote = remote
        self.root = root
        self.target = S3Target.from_url(
            remote,
            connection_id=os.environ.get(CONNECTION_ENV) or None,
            endpoint_url=os.environ.get(ENDPOINT_ENV) or None,
            region=os.environ.get(REGION_ENV) or None,
        )
        self.session = _Session(self.target, client, None, None, f"workspace {remote}")

    # -- S3 calls ---------------------------------------------------------------------------------------------

    def key(self, rel: str) -> str:
        return self.target.prefix + rel

    def listing(self, prefixes: Iterable[str]) -> dict[str, tuple[str, int]]:
        """rel path -> (ETag without quotes, size) of every object under ``prefixes``."""
        out: dict[str, tuple[str, int]] = {}
        for prefix in prefixes:
            token: str | None = None
            while True:
                args: dict[str, Any] = {"Bucket": self.target.bucket, "Prefix": self.key(prefix)}
                if token:
                    args["ContinuationToken"] = token
                page = self.session.call(
                    f"listing {self.target.url(self.key(prefix))}",
                    lambda c, a=args: c.list_objects_v2(**a),  # type: ignore[misc]
                )
                for obj in page.get("Contents", []):
                    rel = str(obj["Key"])[len(self.target.prefix) :]
                    out[rel] = (str(obj["ETag"]).strip('"'), int(obj["Size"]))
                if not page.get("IsTruncated"):
                    break
                token = page.get("NextContinuationToken")
        return out

    def head(self, rel: str) -> str | None:
        """The object's ETag, or None when there is none."""
        from pipelines.ingest.transports.base import FileChanged

        try:
            got = self.session.call(
                f"reading {self.target.url(self.key(rel))}",
                lambda c: c.head_object(Bucket=self.target.bucket, Key=self.key(rel)),
            )
        except FileChanged:
            return None
        return str(got["ETag"]).strip('"')

    def download(self, rel: str, etag: str, size: int) -> Path:
        """The object into the local copy: written aside, its MD5 (ETag) and size checked, renamed into place."""
        from pipelines.ingest.transports.base import TransientError

        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.sync-{os.getpid()}")

        def get(c: Any) -> None:
            got = c.get_object(Bucket=self.target.bucket, Key=self.key(rel), IfMatch=f'"{etag}"')  # as listed
            with tmp.open("wb") as out:
                for chunk in got["Body"].iter_chunks(1024 * 1024):
                    out.write(chunk)
            if tmp.stat().st_size != size or etag_of(tmp) != etag:
                tmp.unlink(missing_ok=True)
                raise TransientError(f"downloading {self.target.url(self.key(rel))}: bytes differ from its ETag")

        try:
            self.session.call(f"downloading {self.target.url(self.key(rel))}", get)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def upload(self, rel: str, path: Path, etag: str, condition: dict[str, str] | None = None) -> None:
        """The file as the object ``rel``, verified: S3 must give it the ETag (MD5) it has here."""
        from pipelines.ingest.transports.base import TransientError

        what = f"uploading {rel} to {self.target.url(self.key(rel))}"
        size = path.stat().st_size

        def put(c: Any) -> None:
            if size <= PART:
                md5 = base64.b64encode(bytes.fromhex(etag)).decode("ascii")
                with path.open("rb") as body:
                    got = c.put_object(
                        Bucket=self.target.bucket, Key=self.key(rel), Body=body, ContentMD5=md5, **(condition or {})
                    )
                returned = str(got.get("ETag", "")).strip('"')
            else:
                from boto3.s3.transfer import TransferConfig

                config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
                c.upload_file(str(path), self.target.bucket, self.key(rel), Config=config)
                head = c.head_object(Bucket=self.target.bucket, Key=self.key(rel))
                returned = str(head["ETag"]).strip('"')
            if returned != etag:
                raise TransientError(f"{what}: S3 holds other bytes (ETag {returned}, expected {etag})")

        self.session.call(what, put)

    def put_json(self, rel: str, doc: dict[str, Any]) -> str:
        data = json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"
        md5 = hashlib.md5(data, usedforsecurity=False)
        self.session.call(
            f"writing {self.target.url(self.key(rel))}",
            lambda c: c.put_object(
                Bucket=self.target.bucket,
                Key=self.key(rel),
                Body=data,
                ContentType="application/json",
                ContentMD5=base64.b64encode(md5.digest()).decode("ascii"),
            ),
        )
        return md5.hexdigest()

    def get_json(self, rel: str) -> dict[str, Any] | None:
        got = self.session.get_json(self.key(rel))
        return None if got is None else got[0]

    def delete(self, rels: list[str]) -> None:
        for i in range(0, len(rels), 1000):
            batch = {"Objects": [{"Key": self.key(r)} for r in rels[i : i + 1000]], "Quiet": True}
            self.session.call(
                f"deleting from {self.target.url(self.target.prefix)}",
                lambda c, b=batch: c.delete_objects(Bucket=self.target.bucket, Delete=b),  # type: ignore[misc]
            )

    # -- the local copy --------------------------------------------------------------------------------------

    def local_files(self, prefixes: Iterable[str]) -> tuple[dict[str, Path], dict[str, str]]:
        """Regular files (rel -> path) and symbolic links (rel -> target) of the local copy under
        ``prefixes``, scratch excluded; links are not followed."""
        files: dict[str, Path] = {}
        links: dict[str, str] = {}
        for prefix in prefixes:
            top = self.root / prefix
            if top.is_file() and not top.is_symlink() and not scratch(prefix):
                files[prefix] = top
                continue
            if not top.is_dir():
                continue
            for folder, dirs, names in os.walk(top):
                base = Path(folder)
                for name in [*dirs, *names]:
                    path = base / name
                    rel = path.relative_to(self.root).as_posix()
                    if scratch(rel):
                        continue
                    if path.is_symlink():
                        links[rel] = os.readlink(path)
                    elif name in names and path.is_file():
                        files[rel] = path
                dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
        return files, links

    # -- pull ------------------------------------------------------------------------------------------------

    def pull(self, prefixes: Iterable[str] = AREAS, want: Want | None = None) -> Figures:
        """Bring the local copy in line with the S3 workspace under ``prefixes`` (and, with ``want``, only the
        paths it accepts): objects not here or different are downloaded; files this copy synchronised before
        and that are gone there are removed here; published dates are linked last, from their markers."""
        from pipelines.ingest.transports.base import FileChanged

        prefixes = tuple(prefixes)
        fig = Figures()
        manifest = _Manifest.load(self.root)
        remote = self.listing(prefixes)
        chosen = {r: v for r, v in remote.items() if not scratch(r) and (want is None or want(r))}
        markers = {r: v for r, v in chosen.items() if r.startswith("outputs/") and r.endswith(LINK_SUFFIX)}
        try:
            for rel, (etag, size) in sorted(chosen.items()):
                if rel in markers:
                    continue
                path = self.root / rel
                entry = manifest.get(rel)
                if path.is_file() and not path.is_symlink():
                    if entry is not None and entry.get("etag") == etag and _unchanged(entry, path):
                        fig.same += 1
                        continue
                    if path.stat().st_size == size and etag_of(path) == etag:
                        manifest.set(rel, _file_entry(path, etag))
                        fig.same += 1
                        continue
                try:
                    self.download(rel, etag, size)
                except FileChanged:  # replaced or removed since the listing (a writer elsewhere): the next pull
                    log.info("%s changed while it was pulled", rel)
                    continue
                manifest.set(rel, _file_entry(path, etag))
                fig.pulled += 1
                fig.pulled_bytes += size
            for rel, entry in list(manifest.entries.items()):  # gone there: removed here, if unchanged here
                if rel in remote or not rel.startswith(prefixes) or (want is not None and not want(rel)):
                    continue
                if "link" in entry:
                    link = self.root / rel[: -len(LINK_SUFFIX)]
                    if link.is_symlink() and os.readlink(link) == entry["link"]:
                        link.unlink()
                else:
                    path = self.root / rel
                    if path.is_file() and _unchanged(entry, path):
                        path.unlink()
                manifest.set(rel, None)
            for rel, (etag, size) in sorted(markers.items()):
                if self._link_from_marker(rel, etag, manifest):
                    fig.pulled += 1
                    fig.pulled_bytes += size
                else:
                    fig.same += 1
        finally:
            manifest.save()
        TOTALS.add(fig)
        return fig

    def _link_from_marker(self, rel: str, etag: str, manifest: _Manifest) -> bool:
        """Link ``outputs/<date>`` to the run folder the marker ``rel`` names, once every object it lists is
        here with its MD5; False when the link is already so."""
        link = self.root / rel[: -len(LINK_SUFFIX)]
        entry = manifest.get(rel)
        if entry is not None and entry.get("etag") == etag and link.is_symlink() and os.readlink(link) == entry["link"]:
            return False
        doc = self.get_json(rel)
        if doc is None:  # replaced or removed since the listing: the next pull takes the new one
            return False
        target = str(doc["target"])
        folder = link.parent / target
        for name, obj in dict(doc["objects"]).items():
            here = folder / name
            obj_rel = here.relative_to(self.root).as_posix()
            known = manifest.get(obj_rel)
            if not here.is_file():
                raise SyncError(f"{self.target.url(self.key(rel))} lists {obj_rel}, which is not in the workspace")
            same = known is not None and known.get("etag") == obj["md5"] and _unchanged(known, here)
            if not same and etag_of(here) != obj["md5"]:
                raise SyncError(f"{obj_rel} differs from what {self.target.url(self.key(rel))} lists")
        if not (link.is_symlink() and os.readlink(link) == target):
            tmp = link.parent / f".{link.name}.link-{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            os.replace(tmp, link)
        manifest.set(rel, {"etag": etag, "link": target})
        return True

    # -- push ------------------------------------------------------------------------------------------------

    def push(self, prefixes: Iterable[str] = AREAS, want: Want | None = None) -> Figures:
        """Bring the S3 workspace in line with what this copy wrote under ``prefixes`` (``want``: only the paths
        it accepts): changed and new files are uploaded first, then the markers of published dates, then the
        objects of files this copy removed are deleted."""
        prefixes = tuple(prefixes)
        fig = Figures()
        manifest = _Manifest.load(self.root)
        remote = self.listing(prefixes)
        files, links = self.local_files(prefixes)
        if want is not None:
            files = {r: p for r, p in files.items() if want(r)}
            links = {r: t for r, t in links.items() if want(r)}
        try:
            for rel, path in sorted(files.items()):
                entry = manifest.get(rel)
                there = remote.get(rel, ("", 0))[0]
                if _unchanged(entry, path):  # not written here since it was synchronised: nothing to push, even
                    fig.same += 1  # when it changed there since (another host's newer version is never undone)
                    continue
                etag = etag_of(path)
                if etag == there:
                    manifest.set(rel, _file_entry(path, etag))
                    fig.same += 1
                    continue
                self._upload_one(rel, path, etag, there, entry)
                manifest.set(rel, _file_entry(path, etag))
                remote[rel] = (etag, path.stat().st_size)
                fig.pushed += 1
                fig.pushed_bytes += path.stat().st_size
            for rel, target in sorted(links.items()):
                marker = rel + LINK_SUFFIX
                entry = manifest.get(marker)
                if entry is not None and entry.get("link") == target:  # not switched here since synchronised
                    fig.same += 1
                    continue
                etag = self._write_marker(rel, target, manifest, remote)
                manifest.set(marker, {"etag": etag, "link": target})
                fig.pushed += 1
            gone = []
            for rel, entry in list(manifest.entries.items()):
                if not rel.startswith(prefixes) or (
                    want is not None and not want(rel[: -len(LINK_SUFFIX)] if "link" in entry else rel)
                ):
                    continue
                here = rel[: -len(LINK_SUFFIX)] in links if "link" in entry else rel in files
                if here:
                    continue
                if _LANDED.match(rel) or _JOURNAL.match(rel):
                    manifest.set(rel, None)  # never removed there: immutable, append-only
                    continue
                if remote.get(rel, ("",))[0] == entry.get("etag"):  # only what this copy knew, as it knew it
                    gone.append(rel)
                manifest.set(rel, None)
            self.delete(gone)
            fig.deleted += len(gone)
        finally:
            manifest.save()
        TOTALS.add(fig)
        return fig

    def _upload_one(self, rel: str, path: Path, etag: str, there: str, entry: dict[str, Any] | None) -> None:
        from pipelines.ingest.transports.base import FileChanged

        if _LANDED.match(rel):  # content-addressed: put once, never overwritten
            if there:
                raise SyncError(
                    f"{self.target.url(self.key(rel))} exists with other bytes (a landed file never changes)"
                )
            try:
                self.upload(rel, path, etag, {"IfNoneMatch": "*"})
            except FileChanged:
                if self.head(rel) != etag:
                    raise SyncError(f"{self.target.url(self.key(rel))} exists with other bytes") from None
            return
        if _JOURNAL.match(rel):  # append-only: overwrite only the version this copy pulled
            known = entry.get("etag") if entry else None
            if there and there != known:
                raise SyncError(
                    f"{self.target.url(self.key(rel))} changed since this copy pulled it: journals are appended only "
                    "under the workspace lock"
                )
            try:
                self.upload(rel, path, etag, {"IfMatch": f'"{there}"'} if there else {"IfNoneMatch": "*"})
            except FileChanged:
                raise SyncError(f"{self.target.url(self.key(rel))} changed while it was written") from None
            return
        self.upload(rel, path, etag)

    def _write_marker(self, rel: str, target: str, manifest: _Manifest, remote: dict[str, tuple[str, int]]) -> str:
        """The completion marker of ``outputs/<date>``: the run folder and every object of it with its size and
        MD5, each checked to be there with those bytes before the marker is written."""
        folder = (self.root / rel).parent / target
        objects: dict[str, dict[str, Any]] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not scratch(p.name)):
            obj_rel = path.relative_to(self.root).as_posix()
            entry = manifest.get(obj_rel)
            etag = str(entry["etag"]) if entry is not None and _unchanged(entry, path) else etag_of(path)
            if remote.get(obj_rel, ("",))[0] != etag:
                raise SyncError(f"{obj_rel} is not uploaded: the marker of {rel} is not written")
            objects[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size, "md5": etag}
        if not objects:
            raise SyncError(f"{rel} shows an empty run folder: the marker is not written")
        return self.put_json(rel + LINK_SUFFIX, {"target": target, "objects": objects})


# -- the binding of a local copy to its S3 workspace, and the hooks the stages call ---------------------------

_HOMES: dict[tuple[int, str], Home] = {}


def bind(settings: Settings) -> Home | None:
    """The S3 workspace of ``settings`` (None for a local one; ``config.settings`` bound its local copy)."""
    if settings.remote is None:
        return None
    return of(settings.home)


def of(home: Path) -> Home | None:
    """The S3 workspace whose local copy is ``home`` (None: ``home`` is a local workspace)."""
    cache = (os.getpid(), str(home))
    if cache in _HOMES:
        return _HOMES[cache]
    try:
        remote = json.loads((home / BINDING).read_text()).get("remote")
    except (OSError, ValueError):
        return None
    if not remote:
        return None
    _HOMES[cache] = Home(str(remote), home)
    return _HOMES[cache]


def _report(what: str, fig: Figures) -> None:
    log.info(
        "figures sync %s: pulled=%d pulled_bytes=%d pushed=%d pushed_bytes=%d deleted=%d same=%d",
        what, fig.pulled, fig.pulled_bytes, fig.pushed, fig.pushed_bytes, fig.deleted, fig.same,
    )  # fmt: skip


def pull(home: Path, prefixes: Iterable[str] = AREAS, want: Want | None = None) -> None:
    """Pull into the local copy ``home`` when it is one (nothing for a local workspace)."""
    h = of(home)
    if h is not None:
        _report("pull", h.pull(prefixes, want))


def push(home: Path, prefixes: Iterable[str] = AREAS, want: Want | None = None) -> None:
    """Push what the local copy ``home`` wrote when it is one (nothing for a local workspace)."""
    h = of(home)
    if h is not None:
        _report("push", h.push(prefixes, want))


@contextlib.contextmanager
def synced(settings: Settings, pulls: Iterable[str], pushes: Iterable[str], want: Want | None = None) -> Iterator[None]:
    """A unit of work on the S3 workspace of ``settings``: pull ``pulls`` first, push ``pushes`` after (also
    after a failure: what was written is kept, as on a local disk). Nothing for a local workspace."""
    if bind(settings) is None:
        yield
        return
    pull(settings.home, pulls, want)
    try:
        yield
    finally:
        push(settings.home, pushes, want)


def push_path(home: Path, path: Path) -> None:
    """Push one file or folder of the local copy ``home`` now (a journal just appended, a run folder before
    its catalog commit)."""
    h = of(home)
    if h is None:
        return
    rel = path.relative_to(home).as_posix()
    _report(f"push {rel}", h.push((rel if path.is_file() else rel + "/",)))


def publish_link(home: Path, link: Path) -> None:
    """After ``outputs/<date>`` was switched here: its run folder pushed (nothing when it is already there),
    then its completion marker, last."""
    h = of(home)
    if h is None:
        return
    target = link.parent / os.readlink(link)
    push_path(home, target)
    rel = link.relative_to(home).as_posix()
    _report(f"publish {rel}", h.push(("outputs/",), want=lambda r: r == rel))


def has(settings: Settings, stored: str) -> bool:
    """Whether a file the catalog recorded exists: here, or in the S3 workspace."""
    path = settings.local(stored)
    if path.exists():
        return True
    h = bind(settings)
    if h is None:
        return False
    return h.head(path.relative_to(settings.home).as_posix()) is not None


def fetch(settings: Settings, stored: str) -> Path:
    """The local path of a file the catalog recorded, downloaded first when it is only in the S3 workspace."""
    path = settings.local(stored)
    h = bind(settings)
    if h is not None and not path.exists():
        rel = path.relative_to(settings.home).as_posix()
        h.pull((rel,), want=lambda r: r == rel)
    return path
