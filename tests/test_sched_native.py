"""The C scheduling model and bulk analysis agree with the Python references,
and breakdowns and critical paths add up, on random scheduling streams.

Random streams go straight into a SchedLog (switches with every kind of
``prev_state``, wakings/wakeups/new wakeups with and without a waker,
forks, exits, nested interrupt contexts, lost events, tid reuse), so the
state machines meet states no well-formed trace has.  Every thread's
timeline from the C store must equal the reference walk's; the totals of
``corr.analyses.bulk`` must equal the references' breakdowns and blame
edges added up interval by interval.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corr.analyses import bulk
from corr.analyses.blame import BlameGraph
from corr.analyses.critical_path import breakdown, critical_path
from corr.sched import store
from corr.sched.log import _COLUMNS, SchedLog
from corr import spill
from corr.spill import SPILL_ROWS_ENV
from corr.sched.model import SchedModel, tile_check

native = pytest.mark.skipif(store._native is None, reason="the C model was not built")

TIDS = st.sampled_from([0, 1, 2, 3])
CPUS = st.sampled_from([0, 1])
SWITCH = st.tuples(st.just("switch"), CPUS, TIDS,
                   st.sampled_from([1, 2, 1, 0, 256, 1024, 16, 64, 130]), TIDS)
# (cpu, tid, target_cpu, kind, waker, perf's common_flags: -1 none, 9 hard IRQ...)
WAKEUP = st.tuples(st.just("wakeup"), CPUS, TIDS, st.sampled_from([-1, 0, 1]),
                   st.sampled_from([0, 1, 0, 1, 2]), st.sampled_from([-1, 0, 1, 2, 3]),
                   st.sampled_from([-1, -1, -1, 0, 1, 9, 0x10, 0x19, 0x41]))
FORK = st.tuples(st.just("fork"), TIDS, TIDS)
EXIT = st.tuples(st.just("exit"), TIDS)
CONTEXT = st.tuples(st.just("context"), CPUS, st.sampled_from([1, -1, 2, -2, 3, -3]),
                    st.sampled_from([0, 3, 4]))
# Mostly switches and wakeups, the state machines' diet.
EVENT = st.sampled_from([SWITCH] * 4 + [WAKEUP] * 3 + [FORK, EXIT, CONTEXT]).flatmap(lambda s: s)
STREAM = st.lists(st.tuples(st.integers(0, 40), EVENT), min_size=1, max_size=40)
SPANS = st.lists(st.tuples(TIDS, st.integers(-50, 800), st.integers(0, 1500)), min_size=1,
                 max_size=8)


def make_log(stream, waking: bool, batch: int | None = None) -> SchedLog:
    """A SchedLog holding ``stream``: (gap, event) pairs, in seq order, added
    ``batch`` events at a time (None: all at once)."""
    log = SchedLog()
    batch = batch or len(stream)
    ts = 0
    kinds = set()
    for first in range(0, len(stream), batch):
        rows = {kind: {c: [] for c in cols} for kind, cols in _COLUMNS.items()}
        for seq, (gap, event) in enumerate(stream[first:first + batch], first):
            ts += gap
            kind, values = event[0], event[1:]
            if kind == "wakeup" and not waking and values[3] == 0:
                values = values[:3] + (1,) + values[4:]        # no sched_waking in this trace
            columns = _COLUMNS[kind][2:]
            for c, v in zip(("ts", "seq") + columns, (ts, seq) + values):
                rows[kind][c].append(v)
        log.add_tables({kind: {c: np.asarray(v, dtype=np.int64) for c, v in columns.items()}
                        for kind, columns in rows.items() if columns["ts"]})
        kinds |= set(rows["wakeup"]["kind"])
        log.has_flags |= any(f >= 0 for f in rows["wakeup"]["flags"])
    log.classes_seen |= {"sched_switch"} | ({"sched_waking"} if waking else set())
    log.classes_seen |= {"sched_wakeup"} if 1 in kinds else set()
    log.irq_names[3] = "eth0"
    return log


def models(stream, waking):
    log = make_log(stream, waking)
    begin = 0
    return (SchedModel(log, begin, None, native=True), SchedModel(log, begin, None, native=False))


@native
@settings(max_examples=1000, deadline=None)
@given(STREAM, st.booleans())
def test_timelines_equal_the_reference(stream, waking):
    fast, reference = models(stream, waking)
    for tid in range(7):
        assert fast.timeline(tid) == reference.timeline(tid)


@native
@settings(max_examples=500, deadline=None)
@given(STREAM, st.booleans(), st.integers(1, 6), st.integers(1, 5), st.integers(1, 12), SPANS,
       st.sampled_from([1, 2, 4, 64]), st.booleans())
def test_a_log_spilled_in_batches_builds_the_same_model_in_buckets(stream, waking, batch, rows,
                                                                  events, spans, block,
                                                                  release):
    """Added a few events at a time, sealed to disk every few rows, and modelled a
    bucket of a few events' threads at a time onto a mapped store laid out by time
    (in blocks of a few segments), the log gives the model it gives whole: the same
    timelines (with each wakeup's source found batch by batch), the same switches by
    CPU, the same totals, the same explanations.  Built as a run builds it
    (``build_store``), a log dealt out to its buckets is released before the first
    block is written, and nothing reads it after."""
    whole = SchedModel(make_log(stream, waking), 0, None, native=True)
    envs = (SPILL_ROWS_ENV, store.MODEL_EVENTS_ENV, store.BLOCK_ENV)
    saved = {k: os.environ.get(k) for k in envs}
    for k, v in zip(envs, (rows, events, block)):
        os.environ[k] = str(v)
    released_first, dealt = [], []
    staged, by_thread = store._Blocks.add, store._by_thread

    def add(self, records, last=False):
        if not released_first:
            released_first.append(log._tables is None)
        return staged(self, records, last)

    def dealing(*args):
        found = by_thread(*args)
        dealt.append(found[1] is not None)
        return found
    store._Blocks.add, store._by_thread = add, dealing
    try:
        log = make_log(stream, waking, batch)
        split = SchedModel(log, 0, None, native=True)
        if release:
            split.build_store()
        else:
            split.store
    finally:
        store._Blocks.add, store._by_thread = staged, by_thread
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    per_kind = [sum(e[0] == kind for _, e in stream) for kind in _COLUMNS]
    if release:
        assert log._tables is None                       # released, whatever the budget
        # Dealt out to its buckets, the log went before the first block was written;
        # read by the one bucket or kept in memory, after the build.
        if dealt == [True]:
            assert released_first == [True]
        else:
            assert True not in released_first
    else:
        assert log.spilled == (max(per_kind) >= rows)
    a, b = whole.store, split.store
    spilled = b.mapped
    assert spilled == (max(per_kind) >= rows) and not a.mapped
    assert (b.bpos is not None) == spilled and a.bpos is None
    n = int(a.off[-1]) if len(a.off) else 0
    assert np.array_equal(a.tids, b.tids) and np.array_equal(a.off, b.off)
    assert np.array_equal(a.segment_rows(0, n), b.segment_rows(0, n))   # by thread, each way
    if b.bpos is not None and n:  # on disk: every record in one block, each block's first
        sizes = np.minimum(n - np.arange(len(b.bpos)) * block, block)
        covered = np.concatenate([np.arange(p, p + k) for p, k in zip(b.bpos, sizes)])
        assert np.array_equal(np.sort(covered), np.arange(n))
        assert np.array_equal(b.segments["start"][b.bpos], b.bfirst)
        assert np.all(np.diff(b.bfirst[np.argsort(b.bpos)]) >= 0)     # laid out by time
    for x, y in zip(a.switches + a.switch_threads, b.switches + b.switch_threads):
        assert np.array_equal(x, y)
    for tid in range(7):
        assert split.timeline(tid) == whole.timeline(tid)
        rows_of = a.rows(tid)
        if rows_of:               # the searches a thread's segments by start
            for x in range(-1, 40, 3):
                for side in ("left", "right"):
                    assert a.search(*rows_of, x, side) == b.search(*rows_of, x, side)
    spans = [(tid or 1, start, length) for tid, start, length in spans]
    tids, starts, lengths = (np.asarray(c, dtype=np.int64) for c in zip(*spans))
    one, other = (bulk.totals(m, tids, starts, starts + lengths) for m in (whole, split))
    b.release_pages()
    assert (one.parts, one.edges) == (other.parts, other.edges)
    for tid, start, length in spans:
        assert (critical_path(split, tid, start, start + length)
                == critical_path(whole, tid, start, start + length))
        assert (breakdown(split, tid, start, start + length)
                == breakdown(whole, tid, start, start + length))


@native
@settings(max_examples=1000, deadline=None)
@given(STREAM, st.booleans(), SPANS, st.sampled_from([2, 16]))
def test_critical_paths_walked_in_c_equal_the_reference(stream, waking, spans, depth):
    """An interval's critical path from the C walk (what renderers read) is the
    Python reference's, segment for segment, names and via chains included."""
    fast, reference = models(stream, waking)
    for tid, start, length in spans:
        assert (critical_path(fast, tid or 1, start, start + length, max_depth=depth)
                == critical_path(reference, tid or 1, start, start + length, max_depth=depth))


def _reference_totals(model, spans):
    """The references' breakdowns and blame edges, added up interval by interval."""
    parts: dict = {}
    graph = BlameGraph(model.name_at)
    for tid, start, length in spans:
        waits: list = []
        found = breakdown(model, tid, start, start + length, waits=waits)
        for p in found:
            key = (p.kind, p.by, p.tid)
            parts[key] = parts.get(key, 0) + p.ns
        critical_path(model, tid, start, start + length, waits=waits)
        graph.add(tid, waits)
    graph.finish()
    return parts, graph.to_dict()["edges"]


@native
@settings(max_examples=1000, deadline=None)
@given(STREAM, st.booleans(), SPANS)
def test_bulk_totals_equal_the_reference(stream, waking, spans):
    fast, reference = models(stream, waking)
    spans = [(tid or 1, start, length) for tid, start, length in spans]
    tids, starts, lengths = (np.asarray(c, dtype=np.int64) for c in zip(*spans))
    found = bulk.totals(fast, tids, starts, starts + lengths)
    parts: dict = {}
    for p in found.parts:
        parts[(p.kind, p.by, p.tid)] = parts.get((p.kind, p.by, p.tid), 0) + p.ns
    graph = BlameGraph(fast.name_at)
    graph.add_totals(sorted(set(tids.tolist())), found.edges, len(spans))
    want_parts, want_edges = _reference_totals(reference, spans)
    assert parts == want_parts
    assert sorted(graph.to_dict()["edges"], key=str) == sorted(want_edges, key=str)


@native
@settings(max_examples=1000, deadline=None)
@given(STREAM, st.booleans(), SPANS, st.sampled_from([2, 3]))
def test_totals_in_threads_equal_one_thread_in_order(stream, waking, spans, threads):
    """The intervals split among threads add up to the same parts and edges, listed in
    the same (first-seen) order as one thread lists them."""
    fast, _ = models(stream, waking)
    spans = [(tid or 1, start, length) for tid, start, length in spans]
    tids, starts, lengths = (np.asarray(c, dtype=np.int64) for c in zip(*spans))
    one = bulk.totals(fast, tids, starts, starts + lengths, threads=1)
    split = bulk.totals(fast, tids, starts, starts + lengths, threads=threads, min_per_thread=1)
    assert split.parts == one.parts
    assert split.edges == one.edges


@native
@settings(max_examples=1000, deadline=None)
@given(STREAM, st.booleans(), SPANS, st.sampled_from([1, 2, 3]))
def test_totals_walked_in_time_order_equal_a_walk_in_the_given_order(stream, waking, spans,
                                                                       threads):
    """The walk in time order (the cache's order) lists the same parts and edges, in the
    same first-met order, as a walk of the intervals in the order given."""
    fast, _ = models(stream, waking)
    spans = [(tid or 1, start, length) for tid, start, length in spans]
    tids, starts, lengths = (np.asarray(c, dtype=np.int64) for c in zip(*spans))
    given_order = bulk.totals(fast, tids, starts, starts + lengths, threads=1,
                              in_time_order=False)
    walked = bulk.totals(fast, tids, starts, starts + lengths, threads=threads,
                         min_per_thread=1)
    assert walked.parts == given_order.parts
    assert walked.edges == given_order.edges


@native
@settings(max_examples=1000, deadline=None)
@given(STREAM, st.booleans(), st.lists(SPANS.filter(bool).map(lambda s: s[0]), min_size=1,
                                       max_size=24),
       st.sampled_from([1, 2, 3]), st.booleans())
def test_union_weights_compacted_at_every_range_equal_the_reference(stream, waking, spans,
                                                                    threads, in_time_order):
    """Edge weights are unions of ranges; with the range log compacted at every range
    (final ranges leaving it early, jobs merged), they are still the reference's."""
    fast, reference = models(stream, waking)
    spans = [(tid or 1, start, length) for tid, start, length in spans]
    tids, starts, lengths = (np.asarray(c, dtype=np.int64) for c in zip(*spans))
    found = bulk.totals(fast, tids, starts, starts + lengths, threads=threads, min_per_thread=1,
                        in_time_order=in_time_order, log_limit=1)
    graph = BlameGraph(fast.name_at)
    graph.add_totals(sorted(set(tids.tolist())), found.edges, len(spans))
    _, want_edges = _reference_totals(reference, spans)
    assert sorted(graph.to_dict()["edges"], key=str) == sorted(want_edges, key=str)


def _first_met(found: bulk.Totals, alone: list[bulk.Totals]) -> tuple[list, list]:
    """The entries that go through C's tables (not the dense per-thread cells, listed
    after them), each as (first interval listing it, its place in that one's list)."""
    def keys(t):
        return ([(p.kind, p.by) for p in t.parts if p.tid is None],
                [(e[0], e[1]) for e in t.edges if not isinstance(e[1], int)])
    seen = [keys(t) for t in alone]
    got = keys(found)
    out = []
    for which in (0, 1):
        out.append([next((i, s[which].index(k)) for i, s in enumerate(seen) if k in s[which])
                    for k in got[which]])
    return out[0], out[1]


@native
@settings(max_examples=500, deadline=None)
@given(STREAM, st.booleans(), SPANS, st.sampled_from([1, 2, 3]))
def test_totals_list_parts_and_edges_in_the_order_a_walk_as_given_meets_them(
        stream, waking, spans, threads):
    """Walked in time order, the totals still list their entries as the intervals, taken
    in the order given, first meet them: each interval analysed alone is the oracle."""
    fast, _ = models(stream, waking)
    spans = [(tid or 1, start, length) for tid, start, length in spans]
    tids, starts, lengths = (np.asarray(c, dtype=np.int64) for c in zip(*spans))
    found = bulk.totals(fast, tids, starts, starts + lengths, threads=threads, min_per_thread=1)
    alone = [bulk.totals(fast, tids[i:i + 1], starts[i:i + 1], starts[i:i + 1] + lengths[i:i + 1],
                         threads=1) for i in range(len(spans))]
    parts, edges = _first_met(found, alone)
    assert parts == sorted(parts)
    assert edges == sorted(edges)


@native
def test_analyse_refuses_a_walk_that_is_not_a_permutation():
    from corr.sched.store import _native
    fast, _ = models([(0, ("switch", 0, 1, 1, 2)), (10, ("switch", 0, 2, 1, 1))], False)
    st_ = fast.store
    cpus, cpu_off, sw_ts, sw_next, sw_prev, _ = st_.switches
    one = np.array([1], dtype=np.int64)
    args = [st_.tids, st_.off, st_.start, st_.end, st_.state, st_.cpu, st_.src_kind,
            st_.src_id, 0, cpus, cpu_off, sw_ts, sw_next, sw_prev,
            np.searchsorted(st_.tids, sw_next), np.searchsorted(st_.tids, sw_prev),
            one, np.array([0], dtype=np.int64), np.array([20], dtype=np.int64), 8, True, 1, 1]
    for walk in (np.array([1], dtype=np.int64), np.array([-1], dtype=np.int64),
                 np.array([0, 0], dtype=np.int64)):
        with pytest.raises(ValueError, match="permutation"):
            _native.analyse(*args, walk)
    parts, edges = _native.analyse(*args, np.array([0], dtype=np.int64))
    assert sum(p[3] for p in parts) == 20


@settings(max_examples=500, deadline=None)
@given(STREAM, st.booleans(), SPANS)
def test_breakdown_sums_and_path_tiles(stream, waking, spans):
    """On both models, which give the same breakdowns and paths."""
    both = models(stream, waking) if store._native is not None else models(stream, waking)[1:]
    for tid, start, length in spans:
        end = start + length
        found = []
        for model in both:
            parts = breakdown(model, tid, start, end)
            assert sum(p.ns for p in parts) == length
            path = critical_path(model, tid, start, end)
            assert tile_check([_Span(s.start_ns, s.end_ns) for s in path], start, end)
            assert all(s.end_ns > s.start_ns for s in path)
            found.append((parts, path))
        assert all(f == found[-1] for f in found)


class _Span:
    def __init__(self, start, end):
        self.start, self.end = start, end


@native
def test_analyse_lets_go_of_every_array_it_is_given():
    """Each array handed to the C analysis is released (a buffer kept is an array leaked,
    once per rule of every run)."""
    import sys

    from corr.sched.store import _native
    fast, _ = models([(0, ("switch", 0, 1, 1, 2)), (10, ("switch", 0, 2, 1, 1))], False)
    st_ = fast.store
    cpus, cpu_off, sw_ts, sw_next, sw_prev, _ = st_.switches
    arrays = [st_.tids, st_.off, st_.start, st_.end, st_.state, st_.cpu, st_.src_kind,
              st_.src_id, cpus, cpu_off, sw_ts, sw_next, sw_prev,
              np.searchsorted(st_.tids, sw_next), np.searchsorted(st_.tids, sw_prev),
              np.array([1], dtype=np.int64), np.array([0], dtype=np.int64),
              np.array([20], dtype=np.int64)]
    before = [sys.getrefcount(a) for a in arrays]
    _native.analyse(*arrays[:8], 0, *arrays[8:], 8, True)
    assert [sys.getrefcount(a) for a in arrays] == before


@native
def test_no_room_to_spill_keeps_the_log_and_the_model_in_memory(monkeypatch):
    """A full or unwritable temporary folder is a warning: the log's rows stay in
    memory, the store is built there, and the timelines are the same; with no room
    to deal the log's events out to the buckets, each bucket reads the whole log."""
    import errno

    from corr import spill
    from corr.cache import CacheWarning
    stream = [(3, ("switch", 0, 1, 1, 2)), (2, ("wakeup", 1, 1, -1, 0, 2, -1)),
              (4, ("switch", 1, 0, 0, 1)), (1, ("context", 0, 1, 3)),
              (2, ("wakeup", 0, 3, 0, 1, -1, -1)), (5, ("context", 0, -1, 3)),
              (3, ("switch", 0, 2, 1, 3))] * 4
    whole = SchedModel(make_log(stream, True), 0, None, native=True)

    def no_room(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    def tiny_budgets():
        """Budgets tiny, nothing else patched."""
        monkeypatch.undo()
        monkeypatch.setenv(SPILL_ROWS_ENV, "2")
        monkeypatch.setenv(store.MODEL_EVENTS_ENV, "3")

    def same_timelines(model):
        for tid in range(5):
            assert model.timeline(tid) == whole.timeline(tid)

    tiny_budgets()
    monkeypatch.setattr(spill.tempfile, "mkstemp", no_room)
    with pytest.warns(CacheWarning, match="No space left on device; they are kept in memory"):
        log = make_log(stream, True, batch=3)
    assert not log.spilled
    split = SchedModel(log, 0, None, native=True)
    assert not split.store.mapped
    same_timelines(split)

    tiny_budgets()
    log = make_log(stream, True, batch=3)
    assert log.spilled
    monkeypatch.setattr(store, "MappedColumns", no_room)
    with pytest.warns(CacheWarning, match="No space left on device; it is kept in memory"):
        split = SchedModel(log, 0, None, native=True)
        assert not split.store.mapped
    same_timelines(split)

    tiny_budgets()
    log = make_log(stream, True, batch=3)
    monkeypatch.setattr(store, "SpillFile", no_room)     # no room to deal the log out
    split = SchedModel(log, 0, None, native=True)
    assert split.store.mapped
    same_timelines(split)


@native
@pytest.mark.parametrize("pairs", [100, 127, 128, 300])
@pytest.mark.parametrize("batch", [1, 7, None])
def test_wakeup_sources_found_batch_by_batch_look_back_as_far_as_the_reference(pairs, batch):
    """A wakeup in an IRQ entered ``2 * pairs + 1`` context events before it (softirqs
    in between): blamed on the IRQ within the reference's 256 events, else on the
    thread, whether the log came in one batch or many."""
    stream = [(1, ("switch", 0, 0, 1, 1)), (1, ("switch", 1, 2, 1, 3)), (1, ("context", 0, 1, 3))]
    stream += [(1, ("context", 0, 2, 4)), (1, ("context", 0, -2, 4))] * pairs
    stream += [(1, ("wakeup", 0, 2, 1, 0, -1, -1)), (1, ("context", 0, -1, 3)),
               (1, ("switch", 0, 1, 1, 2))]
    fast = SchedModel(make_log(stream, True, batch), 0, None, native=True)
    reference = SchedModel(make_log(stream, True), 0, None, native=False)
    assert fast.timeline(2) == reference.timeline(2)
    woken = [s for s in fast.timeline(2) if s.reason == "woken"]
    want = "irq" if 2 * pairs + 1 <= 256 else "thread"
    assert [s.source.kind for s in fast.timeline(2) if s.source is not None] == [want]
    assert woken


@settings(max_examples=25, deadline=None)
@given(STREAM, st.booleans())
def test_a_store_whose_writes_lag_behind_is_the_same_store(stream, waking):
    """The store's pieces are written in a thread while the next is made (one write
    behind): with every write slowed, and the store laid out by time copied two blocks
    at a time through its two buffers, the store is the whole log's."""
    import time
    whole = SchedModel(make_log(stream, waking), 0, None, native=True)
    envs = (SPILL_ROWS_ENV, store.MODEL_EVENTS_ENV, store.BLOCK_ENV)
    saved = {k: os.environ.get(k) for k in envs}
    for k, v in zip(envs, (1, 3, 1)):
        os.environ[k] = str(v)
    write, copied = spill.MappedColumns._write, store._Blocks.COPY_BLOCKS

    def late(self, data, offset):
        time.sleep(0.002)
        write(self, data, offset)
    spill.MappedColumns._write, store._Blocks.COPY_BLOCKS = late, 2
    try:
        split = SchedModel(make_log(stream, waking, 2), 0, None, native=True)
        split.build_store()
    finally:
        spill.MappedColumns._write, store._Blocks.COPY_BLOCKS = write, copied
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    a, b = whole.store, split.store
    n = int(a.off[-1]) if len(a.off) else 0
    assert np.array_equal(a.tids, b.tids) and np.array_equal(a.off, b.off)
    assert np.array_equal(a.segment_rows(0, n), b.segment_rows(0, n))
    for x, y in zip(a.switches + a.switch_threads, b.switches + b.switch_threads):
        assert np.array_equal(x, y)


def test_a_failed_write_behind_is_raised_by_all_that_comes_next(monkeypatch):
    """A mapped column's write that failed in its thread is raised by the next append,
    flush or mapping, and by every one after (the file lacks that piece for good:
    nothing reads it as if whole); closing after it raises nothing."""
    import errno
    written = os.pwrite

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")
    for then in ("append", "flush", "arrays"):
        columns = spill.MappedColumns({"x": np.int64}, 100)
        columns.append("x", np.arange(10, dtype=np.int64))
        columns.flush()
        monkeypatch.setattr(spill.os, "pwrite", full)
        columns.append("x", np.arange(5, dtype=np.int64))
        monkeypatch.setattr(spill.os, "pwrite", written)     # the next writes would work
        with pytest.raises(OSError, match="No space left"):
            if then == "append":
                columns.append("x", np.arange(1, dtype=np.int64))
            else:
                getattr(columns, then)()
        for again in (columns.flush, columns.arrays,
                      lambda: columns.append("x", np.arange(1, dtype=np.int64))):
            with pytest.raises(OSError, match="No space left"):
                again()
        columns.close()                               # a failed write: nothing raised
    good = spill.MappedColumns({"x": np.int64}, 100)
    good.append("x", np.arange(10, dtype=np.int64))
    good.append("x", np.arange(10, 20, dtype=np.int64))
    assert good.arrays()["x"].tolist() == list(range(20))
    good.close()


@native
def test_blocks_read_back_in_the_order_asked_and_never_past_their_buffer(tmp_path):
    """read_blocks (the store laid out by time is copied with it): each block's bytes in
    the order given, short last block included; a block outside the file or the buffer
    is an OSError, not a read past either."""
    data = bytes(range(256)) * 4                       # 1024 bytes: blocks of 100, last 24
    path = tmp_path / "staged"
    path.write_bytes(b"head" + data)
    sizes = np.asarray([100] * 10 + [24], dtype=np.int64)
    out = np.zeros(2048, dtype=np.uint8)
    with open(path, "rb") as f:
        order = np.asarray([10, 3, 0, 7], dtype=np.int64)
        got = store._native.read_blocks(f.fileno(), 4, order, sizes, 100, out)
        assert got == 324
        assert bytes(out[:got]) == data[1000:] + data[300:400] + data[:100] + data[700:800]
        for bad, room in (([11], 2048), ([-1], 2048), ([0, 1], 150)):
            with pytest.raises(OSError, match="out of range"):
                store._native.read_blocks(f.fileno(), 4, np.asarray(bad, dtype=np.int64),
                                          sizes, 100, np.zeros(room, dtype=np.uint8))
        with pytest.raises(OSError, match="ended early"):
            store._native.read_blocks(f.fileno(), 500, np.asarray([7], dtype=np.int64),
                                      sizes, 100, out)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([-1, 0, 1, 7, 40_000, 2 ** 22 - 2, 2 ** 22]),
                          st.integers(0, 50), st.integers(0, 7)), max_size=60),
       st.booleans())
def test_events_are_ordered_by_thread_seq_and_code_as_a_lexsort(events, many_threads):
    """The store's order of a thread's events (by tid, then stream position, then
    code): a lexsort's, ties in place, with tids past 16 bits, past pid_max, and more
    threads than a 16-bit number holds."""
    tid = np.asarray([t for t, _, _ in events], dtype=np.int32)
    seq = np.asarray([s for _, s, _ in events], dtype=np.int64)
    code = np.asarray([c for _, _, c in events], dtype=np.int8)
    if many_threads:                       # 40,000 threads, each one event
        tid = np.concatenate((tid, np.arange(40_000, dtype=np.int32)))
        seq = np.concatenate((seq, np.arange(40_000, dtype=np.int64)[::-1]))
        code = np.concatenate((code, np.zeros(40_000, dtype=np.int8)))
    got = store.by_thread_seq_code(tid, seq, code)
    assert got.tolist() == np.lexsort((code, seq, tid)).tolist()
