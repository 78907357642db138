"""The local-folder transport (the embedded default): same semantics as the remote ones, no network."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.core.channels import RetryPolicy
from pipelines.ingest.transports.base import (
    CHUNK,
    ConfigError,
    FileChanged,
    FileUnreadable,
    Listing,
    Refused,
    RemoteFile,
    Sink,
    TransientError,
    Transport,
    name_problem,
    printable,
)


class LocalTransport(Transport):
    kind = "local"
    trusts_identity = False  # local bytes are cheap to re-read: every pull hashes every file

    def __init__(
        self,
        channel_id: str,
        folder: Path,
        retry: RetryPolicy,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(channel_id, retry, sleep)
        self.folder = folder

    def describe(self) -> str:
        return f"folder {self.folder}"

    def source_path(self, f: RemoteFile) -> str:
        return str(self.folder.joinpath(*f.rel_path.split("/")))

    def _path(self, f: RemoteFile) -> Path:
        return self.folder.joinpath(*f.rel_path.split("/"))

    def _list(self, recursive: bool, skip_folders: frozenset[str]) -> Listing:
        if not self.folder.is_dir():
            raise ConfigError(f"channel {self.channel_id}: folder {self.folder} does not exist")
        root = self.folder.resolve()
        files: list[RemoteFile] = []
        refused: list[Refused] = []

        def walk(folder: Path, rel: str) -> None:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as exc:
                raise TransientError(f"{folder}: cannot list ({exc.strerror})") from None
            for entry in entries:
                name = entry.name
                rel_path = f"{rel}{name}"
                problem = name_problem(name)
                if problem:
                    refused.append(Refused(printable(rel_path), printable(name), problem))
                    continue
                if name.startswith("."):
                    continue  # hidden: uploads in progress, our own temporary files
                try:
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISLNK(st.st_mode):
                        target = Path(entry.path).resolve()
                        if not target.is_relative_to(root):
                            refused.append(
                                Refused(
                                    printable(rel_path), printable(name), "symlink points outside the channel folder"
                                )
                            )
                            continue
                        st = entry.stat(follow_symlinks=True)
                except OSError as exc:
                    refused.append(Refused(printable(rel_path), printable(name), f"cannot stat: {exc.strerror}"))
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if recursive and rel_path not in skip_folders:
                        walk(Path(entry.path), rel_path + "/")
                    continue
                if not stat.S_ISREG(st.st_mode):
                    refused.append(Refused(printable(rel_path), printable(name), "not a regular file"))
                    continue
                files.append(RemoteFile(rel_path=rel_path, size=st.st_size, mtime=st.st_mtime_ns / 1e9))

        walk(self.folder, "")
        return Listing(files=files, refused=refused)

    def _copy_to(self, f: RemoteFile, out: Sink) -> dict[str, Any]:
        path = self._path(f)
        try:
            with path.open("rb") as inp:
                while chunk := inp.read(CHUNK):
                    out.write(chunk)
        except PermissionError:
            raise FileUnreadable(f"{printable(f.rel_path)}: permission denied") from None
        except FileNotFoundError:
            raise FileChanged(f"{printable(f.rel_path)}: disappeared since listing") from None
        return {}

    def _move(self, f: RemoteFile, folder: str) -> str:
        dest = self.folder.joinpath(*folder.split("/"), *f.rel_path.split("/"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self._path(f), dest)
        except FileNotFoundError:
            raise FileChanged(f"{printable(f.rel_path)}: disappeared before it could be moved") from None
        return str(dest)
