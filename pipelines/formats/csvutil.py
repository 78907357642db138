"""Shared CSV reading for the delimited formats: every column as text, physical line numbers, raw records.

The file is decoded with the channel's declared encoding (latin-1 and cp1252 are re-encoded to UTF-8
before Polars sees them, a UTF-8 byte-order mark is dropped). Polars reads the fields; the physical
line of every record and its field count are computed alongside with vectorised string operations on
the text, so quoted fields spanning several lines keep correct line numbers and ragged rows are found
without a per-row Python loop. Blank lines are skipped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines import money
from pipelines.channels import CsvOptions
from pipelines.formats.base import FileRejected, read_limited

LINE_NO = "line_no"
RECORD = "_record"
_QUOTE = '"'
_MAX_LISTED = 5


@dataclass
class CsvFile:
    """Data rows of a CSV file: one String column per header name plus ``line_no`` and ``_record``."""

    frame: pl.DataFrame
    columns: list[str]

    @property
    def rows_in(self) -> int:
        return self.frame.height


def stripped(name: str) -> pl.Expr:
    """A text column without surrounding blanks."""
    return pl.col(name).str.strip_chars()


def optional(name: str) -> pl.Expr:
    """A text column without surrounding blanks, null when blank."""
    value = stripped(name)
    return pl.when(value != "").then(value)


def blank(expr: pl.Expr) -> pl.Expr:
    """Null or empty text."""
    return expr.is_null() | (expr == "")


def amount_error(column: str, currency_error: pl.Expr, *, required: bool = False, label: str | None = None) -> pl.Expr:
    """Why the amount in ``column`` (parsed by ``parse_amounts``) is invalid, or null.

    Nothing is said when its currency is invalid (that is the currency's reject); a ``required`` amount
    that is blank is "``label`` is missing" (``label`` defaults to the column name).
    """
    error = pl.col(f"_e:{column}")
    if required:
        error = pl.when(optional(column).is_null()).then(pl.lit(f"{label or column} is missing")).otherwise(error)
    return pl.when(currency_error.is_null()).then(error)


def decode(data: bytes, encoding: str) -> str:
    """Bytes to text with the declared encoding; invalid UTF-8 rejects the file naming the line."""
    if encoding in ("utf-8", "utf8"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise FileRejected(f"not valid UTF-8: byte 0x{data[exc.start]:02x} on line {line}") from None
    else:
        text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def read_text(path: Path, encoding: str, what: str, max_bytes: int) -> str:
    """A text (non-CSV) file's content, size-checked and decoded with the channel's encoding."""
    return decode(read_limited(path, what, max_bytes), encoding)


def _records_simple(text: str) -> pl.DataFrame | None:
    """Fast path for files with no quotes, no blank lines and no unit separator: one record per line.

    Polars' native reader splits the lines (one column, a separator that cannot occur), which is much
    faster than splitting the text in an expression. Returns None when the file needs the full path.
    """
    if _QUOTE in text or "\x1f" in text or "\n\n" in text or "\n\r\n" in text or text.startswith(("\n", "\r")):
        return None
    body = text if text.endswith("\n") else text + "\n"
    lines = pl.read_csv(
        io.BytesIO(body.encode("utf-8")),
        has_header=False,
        separator="\x1f",
        quote_char=None,
        infer_schema=False,
        new_columns=["l"],
        raise_if_empty=False,
    )
    if lines.height != body.count("\n"):
        return None
    return lines.with_row_index(LINE_NO, offset=1).select(
        pl.col(LINE_NO).cast(pl.Int64), pl.col("l").str.strip_suffix("\r").alias(RECORD)
    )


def _records(text: str) -> pl.DataFrame:
    """Split text into CSV records: first physical line, record text (without line ending)."""
    simple = _records_simple(text)
    if simple is not None:
        return simple
    lines = pl.Series("l", [text], dtype=pl.String).str.split("\n").explode()
    if text.endswith("\n"):
        lines = lines.head(lines.len() - 1)
    frame = pl.DataFrame({"l": lines}).with_row_index("ln", offset=1)
    frame = frame.with_columns(
        pl.col("l").str.strip_suffix("\r"),
        (pl.col("l").str.count_matches(_QUOTE, literal=True).cum_sum() % 2 == 0).alias("closed"),
    )
    if not frame["closed"].last():
        opened = frame.filter(pl.col("closed").shift(1, fill_value=True))["ln"].to_list()[-1]
        raise FileRejected(f"unterminated quoted field in the record starting on line {opened}")
    if bool(frame["closed"].all()):
        return frame.select(pl.col("ln").cast(pl.Int64).alias(LINE_NO), pl.col("l").alias(RECORD))
    frame = frame.with_columns(pl.col("closed").shift(1, fill_value=True).cast(pl.Int64).cum_sum().alias("rec"))
    return (
        frame.group_by("rec", maintain_order=True)
        .agg(pl.col("ln").first().cast(pl.Int64).alias(LINE_NO), pl.col("l").str.join("\n").alias(RECORD))
        .drop("rec")
    )


def _ragged(records: pl.DataFrame, delimiter: str, expected: int) -> pl.DataFrame:
    """Records whose field count (delimiters outside quotes + 1) differs from ``expected``."""
    counted = records.with_columns(
        (pl.col(RECORD).str.count_matches(delimiter, literal=True) + 1).alias("_fields"),
        pl.col(RECORD).str.contains(_QUOTE, literal=True).alias("_quoted"),
    )
    plain = counted.filter(~pl.col("_quoted"))
    quoted = counted.filter(pl.col("_quoted")).with_columns(
        (pl.col(RECORD).str.replace_all(r'"[^"]*"', "").str.count_matches(delimiter, literal=True) + 1).alias("_fields")
    )
    return pl.concat([plain, quoted]).filter(pl.col("_fields") != expected).sort(LINE_NO)


def _header(record: str, delimiter: str) -> list[str]:
    row = next(csv.reader([record], delimiter=delimiter, quotechar=_QUOTE), [])
    return [name.strip() for name in row]


def read_csv(path: Path, options: CsvOptions, required: Sequence[str], optional_columns: Sequence[str] = ()) -> CsvFile:
    """Read a CSV file with all columns as String, rejecting the file when it cannot be trusted.

    Raises ``FileRejected`` for an empty file, a header lacking one of ``required``, duplicate header
    names, unterminated quotes and rows whose field count differs from the header's. Each column of
    ``optional_columns`` the header lacks is added to the rows as null text (``columns`` stays the header's).
    """
    src = _read_csv(path, options, required)
    missing = [pl.lit(None, pl.String).alias(c) for c in optional_columns if c not in src.columns]
    return CsvFile(frame=src.frame.with_columns(missing), columns=src.columns) if missing else src


def _read_csv(path: Path, options: CsvOptions, required: Sequence[str]) -> CsvFile:
    if len(options.delimiter.encode("utf-8")) != 1:
        raise FileRejected(f"the channel's CSV delimiter {options.delimiter!r} is not a single byte")
    data = path.read_bytes()
    text = decode(data, options.encoding)
    if not text.strip():
        raise FileRejected("file is empty")
    delimiter = options.delimiter
    records = _records(text).with_columns((pl.col(RECORD).str.strip_chars() == "").alias("_blank"))
    header_at = int(records["_blank"].arg_min() or 0)
    header_line = int(records[LINE_NO][header_at])
    columns = _header(str(records[RECORD][header_at]), delimiter)
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise FileRejected(f"header (line {header_line}) repeats column(s): {', '.join(duplicates)}")
    missing = [c for c in required if c not in columns]
    if missing:
        raise FileRejected(
            f"header (line {header_line}) lacks required column(s): {', '.join(repr(c) for c in missing)}"
        )
    body = records.slice(header_at + 1)
    ragged = _ragged(body.filter(~pl.col("_blank")), delimiter, len(columns))
    if ragged.height:
        listed = "; ".join(
            f"line {ln} has {n} field{'s' if n != 1 else ''}"
            for ln, n in ragged.head(_MAX_LISTED).select(LINE_NO, "_fields").rows()
        )
        more = f" (and {ragged.height - _MAX_LISTED} more rows)" if ragged.height > _MAX_LISTED else ""
        raise FileRejected(f"ragged rows: the header has {len(columns)} fields but {listed}{more}")
    if body.filter(~pl.col("_blank")).height == 0:
        schema = {**{c: pl.String() for c in columns}, LINE_NO: pl.Int64(), RECORD: pl.String()}
        return CsvFile(frame=pl.DataFrame(schema=schema), columns=columns)
    payload = data if options.encoding in ("utf-8", "utf8") else text.encode("utf-8")
    if payload.startswith(b"\xef\xbb\xbf"):
        payload = payload[3:]
    try:
        fields = pl.read_csv(
            io.BytesIO(payload),
            has_header=True,
            new_columns=columns,
            skip_lines=header_line - 1,
            separator=delimiter,
            quote_char=_QUOTE,
            infer_schema=False,
            truncate_ragged_lines=True,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError as exc:
        raise FileRejected(f"not readable as CSV: {exc}") from None
    if fields.height != body.height:
        raise FileRejected(
            f"could not align rows with lines: {fields.height} rows read but {body.height} records found"
        )
    if bool(body["_blank"].any()):
        keep = ~body["_blank"]
        fields, body = fields.filter(keep), body.filter(keep)
    return CsvFile(frame=pl.concat([fields, body.select(LINE_NO, RECORD)], how="horizontal"), columns=columns)


def rate_decimal(text: pl.Expr, field: str, *, scale: int = 12, precision: int = 38) -> tuple[pl.Expr, pl.Expr]:
    """Exact decimal text (e.g. an exchange rate) to ``Decimal(precision, scale)``; ``(value, error)``.

    Only plain decimal notation is accepted; more than ``scale`` decimals is an error rather than a
    silent rounding.
    """
    s = text.cast(pl.String).str.strip_chars()
    frac_len = s.str.extract(r"\.(\d*)$", 1).str.len_chars().fill_null(0)
    int_len = s.str.extract(r"^[+-]?(\d*)", 1).str.len_chars().fill_null(0)
    error = (
        pl.when(s.is_null() | (s == ""))
        .then(pl.lit(f"{field} is missing"))
        .when(~s.str.contains(r"^[+-]?(\d+(\.\d*)?|\.\d+)$"))
        .then(pl.format("'{}' is not a decimal number", s))
        .when(frac_len > scale)
        .then(pl.format("'{}' has more than {} decimals", s, pl.lit(scale)))
        .when(int_len > precision - scale)
        .then(pl.format("'{}' is too large", s))
        .otherwise(pl.lit(None, pl.String))
    )
    value = pl.when(error.is_null()).then(s).cast(pl.Decimal(precision, scale), strict=False)
    return value, error


_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def iso_utc(text: pl.Expr) -> pl.Expr:
    """ISO 8601 timestamps with ``Z`` or a UTC offset to UTC instants (null when unreadable)."""
    s = text.str.strip_chars().str.replace(" ", "T", literal=True)
    return s.str.to_datetime(_ISO_FORMATS[0], strict=False, time_unit="us").dt.convert_time_zone("UTC")


def naive_timestamp(text: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DD HH:MM:SS`` (or with ``T``) wall-clock timestamps, naive (null when unreadable)."""
    s = text.str.strip_chars()
    return pl.coalesce([s.str.to_datetime(fmt, strict=False, time_unit="us") for fmt in _NAIVE_FORMATS])


def parse_amounts(
    frame: pl.DataFrame,
    columns: dict[str, str],
    options: CsvOptions,
) -> pl.DataFrame:
    """Parse amount columns to minor units with ``money.parse_minor``, once per distinct value.

    ``columns`` maps each amount column to the column holding its (already normalised) currency. Adds
    ``_m:<column>`` (Int64 minor units, null when empty or invalid) and ``_e:<column>`` (reason, null
    when valid or empty). Settlement files repeat the same prices and fees many times, so the exact
    parsing runs on the distinct (text, currency) pairs and is joined back.
    """
    if not columns:
        return frame
    pairs = (
        pl.concat(
            [frame.select(pl.col(c).alias("_t"), pl.col(k).alias("_k")) for c, k in columns.items()],
            how="vertical",
        )
        .drop_nulls("_t")
        .unique()
    )
    minor, error = money.parse_minor(
        pl.col("_t"), pl.col("_k"), decimal=options.decimal, thousands=options.thousands, required=False
    )
    parsed = pairs.lazy().with_columns(minor.alias("_m"), error.alias("_e")).collect()
    results: list[pl.Series] = []
    for column, currency in columns.items():
        lookup = parsed.rename({"_t": column, "_k": currency, "_m": f"_m:{column}", "_e": f"_e:{column}"})
        joined = frame.select(column, currency).join(lookup, on=[column, currency], how="left", maintain_order="left")
        results += [joined[f"_m:{column}"], joined[f"_e:{column}"]]
    return frame.hstack(results)
