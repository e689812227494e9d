"""Matchers backed by the C core (``_core.c``), when it was built.

``CoreMatcher`` has the interface of :class:`~corr.engine.matcher.Matcher`
and its exact semantics (tests/test_core_matcher.py compares the two on
random event streams); the engine's walk over a batch runs in C too
(``run_batch``).  Without the extension, or with ``CORR_ENGINE=python``,
the engine uses the Python matcher.
"""

from __future__ import annotations

from collections import Counter

from .intervals import IntervalTable, spill_rows
from .matcher import ExpressionErrors, outcome_counts

try:
    from . import _core
except ImportError:           # not built: the Python matcher runs
    _core = None


# Rule side kinds, as run_batch's feeds give them.
ENTRY, EXIT, CANCEL, SPAN, STEP = range(5)
OCCURS = {"may": 0, "must": 1, "must_not": 2}


def available() -> bool:
    """Whether the engine should use the C core (see corr.accelerators)."""
    from ..accelerators import enabled
    return _core is not None and enabled("engine")


class CoreMatcher:
    """One rule's state while the trace is walked in time order (in C).

    ``pair`` is None, ``(side, index, side, index)`` for ``entry.x ==
    exit.y`` on captured values, or a callable ``(entry values, exit
    values, duration) -> bool``; ``group`` is None, ``("key",)``, ``("key",
    i)``, ``("entry", i)``, ``("exit", i)`` or a callable ``(entry values,
    exit values, key, duration) -> value``.

    ``steps`` and ``value_names``: a rule with steps, as
    :class:`~corr.engine.sequence.SequenceMatcher` takes them (its Python
    reference; tests/test_sequences.py compares the two).
    """

    def __init__(self, name: str, key_names: list[str], match: str = "nest",
                 timeout_ns: int | None = None, pair=None, group=None,
                 field_names: tuple = (), entry_names: tuple = (), exit_names: tuple = (),
                 names: dict | None = None, steps=(), value_names=None):
        self.name = name
        self.key_names = key_names
        self.field_names = tuple(field_names)
        self.entry_names = tuple(entry_names)
        self.exit_names = tuple(exit_names)
        self.groups: dict[object, int] = {} if group is not None else {None: 0}
        # With steps, an exit's values are followed by the steps' (value_names).
        value_names = tuple(value_names) if value_names is not None else self.exit_names
        sources = [(1, value_names.index(n)) if n in value_names else
                   (0, self.entry_names.index(n)) if n in self.entry_names else (None, None)
                   for n in self.field_names]
        self.core = _core.Core(match, timeout_ns, pair, group, sources, self.groups, names)
        self.timeout_ns = timeout_ns
        self.group_spec = group
        self.field_sources = sources
        self.entry = self.core.entry
        self.exit = self.core.exit
        self.span = self.core.span
        self.cancel = self.core.cancel
        self.step = self.core.step
        if steps:
            from .sequence import drop_reasons
            self.core.set_steps(
                [(OCCURS[occurs], within) for _, occurs, within, _ in steps],
                tuple((None,) * width for _, _, _, width in steps),
                tuple(drop_reasons(name) for name, _, _, _ in steps),
                (None,) * len(self.exit_names))
        self._table = IntervalTable(key_names, self.field_names)
        self._intervals: IntervalTable | None = None
        self._refused: Counter = Counter()      # entries dropped before pairing (drop)
        self.problems = ExpressionErrors()

    def drop(self, reason: str, count: int = 1) -> None:
        """As :meth:`Matcher.drop <corr.engine.matcher.Matcher.drop>`."""
        self._refused[reason] += count

    def drain(self) -> None:
        """Between batches: the intervals closed so far go to the table once there are
        enough to seal a chunk, so that the C buffers never hold the whole trace's."""
        if self.core.interval_count >= spill_rows():
            self._table.absorb(self.core.take)

    def table_so_far(self) -> IntervalTable:
        """The intervals recorded so far, taken from C now (for the library's callbacks)."""
        self._table.absorb(self.core.take)
        return self._table

    def settle_decided(self) -> None:
        """The intervals recorded so far become :attr:`intervals` (a run stopped early)."""
        self._intervals = self.table_so_far()

    def oldest_waiting(self, timed_out: bool = True) -> int | None:
        """As :meth:`Matcher.oldest_waiting <corr.engine.matcher.Matcher.oldest_waiting>`."""
        return self.core.oldest_waiting(timed_out)

    def forget_decided(self) -> None:
        """As :meth:`Matcher.forget_decided <corr.engine.matcher.Matcher.forget_decided>`."""
        self._table.absorb(self.core.take)
        self._table = IntervalTable(self.key_names, self.field_names)

    def watch_expired(self) -> None:
        """As :meth:`Matcher.watch_expired <corr.engine.matcher.Matcher.watch_expired>`."""
        self.core.watch_expired()

    def take_expired(self) -> list:
        """As :meth:`Matcher.take_expired <corr.engine.matcher.Matcher.take_expired>`."""
        return self.core.take_expired()

    def expire(self, now: int, inclusive: bool = False) -> None:
        """Time out every open entry whose deadline is before ``now`` (or at it)."""
        self.core.expire(now, inclusive)

    def finish(self, end_ts: int) -> None:
        """The trace ended at ``end_ts``: settle every entry still waiting."""
        self.core.finish(end_ts)
        self._table.absorb(self.core.take)
        self._intervals = self._table

    @property
    def intervals(self) -> IntervalTable:
        """The intervals (complete once ``finish`` was called)."""
        if self._intervals is None:
            raise RuntimeError("the matcher's intervals are read after finish()")
        return self._intervals

    @property
    def entries(self) -> int:
        return self.core.entries + sum(self._refused.values())

    @property
    def dropped(self) -> dict:
        dropped = self.core.dropped
        for reason, count in self._refused.items():
            dropped[reason] = dropped.get(reason, 0) + count
        return dropped

    @property
    def unmatched_exits(self) -> int:
        return self.core.unmatched_exits

    def outcome_counts(self) -> dict:
        """Entries and what became of them; the parts add up to ``entries``."""
        return outcome_counts(self.intervals, self.entries, self.dropped, self.unmatched_exits,
                              self.problems.counts)


def run_batch(ts, class_ids, work, names, history=None) -> None:
    """The engine's walk over one batch, in C (see ``_core.run_batch``)."""
    _core.run_batch(ts, class_ids, work, names, history)
