"""A real Airflow deployment on loopback for the tests: ``airflow scheduler`` (LocalExecutor), ``airflow
dag-processor`` and ``airflow api-server``, each a subprocess of the test, on a metadata database (SQLite) in a
temporary ``AIRFLOW_HOME``.

* **Loopback only**: the API server listens on a free 127.0.0.1 port, and the task processes reach its
  execution API there (``[core] execution_api_server_url``); the scheduler serves no logs (``--skip-serve-logs``:
  the API server reads the task logs from the same folder); no triggerer (no DAG here defers).
* **Auth**: SimpleAuthManager with one known user (``recon``, role admin, password file written here), so the
  client logs in as an operator's script does: ``POST /auth/token`` and a Bearer JWT on every call.
* **The deployment, as ``make airflow-db`` sets it up**: the database migrated, the one-slot pool
  ``recon_workspace``; the workspace and rules as the Airflow Variables ``recon_home`` / ``recon_rules``
  (``pipelines.run.task_support.deployment``), not as the servers' environment.
* **Fast**: the DAG files are parsed once (``min_file_process_interval`` longer than a test), the scheduler
  sleeps 0.2 s when idle instead of 1 s, ``[core] parallelism`` matches the machine, and cron schedules are off
  (``use_job_schedule``): only the test's triggers run, never the latest scheduled night of an unpaused DAG.
* **Teardown**: every server's process group is ended (SIGTERM, then SIGKILL), also when the test fails; the
  servers' logs are in ``<tmp>/logs/<server>.log`` and their tails are put in the failure message.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from servers import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AIRFLOW = Path(sys.executable).parent / "airflow"
SERVERS = ("api-server", "scheduler", "dag-processor")
USER = "recon"
POOL = "recon_workspace"
# the pool as `make airflow-db` creates it (`airflow pools set`)
POOL_DESCRIPTION = (
    "one writing task per workspace at a time (register, normalise, record, match, lifecycle, clearing, publish)"
)
FINISHED = {"success", "failed"}


class AirflowDown(RuntimeError):
    """A server ended or did not come up; the message has the tails of the servers' logs."""


