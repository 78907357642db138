"""Builders of small canonical tables for tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.catalog.store import FileStatus
from pipelines.core import schema
from pipelines.core.channels import Channel
from pipelines.core.config import Settings
from pipelines.validate.staging import staging_path, write_parquet_atomic

DAY = dt.date(2026, 11, 26)
T0 = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)


def order(
    order_id: str,
    amount: int,
    currency: str = "EUR",
    status: str = "succeeded",
    psp_reference: str | None = None,
    psp_channel: str = "adyen_eu",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "amount_minor": amount,
        "currency": currency,
        "status": status,
        "psp_reference": psp_reference,
        "psp_channel": psp_channel,
        "created_at": T0,
        "business_date": DAY,
        "channel": "orders",
        **extra,
    }


def psp(
    psp_reference: str | None,
    gross: int,
    currency: str = "EUR",
    *,
    merchant_reference: str | None = None,
    record_type: str = "payment",
    fee: int = 0,
    net: int | None = None,
    payout_id: str | None = "P1",
    gross_currency: str | None = None,
    channel: str = "adyen_eu",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "psp_reference": psp_reference,
        "merchant_reference": merchant_reference,
        "record_type": record_type,
        "gross_minor": gross,
        "gross_currency": gross_currency or currency,
        "fee_minor": fee,
        "net_minor": gross - fee if net is None else net,
        "currency": currency,
        "payout_id": payout_id,
        "payout_reference": payout_id,  # what the bank credit names: the payout's batch (a batch of one currency)
        "booked_at": T0,
        "business_date": DAY,
        "channel": channel,
        **extra,
    }


def bank(
    end_to_end_id: str | None, amount: int, currency: str = "EUR", direction: str = "credit", **extra: Any
) -> dict[str, Any]:
    return {
        "end_to_end_id": end_to_end_id,
        "amount_minor": amount,
        "currency": currency,
        "direction": direction,
        "account_id": f"NL00BANK{currency}",
        "booking_date": DAY,
        "value_date": DAY,
        "business_date": DAY,
        "channel": "bank_eu",
        **extra,
    }


def stage(settings: Settings, table: str, rows: list[dict[str, Any]], file_id: str) -> FileStatus:
    """Write rows as one staged file (line numbers 2, 3, ...) and return its catalog status."""
    t = schema.table(table)
    rows = [{**r, "file_id": file_id, "line_no": i + 2} for i, r in enumerate(rows)]
    frame = t.conform(
        pl.DataFrame(
            rows,
            schema_overrides={k: v for k, v in t.polars_schema().items() if any(k in r for r in rows)},
            strict=False,
        )
    )
    channel = rows[0]["channel"] if rows else "x"
    for d in sorted(set(frame["business_date"].to_list())):
        write_parquet_atomic(
            frame.filter(pl.col("business_date") == d), staging_path(settings, table, d, channel, file_id)
        )
    return FileStatus(
        file_id=file_id,
        channel=channel,
        format="test",
        canonical_table=table,
        status="staged",
        reason=None,
        rows_in=len(rows),
        rows_staged=len(rows),
        rows_quarantined=0,
        business_dates=[DAY],
        assigned_date=DAY,
    )


def channel_with(raw: dict[str, Any], overrides: dict[str, Any]) -> Channel:
    """A channel from its raw settings, with ``overrides``: a dict value updates that section, others replace."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return Channel.model_validate(raw)


def settings_in(tmp: Path) -> Settings:
    """A workspace ``tmp/home`` with the project's rules; its catalog is the one ``RECON_CATALOG_URL`` names,
    if any (``catalog_backend``), as ``config.settings`` resolves it."""
    from pipelines.core.config import PROJECT_ROOT, catalog_url

    s = Settings(home=tmp / "home", rules=PROJECT_ROOT / "rules", catalog_url=catalog_url())
    s.ensure()
    return s


def local_orders_channel(inbox: Path, **overrides: Any) -> Channel:
    """An orders channel pulling ``*.csv`` from the local folder ``inbox`` (``overrides``: other settings)."""
    return Channel.model_validate(
        {"id": "orders_local", "kind": "orders", "format": "orders_csv", "location": str(inbox), "pattern": "*.csv"}
        | overrides
    )


def run_nightly(monkeypatch: Any, business_date: dt.date, home: Path | str, rules: Path | str | None = None) -> Any:
    """``recon_nightly`` through ``dag.test()`` for ``business_date``, as scheduled the night after (03:30 UTC),
    with the deployment's workspace (and rules, when given) in the environment; returns the DAG run."""
    from airflow.dag_processing.dagbag import DagBag

    from pipelines.core.config import PROJECT_ROOT

    monkeypatch.setenv("RECON_HOME", str(home))
    if rules is not None:
        monkeypatch.setenv("RECON_RULES", str(rules))
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).get_dag("recon_nightly")
    assert dag is not None
    night = dt.datetime.combine(business_date + dt.timedelta(days=1), dt.time(3, 30), tzinfo=dt.UTC)
    return dag.test(run_conf={"business_date": business_date.isoformat()}, logical_date=night)


def stage_sample_day(home: Path, day: dt.date = dt.date(2026, 11, 26)) -> str:
    """A workspace with the sample day ingested, normalised and its statuses recorded (nothing reconciled)."""
    from pipelines.run import stages

    h = str(home)
    pulled = [stages.ingest_channel(c, h) for c in stages.channel_ids(h)]
    stages.register_files(pulled, h)
    stages.record_statuses(stages.normalise_channels(stages.channel_ids(h), day, h), h)
    return h


def hold_duckdb_file(path: Path, seconds: float) -> Any:
    """Another process with the DuckDB file ``path`` open for writing for ``seconds`` (DuckDB then refuses it to
    every other process); returns once it holds it (the ``subprocess.Popen``, to kill or wait for)."""
    import subprocess
    import sys

    code = (
        "import duckdb, sys, time\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "print('held', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "con.close()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc
