"""``recon_<date>.xlsx``: the run's outputs as a workbook finance analysts work from (xlsxwriter).

Sheets: ``Summary`` (the figures of ``summary.json``, one per row: section, item, value, currency),
``Breaks``, ``Positions``, ``Fund verification``, ``Quarantine`` (the run's frames, every column). On each
sheet the header row is frozen and carries an autofilter. Cells keep their types:

* Amounts: a ``*_minor`` column (int64 minor units) is written as a number in major units, under its name
  without ``_minor`` (``amount_minor`` -> ``amount``), converted exactly (``Decimal``, never a float) and shown
  with its row's currency's ISO 4217 decimals (JPY and CLP 0, EUR 2, BHD 3) by a per-row number format. An
  amount whose currency is missing or unknown is written as the text ``"<minor> minor units"``.
* Text: every text column (references, ids, order ids, 16-digit PSP references, file ids, break ids, reasons)
  is written as a text cell in the text number format ``@``, so a spreadsheet never turns it into a number,
  a date or a formula; a text beginning with ``= + - @``, a tab or a carriage return is neutralised by the
  rule of the CSVs (``csvsafe``: a leading ``'``). No cell is ever written as a formula.
* Dates as dates (``yyyy-mm-dd``), counts as integers, rates (decimal) as numbers.

The Breaks sheet has, right after ``break_id``, the resolution columns an analyst fills in
(``RESOLUTION_COLUMNS``: ``resolve_action`` with a drop-down list of the actions ``recon breaks resolve``
accepts, ``resolve_by``, ``resolve_note``); ``recon breaks import`` reads them back
(``pipelines.cli.workbook_import``). The workbook's custom document properties name its business date and
rules version.

The same figures give the same bytes: the document's creation date is the business date, xlsxwriter stamps
every part of the zip with a fixed date, the rows are written in the order of the frames, and neither the run
id nor the mode is written (a re-run that changes nothing gives the same workbook, as it does the same CSVs).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter

from pipelines.breaks.lifecycle import ACTIONS
from pipelines.core import money
from pipelines.publish import amounts, csvsafe
from pipelines.run.result import RunResult

SUMMARY, BREAKS, POSITIONS, FUNDS, QUARANTINE = "Summary", "Breaks", "Positions", "Fund verification", "Quarantine"
SHEETS = (SUMMARY, BREAKS, POSITIONS, FUNDS, QUARANTINE)

RESOLVE_ACTION, RESOLVE_BY, RESOLVE_NOTE = "resolve_action", "resolve_by", "resolve_note"
RESOLUTION_COLUMNS = (RESOLVE_ACTION, RESOLVE_BY, RESOLVE_NOTE)
"""The Breaks sheet's columns an analyst fills in (empty when written)."""

PROPERTY_DATE, PROPERTY_RULES = "business_date", "rules_version"
"""Custom document properties: the business date the workbook shows and the rules version of its run."""

MAX_DATA_ROWS = 1_048_575  # a sheet's rows, less the header: beyond them the CSV has the rest
SUMMARY_COLUMNS = ("section", "item", "value", "currency")
SUMMARY_ON_OTHER_SHEETS = ("positions", "metrics")  # lists of summary.json shown elsewhere (sheet, metrics.csv)
LABEL_KEYS = (
    "counterparty",
    "channel",
    "file_name",
    "currency",
    "direction",
    "value_date",
    "break_type",
    "aging_bucket",
    "bucket",
    "sla_status",
    "status",
)
"""The fields naming an element of a list of summary.json (a file, a position, a total), in this order."""

_HEADER = {"bold": True, "bg_color": "#DDE3EA", "bottom": 1, "text_wrap": False}
_INPUT = {"bg_color": "#FFF2CC"}
_TEXT = {"num_format": "@"}


def workbook_name(day: dt.date) -> str:
    return f"recon_{day.isoformat()}.xlsx"


