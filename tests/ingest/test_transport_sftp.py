"""SFTP ingestion against a real OpenSSH server (sshd + sftp-server on loopback), with real faults.

Guarantees checked here (issue: ingestion from SFTP and S3):

1. Incomplete files are never ingested: growing files, files without their marker or manifest entry are
   reported pending and taken on a later poll.
2. Downloads are atomic: a connection cut mid-transfer leaves no partial file, the retry succeeds; a
   connection that keeps failing makes the pull fail after a bounded number of attempts.
3. Exactly once: the same bytes again are a recorded no-op; different bytes under an ingested name are
   quarantined and reported as replaced, never landed over the processed file.
4. Hostile names and symlinks out of the folder are refused and reported.
5. Zero-byte and unreadable files are quarantined with their reason.
6. Secrets never appear in logs or error messages.
7. Hundreds of files come through one session; every network call has a timeout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from helpers import channel_with, settings_in
from servers import Fault, SshServer, fault_proxy, keygen

from pipelines.catalog.store import Catalog, FileRecord, IngestEvent
from pipelines.core.channels import Channel
from pipelines.core.config import Settings
from pipelines.ingest import landing as ingest
from pipelines.ingest.transports import AuthError, ConfigError, HostKeyError, get_connection
from pipelines.ingest.transports.sftp import SftpTransport

NOW = dt.datetime(2026, 11, 27, 3, 30, tzinfo=dt.UTC)
CONN = "recon_sftp_test"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture
def remote(sshd: SshServer, request: pytest.FixtureRequest) -> Path:
    """A fresh folder on the server for one test."""
    folder = sshd.data / request.node.name.replace("[", "_").replace("]", "")
    folder.mkdir()
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_in(tmp_path)


def use_connection(monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(conn))


def channel(folder: Path, **overrides: Any) -> Channel:
    raw: dict[str, Any] = {
        "id": "psp_sftp",
        "kind": "psp",
        "format": "adyen_sdr",
        "transport": "sftp",
        "location": str(folder),
        "pattern": "*.csv",
        "sftp": {"connection_id": CONN, "timeout_seconds": 5},
        "stability": {"polls": 1},
        "retry": {"attempts": 3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05},
    }
    return channel_with(raw, overrides)


def pull(ch: Channel, settings: Settings, **kw: Any) -> tuple[list[FileRecord], list[IngestEvent]]:
    return ingest.pull_channel(ch, settings, NOW, **kw)


def pull_and_register(ch: Channel, settings: Settings) -> tuple[list[FileRecord], list[IngestEvent], dict[str, int]]:
    records, events = pull(ch, settings)
    counts = ingest.register(Catalog(settings.catalog_path), records, NOW, events)
    return records, events, counts


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(settings: Settings, ch: Channel) -> list[Path]:
    """Temporary files of downloads: there must never be any after a pull, failed or not."""
    folder = ingest.incoming_dir(settings, ch.id)
    return sorted(folder.iterdir()) if folder.exists() else []


def landed(settings: Settings, ch: Channel) -> dict[str, bytes]:
    root = settings.landing / ch.id
    return {p.name: p.read_bytes() for p in root.glob("??/*")} if root.exists() else {}


# ---- one session, verified, incremental -----------------------------------------------------------------


def test_hundreds_of_files_through_one_session(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"batch_{i:03}.csv": f"row,{i}\n".encode() * (i + 1) for i in range(150)}
    for name, data in files.items():
        (remote / name).write_bytes(data)
    with fault_proxy(sshd.port) as proxy:
        use_connection(monkeypatch, sshd.connection(port=proxy.port))
        records, events, counts = pull_and_register(channel(remote), settings)
        assert proxy.connections == 1  # listing and 150 downloads on one SSH connection
        assert counts["new"] == 150 and events == []
        assert landed(settings, channel(remote)) == {sha(d): d for d in files.values()}
        assert {r.file_name for r in records} == set(files)
        assert {r.verified_by for r in records} == {"size"}
        assert all(r.source_path.startswith(f"sftp://{CONN}{remote}/") for r in records)

        # a second poll: listing unchanged, nothing downloaded again, every delivery a recorded no-op
        before = proxy.bytes_down
        records, events, counts = pull_and_register(channel(remote), settings)
        assert counts == {"new": 0, "duplicate": 150, "pending": 0, "refused": 0, "quarantined": 0, "replaced": 0}
        assert {r.verified_by for r in records} == {"unchanged listing"}
        assert proxy.connections == 2
        assert proxy.bytes_down - before < sum(len(d) for d in files.values())
    assert leftovers(settings, channel(remote)) == []


# ---- connection faults -------------------------------------------------------------------------------------


def test_connection_cut_mid_download_leaves_nothing_and_the_retry_succeeds(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(600_000)
    (remote / "settlement_big.csv").write_bytes(data)
    ch = channel(remote)
    with fault_proxy(sshd.port, [Fault(cut_after=200_000)]) as proxy:
        use_connection(monkeypatch, sshd.connection(port=proxy.port))
        records, events = pull(ch, settings)
        assert proxy.connections == 2  # cut once, reconnected once
    assert [r.file_id for r in records] == [sha(data)]
    assert landed(settings, ch) == {sha(data): data}
    assert leftovers(settings, ch) == []


def test_connection_cut_on_every_attempt_fails_the_pull_after_bounded_retries(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    (remote / "a_small.csv").write_bytes(b"small,1\n")
    (remote / "b_big.csv").write_bytes(os.urandom(600_000))
    ch = channel(remote)
    waits: list[float] = []
    with fault_proxy(sshd.port, [Fault(cut_after=200_000)] * 10) as proxy:
        use_connection(monkeypatch, sshd.connection(port=proxy.port))
        with pytest.raises(ingest.IngestError, match=r"1 file\(s\) could not be transferred after 3 attempt") as err:
            pull(ch, settings, sleep=waits.append)
        assert proxy.connections == 3
    assert "b_big.csv" in str(err.value)
    assert waits == [0.01, 0.02]  # exponential, bounded by the channel's retry policy
    assert leftovers(settings, ch) == []
    assert list(landed(settings, ch).values()) == [b"small,1\n"]  # the other file was landed


def test_a_read_ended_early_on_an_unchanged_file_is_retried_not_taken_for_a_change(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """paramiko's buffered read turns an EOF under a dropped pipelined read into a short read; the file on
    the server still has its listed size, so the transfer broke: retried, never reported as changed."""
    data = os.urandom(600_000)
    (remote / "settlement_short.csv").write_bytes(data)
    real_read = paramiko.SFTPFile.read
    short = {"left": 1}

    def read(self: paramiko.SFTPFile, size: int | None = None) -> bytes:
        if short["left"] and self.tell() == 0:
            return real_read(self, 200_000)
        if short["left"]:  # the first attempt ends at 200 000 bytes, as a swallowed EOF ends it
            short["left"] -= 1
            return b""
        return real_read(self, size)

    monkeypatch.setattr(paramiko.SFTPFile, "read", read)
    use_connection(monkeypatch, sshd.connection())
    waits: list[float] = []
    records, events = pull(channel(remote), settings, sleep=waits.append)
    assert short["left"] == 0 and waits == [0.01]
    assert [r.file_id for r in records] == [sha(data)]
    assert [e.reason for e in events if e.outcome == "pending"] == []
    assert leftovers(settings, channel(remote)) == []


def test_stalled_connection_times_out_and_the_retry_succeeds(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(600_000)
    (remote / "settlement_stall.csv").write_bytes(data)
    ch = channel(remote, sftp={"timeout_seconds": 1})
    with fault_proxy(sshd.port, [Fault(stall_after=200_000)]) as proxy:
        use_connection(monkeypatch, sshd.connection(port=proxy.port))
        start = time.monotonic()
        records, _ = pull(ch, settings)
        assert time.monotonic() - start < 10
        assert proxy.connections == 2
    assert [r.file_id for r in records] == [sha(data)]
    assert leftovers(settings, ch) == []


def test_server_down_is_a_clear_transient_failure(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers import free_port

    use_connection(monkeypatch, sshd.connection(port=free_port()))
    with pytest.raises(Exception, match=r"failed after 3 attempt\(s\).*cannot connect"):
        pull(channel(remote), settings, sleep=lambda s: None)


# ---- host key pinning ---------------------------------------------------------------------------------------


def test_changed_host_key_is_refused(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keygen(tmp_path / "other")
    other = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    use_connection(monkeypatch, sshd.connection(host_key=other))
    with pytest.raises(HostKeyError) as err:
        pull(channel(remote), settings)
    message = str(err.value)
    assert f"host key of 127.0.0.1:{sshd.port} changed" in message and "connection refused" in message
    served = paramiko.PKey.from_type_string(*_split(sshd.host_key_pub))
    pinned = paramiko.PKey.from_type_string(*_split(other))
    assert served.fingerprint in message and pinned.fingerprint in message


def _split(line: str) -> tuple[str, bytes]:
    import base64

    kind, blob = line.split()[:2]
    return kind, base64.b64decode(blob)


def test_unknown_host_key_is_refused(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[other.example]:{sshd.port} {sshd.host_key_pub}\n")
    conn = sshd.connection()
    del conn["extra"]["host_key"]
    use_connection(monkeypatch, conn)
    ch = channel(remote, sftp={"known_hosts": str(known_hosts)})
    with pytest.raises(HostKeyError, match=rf"host key of 127.0.0.1:{sshd.port} \(ssh-ed25519 SHA256:.*is not pinned"):
        pull(ch, settings)

    # the same known_hosts file with the right entry is accepted
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key_pub}\n")
    (remote / "ok.csv").write_bytes(b"ok\n")
    records, _ = pull(ch, settings)
    assert [r.file_name for r in records] == ["ok.csv"]


def test_no_pinned_key_and_disabled_checking_are_refused_before_connecting(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = sshd.connection()
    del conn["extra"]["host_key"]
    use_connection(monkeypatch, conn)
    with pytest.raises(HostKeyError, match="no host key pinned"):
        pull(channel(remote), settings)
    use_connection(monkeypatch, sshd.connection(no_host_key_check="true"))
    with pytest.raises(ConfigError, match="host key checking cannot be disabled"):
        pull(channel(remote), settings)


# ---- incomplete files -------------------------------------------------------------------------------------


def test_growing_file_is_left_pending_then_taken(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, sshd.connection())
    (remote / "done.csv").write_bytes(b"complete\n")
    growing = remote / "growing.csv"
    growing.write_bytes(b"header\n")
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            with growing.open("ab") as f:
                f.write(b"row\n")
            time.sleep(0.02)

    thread = threading.Thread(target=writer)
    thread.start()
    ch = channel(remote, stability={"polls": 2, "interval_seconds": 0.3})
    try:
        records, events, _ = pull_and_register(ch, settings)
    finally:
        stop.set()
        thread.join()
    assert [r.file_name for r in records] == ["done.csv"]
    assert [(e.file_name, e.outcome) for e in events] == [("growing.csv", "pending")]
    assert "size or mtime changed between two polls" in events[0].reason
    assert [p["file_name"] for p in Catalog(settings.catalog_path).pending_files()] == ["growing.csv"]

    records, events, _ = pull_and_register(ch, settings)  # the writer has finished: taken now
    assert {r.file_name: r.file_id for r in records}["growing.csv"] == sha(growing.read_bytes())
    assert events == []
    assert Catalog(settings.catalog_path).pending_files() == []


def test_marker_policy_waits_for_the_marker_and_moves_both(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, sshd.connection())
    (remote / "a.csv").write_bytes(b"a\n")
    (remote / "a.csv.done").write_bytes(b"")
    (remote / "b.csv").write_bytes(b"b\n")
    ch = channel(
        remote, pattern="*", completion={"policy": "marker", "marker": "{name}.done"}, move_after_download="processed"
    )
    records, events, _ = pull_and_register(ch, settings)
    assert [r.file_name for r in records] == ["a.csv"]
    assert [(e.file_name, e.outcome, e.reason) for e in events] == [
        ("b.csv", "pending", "waiting for its completion marker b.csv.done")
    ]
    assert sorted(p.name for p in (remote / "processed").iterdir()) == ["a.csv", "a.csv.done"]
    assert sorted(p.name for p in remote.iterdir()) == ["b.csv", "processed"]

    (remote / "b.csv.done").write_bytes(b"")
    records, events, _ = pull_and_register(ch, settings)
    assert [r.file_name for r in records] == ["b.csv"] and events == []
    assert sorted(p.name for p in remote.iterdir()) == ["processed"]


def test_manifest_policy_checks_size_and_sha256(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, sshd.connection())
    good, bad, growing, unlisted = b"good\n", b"evil\n", b"grow\n", b"who\n"
    for name, data in {"good.csv": good, "bad.csv": bad, "growing.csv": growing, "unlisted.csv": unlisted}.items():
        (remote / name).write_bytes(data)
    manifest = {
        "files": [
            {"name": "good.csv", "size": len(good), "sha256": sha(good)},
            {"name": "bad.csv", "size": len(bad), "sha256": sha(b"good\n")},
            {"name": "growing.csv", "size": 100, "sha256": sha(b"x" * 100)},
        ]
    }
    (remote / "batch.manifest.json").write_text(json.dumps(manifest))
    ch = channel(remote, completion={"policy": "manifest"})
    records, events, counts = pull_and_register(ch, settings)
    assert [r.file_name for r in records] == ["good.csv"]
    outcome = {e.file_name: (e.outcome, e.reason) for e in events}
    assert outcome == {
        "bad.csv": ("quarantined", "SHA-256 differs from its manifest's"),
        "growing.csv": ("pending", "5 bytes, its manifest says 100 (still being written?)"),
        "unlisted.csv": ("pending", "not listed in a manifest yet"),
    }
    bad_event = next(e for e in events if e.file_name == "bad.csv")
    assert bad_event.quarantine_path and Path(bad_event.quarantine_path).read_bytes() == bad
    assert sha(bad) not in landed(settings, ch)


# ---- exactly once -----------------------------------------------------------------------------------------


def test_same_bytes_again_is_a_noop_and_new_bytes_under_the_same_name_are_quarantined(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, sshd.connection())
    ch = channel(remote)
    first = b"batch,5240\nline,1\n"
    (remote / "report.csv").write_bytes(first)
    _, _, counts = pull_and_register(ch, settings)
    assert counts["new"] == 1
    landed_first = dict(landed(settings, ch))

    (remote / "report_copy.csv").write_bytes(first)  # the same bytes under another name
    _, _, counts = pull_and_register(ch, settings)
    assert counts["new"] == 0 and counts["duplicate"] == 2

    second = b"batch,5240\nline,1\nline,2\n"  # new bytes under the ingested name
    (remote / "report.csv").write_bytes(second)
    records, events, counts = pull_and_register(ch, settings)
    assert counts["replaced"] == 1 and counts["new"] == 0
    assert [r.file_name for r in records] == ["report_copy.csv"]
    (replaced,) = events
    assert (replaced.outcome, replaced.file_id, replaced.previous_file_id) == ("replaced", sha(second), sha(first))
    assert replaced.quarantine_path and Path(replaced.quarantine_path).read_bytes() == second
    assert landed(settings, ch) == landed_first  # the processed file is untouched; nothing landed over it
    catalog = Catalog(settings.catalog_path)
    assert [f.file_id for f in catalog.files_of_channel(ch.id)] == [sha(first)]

    # polled again: reported again (not downloaded again), recorded once
    records, events, counts = pull_and_register(ch, settings)
    assert counts["replaced"] == 1
    (row,) = catalog.replaced_files(ch.id)
    assert (row["file_name"], row["previous_file_id"], row["times_seen"]) == ("report.csv", sha(first), 2)

    (remote / "report.csv").write_bytes(first)  # the provider puts the original back: a no-op again
    _, events, counts = pull_and_register(ch, settings)
    assert counts["duplicate"] == 2 and events == []


# ---- hostile names, symlinks, zero-byte and unreadable files --------------------------------------------


def test_hostile_names_and_symlinks_out_of_the_folder_are_refused(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_connection(monkeypatch, sshd.connection())
    (remote / "good.csv").write_bytes(b"good\n")
    (remote / "..\\..\\evil.csv").write_bytes(b"backslash\n")  # a real file whose name has backslashes
    (remote / "dots..csv").write_bytes(b"dots\n")
    outside = tmp_path / "secret.csv"
    outside.write_bytes(b"outside\n")
    (remote / "link_out.csv").symlink_to(outside)
    (remote / "link_in.csv").symlink_to(remote / "good.csv")

    # names a real file system cannot hold (slash, NUL, '..') come from a hostile server's listing
    real_listdir = paramiko.SFTPClient.listdir_attr

    def hostile_listdir(self: paramiko.SFTPClient, path: str = ".") -> list[paramiko.SFTPAttributes]:
        entries = real_listdir(self, path)
        for name in ("../../../etc/passwd.csv", "sub/evil.csv", "nul\x00.csv", ".."):
            attrs = paramiko.SFTPAttributes()
            attrs.filename, attrs.st_size, attrs.st_mode, attrs.st_mtime = name, 5, stat.S_IFREG | 0o644, 0
            entries.append(attrs)
        return entries

    monkeypatch.setattr(paramiko.SFTPClient, "listdir_attr", hostile_listdir)
    records, events, counts = pull_and_register(channel(remote), settings)
    assert sorted(r.file_name for r in records) == ["good.csv", "link_in.csv"]
    refused = {e.file_name: e.reason for e in events}
    assert refused == {
        "..\\\\..\\\\evil.csv": "name contains a backslash",
        "dots..csv": "name contains '..'",
        "link_out.csv": "symlink points outside the channel folder",
        "../../../etc/passwd.csv": "name contains a slash",
        "sub/evil.csv": "name contains a slash",
        "nul\\x00.csv": "name contains NUL",
        "..": "name contains '..'",
    }
    assert {e.outcome for e in events} == {"refused"} and counts["refused"] == 7
    assert landed(settings, channel(remote)) == {sha(b"good\n"): b"good\n"}
    assert not (settings.home.parent / "etc").exists()
    assert len(Catalog(settings.catalog_path).ingest_events(outcome="refused")) == 7


def test_zero_byte_and_unreadable_files_are_quarantined_with_a_reason(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, sshd.connection())
    (remote / "empty.csv").write_bytes(b"")
    (remote / "good.csv").write_bytes(b"good\n")
    locked = remote / "locked.csv"
    locked.write_bytes(b"locked\n")
    locked.chmod(0)
    records, events, counts = pull_and_register(channel(remote), settings)
    assert [r.file_name for r in records] == ["good.csv"]
    reasons = {e.file_name: (e.outcome, e.reason) for e in events}
    assert reasons["empty.csv"] == ("quarantined", "empty file (0 bytes)")
    if os.geteuid() == 0:  # the test server runs without the capability that lets root read anything
        assert reasons["locked.csv"][0] == "quarantined"
        assert reasons["locked.csv"][1] == "unreadable: downloading locked.csv: permission denied"
        assert counts["quarantined"] == 2
    assert leftovers(settings, channel(remote)) == []


# ---- move after download, receipts ------------------------------------------------------------------------


def test_moved_files_are_not_lost_when_the_pull_is_not_registered(
    sshd: SshServer, remote: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, sshd.connection())
    (remote / "sub").mkdir()
    (remote / "sub" / "deep.csv").write_bytes(b"deep\n")
    (remote / "top.csv").write_bytes(b"top\n")
    ch = channel(remote, recursive=True, move_after_download="processed")
    records, _ = pull(ch, settings)  # the task dies before the register step
    assert sorted(r.file_name for r in records) == ["deep.csv", "top.csv"]
    assert sorted(str(p.relative_to(remote)) for p in remote.rglob("*.csv")) == [
        "processed/sub/deep.csv",
        "processed/top.csv",
    ]
    records, events, counts = pull_and_register(ch, settings)  # the retry: the files are handed over
    assert sorted(r.file_name for r in records) == ["deep.csv", "top.csv"] and counts["new"] == 2
    records, events, counts = pull_and_register(ch, settings)
    assert records == [] and events == []
    assert list(ingest.receipts_dir(settings, ch.id).iterdir()) == []


# ---- secrets ----------------------------------------------------------------------------------------------


def test_secrets_never_reach_logs_or_errors(
    sshd: SshServer,
    remote: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    passphrase = "pass-phrase-Zq8!x"
    password = "pass-word-Vt3#y"
    keygen(tmp_path / "enc", passphrase)
    (sshd.root / "authorized_keys").write_text(
        sshd.user_key.with_suffix(".pub").read_text() + (tmp_path / "enc.pub").read_text()
    )
    (remote / "x.csv").write_bytes(b"x\n")
    conn = sshd.connection(private_key=(tmp_path / "enc").read_text(), private_key_passphrase=passphrase)
    conn["password"] = password
    caplog.set_level(logging.DEBUG)

    use_connection(monkeypatch, conn)
    records, _ = pull(channel(remote), settings)
    assert [r.file_name for r in records] == ["x.csv"]
    info = get_connection(CONN)
    assert password not in repr(info) and passphrase not in repr(info)

    errors: list[str] = []
    use_connection(monkeypatch, {**conn, "extra": {**conn["extra"], "private_key_passphrase": "wrong-" + passphrase}})
    with pytest.raises(ConfigError) as err:
        pull(channel(remote), settings)
    errors.append(str(err.value))
    use_connection(monkeypatch, {**conn, "extra": {"host_key": sshd.host_key_pub}})  # password only: rejected
    with pytest.raises(AuthError) as auth:
        pull(channel(remote), settings)
    errors.append(str(auth.value))
    assert "authentication failed for user" in errors[-1]

    for secret in (passphrase, password, (tmp_path / "enc").read_text().splitlines()[1]):
        assert secret not in caplog.text
        assert all(secret not in e for e in errors)


def test_transport_counts_one_session_per_pull(sshd: SshServer, remote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, sshd.connection())
    ch = channel(remote)
    for i in range(5):
        (remote / f"f{i}.csv").write_bytes(b"x" * (i + 1))
    with SftpTransport(ch.id, get_connection(CONN), str(remote), ch.retry, timeout=5) as transport:
        listing = transport.list_files()
        for f in listing.files:
            transport.read_small(f)
        assert transport.connections == 1
