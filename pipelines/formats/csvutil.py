"""Shared CSV reading for the delimited formats: every column as text, physical line numbers, raw records.

The file is decoded with the channel's declared encoding (latin-1 and cp1252 are re-encoded to UTF-8
before Polars sees them, a UTF-8 byte-order mark is dropped; a UTF-8 file stays bytes and is checked
by Polars as it reads the lines). Polars reads the fields and, separately, the physical lines; the
first line of every record and its field count are computed alongside with vectorised operations, so
quoted fields spanning several lines keep correct line numbers and ragged rows are found without a
per-row Python loop. Blank lines are skipped. Lines ending with a carriage return alone (and no newline in
the file) are read as lines; UTF-16 and UTF-32 text, and a header holding a NUL byte or a field over the CSV
field limit, reject the file with the line and the reason.

A channel whose extract names its columns differently maps them (``csv.columns``: the name the parser
reads -> the header in the file): the columns are read under the parser's names, and the file's header
names are kept as ``labels`` for the messages.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.core import money
from pipelines.core.channels import CsvOptions
from pipelines.formats.base import RECORD_FIELD, FileRejected, RowCheck, read_limited

LINE_NO = "line_no"
RECORD = "_record"
_QUOTE = '"'
_MAX_LISTED = 5
_BOM = b"\xef\xbb\xbf"


@dataclass
class CsvFile:
    """Data rows of a CSV file: one String column per header name plus ``line_no`` and ``_record``.

    With a column mapping, the mapped columns carry the parser's names (``columns`` too), and ``labels``
    gives their header in the file.
    """

    frame: pl.DataFrame
    columns: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    nul_free: bool = False  # no record holds a NUL byte (the file holds none)

    @property
    def rows_in(self) -> int:
        return self.frame.height

    def label(self, name: str) -> str:
        """The header of column ``name`` as it is in the file (for messages)."""
        return self.labels.get(name, name)


def stripped(name: str) -> pl.Expr:
    """A text column without surrounding blanks."""
    return pl.col(name).str.strip_chars()


def optional(name: str) -> pl.Expr:
    """A text column without surrounding blanks, null when blank (the text stripped once: a ``when/then``
    would strip it for the condition and again for the value)."""
    return stripped(name).replace("", None)


def blank(expr: pl.Expr) -> pl.Expr:
    """Null or empty text."""
    return expr.is_null() | (expr == "")


def is_blank(name: str) -> pl.Expr:
    """``blank(stripped(name))`` without copying the text: null or only white space (``\\s`` is the set
    ``str.strip_chars`` strips)."""
    return pl.col(name).is_null() | pl.col(name).str.contains(r"^\s*$")


def amount_error(column: str, currency_error: pl.Expr, *, required: bool = False, label: str | None = None) -> pl.Expr:
    """Why the amount in ``column`` (parsed by ``parse_amounts``) is invalid, or null.

    Nothing is said when its currency is invalid (that is the currency's reject); a ``required`` amount
    that is blank is "``label`` is missing" (``label`` defaults to the column name).
    """
    error = pl.col(f"_e:{column}")
    if required:
        error = pl.when(optional(column).is_null()).then(pl.lit(f"{label or column} is missing")).otherwise(error)
    return pl.when(currency_error.is_null()).then(error)


def amount_check(column: str, currency_error: pl.Expr, *, required: bool = False, label: str | None = None) -> RowCheck:
    """``amount_error`` as a ``RowCheck``: suspect where the amount has a parse error (or is blank, when
    ``required``), whatever its currency."""
    suspect = pl.col(f"_e:{column}").is_not_null()
    if required:
        suspect = suspect | is_blank(column)
    return RowCheck(suspect=suspect, reason=amount_error(column, currency_error, required=required, label=label))


def missing_as_header(error: pl.Expr, word: str, name: str, labels: dict[str, str]) -> pl.Expr:
    """``error`` saying "``word`` is missing" in the words of the file when column ``name`` is mapped:
    "<its header> is missing" (a shared check, such as ``money.currency_error``, names no column)."""
    if name not in labels:
        return error
    return error.replace(f"{word} is missing", f"{labels[name]} is missing")


_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32", "FF FE 00 00"),
    (b"\x00\x00\xfe\xff", "UTF-32", "00 00 FE FF"),
    (b"\xff\xfe", "UTF-16", "FF FE"),
    (b"\xfe\xff", "UTF-16", "FE FF"),
)


def refuse_wide_text(data: bytes) -> None:
    """Reject UTF-16 and UTF-32 text (by its byte-order mark): no format reads it, and read as UTF-8 or a
    one-byte encoding it would only give a confusing error or garbled text."""
    for bom, name, shown_bom in _WIDE_BOMS:
        if data.startswith(bom):
            raise FileRejected(
                f"{name} text (byte-order mark {shown_bom} on line 1): the pipeline reads UTF-8 or the channel's "
                "csv.encoding (latin-1, cp1252); save the file as UTF-8"
            )


def cr_line_ends(payload: bytes) -> bytes:
    """Text whose lines end with a carriage return alone (classic Mac OS, some spreadsheet exports) with its
    line ends made newlines: each carriage return ends a line, as it does for the program that wrote it. A
    text holding any newline is left as it is (a carriage return inside its lines stays part of them)."""
    if b"\r" in payload and b"\n" not in payload:
        return payload.replace(b"\r", b"\n")
    return payload


def decode(data: bytes, encoding: str) -> str:
    """Bytes to text with the declared encoding; invalid UTF-8 rejects the file naming the line, UTF-16 and
    UTF-32 text is rejected by its byte-order mark."""
    refuse_wide_text(data)
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


def _physical_lines(payload: bytes) -> pl.Series:
    """The physical lines of UTF-8 ``payload`` without line endings ("\\n" and one "\\r" before it).

    Polars' native reader splits the lines (one column, a separator that cannot occur, no quoting),
    which is much faster than splitting the text in an expression, and checks that the text is UTF-8
    (invalid UTF-8 rejects the file naming the line, as ``decode`` does). A file holding the separator
    is split as text.
    """
    if b"\x1f" not in payload:
        try:
            lines = pl.read_csv(
                io.BytesIO(payload),
                has_header=False,
                separator="\x1f",
                quote_char=None,
                infer_schema=False,
                new_columns=["l"],
                raise_if_empty=False,
            )["l"]
        except pl.exceptions.ComputeError:
            pass  # not UTF-8: ``decode`` below names the line
        else:
            if lines.len() == _line_count(payload, lines):
                return lines.fill_null("") if lines.null_count() else lines
    text = decode(payload, "utf-8")
    split = pl.Series("l", [text], dtype=pl.String).str.split("\n").explode()
    if text.endswith("\n"):
        split = split.head(split.len() - 1)
    return split.str.strip_suffix("\r")


def _line_count(payload: bytes, lines: pl.Series) -> int:
    """How many physical lines ``payload`` has; without carriage returns it follows from ``lines``' lengths."""
    ends_open = 0 if payload.endswith(b"\n") else 1
    if b"\r" not in payload:
        total = int(lines.str.len_bytes().cast(pl.Int64).sum() or 0)
        if total + lines.len() - ends_open == len(payload):
            return lines.len()
    return payload.count(b"\n") + ends_open


def _records(payload: bytes, quoted: bool) -> pl.DataFrame:
    """Split UTF-8 text (``quoted``: holding a quote) into CSV records: first physical line, record text
    (without line ending)."""
    lines = _physical_lines(payload)
    if not quoted:
        if b"\r" in payload and lines.str.ends_with("\r").any() and _was_simple(payload):
            lines = lines.str.strip_suffix("\r")
        return pl.DataFrame({LINE_NO: pl.int_range(1, lines.len() + 1, dtype=pl.Int64, eager=True), RECORD: lines})
    frame = pl.DataFrame({"l": lines}).with_row_index("ln", offset=1)
    frame = frame.with_columns(pl.col("l").str.count_matches(_QUOTE, literal=True).alias("quotes"))
    if not bool((frame["quotes"] % 2 == 1).any()):
        return frame.select(pl.col("ln").cast(pl.Int64).alias(LINE_NO), pl.col("l").alias(RECORD))
    frame = frame.with_columns((pl.col("quotes").cum_sum() % 2 == 0).alias("closed"))
    if not frame["closed"].last():
        opened = frame.filter(pl.col("closed").shift(1, fill_value=True))["ln"].to_list()[-1]
        raise FileRejected(f"unterminated quoted field in the record starting on line {opened}")
    frame = frame.with_columns(pl.col("closed").shift(1, fill_value=True).cast(pl.Int64).cum_sum().alias("rec"))
    return (
        frame.group_by("rec", maintain_order=True)
        .agg(pl.col("ln").first().cast(pl.Int64).alias(LINE_NO), pl.col("l").str.join("\n").alias(RECORD))
        .drop("rec")
    )


def _was_simple(payload: bytes) -> bool:
    """Whether a second carriage return is stripped from records too, as it always was for a file with no
    quotes, unit separator or blank lines (Polars' line reader strips one)."""
    return not (b"\x1f" in payload or b"\n\n" in payload or b"\n\r\n" in payload or payload.startswith((b"\n", b"\r")))


def _ragged(body: pl.DataFrame, delimiter: str, expected: int) -> pl.DataFrame:
    """Non-blank records whose field count (delimiters outside quotes + 1) differs from ``expected``."""
    record = pl.col(RECORD)
    counted = body.filter(~body["_blank"]).with_columns(
        (record.str.count_matches(delimiter, literal=True) + 1).alias("_fields")
    )
    quoted = record.str.contains(_QUOTE, literal=True)
    unquoted = record.str.replace_all(r'"[^"]*"', "").str.count_matches(delimiter, literal=True) + 1
    return counted.with_columns(pl.when(quoted).then(unquoted).otherwise(pl.col("_fields")).alias("_fields")).filter(
        pl.col("_fields") != expected
    )


def _maybe_ragged(records: pl.Series, delimiter: str, expected: int) -> pl.Series:
    """Records that may have another field count than the header: those whose delimiters + 1 differ from
    ``expected``. Exact for a record without a quote (``_ragged`` counts its fields so); a record with a quote
    may hold a delimiter inside quotes, so its fields are counted by ``_ragged`` whatever this says. One
    count per record, where summing the lengths of the fields Polars read would take a pass per column."""
    return records.str.count_matches(delimiter, literal=True) + 1 != expected


def _maybe_ragged_by_lengths(fields: pl.DataFrame, records: pl.Series) -> pl.Series:
    """``_maybe_ragged`` from the lengths of the fields Polars read (every column of the file, no carriage return
    or NUL byte in it): a record without a quote has the header's field count exactly when its length is the lengths of
    its fields plus a delimiter between each two (Polars reads each field of such a record as the text between
    its delimiters, a missing field as null, and leaves out the fields past the header's count). The lengths
    are read from the columns without a pass over the text, where counting the delimiters scans every record."""
    # (a null field adds nothing; a record's length is far below 2**32)
    total = pl.sum_horizontal([pl.col(c).str.len_bytes() for c in fields.columns]).fill_null(0).cast(pl.Int64)
    lengths = fields.lazy().select(total + (fields.width - 1)).collect().to_series()
    return lengths != records.str.len_bytes().cast(pl.Int64)


def _aligned(frame: pl.DataFrame, like: pl.DataFrame) -> pl.DataFrame:
    """``frame`` cut into the chunks of ``like``'s columns (Polars reads in parallel chunks): with the
    chunks of all columns aligned, row-wise work need not copy the columns into one chunk each first."""
    lengths = like.to_series(0).chunk_lengths() if like.width else []
    if len(lengths) < 2 or any(like[c].chunk_lengths() != lengths for c in like.columns):
        return frame.rechunk() if len(lengths) < 2 else frame
    frame = frame.rechunk()
    offsets = itertools.accumulate(lengths, initial=0)
    return pl.concat([frame.slice(o, n) for o, n in zip(offsets, lengths, strict=False)], rechunk=False)


def _reject_ragged(body: pl.DataFrame, delimiter: str, expected: int) -> None:
    ragged = _ragged(body, delimiter, expected)
    if ragged.height:
        listed = "; ".join(
            f"line {ln} has {n} field{'s' if n != 1 else ''}"
            for ln, n in ragged.head(_MAX_LISTED).select(LINE_NO, "_fields").rows()
        )
        more = f" (and {ragged.height - _MAX_LISTED} more rows)" if ragged.height > _MAX_LISTED else ""
        raise FileRejected(f"ragged rows: the header has {expected} fields but {listed}{more}")


def _header(record: str, delimiter: str, line: int) -> list[str]:
    """The column names of the header record on ``line``; a header that is no CSV record rejects the file."""
    if "\x00" in record:
        raise FileRejected(
            f"header (line {line}) holds a NUL byte (\\x00) at character {record.index(chr(0)) + 1}: "
            "binary data, or UTF-16 text without a byte-order mark"
        )
    try:
        row = next(csv.reader([record], delimiter=delimiter, quotechar=_QUOTE), [])
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise FileRejected(
                f"header (line {line}) has a field longer than {csv.field_size_limit()} characters"
            ) from None
        raise FileRejected(f"header (line {line}) is not a CSV record: {exc}") from None
    return [name.strip() for name in row]


_NOT_ASCII_SPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")


def _is_empty(payload: bytes) -> bool:
    """Whether the UTF-8 text is only white space (as ``str.strip`` sees it); invalid UTF-8 is rejected."""
    found = _NOT_ASCII_SPACE.search(payload)
    if found is None:
        return True
    first = payload[found.start()]
    if first < 0x80 and not 0x1C <= first <= 0x1F:
        return False
    return not decode(payload, "utf-8").strip()


def read_csv(
    path: Path,
    options: CsvOptions,
    required: Sequence[str],
    optional_columns: Sequence[str] = (),
    *,
    named_only: bool = False,
) -> CsvFile:
    """Read a CSV file with all columns as String, rejecting the file when it cannot be trusted.

    Raises ``FileRejected`` for an empty file, a header lacking one of ``required``, duplicate header
    names, unterminated quotes and rows whose field count differs from the header's. Each column of
    ``optional_columns`` the header lacks is added to the rows as null text (``columns`` stays the header's).
    With ``named_only`` (a parser that reads no other column), the rows hold only the ``required`` and
    ``optional_columns`` (the others are not built); the file is checked as a whole all the same.
    """
    src = _read_csv(path, options, required, optional_columns, named_only=named_only)
    missing = [pl.lit(None, pl.String).alias(c) for c in optional_columns if c not in src.columns]
    if missing:
        return dataclasses.replace(src, frame=src.frame.with_columns(missing))
    return src


_SHADOWED = "_unmapped:"  # prefix of a file column named like a column the mapping reads from another header


def _mapped(header: list[str], header_line: int, columns: dict[str, str], known: Sequence[str]) -> list[str]:
    """The header with the mapped headers renamed to the parser's names (``columns``: name -> header in the
    file); rejects a mapping the parser cannot use or whose headers the file lacks."""
    unknown = [name for name in columns if name not in known]
    if unknown:
        raise FileRejected(f"the channel's csv.columns maps column(s) this format does not read: {', '.join(unknown)}")
    absent = [f"{h!r} (csv.columns.{name})" for name, h in columns.items() if h not in header]
    if absent:
        raise FileRejected(f"header (line {header_line}) lacks the mapped column(s): {', '.join(absent)}")
    by_header = {h: name for name, h in columns.items()}
    return [by_header.get(h, _SHADOWED + h if h in columns else h) for h in header]


def _read_csv(
    path: Path, options: CsvOptions, required: Sequence[str], optional_columns: Sequence[str], *, named_only: bool
) -> CsvFile:
    if len(options.delimiter.encode("utf-8")) != 1:
        raise FileRejected(f"the channel's CSV delimiter {options.delimiter!r} is not a single byte")
    data = path.read_bytes()
    refuse_wide_text(data)
    if options.encoding in ("utf-8", "utf8"):
        # validated as UTF-8 while the lines are read; the line of an invalid byte is counted as in ``decode``
        payload = data[3:] if data.startswith(_BOM) else data
    else:
        payload = decode(data, options.encoding).encode("utf-8")
    payload = cr_line_ends(payload)
    if _is_empty(payload):
        raise FileRejected("file is empty")
    delimiter = options.delimiter
    # blank: only white space (``\s`` is the Unicode White_Space set ``str.strip_chars`` strips); no text is copied
    quoted = _QUOTE.encode() in payload
    records = _records(payload, quoted).with_columns(pl.col(RECORD).str.contains(r"^\s*$").alias("_blank"))
    header_at = int(records["_blank"].arg_min() or 0)
    header_line = int(records[LINE_NO][header_at])
    columns = _header(str(records[RECORD][header_at]), delimiter, header_line)
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise FileRejected(f"header (line {header_line}) repeats column(s): {', '.join(duplicates)}")
    if options.columns:
        columns = _mapped(columns, header_line, options.columns, [*required, *optional_columns])
    missing = [c for c in required if c not in columns]
    if missing:
        raise FileRejected(
            f"header (line {header_line}) lacks required column(s): {', '.join(repr(c) for c in missing)}"
        )
    body = records.slice(header_at + 1)
    blank = body["_blank"]
    fields: pl.DataFrame | None = None
    error: str | None = None
    if not blank.all():
        named = {*required, *optional_columns}
        projection = [i for i, c in enumerate(columns) if c in named] if named_only else None
        try:
            fields = _read_fields(payload, columns, header_line, delimiter, projection)
        except pl.exceptions.PolarsError as exc:
            error = f"not readable as CSV: {exc}"
        if fields is not None and fields.height != body.height:
            error = f"could not align rows with lines: {fields.height} rows read but {body.height} records found"
    if fields is None or error is not None:
        # a ragged file is named as such even when Polars could not read it
        _reject_ragged(body, delimiter, len(columns))
        if error is not None:
            raise FileRejected(error)
        schema = {**{c: pl.String() for c in columns}, LINE_NO: pl.Int64(), RECORD: pl.String()}
        return CsvFile(frame=pl.DataFrame(schema=schema), columns=columns, labels=dict(options.columns))
    body = _aligned(body, fields)
    nul_free = b"\x00" not in payload
    if fields.width == len(columns) and b"\r" not in payload and nul_free:
        maybe = _maybe_ragged_by_lengths(fields, body[RECORD])
    else:
        maybe = _maybe_ragged(body[RECORD], delimiter, len(columns))
    if quoted:  # the fields of a record holding a quote are counted; the others are plain records
        maybe = maybe | body[RECORD].str.contains(_QUOTE, literal=True)
    maybe = maybe & ~blank
    if maybe.any():
        _reject_ragged(body.filter(maybe), delimiter, len(columns))
    frame = fields.hstack([body[LINE_NO], body[RECORD]])
    if blank.any():
        frame = frame.filter(~blank)
    return CsvFile(frame=frame, columns=columns, labels=dict(options.columns), nul_free=nul_free)


def record_checks(src: CsvFile) -> dict[str, RowCheck]:
    """The check of the record text ``split_valid`` adds to a parser's checks (a NUL byte in the record), for
    the parser to pass on: when the file holds no NUL byte, one that rejects no row without reading the text."""
    if not src.nul_free:
        return {}
    return {RECORD_FIELD: RowCheck(suspect=pl.lit(False), reason=pl.lit(None, pl.String))}


def _read_fields(
    payload: bytes, columns: list[str], header_line: int, delimiter: str, projection: list[int] | None
) -> pl.DataFrame:
    """The fields of the records under the header on ``header_line``, all text; with ``projection`` (indices
    into ``columns``) only those columns are built, unless Polars cannot read the file (then the error is the
    one of reading every column)."""

    def read(only: list[int] | None) -> pl.DataFrame:
        return pl.read_csv(
            io.BytesIO(payload),
            has_header=True,
            new_columns=columns,
            columns=only,
            skip_lines=header_line - 1,
            separator=delimiter,
            quote_char=_QUOTE,
            infer_schema=False,
            truncate_ragged_lines=True,
            raise_if_empty=False,
        )

    if projection is not None and len(projection) < len(columns):
        try:
            return read(projection)
        except pl.exceptions.PolarsError:
            pass  # read every column: the same error as without the projection
    return read(None)


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
    first, second = (s.str.to_datetime(fmt, strict=False, time_unit="us") for fmt in _NAIVE_FORMATS)
    return pl.when(first.is_null()).then(second).otherwise(first)  # the second format only where needed


def naive_timestamps(frame: pl.DataFrame, texts: dict[str, pl.Expr]) -> pl.DataFrame:
    """``frame`` with, for each (name, text) of ``texts``, the column ``name``: ``naive_timestamp(text)``, the
    second format read only on the rows the first did not read (the expression reads both on every row)."""
    columns: list[pl.Series] = []
    for name, text in texts.items():
        # (lazily: an eager select would first align the chunks of every column of the frame)
        s = frame.lazy().select(text.str.strip_chars()).collect().to_series()
        parsed = s.str.to_datetime(_NAIVE_FORMATS[0], strict=False, time_unit="us")
        retry = (parsed.is_null() & s.is_not_null()).arg_true()
        if retry.len():
            second = s.gather(retry).str.to_datetime(_NAIVE_FORMATS[1], strict=False, time_unit="us")
            parsed = parsed.scatter(retry, second)
        columns.append(parsed.alias(name))
    return frame.with_columns(columns)


def parse_amounts(
    frame: pl.DataFrame,
    columns: dict[str, str],
    options: CsvOptions,
) -> pl.DataFrame:
    """Parse amount columns to minor units with ``money.parse_minor`` (via ``money.parse_minor_series``).

    ``columns`` maps each amount column to the column holding its (already normalised) currency. Adds
    ``_m:<column>`` (Int64 minor units, null when empty or invalid) and ``_e:<column>`` (reason, null
    when valid or empty). An amount whose currency is null is neither parsed nor an error.
    """
    if not columns:
        return frame
    parsed = money.parse_minor_series(
        frame, list(columns.items()), decimal=options.decimal, thousands=options.thousands, required=False
    )
    results: list[pl.Series] = []
    for (column, currency), (minor, error) in zip(columns.items(), parsed, strict=True):
        no_currency = frame[currency].is_null()
        if no_currency.any():  # an amount without a currency is not parsed (the currency is the reject)
            minor, error = minor.set(no_currency, None), error.set(no_currency, None)
        results += [minor.alias(f"_m:{column}"), error.alias(f"_e:{column}")]
    return frame.hstack(results)


_FEW_VALUES = 4096  # up to this many distinct values, ``per_value`` evaluates a text expression once per value


def per_value(frame: pl.DataFrame | pl.LazyFrame, texts: dict[str, pl.Expr]) -> dict[str, pl.Expr]:
    """For each (name, row-wise expression of one column) of ``texts``, an expression giving the same values
    on the rows of ``frame`` (or some of them), the expression evaluated once per distinct value of its column
    (codes, statuses, types and zones have a few): the column itself where it leaves every value as it is, else
    a lookup of its value per value. A column with more than ``_FEW_VALUES`` distinct values keeps the expression."""
    roots = {name: _one_root(expr) for name, expr in texts.items()}
    if not roots:
        return {}
    distinct = frame.lazy().select([pl.col(c).unique().implode() for c in dict.fromkeys(roots.values())]).collect()
    out: dict[str, pl.Expr] = {}
    for name, expr in texts.items():
        column = roots[name]
        present = distinct[column][0]
        values = present.drop_nulls()
        if values.len() > _FEW_VALUES:
            out[name] = expr
            continue
        with_null = values.append(pl.Series([None], dtype=values.dtype))
        mapped = pl.DataFrame({column: with_null}).select(expr).to_series()
        on_null = mapped[-1]
        mapped = mapped.head(values.len())
        null_kept = on_null is None or values.len() == present.len()  # (no null in the column)
        if mapped.dtype == values.dtype and null_kept and bool(mapped.eq_missing(values).all()):
            out[name] = pl.col(column)
        else:
            out[name] = pl.col(column).replace_strict(values, mapped, default=on_null, return_dtype=mapped.dtype)
    return out


def _one_root(expr: pl.Expr) -> str:
    [column] = set(expr.meta.root_names())
    return column


def per_distinct(frame: pl.DataFrame, keys: Sequence[str], exprs: dict[str, pl.Expr]) -> pl.DataFrame:
    """``frame`` with columns ``exprs``, row-wise expressions of the ``keys`` columns only, evaluated once
    per distinct key (reports repeat the same exchange rates, dates and codes on many rows)."""
    table = frame.lazy().select(keys).unique().with_columns(**exprs)
    if len(keys) == 1:  # one key: each value looked up by the key's text, without a join and a sort
        values = _replaced(frame.lazy(), keys[0], table.collect(), list(exprs)).collect()
    else:
        values = _lookup(frame.lazy(), keys, table, list(exprs)).collect()
    return frame.hstack(values.get_columns())


def _replaced(rows: pl.LazyFrame, key: str, table: pl.DataFrame, values: Sequence[str]) -> pl.LazyFrame:
    """``_lookup`` by one key: ``values`` of the ``table`` row with the same ``key`` (unique there; null matches
    null) for each row, in order."""
    known = table.filter(pl.col(key).is_not_null())
    on_null = table.filter(pl.col(key).is_null())
    columns: list[pl.Expr] = []
    for name in values:
        dtype = table.schema[name]
        default = pl.lit(on_null[name][0] if on_null.height else None, dtype)
        value = pl.col(key).replace_strict(known[key], known[name], default=default, return_dtype=dtype)
        columns.append(value.alias(name))
    return rows.select(columns)


def _lookup(rows: pl.LazyFrame, keys: Sequence[str], table: pl.LazyFrame, values: Sequence[str]) -> pl.LazyFrame:
    """``values`` of the ``table`` row with the same ``keys`` (unique there; nulls match) for each row, in order.

    A join that puts the rows back in order by their index afterwards, which is faster than a join
    keeping the order.
    """
    return (
        rows.select(keys)
        .with_row_index("__row")
        .join(table.select(*keys, *values), on=list(keys), how="left", nulls_equal=True)
        .sort("__row")
        .select(values)
    )
