"""Small builders shared by the format test modules: a channel context, a file written from text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.core.channels import Channel, CsvOptions
from pipelines.formats.base import ParseContext, ParseResult


def ctx(fmt: str, kind: str = "bank", timezone: str = "UTC", **csv: Any) -> ParseContext:
    channel = Channel(id="test_ch", kind=kind, location=".", format=fmt, timezone=timezone, csv=CsvOptions(**csv))
    return ParseContext(channel=channel, file_id="f" * 64, file_name="file")


def write(tmp_path: Path, text: str | bytes, name: str = "file.txt", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def rejects(result: ParseResult) -> list[tuple[int, str, str]]:
    return [(r["line_no"], r["field"], r["reason"]) for r in result.rejects.iter_rows(named=True)]


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Document><X>&lol2;</X></Document>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document><X>&xxe;</X></Document>
"""
