"""Modules imported at their first use instead of when a library imports them (``defer``)."""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


class Deferred(types.ModuleType):
    """Stands in ``sys.modules`` for a module until one of its attributes is used, then imports the module
    (once) and answers from it. What the import system reads of a module in ``sys.modules`` (``__spec__``,
    ``__name__``) is this object's own, so importing the name, or a name from its parent package, loads
    nothing; any other attribute (``__path__`` and ``__file__`` included) loads the module."""

    def __getattr__(self, attr: str) -> Any:
        real = self.__dict__.get("_deferred_module")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self._deferred_module = real
        return getattr(real, attr)


def defer(names: tuple[str, ...]) -> None:
    """Put a ``Deferred`` for each of ``names`` not imported yet into ``sys.modules`` (its parent package is
    imported now, as importing the module would)."""
    for name in names:
        if name not in sys.modules:
            parent = name.rpartition(".")[0]
            if parent:
                importlib.import_module(parent)
            sys.modules[name] = Deferred(name)
