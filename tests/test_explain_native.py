"""Each interval's breakdown and critical path from C (``_native.explain``, a chunk
of intervals per call) equal the Python references', on random scheduling
streams and on every shared kernel trace.

The references are ``critical_path.breakdown`` and ``critical_path.critical_path``
over the Python model (``SchedModel(native=False)``), and for a result row
``row.update(explain(...).to_dict())`` then ``ThreadNames.one_name_per_thread``:
what ``RuleResult.interval`` did before explanations came a chunk at a time.
Thread names change over time in both (random renames, real traces' execs),
since a part names a thread as it was called when the part happened.
"""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import corr.api as api
from corr.analyses import bulk, scheduling
from corr.analyses.critical_path import breakdown, critical_path
from corr.encoded import EncodedJSON
from corr.render import run_json
from corr.engine.threads import ThreadNames
from corr.sched import store
from corr.sched.log import SchedLog
from corr.sched.model import SchedModel

from conftest import READABLE, ROOT, shared_trace
from test_sched_native import SPANS, STREAM, make_log

native = pytest.mark.skipif(store._native is None, reason="the C model was not built")

# (time, tid, name): names the threads of the random streams get, and when.
RENAMES = st.lists(st.tuples(st.integers(-10, 900), st.sampled_from([1, 2, 3]),
                             st.sampled_from(["a", "b", "c"])), max_size=8)


def named(renames) -> ThreadNames:
    """ThreadNames that learned ``renames`` in time order (as the engine's pass does)."""
    threads = ThreadNames(keep_history=True)
    events = sorted(renames, key=lambda r: r[0])
    learn = threads.updater((([tid for _, tid, _ in events], [n for _, _, n in events]),))
    for row, (ts, _, _) in enumerate(events):
        learn(row, ts)
    return threads


def models(stream, waking, threads):
    log = make_log(stream, waking)
    names = threads.name_at if threads is not None else None
    return (SchedModel(log, 0, None, names=names, native=True),
            SchedModel(log, 0, None, names=names, native=False))


def columns(spans):
    spans = [(tid or 1, start, length) for tid, start, length in spans]
    tids, starts, lengths = (np.asarray(c, dtype=np.int64) for c in zip(*spans))
    return spans, tids, starts, starts + lengths


@native
@settings(max_examples=1000, deadline=None)
@given(STREAM, st.booleans(), SPANS, RENAMES, st.booleans(), st.sampled_from([2, 16]))
def test_explained_in_c_equal_the_references(stream, waking, spans, renames, with_names, depth):
    """Every interval's Parts and PathSegments, and their dicts, are the references'."""
    threads = named(renames) if with_names else None
    fast, reference = models(stream, waking, threads)
    spans, tids, starts, ends = columns(spans)
    found = bulk.Explained(fast, bulk.Names(fast, threads), tids, starts, ends, depth)
    for k, (tid, start, length) in enumerate(spans):
        parts = breakdown(reference, tid, start, start + length)
        path = critical_path(reference, tid, start, start + length, max_depth=depth)
        assert found.parts(k) == parts
        assert found.path(k) == path
        assert found.part_dicts(k) == [p.as_dict() for p in parts]
        assert found.path_dicts(k) == [s.as_dict() for s in path]


@native
@settings(max_examples=300, deadline=None)
@given(STREAM, st.booleans(), SPANS, RENAMES, st.sampled_from([1, 2, 3]))
def test_breakdowns_and_paths_asked_apart_are_those_asked_together(stream, waking, spans,
                                                                   renames, first):
    """A chunk explained for its paths only (the folded stacks) gives the same
    breakdowns when they are then read, and the other way round."""
    threads = named(renames)
    fast, _ = models(stream, waking, threads)
    spans, tids, starts, ends = columns(spans)
    names = bulk.Names(fast, threads)
    both = bulk.Explained(fast, names, tids, starts, ends)
    apart = bulk.Explained(fast, names, tids, starts, ends, want=first)
    for k in range(len(spans)):
        assert apart.path(k) == both.path(k) and apart.parts(k) == both.parts(k)
    assert apart.flags == both.flags


