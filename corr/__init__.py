"""corr: pair entry/exit events into intervals, then explain the slow ones.

The pipeline, one sub-package per stage::

    reading -> normalise -> (engine -> scheduling model -> analyses) -> render -> cli

The public API is in :mod:`corr.api` and re-exported here (docs/library.md).  Names are
resolved on first use so that ``import corr.reading`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .lazy import lazy_exports

if TYPE_CHECKING:           # what a type checker sees; at run time, __getattr__ below
    from .analyses.inspection import Inspection
    from .analyses.tuning import TuningSession
    from .api import IntervalStream, check, events, inspect, record, run, stream, tune, write
    from .engine.filters import ThreadFilter
    from .engine.interval import Interval
    from .engine.intervals import STATUS_NAMES
    from .engine.result import RuleResult, RunResult
    from .errors import (CorrError, OutputError, OverrideError, RuleError, TraceDecodeError,
                         TraceError, UsageError)
    from .reading import Projection, TraceSet, open_traces
    from .record.session import Recording
    from .rules.model import RuleSet

__version__ = "0.1.0"

_API = ("run", "stream", "tune", "check", "inspect", "events", "write", "record",
        "IntervalStream")
_EXPORTS = {
    **dict.fromkeys(_API, "corr.api"),
    "RunResult": "corr.engine.result", "RuleResult": "corr.engine.result",
    "Interval": "corr.engine.interval", "STATUS_NAMES": "corr.engine.intervals",
    "TuningSession": "corr.analyses.tuning", "Inspection": "corr.analyses.inspection",
    "ThreadFilter": "corr.engine.filters", "RuleSet": "corr.rules.model",
    "Recording": "corr.record.session",
    "open_traces": "corr.reading", "TraceSet": "corr.reading", "Projection": "corr.reading",
    "CorrError": "corr.errors", "RuleError": "corr.errors", "TraceError": "corr.errors",
    "TraceDecodeError": "corr.errors", "UsageError": "corr.errors",
    "OverrideError": "corr.errors", "OutputError": "corr.errors",
}

__all__ = [*_EXPORTS, "__version__"]


def _resolve_api_annotations(module: str) -> None:
    """The types the API's annotations name, so that ``typing.get_type_hints`` works on
    what ``corr`` exports (corr.api itself leaves them: the CLI imports it)."""
    if module == "corr.api":
        importlib.import_module(module).resolve_annotations()


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _resolve_api_annotations)
