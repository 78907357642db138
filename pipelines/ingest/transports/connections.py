"""Credentials of a channel's source, from an Airflow Connection.

Inside an Airflow task the connection is resolved with ``airflow.sdk.Connection.get`` (any secrets backend
the deployment configures; Airflow masks its secrets in task logs). Without Airflow (the ``recon`` CLI, a
notebook) the same definitions are read the way Airflow's environment backend reads them:

* ``AIRFLOW_CONN_<CONN_ID>`` (upper case): a JSON object (``{"conn_type": ..., "host": ..., "extra": {...}}``)
  or a URI (``sftp://user:pass@host:22/?host_key=...``, values percent-encoded);
* else the JSON file named by ``RECON_CONNECTIONS``: ``{"<conn_id>": {...same JSON object...}}``.

``ConnectionInfo`` never shows its password or extras in ``repr``, and no message here quotes a URI.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pipelines.ingest.transports.base import ConfigError

log = logging.getLogger(__name__)
CONNECTIONS_FILE_ENV = "RECON_CONNECTIONS"


@dataclass(frozen=True)
class ConnectionInfo:
    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    source: str = "environment"  # where it was resolved: airflow | environment | file


def _in_airflow_task() -> bool:
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return runner is not None and getattr(runner, "SUPERVISOR_COMMS", None) is not None


def _from_airflow(conn_id: str) -> ConnectionInfo:
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # AirflowNotFoundException and backend errors alike
        raise ConfigError(f"connection {conn_id!r} is not defined in Airflow ({type(exc).__name__})") from None
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=conn.conn_type,
        host=conn.host or None,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        schema=conn.schema or None,
        extra=dict(conn.extra_dejson),
        source="airflow",
    )


def _hostname(netloc_host: str | None, netloc: str) -> str:
    host = unquote(netloc_host or "")
    if "/" in host:  # a percent-encoded host that urlsplit could not parse
        host = netloc.rsplit("@", 1)[-1].split(":", 1)[0]
        host = unquote(host)
    return host


def parse_uri(conn_id: str, uri: str, source: str = "environment") -> ConnectionInfo:
    """Parse a connection URI the way Airflow does (``Connection.from_uri``), without quoting it in errors."""
    if uri.count("://") != 1:
        raise ConfigError(f"connection {conn_id!r}: not a valid connection URI (one scheme:// expected)")
    parts = urlsplit(uri)
    conn_type = parts.scheme.replace("-", "_")
    if conn_type == "postgresql":
        conn_type = "postgres"
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"connection {conn_id!r}: the port is not a number") from None
    extra: dict[str, Any] = {}
    if parts.query:
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if "__extra__" in query:
            try:
                extra = json.loads(query["__extra__"])
            except json.JSONDecodeError:
                raise ConfigError(f"connection {conn_id!r}: __extra__ is not JSON") from None
        else:
            extra = query
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=conn_type or None,
        host=_hostname(parts.hostname, parts.netloc) or None,
        port=port,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        schema=unquote(parts.path[1:]) if parts.path[1:] else None,
        extra=extra,
        source=source,
    )


def parse_json(conn_id: str, value: str | Mapping[str, Any], source: str = "environment") -> ConnectionInfo:
    """Parse a connection JSON object the way Airflow does (``Connection.from_json``)."""
    try:
        data = json.loads(value) if isinstance(value, str) else dict(value)
    except json.JSONDecodeError:
        raise ConfigError(f"connection {conn_id!r}: not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"connection {conn_id!r}: a JSON object is expected")
    unknown = set(data) - {"conn_type", "description", "host", "schema", "login", "password", "port", "extra"}
    if unknown:
        raise ConfigError(f"connection {conn_id!r}: unknown field(s) {sorted(unknown)}")
    extra = data.get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError:
            raise ConfigError(f"connection {conn_id!r}: extra is not JSON") from None
    port = data.get("port")
    try:
        port_number = int(port) if port not in (None, "") else None
    except (TypeError, ValueError):
        raise ConfigError(f"connection {conn_id!r}: the port is not a number") from None
    conn_type = data.get("conn_type")
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=str(conn_type).replace("-", "_") if conn_type else None,
        host=data.get("host") or None,
        port=port_number,
        login=data.get("login"),
        password=data.get("password"),
        schema=data.get("schema") or None,
        extra=dict(extra),
        source=source,
    )


def env_var_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def _from_environment(conn_id: str) -> ConnectionInfo | None:
    value = os.environ.get(env_var_name(conn_id))
    if value:
        value = value.strip()
        return parse_json(conn_id, value) if value.startswith("{") else parse_uri(conn_id, value)
    file_name = os.environ.get(CONNECTIONS_FILE_ENV)
    if file_name:
        path = Path(file_name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: connections file unreadable ({type(exc).__name__})") from None
        if isinstance(data, dict) and conn_id in data:
            item = data[conn_id]
            if isinstance(item, str):
                return parse_uri(conn_id, item, source="file")
            return parse_json(conn_id, item, source="file")
    return None


def get_connection(conn_id: str) -> ConnectionInfo:
    """Resolve a connection: through Airflow inside a task, else from the environment (see module doc)."""
    if _in_airflow_task():
        info = _from_airflow(conn_id)
        log.info("connection %s resolved through Airflow", conn_id)
        return info
    found = _from_environment(conn_id)
    if found is None:
        raise ConfigError(
            f"connection {conn_id!r} is not defined: set {env_var_name(conn_id)} (JSON or URI) "
            f"or list it in the file named by {CONNECTIONS_FILE_ENV}"
        )
    log.info("connection %s resolved from the %s", conn_id, "environment" if found.source == "environment" else "file")
    return found