@dataclass(frozen=True)
class WorkbookData:
    """What the workbook shows: a run's business date and rules version, its summary and its frames. Not the
    run id nor the mode: a re-run that changes no figure gives the same workbook, byte for byte."""

    business_date: dt.date
    rules_version: str
    summary: Mapping[str, Any]
    breaks: pl.DataFrame
    positions: pl.DataFrame
    fund_verification: pl.DataFrame
    quarantine: pl.DataFrame

    @classmethod
    def of(cls, result: RunResult) -> WorkbookData:
        return cls(
            business_date=result.business_date,
            rules_version=result.rules_version,
            summary=result.summary,
            breaks=result.breaks,
            positions=result.positions,
            fund_verification=result.fund_verification,
            quarantine=result.quarantine,
        )


def write_run_workbook(result: RunResult, folder: Path) -> Path:
    """Write ``recon_<date>.xlsx`` of a run into ``folder``; return its path."""
    return write_workbook(WorkbookData.of(result), folder / workbook_name(result.business_date))


def write_workbook(data: WorkbookData, path: Path) -> Path:
    book = xlsxwriter.Workbook(
        str(path),
        {
            # every cell is written with its typed method: nothing is guessed from a string
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "remove_timezone": True,  # timestamps are UTC
            "constant_memory": True,  # rows streamed to disk as written: a large Breaks sheet is not held in memory
            "tmpdir": str(path.parent),  # (its temporary files, removed on close, stay beside the workbook)
        },
    )
    created = dt.datetime.combine(data.business_date, dt.time())
    book.set_properties(
        {
            "title": f"Reconciliation of {data.business_date.isoformat()}",
            "subject": f"rules {data.rules_version}",
            "author": "recon",
            "comments": "Fill resolve_action, resolve_by and resolve_note on the Breaks sheet, then run "
            "`recon breaks import FILE --by NAME`.",
            "created": created,
        }
    )
    book.set_custom_property(PROPERTY_DATE, data.business_date.isoformat())
    book.set_custom_property(PROPERTY_RULES, data.rules_version)
    try:
        styles = _Styles(book)
        frames = {
            BREAKS: data.breaks,
            POSITIONS: data.positions,
            FUNDS: data.fund_verification,
            QUARANTINE: data.quarantine,
        }
        cut = {name: f.height for name, f in frames.items() if f.height > MAX_DATA_ROWS}
        sheets = {name: book.add_worksheet(name) for name in SHEETS}
        _write_summary(sheets[SUMMARY], styles, summary_rows(data, cut))
        for name, frame in frames.items():
            layout = _layout(frame, inputs=name == BREAKS)
            _write_frame(sheets[name], styles, frame.head(MAX_DATA_ROWS), layout, freeze_columns=int(name == BREAKS))
            if name == BREAKS:
                _resolution_validation(sheets[name], layout, min(frame.height, MAX_DATA_ROWS))
        sheets[SUMMARY].activate()
    finally:
        book.close()
    return path


class _Styles:
    """The workbook's cell formats, made once each (xlsxwriter keeps them in the order they are made)."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self._book = book
        self.header = book.add_format(_HEADER)
        self.input_header = book.add_format({**_HEADER, **_INPUT})
        self.text = book.add_format(_TEXT)
        self.input = book.add_format({**_TEXT, **_INPUT})
        self.integer = book.add_format({"num_format": "0"})
        self.date = book.add_format({"num_format": "yyyy-mm-dd"})
        self.timestamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.rate = book.add_format({"num_format": "0.0000########"})
        self.number = book.add_format({"num_format": "General"})
        self._amounts: dict[int, Any] = {}

    def amount(self, exponent: int) -> Any:
        """``#,##0.00`` with the currency's number of decimals."""
        if exponent not in self._amounts:
            decimals = "." + "0" * exponent if exponent else ""
            self._amounts[exponent] = self._book.add_format({"num_format": f"#,##0{decimals};-#,##0{decimals}"})
        return self._amounts[exponent]


Writer = Callable[[Any, int, int, Any, _Styles], None]


def _text_cell(sheet: Any, row: int, col: int, value: Any, styles: _Styles) -> None:
    if value is None:
        return
    sheet.write_string(row, col, csvsafe.neutralise(str(value)), styles.text)


