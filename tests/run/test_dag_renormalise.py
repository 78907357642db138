"""``renormalise_quarantined``: the normalise task re-normalises the files whose status is quarantined (say,
after their channel was fixed), and only those; other files keep their status untouched."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from pipelines.catalog.store import Catalog
from pipelines.run import stages as pipeline

DAY = dt.date(2026, 11, 26)


def test_only_quarantined_files_are_normalised_again(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    pipeline.run_all(DAY, "nightly", home)
    catalog = Catalog(tmp_path / "home" / "catalog.duckdb")
    adyen = catalog.file_statuses("adyen_eu")
    assert len(adyen) > 1 and {s.status for s in adyen.values()} == {"staged"}
    first = sorted(adyen)[0]
    quarantined = dataclasses.replace(adyen[first], status="quarantined", reason="channel was misconfigured")
    catalog.record_file_statuses([quarantined], dt.datetime(2026, 11, 27, tzinfo=dt.UTC))

    assert pipeline.normalise_channel("adyen_eu", DAY, home) == []  # nothing new: nothing to do
    again = pipeline.normalise_channel("adyen_eu", DAY, home, quarantined=True)
    assert [s["file_id"] for s in again] == [first]
    assert again[0]["status"] == "staged" and again[0]["rows_staged"] == adyen[first].rows_staged
    pipeline.record_statuses([again], home)
    assert catalog.file_statuses("adyen_eu") == adyen  # the fixed file is staged again, the others untouched
