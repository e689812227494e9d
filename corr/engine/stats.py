"""Latency statistics over a set of durations.

Conventions, fixed because they are compared with other tools:

- the standard deviation is the *sample* one (n - 1 in the denominator),
  None below two values, as lttng-analyses prints it;
- percentiles are *nearest-rank*: p is the smallest value such that at
  least p% of the values are at or below it, so every percentile is a
  duration that really happened.
"""

from __future__ import annotations

import math


def nearest_rank(sorted_values, p: float):
    """The p-th percentile (0 < p <= 100) of already sorted values."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, math.ceil(p / 100.0 * n))
    return int(sorted_values[rank - 1])


def summarize(durations, threshold_ns: int | None = None) -> dict:
    """count, min, max, mean, stdev, p50/p90/p99 and how many exceed the threshold."""
    import numpy as np
    values = np.sort(np.asarray(durations, dtype=np.int64))
    n = int(values.size)
    out = {"count": n, "min_ns": None, "max_ns": None, "mean_ns": None, "stdev_ns": None,
           "p50_ns": None, "p90_ns": None, "p99_ns": None, "over_threshold": 0}
    if n == 0:
        return out
    as_float = values.astype(np.float64)
    out.update(
        min_ns=int(values[0]), max_ns=int(values[-1]),
        mean_ns=float(as_float.mean()),
        stdev_ns=float(as_float.std(ddof=1)) if n > 1 else None,
        p50_ns=nearest_rank(values, 50), p90_ns=nearest_rank(values, 90),
        p99_ns=nearest_rank(values, 99))
    if threshold_ns is not None:
        out["over_threshold"] = int(n - np.searchsorted(values, threshold_ns, side="right"))
    return out
