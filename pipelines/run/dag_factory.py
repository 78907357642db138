"""Builds the reconciliation DAGs: one shape, several schedules (nightly, intraday), and ``recon_export``
downstream of their published outputs.

Only ``airflow.sdk`` is imported here; every task body imports the stage it calls, so parsing a DAG file
does no I/O and loads no heavy library. DAG files call ``build`` (or ``build_export``) and nothing else.

Operations:

* **Deployment, not trigger form**: the workspace and rules come from the Airflow Variables ``recon_home`` /
  ``recon_rules`` when set, else from RECON_HOME / RECON_RULES (``pipelines.run.task_support.deployment``).
* **Failures**: a permanent error (bad business date, invalid rules, unknown channels, an integrity refusal,
  a broken run invariant, a misconfigured transport) fails the task at once with ``AirflowFailException``;
  anything else is retried with exponential backoff (``DEFAULT_ARGS``).
* **Timeouts** (``execution_timeout``): resolve date and list channels 5 min; ingest 30 min per channel;
  register and record statuses 15 min; normalise 60 min per channel; match, lifecycle, clearing 1 h each;
  publish 2 h (a cascade re-runs several dates); emit metrics and the completeness checks 10 min; export 15 min.
* **Steps**: a date's reconciliation is the tasks ``match``, ``lifecycle``, ``clearing``, ``publish``
  (``stages.reconcile_step``): each resumes from the checkpoint its predecessor left (``pipelines.run.checkpoint``)
  when the run's inputs are unchanged, so a retried step redoes only itself.
* **Partitioned matching**: before ``match``, the first pairing (pay-in orders against PSP lines, partitioned by
  channel in its rules) is matched one partition per mapped ``match_partition`` task (one per PSP channel and
  ``other``): readers outside the pool, side by side on any worker; ``match`` joins their results when each is
  of the inputs it finds, else matches that pairing itself (the same result, one process).
* **One run of a workspace at a time**: the writing tasks (register, normalise, record and the four steps) take a
  slot of the one-slot pool ``recon_workspace`` (created by ``make airflow-db``), across every DAG; the workspace
  lock (``pipelines.run.lock``) guards the same catalog outside Airflow. ``normalise`` is a writer too: it
  replaces the staging of the files not recorded yet, and another DAG's run of the same workspace (nightly and
  intraday) normalises the same new files, so outside the pool it removed a file's staging while the other
  run's reconciliation checked it (an integrity refusal, seen with a real scheduler); in the pool the channels
  of a run are normalised one after the other, as ``recon run`` does by default. A pool that does not exist
  does not block ``dag.test()`` (it runs tasks without the scheduler's pool check).
* **Assets**: ``publish`` declares ``RECON_OUTPUTS`` as its outlet, so each published run emits an asset
  event (extra: business date, run id, output folder); ``recon_export`` is scheduled on it.
* **Alerts** (``pipelines.run.alerts.ReconAlertNotifier``, e-mail through the SMTP Connection
  ``recon_alerts_smtp``): every task's ``on_failure_callback`` (except the completeness checks), one
  ``incomplete`` mail from ``day_complete`` listing the missing expected files, and the ``deadline`` mail from
  ``recon_deadline`` (``build_deadline``) when the business date has no published run by the local time
  ``RECON_DEADLINE`` (default 08:00 Europe/Amsterdam). Not Airflow's ``DeadlineAlert``: with Airflow 3.3.2 a
  DAG declaring one makes a *successful* ``dag.test()`` run crash when its deadlines are pruned (SQLAlchemy
  ``'dict' object has no attribute 'hex'``); a DAG of its own at the deadline also sees a run that never
  started. No Connection: one warning line.
* **Logs**: Great Expectations is set to WARNING before it is imported; each task logs one line
  ``figures <task>: ...`` (files, rows, breaks, money at risk).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, Asset, Param, dag, get_current_context, task

POOL = "recon_workspace"
RECON_OUTPUTS = Asset(name="recon_outputs", uri="recon://outputs", group="reconciliation")
DEFAULT_ARGS: dict[str, Any] = {
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
    "execution_timeout": dt.timedelta(minutes=30),
}
DEADLINE_ENV = "RECON_DEADLINE"
DEFAULT_DEADLINE = "08:00 Europe/Amsterdam"  # recon_deadline: when the nightly run must have published
SHORT = dt.timedelta(minutes=5)
CHECK = dt.timedelta(minutes=10)
WRITE = dt.timedelta(minutes=15)
RECONCILE = dt.timedelta(hours=1)


def _params() -> dict[str, Any]:
    return dict(get_current_context()["params"])


def _prepare() -> tuple[str | None, str | None]:
    """First thing in a task body: the validation library quietened, the deployment's home and rules."""
    from pipelines.run.task_support import deployment, quiet_validation_logs

    quiet_validation_logs()
    return deployment()


