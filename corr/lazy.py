"""Names a package exports, imported on first use.

``import corr`` (and ``import corr.rules``) must stay cheap: the command line
imports them for every command, and most commands need a few of their
names.  A package lists what it exports and where each lives; the module
``__getattr__`` this makes imports one the first time it is asked for, and
keeps it in the package's namespace (the next lookup is a plain one).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str],
                 on_import: Callable[[str], None] | None = None
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for module ``package``: ``exports`` maps each name to
    the module that defines it; ``on_import(module)`` runs after a name of that
    module is first imported."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        if on_import is not None:
            on_import(module)
        vars(sys.modules[package])[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(vars(sys.modules[package]).get("__all__", exports))

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
