"""Connections: without Airflow, ``AIRFLOW_CONN_<ID>`` (JSON or URI) and the RECON_CONNECTIONS file are read
exactly as Airflow reads them; no error or repr ever shows a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.ingest.transports import ConfigError, get_connection
from pipelines.ingest.transports.connections import parse_json, parse_uri

URIS = [
    "sftp://user:p%40ss%2Fw0rd@127.0.0.1:2222/?host_key=ssh-ed25519+AAAAC3Nz&key_file=%2Fkeys%2Fid",
    "aws://AKIA%2FX:se%2Bcr%2Fet@/?region_name=eu-west-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A5000",
    "aws://?__extra__=%7B%22region_name%22%3A+%22eu-west-1%22%2C+%22n%22%3A+1%7D",
    "sftp://127.0.0.1",
    "my-type://h.example/some%2Fschema",
]


@pytest.mark.parametrize("uri", URIS)
def test_uri_parsing_matches_airflow(uri: str) -> None:
    from airflow.sdk import Connection

    ours = parse_uri("c", uri)
    theirs = Connection.from_uri(uri, conn_id="c")
    assert ours.conn_type == theirs.conn_type
    assert (ours.host or "") == (theirs.host or "")
    assert ours.port == theirs.port
    assert ours.login == theirs.login
    assert ours.password == theirs.password
    assert (ours.schema or "") == (theirs.schema or "")
    assert dict(ours.extra) == theirs.extra_dejson


def test_json_parsing_matches_airflow() -> None:
    from airflow.sdk import Connection

    value = json.dumps(
        {"conn_type": "sftp", "host": "h", "port": "2222", "login": "u", "password": "pw", "extra": {"host_key": "k"}}
    )
    ours, theirs = parse_json("c", value), Connection.from_json(value, conn_id="c")
    assert (ours.conn_type, ours.host, ours.port, ours.login, ours.password) == (
        theirs.conn_type,
        theirs.host,
        theirs.port,
        theirs.login,
        theirs.password,
    )
    assert dict(ours.extra) == theirs.extra_dejson


def test_environment_then_connections_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PSP_SFTP", "sftp://u:secret-pw@127.0.0.1:22")
    assert get_connection("psp_sftp").password == "secret-pw"
    file = tmp_path / "connections.json"
    file.write_text(json.dumps({"bank_s3": {"conn_type": "aws", "login": "id", "password": "secret-key"}}))
    monkeypatch.setenv("RECON_CONNECTIONS", str(file))
    info = get_connection("bank_s3")
    assert (info.login, info.password, info.source) == ("id", "secret-key", "file")
    assert "secret-key" not in repr(info) and "secret-pw" not in repr(get_connection("psp_sftp"))


def test_errors_name_the_connection_never_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"connection 'nowhere' is not defined: set AIRFLOW_CONN_NOWHERE"):
        get_connection("nowhere")
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN", "sftp://u:hunter2-secret@host:notaport")
    with pytest.raises(ConfigError) as err:
        get_connection("broken")
    assert "hunter2-secret" not in str(err.value) and "port" in str(err.value)
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN", '{"password": "hunter2-secret", "extra": "{not json"}')
    with pytest.raises(ConfigError) as err:
        get_connection("broken")
    assert "hunter2-secret" not in str(err.value)
