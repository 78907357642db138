"""Channel declarations: ``rules/channels/*.yaml``, one channel per file, validated on load."""

from __future__ import annotations

import datetime as dt
import re
import sys
import zoneinfo
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from pipelines.core import money, yamlfiles
from pipelines.core.calendars import HINT as CALENDAR_HINT
from pipelines.core.calendars import unknown as unknown_calendar
from pipelines.formats.registry import get, registered


class RulesError(ValueError):
    """A rules or channel file is invalid; the message names the file, the item and the field."""


def _known_calendar(value: str | None) -> str | None:
    """A calendar name the ``holidays`` package knows (or None); a clear error otherwise."""
    why = unknown_calendar(value) if value is not None else None
    if why:
        raise ValueError(why)
    return value


class Settlement(BaseModel):
    """How a channel settles: cycle and window in business days of the holiday calendar of each currency (its
    own in ``calendars``, else the channel's ``calendar``), and the settlement model."""

    model_config = ConfigDict(extra="forbid")

    cycle_business_days: int = Field(0, ge=0, le=30, description="T+N, in business days of the currency's calendar")
    calendar: str | None = Field(
        None, description=f"holiday calendar of the channel (none: weekends only): {CALENDAR_HINT}"
    )
    calendars: dict[str, str] = Field(
        default_factory=dict,
        description="ISO 4217 currency -> the holiday calendar it settles on, e.g. {EUR: ECB, GBP: XLON}; "
        "other currencies: calendar",
    )
    model: Literal["gross", "net"] = "net"
    window_business_days: int = Field(
        3, ge=0, le=60, description="business days after which an unsettled order becomes a break"
    )

    @field_validator("calendar")
    @classmethod
    def _calendar(cls, value: str | None) -> str | None:
        return _known_calendar(value)

    @field_validator("calendars")
    @classmethod
    def _calendars(cls, value: dict[str, str]) -> dict[str, str]:
        errors = []
        for currency, calendar in value.items():
            why = unknown_calendar(calendar)
            if currency not in money.exponents():
                errors.append(f"{currency!r} is not an ISO 4217 currency code (with minor units)")
            elif why:
                errors.append(f"{currency}: {why}")
        if errors:
            raise ValueError("; ".join(errors))
        return value

    def calendar_for(self, currency: str | None) -> str | None:
        """The holiday calendar ``currency`` settles on: its own, else the channel's (None: weekends only)."""
        return self.calendars.get(currency or "", self.calendar)


class Deliveries(BaseModel):
    """The files a channel is expected to deliver for each business day; a day short of them is incomplete."""

    model_config = ConfigDict(extra="forbid")

    files_per_day: int = Field(1, ge=1, le=10_000, description="files expected for each business day, at least")
    days: Literal["business", "every_day"] = Field(
        "business", description="business days of the calendar (weekends and its holidays off), or every day"
    )
    calendar: str | None = Field(None, description="holiday calendar of the delivery days (default: settlement's)")
    by: dt.time | None = Field(None, description="local time (channel time zone) by which they are due")
    days_after: int = Field(0, ge=0, le=10, description="delivered this many days after the business day")

    @field_validator("calendar")
    @classmethod
    def _calendar(cls, value: str | None) -> str | None:
        return _known_calendar(value)


class DateWindow(BaseModel):
    """The plausible own dates of a channel's rows, around the business date of the run that reads them: a row
    with a date outside ``[run date - days_before, run date + days_after]`` (a year 9999 or 1970 from a
    broken export) is quarantined, naming the file, line, field, value and this window, instead of moving
    out of the day unseen."""

    model_config = ConfigDict(extra="forbid")

    days_before: int = Field(
        400, ge=0, le=36_600, description="days before the run's business date a row's date may lie, at most"
    )
    days_after: int = Field(
        31, ge=0, le=3_660, description="days after the run's business date a row's date may lie, at most"
    )

    def bounds(self, day: dt.date) -> tuple[dt.date, dt.date]:
        """The first and last plausible date for the run of ``day``."""
        return day - dt.timedelta(days=self.days_before), day + dt.timedelta(days=self.days_after)


