"""The SFTP transport (paramiko): one SSH session per pull, host key pinned, a timeout on every call.

Connection (Airflow ``sftp`` connection, the provider's extras where they exist):

* ``host``, ``port`` (22), ``login``; ``password`` and/or a key: extra ``private_key`` (the key text) or
  ``key_file`` (a path), with ``private_key_passphrase`` when the key is encrypted;
* the server's host key, pinned: extra ``host_key`` (``"ssh-ed25519 AAAA..."`` or the base64 blob alone)
  and/or a known_hosts file (channel ``sftp.known_hosts`` or extra ``known_hosts``). A server whose key is
  not pinned, or differs from the pinned key, is refused with a message giving both fingerprints. Host
  key checking cannot be turned off (``no_host_key_check`` is rejected).
"""

from __future__ import annotations

import base64
import io
import posixpath
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pipelines.core.channels import RetryPolicy
from pipelines.ingest.transports.base import (
    CHUNK,
    AuthError,
    ConfigError,
    FileChanged,
    FileUnreadable,
    HostKeyError,
    Listing,
    Refused,
    RemoteFile,
    Sink,
    TransientError,
    Transport,
    TransportError,
    name_problem,
    printable,
)
from pipelines.ingest.transports.connections import ConnectionInfo

if TYPE_CHECKING:
    import paramiko

PREFETCH_ABOVE = 1 << 16  # bytes; below, the prefetch thread costs more than it saves


def fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def parse_host_key(text: str) -> paramiko.PKey:
    """A public key from ``"<type> <base64>"`` (a known_hosts or .pub line without host) or the base64 alone."""
    import paramiko

    fields = text.split()
    blob_text = fields[1] if len(fields) >= 2 else (fields[0] if fields else "")
    try:
        blob = base64.b64decode(blob_text, validate=True)
        key_type = fields[0] if len(fields) >= 2 else paramiko.Message(blob).get_text()
        return paramiko.PKey.from_type_string(key_type, blob)
    except Exception:
        raise ConfigError("host_key is not a public key ('<type> <base64>' expected)") from None


def _load_private_key(conn: ConnectionInfo) -> paramiko.PKey | None:
    import paramiko

    passphrase = conn.extra.get("private_key_passphrase") or None
    text = conn.extra.get("private_key")
    key_file = conn.extra.get("key_file")
    if text:
        for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
            try:
                return cls.from_private_key(io.StringIO(str(text)), password=passphrase)
            except paramiko.PasswordRequiredException:
                raise ConfigError(
                    f"connection {conn.conn_id!r}: private_key is encrypted and has no passphrase"
                ) from None
            except (paramiko.SSHException, ValueError):
                continue
        raise ConfigError(
            f"connection {conn.conn_id!r}: private_key is not an Ed25519, ECDSA or RSA key, or its passphrase is wrong"
        )
    if key_file:
        try:
            return paramiko.PKey.from_path(str(key_file), password=passphrase)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise ConfigError(
                f"connection {conn.conn_id!r}: key_file cannot be loaded ({type(exc).__name__}; wrong passphrase?)"
            ) from None
    return None


