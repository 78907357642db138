"""Rule files parsed once per content: an edit is always seen, however fast; callers never share a document."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.core import yamlfiles
from pipelines.core.channels import load_channels
from pipelines.core.config import PROJECT_ROOT
from pipelines.match.rules import RulesError, load_rules


def test_same_text_parsed_once_and_copied() -> None:
    text = "a: [1, 2]\nb: {c: x}\n"
    yamlfiles._parsed.cache_clear()
    first = yamlfiles.load_text(text)
    first["a"].append(3)
    first["b"]["c"] = "changed"
    second = yamlfiles.load_text(text)
    assert second == {"a": [1, 2], "b": {"c": "x"}}
    info = yamlfiles._parsed.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_invalid_yaml_raises_every_time() -> None:
    for _ in range(2):
        with pytest.raises(yaml.YAMLError):
            yamlfiles.load_text("a: [1, 2\n")


def _same_stat_rewrite(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` (same length) and put back the file's times: only the bytes differ."""
    assert len(old) == len(new)
    st = path.stat()
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def test_edited_rule_file_is_read_again(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    before = load_rules(rules)
    rule = before.files["10_orders_psp.yaml"].rules[0]
    assert rule.priority == 10
    _same_stat_rewrite(rules / "matching" / "10_orders_psp.yaml", "priority: 10", "priority: 11")
    after = load_rules(rules)
    assert after.files["10_orders_psp.yaml"].rules[0].priority == 11
    assert after.version_hash != before.version_hash


def test_edited_channel_file_is_read_again(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    path = rules / "channels" / "orders.yaml"
    assert "orders" in load_channels(rules)
    _same_stat_rewrite(path, "id: orders", "id: ordexs")
    assert set(load_channels(rules)) >= {"ordexs"} and "orders" not in load_channels(rules)


def test_broken_rule_file_still_named(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    load_rules(rules)
    path = rules / "matching" / "10_orders_psp.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n  - [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"10_orders_psp\.yaml: not valid YAML"):
        load_rules(rules)