class ReferenceLimits(BaseModel):
    """What a reference (order id, PSP reference, end-to-end id, payout id...) may hold: no control or
    invisible formatting character, at most ``max_chars`` characters; a row breaking this is quarantined."""

    model_config = ConfigDict(extra="forbid")

    max_chars: int = Field(256, ge=1, le=100_000, description="characters a reference may have, at most")


class OrderTimeouts(BaseModel):
    """How long an order of the channel may stay ``pending`` in the order system, per direction, counted from
    its creation (``created_at``) to the instant that closes the run's business date (the channel's cut-off in
    its time zone); past it, the order is an ``order_timeout`` break with an order-feedback row. A direction
    left out never times out (its pending orders follow the settlement window only)."""

    model_config = ConfigDict(extra="forbid")

    payin_minutes: int | None = Field(
        None, ge=1, le=525_600, description="minutes a pending pay-in may stay pending, at most (365 days)"
    )
    withdrawal_minutes: int | None = Field(
        None, ge=1, le=525_600, description="minutes a pending withdrawal may stay pending, at most (365 days)"
    )

    def minutes(self, direction: str) -> int | None:
        """The timeout of ``direction`` (payin | withdrawal) in minutes, or None when it has none."""
        return {"payin": self.payin_minutes, "withdrawal": self.withdrawal_minutes}.get(direction)


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    encoding: Literal["utf-8", "latin-1", "cp1252"] = "utf-8"
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="column the format reads -> its header in the file, for extracts whose headers differ",
    )

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        mapped = {name.strip(): header.strip() for name, header in value.items()}
        if "" in mapped:
            raise ValueError("a column name is empty")
        empty = [name for name, header in mapped.items() if not header]
        if empty:
            raise ValueError(f"empty header for column(s) {', '.join(empty)}")
        if len(mapped) < len(value):
            raise ValueError("a column is named twice (names are compared without surrounding blanks)")
        by_header: dict[str, list[str]] = {}
        for name, header in mapped.items():
            by_header.setdefault(header, []).append(name)
        repeated = [f"{header!r} ({', '.join(names)})" for header, names in by_header.items() if len(names) > 1]
        if repeated:
            raise ValueError(f"one header given to several columns: {'; '.join(repeated)}")
        return mapped

    @model_validator(mode="after")
    def _columns_of_format(self, info: ValidationInfo) -> CsvOptions:
        """Every mapped column is one the channel's format reads by name (its module's ``CSV_COLUMNS``).

        Validated as a channel's ``csv`` block, ``info.data`` holds the channel's fields declared before it,
        ``format`` among them (absent when the format itself is invalid); built alone, there is no format.
        """
        fmt = info.data.get("format") if self.columns and info.field_name == "csv" and info.data else None
        if fmt is None:
            return self
        parser = get(fmt)
        readable = getattr(sys.modules[parser.__module__], "CSV_COLUMNS", {}).get(fmt, ())
        if not readable:
            raise ValueError(f"csv.columns: format {fmt} takes no column mapping")
        unknown = [name for name in self.columns if name not in readable]
        if unknown:
            raise ValueError(
                f"csv.columns: unknown column(s) {', '.join(repr(n) for n in unknown)} for format {fmt}; "
                f"it reads {', '.join(readable)}"
            )
        return self


_CONNECTION_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,249}$"
_FOLDER_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$")


