"""Builds the reconciliation DAGs: one shape, several schedules (nightly, intraday).

Only ``airflow.sdk`` is imported here; every task body imports the stage it calls, so parsing a DAG file
does no I/O and loads no heavy library. DAG files call ``build`` and nothing else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, Param, dag, get_current_context, task


def _params() -> dict[str, Any]:
    return dict(get_current_context()["params"])


def build(dag_id: str, schedule: str, mode: str, doc_md: str | None, day_offset: int) -> DAG:
    """A reconciliation DAG. ``day_offset``: business date = the run's date minus this many days when no
    ``business_date`` param is given (1 for the nightly run of yesterday, 0 for intraday runs of today)."""

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=["reconciliation", "clearing", mode],
        default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1), "retry_exponential_backoff": True},
        params={
            "business_date": Param(None, type=["null", "string"], description="YYYY-MM-DD; default from the run"),
            "mode": Param(mode, type="string", enum=["nightly", "intraday", "rerun"]),
            "cascade": Param(False, type="boolean", description="re-run every later date already run"),
            "home": Param(None, type=["null", "string"], description="workspace folder (default: RECON_HOME)"),
            "rules": Param(None, type=["null", "string"], description="rules folder (default: RECON_RULES)"),
        },
    )
    def reconciliation() -> None:
        @task
        def resolve_business_date() -> str:
            """The run's business date, as ISO 8601 text between tasks (each task parses it once)."""
            from pipelines.core.dates import parse_business_date

            params = _params()
            if params.get("business_date"):
                return parse_business_date(str(params["business_date"])).isoformat()
            run_after = get_current_context()["dag_run"].run_after
            return (run_after.date() - dt.timedelta(days=day_offset)).isoformat()

        @task
        def list_channels() -> list[str]:
            from pipelines.run.stages import channel_ids

            p = _params()
            return channel_ids(p.get("home"), p.get("rules"))

        @task(map_index_template="{{ task.op_kwargs['channel_id'] }}")
        def ingest(channel_id: str) -> dict[str, Any]:
            from pipelines.run.stages import ingest_channel

            p = _params()
            return ingest_channel(channel_id, p.get("home"), p.get("rules"))

        @task
        def register(results: list[dict[str, Any]]) -> dict[str, int]:
            from pipelines.run.stages import register_files

            p = _params()
            return register_files(list(results), p.get("home"), p.get("rules"))

        @task(map_index_template="{{ task.op_kwargs['channel_id'] }}")
        def normalise(channel_id: str, business_date: str) -> list[dict[str, Any]]:
            from pipelines.core.dates import parse_business_date
            from pipelines.run.stages import normalise_channel

            p = _params()
            return normalise_channel(channel_id, parse_business_date(business_date), p.get("home"), p.get("rules"))

        @task
        def record(results: list[list[dict[str, Any]]]) -> int:
            from pipelines.run.stages import record_statuses

            p = _params()
            return record_statuses(list(results), p.get("home"), p.get("rules"))

        @task(retries=1)
        def reconcile(business_date: str) -> list[dict[str, Any]]:
            """Safe to retry: a crashed attempt left the old state or the committed new one (whose publication
            the retry completes); a damaged workspace fails at once with the command that repairs it."""
            from airflow.sdk.exceptions import AirflowFailException

            from pipelines.core.dates import parse_business_date
            from pipelines.run.integrity import IntegrityError
            from pipelines.run.stages import reconcile_and_publish, rerun_from

            p = _params()
            day = parse_business_date(business_date)
            try:
                if p.get("cascade"):
                    return rerun_from(day, p.get("home"), p.get("rules"))
                return [reconcile_and_publish(day, str(p.get("mode") or mode), p.get("home"), p.get("rules"))]
            except IntegrityError as exc:
                raise AirflowFailException(str(exc)) from exc

        @task(retries=1)
        def emit_metrics(runs: list[dict[str, Any]]) -> int:
            """The published metrics of the run(s) as Airflow metrics (StatsD gauges, per ``[metrics]``)."""
            from pipelines.publish.statsd import emit_for_runs

            p = _params()
            return emit_for_runs(list(runs), p.get("home"), p.get("rules"))

        @task(map_index_template="{{ task.op_kwargs['channel_id'] }}", retries=0)
        def deliveries(channel_id: str, business_date: str) -> None:
            """Fails when the channel's expected files for the date (or an earlier one) are missing."""
            from airflow.sdk.exceptions import AirflowFailException

            from pipelines.core.dates import parse_business_date
            from pipelines.run.stages import completeness_of

            missing = completeness_of(parse_business_date(business_date), channel_id, _params().get("home"))
            if missing:
                raise AirflowFailException("expected files missing: " + "; ".join(missing))

        @task(retries=0, trigger_rule="all_done")
        def day_complete(business_date: str) -> None:
            """Fails when the day is incomplete (files missing, or no row at all): never "all clear"."""
            from airflow.sdk.exceptions import AirflowFailException

            from pipelines.core.dates import parse_business_date
            from pipelines.run.stages import completeness_of

            reasons = completeness_of(parse_business_date(business_date), None, _params().get("home"))
            if reasons:
                raise AirflowFailException("incomplete day: " + "; ".join(reasons))

        business_date = resolve_business_date()
        channels = list_channels()
        registered = register(ingest.expand(channel_id=channels))  # type: ignore[arg-type]
        normalised = normalise.partial(business_date=business_date).expand(channel_id=channels)
        registered >> normalised
        recorded = record(normalised)  # type: ignore[arg-type]
        published = reconcile(business_date)  # type: ignore[arg-type]
        recorded >> published
        emit_metrics(published)  # type: ignore[arg-type]
        checked = deliveries.partial(business_date=business_date).expand(channel_id=channels)
        published >> checked
        checked >> day_complete(business_date)  # type: ignore[arg-type]

    return reconciliation()
