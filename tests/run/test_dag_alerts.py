"""Alerts of the reconciliation DAGs, delivered to a local SMTP server (aiosmtpd on loopback) through the
Connection ``recon_alerts_smtp`` set by ``AIRFLOW_CONN_RECON_ALERTS_SMTP``: the notifier called with a
context, the incomplete-day mail of a real ``dag.test()`` run missing its expected files, the failure mail
of a task failing at once, the deadline mail of ``recon_deadline`` (and from a triggerer's context), and no
connection at all."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import json
import logging
import shutil
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import PROJECT_ROOT
from helpers import run_nightly

from pipelines.run import stages as pipeline
from pipelines.run.alerts import ReconAlertNotifier

D1, D2 = dt.date(2026, 11, 26), dt.date(2026, 11, 27)  # Thursday (all files), Friday (none came)
TO = ["ops@example.com", "recon@example.com"]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # the aiosmtpd hook
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Inbox]:
    """A local SMTP server on loopback and the Connection ``recon_alerts_smtp`` pointing at it."""
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": {"to": TO, "from": "airflow@example.com"}}
    monkeypatch.setenv("AIRFLOW_CONN_RECON_ALERTS_SMTP", json.dumps(conn))
    try:
        yield inbox
    finally:
        controller.stop()


def _subject(msg: EmailMessage) -> str:
    """The subject, unfolded (a long one arrives folded over two lines)."""
    return " ".join(str(msg["Subject"]).split())


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _workspace(tmp_path: Path) -> tuple[str, str]:
    for name in ("rules", "data_samples"):
        shutil.copytree(PROJECT_ROOT / name, tmp_path / name)
    return str(tmp_path / "var"), str(tmp_path / "rules")


def test_the_notifier_sends_the_failure_mail_of_a_context(smtp: _Inbox) -> None:
    from airflow.sdk import DAG

    context = {
        "dag": DAG("recon_nightly", schedule=None),
        "dag_run": SimpleNamespace(dag_id="recon_nightly", run_id="manual__2026-11-27T03:30:00+00:00", conf={}),
        "run_id": "manual__2026-11-27T03:30:00+00:00",
        "ti": SimpleNamespace(task_id="normalise", map_index=2, dag_id="recon_nightly"),
        "params": {"business_date": "2026-11-26"},
        "exception": RuntimeError("staging disk full"),
    }
    ReconAlertNotifier(kind="failure")(context)
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert _subject(msg) == "[recon] FAILED recon_nightly 2026-11-26: task normalise[2]"
    assert msg["From"] == "airflow@example.com"
    assert smtp.envelopes[0][1] == TO
    body = _body(msg)
    for line in (
        "DAG: recon_nightly",
        "Run: manual__2026-11-27T03:30:00+00:00",
        "Task: normalise[2]",
        "Business date: 2026-11-26",
        "RuntimeError: staging disk full",
    ):
        assert line in body


def test_a_dag_run_missing_expected_files_mails_the_incomplete_day(
    airflow_db: Path, smtp: _Inbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    home, rules = _workspace(tmp_path)
    pipeline.run_all(D1, "nightly", home, rules)
    run = run_nightly(monkeypatch, D2, home, rules)
    assert run.state == "failed"  # day_complete fails an incomplete day, after alerting it
    # one mail for the day: the per-channel delivery checks and day_complete do not send failure mails
    assert [_subject(m) for m in smtp.messages] == [
        f"[recon] INCOMPLETE recon_nightly {D2.isoformat()}: 5 expected file(s) missing"
    ]
    body = _body(smtp.messages[0])
    assert "DAG: recon_nightly" in body and f"Run: {run.run_id}" in body and "Task: day_complete" in body
    assert f"Business date: {D2.isoformat()}" in body
    for channel in ("adyen_eu", "bank_eu", "fx_ecb", "orders", "stripe_eu"):
        assert f"- {channel}: 0 of " in body and f"file(s) for {D2.isoformat()} (due " in body
    assert "- orders: 0 of 1 file(s) for 2026-11-27 (due " in body
    assert "no new row arrived for this run" in body
    summary = json.loads((Path(home) / "outputs" / D2.isoformat() / "summary.json").read_text())
    assert len(summary["completeness"]["missing_files"]) == 5


def test_a_task_failing_at_once_mails_the_failure(
    airflow_db: Path, smtp: _Inbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    home, rules = _workspace(tmp_path)
    (Path(rules) / "channels" / "orders.yaml").write_text("id: orders\nkind: [not, a, channel\n")  # invalid rules
    run = run_nightly(monkeypatch, D1, home, rules)
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances() if ti.map_index == -1}
    assert states["list_channels"] == "failed"
    failures = [m for m in smtp.messages if _subject(m).startswith("[recon] FAILED")]
    assert [_subject(m) for m in failures] == [f"[recon] FAILED recon_nightly {D1.isoformat()}: task list_channels"]
    body = _body(failures[0])
    assert f"Run: {run.run_id}" in body and "Task: list_channels" in body
    assert f"Business date: {D1.isoformat()}" in body
    assert "AirflowFailException" in body and "orders" in body


def test_the_deadline_mail_from_the_triggerers_simple_context(smtp: _Inbox) -> None:
    # what the triggerer does with the callback: await ReconAlertNotifier(**kwargs, context=context)
    context = {
        "dag_run": {"dag_id": "recon_nightly", "dag_run_id": "scheduled__2026-11-27T03:30:00+00:00", "conf": {}},
        "deadline": {"id": "x", "deadline_time": "2026-11-27T07:00:00+00:00"},
    }

    async def triggerer() -> None:
        await ReconAlertNotifier(kind="deadline", context=context)

    asyncio.run(triggerer())
    (msg,) = smtp.messages
    assert _subject(msg) == (
        "[recon] LATE recon_nightly unknown: run scheduled__2026-11-27T03:30:00+00:00 not finished by "
        "2026-11-27T07:00:00+00:00"
    )
    assert "has not finished by its deadline (2026-11-27T07:00:00+00:00)" in _body(msg)


def test_without_a_connection_an_alert_is_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_RECON_ALERTS_SMTP", raising=False)
    with caplog.at_level(logging.WARNING, logger="pipelines.run.alerts"):
        ReconAlertNotifier(kind="failure", business_date="2026-11-26")({"exception": ValueError("x")})
    warnings = [r.getMessage() for r in caplog.records if r.name == "pipelines.run.alerts"]
    assert warnings == ["alert not sent: no SMTP connection 'recon_alerts_smtp' (AirflowNotFoundException)"]


def _deadline_run(monkeypatch: pytest.MonkeyPatch, home: str, when: dt.datetime, conf: dict[str, str] | None) -> Any:
    """``recon_deadline`` through ``dag.test()`` at ``when``, with the deployment's workspace."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("RECON_HOME", home)
    monkeypatch.setenv("RECON_DEADLINE", "08:00 Europe/Amsterdam")
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).get_dag("recon_deadline")
    assert dag is not None
    assert dag.timetable.expression == "0 8 * * *" and str(dag.timetable.timezone) == "Europe/Amsterdam"
    return dag.test(run_conf=conf, logical_date=when)


def test_the_deadline_dag_alerts_when_the_date_has_no_published_run_by_then(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp: _Inbox
) -> None:
    home, rules = _workspace(tmp_path)
    monkeypatch.setenv("RECON_RULES", rules)
    eight = dt.datetime(2026, 11, 27, 7, 0, tzinfo=dt.UTC)  # 08:00 in Amsterdam: the nightly run of D1 is late
    late = _deadline_run(monkeypatch, home, eight, None)
    assert late.state == "failed"
    (msg,) = smtp.messages
    assert _subject(msg) == f"[recon] LATE {D1.isoformat()}: no published run by 08:00 Europe/Amsterdam"
    body = _body(msg)
    assert "DAG: recon_deadline" in body and "Task: published_on_time" in body
    assert f"The business date {D1.isoformat()} has no published run by 08:00 Europe/Amsterdam." in body

    pipeline.run_all(D1, "nightly", home, rules)  # published: the same check passes, no mail
    on_time = _deadline_run(monkeypatch, home, eight + dt.timedelta(minutes=1), {"business_date": D1.isoformat()})
    assert on_time.state == "success"
    assert len(smtp.messages) == 1
