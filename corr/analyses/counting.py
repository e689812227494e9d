"""A count rule's figures: how many of its events, in all and per time window.

A count rule (``count:``, docs/rules.md) is matched as a span of zero
duration: each matching event is one row of its table, at its time.  Its
report is not durations but counts: the events in all, and with
``window:`` the trace cut into windows of that length from its first
event, the busiest window's count and the mean over every window (rates
per second beside them).
"""

from __future__ import annotations

import numpy as np

PER_WINDOW_LISTED = 100_000      # windows whose counts the rule's JSON lists, at most


def summarize_counts(times: np.ndarray, begin: int | None, end: int | None,
                     window_ns: int | None, listed: bool = False) -> dict:
    """``times`` (ns) counted: ``count``, and with ``window_ns`` the windows of the
    trace ``begin`` to ``end`` (``windows``, the last one may be shorter), the
    busiest one's count and start, the mean count a window and both as rates a
    second; ``listed``: with every window's count (``per_window``), up to
    :data:`PER_WINDOW_LISTED` windows (else None)."""
    n = int(len(times))
    out: dict = {"count": n}
    if window_ns is None:
        return out
    if begin is None or end is None:
        begin = int(times.min()) if n else 0
        end = int(times.max()) if n else begin
    windows = max(1, -(-(end - begin) // window_ns))
    # Only the windows that hold an event are counted: a window of 1 ns over an hour's
    # trace is 3.6e12 windows, almost all empty.
    at = np.clip((np.asarray(times, dtype=np.int64) - begin) // window_ns, 0, windows - 1)
    busy, counts = np.unique(at, return_counts=True)
    first = int(counts.argmax()) if n else 0            # the earliest of the busiest
    busiest, most = (int(busy[first]), int(counts[first])) if n else (0, 0)
    per_second = 1e9 / window_ns
    out.update(window_ns=window_ns, windows=windows, max_per_window=most,
               busiest_window_start_ns=begin + busiest * window_ns,
               mean_per_window=n / windows,
               max_per_second=most * per_second,
               mean_per_second=n / windows * per_second)
    if listed:
        per = None
        if windows <= PER_WINDOW_LISTED:
            per = np.zeros(windows, dtype=np.int64)
            per[busy] = counts
            per = per.tolist()
        out["per_window"] = per
    return out


__all__ = ["summarize_counts", "PER_WINDOW_LISTED"]