@native
@settings(max_examples=300, deadline=None)
@given(STREAM, st.booleans(), SPANS, st.sampled_from([2, 16]))
def test_waits_met_on_the_paths_are_the_references_with_or_without_the_paths(
        stream, waking, spans, depth):
    """The waits the C walk met (the code stacks' wakeups), asked with the paths or
    without them (``want`` 4, 5, 7), are those ``critical_path(waits=...)`` lists:
    who waited, woken by which thread (or not by a thread), from when to when."""
    fast, reference = models(stream, waking, None)
    spans, tids, starts, ends = columns(spans)
    names = bulk.Names(fast)
    expected = []
    for tid, start, length in spans:
        waits: list = []
        critical_path(reference, tid, start, start + length, max_depth=depth, waits=waits)
        expected.append([(w, on if isinstance(on, int) else None, a, b)
                         for w, on, _, a, b in waits])
    for want in (4, 5, 7):
        found = bulk.Explained(fast, names, tids, starts, ends, depth, want=want)
        off, w_tid, w_kind, w_id, w_start, w_end = (c.tolist() for c in found.waits_raw)
        got = [[(w_tid[w], w_id[w] if w_kind[w] == bulk.B_THREAD else None, w_start[w],
                 w_end[w]) for w in range(off[k], off[k + 1])] for k in range(len(spans))]
        assert got == expected, want
        assert (found.path_raw is not None) == bool(want & 2)


# A thread (1) kept off its CPU by many others in turn: (tid, for how long), some
# lengths alike (parts that tie on ns), more parts than the C sort's runs of 16.
OCCUPANTS = st.lists(st.tuples(st.integers(2, 60),
                               st.one_of(st.sampled_from([1, 2, 3]), st.integers(4, 10**6))),
                     min_size=20, max_size=150)
MANY_RENAMES = st.lists(st.tuples(st.integers(0, 10**7), st.integers(2, 60),
                                  st.sampled_from(["a", "b"])), max_size=20)


@native
@settings(max_examples=300, deadline=None)
@given(OCCUPANTS, MANY_RENAMES, st.integers(0, 10**5), st.integers(0, 10**5))
def test_many_parts_sorted_and_named_as_the_reference(occupants, renames, cut_start, cut_end):
    """A wait with up to 59 preempting threads (some renamed while it lasts): its
    parts are summed, named and sorted as the reference's."""
    stream = [(0, ("switch", 0, 0, 0, 1)), (10, ("switch", 0, 1, 0, occupants[0][0]))]
    for k, (tid, length) in enumerate(occupants):
        after = occupants[k + 1][0] if k + 1 < len(occupants) else 1
        stream.append((length, ("switch", 0, tid, 0, after)))
    threads = named(renames)
    fast, reference = models(stream, False, threads)
    end = sum(gap for gap, _ in stream) + 7
    spans = [(1, cut_start, end - cut_start - cut_end)]
    _, tids, starts, ends = columns(spans)
    found = bulk.Explained(fast, bulk.Names(fast, threads), tids, starts, ends)
    parts = breakdown(reference, 1, cut_start, end - cut_end)
    assert found.parts(0) == parts
    assert found.part_dicts(0) == [p.as_dict() for p in parts]
    assert found.path(0) == critical_path(reference, 1, cut_start, end - cut_end)


def reference_row(row: dict, found, threads) -> dict:
    """What RuleResult.interval made of a row before: the reference's dict, one name
    per thread."""
    if found is not None:
        row.update(found.to_dict())
    if threads is not None:
        threads.one_name_per_thread(row)
    return row


def plain_row(tid, start, end, entry, exit_tid) -> dict:
    """The part of a result row the explanation reads and changes."""
    return {"start_ns": start, "end_ns": end, "tid": entry, "comm": "entry's",
            "exit_tid": exit_tid, "exit_comm": None}


@native
@settings(max_examples=1000, deadline=None)
@given(STREAM, st.booleans(), SPANS, RENAMES, st.booleans(), st.sampled_from([1, 2, 3]),
       st.lists(st.sampled_from([None, 0, 1, 2, 3]), min_size=16, max_size=16))
