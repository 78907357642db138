"""Channel declarations: ``rules/channels/*.yaml``, one channel per file, validated on load."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class RulesError(ValueError):
    """A rules or channel file is invalid; the message names the file, the item and the field."""


class Settlement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cycle_business_days: int = Field(0, ge=0, le=30, description="T+N, in business days of the calendar")
    calendar: str | None = Field(None, description="ISO 3166 country code of the holiday calendar")
    model: Literal["gross", "net"] = "net"
    window_business_days: int = Field(
        3, ge=0, le=60, description="business days after which an unsettled order becomes a break"
    )


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    encoding: Literal["utf-8", "latin-1", "cp1252"] = "utf-8"


class Channel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    kind: Literal["orders", "psp", "bank", "reference"]
    description: str = ""
    transport: Literal["local", "sftp", "s3"] = "local"
    location: str = Field(description="folder (local), remote folder (sftp) or s3://bucket/prefix")
    pattern: str = "*"
    format: str
    timezone: str = "UTC"
    cutoff: dt.time = Field(dt.time(0, 0), description="local time at which the business day rolls over")
    currency: str | None = None
    settlement: Settlement = Settlement()
    csv: CsvOptions = CsvOptions()

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
        from pipelines.formats import registered

        if value not in registered():
            raise ValueError(f"unknown format {value!r}; known: {', '.join(sorted(registered()))}")
        return value

    def local_folder(self, base: Path) -> Path:
        path = Path(self.location)
        return path if path.is_absolute() else (base / path)


def _error_text(path: Path, item: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"{path}: {item}: field '{where}': {err['msg']}")
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
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
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
