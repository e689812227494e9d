"""The scheduling model: thread states, CPU occupancy and wakeup sources.

``SchedLog`` collects the scheduling and interrupt events of the engine's
pass; ``SchedModel`` answers what a thread was doing over an interval.
The analyses (breakdown, critical path, blame graph) live in
``corr.analyses``.
"""

__all__ = ["SchedLog", "SchedModel", "Segment", "Source", "PROJECTION"]


def __getattr__(name):
    """The model's classes on first use: importing ``corr.sched.events`` stays light."""
    if name == "PROJECTION":
        from .events import PROJECTION
        return PROJECTION
    if name == "SchedLog":
        from .log import SchedLog
        return SchedLog
    if name in ("SchedModel", "Segment", "Source"):
        from . import model
        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