def test_result_rows_in_chunks_equal_the_reference(stream, waking, spans, renames, with_names,
                                                   chunk, others):
    """Result rows filled a chunk at a time (rows not analysed among them, threads
    renamed or not) are the rows the references and one_name_per_thread make, and
    items() and single reads give the references' analyses, in order."""
    threads = named(renames) if with_names else None
    fast, reference = models(stream, waking, threads)
    spans, tids, starts, ends = columns(spans)
    analysed = np.arange(0, 2 * len(spans), 2)[::-1]          # every other row, "slowest" first
    n = 2 * len(spans)
    all_tids, all_starts, all_ends = (np.zeros(n, dtype=np.int64) for _ in range(3))
    all_tids[analysed], all_starts[analysed], all_ends[analysed] = tids, starts, ends
    all_starts[1::2] = starts[::-1] + 7
    all_ends[1::2] = ends[::-1] + 9
    lazy = scheduling.LazyAnalyses(fast, analysed, all_tids[analysed], all_starts[analysed],
                                   all_ends[analysed], threads)
    lazy.CHUNK = chunk

    def rows(explained):
        out = []
        for i in range(n):
            row = plain_row(int(all_tids[i]), int(all_starts[i]), int(all_ends[i]),
                            others[i % 16], others[(i + 5) % 16])
            found = (scheduling.explain(reference, int(all_tids[i]), int(all_starts[i]),
                                        int(all_ends[i])) if explained and i in lazy else None)
            out.append(reference_row(row, found, threads) if explained else row)
        return out

    order = list(range(n))[::-1]
    got = rows(False)
    got = [got[i] for i in order]
    lazy.fill_rows(order, got, threads)
    want = rows(True)
    assert got == [want[i] for i in order]
    assert [list(r) for r in got] == [list(want[i]) for i in order]     # keys in order too
    # Asked for JSON, the rows encode to the same bytes (breakdowns and paths made in C).
    as_json = rows(False)
    as_json = [as_json[i] for i in order]
    for _ in lazy.filled(order, as_json, threads, encoded=True):
        pass
    encode = run_json.encoder()
    assert [encode(r) for r in as_json] == [orjson.dumps(want[i]) for i in order]
    # Cut for a text report: the first segments of each path, and how many it has.
    cut = rows(False)
    cut = [cut[i] for i in order]
    for _ in lazy.filled(order, cut, threads, cut=1):
        pass
    for got_row, i in zip(cut, order):
        whole = dict(want[i])
        path = whole.get("critical_path")
        if path is not None and len(path) > 1:
            whole.update(critical_path=path[:1], path_segments=len(path))
        assert got_row == whole

    items = list(lazy.items())
    assert [i for i, _ in items] == analysed.tolist() == list(lazy)
    for i, found in items + [(i, lazy[i]) for i in analysed.tolist()]:
        want = scheduling.explain(reference, int(all_tids[i]), int(all_starts[i]),
                                  int(all_ends[i]))
        assert (found.tid, found.comm) == (want.tid, want.comm)
        assert found.to_dict() == want.to_dict()
        assert found.critical_path == want.critical_path
        assert found.breakdown == want.breakdown
    assert [v.tid for v in lazy.values()] == all_tids[analysed].tolist()
    with pytest.raises(KeyError):
        lazy[1]


@native
def test_explain_lets_go_of_every_array_it_is_given():
    """Each array handed to explain is released, also when it refuses them."""
    import sys

    from corr.sched.store import _native
    fast, _ = models([(0, ("switch", 0, 1, 1, 2)), (10, ("switch", 0, 2, 1, 1))], False, None)
    st_ = fast.store
    cpus, cpu_off, sw_ts, sw_next, sw_prev, _ = st_.switches
    names = bulk.Names(fast)
    arrays = [st_.tids, st_.off, st_.start, st_.end, st_.state, st_.cpu, st_.src_kind,
              st_.src_id, cpus, cpu_off, sw_ts, sw_next, sw_prev, *st_.switch_threads,
              *names.ren, *names.waits, np.array([1], dtype=np.int64),
              np.array([0], dtype=np.int64), np.array([20], dtype=np.int64)]
    before = [sys.getrefcount(a) for a in arrays]
    out = _native.explain(*arrays[:8], 0, *arrays[8:], 16, 3)
    assert [sys.getrefcount(a) for a in arrays] == before
    part_ns = np.frombuffer(out[3], dtype=np.int64)
    assert part_ns.sum() == 20
    with pytest.raises(ValueError, match="differ in length"):
        _native.explain(*arrays[:8], 0, *arrays[8:-1], np.array([20, 30], dtype=np.int64), 16, 3)
    assert [sys.getrefcount(a) for a in arrays] == before


# Every shared trace with a kernel half (the UST ones have no scheduling events).
KERNEL = [n for n in READABLE if n not in ("context-switches-ust", "php-u-20180813-150550")]
SAMPLE = 10_000          # slow intervals compared one by one; a huge trace's, an even sample


