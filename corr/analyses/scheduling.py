"""The scheduling join: each slow interval of a rule with ``blame:``, explained.

For every interval over the rule's threshold, the blamed thread (the
entry's, the exit's, or the one a key part names) gets a breakdown and a
critical path; the rule gets a blame graph over all of them and a
differential view against a sample of its fast intervals.  The results
are attached to the rule's result object; renderers only read them.

Every slow interval is analysed by default.  With the C model the totals
(blame graph, differential) come from ``corr.analyses.bulk`` in one call,
and the intervals' own breakdowns and critical paths when a renderer reads
them, a chunk per C call (``_native.explain``; text shows the top N, JSON
and exports read them all), so memory does not grow with the number of
slow intervals.
"""

from __future__ import annotations

from array import array
from collections.abc import ItemsView, Mapping, ValuesView

import numpy as np

from . import bulk
from ..encoded import EncodedJSON
from ..engine.intervals import NONE_INT, measured
from ..sched.events import INTERRUPT_NOTES
from ..sched.model import SchedModel
from .blame import BlameGraph, differential
from .critical_path import breakdown, critical_path

FAST_SAMPLE = 200          # fast intervals whose breakdown the differential view uses
DEFAULT_LIMIT = 0          # slow intervals analysed per rule, slowest first (0: all)


class IntervalAnalysis:
    """One interval's breakdown and critical path.

    One from a chunk explained in C (``chunk``, its ``k``-th) builds its Parts
    and PathSegments when they are first read, and its dict without them.
    """

    __slots__ = ("tid", "comm", "_breakdown", "_critical_path", "_chunk", "_k")

    def __init__(self, tid, comm, parts, path, chunk=None, k=0):
        self.tid = tid                  # the blamed thread
        self.comm = comm
        self._breakdown = parts
        self._critical_path = path
        self._chunk, self._k = chunk, k

    @property
    def breakdown(self) -> list:
        if self._breakdown is None:
            self._breakdown = self._chunk.parts(self._k)
        return self._breakdown

    @breakdown.setter
    def breakdown(self, parts) -> None:
        self._breakdown = parts

    @property
    def critical_path(self) -> list:
        if self._critical_path is None:
            self._critical_path = self._chunk.path(self._k)
        return self._critical_path

    @critical_path.setter
    def critical_path(self, path) -> None:
        self._critical_path = path

    def to_dict(self) -> dict:
        chunk = self._chunk
        return {"blamed_tid": self.tid, "blamed_comm": self.comm,
                "breakdown": ([p.as_dict() for p in self._breakdown]
                              if self._breakdown is not None else chunk.part_dicts(self._k)),
                "critical_path": ([s.as_dict() for s in self._critical_path]
                                  if self._critical_path is not None
                                  else chunk.path_dicts(self._k))}


class _Items(ItemsView):
    def __iter__(self):
        return self._mapping.explain_many(self._mapping._order)


class _Values(ValuesView):
    def __iter__(self):
        for _, found in self._mapping.explain_many(self._mapping._order):
            yield found


class _ByRow:
    """A column of some intervals only, read by interval index: ``rows`` sorted, and
    ``at`` where each of them is in ``values`` (kept in the caller's order: no copy)."""

    __slots__ = ("rows", "at", "values")

    def __init__(self, rows: np.ndarray, at: np.ndarray, values: np.ndarray):
        self.rows, self.at, self.values = rows, at, values

    def __getitem__(self, i):
        return self.values[self.at[np.searchsorted(self.rows, i)]]


