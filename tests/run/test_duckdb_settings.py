"""The run's DuckDB settings from the environment: memory limit, threads and the most it may spill."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import PROJECT_ROOT

from pipelines.core.config import Settings
from pipelines.run.reconcile import duckdb_config, spill_folder


def test_spill_is_capped_by_recon_duckdb_max_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(home=tmp_path / "home", rules=PROJECT_ROOT / "rules")
    monkeypatch.delenv("RECON_DUCKDB_MAX_TEMP", raising=False)
    assert "max_temp_directory_size" not in duckdb_config(settings)
    monkeypatch.setenv("RECON_DUCKDB_MAX_TEMP", "3GB")
    monkeypatch.setenv("RECON_DUCKDB_MEMORY", "600MiB")
    config = duckdb_config(settings)
    assert config["max_temp_directory_size"] == "3GB" and config["temp_directory"] == str(spill_folder(settings))
    con = duckdb.connect(config=config)
    try:
        (cap,) = con.execute("SELECT current_setting('max_temp_directory_size')").fetchone() or ("",)
        assert cap == "2.7 GiB"  # 3 GB as DuckDB shows it
    finally:
        con.close()