class SftpTransport(Transport):
    kind = "sftp"

    def __init__(
        self,
        channel_id: str,
        conn: ConnectionInfo,
        folder: str,
        retry: RetryPolicy,
        *,
        known_hosts: str | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(channel_id, retry, sleep)
        if not conn.host:
            raise ConfigError(f"connection {conn.conn_id!r}: no host")
        if str(conn.extra.get("no_host_key_check", "false")).lower() == "true":
            raise ConfigError(f"connection {conn.conn_id!r}: host key checking cannot be disabled (no_host_key_check)")
        self.conn = conn
        self.host = conn.host
        self.port = conn.port or 22
        self.user = conn.login
        self.folder = folder.rstrip("/") or "/"
        self.known_hosts = known_hosts or conn.extra.get("known_hosts")
        self.timeout = timeout
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # ---- session -------------------------------------------------------------------------------------
    def describe(self) -> str:
        return f"sftp://{self.user or ''}@{self.host}:{self.port}{self.folder}"

    def source_path(self, f: RemoteFile) -> str:
        return f"sftp://{self.conn.conn_id}{self._remote(f)}"

    def _remote(self, f: RemoteFile) -> str:
        return posixpath.join(self.folder, f.rel_path)

    def _host_key_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def _session(self) -> paramiko.SFTPClient:
        if self._sftp is not None:
            return self._sftp
        import paramiko

        pinned = self.conn.extra.get("host_key")
        if not pinned and not self.known_hosts:
            raise HostKeyError(
                f"{self.describe()}: no host key pinned; set the connection's host_key extra or a known_hosts file"
            )
        where = f"{self.host}:{self.port}"

        class _Refuse(paramiko.MissingHostKeyPolicy):
            def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
                raise HostKeyError(
                    f"host key of {where} ({fingerprint(key)}) is not pinned: connection refused; "
                    "add it to the connection's host_key extra or the known_hosts file if it is the right server"
                )

        client = paramiko.SSHClient()
        if self.known_hosts:
            try:
                client.load_host_keys(str(self.known_hosts))
            except OSError as exc:
                raise ConfigError(f"known_hosts file {self.known_hosts}: {exc.strerror}") from None
        if pinned:
            key = parse_host_key(str(pinned))
            client.get_host_keys().add(self._host_key_name(), key.get_name(), key)
        client.set_missing_host_key_policy(_Refuse())
        pkey = _load_private_key(self.conn)
        try:
            client.connect(
                self.host,
                self.port,
                username=self.user,
                password=self.conn.password,
                pkey=pkey,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                channel_timeout=self.timeout,
                allow_agent=False,
                look_for_keys=False,
            )
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.timeout)  # type: ignore[union-attr]
        except BaseException as exc:
            client.close()
            if isinstance(exc, TransportError):
                raise
            if isinstance(exc, paramiko.BadHostKeyException):
                raise HostKeyError(
                    f"host key of {where} changed: the server offers {fingerprint(exc.key)}, "
                    f"the pinned key is {fingerprint(exc.expected_key)}: connection refused"
                ) from None
            if isinstance(exc, paramiko.AuthenticationException):
                raise AuthError(f"{self.describe()}: authentication failed for user {self.user!r}") from None
            if isinstance(exc, TimeoutError):
                raise TransientError(f"{self.describe()}: timed out connecting (after {self.timeout:g} s)") from None
            if isinstance(exc, paramiko.SSHException | EOFError | OSError):
                raise TransientError(f"{self.describe()}: cannot connect ({type(exc).__name__})") from None
            raise
        self._client, self._sftp = client, sftp
        self.connections += 1
        return sftp

    def _reset(self) -> None:
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        for closable in (sftp, client):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # closing a broken session must not hide the fault that broke it
                    pass

    @contextmanager
    def _op(self, what: str) -> Iterator[None]:
        """Map paramiko's and the socket's exceptions to the transport's."""
        import paramiko

        try:
            yield
        except TransportError:
            raise
        except PermissionError:
            raise FileUnreadable(f"{what}: permission denied") from None
        except FileNotFoundError:
            raise FileChanged(f"{what}: no such file") from None
        except TimeoutError:
            raise TransientError(f"{what}: timed out after {self.timeout:g} s") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise TransientError(f"{what}: connection lost ({type(exc).__name__})") from None

    # ---- operations ----------------------------------------------------------------------------------
    def _list(self, recursive: bool, skip_folders: frozenset[str]) -> Listing:
        sftp = self._session()
        try:
            with self._op(f"resolving {self.folder}"):
                root_real = sftp.normalize(self.folder)
        except FileChanged:
            raise ConfigError(f"{self.describe()}: remote folder does not exist") from None
        root_prefix = root_real.rstrip("/") + "/"
        files: list[RemoteFile] = []
        refused: list[Refused] = []

        def walk(folder: str, rel: str) -> None:
            with self._op(f"listing {folder}"):
                entries = sftp.listdir_attr(folder)
            for attrs in sorted(entries, key=lambda a: a.filename):
                name = attrs.filename
                rel_path = rel + name
                problem = name_problem(name)
                if problem:
                    refused.append(Refused(printable(rel_path), printable(name), problem))
                    continue
                if name.startswith("."):
                    continue  # hidden: uploads in progress
                full = posixpath.join(folder, name)
                mode = attrs.st_mode or 0
                if stat.S_ISLNK(mode):
                    try:
                        with self._op(f"resolving {printable(rel_path)}"):
                            target = sftp.normalize(full)
                            attrs = sftp.stat(full)
                    except (FileChanged, FileUnreadable):
                        refused.append(Refused(printable(rel_path), printable(name), "symlink that cannot be resolved"))
                        continue
                    if not target.startswith(root_prefix):
                        refused.append(
                            Refused(printable(rel_path), printable(name), "symlink points outside the channel folder")
                        )
                        continue
                    mode = attrs.st_mode or 0
                if stat.S_ISDIR(mode):
                    if recursive and rel_path not in skip_folders:
                        walk(full, rel_path + "/")
                    continue
                if not stat.S_ISREG(mode):
                    refused.append(Refused(printable(rel_path), printable(name), "not a regular file"))
                    continue
                mtime = float(attrs.st_mtime) if attrs.st_mtime is not None else None
                files.append(RemoteFile(rel_path=rel_path, size=int(attrs.st_size or 0), mtime=mtime))

        walk(self.folder, "")
        return Listing(files=files, refused=refused)

    def _copy_to(self, f: RemoteFile, out: Sink) -> dict[str, Any]:
        sftp = self._session()
        with self._op(f"downloading {printable(f.rel_path)}"):
            remote = sftp.open(self._remote(f), "rb")
            try:
                if f.size > PREFETCH_ABOVE:
                    remote.prefetch(f.size)  # pipelined reads: large files at full speed
                got = 0
                while chunk := remote.read(CHUNK):
                    out.write(chunk)
                    got += len(chunk)
                if got < f.size and int(sftp.stat(self._remote(f)).st_size or 0) == f.size:
                    # paramiko ends a read at EOF when the connection drops under a pipelined read; a file
                    # still of its listed size was not changed: the transfer broke
                    raise TransientError(
                        f"downloading {printable(f.rel_path)}: read ended after {got} of {f.size} bytes "
                        "(connection lost)"
                    )
            except BaseException:
                self._reset()  # the session is broken: drop it first, so closing the file does not wait on it
                raise
            finally:
                remote.close()
        return {}

    def _move(self, f: RemoteFile, folder: str) -> str:
        sftp = self._session()
        dest_dir = posixpath.join(self.folder, folder, f.folder) if f.folder else posixpath.join(self.folder, folder)
        dest = posixpath.join(dest_dir, f.name)
        with self._op(f"moving {printable(f.rel_path)}"):
            current = self.folder
            for part in posixpath.relpath(dest_dir, self.folder).split("/"):
                current = posixpath.join(current, part)
                try:
                    sftp.stat(current)
                except FileNotFoundError:
                    sftp.mkdir(current)
            sftp.posix_rename(self._remote(f), dest)
        return f"sftp://{self.conn.conn_id}{dest}"
