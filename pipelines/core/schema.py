"""Canonical table contracts loaded from ``schemas/*.yaml``.

Polars schemas, DuckDB DDL and Great Expectations suites are all derived from these files.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.core import yamlfiles
from pipelines.core.config import SCHEMAS_DIR

_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")
_SIMPLE_TYPES = {"string", "int64", "date", "timestamp", "bool"}
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class SchemaError(ValueError):
    """A schema file is malformed."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    allowed: tuple[str, ...] | None = None
    regex: str | None = None
    min: int | None = None
    description: str = ""
    default: str | None = None  # the value of a frame (or a file staged under an older contract) without it

    def polars_dtype(self) -> pl.DataType:
        if self.type == "string":
            return pl.String()
        if self.type == "int64":
            return pl.Int64()
        if self.type == "date":
            return pl.Date()
        if self.type == "timestamp":
            return pl.Datetime("us", "UTC")
        if self.type == "bool":
            return pl.Boolean()
        m = _DECIMAL.match(self.type)
        if m:
            return pl.Decimal(int(m.group(1)), int(m.group(2)))
        raise SchemaError(f"column {self.name}: unknown type {self.type!r}")

    def duckdb_type(self) -> str:
        simple = {
            "string": "VARCHAR",
            "int64": "BIGINT",
            "date": "DATE",
            "timestamp": "TIMESTAMPTZ",
            "bool": "BOOLEAN",
        }
        if self.type in simple:
            return simple[self.type]
        m = _DECIMAL.match(self.type)
        if m:
            return f"DECIMAL({m.group(1)},{m.group(2)})"
        raise SchemaError(f"column {self.name}: unknown type {self.type!r}")


@dataclass(frozen=True)
class TableSchema:
    name: str
    description: str
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}")

    def has(self, name: str) -> bool:
        return any(c.name == name for c in self.columns)

    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.polars_dtype() for c in self.columns})

    def duckdb_ddl(self, table_name: str | None = None) -> str:
        cols = ",\n  ".join(f'"{c.name}" {c.duckdb_type()}{"" if c.nullable else " NOT NULL"}' for c in self.columns)
        return f'CREATE TABLE "{table_name or self.name}" (\n  {cols}\n)'

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Select the canonical columns in order and cast them to their canonical types.

        Missing columns with a ``default`` get it, missing nullable columns are added as nulls; a missing
        non-nullable column is an error.
        """
        return frame.select(self._conformed(frame.columns))

    def conform_lazy(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """``conform`` as a step of a lazy query (fused with it: no eager select over the collected columns)."""
        return frame.select(self._conformed(frame.collect_schema().names()))

    def _conformed(self, present: Sequence[str]) -> list[pl.Expr]:
        exprs: list[pl.Expr] = []
        for c in self.columns:
            if c.name in present:
                exprs.append(pl.col(c.name).cast(c.polars_dtype(), strict=True))
            elif c.default is not None:
                exprs.append(pl.lit(c.default).cast(c.polars_dtype(), strict=True).alias(c.name))
            elif c.nullable:
                exprs.append(pl.lit(None, dtype=c.polars_dtype()).alias(c.name))
            else:
                raise SchemaError(f"table {self.name}: frame lacks required column {c.name!r}")
        return exprs


def _parse(path: Path) -> TableSchema:
    raw: dict[str, Any] = yamlfiles.parse(path.read_text(encoding="utf-8"))
    name = raw.get("table")
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise SchemaError(f"{path.name}: 'table' must be a lower-case identifier")
    cols: list[Column] = []
    for i, c in enumerate(raw.get("columns") or []):
        cname = c.get("name")
        if not isinstance(cname, str) or not IDENTIFIER.match(cname):
            raise SchemaError(f"{path.name}: column #{i + 1}: 'name' must be a lower-case identifier")
        ctype = str(c.get("type"))
        if ctype not in _SIMPLE_TYPES and not _DECIMAL.match(ctype):
            raise SchemaError(f"{path.name}: column {cname}: unknown type {ctype!r}")
        allowed = c.get("allowed")
        cols.append(
            Column(
                name=cname,
                type=ctype,
                nullable=bool(c.get("nullable", True)),
                allowed=tuple(str(a) for a in allowed) if allowed else None,
                regex=c.get("regex"),
                min=c.get("min"),
                description=str(c.get("description", "")),
                default=str(c["default"]) if "default" in c else None,
            )
        )
    return TableSchema(name=name, description=str(raw.get("description", "")), columns=tuple(cols))


@functools.cache
def load_all() -> dict[str, TableSchema]:
    tables = {}
    for path in sorted(SCHEMAS_DIR.glob("*.yaml")):
        t = _parse(path)
        tables[t.name] = t
    return tables


def table(name: str) -> TableSchema:
    tables = load_all()
    if name not in tables:
        raise SchemaError(f"unknown canonical table {name!r}; known: {', '.join(sorted(tables))}")
    return tables[name]