@native
@pytest.mark.shared
@pytest.mark.parametrize("name", KERNEL)
def test_shared_traces_explained_in_c_equal_the_reference(name, monkeypatch):
    """rules/offcpu.yaml (every sleep over 1 us): each slow interval's row, its
    IntervalAnalysis through items() and a single read are the references' over
    the Python model."""
    monkeypatch.setattr(SchedLog, "release", lambda self: None)     # the reference reads it
    result = api.run(str(ROOT / "rules" / "offcpu.yaml"), [shared_trace(name)],
                     overrides=["offcpu.threshold=1us"], cache=False)
    r = result.rule("offcpu")
    analysis = r.analysis
    lazy = analysis.intervals
    assert isinstance(lazy, scheduling.LazyAnalyses) and len(lazy) > 0
    model = lazy.model
    reference = SchedModel(model.log, model.begin_ns, model.end_ns, names=model.name_at,
                           native=False)
    threads = analysis.threads
    order = r.slowest(False, None)
    rows = list(r.iter_intervals())
    assert len(rows) == len(order) == analysis.slow
    picked = np.arange(len(order))
    if len(order) > SAMPLE:
        picked = np.unique(np.linspace(0, len(order) - 1, SAMPLE).astype(np.int64))
    picked = set(picked.tolist())
    explained = {}
    for n, (i, row) in enumerate(zip(order.tolist(), rows)):
        if n not in picked:
            continue
        want = r.interval(i, explained=False)
        found = None
        if i in lazy:
            found = explained[i] = scheduling.explain(reference, int(lazy._tids[i]),
                                                      want["start_ns"], want["end_ns"])
        assert row == reference_row(want, found, threads), i
        assert list(row) == list(want)
    assert explained, "nothing explained: the check would be vacuous"
    for i, found in lazy.items():
        want = explained.get(i)
        if want is not None:
            assert (found.tid, found.comm) == (want.tid, want.comm)
            assert found.critical_path == want.critical_path, i
            assert found.breakdown == want.breakdown, i
    for i in list(explained)[:20]:
        assert r.interval(i) == rows[order.tolist().index(i)]
    # The rows a JSON renderer asks for, breakdowns and paths written in C: the same bytes.
    encode = run_json.encoder()
    in_c = 0
    for row, as_json in zip(rows, r.iter_intervals(encoded=True)):
        in_c += isinstance(as_json.get("breakdown"), EncodedJSON)
        assert encode(as_json) == orjson.dumps(row)
    assert in_c, "no breakdown written in C: the check would be vacuous"


PART = st.tuples(st.sampled_from(bulk.PART_KINDS), st.one_of(st.none(), st.text(max_size=12)),
                 st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)),
                 st.integers(-2**63, 2**63 - 1))
SEGMENT = st.tuples(st.integers(-2**63, 2**63 - 1), st.one_of(st.none(), st.text(max_size=12)),
                    st.integers(0, len(bulk.STATES) - 1), st.integers(-2**63, 2**63 - 1),
                    st.integers(-2**63, 2**63 - 1),
                    st.lists(st.integers(-2**63, 2**63 - 1), max_size=4))


def _offsets(lists) -> np.ndarray:
    return np.cumsum([0] + [len(x) for x in lists], dtype=np.int64)


@native
@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(PART, max_size=6), max_size=6),
       st.lists(st.lists(SEGMENT, max_size=6), max_size=6))
def test_breakdowns_and_paths_written_as_json_in_c_are_orjsons(breakdowns, paths):
    """parts_json and path_json write what orjson writes of the same dicts, whatever the
    strings (encoded once in Python) and integers (negative, 64-bit extremes)."""
    from corr.sched.store import _native
    labels = sorted({p[:3] for parts in breakdowns for p in parts}, key=repr)
    flat = [p for parts in breakdowns for p in parts]
    got = _native.parts_json(
        _offsets(breakdowns), np.asarray([labels.index(p[:3]) for p in flat], dtype=np.int64),
        np.asarray([p[3] for p in flat], dtype=np.int64),
        [orjson.dumps({"kind": k, "by": by, "tid": tid})[:-1] + b',"ns":'
         for k, by, tid in labels])
    assert got == [orjson.dumps([{"kind": k, "by": by, "tid": tid, "ns": ns}
                                 for k, by, tid, ns in parts]) for parts in breakdowns]

    people = sorted({s[:2] for segs in paths for s in segs}, key=repr)
    segs = [s for segs in paths for s in segs]
    chains = [s[5] for s in segs]
    column = lambda values: np.asarray(values, dtype=np.int64)            # noqa: E731
    got = _native.path_json(
        _offsets(paths), column([people.index(s[:2]) for s in segs]), column([s[2] for s in segs]),
        column([s[3] for s in segs]), column([s[4] for s in segs]), column(range(len(segs))),
        _offsets(chains), column([t for c in chains for t in c]),
        [orjson.dumps({"tid": tid, "comm": comm})[:-1] + b',"state":"' for tid, comm in people],
        bulk._STATE_JSON)
    assert got == [orjson.dumps([{"tid": tid, "comm": comm, "state": bulk.STATES[state],
                                  "start_ns": a, "end_ns": b, "via": via}
                                 for tid, comm, state, a, b, via in one]) for one in paths]


