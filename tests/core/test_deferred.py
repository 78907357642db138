"""``deferred.defer``: a module stands in ``sys.modules`` until one of its attributes is used."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipelines.core.deferred import Deferred, defer


def test_a_deferred_module_is_imported_once_at_its_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "deferpkg"
    (pkg / "charts").mkdir(parents=True)
    (pkg / "__init__.py").write_text("loaded = []\n")
    (pkg / "heavy.py").write_text("import deferpkg\ndeferpkg.loaded.append('heavy')\nVALUE = 42\n")
    (pkg / "charts" / "__init__.py").write_text("import deferpkg\ndeferpkg.loaded.append('charts')\n")
    (pkg / "charts" / "more.py").write_text("import deferpkg\ndeferpkg.loaded.append('more')\nKIND = 'bar'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("deferpkg", "deferpkg.heavy", "deferpkg.charts", "deferpkg.charts.more"):
        monkeypatch.delitem(sys.modules, name, raising=False)

    defer(("deferpkg.heavy", "deferpkg.charts"))
    import deferpkg
    from deferpkg import heavy

    assert isinstance(heavy, Deferred) and deferpkg.loaded == []  # imported by name: nothing run yet
    assert heavy.VALUE == 42 and deferpkg.loaded == ["heavy"]
    assert heavy.VALUE == 42 and deferpkg.loaded == ["heavy"]  # once
    assert not isinstance(sys.modules["deferpkg.heavy"], Deferred)
    import deferpkg.charts.more  # a submodule of a deferred package: the package is loaded first

    assert deferpkg.loaded == ["heavy", "charts", "more"] and deferpkg.charts.more.KIND == "bar"