class LazyAnalyses(Mapping):
    """Interval index -> IntervalAnalysis, each computed when read (not kept).

    Many are explained a chunk at a time (``CHUNK`` per C call): iterating
    ``items()`` or ``values()`` does, and so do result rows
    (:meth:`fill_rows`); nothing is kept beyond the chunk being read.
    ``threads``: the pass's ThreadNames behind ``model.name_at`` (None: names
    that do not change).
    """

    CHUNK = 2048

    def __init__(self, model: SchedModel, indexes: np.ndarray, tids, start, end, threads=None):
        """``tids``, ``start`` and ``end``: the blamed thread and the bounds of each of the
        intervals ``indexes`` (slowest first), in that order."""
        self.model = model
        order = np.asarray(indexes, dtype=np.int64)   # slowest first
        # Interval indexes, positions and thread ids in 32 bits where they fit: 16 bytes
        # an interval less, held to the end of the run (50 MB at 50M events).
        if not len(order) or (order.min() >= 0 and order.max() < 2 ** 31):
            order = order.astype(np.int32)
        self._order = order
        by_row = np.argsort(order, kind="stable")
        self._sorted = order[by_row]
        if len(by_row) < 2 ** 31:
            by_row = by_row.astype(np.int32)
        tids = np.asarray(tids)
        if tids.dtype != np.int32 or not len(tids):
            tids = np.asarray(tids, dtype=np.int64)
        self._tids = _ByRow(self._sorted, by_row, tids)
        self._start = _ByRow(self._sorted, by_row, np.asarray(start, dtype=np.int64))
        self._end = _ByRow(self._sorted, by_row, np.asarray(end, dtype=np.int64))
        self._threads = threads
        self._names: bulk.Names | None = None

    @property
    def names(self) -> bulk.Names:
        if self._names is None:
            self._names = bulk.Names(self.model, self._threads)
        return self._names

    def __getitem__(self, i: int) -> IntervalAnalysis:
        if i not in self:
            raise KeyError(i)
        return next(self.explain_many([i]))[1]

    def __contains__(self, i) -> bool:
        k = int(np.searchsorted(self._sorted, i))
        return k < len(self._sorted) and self._sorted[k] == i

    def __iter__(self):
        return iter(self._order.tolist())

    def __len__(self) -> int:
        return len(self._order)

    def items(self):
        return _Items(self)

    def values(self):
        return _Values(self)

    def _chunks(self, indexes, want: int = 3):
        """(indexes, Explained) a chunk at a time."""
        indexes = np.asarray(indexes, dtype=np.int64)
        for lo in range(0, len(indexes), self.CHUNK):
            chunk = indexes[lo:lo + self.CHUNK]
            yield chunk.tolist(), bulk.Explained(self.model, self.names, self._tids[chunk],
                                                 self._start[chunk], self._end[chunk],
                                                 want=want)

    def explain_many(self, indexes):
        """(index, IntervalAnalysis) for analysed ``indexes``, in their order (the
        breakdowns of a chunk computed when one of them is first read)."""
        at = self.names.at
        for chunk, found in self._chunks(indexes, want=2):
            picked = np.asarray(chunk, dtype=np.int64)
            tids, starts = self._tids[picked].tolist(), self._start[picked].tolist()
            for k, (i, tid, start) in enumerate(zip(chunk, tids, starts)):
                yield i, IntervalAnalysis(tid, at(tid, start), None, None, found, k)

    def fill_rows(self, indexes: list[int], rows: list[dict], threads) -> None:
        """Each result row (of interval ``indexes[k]``) as ``row.update(self[i].to_dict())``
        then ``threads.one_name_per_thread(row)`` leave it (only the latter for an
        interval not analysed)."""
        for _ in self.filled(indexes, rows, threads):
            pass

    def filled(self, indexes, rows: list[dict], threads, encoded: bool = False,
               cut: int | None = None):
        """:meth:`fill_rows`, one row at a time: each row is filled as it is handed out,
        in order (one C call per chunk), so that a renderer writing them as they come
        holds only the explanations it is writing.  Where the breakdown and path name
        no renamed thread (most rows), they are built with each thread's one name,
        and only the row's own and the blamed thread may have to be renamed; with
        ``encoded``, those rows' breakdown and path come as JSON already
        (:class:`corr.encoded.EncodedJSON`, made in C), for a renderer that writes JSON."""
        index = np.asarray(indexes, dtype=np.int64)
        known = self._sorted
        analysed = (known[np.minimum(np.searchsorted(known, index), len(known) - 1)] == index
                    if len(known) else np.zeros(len(index), dtype=bool))
        names = self.names
        for lo in range(0, len(index), self.CHUNK):
            chunk, mine = index[lo:lo + self.CHUNK], analysed[lo:lo + self.CHUNK]
            ours = chunk[mine]
            tids, starts = self._tids[ours], self._start[ours]
            found = (bulk.Explained(self.model, names, tids, starts, self._end[ours])
                     if len(ours) else None)
            as_json = found.encoded() if encoded and found is not None else None
            tids, starts = tids.tolist(), starts.tolist()
            k = 0
            for place, explained in enumerate(mine.tolist(), lo):
                row = rows[place]
                if not explained:
                    if threads is not None:
                        row["renamed"] = _own_names(row, threads, names)
                    yield row
                    continue
                tid = tids[k]
                flags = found.flags[k]
                quick = threads is not None and not flags & bulk.F_RENAMED
                renamed = _own_names(row, threads, names, tid) if quick else None
                path_tids = None
                if as_json is not None and not flags & (bulk.F_TIES | bulk.F_RENAMED):
                    parts, path = EncodedJSON(as_json[0][k]), EncodedJSON(as_json[1][k])
                elif as_json is not None and threads is not None and \
                        (written := found.path_json(k, starts[k])) is not None:
                    # Threads renamed: the breakdown is merged by name below, the path
                    # written in C with each thread's name at the interval's start.
                    parts, path = found.part_dicts(k), EncodedJSON(written)
                    path_tids = found.path_tids(k)
                else:
                    # Renamed threads are called by their name at the interval's
                    # start below (one_name_per_thread): named so at once.
                    parts = found.part_dicts(k)
                    path = found.path_dicts(k, starts[k] if threads is not None else None,
                                            cut)
                    if cut is not None and found.path_length(k) > cut:
                        row["path_segments"] = found.path_length(k)
                        path_tids = found.path_tids(k)      # the cut ones' renames too
                row.update(blamed_tid=tid,
                           blamed_comm=(_name(threads, names, tid, row["start_ns"]) if quick
                                        else names.at(tid, starts[k])),
                           breakdown=parts, critical_path=path)
                if quick:
                    row["renamed"] = renamed
                elif threads is not None:
                    threads.one_name_per_thread(row, path_tids)
                k += 1
                yield row


