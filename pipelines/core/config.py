"""Workspace, rules and catalog locations.

The workspace (``--home`` or ``RECON_HOME``, default ``./var``) holds landing, staging, quarantine,
outputs and the catalog. The rules folder (``--rules`` or ``RECON_RULES``, default ``./rules``) holds
channel and matching rule declarations. The catalog is the DuckDB file ``<home>/catalog.duckdb`` unless
``RECON_CATALOG_URL`` names a PostgreSQL database (``postgresql://...``; ``pipelines.catalog.store.open_catalog``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
SQL_DIR = PROJECT_ROOT / "sql"
CATALOG_URL_ENV = "RECON_CATALOG_URL"
CATALOG_URL_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class Settings:
    home: Path
    rules: Path
    catalog_url: str | None = None  # a PostgreSQL catalog (postgresql://...); None: the DuckDB file catalog_path

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


def settings(home: str | os.PathLike[str] | None = None, rules: str | os.PathLike[str] | None = None) -> Settings:
    """Resolve the settings: explicit argument, then environment variable, then default."""
    home_path = Path(home or os.environ.get("RECON_HOME") or "var")
    rules_path = Path(rules or os.environ.get("RECON_RULES") or PROJECT_ROOT / "rules")
    return Settings(home=home_path.resolve(), rules=rules_path.resolve(), catalog_url=catalog_url())
