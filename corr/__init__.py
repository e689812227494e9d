"""corr: pair entry/exit events into intervals, then explain the slow ones.

The pipeline, one sub-package per stage::

    reading -> normalise -> (engine -> scheduling model -> analyses) -> render -> cli

The public API is in :mod:`corr.api` and re-exported here.  Names are
resolved on first use so that ``import corr.reading`` stays cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "events": "corr.api", "inspect": "corr.api", "open_traces": "corr.reading",
    "Projection": "corr.reading", "CorrError": "corr.errors", "RuleError": "corr.errors",
    "TraceError": "corr.errors", "TraceDecodeError": "corr.errors", "UsageError": "corr.errors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'corr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
