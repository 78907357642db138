"""SQL lives in ``sql/``, one purpose per file, loaded by name.

Values are always bound as parameters. Some files are templates whose ``{placeholders}`` take
identifiers only; ``render`` accepts identifiers that come from the canonical schema (checked by the
caller) and re-checks their shape, so no free text can reach the SQL.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import duckdb
import polars as pl

from pipelines.core.config import SQL_DIR


@functools.cache
def load(name: str) -> str:
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text(encoding="utf-8")


def literal(text: str) -> str:
    """A SQL string literal (for the few places that take no bound value, such as COPY targets)."""
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    """Quote a schema identifier after checking its shape."""
    if not re.match(r"^[a-z_][a-z0-9_]*$", name):
        raise ValueError(f"not a canonical identifier: {name!r}")
    return f'"{name}"'


def render(name: str, **fragments: str) -> str:
    """Fill a template's placeholders with generated SQL fragments built from checked identifiers."""
    return load(name).format(**fragments)


_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def execute(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> None:
    """Run one or several statements, binding to each only the named parameters it references."""
    values = params or {}
    for statement in (s.strip() for s in sql.split(";\n")):
        if not statement or all(line.strip().startswith("--") for line in statement.splitlines() if line.strip()):
            continue
        names = set(_PARAM.findall(statement))
        missing = names - values.keys()
        if missing:
            raise KeyError(f"SQL parameter(s) {sorted(missing)} not bound")
        if names:
            con.execute(statement, {k: values[k] for k in names})
        else:
            con.execute(statement)


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """The rows of one query, binding only the named parameters it references."""
    values = params or {}
    return con.execute(sql, {k: values[k] for k in set(_PARAM.findall(sql))}).fetchall()


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """The result of a query as a Polars frame; enumerations (the run's file ids, channels, tables) come back
    as text."""
    table = con.sql(sql, params=params or {}).to_arrow_table()
    result = pl.from_arrow(table)
    assert isinstance(result, pl.DataFrame)
    return result.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))