def build(
    dag_id: str,
    schedule: str,
    mode: str,
    doc_md: str | None,
    day_offset: int,
) -> DAG:
    """A reconciliation DAG. ``day_offset``: business date = the run's date minus this many days when no
    ``business_date`` param is given (1 for the nightly run of yesterday, 0 for intraday runs of today)."""
    from pipelines.run.alerts import ReconAlertNotifier

    default_args = {**DEFAULT_ARGS, "on_failure_callback": ReconAlertNotifier(kind="failure")}

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=["reconciliation", "clearing", mode],
        default_args=default_args,
        params={
            "business_date": Param(
                None,
                type=["null", "string"],
                format="date",
                title="Business date",
                description="The processing date to reconcile; empty: derived from the run's date",
            ),
            "channels": Param(
                [],
                type="array",
                items={"type": "string"},
                uniqueItems=True,
                title="Channels",
                description="Channel ids to ingest and normalise; empty: all (unknown ids fail the run)",
            ),
            "renormalise_quarantined": Param(
                False,
                type="boolean",
                title="Re-normalise quarantined files",
                description="Also re-normalise files quarantined earlier (e.g. after their channel was fixed)",
            ),
            "mode": Param(mode, type="string", enum=["nightly", "intraday", "rerun"]),
            "cascade": Param(False, type="boolean", description="re-run every later date already run"),
        },
    )
    def reconciliation() -> None:
        @task(execution_timeout=SHORT)
        def resolve_business_date() -> str:
            """The run's business date, as ISO 8601 text between tasks (each task parses it once)."""
            from pipelines.core.dates import parse_business_date
            from pipelines.run.task_support import failing_at_once, figures

            _prepare()
            params = _params()
            if params.get("business_date"):
                with failing_at_once(ValueError):
                    day = parse_business_date(str(params["business_date"])).isoformat()
            else:
                run_after = get_current_context()["dag_run"].run_after
                day = (run_after.date() - dt.timedelta(days=day_offset)).isoformat()
            figures("resolve_business_date", date=day, mode=params.get("mode") or mode)
            return day

        @task(execution_timeout=SHORT)
        def list_channels() -> list[str]:
            from pipelines.run.stages import channel_ids
            from pipelines.run.task_support import failing_at_once, figures, select_channels

            home, rules = _prepare()
            with failing_at_once():
                known = channel_ids(home, rules)
                chosen = select_channels(list(_params().get("channels") or []), known)
            figures("list_channels", channels=len(chosen), known=len(known))
            return chosen

        @task(map_index_template="{{ task.op_kwargs['channel_id'] }}", execution_timeout=dt.timedelta(minutes=30))
        def ingest(channel_id: str) -> dict[str, Any]:
            from pipelines.run.stages import ingest_channel
            from pipelines.run.task_support import failing_at_once, figures

            home, rules = _prepare()
            with failing_at_once():
                pulled = ingest_channel(channel_id, home, rules)
            figures(
                "ingest",
                channel=channel_id,
                files=len(pulled["records"]),
                bytes=sum(int(r.get("size_bytes") or 0) for r in pulled["records"]),
                skipped=len(pulled["skipped"]),
            )
            return pulled

        @task(pool=POOL, execution_timeout=WRITE)
        def register(results: list[dict[str, Any]]) -> dict[str, int]:
            from pipelines.run.stages import register_files
            from pipelines.run.task_support import failing_at_once, figures

            home, rules = _prepare()
            with failing_at_once():
                counts = register_files(list(results), home, rules)
            figures("register", **counts)
            return counts

        @task(
            pool=POOL,
            map_index_template="{{ task.op_kwargs['channel_id'] }}",
            execution_timeout=dt.timedelta(minutes=60),
        )
        def normalise(channel_id: str, business_date: str) -> list[dict[str, Any]]:
            home, rules = _prepare()  # before the validation library is imported
            from pipelines.core.dates import parse_business_date
            from pipelines.run.stages import normalise_channel
            from pipelines.run.task_support import failing_at_once, figures, statuses_figures

            again = bool(_params().get("renormalise_quarantined"))
            with failing_at_once():
                statuses = normalise_channel(
                    channel_id, parse_business_date(business_date), home, rules, quarantined=again
                )
            figures("normalise", channel=channel_id, **statuses_figures(statuses))
            return statuses

        @task(pool=POOL, execution_timeout=WRITE)
        def record(results: list[list[dict[str, Any]]]) -> int:
            from pipelines.run.stages import record_statuses
            from pipelines.run.task_support import failing_at_once, figures, statuses_figures

            home, rules = _prepare()
            statuses = [s for res in results for s in res]
            with failing_at_once():
                n = record_statuses([statuses], home, rules)
            figures("record", **statuses_figures(statuses))
            return n

        def step(name: str, business_date: str) -> dict[str, Any]:
            """One step of the run of ``business_date`` (``stages.reconcile_step``): resumes from the checkpoint
            of the step before when the inputs are unchanged, so a retry redoes only its own step."""
            home, rules = _prepare()
            from pipelines.core.dates import parse_business_date
            from pipelines.run.stages import reconcile_step
            from pipelines.run.task_support import failing_at_once, figures

            day = parse_business_date(business_date)
            with failing_at_once():
                done = reconcile_step(name, day, str(_params().get("mode") or mode), home, rules)
            figures(name, **{"date": business_date, "ran": "+".join(done["ran"]) or "none", **done["figures"]})
            get_current_context()["ti"].xcom_push(key="figures", value=done["figures"])  # shown in the UI's XCom tab
            return done

        @task(execution_timeout=SHORT)
        def list_partitions() -> list[str]:
            """The partitions of the first pairing (one per PSP channel, and ``other``; none when its rules
            declare no partition)."""
            from pipelines.run.stages import match_partitions
            from pipelines.run.task_support import failing_at_once, figures

            home, rules = _prepare()
            with failing_at_once():
                names = match_partitions(home, rules)
            figures("list_partitions", partitions=len(names))
            return names

        @task(map_index_template="{{ task.op_kwargs['partition'] }}", retries=0, execution_timeout=RECONCILE)
        def match_partition(partition: str, business_date: str) -> dict[str, Any]:
            """Match one partition of the first pairing (a reader: outside the pool, the partitions of a date run
            side by side on any worker). Never fails the run: a partition not matched here (its error is
            logged) is matched by ``match``, which joins only results of the inputs it finds."""
            from pipelines.core.dates import parse_business_date
            from pipelines.run.stages import match_partition as run_partition
            from pipelines.run.task_support import figures

            home, rules = _prepare()
            day = parse_business_date(business_date)
            try:
                done = run_partition(partition, day, str(_params().get("mode") or mode), home, rules)
            except Exception as exc:  # an accelerator only: match decides
                why = f"{type(exc).__name__}: {exc}"
                logging.getLogger(__name__).warning("partition %s of %s not matched here (%s)", partition, day, why)
                figures("match_partition", partition=partition, date=business_date, ran="failed")
                return {"partition": partition, "ran": False, "error": why}
            figures("match_partition", partition=partition, date=business_date, ran=done["ran"], **done["figures"])
            return done

        @task(pool=POOL, execution_timeout=RECONCILE)
        def match(business_date: str) -> str:
            """Load the staged units and the carried items, run the matching rules (checkpoint ``match``),
            joining the first pairing's partitions when each was matched from the same inputs."""
            step("match", business_date)
            return business_date

        @task(pool=POOL, execution_timeout=RECONCILE)
        def lifecycle(business_date: str) -> str:
            """Items, break lifecycle, the day's breaks and outcomes, matches and outcomes written into the
            unpublished run folder (checkpoint ``lifecycle``)."""
            step("lifecycle", business_date)
            return business_date

        @task(pool=POOL, execution_timeout=RECONCILE)
        def clearing(business_date: str) -> str:
            """Positions and fund verification, metrics, invariants and summary (checkpoint ``clearing``): a
            broken invariant fails here, before anything is published."""
            step("clearing", business_date)
            return business_date

        @task(pool=POOL, retries=1, outlets=[RECON_OUTPUTS], execution_timeout=dt.timedelta(hours=2))
        def publish(business_date: str) -> list[dict[str, Any]]:
            """Write the outputs, commit the run, switch ``outputs/<date>``; with ``cascade``, then re-run every
            later date already run. Safe to retry: a crashed attempt left the old state or the committed new
            one (whose publication the retry completes); a damaged workspace fails at once with the command
            that repairs it. Emits an asset event on ``RECON_OUTPUTS`` for the published outputs."""
            home, rules = _prepare()
            from pipelines.core.dates import parse_business_date
            from pipelines.run.stages import rerun_after
            from pipelines.run.task_support import failing_at_once, figures, run_figures

            p = _params()
            day = parse_business_date(business_date)
            runs = [step("publish", business_date)]
            if p.get("cascade"):
                with failing_at_once():
                    runs += rerun_after(day, home, rules)
            last = runs[-1]
            get_current_context()["outlet_events"][RECON_OUTPUTS].extra = {
                "business_date": last["business_date"],
                "run_id": last["run_id"],
                "output": last["output"],
                "dates": [r["business_date"] for r in runs],
            }
            for run in runs[1:]:
                figures("publish", **run_figures(run["output"]))
            return runs

        @task(retries=1, execution_timeout=CHECK)
        def emit_metrics(runs: list[dict[str, Any]]) -> int:
            """The published metrics of the run(s) as Airflow metrics (StatsD gauges, per ``[metrics]``)."""
            from pipelines.publish.statsd import emit_for_runs
            from pipelines.run.task_support import figures

            home, rules = _prepare()
            n = emit_for_runs(list(runs), home, rules)
            figures("emit_metrics", runs=len(runs), metrics=n)
            return n

        # the completeness checks alert once, from day_complete (the "incomplete" mail), not as task failures
        @task(
            map_index_template="{{ task.op_kwargs['channel_id'] }}",
            retries=0,
            execution_timeout=CHECK,
            on_failure_callback=[],
        )
        def deliveries(channel_id: str, business_date: str) -> None:
            """Fails when the channel's expected files for the date (or an earlier one) are missing."""
            from airflow.sdk.exceptions import AirflowFailException

            from pipelines.core.dates import parse_business_date
            from pipelines.run.stages import completeness_of
            from pipelines.run.task_support import figures

            home, _ = _prepare()
            missing = completeness_of(parse_business_date(business_date), channel_id, home)
            figures("deliveries", channel=channel_id, missing=len(missing))
            if missing:
                raise AirflowFailException("expected files missing: " + "; ".join(missing))

        @task(retries=0, trigger_rule="all_done", execution_timeout=CHECK, on_failure_callback=[])
        def day_complete(business_date: str) -> None:
            """Fails when the day is incomplete (files missing, or no row at all): never "all clear". An
            incomplete day is alerted first (``incomplete`` mail naming the missing expected files)."""
            from airflow.sdk.exceptions import AirflowFailException

            from pipelines.core.dates import parse_business_date
            from pipelines.run.alerts import ReconAlertNotifier, incomplete_day
            from pipelines.run.stages import completeness_of
            from pipelines.run.task_support import figures

            home, _ = _prepare()
            reasons = completeness_of(parse_business_date(business_date), None, home)
            figures("day_complete", date=business_date, reasons=len(reasons))
            if reasons:
                state = incomplete_day(business_date, home)
                notifier = ReconAlertNotifier(kind="incomplete", business_date=business_date, completeness=state)
                try:
                    notifier(get_current_context())
                except Exception:  # an alert that could not be sent does not hide why the task fails
                    logging.getLogger(__name__).exception("incomplete-day alert not sent")
                raise AirflowFailException("incomplete day: " + "; ".join(reasons))

        business_date = resolve_business_date()
        channels = list_channels()
        registered = register(ingest.expand(channel_id=channels))  # type: ignore[arg-type]
        normalised = normalise.partial(business_date=business_date).expand(channel_id=channels)
        registered >> normalised
        recorded = record(normalised)  # type: ignore[arg-type]
        partition_names = list_partitions()
        channels >> partition_names  # the same channels and rules: read once they are known to be valid
        partitioned = match_partition.partial(business_date=business_date).expand(partition=partition_names)
        matched = match(business_date)  # type: ignore[arg-type]
        recorded >> partitioned >> matched
        published = publish(clearing(lifecycle(matched)))  # type: ignore[arg-type]
        emit_metrics(published)  # type: ignore[arg-type]
        checked = deliveries.partial(business_date=business_date).expand(channel_id=channels)
        published >> checked
        checked >> day_complete(business_date)  # type: ignore[arg-type]

    return reconciliation()


