"""A run's metrics reach a StatsD listener as Airflow metrics: ``[metrics] statsd_on`` with the host and port of a
UDP socket this test opens on loopback, the metrics sent through Airflow 3's ``airflow.sdk.observability.stats``
(``pipelines.publish.statsd``), each packet read back in the StatsD wire format ``<prefix>.<name>:<value>|g``;
from the function, from the published outputs, and from the ``emit_metrics`` task of a real run of the nightly DAG
(``dag.test()``)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import PROJECT_ROOT

from pipelines.core import schema
from pipelines.publish import statsd

DAY = dt.date(2026, 11, 26)


def _metrics() -> pl.DataFrame:
    rows = [
        {
            "metric": "payment_success_rate",
            "statistic": "rate",
            "unit": "ratio",
            "group_by": "direction,channel",
            "direction": "payin",
            "channel": "adyen_eu",
            "numerator": 3,
            "denominator": 4,
            "value": Decimal("0.75"),
        },
        {
            "metric": "money_at_risk",
            "statistic": "total",
            "unit": "minor_units",
            "group_by": "currency",
            "currency": "EUR",
            "denominator": 2,
            "amount_minor": 12345,
        },
        {
            "metric": "settlement_latency_booking",
            "statistic": "p95",
            "unit": "minutes",
            "group_by": "direction,channel,currency",
            "direction": "payin",
            "channel": "adyen_eu",
            "currency": "EUR",
            "denominator": 9,
            "value": Decimal(14),
        },
        {  # an empty population has no figure: not sent
            "metric": "withdrawal_return_rate",
            "statistic": "rate",
            "unit": "ratio",
            "group_by": "rail",
            "direction": "withdrawal",
            "rail": "sepa credit",
            "numerator": 0,
            "denominator": 0,
            "value": None,
        },
    ]
    frame = pl.DataFrame(rows, schema_overrides={"value": pl.Decimal(38, 6)}).with_columns(
        pl.lit(DAY).alias("business_date")
    )
    return schema.table("metrics").conform(frame)


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A UDP socket on loopback that Airflow's [metrics] points at, with a fresh metrics backend."""
    from airflow.sdk._shared.observability.metrics import stats as shared

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(sock.getsockname()[1]))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    monkeypatch.setattr(shared, "_factory", None)
    monkeypatch.setattr(shared, "_backend", None)
    try:
        yield sock
    finally:
        sock.close()


def _received(sock: socket.socket, expected: int) -> list[str]:
    """The gauges of the listener (other Airflow metrics, timings of its own, left out)."""
    out: list[str] = []
    while len(out) < expected:
        for line in sock.recv(65535).decode().splitlines():
            if line.startswith("airflow.recon."):
                out.append(line)
    return out


def test_gauge_names_carry_the_group() -> None:
    assert statsd.gauges(_metrics()) == [
        ("recon.payment_success_rate.rate.direction.payin.channel.adyen_eu", 0.75),
        ("recon.money_at_risk.total.currency.EUR", 12345),
        ("recon.settlement_latency_booking.p95.direction.payin.channel.adyen_eu.currency.EUR", 14),
    ]


def test_metrics_reach_a_statsd_listener_on_loopback(listener: socket.socket, tmp_path: pytest.TempPathFactory) -> None:
    assert statsd.emit(_metrics()) == 3
    assert _received(listener, 3) == [
        "airflow.recon.payment_success_rate.rate.direction.payin.channel.adyen_eu:0.75|g",
        "airflow.recon.money_at_risk.total.currency.EUR:12345|g",
        "airflow.recon.settlement_latency_booking.p95.direction.payin.channel.adyen_eu.currency.EUR:14|g",
    ]


def test_published_metrics_of_a_run_are_emitted(listener: socket.socket, tmp_path: object) -> None:
    from pathlib import Path

    outputs = Path(str(tmp_path))
    (outputs / DAY.isoformat()).mkdir()
    _metrics().write_parquet(outputs / DAY.isoformat() / "metrics.parquet")
    assert statsd.emit_published(outputs, DAY) == 3
    assert len(_received(listener, 3)) == 3
    assert statsd.emit_published(outputs, DAY + dt.timedelta(days=1)) == 0  # nothing published: nothing sent


def _gauges(lines: list[str]) -> dict[str, Decimal]:
    """The value each ``airflow.recon.*`` gauge ends with, read as StatsD does: ``name:value|g`` sets it, a signed
    value changes it (the client sends a negative gauge as ``0`` then the signed value)."""
    out: dict[str, Decimal] = {}
    for line in lines:
        if not line.startswith("airflow.recon.") or not line.endswith("|g"):
            continue
        name, _, value = line[: -len("|g")].rpartition(":")
        out[name] = out.get(name, Decimal(0)) + Decimal(value) if value[0] in "+-" else Decimal(value)
    return out


def test_a_dag_run_sends_its_metrics_to_statsd(
    airflow_db: Path, listener: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nightly DAG run by Airflow (``dag.test()``) on the sample day: its ``emit_metrics`` task sends every
    published figure to the UDP listener, named after its group, with the published value."""
    from airflow.dag_processing.dagbag import DagBag

    lines: list[str] = []
    stop = threading.Event()

    def read() -> None:  # Airflow sends metrics of its own too: read while the DAG runs, the buffer stays small
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                lines.extend(listener.recv(65535).decode().splitlines())
            except TimeoutError:
                continue

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    home = tmp_path / "home"
    monkeypatch.setenv("RECON_HOME", str(home))  # the deployment's workspace
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).get_dag("recon_nightly")
    assert dag is not None
    try:
        run = dag.test(
            run_conf={"business_date": DAY.isoformat()},
            logical_date=dt.datetime(2026, 11, 27, 3, 30, tzinfo=dt.UTC),
        )
        assert run.state == "success"
        published = pl.read_parquet(home / "outputs" / DAY.isoformat() / "metrics.parquet")
        expected = {
            f"airflow.{statsd.gauge_name(r)}": Decimal(
                r["amount_minor"] if r["amount_minor"] is not None else r["value"]
            )
            for r in published.iter_rows(named=True)
            if r["amount_minor"] is not None or r["value"] is not None
        }
        deadline = time.monotonic() + 10
        while len(_gauges(lines)) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        reader.join()
    got = _gauges(lines)
    assert len(expected) > 100  # every figure of the day: rates, latencies, money at risk, ...
    assert got == expected
    # by name, as a StatsD dashboard reads them: the withdrawals' execution by the bank (PIX: 4 of 5, one never
    # debited), the return rate of ACH (2 of 5), the money at risk of the day's EUR breaks (minor units)
    assert got["airflow.recon.withdrawal_execution_rate.rate.direction.withdrawal.rail.pix"] == Decimal("0.8")
    assert got["airflow.recon.withdrawal_return_rate.rate.direction.withdrawal.rail.ach"] == Decimal("0.4")
    eur = published.filter(
        pl.col("metric") == "money_at_risk", pl.col("group_by") == "currency", pl.col("currency") == "EUR"
    )
    assert got["airflow.recon.money_at_risk.total.currency.EUR"] == eur["amount_minor"][0] > 0
