"""The compose deployment (docker-compose.yaml) has the shape of Airflow 3's own compose file and runs this
project: every service, one image built from the Dockerfile for all Airflow services, the CeleryExecutor on
PostgreSQL and Redis, healthchecks and ordered start-up, the workspace and rules mounted everywhere, one port,
and no secret but the documented local defaults. ``docker compose config`` checks it too where Docker's
compose plugin exists (no engine is needed for that)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from conftest import PROJECT_ROOT

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yaml"

AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
}
AIRFLOW_SERVICES = (*AIRFLOW_COMMANDS, "airflow-init")
OTHER_SERVICES = ("postgres", "redis")

# The only secrets the file may hold: the local defaults that README.md documents, each overridable where the
# official file makes it so.
LOCAL_DEFAULT_SECRETS = {
    "POSTGRES_PASSWORD": "airflow",
    "AIRFLOW__CORE__FERNET_KEY": "",
    "AIRFLOW__API_AUTH__JWT_SECRET": "${AIRFLOW_JWT_SECRET:-recon-local-jwt-secret}",
    "AIRFLOW__API__SECRET_KEY": "${AIRFLOW_API_SECRET_KEY:-recon-local-api-secret-key}",
    "_AIRFLOW_WWW_USER_PASSWORD": "${_AIRFLOW_WWW_USER_PASSWORD:-airflow}",
}
LOCAL_URL_CREDENTIALS = {"airflow:airflow", ":"}  # PostgreSQL's airflow/airflow; Redis without a password
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|CREDENTIAL|AWS_|AIRFLOW_CONN_", re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"://([^/@\s]*)@")
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _load() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load()


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def _interpolate(text: str) -> str:
    """What compose makes of ``text`` with no variable set: each ``${NAME:-default}`` is its default."""
    return _VARIABLE.sub(lambda m: m.group(2) or "", text).replace("$$", "$")


def _mounts(service: dict[str, Any]) -> dict[str, tuple[Path, str]]:
    """Container path -> (host path resolved against the project, mode) of a service's bind mounts."""
    out: dict[str, tuple[Path, str]] = {}
    for entry in service.get("volumes", []):
        parts = _interpolate(entry).split(":")
        source, target, mode = parts[0], parts[1], (parts[2] if len(parts) > 2 else "rw")
        if source.startswith((".", "/")):
            out[target] = ((PROJECT_ROOT / source).resolve(), mode)
    return out


