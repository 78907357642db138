"""Completeness: the files each channel is expected to deliver for each business day, against what arrived.

A channel declares ``deliveries`` (files per business day, on which days, by what local time). A file
counts as a delivery for every own date of its rows (and for its assigned date when it has none). Every run
checks each delivery day from the workspace's first run up to its own date: a day short of its files is an
``expected_file_missing`` break (the same break id in every run, until the file comes or the break is
resolved), and the run is *incomplete*. Nightly runs and re-runs hold every delivery up to their date as due;
an intraday run does not yet expect the deliveries of days whose files arrive on or after its date. A run
that took no row at all is incomplete too: a day with no rows is never "all clear".
"""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl

from pipelines.catalog.store import FileStatus
from pipelines.core import calendars
from pipelines.core.channels import Channel

MISSING_SCHEMA = {
    "channel": pl.String,
    "expected_date": pl.Date,
    "expected_files": pl.Int64,
    "arrived_files": pl.Int64,
    "due": pl.String,
}


def delivery_days(channel: Channel, first: dt.date, last: dt.date) -> list[dt.date]:
    """The days from ``first`` to ``last`` for which ``channel`` is expected to deliver files."""
    d = channel.deliveries
    if d is None or first > last:
        return []
    calendar = d.calendar or channel.settlement.calendar
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [day for day in days if d.days == "every_day" or calendars.is_business_day(day, calendar)]


def _due_text(channel: Channel, day: dt.date) -> str:
    d = channel.deliveries
    assert d is not None
    when = day + dt.timedelta(days=d.days_after)
    at = f" by {d.by.strftime('%H:%M')} {channel.timezone}" if d.by is not None else ""
    return f"{when.isoformat()}{at}"


def missing_deliveries(
    channels: dict[str, Channel],
    units: pl.DataFrame,
    statuses: dict[str, FileStatus],
    day: dt.date,
    first_day: dt.date,
    mode: str,
) -> pl.DataFrame:
    """Per channel and delivery day from ``first_day`` to ``day``: the days short of their expected files.

    ``units``: the units the runs up to ``day`` took (this one included), so a re-run judges a day by what
    had arrived for it, not by files a later run took; a file with no unit at all (no row, nothing
    quarantined) counts for the date it was assigned to."""
    arrived: dict[tuple[str, dt.date], set[str]] = {}
    for fid, channel, row_date in units.select("file_id", "channel", "row_date").iter_rows():
        arrived.setdefault((channel, row_date), set()).add(fid)
    with_units = set(units["file_id"].to_list())
    for st in statuses.values():
        if st.file_id not in with_units and st.status == "staged" and not st.rows_in:
            arrived.setdefault((st.channel, st.assigned_date), set()).add(st.file_id)
    rows = []
    for ch in sorted(channels.values(), key=lambda c: c.id):
        if ch.deliveries is None:
            continue
        for expected in delivery_days(ch, first_day, day):
            if mode == "intraday" and expected + dt.timedelta(days=ch.deliveries.days_after) >= day:
                continue  # its files may still come today
            n = len(arrived.get((ch.id, expected), set()))
            if n < ch.deliveries.files_per_day:
                rows.append(
                    {
                        "channel": ch.id,
                        "expected_date": expected,
                        "expected_files": ch.deliveries.files_per_day,
                        "arrived_files": n,
                        "due": _due_text(ch, expected),
                    }
                )
    return pl.DataFrame(rows, schema=MISSING_SCHEMA)


def missing_file_breaks(missing: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """An ``expected_file_missing`` break per channel and day short of its files (its id: channel and day)."""
    rows = [
        {
            "business_date": day,
            "break_id": "B"
            + hashlib.sha256(f"expected_file_missing|{r['channel']}|{r['expected_date']}".encode()).hexdigest()[:16],
            "break_type": "expected_file_missing",
            "channel": r["channel"],
            "item_table": "files",
            "item_ref": f"{r['channel']} {r['expected_date'].isoformat()}",
            "amount_minor": 0,
            "currency": "XXX",
            "item_count": 0,
            "reason": f"{r['channel']}: {r['expected_files']} file(s) expected for {r['expected_date'].isoformat()} "
            f"(due {r['due']}), {r['arrived_files']} arrived",
        }
        for r in missing.iter_rows(named=True)
    ]
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def state(missing: pl.DataFrame, rows_taken: int) -> dict[str, object]:
    """The completeness of a run for summary.json: complete, or why not."""
    reasons = [
        f"{r['channel']}: {r['arrived_files']} of {r['expected_files']} file(s) for {r['expected_date'].isoformat()}"
        for r in missing.iter_rows(named=True)
    ]
    if rows_taken == 0:
        reasons.append("no new row arrived for this run (only items carried from earlier runs)")
    return {
        "complete": not reasons,
        "reasons": reasons,
        "missing_files": [
            {**r, "expected_date": r["expected_date"].isoformat()} for r in missing.iter_rows(named=True)
        ],
    }
