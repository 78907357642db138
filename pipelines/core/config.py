"""Workspace, rules and catalog locations.

The workspace (``--home`` or ``RECON_HOME``, default ``./var``) holds landing, staging, quarantine,
outputs and the catalog. The rules folder (``--rules`` or ``RECON_RULES``, default ``./rules``) holds
channel and matching rule declarations. The catalog is the DuckDB file ``<home>/catalog.duckdb`` unless
``RECON_CATALOG_URL`` names a PostgreSQL database (``postgresql://...``; ``pipelines.catalog.store.open_catalog``).

The workspace may also live in S3-compatible object storage (``RECON_HOME=s3://bucket/prefix``): every stage
still works on a local folder, ``home`` (``RECON_LOCAL_DIR``, default a folder under the system's temporary
folder named after the URL), a synchronised copy of the remote one (``remote``): each unit of work pulls what
it reads and pushes what it wrote (``pipelines.run.s3home``). Paths the catalog records are stored as the
remote URL (``stored``) and read back as the local copy's (``local``), so that any host reads them. An S3
home needs the catalog in PostgreSQL: a DuckDB file cannot be shared across hosts.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
SQL_DIR = PROJECT_ROOT / "sql"
CATALOG_URL_ENV = "RECON_CATALOG_URL"
CATALOG_URL_SCHEMES = ("postgresql://", "postgres://")
HOME_ENV = "RECON_HOME"
LOCAL_DIR_ENV = "RECON_LOCAL_DIR"
REMOTE_SCHEME = "s3://"


@dataclass(frozen=True)
class Settings:
    home: Path
    rules: Path
    catalog_url: str | None = None  # a PostgreSQL catalog (postgresql://...); None: the DuckDB file catalog_path
    remote: str | None = None  # s3://bucket/prefix of an S3 home (``home`` is then its local copy); None: local

    def stored(self, path: str | os.PathLike[str]) -> str:
        """How the catalog records a path of the workspace: the path itself, or for an S3 home its URL
        (``s3://bucket/prefix/landing/...``), the same on every host."""
        if self.remote is None:
            return str(path)
        rel = Path(path).relative_to(self.home).as_posix()
        return f"{self.remote}/{rel}"

    def local(self, stored: str) -> Path:
        """The local path of a path the catalog recorded (``stored``)."""
        if self.remote is not None and stored.startswith(self.remote + "/"):
            return self.home / stored[len(self.remote) + 1 :]
        return Path(stored)

    def relative(self, stored: str) -> str:
        """A recorded path relative to the workspace (unchanged when it is outside it)."""
        for root in [str(self.home)] + ([self.remote] if self.remote else []):
            if stored.startswith(root + "/"):
                return stored[len(root) + 1 :]
        return stored

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def staging(self) -> Path:
        return self.home / "staging"

    @property
    def quarantine(self) -> Path:
        return self.home / "quarantine"

    @property
    def outputs(self) -> Path:
        return self.home / "outputs"

    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.duckdb"

    def ensure(self) -> None:
        for folder in (self.landing, self.staging, self.quarantine, self.outputs):
            folder.mkdir(parents=True, exist_ok=True)


def catalog_url(url: str | None = None) -> str | None:
    """The catalog's database URL: ``url``, else ``RECON_CATALOG_URL``; None (unset or empty) for the embedded
    DuckDB file. Anything but a ``postgresql://`` URL is refused."""
    url = (url or os.environ.get(CATALOG_URL_ENV) or "").strip() or None
    if url is not None and not url.startswith(CATALOG_URL_SCHEMES):
        scheme = url.split("://", 1)[0] + "://" if "://" in url else "no scheme"
        raise ValueError(
            f"{CATALOG_URL_ENV} must be a postgresql:// URL (or unset for the DuckDB file in the workspace), "
            f"not one with {scheme}"
        )
    return url


def remote_home(home: str) -> str | None:
    """``s3://bucket/prefix`` (without a trailing slash) when ``home`` names an S3 home, else None."""
    if not home.startswith(REMOTE_SCHEME):
        return None
    bucket, _, prefix = home[len(REMOTE_SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"{HOME_ENV}={home!r}: an s3://bucket/prefix URL is expected (no bucket)")
    prefix = prefix.strip("/")
    return f"{REMOTE_SCHEME}{bucket}" + (f"/{prefix}" if prefix else "")


def local_dir(remote: str) -> Path:
    """The local copy of an S3 home: ``RECON_LOCAL_DIR``, else ``<temp>/recon-<hash of the URL>``."""
    given = (os.environ.get(LOCAL_DIR_ENV) or "").strip()
    if given:
        return Path(given).resolve()
    digest = hashlib.sha256(remote.encode()).hexdigest()[:16]
    return (Path(tempfile.gettempdir()) / f"recon-{digest}").resolve()


def settings(home: str | os.PathLike[str] | None = None, rules: str | os.PathLike[str] | None = None) -> Settings:
    """Resolve the settings: explicit argument, then environment variable, then default. An S3 home
    (``s3://bucket/prefix``) is worked on in its local copy (``local_dir``) and needs a PostgreSQL catalog."""
    raw = str(home or os.environ.get(HOME_ENV) or "var")
    rules_path = Path(rules or os.environ.get("RECON_RULES") or PROJECT_ROOT / "rules")
    url = catalog_url()
    remote = remote_home(raw)
    if remote is None:
        return Settings(home=Path(raw).resolve(), rules=rules_path.resolve(), catalog_url=url)
    if url is None:
        raise ValueError(
            f"{HOME_ENV}={remote} needs the catalog in PostgreSQL ({CATALOG_URL_ENV}=postgresql://...): the DuckDB "
            "catalog file cannot be shared by the hosts an S3 workspace is for"
        )
    local = local_dir(remote)
    bind_local_copy(local, remote)
    return Settings(home=local, rules=rules_path.resolve(), catalog_url=url, remote=remote)


BINDING = Path(".sync") / "remote.json"  # in a local copy: the S3 home it is the copy of


def bind_local_copy(local: Path, remote: str) -> None:
    """Record in the local folder which S3 home it is the copy of; refuse a folder that is the copy of another
    (two workspaces in one folder would mix)."""
    marker = local / BINDING
    try:
        bound = json.loads(marker.read_text()).get("remote")
    except (OSError, ValueError, AttributeError):
        bound = None
    if bound == remote:
        return
    if bound is not None:
        raise ValueError(
            f"{local} is the local copy of {bound}, not of {remote}: set {LOCAL_DIR_ENV} to another folder"
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f".{marker.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"remote": remote}) + "\n")
    os.replace(tmp, marker)


WAIT_ENV = "RECON_LOCK_WAIT_SECONDS"  # how long a run waits for the workspace lock, and a session for the catalog file
DEFAULT_WAIT_S = 10.0


def wait_seconds(env: str = WAIT_ENV, default: float = DEFAULT_WAIT_S) -> float:
    """The wait configured in ``env`` (seconds, at least 0), else ``default``."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        return max(0.0, float(raw))
    except ValueError as exc:
        raise ValueError(f"{env} must be a number of seconds, not {raw!r}") from exc
