"""Alerts of the reconciliation DAGs, through Airflow's notifier interface (``airflow.sdk.BaseNotifier``) and an
SMTP Connection, with ``smtplib`` (no provider needed).

* **Connection** ``recon_alerts_smtp`` (``DEFAULT_CONN_ID``): host, port, login/password (optional); extra
  ``{"to": [...], "from": "...", "starttls": true}``; conn type ``smtps`` (or extra ``"ssl": true``) for
  SMTP over TLS. ``AIRFLOW_CONN_RECON_ALERTS_SMTP=smtp://127.0.0.1:2525?to=ops%40example.com`` works too.
* **Recipients**: the Connection's extra ``to`` (a list or comma-separated text), else the Variable
  ``recon_alert_to`` (a JSON list or comma-separated text).
* **Kinds**: ``failure`` (a task's ``on_failure_callback``: the exception text), ``incomplete`` (the day's
  expected files missing, from the ``completeness`` section of the run's ``summary.json``), ``deadline``
  (no published run of the date by the deadline: from ``recon_deadline``; as a ``DeadlineAlert`` callback
  the triggerer awaits it too).
* **No Connection** (or no recipient): one warning line, nothing sent; the task or run is not affected.

Imported while DAG files are parsed: only the standard library and ``airflow.sdk`` at module level.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
from email.message import EmailMessage
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "recon_alerts_smtp"
TO_VARIABLE = "recon_alert_to"
DEFAULT_SENDER = "recon-alerts@localhost"
KINDS = ("failure", "incomplete", "deadline")


def _get(obj: Any, *names: str) -> Any:
    """The first of ``names`` set on ``obj`` (an object or, in a deadline's simple context, a dict)."""
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value not in (None, ""):
            return value
    return None


def _addresses(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return _addresses(json.loads(text))
        return [a.strip() for a in text.split(",") if a.strip()]
    return [str(a).strip() for a in value if str(a).strip()]


def _recipients_variable() -> list[str]:
    from airflow.sdk import Variable

    try:
        return _addresses(Variable.get(TO_VARIABLE, default=None))
    except Exception:  # no reachable Variable store
        log.debug("Variable %s not readable", TO_VARIABLE, exc_info=True)
        return []


def incomplete_day(business_date: str, home: str | None = None) -> dict[str, Any]:
    """The ``completeness`` section of the published run of ``business_date`` (``summary.json``):
    ``complete``, ``reasons`` and ``missing_files`` (channel, expected date, expected/arrived files, due)."""
    from pipelines.core import config
    from pipelines.run import s3home

    settings = config.settings(home, None)
    s3home.pull(settings.home, ("outputs/",))  # an S3 home: the published runs (those with a marker)
    summary_path = settings.outputs / business_date / "summary.json"
    summary = json.loads(summary_path.read_text())
    state = dict(summary.get("completeness") or {})
    state.setdefault("complete", True)
    state.setdefault("reasons", [])
    state.setdefault("missing_files", [])
    return state


class ReconAlertNotifier(BaseNotifier):
    """An e-mail about a reconciliation run: a failed task, an incomplete day or a missed deadline.

    ``business_date``: given by the task that knows it, else the run's ``business_date`` param, else what
    ``resolve_business_date`` returned. ``completeness``: for ``incomplete``, the run's completeness section
    (``incomplete_day``)."""

    template_fields = ()

    def __init__(
        self,
        kind: str = "failure",
        conn_id: str = DEFAULT_CONN_ID,
        business_date: str | None = None,
        completeness: dict[str, Any] | None = None,
        context: Any = None,
        deadline: str | None = None,
    ) -> None:
        super().__init__(context)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.kind = kind
        self.conn_id = conn_id
        self.business_date = business_date
        self.completeness = completeness or {}
        self.deadline = deadline  # for ``deadline`` from a task (``recon_deadline``): the local time missed

    # --- what the message says ------------------------------------------------------------------------

    def _business_date(self, context: Any, ti: Any) -> str:
        if self.business_date:
            return self.business_date
        dag_run = context.get("dag_run")
        params = context.get("params") or (_get(dag_run, "conf") if dag_run is not None else None) or {}
        if params.get("business_date"):
            return str(params["business_date"])
        if ti is not None and hasattr(ti, "xcom_pull"):
            try:
                day = ti.xcom_pull(task_ids="resolve_business_date")
            except Exception:  # no XCom reachable (e.g. the failing task is the one that resolves it)
                log.debug("business date not readable from XCom", exc_info=True)
                day = None
            if day:
                return str(day)
        return "unknown"

    def compose(self, context: Any) -> tuple[str, str]:
        """The subject and body of the alert for ``context`` (a task's context, or a deadline's)."""
        dag_run = context.get("dag_run")
        ti = context.get("ti") or context.get("task_instance")
        dag = context.get("dag")
        dag_id = _get(dag, "dag_id") or (_get(dag_run, "dag_id") if dag_run is not None else None) or _get(ti, "dag_id")
        run_id = context.get("run_id") or (_get(dag_run, "run_id", "dag_run_id") if dag_run is not None else None)
        task_id = _get(ti, "task_id") if ti is not None else None
        map_index = _get(ti, "map_index") if ti is not None else None
        task = f"{task_id}[{map_index}]" if task_id and map_index not in (None, -1) else (task_id or "-")
        day = self._business_date(context, ti)

        lines = [f"DAG: {dag_id}", f"Run: {run_id}", f"Task: {task}", f"Business date: {day}"]
        if self.kind == "failure":
            exc = context.get("exception")
            error = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc or "unknown")
            subject = f"[recon] FAILED {dag_id} {day}: task {task}"
            lines += ["", "The task failed:", error]
        elif self.kind == "incomplete":
            missing = list(self.completeness.get("missing_files") or [])
            reasons = list(self.completeness.get("reasons") or [])
            subject = f"[recon] INCOMPLETE {dag_id} {day}: {len(missing)} expected file(s) missing"
            lines += ["", "The day is incomplete (not all clear)."]
            if missing:
                lines.append("Missing expected files:")
                lines += [
                    f"- {m['channel']}: {m['arrived_files']} of {m['expected_files']} file(s) for "
                    f"{m['expected_date']} (due {m['due']})"
                    for m in missing
                ]
            if reasons:
                lines.append("Reasons:")
                lines += [f"- {r}" for r in reasons]
        else:
            deadline = context.get("deadline") or {}
            when = self.deadline or _get(deadline, "deadline_time") or "its deadline"
            if self.deadline:  # from recon_deadline's check: no published run of the date by then
                subject = f"[recon] LATE {day}: no published run by {when}"
                lines += ["", f"The business date {day} has no published run by {when}."]
            else:
                subject = f"[recon] LATE {dag_id} {day}: run {run_id} not finished by {when}"
                lines += ["", f"The run has not finished by its deadline ({when})."]
        return subject, "\n".join(lines) + "\n"

    # --- sending --------------------------------------------------------------------------------------

    def _connection(self) -> Any:
        from airflow.sdk import Connection

        try:
            return Connection.get(self.conn_id)
        except Exception as exc:  # not defined, or no Connection store reachable
            log.warning("alert not sent: no SMTP connection %r (%s)", self.conn_id, type(exc).__name__)
            return None

    def notify(self, context: Any) -> None:
        subject, body = self.compose(context)
        conn = self._connection()
        if conn is None:
            return
        extra = conn.extra_dejson or {}
        to = _addresses(extra.get("to")) or _recipients_variable()
        if not to:
            log.warning("alert not sent: no recipients (extra 'to' of %r or Variable %s)", self.conn_id, TO_VARIABLE)
            return
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = str(extra.get("from") or (conn.login if conn.login and "@" in conn.login else DEFAULT_SENDER))
        msg["To"] = ", ".join(to)
        msg.set_content(body)
        host = conn.host or "localhost"
        ssl = conn.conn_type == "smtps" or bool(extra.get("ssl"))
        port = int(conn.port or (465 if ssl else 25))
        timeout = float(extra.get("timeout", 30))
        smtp: smtplib.SMTP = (
            smtplib.SMTP_SSL(host, port, timeout=timeout) if ssl else smtplib.SMTP(host, port, timeout=timeout)
        )
        with smtp:
            if not ssl and extra.get("starttls"):
                smtp.starttls()
            if conn.login and conn.password:
                smtp.login(conn.login, conn.password)
            smtp.send_message(msg)
        log.info("alert sent to %s: %s", ", ".join(to), subject)

    async def async_notify(self, context: Any) -> None:
        """For the triggerer (deadline alerts): the same e-mail, sent off the event loop."""
        await asyncio.to_thread(self.notify, context)
