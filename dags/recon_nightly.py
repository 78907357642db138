"""
### Nightly reconciliation (`recon_nightly`)

Reconciles one business date end to end: pulls every channel's new files (PSP reports, bank statements,
orders extract, FX rates) into the landing area, parses and validates them into staging Parquet, matches
orders against PSP lines and PSP payouts against bank credits with the rules in `rules/matching`, and
publishes breaks, matches, net positions, `summary.json` and `report.html` to `outputs/<business_date>/`.

* **Reads**: the channels declared in `rules/channels` (folder `RECON_RULES`), the catalog and staging in
  the workspace (`RECON_HOME`).
* **Writes**: landing, staging, quarantine and outputs in the workspace; the catalog (one task at a time).
* **Params**: `business_date` (YYYY-MM-DD; default: the day before the run), `mode` (nightly, rerun).
* **Re-runs are safe**: files are content-addressed (the same bytes are a recorded no-op), staging is
  written per file and partition, and the outputs of the date are replaced atomically, never appended.
  Trigger with `{"business_date": "2026-11-26", "mode": "rerun"}` to recompute any date.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task


def _params() -> dict[str, Any]:
    return dict(get_current_context()["params"])


@dag(
    dag_id="recon_nightly",
    schedule="30 3 * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["reconciliation", "clearing"],
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1), "retry_exponential_backoff": True},
    params={
        "business_date": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: the day before"),
        "mode": Param("nightly", type="string", enum=["nightly", "intraday", "rerun"]),
        "home": Param(None, type=["null", "string"], description="workspace folder (default: RECON_HOME)"),
        "rules": Param(None, type=["null", "string"], description="rules folder (default: RECON_RULES)"),
    },
)
def recon_nightly() -> None:
    @task
    def resolve_business_date() -> str:
        params = _params()
        if params.get("business_date"):
            return str(dt.date.fromisoformat(str(params["business_date"])))
        run_after = get_current_context()["dag_run"].run_after
        return (run_after.date() - dt.timedelta(days=1)).isoformat()

    @task
    def list_channels() -> list[str]:
        from pipelines.pipeline import channel_ids

        p = _params()
        return channel_ids(p.get("home"), p.get("rules"))

    @task(map_index_template="{{ task.op_kwargs['channel_id'] }}")
    def ingest(channel_id: str) -> dict[str, Any]:
        from pipelines.pipeline import ingest_channel

        p = _params()
        return ingest_channel(channel_id, p.get("home"), p.get("rules"))

    @task
    def register(results: list[dict[str, Any]]) -> dict[str, int]:
        from pipelines.pipeline import register_files

        p = _params()
        return register_files(list(results), p.get("home"), p.get("rules"))

    @task(map_index_template="{{ task.op_kwargs['channel_id'] }}")
    def normalise(channel_id: str, business_date: str) -> list[dict[str, Any]]:
        from pipelines.pipeline import normalise_channel

        p = _params()
        return normalise_channel(channel_id, business_date, p.get("home"), p.get("rules"))

    @task
    def record(results: list[list[dict[str, Any]]]) -> int:
        from pipelines.pipeline import record_statuses

        p = _params()
        return record_statuses(list(results), p.get("home"), p.get("rules"))

    @task(retries=0)
    def reconcile(business_date: str) -> dict[str, Any]:
        from pipelines.pipeline import reconcile_and_publish

        p = _params()
        return reconcile_and_publish(business_date, str(p.get("mode") or "nightly"), p.get("home"), p.get("rules"))

    business_date = resolve_business_date()
    channels = list_channels()
    registered = register(ingest.expand(channel_id=channels))  # type: ignore[arg-type]
    normalised = normalise.partial(business_date=business_date).expand(channel_id=channels)
    registered >> normalised
    recorded = record(normalised)  # type: ignore[arg-type]
    published = reconcile(business_date)  # type: ignore[arg-type]
    recorded >> published


recon_nightly()