def _name(threads, names: bulk.Names, tid: int, at: int):
    """``threads.name_at(tid, at)``, a thread never renamed looked up once."""
    return threads.name_at(tid, at) if tid in names.renamed else names.at(tid, at)


def _own_names(row: dict, threads, names: bulk.Names, blamed: int | None = None) -> list:
    """ThreadNames.one_name_per_thread for a row whose breakdown and path (if any) name
    no renamed thread: the row's own threads called by their names at its start; the
    ``renamed`` list (only its own and the blamed thread can be in it)."""
    at = row["start_ns"]
    renamed = []
    for tid_key, comm_key in (("tid", "comm"), ("exit_tid", "exit_comm")):
        tid = row[tid_key]
        if tid is not None and tid > 0:
            comm = _name(threads, names, tid, at)
            if comm is not None:
                row[comm_key] = comm
    seen = set()
    for tid in (row["tid"], row["exit_tid"], blamed):
        if tid is not None and tid > 0 and tid in names.renamed and tid not in seen:
            seen.add(tid)
            renamed.append(threads.renamed(tid, at))
    return renamed


def explain(model: SchedModel, tid: int, start: int, end: int,
            waits: list | None = None) -> IntervalAnalysis:
    """One interval's breakdown and critical path (the Python references); with
    ``waits``, the blame-graph edges of both appended to it."""
    path = critical_path(model, tid, start, end, waits=waits)
    parts = breakdown(model, tid, start, end, waits=waits)
    return IntervalAnalysis(tid, model.name_at(tid, start), parts, path)


