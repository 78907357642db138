"""Data contracts: one Great Expectations suite per canonical table, derived from ``schemas/``.

Every normalised file is validated against its table's suite before it reaches staging; a file that
breaks its contract is quarantined whole, with the validation result saved beside it.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from pipelines import schema

if TYPE_CHECKING:
    import great_expectations as gx

log = logging.getLogger(__name__)


@dataclass
class ValidationOutcome:
    success: bool
    failed: list[str]
    result: dict[str, Any]


def _quiet() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)


def build_suite(table_name: str) -> gx.ExpectationSuite:
    """The expectation suite of a canonical table, generated from its schema file."""
    _quiet()
    import great_expectations as gx
    import great_expectations.expectations as gxe

    t = schema.table(table_name)
    suite = gx.ExpectationSuite(name=f"{t.name}_contract")
    suite.add_expectation(gxe.ExpectTableColumnsToMatchOrderedList(column_list=t.column_names))
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


@functools.cache
def _batch_definition() -> Any:
    _quiet()
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    try:
        context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
    except AttributeError:  # pragma: no cover - older layouts
        pass
    source = context.data_sources.add_pandas("canonical")
    asset = source.add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole")


@functools.cache
def _suite(table_name: str) -> gx.ExpectationSuite:
    return build_suite(table_name)


def validate_frame(table_name: str, frame: pl.DataFrame) -> ValidationOutcome:
    """Validate a canonical frame against its table's suite."""
    pdf = frame.to_pandas(use_pyarrow_extension_array=True)
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": pdf})
    result = batch.validate(_suite(table_name), result_format="SUMMARY")
    as_dict: dict[str, Any] = result.to_json_dict()
    failed = []
    for r in as_dict.get("results", []):
        if not r.get("success"):
            cfg = r.get("expectation_config", {})
            kwargs = {k: v for k, v in cfg.get("kwargs", {}).items() if k != "batch_id"}
            unexpected = r.get("result", {}).get("unexpected_count")
            failed.append(f"{cfg.get('type')} {kwargs} unexpected={unexpected}")
    return ValidationOutcome(success=bool(as_dict.get("success")), failed=failed, result=as_dict)
