"""The matching engine: rules + canonical events -> intervals and statistics.

The whole pipeline that drives it (reading to analyses) is :mod:`corr.pipeline`.
"""

from __future__ import annotations

from .result import RuleResult, RunResult
from .plan import EventNames, projection_for, run_projection, unknown_event_warnings

__all__ = ["RunResult", "RuleResult", "Engine", "EventNames", "projection_for",
           "run_projection", "unknown_event_warnings"]


def __getattr__(name):
    """``Engine`` on first use: its imports (numpy, the C core) wait for the run."""
    if name == "Engine":
        from .runner import Engine
        return Engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