class RuleAnalysis:
    """What the scheduling join found for one rule."""

    def __init__(self, blame: str, available: bool, reason: str | None = None):
        self.blame = blame
        self.available = available
        self.reason = reason                     # why nothing could be said
        self.intervals: dict[int, IntervalAnalysis] = {}   # interval index -> analysis
        self.graph: BlameGraph | None = None
        self.differential: list[dict] = []
        self.unattributed = 0                    # slow intervals with no thread to blame
        self.slow = 0                            # intervals over the threshold (complete, late)
        self.limit = 0                           # at most this many analysed (0: all)
        self.caveats: list[str] = []             # what the traces cannot tell
        self.threads = None                      # the pass's ThreadNames (names over time)
        self.stacks: dict | None = None          # interval index -> IntervalStacks (stacks: true)
        self.stack_sources: list[str] = []       # where the frames' names came from
        self.activity = None                     # IntervalActivity (activity: true)

    def explain_rows(self, indexes: list[int], rows: list[dict]) -> None:
        """Result rows (RuleResult's dicts of intervals ``indexes``) with their intervals'
        explanations, and every thread called by one name (see
        ThreadNames.one_name_per_thread); many at once, a chunk per C call."""
        for _ in self._filled(indexes, rows):
            pass

    def explained_rows(self, indexes: list[int], rows: list[dict], encoded: bool = False,
                       cut_paths: int | None = None, stacks: bool = True):
        """:meth:`explain_rows`, each row filled as it is handed out.  ``rows`` is taken
        over: each leaves the list as it goes, so that only the rows a renderer holds
        are alive (a chunk's breakdowns at once took twice the time to build).
        ``encoded``: breakdowns and paths may come as JSON (LazyAnalyses.filled).
        ``cut_paths`` (for a renderer that shows a few segments): each critical path
        cut to its first ``cut_paths`` segments, ``path_segments`` saying how many it
        has, and code stacks' wakeups to the blamed thread's own -- a path through two
        busy threads has 10^6 segments, half a gigabyte as dicts.  ``stacks``: False
        leaves the code stacks out (a renderer that does not show them)."""
        for place, row in enumerate(self._filled(indexes, rows, encoded, cut_paths, stacks)):
            rows[place] = None
            yield row

    def _filled(self, indexes, rows, encoded: bool = False, cut: int | None = None,
                stacks: bool = True):
        if self.activity is not None:             # each analysed row with its activity
            for row in self._filled_stacks(indexes, rows, cut=cut, stacks=stacks):
                if "critical_path" in row:        # read from the path's dicts, whole
                    row["activity"] = self.activity.of_row(row)
                yield _cut(row, cut)
            return
        yield from self._filled_stacks(indexes, rows, encoded, cut, stacks)

    def _filled_stacks(self, indexes, rows, encoded: bool = False, cut: int | None = None,
                       stacks: bool = True):
        paths_cut = cut if self.activity is None else None
        if self.stacks is not None and stacks:    # each row with its interval's stacks
            own = getattr(self.stacks, "own", None) if cut is not None else None
            # The stacks as dicts at once (IntervalStackMap); shared between rows only
            # for a renderer that encodes each row and lets it go.
            as_dict = getattr(self.stacks, "dict_of", None)
            for i, row in zip(indexes, self._filled_paths(indexes, rows, encoded, paths_cut)):
                if as_dict is not None:
                    found = as_dict(i, own_wakeups=cut is not None, shared=encoded)
                    if found is not None:
                        row.update(found)
                    yield row
                    continue
                found = own(i) if own is not None else self.stacks.get(i)
                if found is not None:
                    row.update(found.to_dict(own_wakeups=cut is not None))
                yield row
            return
        yield from self._filled_paths(indexes, rows, encoded, paths_cut)

    def _filled_paths(self, indexes, rows, encoded: bool = False, cut: int | None = None):
        if isinstance(self.intervals, LazyAnalyses):
            yield from self.intervals.filled(indexes, rows, self.threads, encoded, cut)
            return
        for i, row in zip(indexes, rows):
            found = self.intervals.get(i)
            if found is not None:
                row.update(found.to_dict())
            if self.threads is not None:
                self.threads.one_name_per_thread(row)
            yield _cut(row, cut)

    def to_dict(self) -> dict:
        if not self.available:
            return {"blame": self.blame, "available": False, "reason": self.reason}
        out = {"blame": self.blame, "available": True, "slow": self.slow,
               "analysed": len(self.intervals), "limit": self.limit,
               "unattributed": self.unattributed}
        if self.caveats:
            out["caveats"] = self.caveats
        if self.stacks is not None:
            out["stack_sources"] = self.stack_sources
        if self.activity is not None:
            out["activity_not_recorded"] = self.activity.not_recorded
        out.update(self.graph.to_dict() if self.graph else {"nodes": [], "edges": []})
        out["differential"] = self.differential
        return out


