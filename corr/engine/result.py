"""The result of ``corr run``: the one object every renderer reads.

It holds, per rule, the interval table, the outcome counts and the
statistics; renderers format it and never read a trace again.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from numpy import ndarray

from ..rules.model import Rule
from .interval import Interval
from .intervals import (COMPLETE, DEFAULT_REPORT, LATE, STATUS_NAMES, IntervalTable, measured,
                        reported, spill_rows)
from .stats import summarize, summarize_pieces

if TYPE_CHECKING:
    from pyarrow import Table as ArrowTable
else:
    ArrowTable = Any          # pyarrow is imported only when a table is asked for

FORMAT_VERSION = 2


class RuleResult:
    """What one rule found."""

    def __init__(self, rule: Rule, matcher):
        self.rule = rule
        self.name = rule.name
        self.intervals: IntervalTable = matcher.intervals
        self.outcomes = matcher.outcome_counts()
        self.group_values = list(matcher.groups)        # index -> group value
        self.threshold_ns = rule.threshold_ns
        # The statuses that may be slow (the rule's ``report:``).
        self.report = tuple(rule.report)
        # The scheduling join's findings (corr.analyses.scheduling), for rules with blame:.
        self.analysis = None
        # The traces' first and last events (RunResult sets them): a count rule's windows.
        self.trace_bounds: tuple[int | None, int | None] = (None, None)
        self._stats = None
        self._group_stats = None
        self._over_by_group = None       # per group, its intervals over the threshold
        self._group_sizes = None         # per group, its complete and late intervals

    def restrict(self, rows) -> None:
        """Keep only the intervals at ``rows`` (a thread filter's choice, in table order):
        statistics, groups, the accounting and the scheduling join then see those only.

        The accounting counts the kept intervals; entries the matching dropped
        (no interval, no thread) are left out, and ``filtered_out`` says how
        many intervals of other threads were.
        """
        import numpy as np
        from .filters import subset_table
        from .matcher import outcome_counts
        rows = np.asarray(rows, dtype=np.int64)
        left_out = len(self.intervals) - len(rows)
        table = subset_table(self.intervals, rows)
        groups = np.frombuffer(table.group, dtype=np.int32)
        if self.group_values and len(groups):
            # Only the groups that still have intervals, renumbered.
            used = np.unique(groups[groups >= 0])
            renumbered = np.where(groups >= 0, np.searchsorted(used, groups), groups)
            table.group = array("i", renumbered.astype(np.int32).tobytes())
            self.group_values = [self.group_values[i] for i in used.tolist()]
        elif self.group_values:
            self.group_values = []
        self.intervals = table
        # The expressions' errors are the pass's, whoever's intervals are kept.
        self.outcomes = outcome_counts(table, len(rows), {}, 0,
                                       self.outcomes.get("expression_errors") or {})
        self.outcomes["filtered_out"] = left_out
        self._stats = self._group_stats = self._over_by_group = self._group_sizes = None

    def _measured(self):
        """Durations of complete and late intervals (what stats count), a new array
        (``durations()`` makes one: kept as it is when every interval counts)."""
        durations = self.intervals.durations()
        counted = self.intervals.measured()
        return durations if counted.all() else durations[counted]

    @property
    def stats(self) -> dict:
        if self._stats is None:
            if self.intervals.spilled:       # read a piece at a time: no copy of them all
                found = summarize_pieces(self.intervals.measured_pieces(), self.threshold_ns)
            else:
                found = summarize(self._measured(), self.threshold_ns, owned=True)
            self._stats = self._with_outcomes(self._reported_over(found))
            _trim_after(len(self.intervals))
        return self._stats

    def _reported_over(self, stats: dict, group: int | None = None) -> dict:
        """``stats`` with ``over_threshold`` counting the intervals of every status the
        rule's ``report:`` names (summarize counts the complete and late ones): those of
        group ``group`` only (None: all)."""
        if self.report == DEFAULT_REPORT or self.threshold_ns is None:
            return stats
        if group is None:
            stats["over_threshold"] = sum(len(over) for over, _ in self._over_in_pieces())
        else:
            if self._over_by_group is None:
                import numpy as np
                counts = np.zeros(len(self.group_values), dtype=np.int64)
                threshold = self.threshold_ns
                for _, durations, statuses, columns in self.intervals.pieces(("group",)):
                    groups = columns["group"]
                    over = (durations > threshold) & reported(statuses, self.report) & (groups >= 0)
                    counts += np.bincount(groups[over], minlength=len(counts))
                self._over_by_group = counts
            stats["over_threshold"] = int(self._over_by_group[group])
        return stats

    def _with_outcomes(self, stats: dict) -> dict:
        o = self.outcomes
        stats.update(timeouts=o["timeouts"], late=o["late"], incomplete=o["incomplete"],
                     dropped=o["dropped"])
        return stats

    @property
    def groups(self) -> list[dict]:
        """Per group_by value: its statistics, most frequent first."""
        if self._group_stats is None:
            self._group_stats = self.top_groups(None)
        return self._group_stats

    @property
    def group_count(self) -> int:
        """The groups of the table: those with at least ``min_count`` intervals."""
        if not self.rule.group_by:
            return 0
        return len(self.group_values) - self.groups_left_out

    @property
    def groups_left_out(self) -> int:
        """How many groups have fewer intervals (complete and late) than the rule's
        ``min_count``: left out of :attr:`groups`."""
        if not self.rule.group_by or self.rule.min_count is None:
            return 0
        return int((self._sizes() < self.rule.min_count).sum())

    def _sizes(self):
        """Per group, its complete and late intervals (what its ``count`` says)."""
        if self._group_sizes is None:
            import numpy as np
            sizes = np.zeros(len(self.group_values), dtype=np.int64)
            for _, _, statuses, columns in self.intervals.pieces(("group",)):
                groups = columns["group"]
                sizes += np.bincount(groups[measured(statuses) & (groups >= 0)],
                                     minlength=len(sizes))
            self._group_sizes = sizes
        return self._group_sizes

    def _ranked(self, counts, keys, limit):
        """Group indexes most frequent first (ties by key), those with fewer than the
        rule's ``min_count`` intervals left out, the ``limit`` first (None: all)."""
        smallest = self.rule.min_count or 0
        kept = [i for i in range(len(counts)) if counts[i] >= smallest]
        return sorted(kept, key=lambda i: (-int(counts[i]), str(keys[i])))[:limit]

    def top_groups(self, limit: int | None) -> list[dict]:
        """The ``limit`` most frequent groups of :attr:`groups` (None: all), only
        theirs summarized: a text report shows 30 of what may be thousands."""
        if not self.rule.group_by:
            return []
        if self._group_stats is not None:
            return self._group_stats[:limit]
        if self.intervals.spilled:
            return self._groups_in_pieces(limit)
        import numpy as np
        # Each group's rows as one slice of a stable sort by group (in their
        # own order, as a mask would give them): one pass, not one a group,
        # and one sort for the durations and the statuses alike.
        n = len(self.group_values)
        table = self.intervals
        groups = np.frombuffer(table.group, dtype=np.int32)
        closed = table.statuses()
        counted = measured(closed)
        kept = groups[counted]
        counts = np.bincount(kept[kept >= 0], minlength=n).tolist()
        del kept
        keys = [plain_value(value) for value in self.group_values]
        order = self._ranked(counts, keys, limit)
        if len(order) * 8 < n or len(order) <= 64:
            # A few groups: each one's rows found alone, no sort of every row.
            def rows_of(index):
                return np.flatnonzero(groups == index)
        else:
            rows, starts = _group_order(groups, n)

            def rows_of(index):
                return rows[starts[index]:starts[index + 1]]
        # Per interval, its duration, status and whether it is measured, read through
        # each group's rows: no copy of each column in group order.
        durations = table.durations()
        out = []
        for index in order:
            mine_rows = rows_of(index)
            stats = self._reported_over(
                summarize(durations[mine_rows[counted[mine_rows]]], self.threshold_ns,
                          owned=True), index)
            mine = closed[mine_rows]
            stats.update(timeouts=int((mine == 2).sum()), late=int((mine == LATE).sum()),
                         incomplete=int((mine == 3).sum()))
            out.append({"key": keys[index], "stats": stats})
        del durations, closed, counted
        _trim_after(len(table))
        return out

    GROUP_VALUES_AT_ONCE = 1 << 22     # durations gathered for groups' statistics at once

    def _groups_in_pieces(self, limit: int | None) -> list[dict]:
        """:meth:`top_groups` of a table that spilled, read a piece at a time: counts in
        one pass, then the groups' durations gathered a few groups at a time (at most
        ``GROUP_VALUES_AT_ONCE`` values held), a larger group summarized straight
        from the pieces.  The same numbers: every figure is order-free."""
        import numpy as np
        n, table, threshold = len(self.group_values), self.intervals, self.threshold_ns
        by_status = np.zeros((4, n), dtype=np.int64)
        for _, _, statuses, columns in table.pieces(("group",)):
            groups = columns["group"]
            grouped = groups >= 0
            for status in range(4):
                by_status[status] += np.bincount(groups[grouped & (statuses == status)],
                                                 minlength=n)
        counts = by_status[COMPLETE] + by_status[LATE]
        keys = [plain_value(value) for value in self.group_values]
        order = self._ranked(counts, keys, limit)
        found: dict[int, dict] = {}

        def mine(wanted):
            """Per piece, the measured durations of the groups ``wanted`` (a bool mask by
            group), sorted by group: (their groups, their durations)."""
            for _, durations, statuses, columns in table.pieces(("group",)):
                groups = columns["group"]
                keep = measured(statuses) & (groups >= 0)
                keep[keep] = wanted[groups[keep]]
                by_group = np.argsort(groups[keep], kind="stable")
                yield groups[keep][by_group], durations[keep][by_group]

        batch, held = [], 0
        for index in order + [None]:
            size = int(counts[index]) if index is not None else 0
            if index is not None and size > self.GROUP_VALUES_AT_ONCE:
                wanted = np.zeros(n, dtype=bool)
                wanted[index] = True
                found[index] = summarize_pieces(lambda: (d for _, d in mine(wanted)), threshold)
                continue
            if batch and (index is None or held + size > self.GROUP_VALUES_AT_ONCE):
                wanted = np.zeros(n, dtype=bool)
                wanted[batch] = True
                parts: dict[int, list] = {g: [] for g in batch}
                for groups, durations in mine(wanted):
                    if not len(groups):
                        continue
                    cuts = np.flatnonzero(np.diff(groups)) + 1
                    for g, values in zip(groups[np.concatenate(([0], cuts))].tolist(),
                                         np.split(durations, cuts)):
                        if len(values):
                            parts[g].append(values)
                for g in batch:
                    values = (np.concatenate(parts.pop(g)) if parts[g]
                              else np.zeros(0, dtype=np.int64))
                    found[g] = summarize(values, threshold, owned=True)
                batch, held = [], 0
            if index is not None:
                batch.append(index)
                held += size
        out = []
        for index in order:
            stats = self._reported_over(found[index], index)
            stats.update(timeouts=int(by_status[2][index]), late=int(by_status[LATE][index]),
                         incomplete=int(by_status[3][index]))
            out.append({"key": keys[index], "stats": stats})
        _trim_after(len(table))
        return out

    def over_threshold(self, durations: ndarray | None = None) -> ndarray:
        """Where the intervals over the threshold are (a bool mask): those of the statuses
        the rule's ``report:`` names (complete and late by default) longer than it, those
        ``stats["over_threshold"]`` counts.  Timed-out and incomplete intervals, whose end
        the trace does not tell, are counted apart unless ``report:`` names them.
        Without a threshold: every interval of those statuses.
        ``durations``: the table's, when the caller has them already."""
        if durations is None:
            durations = self.intervals.durations()
        mine = self.reported_rows()
        return mine if self.threshold_ns is None else (durations > self.threshold_ns) & mine

    @property
    def counts(self) -> dict | None:
        """A count rule's figures (corr.analyses.counting): its events in all and per
        window, every window's count listed; None for other rules."""
        if not self.rule.is_count:
            return None
        import numpy as np
        from ..analyses.counting import summarize_counts
        return summarize_counts(np.frombuffer(self.intervals.start_ns, dtype=np.int64),
                                *self.trace_bounds, self.rule.window_ns, listed=True)

    def count_groups(self, limit: int | None) -> list[dict]:
        """:meth:`top_groups` of a count rule, each with its ``counts`` (its events in
        all and per window)."""
        import numpy as np
        from ..analyses.counting import summarize_counts
        out = self.top_groups(limit)
        if not out:
            return out
        table = self.intervals
        groups = np.frombuffer(table.group, dtype=np.int32)
        rows, starts = _group_order(groups, len(self.group_values))
        times = np.frombuffer(table.start_ns, dtype=np.int64)
        index = {repr(plain_value(v)): i for i, v in enumerate(self.group_values)}
        for g in out:
            i = index[repr(g["key"])]
            g["counts"] = summarize_counts(times[rows[starts[i]:starts[i + 1]]],
                                           *self.trace_bounds, self.rule.window_ns)
        return out

    def reported_rows(self) -> ndarray:
        """Where the intervals of the statuses the rule's ``report:`` names are (a mask)."""
        return reported(self.intervals.statuses(), self.report)

    def slowest(self, all_intervals: bool = False, top: int | None = None) -> ndarray:
        """The rows over the threshold (see :meth:`over_threshold`; ``all_intervals``:
        every row), slowest first, ties in table order; only the ``top`` first (None: all)."""
        import numpy as np
        table = self.intervals
        if self.rule.is_count and not all_intervals:
            return np.zeros(0, dtype=np.int64)        # events counted, none slow
        if all_intervals:
            durations = table.durations()
            index = np.arange(len(durations))
        elif table.spilled and top is not None and top > 0:
            return self._slowest_in_pieces(top)
        elif table.spilled:
            # A piece at a time: only the rows over the threshold and their durations.
            index, durations = (np.concatenate(c) for c in zip(*self._over_in_pieces()))
        else:
            durations = table.durations()
            index = np.flatnonzero(self.over_threshold(durations))
            durations = durations[index]
        if all_intervals:
            picked = durations
        else:
            picked, durations = durations, None       # those of ``index``, in its order
        if top is not None and 0 < top < len(index):
            # Only what can be among the ``top`` slowest is sorted: every row at least as
            # long as the top-th longest (rows ascending, so ties keep their order).
            kth = np.partition(picked, len(picked) - top)[len(picked) - top]
            keep = picked >= kth
            index, picked = index[keep], picked[keep]
        index = index[np.argsort(-picked, kind="stable")]
        return index if top is None else index[:top]

    def _slowest_in_pieces(self, top: int):
        """:meth:`slowest` ``top`` of a spilled table, a piece at a time: the ``top`` first
        of (the rows met so far, and the piece's over the threshold), slowest first,
        ties in table order, are all that is kept of a piece (the text's ten slowest
        of 3 million rows held 120 MB of them at once)."""
        import numpy as np
        index, durations = np.zeros(0, np.int64), np.zeros(0, np.int64)
        for rows, lengths in self._over_in_pieces():
            if not len(rows):
                continue
            index = np.concatenate((index, rows))
            durations = np.concatenate((durations, lengths))
            if len(index) > top:
                best = np.lexsort((index, ~durations))[:top]   # longest first, then by row
                index, durations = index[best], durations[best]
        return index[np.lexsort((index, ~durations))]

    def _over_in_pieces(self):
        """Per piece of the table, (its rows over the threshold, their durations): what
        :meth:`over_threshold` marks, without a copy of every duration."""
        import numpy as np
        for first, piece, statuses, _ in self.intervals.pieces():
            mine = reported(statuses, self.report)
            if self.threshold_ns is not None:
                mine &= piece > self.threshold_ns
            over = np.flatnonzero(mine)
            yield over + first, piece[over]

    def iter_intervals(self, all_intervals: bool = False, top: int | None = None,
                       encoded: bool = False, cut_paths: int | None = None,
                       stacks: bool = True) -> Iterator[dict[str, Any]]:
        """Intervals over the threshold (see :meth:`over_threshold`) or all, slowest first,
        one dict at a time; their explanations are computed a chunk at a time (one C
        call each), and none is kept beyond its chunk.  ``encoded`` (for the JSON
        renderers, through ``run_json.encoder``): a breakdown or critical path may be
        JSON already, written in C (``analyses.bulk.EncodedJSON``).  ``cut_paths``
        (for a renderer that shows a few segments): see
        ``RuleAnalysis.explained_rows``.  ``stacks``: False leaves a ``stacks: true``
        rule's code stacks out of the rows (a renderer that does not show them: the
        slowest intervals' paths meet 10^5 wakeups)."""
        selected = self.slowest(all_intervals, top)
        size = 2048
        table, window = self.intervals, max(1, len(selected))
        if table.spilled:                # a window of rows at a time, each chunk read once
            window = spill_rows()
        for at in range(0, len(selected), window):
            picked = selected[at:at + window]
            rows_of = table.gather(picked) if table.spilled else table
            for lo in range(0, len(picked), size):
                chunk = picked[lo:lo + size].tolist()
                local = range(lo, lo + len(chunk)) if table.spilled else chunk
                rows = rows_of.rows(local)
                if self.group_values:
                    for row, group in zip(rows, rows_of.groups_at(local)):
                        row["group"] = plain_value(self.group_values[group])
                else:
                    for row in rows:
                        row["group"] = None
                if self.analysis is not None:        # each explained as it is handed out
                    rows = self.analysis.explained_rows(chunk, rows, encoded, cut_paths,
                                                        stacks)
                yield from rows

    def interval_objects(self, all_intervals: bool = False,
                         top: int | None = None) -> Iterator[Interval]:
        """:meth:`iter_intervals` as typed, immutable :class:`Interval` objects (each
        explained, for a rule with ``blame:``): over the threshold (or all), slowest first."""
        for row in self.iter_intervals(all_intervals, top):
            yield Interval.of(self.name, row)

    def to_arrow(self) -> ArrowTable:
        """Every interval of the rule as a pyarrow Table (see :meth:`RunResult.intervals`)."""
        from .interval_arrow import arrow_table
        return arrow_table([self]).flatten()

    def selected_intervals(self, all_intervals: bool = False, top: int | None = None,
                           stacks: bool = True) -> list[dict]:
        """Intervals over the threshold (or all), slowest first (``stacks``: see
        :meth:`iter_intervals`)."""
        return list(self.iter_intervals(all_intervals, top, stacks=stacks))

    def interval(self, i: int, explained: bool = True) -> dict:
        """Interval ``i`` as a dict; ``explained``: with its breakdown and critical path
        (rules with blame:) and each thread called by one name."""
        row = self.intervals.row(i)
        row["group"] = (plain_value(self.group_values[self.intervals.groups_at([i])[0]])
                        if self.group_values else None)
        if explained and self.analysis is not None:
            self.analysis.explain_rows([i], [row])
        return row

    def to_dict(self, all_intervals: bool = False, with_intervals: bool = True) -> dict:
        rule = self.rule
        out = {
            **rule.to_dict(),
            "stats": self.stats,
            "outcomes": self.outcomes,
            "groups": self.count_groups(None) if rule.is_count else self.groups,
            **({"counts": self.counts} if rule.is_count else {}),
            **({"groups_left_out": self.groups_left_out}
               if rule.min_count is not None and rule.group_by else {}),
            "lossy_intervals": int(sum(self.intervals.lossy)),
        }
        if self.analysis is not None:
            out["blame"] = self.analysis.to_dict()
        if with_intervals:
            out["intervals"] = self.selected_intervals(all_intervals)
        return out


class RunResult:
    """Everything ``corr run`` found, for every rule."""

    def __init__(self, rules_path: str, rules: list[RuleResult], traces: list[dict],
                 events: int, begin_ns, end_ns, discards, warnings: list[str], stopped=None,
                 thread_filter=None):
        self.rules_path = rules_path
        self.rules = rules
        self.traces = traces
        self.events = events
        self.begin_ns = begin_ns
        self.end_ns = end_ns
        self.discards = discards
        self.warnings = warnings
        self.stopped = stopped
        # The ThreadFilter the rules' intervals were restricted to, or None.
        self.thread_filter = thread_filter or None
        for r in rules:
            r.trace_bounds = (self.trace_begin_ns, self.trace_end_ns)

    def rule(self, name: str) -> RuleResult:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def intervals(self, rule: str) -> ArrowTable:
        """Every interval of rule ``rule`` (every status), as a ``pyarrow.Table``: a row an
        interval in the order they were closed, typed columns as ``corr run -o x.parquet``
        writes them (``start_ns``, ``end_ns``, ``duration_ns``, ``tid`` int64; ``status``,
        ``comm`` strings; ``key.<part>`` and ``fields.<name>`` typed by their values),
        the ``fields`` struct flattened into its columns.  ``.to_pandas()`` or
        ``polars.from_arrow()`` make a DataFrame of it when those are installed."""
        return self.rule(rule).to_arrow()

    def interval_objects(self, rule: str, all_intervals: bool = False,
                         top: int | None = None) -> Iterator[Interval]:
        """Rule ``rule``'s intervals as :class:`Interval` objects, as the JSON output
        lists them (see :meth:`RuleResult.interval_objects`)."""
        return self.rule(rule).interval_objects(all_intervals, top)

    @property
    def trace_begin_ns(self) -> int | None:
        """Where relative times (``start``, timelines) count from: the traces' beginning,
        their first event of any class whatever the rules decoded, as ``corr inspect``'s
        ``begin`` (else the first event decoded)."""
        begins = [t["begin_ns"] for t in self.traces if t.get("begin_ns") is not None]
        return min(begins) if begins else self.begin_ns

    @property
    def trace_end_ns(self) -> int | None:
        """The traces' end: their last event of any class (as ``corr inspect``'s ``end``),
        or the last decoded."""
        ends = [t["end_ns"] for t in self.traces if t.get("end_ns") is not None]
        if self.end_ns is not None:
            ends.append(self.end_ns)
        return max(ends) if ends else None

    @property
    def discarded_events(self) -> int:
        return sum(d.count or 0 for d in self.discards if d.kind == "events")

    def to_dict(self, all_intervals: bool = False, with_intervals: bool = True) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "rules_file": self.rules_path,
            "traces": self.traces,
            "events": self.events,
            # The traces' first and last events (corr inspect's begin_ns and end_ns): where
            # every relative time counts from, not the first event the rules decoded.
            "begin_ns": self.trace_begin_ns,
            "end_ns": self.trace_end_ns,
            "discarded_events": self.discarded_events,
            "discards": [d._asdict() for d in self.discards],
            "warnings": self.warnings,
            "stopped": self.stopped,
            "thread_filter": self.thread_filter.to_dict() if self.thread_filter else None,
            "rules": [r.to_dict(all_intervals, with_intervals) for r in self.rules],
        }


