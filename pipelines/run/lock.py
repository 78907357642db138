"""One writer per workspace: the workspace lock, and the cleaning of what a dead run left behind.

The lock is ``<home>/.lock``, taken with ``fcntl.flock``: the kernel releases it when its holder ends, even
by ``kill -9``, so a dead run never blocks the next one. The file records the holder (pid, host, command,
business date, since when, in UTC) so that a run that cannot get it says who has it. A process re-enters a
lock it already holds (``run_all`` holds it and calls the other writing stages, which take it too); another
thread of the same process waits as another process does.

A second run waits ``RECON_LOCK_WAIT_SECONDS`` (default 10) and then raises ``WorkspaceBusy``, whose text is
one line naming the holder; ``recon breaks resolve`` waits ``RECON_RESOLVE_WAIT_SECONDS`` (default 60).

With the catalog in PostgreSQL (``RECON_CATALOG_URL``), processes on other hosts work on the same workspace and
a file lock does not reach them: the holder of the file lock also takes an advisory lock of the catalog's
database, held by a session of its own until the lock is let go (the server releases it when the session
ends, as the kernel releases the file lock: a run killed with ``kill -9`` holds neither). The session's name
carries the holder (pid, host, command, business date) for the message of a run that cannot get it.

With the workspace in S3 (``RECON_HOME=s3://...``, which needs the catalog in PostgreSQL) the lock file is in
the host's local copy and the advisory lock is what excludes other hosts; the first holder in a process pulls
the areas it reads once it has both, and pushes what it wrote before letting them go
(``pipelines.run.s3home``), so the next holder, on any host, starts from it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.core.config import WAIT_ENV, Settings, catalog_url, wait_seconds
from pipelines.run import s3home

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
RESOLVE_WAIT_ENV = "RECON_RESOLVE_WAIT_SECONDS"
DEFAULT_RESOLVE_WAIT_S = 60.0
EXIT_BUSY = 4  # exit code of ``recon`` when the workspace is busy
_POLL_S = 0.1


class WorkspaceBusy(RuntimeError):
    """Another process holds the workspace lock and did not release it within the wait."""

    def __init__(self, home: Path, holder: dict[str, Any] | None, waited_s: float, wait_env: str) -> None:
        self.home = home
        self.holder = holder or {}
        self.waited_s = waited_s
        h = self.holder
        if h.get("pid"):
            who = f"pid {h['pid']} on {h.get('host') or '?'} ({h.get('command') or '?'}"
            if h.get("business_date"):
                who += f", business date {h['business_date']}"
            who += f", since {h.get('since') or '?'})"
        else:
            who = "another process (holder not recorded yet)"
        super().__init__(
            f"workspace {home} is busy: held by {who}; gave up after {waited_s:g} s (set {wait_env} to wait longer)"
        )


def lock_path(home: Path | str) -> Path:
    return Path(home).resolve() / LOCK_NAME


@dataclass
class _Held:
    fd: int
    depth: int
    server: Any = None  # the PostgreSQL session holding the catalog's advisory lock (RECON_CATALOG_URL)


_guard = threading.Lock()
_threads: dict[Path, threading.RLock] = {}  # one per lock file: the threads of this process take turns
_held: dict[Path, _Held] = {}  # lock files this process holds, with the depth of re-entry


def _after_fork_in_child() -> None:
    """A forked child does not hold its parent's lock: it forgets it (closing its copy of the descriptor does
    not release the parent's lock; a child that outlived its parent would otherwise keep the lock)."""
    global _guard
    for held in _held.values():
        try:
            os.close(held.fd)
        except OSError:
            pass
        held.server = None  # forgotten, never closed here: the session is the parent's (psycopg leaves it be)
    _held.clear()
    _threads.clear()
    _guard = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def holder(home: Path | str) -> dict[str, Any] | None:
    """What the lock file records of its holder (None when no holder is recorded)."""
    for _ in range(3):  # a new holder truncates, then writes: read again when caught in between
        try:
            text = lock_path(home).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if text.strip():
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None
            if isinstance(data, dict):
                return data
        time.sleep(0.02)
    return None


def held(home: Path | str) -> bool:
    """Whether this process holds the workspace lock."""
    with _guard:
        return lock_path(home) in _held


def _thread_lock(path: Path) -> threading.RLock:
    with _guard:
        return _threads.setdefault(path, threading.RLock())


