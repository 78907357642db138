"""Real servers on loopback for the transport tests, and a TCP proxy that injects faults.

* ``SshServer``: Debian's OpenSSH ``sshd`` with its ``sftp-server`` subsystem, on a free 127.0.0.1 port, with
  a host key and a user key generated for the test, its own sshd_config (StrictModes no, AuthorizedKeysFile
  in the temporary folder). Run as root, it is started without the capabilities that let root read any
  file (``setpriv``), so a mode-000 file is really unreadable through it.
* ``FaultProxy``: forwards 127.0.0.1 TCP connections to a server; per connection it can cut the connection
  (RST) after N bytes from the server, stall after N bytes (stop forwarding, keep the sockets open), or
  invert one byte at a given offset.
* ``moto_server``: moto's S3 API server (``ThreadedMotoServer``) on a free loopback port.
* ``redis_server``: Debian's ``redis-server`` on a free loopback port, the Celery broker of the topology test.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SSHD = Path("/usr/sbin/sshd")
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_banner(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sshd did not come up")


def keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "recon-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@dataclass
class SshServer:
    root: Path
    port: int = 0
    user: str = field(default_factory=getpass.getuser)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host_key_pub(self) -> str:
        """The server's public host key, ``"<type> <base64>"``."""
        return " ".join((self.root / "host_ed25519.pub").read_text().split()[:2])

    @property
    def user_key(self) -> Path:
        return self.root / "user_ed25519"

    @property
    def data(self) -> Path:
        """A folder the server serves (the SFTP paths are the same as the local ones)."""
        return self.root / "data"

    def connection(self, port: int | None = None, **extra: Any) -> dict[str, Any]:
        """An Airflow connection (JSON form) for this server, key auth, host key pinned."""
        return {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": port or self.port,
            "login": self.user,
            "extra": {"private_key": self.user_key.read_text(), "host_key": self.host_key_pub, **extra},
        }

    def start(self) -> SshServer:
        if not SSHD.exists() or not SFTP_SERVER.exists():
            pytest.skip("openssh-server is not installed (bash .ci/ensure-system-packages installs it)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        keygen(self.root / "host_ed25519")
        keygen(self.user_key)
        shutil.copy(self.root / "user_ed25519.pub", self.root / "authorized_keys")
        self.port = free_port()
        config = self.root / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.root / 'host_ed25519'}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
                    "StrictModes no",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin yes",
                    "UsePAM no",
                    "MaxStartups 50",
                    f"Subsystem sftp {SFTP_SERVER}",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        cmd = [str(SSHD), "-D", "-e", "-f", str(config)]
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
            drop = "-dac_override,-dac_read_search"
            cmd = ["setpriv", "--bounding-set", drop, "--inh-caps", drop, *cmd]
        log = (self.root / "sshd.log").open("wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_banner(self.port, self.proc)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}: {(self.root / 'sshd.log').read_text()}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Fault:
    """What the proxy does to one connection (bytes counted from the server to the client)."""

    cut_after: int | None = None
    stall_after: int | None = None
    flip_at: int | None = None


class FaultProxy:
    """A loopback TCP proxy that applies ``faults`` in order: each connection gets the current fault, which
    is used up only once it fires (an HTTP/1.0 listing too short to reach a byte offset does not consume
    the fault meant for the download after it). When all are used, connections pass through untouched."""

    def __init__(self, upstream_port: int, faults: list[Fault] | None = None) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.faults = list(faults or [])
        self.connections = 0
        self.bytes_down = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._closed = False
        self._next = 0  # index of the fault not yet fired
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                fault = self.faults[self._next] if self._next < len(self.faults) else None
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, fault), daemon=True).start()

    @staticmethod
    def _reset(*socks: socket.socket) -> None:
        """Cut with a TCP RST. shutdown(SHUT_RD) first wakes the other pump's blocked recv, so the close
        really releases the socket (a close under a blocked recv would leave the connection open)."""
        for s in socks:
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RD)
            with contextlib.suppress(OSError):
                s.close()

    def _fired(self) -> None:
        with self._lock:
            self._next += 1

    def _pump(self, src: socket.socket, dst: socket.socket, fault: Fault | None) -> None:
        sent = 0
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            if fault is not None:
                limit = min(x for x in (fault.cut_after, fault.stall_after, sent + len(data)) if x is not None)
                if limit < sent + len(data):
                    data = data[: max(0, limit - sent)]
                if fault.flip_at is not None and sent <= fault.flip_at < sent + len(data):
                    i = fault.flip_at - sent
                    data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
                    self._fired()
            try:
                dst.sendall(data)
            except OSError:
                return
            sent += len(data)
            if fault is not None:
                self.bytes_down += len(data)
                if fault.cut_after is not None and sent >= fault.cut_after:
                    self._fired()
                    self._reset(src, dst)
                    return
                if fault.stall_after is not None and sent >= fault.stall_after:
                    self._fired()
                    return  # stop forwarding; the sockets stay open until the proxy closes

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        self._reset(*self._sockets)


@contextlib.contextmanager
def fault_proxy(upstream_port: int, faults: list[Fault] | None = None) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream_port, faults)
    try:
        yield proxy
    finally:
        proxy.close()


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


S3_KEY_ID = "AKIARECONTEST0000001"
S3_SECRET = "recon/test+secret/Key0123456789abcdefXYZ"  # a made-up value the tests search logs for


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
        config=Config(s3={"addressing_style": "path"}),
    )


def s3_connection_uri(endpoint: str) -> str:
    """The Airflow ``aws`` connection of the moto server, in URI form (values percent-encoded)."""
    from urllib.parse import quote

    return (
        f"aws://{quote(S3_KEY_ID, safe='')}:{quote(S3_SECRET, safe='')}@/"
        f"?region_name=eu-west-1&endpoint_url={quote(endpoint, safe='')}"
    )


REDIS_SERVER = Path("/usr/bin/redis-server")


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Debian's ``redis-server`` on a free loopback port, nothing persisted (its working folder ``folder``);
    yields its URL. Skips the test when it is not installed (``.ci/ensure-system-packages`` installs it)."""
    if not REDIS_SERVER.exists():
        pytest.skip("redis-server is not installed (bash .ci/ensure-system-packages installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [str(REDIS_SERVER), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    args += ["--dir", str(folder), "--logfile", str(folder / "redis.log")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                log = folder / "redis.log"
                raise RuntimeError(f"redis-server did not start: {log.read_text() if log.exists() else ''}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
