"""``normalise.rows_of_date``: a file's rows of one business date in line order and in one chunk, however the
parser's frame came (in chunks, out of order, with several dates), so the staged Parquet is the same."""

from __future__ import annotations

import datetime as dt
import io

import polars as pl
import pytest

from pipelines.validate.normalise import rows_of_date

D1, D2 = dt.date(2026, 11, 26), dt.date(2026, 11, 27)


def _frame(lines: list[int], dates: list[dt.date], chunks: int = 1) -> pl.DataFrame:
    whole = pl.DataFrame({"line_no": lines, "business_date": dates, "v": [f"r{n}" for n in lines]})
    size = max(1, len(lines) // chunks)
    return pl.concat([whole.slice(o, size) for o in range(0, len(lines), size)], rechunk=False)


def _parquet(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_parquet(out, compression="zstd", compression_level=1, statistics=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("lines", "dates"),
    [
        (list(range(2, 3002)), [D1] * 3000),  # one date, lines in order: the frame itself, in one chunk
        ([2, 4, 3, 5, 6, 7], [D1] * 6),  # out of order
        ([2, 3, 3, 4, 5, 6], [D1] * 6),  # a line giving two rows
        ([2, 3, 4, 5, 6, 7], [D1, D2, D1, D2, D1, D2]),  # two dates
    ],
)
def test_the_rows_of_a_date_are_what_a_filter_and_a_sort_give(lines: list[int], dates: list[dt.date]) -> None:
    frame = _frame(lines, dates, chunks=3)
    assert frame.n_chunks() > 1
    distinct = sorted(set(dates))
    for day in distinct:
        expected = frame.filter(pl.col("business_date") == pl.lit(day, dtype=pl.Date)).sort("line_no")
        got = rows_of_date(frame, day, len(distinct))
        assert got.sort("line_no", "v").equals(expected.sort("line_no", "v"))
        assert _parquet(got) == _parquet(expected)  # the same staged bytes
        if len(distinct) == 1 and lines == sorted(set(lines)):
            assert got.n_chunks() == 1  # (the frame joined into one chunk, neither filtered nor sorted)