@contextmanager
def workspace_lock(
    home: Path | str,
    command: str,
    day: dt.date | None = None,
    wait_s: float | None = None,
    wait_env: str = WAIT_ENV,
    sync: tuple[str, ...] = s3home.AREAS,
) -> Iterator[None]:
    """Hold the workspace lock for the block. Waits ``wait_s`` seconds (default: ``RECON_LOCK_WAIT_SECONDS``)
    for another holder to finish, then raises ``WorkspaceBusy``. Re-entrant within a process. With an S3
    home, the first holder pulls ``sync`` (the areas it reads) once it has the lock and pushes what it wrote
    before letting it go."""
    path = lock_path(home)
    wait = wait_seconds() if wait_s is None else max(0.0, wait_s)
    start = time.monotonic()
    deadline = start + wait
    in_process = _thread_lock(path)
    if not in_process.acquire(timeout=wait):
        raise WorkspaceBusy(path.parent, holder(path.parent), wait, wait_env)
    first = False
    try:
        entry = _held.get(path)
        if entry is not None:
            entry.depth += 1
        else:
            first = True
            fd = _take(path, command, day, deadline, wait, wait_env)
            try:
                server = _take_server(path.parent, command, day, deadline, wait, wait_env)
            except BaseException:
                _let_go(fd)
                raise
            entry = _Held(fd, 1, server)
            with _guard:
                _held[path] = entry
    except BaseException:
        in_process.release()
        raise
    synced = False
    try:
        if first:  # an S3 home: its holder works on the local copy, brought up to date under the lock
            s3home.pull(path.parent, sync)
            synced = True
        yield
    except BaseException:
        if synced and entry.depth == 1:  # what was written before the failure is kept, as on a local disk
            try:
                s3home.push(path.parent)
            except Exception as exc:
                log.error("workspace %s: what this holder wrote was not all pushed: %s", path.parent, exc)
        raise
    else:
        if synced and entry.depth == 1:
            s3home.push(path.parent)
    finally:
        entry.depth -= 1
        if entry.depth == 0:
            with _guard:
                _held.pop(path, None)
            try:
                if entry.server is not None:
                    entry.server.close()
            finally:
                _let_go(entry.fd)
        in_process.release()


def _let_go(fd: int) -> None:
    """Release the file lock held on ``fd``."""
    try:
        os.ftruncate(fd, 0)  # no holder: a stale record would name a finished run
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _take(path: Path, command: str, day: dt.date | None, deadline: float, wait: float, wait_env: str) -> int:
    """Open and flock the lock file (polling until ``deadline``), then record this process as its holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkspaceBusy(path.parent, holder(path.parent), wait, wait_env) from None
                time.sleep(min(_POLL_S, left))
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "business_date": day.isoformat() if day else None,
            "since": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "argv": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record, sort_keys=True) + "\n").encode(), 0)
        return fd
    except BaseException:
        os.close(fd)
        raise


_SEP = "|"  # between the fields of a lock session's name


def _take_server(home: Path, command: str, day: dt.date | None, deadline: float, wait: float, wait_env: str) -> Any:
    """With the catalog in PostgreSQL, a session holding its advisory lock (polling until ``deadline``);
    else None."""
    url = catalog_url()
    if url is None:
        return None
    from pipelines.catalog.backends import PostgresBackend

    backend = PostgresBackend(url)
    # the server keeps 63 bytes of a name: the host, the longest field, goes last
    fields = ("recon", str(os.getpid()), day.isoformat() if day else "", command, socket.gethostname())
    session = backend.lock_session(_SEP.join(f.replace(_SEP, "/") for f in fields))
    try:
        while not backend.try_lock(session):
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkspaceBusy(home, _server_holder(backend), wait, wait_env)
            time.sleep(min(_POLL_S, left))
        return session
    except BaseException:
        session.close()
        raise


def _server_holder(backend: Any) -> dict[str, Any] | None:
    """The holder of the catalog's advisory lock, as ``holder`` gives the file lock's."""
    found = backend.lock_holder()
    if found is None:
        return None
    name, since = found
    parts = name.split(_SEP, 4)
    if len(parts) < 5 or parts[0] != "recon":
        return {"pid": "?", "host": name, "command": "?", "since": None}
    return {
        "pid": parts[1],
        "host": parts[4],
        "command": parts[3],
        "business_date": parts[2] or None,
        "since": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if since else None,
    }


# ---- what a dead run left --------------------------------------------------------------------------------
_TMP_NAME = re.compile(r"^\..+\.(?:tmp|link)-(\d+)$")  # write_*_atomic: .<name>.tmp-<pid>; publish: .<d>.link-<pid>


def pid_alive(pid: int) -> bool:
    """Whether a process of this host has this pid (a zombie, dead but not yet reaped, counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def clean_leftovers(settings: Settings) -> dict[str, int]:
    """Remove what dead runs left: temporary files of dead processes under staging, quarantine and outputs,
    and every parked file. Only with the workspace lock held by this process (parked files belong to the
    holder's run, so no live run has any then)."""
    from pipelines.validate.normalise import _parked_folder, discard_all_parked

    if not held(settings.home):
        raise RuntimeError("clean_leftovers needs the workspace lock")
    removed = 0
    for top in (settings.staging, settings.quarantine, settings.outputs):
        for folder, dirs, files in os.walk(top):
            for name in [*files, *dirs]:  # a temporary link to a run folder is listed with the folders
                m = _TMP_NAME.match(name)
                path = Path(folder, name)
                if m is None or (name in dirs and not path.is_symlink()):
                    continue
                if int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
                    path.unlink(missing_ok=True)
                    removed += 1
    parked_dir = _parked_folder(settings)
    parked = sum(1 for p in parked_dir.iterdir() if p.is_file()) if parked_dir.is_dir() else 0
    discard_all_parked(settings)
    return {"tmp_files": removed, "parked_files": parked}
