"""Putting traces recorded by different tracers on one time base.

LTTng stamps events with CLOCK_MONOTONIC plus an offset to the Unix epoch
that it writes in the metadata (kernel and UST each sample their own, a
few microseconds apart).  perf's CTF conversion writes ``perf_clock`` with
offset 0: its values are raw CLOCK_MONOTONIC when recorded with
``-k CLOCK_MONOTONIC``.  babeltrace2's muxer refuses to mix such clocks, so
corr decides a shift per trace: every monotonic-based trace is put on the
offset of the first LTTng trace (the reference), which keeps wall-clock
times readable and orders kernel and user events of one machine exactly.
An explicit offset given by the user wins.
"""

from __future__ import annotations

import os

from .traceinfo import TraceInfo


def _is_lttng_monotonic(t: TraceInfo) -> bool:
    return (t.clock is not None and t.clock.name == "monotonic"
            and str(t.env.get("tracer_name", "")).startswith("lttng"))


def _is_perf(t: TraceInfo) -> bool:
    return t.env.get("tracer_name") == "perf" or (t.clock is not None and t.clock.name == "perf_clock")


def _ns(delta: int) -> str:
    return f"{delta:+,d} ns"


def align(traces: list[TraceInfo], explicit: dict[str, int] | None = None) -> None:
    """Set ``offset_ns`` and ``alignment`` on each trace."""
    explicit = explicit or {}
    reference = next((t for t in traces if _is_lttng_monotonic(t)), None)
    ref_offset = reference.clock.offset_ns if reference else None
    for t in traces:
        given = _explicit_for(t, explicit)
        if given is not None:
            t.offset_ns = given
            t.alignment = f"shifted by {_ns(given)} (given with --clock-offset)"
        elif reference is None or t is reference:
            t.offset_ns = 0
            t.alignment = ("reference time base" if t is reference and len(traces) > 1
                           else "as recorded")
        elif _is_lttng_monotonic(t):
            t.offset_ns = ref_offset - t.clock.offset_ns
            t.alignment = (f"monotonic, put on the reference's epoch offset "
                           f"({_ns(t.offset_ns)})")
        elif _is_perf(t) and t.clock is not None and t.clock.offset_ns == 0:
            t.offset_ns = ref_offset
            t.alignment = (f"perf_clock read as CLOCK_MONOTONIC, shifted by the reference's "
                           f"epoch offset ({_ns(ref_offset)})")
        else:
            t.offset_ns = 0
            t.alignment = "as recorded (clock not known to be monotonic: not aligned)"


def _explicit_for(t: TraceInfo, explicit: dict[str, int]) -> int | None:
    here = os.path.realpath(t.path)
    for key, value in explicit.items():
        k = os.path.realpath(key)
        if here == k or here.startswith(k.rstrip(os.sep) + os.sep):
            return value
    return None