def blamed_tids(rule_result, blame: str, narrow: bool = False) -> np.ndarray:
    """The thread id each interval's time is explained for (NONE_INT: none); int64,
    or with ``narrow`` int32 where every value fits."""
    table = rule_result.intervals
    widen = (lambda a: a) if narrow else (lambda a: a.astype(np.int64))
    if blame == "entry":
        return widen(np.frombuffer(table.entry_tid, dtype=np.int32))
    if blame == "exit":
        tids = np.frombuffer(table.exit_tid, dtype=np.int32)
        entry = np.frombuffer(table.entry_tid, dtype=np.int32)
        return widen(np.where(tids == NONE_INT, entry, tids))  # no exit (timeout): the entry's
    names = table.key_names
    index = names.index(blame)
    if len(names) == 1:
        found = _int_keys(table, np.int32 if narrow else np.int64)
        if found is not None:
            return found
    keys = table.key
    values = [k if len(names) == 1 else (k[index] if isinstance(k, tuple) else None)
              for k in keys]
    return np.asarray([v if names_thread(v) else NONE_INT for v in values], dtype=np.int64)


def names_thread(value) -> bool:
    """Whether a key part's value can be a thread id: an integer of int64 (a key part
    computed by an expression can hold any integer; beyond int64 it names no thread)."""
    return isinstance(value, int) and -2**63 <= value < 2**63


def analyse(rule_result, model: SchedModel, limit: int = DEFAULT_LIMIT,
            threads=None) -> RuleAnalysis:
    """The breakdowns, critical paths and blame graph of one rule's slow intervals.

    The ``limit`` slowest are analysed (all with 0): a trace can hold
    hundreds of thousands of slow intervals, and the slowest are the ones
    a person reads; the result says how many there were.  ``threads``: the
    pass's :class:`~corr.engine.threads.ThreadNames`, with which each
    interval read calls every thread by its name at the interval's start.
    """
    blame = rule_result.rule.blame
    if not model.available:
        return RuleAnalysis(blame, False, "the traces have no scheduling events (sched_switch)")
    out = RuleAnalysis(blame, True)
    if model.log.interrupt_evidence == "none":
        out.caveats.append(INTERRUPT_NOTES["none"])
    out.threads = threads
    out.graph = BlameGraph(model.name_at)
    table = rule_result.intervals
    if not len(table):
        return out
    # Per interval, only durations, blamed threads (32 bits) and the slow ones' order:
    # the bounds are read for the intervals analysed.
    tids = blamed_tids(rule_result, blame, narrow=True)
    durations = table.durations()
    # Over the threshold (every one without it), of the statuses the rule's report: names.
    slow = np.flatnonzero(rule_result.over_threshold(durations))
    slow_parts = []
    out.slow, out.limit = len(slow), limit
    chosen = slow[np.argsort(-durations[slow], kind="stable")]
    del slow
    if limit:
        chosen = chosen[:limit]
    attributed = (tids[chosen] != NONE_INT) & (tids[chosen] > 0)
    out.unattributed = int(len(chosen) - np.count_nonzero(attributed))
    chosen = chosen[attributed]
    del attributed
    # Every interval's duration and thread go before the bounds are read and the walk
    # (the sample of fast intervals reads them again after it): 12 bytes an interval,
    # 40 MB at 50M events.
    chosen_tids = tids[chosen]        # int32 where every blamed thread fits, else int64
    del tids
    end = durations[chosen]
    del durations
    slow_ns = int(end.sum())
    start = table.ints_at("start_ns", chosen)
    end += start
    from ..engine.memory import release_freed_memory
    if len(chosen) >= 1 << 20:
        release_freed_memory()    # the sorts' and the reads' leftovers, before the walk's peak
    if bulk.available(model):
        found = bulk.totals(model, chosen_tids, start, end)
        if len(chosen) >= 1 << 20:
            release_freed_memory()    # the walking threads' heaps (85 MB at 50M events)
        out.intervals = LazyAnalyses(model, chosen, chosen_tids, start, end, threads)
        out.graph.add_totals(_first_seen(chosen_tids), found.edges, len(chosen))
        slow_parts = [(slow_ns, found.parts)] if len(chosen) else []
    else:
        for i, tid, s, e in zip(chosen.tolist(), chosen_tids.tolist(), start.tolist(),
                                end.tolist()):
            waits: list = []
            found = explain(model, tid, s, e, waits)
            out.intervals[i] = found
            out.graph.add(found.tid, waits)
            slow_parts.append((e - s, found.breakdown))
        out.graph.finish()
    del chosen_tids, start, end
    out.differential = differential(
        slow_parts, _fast_breakdowns(rule_result, model, blamed_tids(rule_result, blame,
                                                                     narrow=True)),
        model.name_at)
    return out


