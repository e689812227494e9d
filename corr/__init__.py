"""corr: pair entry/exit events into intervals, then explain the slow ones.

The pipeline, one sub-package per stage::

    reading -> normalise -> (engine -> scheduling model -> analyses) -> render -> cli

The public API is in :mod:`corr.api` and re-exported here.
"""

from .api import events, inspect
from .reading import open_traces
from .errors import CorrError, RuleError, TraceDecodeError, TraceError, UsageError
from .reading import Projection

__version__ = "0.1.0"

__all__ = ["events", "inspect", "open_traces", "Projection", "CorrError", "RuleError", "TraceError",
           "TraceDecodeError", "UsageError", "__version__"]
