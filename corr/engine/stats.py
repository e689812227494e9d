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


CHUNK = 1 << 16          # values summed at a time: exact in 64 bits (see _exact_sum)


def summarize(durations, threshold_ns: int | None = None, owned: bool = False) -> dict:
    """count, min, max, mean, stdev, p50/p90/p99 and how many exceed the threshold.

    ``owned``: ``durations`` is an int64 array the caller hands over, sorted
    in place (millions of durations: no copy beside them).  The mean is the
    exact sum divided once; the deviations are summed a chunk at a time, so
    that no float copy of every value is made either.
    """
    import numpy as np
    values = np.asarray(durations, dtype=np.int64)
    if owned and values.flags.writeable:
        values.sort()
    else:
        values = np.sort(values)
    n = int(values.size)
    out = {"count": n, "min_ns": None, "max_ns": None, "mean_ns": None, "stdev_ns": None,
           "p50_ns": None, "p90_ns": None, "p99_ns": None, "over_threshold": 0}
    if n == 0:
        return out
    mean = _exact_sum(values) / n
    out.update(
        min_ns=int(values[0]), max_ns=int(values[-1]), mean_ns=float(mean),
        stdev_ns=_sample_stdev(values, mean) if n > 1 else None,
        p50_ns=nearest_rank(values, 50), p90_ns=nearest_rank(values, 90),
        p99_ns=nearest_rank(values, 99))
    if threshold_ns is not None:
        out["over_threshold"] = int(n - np.searchsorted(values, threshold_ns, side="right"))
    return out


def _exact_sum(values) -> int:
    """The exact sum of int64 values: each split in its high and low 20 bits, summed a
    chunk at a time in 64 bits (no overflow: 2**43 * CHUNK < 2**63), added up as ints."""
    total = 0
    for at in range(0, len(values), CHUNK):
        part = values[at:at + CHUNK]
        total += (int((part >> 20).sum()) << 20) + int((part & 0xFFFFF).sum())
    return total


def _sample_stdev(values, mean: float) -> float:
    """The sample standard deviation, deviations squared and summed a chunk at a time."""
    import numpy as np
    squares = 0.0
    step = CHUNK * 16
    for at in range(0, len(values), step):
        deviation = values[at:at + step].astype(np.float64)
        deviation -= mean
        squares += float(np.dot(deviation, deviation))
    return math.sqrt(squares / (len(values) - 1))