def _integer_cell(sheet: Any, row: int, col: int, value: Any, styles: _Styles) -> None:
    if value is not None:
        sheet.write_number(row, col, int(value), styles.integer)


def _date_cell(sheet: Any, row: int, col: int, value: Any, styles: _Styles) -> None:
    if value is not None:
        fmt = styles.timestamp if isinstance(value, dt.datetime) else styles.date
        sheet.write_datetime(row, col, value, fmt)


def _decimal_cell(sheet: Any, row: int, col: int, value: Any, styles: _Styles) -> None:
    if value is not None:
        sheet.write_number(row, col, value, styles.rate)


def _number_cell(sheet: Any, row: int, col: int, value: Any, styles: _Styles) -> None:
    if value is not None and not (isinstance(value, float) and not math.isfinite(value)):
        sheet.write_number(row, col, value, styles.number)


def _boolean_cell(sheet: Any, row: int, col: int, value: Any, styles: _Styles) -> None:
    if value is not None:
        sheet.write_boolean(row, col, bool(value))


def _amount_cell(sheet: Any, row: int, col: int, minor: Any, currency: Any, styles: _Styles) -> None:
    if minor is None:
        return
    major = amounts.to_decimal(int(minor), currency)
    if major is None:  # no known currency: the minor units, as text (never a number in the wrong unit)
        sheet.write_string(row, col, f"{int(minor)} minor units", styles.text)
        return
    sheet.write_number(row, col, major, styles.amount(money.exponent(currency)))


@dataclass(frozen=True)
class _Column:
    header: str
    source: str | None  # the frame's column (None: an empty input column)
    kind: str  # text, integer, date, decimal, number, boolean, amount, input
    currency: str | None = None  # the frame's currency column of an amount
    width: float = 12


