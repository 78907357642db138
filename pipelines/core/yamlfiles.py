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


# libyaml's parser where PyYAML was built with it (the wheels are): the same documents, several times faster
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str) -> Any:
    """``yaml.safe_load`` of ``text``, through libyaml when PyYAML has it."""
    return yaml.load(text, Loader=_LOADER)  # a safe loader (libyaml's or PyYAML's own)


@functools.lru_cache(maxsize=_CACHED_DOCUMENTS)
def _parsed(text: str) -> Any:
    return parse(text)


def load_text(text: str) -> Any:
    """The document of ``text`` as ``yaml.safe_load`` gives it (and its ``yaml.YAMLError`` when not YAML)."""
    return copy.deepcopy(_parsed(text))


def load(path: Path) -> Any:
    """The document of the UTF-8 file ``path``."""
    return load_text(path.read_text(encoding="utf-8"))
