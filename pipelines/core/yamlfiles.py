"""The YAML files of a rules folder (channels, matching rules, break policy), parsed once per content.

A run reads its rules folder many times (every stage and worker builds its context from it) and the YAML
parser is pure Python: parsing dominated registering a channel's files. The cache is keyed by the text
itself, not the file's name or time, so a file edited between two reads is always parsed again, however
quickly it was rewritten; each caller gets its own copy of the document.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

_CACHED_DOCUMENTS = 256


@functools.lru_cache(maxsize=_CACHED_DOCUMENTS)
def _parsed(text: str) -> Any:
    return yaml.safe_load(text)


def load_text(text: str) -> Any:
    """The document of ``text`` as ``yaml.safe_load`` gives it (and its ``yaml.YAMLError`` when not YAML)."""
    return copy.deepcopy(_parsed(text))


def load(path: Path) -> Any:
    """The document of the UTF-8 file ``path``."""
    return load_text(path.read_text(encoding="utf-8"))