def build_export(dag_id: str, doc_md: str | None) -> DAG:
    """``recon_export``: scheduled on ``RECON_OUTPUTS``; copies the published run's workbook to the export
    folder (RECON_EXPORT_DIR, default ``<home>/exports``)."""

    @dag(
        dag_id=dag_id,
        schedule=[RECON_OUTPUTS],
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        doc_md=doc_md,
        tags=["reconciliation", "export"],
        default_args={**DEFAULT_ARGS, "execution_timeout": WRITE},
    )
    def export() -> None:
        @task(inlets=[RECON_OUTPUTS])
        def export_workbook() -> str:
            """The date of the asset event that triggered the run (else the latest event of the asset)."""
            from pipelines.run.task_support import export_workbook as copy_workbook
            from pipelines.run.task_support import failing_at_once, figures

            home, _ = _prepare()
            ctx = get_current_context()
            events = [e for evs in (ctx.get("triggering_asset_events") or {}).values() for e in evs]
            if not events:
                events = list(ctx["inlet_events"][RECON_OUTPUTS])
            if not events:
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(f"no asset event of {RECON_OUTPUTS.uri}: nothing published to export")
            day = dt.date.fromisoformat(str(events[-1].extra["business_date"]))
            with failing_at_once(FileNotFoundError):
                target = copy_workbook(day, home)
            figures("export_workbook", date=day.isoformat(), files=1, bytes=target.stat().st_size)
            return str(target)

        export_workbook()

    return export()


