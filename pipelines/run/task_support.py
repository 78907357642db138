"""What the Airflow tasks of ``pipelines.run.dag_factory`` need around the stages, kept out of the DAG files:
the deployment's workspace and rules, the channel subset of a trigger, permanent errors told from transient
ones, quiet validation logs, one line of figures per task, and the workbook export of ``recon_export``.

Only called from task bodies (never while a DAG file is parsed): it reads Airflow Variables and files.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HOME_VARIABLE = "recon_home"
RULES_VARIABLE = "recon_rules"
EXPORT_DIR_ENV = "RECON_EXPORT_DIR"
# loggers of the validation library (and what it brings) that log a great deal at INFO when imported
NOISY_LOGGERS = ("great_expectations", "great_expectations.core", "great_expectations.data_context", "altair")


def quiet_validation_logs() -> None:
    """Silence Great Expectations below WARNING; call before it is imported (first thing in a task body)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def deployment() -> tuple[str | None, str | None]:
    """The workspace and rules folders of this deployment: the Airflow Variables ``recon_home`` /
    ``recon_rules`` when set, else None (then ``pipelines.core.config``: RECON_HOME / RECON_RULES, defaults).
    Never a trigger's conf: whoever can trigger a run cannot point it elsewhere."""
    from airflow.sdk import Variable

    def variable(key: str) -> str | None:
        try:
            value = Variable.get(key, default=None)
        except Exception:  # no reachable Variable store (a plain Python call): the environment decides
            log.debug("Variable %s not readable", key, exc_info=True)
            return None
        return str(value) if value else None

    return variable(HOME_VARIABLE), variable(RULES_VARIABLE)


class ChannelSelectionError(ValueError):
    """A trigger named channels the rules do not declare."""


def select_channels(requested: list[str] | None, known: list[str]) -> list[str]:
    """The trigger's channel subset in the rules' order (empty or None: all); unknown ids are refused,
    naming the known ones."""
    if not requested:
        return list(known)
    unknown = sorted(set(requested) - set(known))
    if unknown:
        raise ChannelSelectionError(f"unknown channel(s) {', '.join(unknown)}; known: {', '.join(known)}")
    wanted = set(requested)
    return [c for c in known if c in wanted]


def permanent_error_types() -> tuple[type[BaseException], ...]:
    """Errors a retry cannot cure: invalid rules or channels, a bad date or channel selection, a damaged
    workspace (integrity refusals), a broken run invariant, a transport misconfigured or refused."""
    from pydantic import ValidationError

    from pipelines.core.channels import RulesError
    from pipelines.core.schema import SchemaError
    from pipelines.ingest.transports.base import AuthError, ConfigError
    from pipelines.run.integrity import IntegrityError
    from pipelines.run.invariants import InvariantError

    return (
        RulesError,
        ValidationError,
        SchemaError,
        ChannelSelectionError,
        IntegrityError,
        InvariantError,
        ConfigError,
        AuthError,
    )


@contextmanager
def failing_at_once(*extra: type[BaseException]) -> Iterator[None]:
    """Turn a permanent error (``permanent_error_types`` and ``extra``) into ``AirflowFailException``: the
    task fails without its retries. Anything else propagates and is retried with backoff."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except (*permanent_error_types(), *extra) as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def figures(task: str, **values: Any) -> str:
    """Log the task's one line of figures (``figures <task>: key=value ...``) and return it."""
    line = f"figures {task}: " + " ".join(f"{k}={v}" for k, v in values.items())
    log.info("%s", line)
    return line


def statuses_figures(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """Files, rows in, rows staged, rows quarantined and files quarantined of ``FileStatus`` dicts."""
    return {
        "files": len(statuses),
        "rows": sum(int(s.get("rows_in", 0)) for s in statuses),
        "staged": sum(int(s.get("rows_staged", 0)) for s in statuses),
        "quarantined_rows": sum(int(s.get("rows_quarantined", 0)) for s in statuses),
        "quarantined_files": sum(1 for s in statuses if s.get("status") == "quarantined"),
    }


def run_figures(output: str | Path) -> dict[str, Any]:
    """Files, rows, breaks and money at risk (``money_at_risk.total_reporting_minor``, in its reporting
    currency) of a published run, from its ``summary.json``."""
    return summary_figures(json.loads((Path(output) / "summary.json").read_text()))


def summary_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """``run_figures`` of a run's summary."""
    from pipelines.core.money import format_minor

    at_risk = summary.get("money_at_risk", {})
    currency = str(at_risk.get("reporting_currency", ""))
    total = int(at_risk.get("total_reporting_minor") or 0)
    return {
        "date": summary.get("business_date"),
        "files": len(summary.get("files", [])),
        "rows": sum(int(n) for n in summary.get("rows_in", {}).values()),
        "breaks": int(summary.get("breaks", {}).get("total", 0)),
        "money_at_risk": f"{format_minor(total, currency) if currency else total} {currency}".strip(),
    }


def export_dir(home: str | None) -> Path:
    """Where ``recon_export`` copies workbooks: RECON_EXPORT_DIR, default ``<home>/exports``."""
    from pipelines.core import config

    folder = os.environ.get(EXPORT_DIR_ENV)
    return Path(folder) if folder else config.settings(home, None).home / "exports"


def export_workbook(day: dt.date, home: str | None = None) -> Path:
    """Copy the published workbook ``outputs/<date>/recon_<date>.xlsx`` to the export folder, atomically
    (temporary name, then rename): a re-run replaces the copy. Returns the exported file."""
    from pipelines.core import config
    from pipelines.run import s3home

    name = f"recon_{day.isoformat()}.xlsx"
    settings = config.settings(home, None)
    s3home.pull(settings.home, ("outputs/",))  # an S3 home: the published runs (those with a marker)
    source = settings.outputs / day.isoformat() / name
    if not source.is_file():
        raise FileNotFoundError(f"no published workbook for {day.isoformat()}: {source}")
    folder = export_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    partial = folder / f".{name}.partial"
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    return target
