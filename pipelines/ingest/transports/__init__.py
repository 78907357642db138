"""Transports: where a channel's files come from (a local folder, an SFTP server, an S3 bucket).

``open_transport(channel, base)`` returns the channel's transport; all three share the interface of
``pipelines.ingest.transports.base.Transport`` (list, verified download, optional move after download).
Credentials are resolved here, inside the task that pulls the channel, never at DAG parse time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.core.channels import Channel
from pipelines.ingest.transports.base import (
    AuthError,
    ConfigError,
    Downloaded,
    FileChanged,
    FileUnreadable,
    HostKeyError,
    IntegrityError,
    Listing,
    Refused,
    RemoteFile,
    TransientError,
    Transport,
    TransportError,
    name_problem,
    printable,
)
from pipelines.ingest.transports.connections import ConnectionInfo, get_connection

__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectionInfo",
    "Downloaded",
    "FileChanged",
    "FileUnreadable",
    "HostKeyError",
    "IntegrityError",
    "Listing",
    "Refused",
    "RemoteFile",
    "TransientError",
    "Transport",
    "TransportError",
    "get_connection",
    "name_problem",
    "open_transport",
    "printable",
]


def open_transport(channel: Channel, base: Path, sleep: Callable[[float], None] | None = None) -> Transport:
    """The transport of a channel; ``base`` resolves a relative local folder. Connects on first use."""
    if channel.transport == "local":
        from pipelines.ingest.transports.local import LocalTransport

        return LocalTransport(channel.id, channel.local_folder(base), channel.retry, sleep)
    if channel.transport == "sftp":
        from pipelines.ingest.transports.sftp import SftpTransport

        assert channel.sftp is not None  # checked when the channel is loaded
        return SftpTransport(
            channel.id,
            get_connection(channel.sftp.connection_id),
            channel.remote_folder(),
            channel.retry,
            known_hosts=channel.sftp.known_hosts,
            timeout=channel.sftp.timeout_seconds,
            sleep=sleep,
        )
    if channel.transport == "s3":
        from pipelines.ingest.transports.s3 import S3Transport, make_client

        settings = channel.s3
        assert settings is not None  # set when the channel is loaded
        conn = get_connection(settings.connection_id) if settings.connection_id else None
        bucket, prefix = channel.s3_bucket_and_prefix()

        def client() -> Any:
            return make_client(
                conn,
                endpoint_url=settings.endpoint_url,
                region=settings.region,
                timeout=settings.timeout_seconds,
                addressing_style=settings.addressing_style,
            )

        return S3Transport(channel.id, client, bucket, prefix, channel.retry, page_size=settings.page_size, sleep=sleep)
    raise ConfigError(f"channel {channel.id}: unknown transport {channel.transport!r}")