class RetryPolicy(BaseModel):
    """Bounded exponential backoff for network operations of one pull (listing, download, move)."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(4, ge=1, le=10, description="tries per operation, the first one included")
    backoff_seconds: float = Field(0.5, ge=0, le=60, description="wait before the second try; doubled each time")
    max_backoff_seconds: float = Field(8.0, ge=0, le=300, description="upper bound of one wait, in seconds")

    def delays(self) -> list[float]:
        """The waits between tries: exponential, bounded by ``max_backoff_seconds``."""
        return [min(self.max_backoff_seconds, self.backoff_seconds * 2**i) for i in range(self.attempts - 1)]


class Stability(BaseModel):
    """Stable-size polling: a file is taken only when its size and mtime agree across ``polls`` listings."""

    model_config = ConfigDict(extra="forbid")

    polls: int = Field(1, ge=1, le=10, description="listings that must agree; 1 = take what the first listing shows")
    interval_seconds: float = Field(2.0, ge=0, le=600, description="wait between two listings, in seconds")


class Completion(BaseModel):
    """When is a remote file complete: always (none), when a sibling marker exists, or when a manifest lists it."""

    model_config = ConfigDict(extra="forbid")

    policy: Literal["none", "marker", "manifest"] = "none"
    marker: str = Field(
        "{name}.done",
        description="sibling marker file name; {name} is the data file's name, {stem} its name without the last suffix",
    )
    manifest_pattern: str = Field(
        "*.manifest.json",
        description='glob of manifest files: JSON {"files": [{"name", "size", "sha256"}]} for files of their folder',
    )

    @field_validator("marker")
    @classmethod
    def _marker(cls, value: str) -> str:
        if "{name}" not in value and "{stem}" not in value:
            raise ValueError("a marker name must contain {name} or {stem}, e.g. '{name}.done' or '{stem}.ok'")
        rest = value.replace("{name}", "").replace("{stem}", "")
        if not rest or any(c in rest for c in "/\\{}*?[]") or ".." in rest:
            raise ValueError(f"marker {value!r}: only a plain suffix or prefix may surround {{name}}/{{stem}}")
        return value

    def marker_for(self, file_name: str) -> str:
        stem = file_name.rsplit(".", 1)[0] if "." in file_name.lstrip(".") else file_name
        return self.marker.replace("{name}", file_name).replace("{stem}", stem)

    def marker_glob(self) -> str:
        return self.marker.replace("{name}", "*").replace("{stem}", "*")


class SftpSource(BaseModel):
    """An SFTP source: the connection (host, user, key or password, pinned host key) and the remote folder."""

    model_config = ConfigDict(extra="forbid")

    connection_id: str = Field(pattern=_CONNECTION_ID, description="Airflow connection id (AIRFLOW_CONN_<ID>)")
    folder: str | None = Field(None, description="remote folder; default: the channel's location")
    known_hosts: str | None = Field(
        None, description="known_hosts file that pins the server's key; default: the connection's host_key extra"
    )
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="timeout of every network operation, in seconds")


class S3Source(BaseModel):
    """An S3 (or S3-compatible) source: bucket and prefix, endpoint and region, credentials."""

    model_config = ConfigDict(extra="forbid")

    connection_id: str | None = Field(
        None, pattern=_CONNECTION_ID, description="Airflow connection id; none: the standard AWS credential chain"
    )
    bucket: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="default: from an s3:// location"
    )
    prefix: str | None = Field(None, description="key prefix of the channel's objects; default: from the location")
    endpoint_url: str | None = Field(None, pattern=r"^https?://", description="S3-compatible endpoint")
    region: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    page_size: int = Field(1000, ge=1, le=1000, description="keys per listing page")
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="connect and read timeout, in seconds")


class Channel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    kind: Literal["orders", "psp", "bank", "rail", "reference"]
    description: str = ""
    transport: Literal["local", "sftp", "s3"] = "local"
    location: str | None = Field(
        None, description="folder (local), remote folder (sftp) or s3://bucket/prefix (s3), unless the block says"
    )
    pattern: str = "*"
    recursive: bool = Field(False, description="also list the sub-folders of the channel's folder or prefix")
    sftp: SftpSource | None = None
    s3: S3Source | None = None
    completion: Completion = Completion()
    stability: Stability | None = Field(
        None, description="default: two listings 2 s apart for sftp (files may still be written), one otherwise"
    )
    retry: RetryPolicy = RetryPolicy()
    move_after_download: str | None = Field(
        None, description="sub-folder of the channel's folder a verified file is moved to, e.g. 'processed'"
    )
    format: str
    timezone: str = "UTC"
    cutoff: dt.time = Field(dt.time(0, 0), description="local time at which the business day rolls over")
    currency: str | None = None
    settlement: Settlement = Settlement()
    deliveries: Deliveries | None = Field(None, description="expected files per business day (completeness)")
    dates: DateWindow = Field(DateWindow(), description="plausible own dates of the rows, around the run's date")
    references: ReferenceLimits = Field(ReferenceLimits(), description="what a reference field may hold")
    order_timeouts: OrderTimeouts | None = Field(
        None, description="minutes an order of the channel may stay pending, per direction (order_timeout break)"
    )
    csv: CsvOptions = CsvOptions()

    @field_validator("move_after_download")
    @classmethod
    def _move_folder(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.strip("/").split("/")
        if not all(_FOLDER_PART.match(p) and p not in (".", "..") for p in parts):
            raise ValueError(f"{value!r}: a relative folder of plain names (letters, digits, '.', '_', '-')")
        return "/".join(parts)

    @model_validator(mode="after")
    def _transport_settings(self) -> Channel:
        blocks = {"sftp": self.sftp, "s3": self.s3}
        for name, block in blocks.items():
            if block is not None and self.transport != name:
                raise ValueError(f"field '{name}': only allowed with transport {name} (transport is {self.transport})")
        if self.transport == "local" and not self.location:
            raise ValueError("field 'location': a local channel needs its folder")
        if self.transport == "sftp":
            if self.sftp is None:
                raise ValueError("field 'sftp': an sftp channel needs an sftp block with its connection_id")
            if not (self.sftp.folder or self.location):
                raise ValueError("field 'sftp.folder': an sftp channel needs its remote folder (or a location)")
        if self.transport == "s3":
            if self.s3 is None:
                self.s3 = S3Source()
            if not self.s3.bucket and not (self.location or "").startswith("s3://"):
                raise ValueError("field 's3.bucket': an s3 channel needs a bucket (or a location s3://bucket/prefix)")
        return self

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:

        if value not in registered():
            raise ValueError(f"unknown format {value!r}; known: {', '.join(sorted(registered()))}")
        return value

    def local_folder(self, base: Path) -> Path:
        path = Path(self.location or ".")
        return path if path.is_absolute() else (base / path)

    def remote_folder(self) -> str:
        """The SFTP folder of the channel."""
        folder = (self.sftp.folder if self.sftp else None) or self.location or "."
        return folder.rstrip("/") or "/"

    def s3_bucket_and_prefix(self) -> tuple[str, str]:
        """Bucket and key prefix (empty, or ending with '/') of an s3 channel."""
        bucket = self.s3.bucket if self.s3 else None
        prefix = self.s3.prefix if self.s3 else None
        if self.location and self.location.startswith("s3://"):
            loc_bucket, _, loc_prefix = self.location[len("s3://") :].partition("/")
            bucket = bucket or loc_bucket
            prefix = loc_prefix if prefix is None else prefix
        prefix = (prefix or "").lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return bucket or "", prefix

    def effective_stability(self) -> Stability:
        if self.stability is not None:
            return self.stability
        return Stability(polls=2) if self.transport == "sftp" else Stability(polls=1)


def _error_text(path: Path, item: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if where:
            lines.append(f"{path}: {item}: field '{where}': {err['msg']}")
        else:  # a check across fields names its field in the message
            lines.append(f"{path}: {item}: {err['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def load_channels(rules_dir: Path) -> dict[str, Channel]:
    """Load every channel of ``rules_dir/channels``; raise RulesError naming file and field."""
    folder = rules_dir / "channels"
    if not folder.is_dir():
        raise RulesError(f"{folder}: channels folder is missing")
    channels: dict[str, Channel] = {}
    errors: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw = yamlfiles.load(path)
        except yaml.YAMLError as exc:
            errors.append(f"{path}: not valid YAML: {exc}")
            continue
        if not isinstance(raw, dict):
            errors.append(f"{path}: a channel file holds one mapping")
            continue
        item = f"channel {raw.get('id', '?')}"
        try:
            ch = Channel.model_validate(raw)
        except ValidationError as exc:
            errors.append(_error_text(path, item, exc))
            continue
        if ch.id in channels:
            errors.append(f"{path}: {item}: field 'id': duplicate channel id")
            continue
        channels[ch.id] = ch
    if errors:
        raise RulesError("\n".join(errors))
    if not channels:
        raise RulesError(f"{folder}: no channel declared")
    return channels


SAFE_NAME = re.compile(r"^[A-Za-z0-9._-][A-Za-z0-9._ -]{0,254}$")
