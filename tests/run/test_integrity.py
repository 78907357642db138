"""What a run checks before it reconciles and what it repairs: the commit window (catalog committed, outputs
not yet switched), lost published folders, staging that lost rows (``recon restage``), resolutions in the
journal but not in the catalog, the journals of a catalog older than them; and the warnings of
``breaks resolve`` for a break of another date. Each test on a workspace runs on both catalog backends (the
DuckDB file, a PostgreSQL database: ``catalog_backend``), but for the lost folder and the lost staging, whose
checks read nothing of the catalog the others do not read (``DUCKDB_ONLY``)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from conftest import tree_bytes
from pg_server import CatalogBackend

from pipelines.catalog import journal
from pipelines.catalog.store import Catalog, open_catalog
from pipelines.cli.main import main as recon
from pipelines.cli.main import one_line
from pipelines.core import config
from pipelines.publish.outputs import published_folder
from pipelines.run import integrity
from pipelines.run import stages as pipeline
from pipelines.run.repair import restage

DAY = dt.date(2026, 11, 26)
DUCKDB_ONLY = pytest.mark.parametrize("catalog_backend", ["duckdb"], indirect=True)


@pytest.fixture
def home(tmp_path: Path, catalog_backend: CatalogBackend) -> Path:
    pipeline.run_all(DAY, "nightly", str(tmp_path))
    return tmp_path


def _catalog(home: Path) -> Catalog:
    return open_catalog(config.settings(str(home), None))


def test_a_run_completes_the_switch_its_predecessor_committed(home: Path) -> None:
    settings = config.settings(str(home), None)
    first = published_folder(settings, DAY)
    pipeline.reconcile_and_publish(DAY, "rerun", str(home))
    second = published_folder(settings, DAY)
    assert first and second and first != second
    assert _catalog(home).published()[DAY]["output_folder"] == second
    # the crash window: the catalog committed the second run, outputs/<date> still shows the first
    link = settings.outputs / DAY.isoformat()
    link.unlink()
    link.symlink_to(first)
    assert integrity.complete_interrupted(settings, _catalog(home)) == [DAY]
    assert published_folder(settings, DAY) == second
    assert integrity.complete_interrupted(settings, _catalog(home)) == []


@DUCKDB_ONLY
def test_a_lost_published_folder_is_refused_with_the_rerun_command(home: Path) -> None:
    settings = config.settings(str(home), None)
    shutil.rmtree((settings.outputs / DAY.isoformat()).resolve())
    with pytest.raises(integrity.IntegrityError, match=f"recon run --date {DAY} --mode rerun --cascade"):
        integrity.complete_interrupted(settings, _catalog(home))


def test_outputs_the_catalog_does_not_know_are_refused_with_the_rebuild_command(
    home: Path, catalog_backend: CatalogBackend
) -> None:
    settings = config.settings(str(home), None)
    catalog_backend.lose(home)
    with pytest.raises(integrity.IntegrityError, match="has no run at all.*recon catalog rebuild"):
        integrity.check_outputs_known(settings, _catalog(home))
    before = tree_bytes(settings.outputs / DAY.isoformat())
    assert recon(["--home", str(home), "run", "--date", DAY.isoformat()]) == 5
    assert tree_bytes(settings.outputs / DAY.isoformat()) == before  # nothing published over the good run


@DUCKDB_ONLY
def test_staging_that_lost_rows_is_refused_then_restaged_from_landing(home: Path) -> None:
    settings = config.settings(str(home), None)
    staged = sorted(settings.staging.glob("psp_settlement_lines/*/*/*.parquet"))
    assert staged
    original = staged[0].read_bytes()
    staged[0].unlink()
    statuses = _catalog(home).file_statuses()
    [line] = integrity.staging_differences(settings, statuses)
    assert f"0 staged row(s), {statuses[staged[0].stem].rows_staged} recorded" in line
    with pytest.raises(integrity.IntegrityError, match="recon restage"):
        integrity.check_staging(settings, statuses)
    out = restage(str(home))
    assert out == {"restaged": 1, "changed": [], "remaining": []}
    assert staged[0].read_bytes() == original


def test_a_resolution_in_the_journal_but_not_the_catalog_is_added(home: Path) -> None:
    cat = _catalog(home)
    break_id = _first_break(home)
    rid = pipeline.resolve_break(break_id, "accept", "known timing", "ana@ops", str(home))
    assert [e["resolution_id"] for e in journal.read(home, journal.RESOLUTIONS)] == [rid]
    with cat.connect() as con:  # the crash came between the journal and the catalog
        con.execute("DELETE FROM resolutions")
    assert integrity.sync_journal(cat) == 1
    assert [r["resolution_id"] for r in cat.resolutions()] == [rid]
    assert integrity.sync_journal(cat) == 0


def test_an_older_catalog_seeds_the_journals_from_its_tables(home: Path) -> None:
    shutil.rmtree(home / "journal")
    integrity.sync_journal(_catalog(home))
    files = journal.read(home, journal.FILES)
    assert len(files) == len(_catalog(home).deliveries()) > 0
    assert {e["file_id"] for e in journal.read(home, journal.FILE_STATUS)} == set(_catalog(home).file_statuses())


def _first_break(home: Path) -> str:
    import polars as pl

    return str(pl.read_parquet(home / "outputs" / DAY.isoformat() / "breaks.parquet")["break_id"][0])


def test_resolving_a_break_of_another_date_is_refused_or_warned(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    break_id = _first_break(home)
    base = ["--home", str(home), "breaks", "resolve", break_id, "--action", "accept", "--note", "n", "--by", "me"]
    assert recon([*base, "--date", "2026-11-25"]) == 1
    assert f"is not a break of 2026-11-25; it is a break of {DAY} (open)" in capsys.readouterr().out.replace("\n", "")
    assert recon([*base, "--date", DAY.isoformat()]) == 0
    assert "warning" not in capsys.readouterr().out


def test_errors_reach_the_user_as_one_line() -> None:
    assert one_line(OSError(28, "No space left on device", "/srv/recon/x")) == "No space left on device: /srv/recon/x"
    assert one_line(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert os.environ.get("RECON_TRACEBACK") is None
