"""Data contracts: one Great Expectations suite per canonical table, derived from ``schemas/``.

Every normalised file is validated against its table's suite before it reaches staging; a file that
breaks its contract is quarantined whole, with the validation result saved beside it.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from pipelines.core import deferred, schema

if TYPE_CHECKING:
    import great_expectations as gx

log = logging.getLogger(__name__)
_SAMPLE_ROWS = 20_000  # rows looked at to tell high-cardinality text from categories


@dataclass
class ValidationOutcome:
    success: bool
    failed: list[str]
    result: dict[str, Any]


# Modules the validation library imports at its start for expectations no contract has (distribution tests and
# their charts): imported when one of their attributes is first used (``deferred.defer``), which the
# expectations of the contracts never do. About 1.2 of the 3.5 CPU-s of importing the library and building the
# suites.
UNUSED_MODULES = ("scipy.stats", "altair")


def _quiet() -> None:
    """Before the validation library is imported: no analytics, warnings only, its unused modules deferred."""
    deferred.defer(UNUSED_MODULES)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)


def build_suite(table_name: str, part: str = "all") -> gx.ExpectationSuite:
    """The expectation suite of a canonical table, generated from its schema file.

    ``part`` selects the table-level expectations ("structure"), the column-value expectations
    ("values") or both ("all").
    """
    _quiet()
    import great_expectations as gx
    import great_expectations.expectations as gxe

    _batch_definition()  # suites need an active data context
    t = schema.table(table_name)
    suite = gx.ExpectationSuite(name=f"{t.name}_contract_{part}")
    if part in ("structure", "all"):
        suite.add_expectation(gxe.ExpectTableColumnsToMatchOrderedList(column_list=t.column_names))
    if part == "structure":
        return suite
    for c in t.columns:
        if not c.nullable:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=c.name))
        if c.allowed:
            suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=list(c.allowed)))
        if c.regex:
            suite.add_expectation(gxe.ExpectColumnValuesToMatchRegex(column=c.name, regex=c.regex))
        if c.min is not None:
            suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=c.name, min_value=c.min))
    return suite


def constrained_columns(table_name: str) -> list[str]:
    """Columns that carry a value expectation (the others are checked for presence and type only)."""
    t = schema.table(table_name)
    return [c.name for c in t.columns if not c.nullable or c.allowed or c.regex or c.min is not None]


@functools.cache
def _batch_definition() -> Any:
    _quiet()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("canonical")
    asset = source.add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole")


@functools.cache
def _suite(table_name: str, part: str) -> gx.ExpectationSuite:
    return build_suite(table_name, part)


def presence_only_columns(table_name: str) -> set[str]:
    """Columns whose only value expectation is "not null" (no allowed values, pattern or minimum)."""
    t = schema.table(table_name)
    return {c.name for c in t.columns if not c.nullable and not c.allowed and not c.regex and c.min is None}


_PRESENT = "present"


def _pandas(frame: pl.DataFrame, presence_only: set[str] | frozenset[str] = frozenset()) -> Any:
    """Frame for the pandas engine: low-cardinality text as categoricals, decimals as text.

    Great Expectations fingerprints every batch by hashing all its values; categoricals hash their few
    categories instead of every string, and high-cardinality text (judged on a sample of the rows) stays in
    pyarrow strings, the cheapest of the pandas string arrays to hash. A text column of ``presence_only``
    (its one expectation is "not null", whose result names no value but null) goes as its presence: a
    categorical that is null where the text is null and ``present`` elsewhere, so the expectation sees the
    same nulls at the same rows without a million distinct strings to convert and hash.
    """
    import pandas as pd
    import pyarrow as pa

    exprs = []
    wide_text = []
    sample = frame.head(_SAMPLE_ROWS)
    for name, dtype in frame.schema.items():
        if dtype == pl.String and name in presence_only:
            exprs.append(pl.when(pl.col(name).is_not_null()).then(pl.lit(_PRESENT)).cast(pl.Categorical).alias(name))
        elif dtype == pl.String or isinstance(dtype, pl.Decimal):
            col = pl.col(name).cast(pl.String)
            if frame.height > 10_000 and sample[name].cast(pl.String).n_unique() > 1_000:
                wide_text.append(name)
                exprs.append(col)
            else:
                exprs.append(col.cast(pl.Categorical))
        else:
            exprs.append(pl.col(name))
    narrow = frame.select(exprs)
    pdf = narrow.drop(wide_text).to_pandas()
    for name in wide_text:
        pdf[name] = pd.arrays.ArrowStringArray(narrow[name].to_arrow().cast(pa.large_string()))
    return pdf[narrow.columns]


@functools.cache
def _validation(table_name: str, part: str) -> Any:
    """The validation definition (batch definition + suite) of a table's suite part, registered once.

    Running a definition reads its batch once; getting a batch and validating it would read (and
    fingerprint, hashing every value) the data twice.
    """
    _quiet()
    import great_expectations as gx

    batch_definition = _batch_definition()
    context = batch_definition.data_asset.datasource.data_context
    suite = context.suites.add(_suite(table_name, part))
    definition = gx.ValidationDefinition(name=f"{table_name}_{part}", data=batch_definition, suite=suite)
    return context.validation_definitions.add(definition)


def prepare() -> None:
    """Import the validation library and register every canonical table's suites now (a worker process
    does this while it waits for its first file)."""
    from pipelines.formats import registry

    for table_name in sorted({registry.table_of(f) for f in registry.registered()}):
        for part in ("structure", "values"):
            _validation(table_name, part)


def _run(table_name: str, part: str, frame: pl.DataFrame) -> dict[str, Any]:
    batch = _pandas(frame, presence_only_columns(table_name) if part == "values" else frozenset())
    outcome = _validation(table_name, part).run(batch_parameters={"dataframe": batch}, result_format="SUMMARY")
    result: dict[str, Any] = outcome.to_json_dict()
    for r in result.get("results", []):
        r.get("expectation_config", {}).pop("id", None)  # the store's random id of the expectation, not its content
    return result


def _values_of(column: schema.Column, values: pl.Series) -> pl.Series:
    """The values of a column that decide its value expectations: its distinct values where a set or a
    pattern is expected, else its least value (a minimum) or any one value (presence), and a null where it
    has one; a value that occurs comes first."""
    present = values.drop_nulls()
    if column.allowed or column.regex:
        kept = present.unique(maintain_order=True)
    elif column.min is not None:
        kept = present.filter(present == present.min()).head(1) if present.len() else present
    else:
        kept = present.head(1)
    return kept.extend_constant(None, 1) if values.null_count() else kept


def decisive_rows(table_name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """A frame of few rows on which each value expectation of the table's contract holds exactly when it
    holds on ``frame``.

    Every value expectation the contract has (not null, in a set, matching a pattern, at least a minimum)
    holds for a column exactly when it holds for each of its values, so it holds for the whole column exactly
    when it holds for the column's distinct values (a set, a pattern), for its least value and its nulls (a
    minimum), for one value and its nulls (not null). Each column is cut to those values and padded to the
    longest by repeating its first; the expectations' counts of unexpected rows, not their outcome, differ.
    """
    columns = {c.name: c for c in schema.table(table_name).columns}
    kept = [_values_of(columns[name], frame[name]) for name in frame.columns]
    height = max((v.len() for v in kept), default=0)
    return pl.DataFrame([pl.concat([v, v.gather([0] * (height - v.len()))]) if v.len() else v for v in kept])


def validate_frame(table_name: str, frame: pl.DataFrame) -> ValidationOutcome:
    """Validate a canonical frame against its table's suite: structure on the full column set, values
    on the columns that carry a value expectation.

    The values are validated on the frame's ``decisive_rows`` first (the same outcome, whatever the size of
    the frame); a frame that fails there is validated whole, so that the result counts and shows its
    unexpected rows.
    """
    constrained = frame.select([c for c in constrained_columns(table_name) if c in frame.columns])
    outcome = _validate(table_name, frame, decisive_rows(table_name, constrained))
    return outcome if outcome.success else _validate(table_name, frame, constrained)


_STRUCTURE_PASSED: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}


def _structure(table_name: str, frame: pl.DataFrame) -> dict[str, Any]:
    """The result of the table's structure suite on ``frame``: it reads the column names and types only (it
    runs on no rows), so a passing result is kept for the next frame of the same columns in this process."""
    key = (table_name, tuple((name, str(dtype)) for name, dtype in frame.schema.items()))
    if key in _STRUCTURE_PASSED:
        return copy.deepcopy(_STRUCTURE_PASSED[key])
    result = _run(table_name, "structure", frame.head(0))
    if result.get("success"):
        _STRUCTURE_PASSED[key] = copy.deepcopy(result)
    return result


def _validate(table_name: str, frame: pl.DataFrame, values_frame: pl.DataFrame) -> ValidationOutcome:
    structure = _structure(table_name, frame)
    values = _run(table_name, "values", values_frame)
    results = structure.get("results", []) + values.get("results", [])
    failed = []
    for r in results:
        if not r.get("success"):
            cfg = r.get("expectation_config", {})
            kwargs = {k: v for k, v in cfg.get("kwargs", {}).items() if k != "batch_id"}
            unexpected = r.get("result", {}).get("unexpected_count")
            failed.append(f"{cfg.get('type')} {kwargs} unexpected={unexpected}")
    combined = {
        "success": not failed,
        "results": results,
        "statistics": {"structure": structure.get("statistics"), "values": values.get("statistics")},
    }
    return ValidationOutcome(success=not failed, failed=failed, result=combined)