def plain_value(value):
    """Group and key values as JSON can hold them."""
    if isinstance(value, tuple):
        return [plain_value(v) for v in value]
    return value


__all__ = ["RuleResult", "RunResult", "Interval", "STATUS_NAMES", "FORMAT_VERSION"]


def _trim_after(rows: int) -> None:
    """After work over millions of rows, the heap's freed blocks back to the system
    (glibc keeps arrays of a few MB on its heap, where freed ones stay counted):
    on 6M syscall intervals, 60 MB after the statistics."""
    if rows >= TRIM_ROWS:
        from .memory import release_freed_memory
        release_freed_memory()


TRIM_ROWS = 1 << 20


def _group_order(groups, n: int):
    """The stable order that sorts rows by group, and where each of the ``n`` groups starts."""
    import numpy as np
    # Group numbers in 16 bits when they fit: numpy's stable sort of 16-bit
    # integers is a radix sort (5x faster than for 32-bit ones here).
    if n < 2 ** 15 - 1 and len(groups) and groups.min() >= -1:
        groups = groups.astype(np.int16)
    order = np.argsort(groups, kind="stable")
    starts = np.searchsorted(groups[order], np.arange(n + 1)).tolist()
    if len(order) < 2 ** 31:
        order = order.astype(np.int32)    # what stays while each group is summarized
    return order, starts
