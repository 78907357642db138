"""A run's metrics as Airflow metrics: one StatsD gauge per row of ``metrics.parquet``, through Airflow 3's
metrics API (``airflow.sdk.observability.stats``), which sends them wherever ``[metrics]`` says (``statsd_on``,
``statsd_host``, ``statsd_port``, ``statsd_prefix``; nothing when metrics are off).

A gauge is named ``recon.<metric>.<statistic>`` followed by the row's dimensions as ``<name>.<value>`` pairs, e.g.
``recon.payment_success_rate.rate.direction.payin.channel.adyen_eu``: plain StatsD has no tags, so the group is
in the name (characters outside ``[A-Za-z0-9_.-]`` become ``_``). A rate is sent as its decimal value, a latency
or an age in whole minutes or days, money at risk in minor units. A gauge is idempotent: re-emitting a re-run's
figures sets the same values.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import polars as pl

PREFIX = "recon"
DIMENSIONS = ("direction", "channel", "payment_method", "country", "currency", "break_type", "rail")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def gauge_name(row: dict[str, Any]) -> str:
    """The StatsD name of a metrics row (its group in the name: StatsD has no tags)."""
    parts = [PREFIX, row["metric"], row["statistic"]]
    for d in DIMENSIONS:
        if row.get(d) is not None:
            parts += [d, _UNSAFE.sub("_", str(row[d]))]
    return ".".join(parts)[:250]


def gauges(metrics: pl.DataFrame) -> list[tuple[str, int | float]]:
    """(name, value) of every row that has a figure, in the table's order."""
    out: list[tuple[str, int | float]] = []
    for r in metrics.iter_rows(named=True):
        if r.get("amount_minor") is not None:
            out.append((gauge_name(r), int(r["amount_minor"])))
        elif r.get("value") is not None:
            v = r["value"]
            out.append((gauge_name(r), int(v) if v == v.to_integral_value() else float(v)))
    return out


def _stats() -> Any:
    """Airflow's metrics module, its backend set up from ``[metrics]`` when no task runner did it (a run outside a
    worker: ``dag.test()``, the command line)."""
    from airflow.sdk._shared.observability.metrics import stats as shared
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics.stats_utils import get_stats_factory

    if getattr(shared, "_factory", None) is None:
        stats.initialize(
            factory=get_stats_factory(),
            export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=False),
        )
    return stats


def emit(metrics: pl.DataFrame) -> int:
    """Send every figure of ``metrics`` as a gauge; return how many were sent."""
    stats = _stats()
    sent = gauges(metrics)
    for name, value in sent:
        stats.gauge(name, value)
    return len(sent)


def emit_published(outputs: Path, day: dt.date) -> int:
    """Emit the metrics published for ``day`` (``outputs/<date>/metrics.parquet``); 0 when there are none."""
    path = outputs / day.isoformat() / "metrics.parquet"
    if not path.is_file():
        return 0
    return emit(pl.read_parquet(path))


def emit_for_runs(runs: list[dict[str, Any]], home: str | None = None, rules: str | None = None) -> int:
    """Emit the published metrics of the runs the DAG's reconcile task returned (one date, or a cascade)."""
    from pipelines.core import config
    from pipelines.core.dates import parse_business_date
    from pipelines.run import s3home

    settings = config.settings(home, rules)
    s3home.pull(settings.home, ("outputs/",))  # an S3 home: the published runs (those with a marker)
    outputs = settings.outputs
    return sum(emit_published(outputs, parse_business_date(r["business_date"])) for r in runs)