def _kind(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "integer"
    if isinstance(dtype, pl.Decimal):
        return "decimal"
    if dtype.is_float():
        return "number"
    if isinstance(dtype, (pl.Date, pl.Datetime)):
        return "date"
    if isinstance(dtype, pl.Boolean):
        return "boolean"
    return "text"


def _width(frame: pl.DataFrame, name: str, header: str) -> float:
    """A column's width in characters: its header or its longest value among the first rows, within 8..60."""
    sample = frame.get_column(name).head(500).cast(pl.String, strict=False).str.len_chars().max()
    longest = int(sample) if isinstance(sample, int) else 0
    return float(min(60, max(8, len(header) + 2, longest + 2)))


def _layout(frame: pl.DataFrame, *, inputs: bool) -> list[_Column]:
    """The sheet's columns: every column of ``frame`` (amounts renamed), and on the Breaks sheet the
    resolution input columns right after ``break_id``."""
    pairs = amounts.amount_columns(frame)
    columns: list[_Column] = []
    for name, dtype in frame.schema.items():
        if name in pairs:
            header = amounts.decimal_name(name, frame.columns)
            columns.append(_Column(header, name, "amount", pairs[name], max(14.0, len(header) + 2)))
        else:
            columns.append(_Column(name, name, _kind(dtype), width=_width(frame, name, name)))
        if inputs and name == "break_id":
            columns += _input_columns()
    if inputs and "break_id" not in frame.columns:
        columns += _input_columns()
    return columns


def _input_columns() -> list[_Column]:
    return [
        _Column(RESOLVE_ACTION, None, "input", width=16),
        _Column(RESOLVE_BY, None, "input", width=14),
        _Column(RESOLVE_NOTE, None, "input", width=40),
    ]


_WRITERS: dict[str, Writer] = {
    "text": _text_cell,
    "integer": _integer_cell,
    "date": _date_cell,
    "decimal": _decimal_cell,
    "number": _number_cell,
    "boolean": _boolean_cell,
}


def _write_frame(sheet: Any, styles: _Styles, frame: pl.DataFrame, layout: list[_Column], freeze_columns: int) -> None:
    for col, c in enumerate(layout):
        sheet.write_string(0, col, c.header, styles.input_header if c.kind == "input" else styles.header)
        sheet.set_column(col, col, c.width)
    index = {name: i for i, name in enumerate(frame.columns)}
    for r, values in enumerate(frame.iter_rows(), start=1):
        for col, c in enumerate(layout):
            if c.source is None:
                sheet.write_blank(r, col, None, styles.input)
            elif c.kind == "amount":
                assert c.currency is not None
                _amount_cell(sheet, r, col, values[index[c.source]], values[index[c.currency]], styles)
            else:
                _WRITERS[c.kind](sheet, r, col, values[index[c.source]], styles)
    sheet.freeze_panes(1, freeze_columns)
    sheet.autofilter(0, 0, max(frame.height, 1), max(len(layout) - 1, 0))


def _resolution_validation(sheet: Any, layout: list[_Column], rows: int) -> None:
    """The drop-down list of the actions on ``resolve_action`` (``recon breaks resolve``'s actions)."""
    if rows == 0:
        return
    col = next(i for i, c in enumerate(layout) if c.header == RESOLVE_ACTION)
    sheet.data_validation(
        1,
        col,
        rows,
        col,
        {
            "validate": "list",
            "source": list(ACTIONS),
            "input_title": "Resolution",
            "input_message": "write_off, manual_match or accept resolves the break, reopen opens it again; "
            "fill resolve_note (and resolve_by), then run recon breaks import.",
            "error_title": "Unknown action",
            "error_message": "One of: " + ", ".join(ACTIONS) + ".",
        },
    )


# ---- Summary -----------------------------------------------------------------------------------------------
SummaryRow = tuple[str, str, Any, str | None]  # section, item, value, currency (of an amount, else None)
_IDENTITY = ("business_date", "run_id", "mode", "rules_version")


def summary_rows(data: WorkbookData, cut: Mapping[str, int] | None = None) -> list[SummaryRow]:
    """The Summary sheet: the business date and rules version, then every figure of ``summary.json`` one per
    row (nested keys joined by `` / ``; an element of a list named by its ``LABEL_KEYS``); amounts (``*_minor``)
    in their currency. Invariants show whether they hold. The lists shown elsewhere (``SUMMARY_ON_OTHER_SHEETS``)
    are left out, and so are the run id and mode (``WorkbookData``)."""
    rows: list[SummaryRow] = [
        ("run", "business_date", data.business_date, None),
        ("run", "rules_version", data.rules_version, None),
    ]
    for sheet, height in (cut or {}).items():
        rows.append(("workbook", f"{sheet} rows", f"the first {MAX_DATA_ROWS} of {height} (the CSV has all)", None))
    for key, value in sorted(data.summary.items(), key=lambda kv: _summary_rank(kv[0])):
        if key in _IDENTITY or key in SUMMARY_ON_OTHER_SHEETS:
            continue
        if key == "invariants" and isinstance(value, Mapping):
            for name, state in value.items():
                ok = isinstance(state, Mapping) and bool(state.get("ok"))
                detail = "; ".join(str(d) for d in state.get("detail") or []) if isinstance(state, Mapping) else ""
                rows.append(("invariants", str(name), "holds" if ok else f"FAILED {detail}".strip(), None))
        elif isinstance(value, (Mapping, list)):
            rows.extend(_flatten(key, "", value, {}))
        else:
            rows.append(("figures", key, value, None))
    return rows


SUMMARY_FIRST = ("completeness", "money_at_risk", "breaks", "fund_verification", "outcomes", "rows_in", "matches")
SUMMARY_LAST = ("files",)


def _summary_rank(key: str) -> tuple[int, int]:
    """The order of summary.json's sections on the sheet: what an analyst reads first (money at risk, breaks),
    then the others in their order, the list of files last."""
    if key in SUMMARY_FIRST:
        return 0, SUMMARY_FIRST.index(key)
    if "risk" in key:
        return 0, SUMMARY_FIRST.index("money_at_risk")
    return (2, 0) if key in SUMMARY_LAST else (1, 0)


Context = Mapping[str, Any]  # the currency fields (``*currency``) of the enclosing objects, nearest last


def _currencies(context: Context, value: Mapping[str, Any]) -> dict[str, Any]:
    """``context`` with the currency fields of ``value`` (an amount of a nested object may be in the currency
    its parent names, e.g. a total's ``reporting_currency``)."""
    return {**context, **{k: v for k, v in value.items() if str(k).endswith("currency") and isinstance(v, str)}}


def _flatten(section: str, path: str, value: Any, context: Context) -> Iterator[SummaryRow]:
    if isinstance(value, Mapping):
        inner = _currencies(context, value)
        for k, v in value.items():
            yield from _flatten(section, _join(path, str(k)), v, inner)
        return
    if isinstance(value, list):
        if value and all(isinstance(v, Mapping) for v in value):
            for element in value:
                yield from _element(section, path, element, context)
        else:
            yield section, path or section, "; ".join(str(v) for v in value) if value else "none", None
        return
    yield _leaf(section, path, value, context)


def _element(section: str, path: str, element: Mapping[str, Any], context: Context) -> Iterator[SummaryRow]:
    label = " / ".join(str(element[k]) for k in LABEL_KEYS if element.get(k) is not None)
    named = _join(path, label)
    inner = _currencies(context, element)
    currencies = {amounts.currency_column(k, list(element)) for k in element if k.endswith(amounts.MINOR_SUFFIX)}
    for k, v in element.items():
        if k in LABEL_KEYS or k in currencies or k.endswith("_id") or k == "business_date":
            continue
        if isinstance(v, (Mapping, list)):
            yield from _flatten(section, _join(named, k), v, inner)
        else:
            yield _leaf(section, _join(named, k), v, inner)


def _leaf(section: str, path: str, value: Any, context: Context) -> SummaryRow:
    """A figure; an amount (``*_minor`` with a known currency) in major units, else as it is (an amount whose
    currency is not known keeps its ``_minor`` name: it is in minor units)."""
    name = path.rsplit(" / ", 1)[-1]
    if name.endswith(amounts.MINOR_SUFFIX) and isinstance(value, int) and not isinstance(value, bool):
        currency = context.get(amounts.currency_column(name, list(context)) or "")
        if isinstance(currency, str) and currency in money.exponents():
            shown = path.removesuffix(amounts.MINOR_SUFFIX)
            return section, shown, amounts.to_decimal(value, currency), currency
    return section, path or section, value, None


def _join(path: str, name: str) -> str:
    return f"{path} / {name}" if path and name else path or name


def _write_summary(sheet: Any, styles: _Styles, rows: Sequence[SummaryRow]) -> None:
    widths = [10.0, 30.0, 24.0, 9.0]
    for col, header in enumerate(SUMMARY_COLUMNS):
        sheet.write_string(0, col, header, styles.header)
    for r, (section, item, value, currency) in enumerate(rows, start=1):
        sheet.write_string(r, 0, csvsafe.neutralise(section) or "", styles.text)
        sheet.write_string(r, 1, csvsafe.neutralise(item) or "", styles.text)
        widths[0] = max(widths[0], min(30.0, len(section) + 2))
        widths[1] = max(widths[1], min(70.0, len(item) + 2))
        if currency is not None:
            sheet.write_number(r, 2, value, styles.amount(money.exponent(currency)))
            sheet.write_string(r, 3, currency, styles.text)
        elif isinstance(value, bool):
            sheet.write_boolean(r, 2, value)
        elif isinstance(value, int):
            sheet.write_number(r, 2, value, styles.integer)
        elif isinstance(value, Decimal):
            sheet.write_number(r, 2, value, styles.rate)
        elif isinstance(value, float) and math.isfinite(value):
            sheet.write_number(r, 2, value, styles.number)
        elif isinstance(value, dt.date):
            sheet.write_datetime(r, 2, value, styles.date)
        elif value is not None:
            sheet.write_string(r, 2, csvsafe.neutralise(str(value)) or "", styles.text)
    for col, width in enumerate(widths):
        sheet.set_column(col, col, width)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(rows), 1), len(SUMMARY_COLUMNS) - 1)
