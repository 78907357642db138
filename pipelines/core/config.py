"""Workspace and rules locations.

The workspace (``--home`` or ``RECON_HOME``, default ``./var``) holds landing, staging, quarantine,
outputs and the catalog. The rules folder (``--rules`` or ``RECON_RULES``, default ``./rules``) holds
channel and matching rule declarations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
SQL_DIR = PROJECT_ROOT / "sql"


@dataclass(frozen=True)
class Settings:
    home: Path
    rules: Path

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


def settings(home: str | os.PathLike[str] | None = None, rules: str | os.PathLike[str] | None = None) -> Settings:
    """Resolve the settings: explicit argument, then environment variable, then default."""
    home_path = Path(home or os.environ.get("RECON_HOME") or "var")
    rules_path = Path(rules or os.environ.get("RECON_RULES") or PROJECT_ROOT / "rules")
    return Settings(home=home_path.resolve(), rules=rules_path.resolve())