@dataclass
class Topology:
    """A distributed deployment instead of the default (LocalExecutor, SQLite): the metadata database's
    SQLAlchemy URL, the Celery broker and result backend, the Celery workers (name -> the environment of that
    worker only, e.g. its own local folder) and the environment every process gets (e.g. the catalog's URL)."""

    database_url: str
    broker_url: str
    result_backend: str
    workers: dict[str, dict[str, str]]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Airflow:
    """The running deployment: its base URL, an authenticated client and the servers' processes and logs."""

    root: Path
    port: int
    env: dict[str, str]
    password: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    client: httpx.Client | None = None
    servers: tuple[str, ...] = SERVERS

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        """``AIRFLOW_HOME`` (configuration, metadata database, task logs)."""
        return self.root / "airflow"

    def log(self, server: str) -> Path:
        return self.root / "logs" / f"{server}.log"

    def tails(self, lines: int = 40) -> str:
        """The last lines of every server's log, to explain a failure."""
        parts = []
        for name in self.servers:
            path = self.log(name)
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
            proc = self.procs.get(name)
            state = "not started" if proc is None else f"exit code {proc.poll()}" if proc.poll() is not None else "up"
            parts.append(f"--- {name} ({state}), {path}:\n" + "\n".join(text))
        return "\n".join(parts)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AirflowDown(f"airflow {name} exited with {proc.returncode}\n{self.tails()}")

    # ---- the REST API --------------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        """One call of the REST API (``/api/v2`` + path) as the logged-in user; its JSON, or an error with the
        response's text."""
        assert self.client is not None, "not logged in"
        response = self.client.request(method, f"/api/v2{path}", json=body, params=params or None)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: HTTP {response.status_code} {response.text[:2000]}")
        return response.json() if response.content else None

    def login(self) -> str:
        """A JWT for the known user (``POST /auth/token``), then used by ``call``."""
        response = httpx.post(f"{self.url}/auth/token", json={"username": USER, "password": self.password})
        assert response.status_code == 201, f"login: HTTP {response.status_code} {response.text[:500]}"
        token = str(response.json()["access_token"])
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        return token

    def wait(self, what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
        """Poll ``check`` until it returns something truthy; fail after ``timeout`` s (or at once when a server
        ended), with the servers' logs."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AirflowDown(f"timed out after {timeout:g} s waiting for {what}\n{self.tails()}")
            time.sleep(every)

    def healthy(self) -> bool:
        """``/api/v2/monitor/health`` (no login needed) says the database, scheduler and dag-processor are."""
        try:
            health = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return False
        parts = ("metadatabase", "scheduler", "dag_processor")
        return all((health.get(p) or {}).get("status") == "healthy" for p in parts)

    def wait_dags(self, *dag_ids: str, timeout: float = 120.0) -> None:
        """Wait until the dag-processor has put these DAGs in the database (parsed, serialized)."""

        def parsed() -> bool:
            return set(dag_ids) <= {d["dag_id"] for d in self.call("GET", "/dags", limit=100)["dags"]}

        self.wait(f"the DAGs {', '.join(dag_ids)} to be parsed", parsed, timeout)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        found = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)
        assert found["total_entries"] <= 100
        return list(found["task_instances"])

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        """A manual run (``logical_date`` null: a manual run needs none, and the DAG reads its business date from
        the conf)."""
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        return dict(self.call("POST", f"/dags/{dag_id}/dagRuns", body))

    def wait_finished(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            run = self.dag_run(dag_id, run_id)
            return run if run["state"] in FINISHED else None

        return dict(self.wait(f"{dag_id} run {run_id} to finish", finished, timeout))


def _env(root: Path, port: int, password_file: Path, topology: Topology | None = None) -> dict[str, str]:
    """The servers' environment: this process's, without its Airflow and workspace settings, plus the
    deployment's configuration (``AIRFLOW__<SECTION>__<KEY>``) and the topology's."""
    from cryptography.fernet import Fernet

    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RECON_", "_AIRFLOW"))}
    home = root / "airflow"
    settings = {
        "CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "CORE__LOAD_EXAMPLES": "False",
        "CORE__UNIT_TEST_MODE": "False",
        "CORE__EXECUTOR": "LocalExecutor",
        "CORE__PARALLELISM": str(max(2, os.cpu_count() or 2)),
        "CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "API__HOST": "127.0.0.1",
        "API__PORT": str(port),
        "API__WORKERS": "1",
        "API__BASE_URL": f"http://127.0.0.1:{port}",
        "API__SECRET_KEY": secrets.token_urlsafe(32),
        "API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "LOGGING__LOGGING_LEVEL": "INFO",
        "LOGGING__COLORED_CONSOLE_LOG": "False",
        "SCHEDULER__USE_JOB_SCHEDULE": "False",
        "SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        # a task's supervisor notices that its task process ended at its next heartbeat (select timeout)
        "WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "DAG_PROCESSOR__REFRESH_INTERVAL": "3600",
        "DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
        "DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(root / "bundles"),
    }
    if topology is not None:
        settings |= {
            "CORE__EXECUTOR": "CeleryExecutor",
            "DATABASE__SQL_ALCHEMY_CONN": topology.database_url,
            # psycopg 3 for the async engine too (Airflow would derive an asyncpg URL)
            "DATABASE__SQL_ALCHEMY_CONN_ASYNC": topology.database_url.replace("+psycopg://", "+psycopg_async://", 1),
            "CELERY__BROKER_URL": topology.broker_url,
            "CELERY__RESULT_BACKEND": topology.result_backend,
            "CELERY__WORKER_CONCURRENCY": "1",
            "CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        }
    return {
        **base,
        **(topology.env if topology else {}),
        **{f"AIRFLOW__{k}": v for k, v in settings.items()},
        "AIRFLOW_HOME": str(home),
        # the project, and this folder (``worker_hostname``)
        "PYTHONPATH": os.pathsep.join(
            [str(PROJECT_ROOT), str(Path(__file__).resolve().parent), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "GX_ANALYTICS_ENABLED": "False",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _end(proc: subprocess.Popen[bytes], grace: float) -> None:
    """End a server and everything it started (its process group): SIGTERM, then SIGKILL after ``grace`` s."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
        if proc.poll() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # what the server started and left behind
            return


@contextlib.contextmanager
def airflow_services(
    root: Path,
    workspace: str | Path,
    rules: Path | None = None,
    timeout: float = 120.0,
    topology: Topology | None = None,
) -> Iterator[Airflow]:
    """Migrate a metadata database under ``root`` (or the topology's), start the API server, scheduler and
    dag-processor (and the topology's Celery workers), log in, create the pool and the deployment's Variables
    (workspace ``workspace``, rules ``rules`` or the project's), and wait until the DAGs are parsed; ends every
    server on exit."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    (root / "airflow").mkdir(exist_ok=True)
    password = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
    password_file = root / "passwords.json"
    password_file.write_text(json.dumps({USER: password}))
    port = free_port()
    workers = {f"worker-{name}": env for name, env in (topology.workers if topology else {}).items()}
    af = Airflow(
        root=root,
        port=port,
        env=_env(root, port, password_file, topology),
        password=password,
        servers=(*SERVERS, *workers),
    )
    migrate = subprocess.run(
        [str(AIRFLOW), "db", "migrate"], cwd=root, env=af.env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}"
    try:
        for name in af.servers:
            if name in workers:  # a Celery worker: its own host name and environment, one task at a time
                args = [str(AIRFLOW), "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1"]
                args += ["--skip-serve-logs", "--without-gossip", "--without-mingle"]
                env = {**af.env, **workers[name]}
            else:
                args = [str(AIRFLOW), name, *(["--skip-serve-logs"] if name == "scheduler" else [])]
                env = af.env
            with af.log(name).open("wb") as out:
                af.procs[name] = subprocess.Popen(
                    args, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        af.wait("the servers to be healthy", af.healthy, timeout)
        af.login()
        af.call("POST", "/pools", {"name": POOL, "slots": 1, "description": POOL_DESCRIPTION})
        af.call("POST", "/variables", {"key": "recon_home", "value": str(workspace)})
        af.call("POST", "/variables", {"key": "recon_rules", "value": str(rules or PROJECT_ROOT / "rules")})
        yield af
    finally:
        if af.client is not None:
            af.client.close()
        for proc in af.procs.values():  # all at once: they stop in parallel
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in af.procs.values():
            _end(proc, grace=10.0)


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the topology's workers: the name the test gave the worker
    (``RECON_TEST_WORKER``), so that task instances say which worker ran them (all run on this machine)."""
    return os.environ.get("RECON_TEST_WORKER") or socket.getfqdn()
