"""Small builders shared by the format test modules: a channel context, a file written from text."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pipelines.core.channels import Channel, CsvOptions
from pipelines.core.config import PROJECT_ROOT
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


def corpus_or_skip() -> Path:
    """The real-world sample files (``RECON_CORPUS``, default ``../shared/corpus``); the calling test module is
    skipped without them, or fails when ``RECON_REQUIRE_CORPUS=1`` (or ``CI=true``) says they must be there."""
    corpus = Path(os.environ.get("RECON_CORPUS", PROJECT_ROOT.parent / "shared" / "corpus"))
    if not corpus.is_dir():
        message = f"sample corpus not found at {corpus} (set RECON_CORPUS to its folder)"
        if os.environ.get("RECON_REQUIRE_CORPUS") == "1" or os.environ.get("CI") == "true":
            raise RuntimeError(message + "; RECON_REQUIRE_CORPUS/CI makes its absence a failure")
        pytest.skip(message, allow_module_level=True)
    return corpus