def _int_keys(table, kind) -> np.ndarray | None:
    """A table's one-integer keys as ``kind``, read a chunk at a time into one array (the
    whole column put together first, then copied, held them twice: 52 MB at 50M
    events); None when some key is not an integer (the caller's general path); int64
    when ``kind`` is int32 and some key does not fit it."""
    out = np.empty(len(table), dtype=kind)
    for first, columns in table.chunks():
        keys = columns["key"]
        if type(keys) is not array:
            return None
        values = np.frombuffer(keys, dtype=np.int64)
        if kind is np.int32 and len(values) and (values.min() < NONE_INT
                                                 or values.max() >= -NONE_INT):
            return _int_keys(table, np.int64)
        out[first:first + len(values)] = values
    return out


def _first_seen(values: np.ndarray, chunk: int = 1 << 16) -> list[int]:
    """The distinct values in the order they first appear (``dict.fromkeys``, without
    an object per value, nor a sort of all of them at once)."""
    seen: dict[int, int] = {}
    for lo in range(0, len(values), chunk):
        distinct, first = np.unique(values[lo:lo + chunk], return_index=True)
        for value, at in zip(distinct.tolist(), first.tolist()):
            seen.setdefault(value, lo + at)
    return sorted(seen, key=seen.__getitem__)


def _fast_breakdowns(rule_result, model, tids) -> list:
    """Breakdowns of an even sample of the complete intervals under the threshold
    (``tids``: every interval's blamed thread), their durations read a piece at a time."""
    threshold = rule_result.threshold_ns
    if threshold is None:
        return []
    table = rule_result.intervals
    rows, lengths = [], []
    for first, durations, statuses, _ in table.pieces():
        mine = np.flatnonzero((durations <= threshold) & measured(statuses))
        mine = mine[tids[mine + first] > 0]
        rows.append(mine + first)
        lengths.append(durations[mine].astype(np.int64))
    fast, lengths = np.concatenate(rows), np.concatenate(lengths)
    if len(fast) > FAST_SAMPLE:
        picked = np.linspace(0, len(fast) - 1, FAST_SAMPLE).astype(np.int64)
        fast, lengths = fast[picked], lengths[picked]
    positive = lengths > 0
    fast, lengths = fast[positive], lengths[positive]
    start = table.ints_at("start_ns", fast)
    end = start + lengths
    fast_tids = tids[fast].astype(np.int64)
    if bulk.available(model):
        found = bulk.totals(model, fast_tids, start, end, with_edges=False)
        return [(int(lengths.sum()), found.parts)] if len(fast) else []
    return [(e - s, breakdown(model, tid, s, e))
            for tid, s, e in zip(fast_tids.tolist(), start.tolist(), end.tolist())]


def _cut(row: dict, cut: int | None) -> dict:
    """A filled row as ``explained_rows(..., cut_paths=cut)`` gives it."""
    path = row.get("critical_path")
    if cut is not None and path is not None and len(path) > cut:
        row["critical_path"], row["path_segments"] = path[:cut], len(path)
    return row
