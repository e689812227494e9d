"""The scheduling model: thread states, CPU occupancy and wakeup sources.

``SchedLog`` collects the scheduling and interrupt events of the engine's
pass; ``SchedModel`` answers what a thread was doing over an interval.
The analyses (breakdown, critical path, blame graph) live in
``corr.analyses``.
"""

from .log import PROJECTION, SchedLog
from .model import SchedModel, Segment, Source

__all__ = ["SchedLog", "SchedModel", "Segment", "Source", "PROJECTION"]
