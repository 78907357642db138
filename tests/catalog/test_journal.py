"""The append-only journals: entries survive as written, a line torn by a crash is skipped and never glued
to the next entry."""

from __future__ import annotations

from pathlib import Path

from pipelines.catalog import journal


def test_entries_come_back_in_the_order_appended(tmp_path: Path) -> None:
    journal.append(tmp_path, journal.RESOLUTIONS, [{"id": 1}, {"id": 2}])
    journal.append(tmp_path, journal.RESOLUTIONS, [{"id": 3, "note": '=HYPERLINK("x")'}])
    assert journal.read(tmp_path, journal.RESOLUTIONS) == [{"id": 1}, {"id": 2}, {"id": 3, "note": '=HYPERLINK("x")'}]
    assert journal.read(tmp_path, journal.FILES) == []


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_a_line_of_its_own(tmp_path: Path) -> None:
    journal.append(tmp_path, journal.FILES, [{"id": 1}])
    path = journal.journal_path(tmp_path, journal.FILES)
    with path.open("ab") as fh:
        fh.write(b'{"id": 2, "na')  # the process died while appending
    assert journal.read(tmp_path, journal.FILES) == [{"id": 1}]
    journal.append(tmp_path, journal.FILES, [{"id": 3}])
    assert journal.read(tmp_path, journal.FILES) == [{"id": 1}, {"id": 3}]
    assert path.read_bytes().endswith(b'"na\n{"id": 3}\n')
