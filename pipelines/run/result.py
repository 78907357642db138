"""What a reconciled business date is (``RunResult``), and the clock that times a run's steps."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.core import schema

log = logging.getLogger(__name__)


class StepClock:
    """Wall and CPU seconds of the consecutive steps of a run, each also logged. CPU seconds are those of every
    thread of the process during the step (DuckDB's threads, and the background writer of the matches CSV
    while it runs). The wall clock is read only here: it never reaches an output."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.steps[name] = {"wall_s": round(wall - self._wall, 3), "cpu_s": round(cpu - self._cpu, 3)}
        log.info("%s: %.2f s (%.2f CPU s)", name, wall - self._wall, cpu - self._cpu)
        self._wall, self._cpu = wall, cpu


@dataclass
class RunResult:
    """A reconciled business date. The large tables (matches, outcomes) were streamed by DuckDB into
    ``folder`` (not yet visible to readers: ``publish`` switches to it); the small ones are frames."""

    business_date: dt.date
    run_id: str
    mode: str
    rules_version: str
    folder: Path
    breaks: pl.DataFrame
    positions: pl.DataFrame
    manifest: pl.DataFrame
    quarantine: pl.DataFrame
    closed_breaks: pl.DataFrame
    order_feedback: pl.DataFrame
    fund_verification: pl.DataFrame
    net_by_currency: pl.DataFrame
    open_items: pl.DataFrame
    receipts: pl.DataFrame
    intake: pl.DataFrame  # the units the run took in (run.intake), with their lateness
    completeness: dict[str, Any]  # run.completeness.state: complete, or why not
    metrics: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=schema.table("metrics").polars_schema()))
    # run.metrics: this run's figures, and the headline figures of the last runs (the report's trend)
    metric_trend: pl.DataFrame = field(default_factory=pl.DataFrame)
    summary: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, float]] = field(default_factory=dict)  # StepClock's, not part of any output

    @property
    def matches(self) -> pl.DataFrame:
        return pl.read_parquet(self.folder / "matches.parquet")

    @property
    def outcomes(self) -> pl.DataFrame:
        return pl.read_parquet(self.folder / "outcomes.parquet")