@native
def test_json_writers_refuse_columns_that_do_not_hold_together():
    """Offsets, labels, threads, states or chains out of range are a ValueError, never a
    read outside the columns; labels that are not bytes a TypeError."""
    from corr.sched.store import _native
    i64 = lambda *v: np.asarray(v, dtype=np.int64)                        # noqa: E731
    with pytest.raises(ValueError):
        _native.parts_json(i64(0, 2), i64(0), i64(5), [b"{"])              # past the parts
    with pytest.raises(ValueError):
        _native.parts_json(i64(0, 1), i64(1), i64(5), [b"{"])              # no label 1
    with pytest.raises(ValueError):
        _native.parts_json(i64(1, 0), i64(0), i64(5), [b"{"])              # backwards
    with pytest.raises(TypeError):
        _native.parts_json(i64(0, 1), i64(0), i64(5), ["{"])
    ok = (i64(0, 1), i64(0), i64(0), i64(1), i64(2), i64(0), i64(0, 1), i64(7))
    assert _native.path_json(*ok, [b'{"tid":1,"comm":null,"state":"'], bulk._STATE_JSON) == [
        b'[{"tid":1,"comm":null,"state":"RUNNING","start_ns":1,"end_ns":2,"via":[7]}]']
    for at, bad in ((1, i64(1)), (2, i64(len(bulk.STATES))), (5, i64(1)), (6, i64(0, 2))):
        args = list(ok)
        args[at] = bad
        with pytest.raises(ValueError):
            _native.path_json(*args, [b'{"tid":1,"comm":null,"state":"'], bulk._STATE_JSON)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-3, 40), max_size=300), st.sampled_from([1, 2, 7, 1 << 16]))
def test_threads_first_seen_in_chunks_are_in_the_order_a_walk_meets_them(values, chunk):
    """The blame graph's node order: each distinct value where it first appears, found a
    chunk at a time as a dict would find it over the whole column."""
    column = np.asarray(values, dtype=np.int64)
    assert scheduling._first_seen(column, chunk) == list(dict.fromkeys(values))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 4), st.sampled_from(["a", "b", None])),
                max_size=30),
       st.lists(st.tuples(st.integers(-1, 5), st.one_of(st.none(), st.integers(-10, 60))),
                max_size=40),
       st.booleans())
def test_many_names_at_once_are_name_at_one_by_one(changes, asked, history):
    """ThreadNames.names_at (a thread with one name looked up once) is name_at's answer
    for every (tid, time), with or without a history, tid 0 and times None included."""
    threads = ThreadNames(keep_history=history)
    for ts, tid, name in sorted(changes, key=lambda c: c[0]):
        if tid and threads.names.get(tid) != name:
            if history:
                threads.history.append((ts, tid, name))
            threads.names[tid] = name
    tids, times = [t for t, _ in asked], [x for _, x in asked]
    assert threads.names_at(tids, times) == [threads.name_at(t, x) for t, x in asked]


@settings(max_examples=300, deadline=None)
@given(RENAMES, st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 4]), st.integers(-20, 1000)),
                         max_size=40))
def test_names_of_many_threads_at_once_are_their_names_one_by_one(renames, asked):
    """Names.at_many (the code stacks' wakers) equals the model's name_at of each."""
    threads = named(renames)
    model = SchedModel(SchedLog(), 0, None, names=threads.name_at, native=False)
    names = bulk.Names(model, threads)
    tids, times = [t for t, _ in asked], [ts for _, ts in asked]
    assert names.at_many(tids, times) == [threads.name_at(t, ts) for t, ts in asked]
