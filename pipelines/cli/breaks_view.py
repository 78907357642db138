"""What ``recon breaks`` lists: the breaks a run published, with the resolutions recorded since (they apply on
the next run, and show at once), filtered, the largest money at risk first, as rows for a table, CSV or JSON."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.breaks.lifecycle import RESOLVING_ACTIONS
from pipelines.catalog import journal
from pipelines.publish import csvsafe

#: the columns ``recon breaks`` adds to the published ones (CSV and JSON)
SHOWN_COLUMNS = ("shown_status", "pending_action", "pending_by")

PENDING_RESOLVED = "resolved (applies on next run)"
PENDING_REOPENED = "reopened (applies on next run)"


@dataclass(frozen=True)
class Filters:
    """What to keep: every given condition must hold (``None``: no condition)."""

    break_type: str | None = None
    status: str | None = None
    channel: str | None = None  # the item's channel or its counterparty
    currency: str | None = None  # the item's currency
    sla: str | None = None  # within | breached
    min_reporting_minor: int | None = None  # money at risk in the reporting currency, at least
    min_age_days: int | None = None


def latest_resolutions(home: Path) -> dict[str, dict[str, Any]]:
    """The latest resolution of each break in the audit log (``journal/resolutions.jsonl``, which every
    resolution reaches before the catalog), by the time it was recorded."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in journal.read(home, journal.RESOLUTIONS):
        before = latest.get(entry["break_id"])
        if before is None or str(entry["recorded_at"]) >= str(before["recorded_at"]):
            latest[entry["break_id"]] = entry
    return latest


def _complete(breaks: pl.DataFrame) -> pl.DataFrame:
    """A run published before breaks carried their counterparty, file names and money at risk: those columns
    empty (the counterparty: the channel)."""
    added = []
    for name, dtype in (
        ("at_risk_minor", pl.Int64),
        ("at_risk_currency", pl.String),
        ("at_risk_reporting_minor", pl.Int64),
        ("file_name", pl.String),
        ("counter_file_name", pl.String),
    ):
        if name not in breaks.columns:
            added.append(pl.lit(None, dtype=dtype).alias(name))
    if "counterparty" not in breaks.columns:
        added.append(pl.col("channel").alias("counterparty"))
    return breaks.with_columns(added) if added else breaks


def with_resolutions(breaks: pl.DataFrame, latest: dict[str, dict[str, Any]]) -> pl.DataFrame:
    """``breaks`` with ``SHOWN_COLUMNS``: a resolution recorded after the run (the latest one of a break is not the
    one the run applied) is pending, and the break shows as it will be: ``resolved (applies on next run)`` (or
    ``reopened ...``)."""
    shown: list[str] = []
    actions: list[str | None] = []
    by: list[str | None] = []
    for r in breaks.select("break_id", "status", "resolution_action", "resolved_by", "resolution_note").iter_rows(
        named=True
    ):
        entry = latest.get(r["break_id"])
        applied = (r["resolution_action"], r["resolved_by"], r["resolution_note"])
        pending = entry is not None and (entry["action"], entry["resolved_by"], entry["note"]) != applied
        if pending and entry is not None:
            actions.append(str(entry["action"]))
            by.append(str(entry["resolved_by"]))
            shown.append(PENDING_RESOLVED if entry["action"] in RESOLVING_ACTIONS else PENDING_REOPENED)
            continue
        actions.append(None)
        by.append(None)
        shown.append(r["status"] + (f" ({r['resolution_action']})" if r["resolution_action"] else ""))
    return breaks.with_columns(
        pl.Series("shown_status", shown, dtype=pl.String),
        pl.Series("pending_action", actions, dtype=pl.String),
        pl.Series("pending_by", by, dtype=pl.String),
    )


def select(breaks: pl.DataFrame, f: Filters) -> pl.DataFrame:
    """The breaks ``f`` keeps, the largest money at risk in the reporting currency first (an unknown one last),
    then the oldest, then by id."""
    out = _complete(breaks)
    conditions: list[pl.Expr] = []
    if f.break_type:
        conditions.append(pl.col("break_type") == f.break_type)
    if f.status:
        conditions.append(pl.col("status") == f.status)
    if f.channel:
        conditions.append((pl.col("channel") == f.channel) | (pl.col("counterparty") == f.channel))
    if f.currency:
        conditions.append(pl.col("currency") == f.currency.upper())
    if f.sla:
        conditions.append(pl.col("sla_status") == f.sla)
    if f.min_reporting_minor is not None:
        conditions.append(pl.col("at_risk_reporting_minor") >= f.min_reporting_minor)
    if f.min_age_days is not None:
        conditions.append(pl.col("age_days") >= f.min_age_days)
    if conditions:
        out = out.filter(pl.all_horizontal(conditions))
    return out.sort(
        ["at_risk_reporting_minor", "age_days", "break_id"], descending=[True, True, False], nulls_last=True
    )


def to_csv(breaks: pl.DataFrame) -> str:
    """The breaks as CSV, text cells neutralised for spreadsheets (``publish.csvsafe``)."""
    return csvsafe.neutralise_frame(breaks).write_csv(date_format="%Y-%m-%d")


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # a rate: exact decimal text, never a float
    return value


def to_json(breaks: pl.DataFrame) -> str:
    """The breaks as a JSON array of objects (dates ISO 8601, rates as decimal text, amounts as integers)."""
    rows = [{k: _json_value(v) for k, v in r.items()} for r in breaks.iter_rows(named=True)]
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
