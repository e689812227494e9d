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
    return int(sorted_values[_rank(p, n) - 1])


def _rank(p: float, n: int) -> int:
    """The 1-based rank of the p-th nearest-rank percentile of n values."""
    return max(1, math.ceil(p / 100.0 * n))


CHUNK = 1 << 16          # values summed at a time: exact in 64 bits (see _exact_sums)
SORTED_UP_TO = 1 << 20   # fewer values than this: sorted (a copy), more: selected in passes
SLICE = 1 << 18          # values a pass reads at a time


def summarize(durations, threshold_ns: int | None = None, owned: bool = False) -> dict:
    """count, min, max, mean, stdev, p50/p90/p99 and how many exceed the threshold.

    ``owned``: ``durations`` is an int64 array the caller hands over, sorted
    in place.  The same numbers as :func:`summarize_pieces` gives for the same
    values in any pieces (every figure is exact, or one rounding of an exact one).
    """
    import numpy as np
    values = np.asarray(durations, dtype=np.int64)
    if not (owned and values.flags.writeable):
        values = values.copy()
    return summarize_pieces(lambda: iter((values,)), threshold_ns, _sortable=True)


def summarize_pieces(pieces, threshold_ns: int | None = None, _sortable: bool = False) -> dict:
    """:func:`summarize` of the values of ``pieces()`` (each call a new iterator of
    integer arrays), with no copy of all of them: a table of 15 million intervals
    keeps its durations in sealed pieces, and a sorted copy of them was 120 MB
    at the peak of a run.  Sums are exact integers; the percentiles are selected
    exactly, in a few passes over the pieces (:func:`_nth_smallest`)."""
    import numpy as np
    whole = pieces

    def pieces():        # a large piece read in slices: small temporaries, reused pages
        for part in whole():
            for at in range(0, len(part), SLICE):
                yield part[at:at + SLICE].astype(np.int64, copy=False)
    n, lo, hi, total, squares = 0, None, None, 0, 0
    for part in pieces():
        if not len(part):
            continue
        n += len(part)
        a, b = int(part.min()), int(part.max())
        lo, hi = (a, b) if lo is None else (min(lo, a), max(hi, b))
        s, q = _exact_sums(part)
        total += s
        squares += q
    out = {"count": n, "min_ns": None, "max_ns": None, "mean_ns": None, "stdev_ns": None,
           "p50_ns": None, "p90_ns": None, "p99_ns": None, "over_threshold": 0}
    if n == 0:
        return out
    ranks = [_rank(p, n) for p in (50, 90, 99)]
    if _sortable and n < SORTED_UP_TO:
        values = next(iter(whole()))
        values.sort()
        found = [int(values[r - 1]) for r in ranks]
        over = (int(n - np.searchsorted(values, threshold_ns, side="right"))
                if threshold_ns is not None else 0)
    else:
        found = _nth_smallest(pieces, ranks, lo, hi)
        over = (sum(int(np.count_nonzero(part > threshold_ns)) for part in pieces())
                if threshold_ns is not None else 0)
    # The sample variance from exact sums: (n * sum(x^2) - sum(x)^2) / (n (n - 1)).
    variance = (n * squares - total * total) / (n * (n - 1)) if n > 1 else None
    out.update(min_ns=lo, max_ns=hi, mean_ns=float(total / n),
               stdev_ns=math.sqrt(variance) if variance is not None else None,
               p50_ns=found[0], p90_ns=found[1], p99_ns=found[2], over_threshold=over)
    return out


def _exact_sums(values) -> tuple[int, int]:
    """The exact sum and sum of squares of int64 values, as Python ints.  Each value is
    cut into limbs of 21 bits (offset to be non-negative), whose products summed a
    chunk at a time stay within 64 bits (2**42 * CHUNK < 2**63)."""
    import numpy as np
    total = squares = 0
    bias = 1 << 63
    for at in range(0, len(values), CHUNK):
        part = values[at:at + CHUNK].view(np.uint64) + np.uint64(bias)   # x + 2**63, >= 0
        a = (part >> np.uint64(42)).astype(np.int64)
        b = ((part >> np.uint64(21)) & np.uint64(0x1FFFFF)).astype(np.int64)
        c = (part & np.uint64(0x1FFFFF)).astype(np.int64)
        sa, sb, sc = int(a.sum()), int(b.sum()), int(c.sum())
        n = len(part)
        s = (sa << 42) + (sb << 21) + sc                                   # sum of x + 2**63
        q = ((int(np.dot(a, a)) << 84) + (int(np.dot(a, b)) << 64) + (int(np.dot(a, c)) << 43)
             + (int(np.dot(b, b)) << 42) + (int(np.dot(b, c)) << 22) + int(np.dot(c, c)))
        # Back from the offset: sum x = s - n 2**63; sum x^2 = q - 2**64 s + n 2**126.
        total += s - n * bias
        squares += q - (s << 64) + n * (1 << 126)
    return total, squares


def _nth_smallest(pieces, ranks: list[int], lo: int, hi: int) -> list[int]:
    """The ``ranks``-th smallest (1-based) of the values of ``pieces()``, all in
    ``[lo, hi]``: each rank's range is narrowed by a histogram of 2**16 buckets a
    pass over the pieces, until a bucket is one value (two or three passes for
    durations of up to 2**48 ns)."""
    import numpy as np
    state = [[lo, hi, 0] for _ in ranks]          # per rank: its range, values below it
    found: list[int | None] = [None] * len(ranks)
    while True:
        todo = []
        for k, (a, b, below) in enumerate(state):
            if found[k] is not None:
                continue
            if a == b:
                found[k] = a
            else:
                todo.append((k, a, b, max(0, (b - a).bit_length() - 16)))
        if not todo:
            return found
        counts = [np.zeros(((state[k][1] - a) >> shift) + 1, dtype=np.int64)
                  for k, a, _, shift in todo]
        for part in pieces():
            for (k, a, b, shift), count in zip(todo, counts):
                mine = part[(part >= a) & (part <= b)]
                if len(mine):      # offsets from a, in 64 unsigned bits (b - a may not fit 63)
                    offset = (mine.view(np.uint64) - np.uint64(a % (1 << 64))) >> np.uint64(shift)
                    count += np.bincount(offset.astype(np.intp), minlength=len(count))
        for (k, a, b, shift), count in zip(todo, counts):
            below = state[k][2]
            cumulative = np.cumsum(count) + below
            bucket = int(np.searchsorted(cumulative, ranks[k], side="left"))
            state[k] = [a + (bucket << shift), min(b, a + ((bucket + 1) << shift) - 1),
                        below + (int(cumulative[bucket - 1]) - below if bucket else 0)]