def build_deadline(dag_id: str, doc_md: str | None, by: str | None = None) -> DAG:
    """``recon_deadline``: every day at the local time ``by`` (``"HH:MM Area/City"``; the environment's
    RECON_DEADLINE wins; default ``DEFAULT_DEADLINE``) checks that the business date before (or the
    ``business_date`` param) has a published run, and otherwise sends the ``deadline`` alert and fails."""
    import os

    import pendulum

    when = os.environ.get(DEADLINE_ENV) or by or DEFAULT_DEADLINE
    clock, _, zone = when.strip().partition(" ")
    hour, minute = (int(x) for x in clock.split(":"))

    @dag(
        dag_id=dag_id,
        schedule=f"{minute} {hour} * * *",  # in the DAG's timezone, the start date's
        start_date=pendulum.datetime(2026, 1, 1, tz=zone.strip() or "UTC"),
        catchup=False,
        doc_md=doc_md,
        tags=["reconciliation", "alerts"],
        default_args={**DEFAULT_ARGS, "retries": 0, "execution_timeout": CHECK},
        params={
            "business_date": Param(
                None,
                type=["null", "string"],
                format="date",
                title="Business date",
                description="The date whose publication to check; empty: the day before the run's local date",
            )
        },
    )
    def deadline() -> None:
        @task(on_failure_callback=[])
        def published_on_time() -> str:
            """The date's published run (its id), else the deadline alert and a failure."""
            from airflow.sdk.exceptions import AirflowFailException

            from pipelines.core.dates import parse_business_date
            from pipelines.run.alerts import ReconAlertNotifier
            from pipelines.run.stages import published_run
            from pipelines.run.task_support import figures

            home, _ = _prepare()
            ctx = get_current_context()
            asked = _params().get("business_date")
            if asked:
                day = parse_business_date(str(asked))
            else:
                run = ctx["dag_run"]  # a scheduled run's logical date is its deadline
                local = pendulum.instance(run.logical_date or run.run_after).in_timezone(zone.strip() or "UTC")
                day = local.date() - dt.timedelta(days=1)
            run_id = published_run(day, home)
            figures(dag_id, date=day.isoformat(), by=when.replace(" ", "_"), published=run_id or "none")
            if run_id is None:
                notifier = ReconAlertNotifier(kind="deadline", business_date=day.isoformat(), deadline=when)
                try:
                    notifier(ctx)
                except Exception:  # an alert that could not be sent does not hide why the task fails
                    logging.getLogger(__name__).exception("deadline alert not sent")
                raise AirflowFailException(f"no published run of {day.isoformat()} by {when}")
            return run_id

        published_on_time()

    return deadline()