def _walk_strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _walk_strings(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [s for i, v in enumerate(node) for s in _walk_strings(v, f"{path}[{i}]")]
    return [(path, node)] if isinstance(node, str) else []


def test_every_service_of_airflows_compose_is_there_with_its_command(compose: dict[str, Any]) -> None:
    services = _services(compose)
    assert set(AIRFLOW_SERVICES) | set(OTHER_SERVICES) <= services.keys()
    for name, command in AIRFLOW_COMMANDS.items():
        assert services[name]["command"] == command, name
    init = services["airflow-init"]
    assert init["entrypoint"] == "/bin/bash"
    script = "\n".join(init["command"])
    assert "/entrypoint airflow" in script  # the image's entrypoint migrates and creates the user first
    assert re.search(r"airflow pools set \S+ 1 ", script), "the writing tasks' one-slot pool"
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init["environment"]["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert _interpolate(init["environment"]["_AIRFLOW_WWW_USER_USERNAME"]) == "airflow"
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"].startswith("redis:")


def test_the_airflow_services_share_one_image_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    build = common["build"]
    dockerfile = (PROJECT_ROOT / build["context"] / build["dockerfile"]).resolve()
    assert dockerfile == PROJECT_ROOT / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8")
    assert re.search(r"^FROM apache/airflow:3\.", text, re.MULTILINE), "the official Airflow 3 image"
    assert re.search(r"pip install .*-e \.", text), "the project is installed in the image"
    assert common["image"]
    for name in AIRFLOW_SERVICES:
        service = _services(compose)[name]
        assert service.get("build") == build, name
        assert service.get("image") == common["image"], name
        assert service["user"] == common["user"] or name == "airflow-init", name
    for name in OTHER_SERVICES:
        assert "build" not in _services(compose)[name], name
    # the image's defaults and the deployment agree on where the workspace and the rules are
    env = common["environment"]
    for variable in ("RECON_HOME", "RECON_RULES"):
        assert re.search(rf"\b{variable}={re.escape(env[variable])}\b", text), variable


def test_celery_executor_on_postgres_and_redis_for_every_airflow_service(compose: dict[str, Any]) -> None:
    services = _services(compose)
    jwt_secrets = set()
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert re.fullmatch(
            r"postgresql(\+psycopg2)?://[^@]+@postgres(:5432)?/airflow", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        ), name
        assert re.fullmatch(
            r"db\+postgresql://[^@]+@postgres(:5432)?/airflow", env["AIRFLOW__CELERY__RESULT_BACKEND"]
        ), name
        assert re.fullmatch(r"redis://[^@]*@?redis:6379/\d+", env["AIRFLOW__CELERY__BROKER_URL"]), name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager"), name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false", name
        jwt_secrets.add(env["AIRFLOW__API_AUTH__JWT_SECRET"])
    assert len(jwt_secrets) == 1, "the api-server and the workers must sign and check tokens with one secret"
    assert services["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"  # warm shutdown
    postgres_env = services["postgres"]["environment"]
    user, password = postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_PASSWORD"]
    conn = services["airflow-scheduler"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert f"://{user}:{password}@postgres" in conn and conn.endswith(f"/{postgres_env['POSTGRES_DB']}")
    # the catalog is in the same PostgreSQL server (its own schema), for workers on any host
    from pipelines.core.config import catalog_url

    catalog = _interpolate(services["airflow-worker"]["environment"]["RECON_CATALOG_URL"])
    assert catalog_url(catalog) == f"postgresql://{user}:{password}@postgres/{postgres_env['POSTGRES_DB']}"


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, service in services.items():
        if name == "airflow-init" or service.get("profiles"):
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"} and len(check["test"]) > 1, name
        assert check.get("retries", 0) >= 1 and check.get("interval"), name
        assert service.get("restart") == "always", name
    assert "8080" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    for name, job in (("airflow-dag-processor", "DagProcessorJob"), ("airflow-triggerer", "TriggererJob")):
        assert f"--job-type {job}" in " ".join(services[name]["healthcheck"]["test"]), name
    assert "inspect ping" in " ".join(services["airflow-worker"]["healthcheck"]["test"])


def test_start_up_is_ordered_by_conditions(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            assert spec["condition"] in {"service_healthy", "service_completed_successfully", "service_started"}
            if spec["condition"] == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target}'s missing healthcheck"

    def condition(service: str, target: str) -> str | None:
        return services[service].get("depends_on", {}).get(target, {}).get("condition")

    for name in AIRFLOW_SERVICES:
        assert condition(name, "postgres") == "service_healthy", name
        assert condition(name, "redis") == "service_healthy", name
        if name != "airflow-init":
            assert condition(name, "airflow-init") == "service_completed_successfully", name
    assert condition("airflow-worker", "airflow-apiserver") == "service_healthy"
    # no cycle: a topological order exists
    pending = {n: set(s.get("depends_on", {})) for n, s in services.items()}
    while pending:
        ready = [n for n, deps in pending.items() if not deps & pending.keys()]
        assert ready, f"depends_on cycle among {sorted(pending)}"
        for n in ready:
            del pending[n]


def test_workspace_rules_samples_and_dags_are_mounted_into_every_airflow_service(compose: dict[str, Any]) -> None:
    services = _services(compose)
    env = compose["x-airflow-common"]["environment"]
    home, rules = env["RECON_HOME"], env["RECON_RULES"]
    samples = str(PurePosixPath(rules).parent / "data_samples")
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service["environment"]["RECON_HOME"] == home and service["environment"]["RECON_RULES"] == rules
        mounts = _mounts(service)
        assert mounts.get(home) == (PROJECT_ROOT / "var", "rw"), f"{name}: the workspace"
        assert mounts.get(rules) == (PROJECT_ROOT / "rules", "ro"), f"{name}: the rules"
        assert mounts.get(samples) == (PROJECT_ROOT / "data_samples", "ro"), f"{name}: the sample inboxes"
        assert mounts.get("/opt/airflow/dags", (None, ""))[0] == PROJECT_ROOT / "dags", f"{name}: the DAGs"
        logs = mounts.get("/opt/airflow/logs", (Path("/"), ""))[0]
        assert logs.is_relative_to(PROJECT_ROOT / "var"), f"{name}: task logs shared, inside the ignored var/"
    for name in OTHER_SERVICES:
        assert not _mounts(services[name]), f"{name} mounts project folders"
    # the local channels' relative locations resolve against the rules folder's parent: each lands in a mount
    targets = [PurePosixPath(t) for t in _mounts(services["airflow-worker"])]
    for channel_file in sorted((PROJECT_ROOT / "rules" / "channels").glob("*.yaml")):
        channel = yaml.safe_load(channel_file.read_text(encoding="utf-8"))
        location = channel.get("location")
        if channel.get("transport") != "local" or not location or PurePosixPath(location).is_absolute():
            continue
        inside = PurePosixPath(rules).parent / location
        assert any(inside.is_relative_to(t) for t in targets), f"{channel_file.name}: {inside} is not mounted"


def test_port_8080_is_published_by_the_api_server_only(compose: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in _services(compose).items() if s.get("ports")}
    assert published == {"airflow-apiserver": ["8080:8080"]}, published


def test_no_secret_but_the_documented_local_defaults(compose: dict[str, Any]) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Running under docker compose" in readme
    seen: set[str] = set()
    for where, value in _walk_strings(compose):
        key = where.rsplit(".", 1)[-1]
        if ".environment." in where and SECRET_NAME.search(key):
            assert key in LOCAL_DEFAULT_SECRETS, f"{where}: a secret that is not a documented local default"
            assert value == LOCAL_DEFAULT_SECRETS[key], f"{where}: {value!r}"
            seen.add(key)
        for credentials in URL_CREDENTIALS.findall(value):
            assert credentials in LOCAL_URL_CREDENTIALS, f"{where}: credentials {credentials!r} in a URL"
    assert seen == LOCAL_DEFAULT_SECRETS.keys()
    # each overridable secret names its variable in README.md, and the defaults that are words are stated there
    for value in LOCAL_DEFAULT_SECRETS.values():
        for variable, _default in _VARIABLE.findall(value):
            assert variable in readme, f"README.md does not document {variable}"
    assert "`airflow` / `airflow`" in readme


def test_the_build_context_leaves_out_the_workspace_and_the_venv() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"var", ".venv", ".git"} <= ignored
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, re.MULTILINE)
    for sources in copied:  # nothing the image needs is ignored
        for source in sources.split():
            assert source.rstrip("/") not in ignored, source


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_up_and_down_drive_docker_compose() -> None:
    def dry_run(target: str) -> str:
        result = subprocess.run(
            ["make", "-n", "-C", str(PROJECT_ROOT), target], capture_output=True, text=True, check=True
        )
        return result.stdout

    assert "docker compose up -d --build" in dry_run("up")
    assert "docker compose down" in dry_run("down")


def _compose_plugin() -> str | None:
    """Why ``docker compose`` cannot run here, or None when it can."""
    docker = shutil.which("docker")
    if docker is None:
        return "no docker binary on this machine"
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"docker has no compose plugin here ({(probe.stderr or probe.stdout).strip().splitlines()[0]})"
    return None


def test_docker_compose_accepts_the_file() -> None:
    reason = _compose_plugin()
    if reason:
        pytest.skip(reason)
    env = {**os.environ, "AIRFLOW_UID": str(os.getuid())}
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr
