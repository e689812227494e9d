"""Interval tables spill sealed chunks to disk; spilled or not, they read the same.

A table keeps at most ``CORR_SPILL_ROWS`` rows in memory; the rest are
sealed in an unlinked temporary file, and only their durations, statuses
and loss marks stay.  Random tables are compared column by column with
one that never spilled; whole runs with a tiny budget (interval tables and
the scheduling log spilled, the model built in buckets of threads onto a
mapped store) must write the same bytes as runs without, in every format
a program reads.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corr import spill
from corr.engine import intervals
from corr.engine.intervals import IntervalTable
from corr.sched.store import MODEL_EVENTS_ENV

from conftest import EXAMPLE_TRACE, READABLE, ROOT, shared_trace

KEYS = st.one_of(st.integers(-5, 5), st.integers(2 ** 63, 2 ** 64), st.tuples(st.integers(0, 3),
                 st.text(max_size=2)))
ROW = st.tuples(st.integers(0, 10 ** 6), st.integers(0, 10 ** 4), st.integers(0, 3),
                st.one_of(st.integers(0, 9), KEYS), st.one_of(st.none(), st.integers(0, 50)),
                st.one_of(st.none(), st.integers(0, 3)), st.one_of(st.none(), st.text(max_size=3)),
                st.integers(-1, 4), st.one_of(st.none(), st.integers(), st.text(max_size=2)))


def _table(rows, budget, monkeypatch) -> IntervalTable:
    monkeypatch.setenv(intervals.SPILL_ROWS_ENV, str(budget))
    table = IntervalTable(["tid"], ("ret",))
    for start, span, status, key, tid, cpu, comm, group, ret in rows:
        table.append(start, start + span, status, key, tid, cpu, comm, tid, cpu, comm, (ret,),
                     group)
    return table


def _columns(table: IntervalTable) -> dict:
    out = {name: list(getattr(table, name)) for name, _ in IntervalTable.INT_COLUMNS}
    out.update({name: list(getattr(table, name)) for name in IntervalTable.OBJECT_COLUMNS})
    out.update(key=list(table.key), fields=table.fields, lossy=list(table.lossy))
    return out


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(ROW, max_size=40), budget=st.integers(1, 7),
       lost=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 5000)), max_size=3),
       picks=st.lists(st.integers(0, 39), max_size=12))
def test_a_spilled_table_reads_as_one_in_memory(rows, budget, lost, picks):
    with pytest.MonkeyPatch.context() as mp:
        whole = _table(rows, 10 ** 9, mp)
        spilled = _table(rows, budget, mp)
    assert not whole.spilled and spilled.spilled == (len(rows) >= budget)
    ranges = [(a, a + b) for a, b in lost]
    assert spilled.mark_lossy(ranges) == whole.mark_lossy(ranges)
    assert len(spilled) == len(whole) == len(rows)
    assert _columns(spilled) == _columns(whole)
    assert np.array_equal(spilled.durations(), whole.durations())
    assert np.array_equal(spilled.statuses(), whole.statuses())
    assert np.array_equal(spilled.measured(), whole.measured())
    for i in range(len(rows)):
        assert spilled.row(i) == whole.row(i)
    picks = [p for p in picks if p < len(rows)]
    assert spilled.rows(picks) == whole.rows(picks) == [whole.row(p) for p in picks]
    assert spilled.groups_at(picks) == [whole.group[p] for p in picks]
    gathered = spilled.gather(picks)
    assert not gathered.spilled
    assert [gathered.row(i) for i in range(len(picks))] == [whole.row(p) for p in picks]
    back = pickle.loads(pickle.dumps(spilled))
    assert not back.spilled and _columns(back) == _columns(whole)


def test_the_matchers_seal_chunks_as_the_pass_goes(monkeypatch):
    """The C core hands its intervals over between batches, not all at the end."""
    from corr import api
    monkeypatch.setenv(intervals.SPILL_ROWS_ENV, "64")
    result = api.run(str(ROOT / "rules" / "syscalls.yaml"), [str(EXAMPLE_TRACE)], cache=False)
    table = result.rules[0].intervals
    assert len(table) > 64 * 10 and table.spilled
    assert len(table._tail["start_ns"]) < 64            # noqa: SLF001 -- what stays in memory
    assert table._spill.rows == len(table) - len(table._tail["start_ns"])  # noqa: SLF001


def _outputs(rules: str, trace, tmp_path, budget: str | None) -> dict:
    env = {**os.environ, "CORR_SERVER": "off"}
    env.pop(intervals.SPILL_ROWS_ENV, None)
    env.pop(MODEL_EVENTS_ENV, None)
    if budget:       # the interval tables and the scheduling log spill, the model is mapped
        env[intervals.SPILL_ROWS_ENV] = budget
        env[MODEL_EVENTS_ENV] = str(int(budget) * 5)     # and built in buckets of threads
    out = {}
    for fmt in ("json", "csv", "txt") + (("folded",) if rules == "offcpu.yaml" else ()):
        path = tmp_path / f"out-{budget}.{fmt}"
        subprocess.run([sys.executable, "-m", "corr", "run", "--no-progress", "--no-cache",
                        "--all-intervals" if fmt == "json" else "--top=20",
                        str(ROOT / "rules" / rules), str(trace), "-o", str(path)],
                       env=env, check=True, capture_output=True)
        out[fmt] = path.read_bytes()
    return out


@pytest.mark.parametrize("rules", ["syscalls.yaml", "offcpu.yaml", "wakeup.yaml"])
@pytest.mark.parametrize("name", ["llserver-example", *READABLE])
def test_spilled_runs_write_the_same_bytes(rules, name, tmp_path):
    trace = EXAMPLE_TRACE if name == "llserver-example" else shared_trace(name)
    spilled = _outputs(rules, trace, tmp_path, "97")
    assert spilled == _outputs(rules, trace, tmp_path, None)


def test_no_room_to_spill_keeps_the_rows_in_memory(monkeypatch):
    """A full or unwritable temporary folder is a warning: the rows stay in memory, and
    the chunks already sealed are still read."""
    import errno

    from corr.cache import CacheWarning
    rows = [(i * 10, i, i % 4, i, i, 0, "c", i % 3, -i) for i in range(25)]
    whole = _table(rows, 10 ** 9, monkeypatch)
    sealed = []
    add = intervals._Spill.add

    def add_twice(self, columns, n):
        if len(sealed) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        sealed.append(n)
        add(self, columns, n)
    monkeypatch.setattr(intervals._Spill, "add", add_twice)
    with pytest.warns(CacheWarning, match="No space left on device; they are kept in memory"):
        spilled = _table(rows, 4, monkeypatch)
    assert sealed == [4, 4] and spilled.spilled
    assert len(spilled._tail["start_ns"]) == 25 - 8        # noqa: SLF001
    assert _columns(spilled) == _columns(whole)
    assert [spilled.row(i) for i in range(25)] == [whole.row(i) for i in range(25)]

    def no_file(*args, **kwargs):
        raise OSError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(spill.tempfile, "mkstemp", no_file)
    with pytest.warns(CacheWarning, match="Permission denied"):
        unspilled = _table(rows, 4, monkeypatch)
    assert not unspilled.spilled and _columns(unspilled) == _columns(whole)


@settings(max_examples=300, deadline=None)
@given(spans=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3)), max_size=60),
       threshold=st.one_of(st.none(), st.integers(-1, 5)), top=st.integers(0, 70),
       rows=st.sampled_from([1, 4, 1000]),
       report=st.sets(st.sampled_from(intervals.STATUS_NAMES), min_size=1))
def test_the_slowest_first_are_a_whole_sort_cut_short(spans, threshold, top, rows, report):
    """The ``top`` slowest intervals over the threshold (found among those at least as
    long as the top-th, many tied; in a spilled table, a piece at a time) are the
    first ``top`` of all of them sorted slowest first, ties in table order; only
    those of the statuses ``report:`` names (without a threshold, all of those)."""
    from types import SimpleNamespace

    from corr.engine.result import RuleResult
    with pytest.MonkeyPatch.context() as env:
        env.setenv(intervals.SPILL_ROWS_ENV, str(rows))
        table = IntervalTable(["tid"], ())
    for i, (span, status) in enumerate(spans):
        table.append(i * 10, i * 10 + span, status, i, 1, 0, "c", 1, 0, "c", (), -1)
    assert table.spilled == (len(spans) >= rows)
    matcher = SimpleNamespace(intervals=table, groups=[],
                              outcome_counts=lambda: {})
    report = [name for name in intervals.STATUS_NAMES if name in report]
    rule = SimpleNamespace(name="r", threshold_ns=threshold, report=report, is_count=False)
    result = RuleResult(rule, matcher)
    durations = table.durations()
    over = [i for i, (_, status) in enumerate(spans) if intervals.STATUS_NAMES[status] in report
            and (threshold is None or durations[i] > threshold)]
    whole = sorted(over, key=lambda i: (-durations[i], i))
    assert result.slowest(False, top).tolist() == whole[:top]
    assert result.slowest(False, None).tolist() == whole


class _Matched:
    """What the decode cache keeps of a rule: its table, groups and outcome counts."""

    def __init__(self, table):
        # a name for every group a row points at (the cache checks them on reading)
        self.intervals = table
        self.groups = [f"g{i}" for i in range(max(list(table.group), default=0) + 1)]

    def outcome_counts(self) -> dict:
        return {"complete": len(self.intervals)}


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(ROW, max_size=30), budget=st.integers(1, 7))
def test_a_spilled_table_is_kept_in_the_cache_a_chunk_at_a_time(tmp_path_factory, rows, budget):
    """The decode cache writes a table a chunk at a time (the chunks of one column may
    hold Nones only, ints in 64 bits or not, keys of any kind); read back, it is the
    table it was, or it is not kept at all (NotCacheable), as when written whole."""
    from corr.cache import intervals as kept
    from corr.cache.columns import NotCacheable
    from corr.cache.store import Entry as StoredEntry

    class Entry:
        folder = tmp_path_factory.mktemp("entry")
        read_table = StoredEntry.read_table         # the real checks over this file

        def temp(self):
            return str(self.folder / "intervals.arrow")

        def open_arrow(self, manifest, name):
            import pyarrow as pa
            return pa.ipc.open_file(pa.memory_map(self.temp()))

    with pytest.MonkeyPatch.context() as mp:
        whole = _table(rows, 10 ** 9, mp)
        spilled = _table(rows, budget, mp)
    results = []
    for table in (whole, spilled):
        try:
            record, _ = kept._write(Entry(), _Matched(table))
        except NotCacheable:
            results.append(None)
            continue
        record["file"] = "intervals.arrow"
        back = kept._load(Entry(), {}, record).intervals
        order = list(range(len(rows)))[::-1]          # as renderers read them: any order
        for _ in range(70 if rows else 0):            # more single reads than ArrowList's
            assert back.rows(order[:1]) == whole.rows(order[:1])     # budget before it
        assert back.rows(order) == whole.rows(order)                 # converts a column
        assert all(getattr(c, "_values", None) is None          # read a chunk at a time,
                   for c in (back.entry_comm, back.exit_comm))  # never converted whole
        assert _columns(back) == _columns(whole)
        results.append(record["key_array"])
    assert results[1] == results[0] or (results[0] is not None and results[1] is None)


def test_sealed_durations_kept_in_32_bits_where_they_fit(monkeypatch):
    """A sealed chunk's durations are kept in 32 bits when all fit, in 64 when one does
    not (a 5 s interval): durations(), the statistics and the slowest rows are those
    of the table in memory."""
    import numpy as np

    from types import SimpleNamespace

    from corr.engine.result import RuleResult
    spans = [3, 2 ** 32 - 1, 7, 5_000_000_000, 1, 2 ** 32, 9, 4, 11]

    def table_of(rows):
        monkeypatch.setenv(intervals.SPILL_ROWS_ENV, str(rows))
        table = IntervalTable(["tid"], ())
        for i, span in enumerate(spans):
            table.append(i * 10, i * 10 + span, 0, i, 1, 0, "c", 1, 0, "c", (), -1)
        return table
    spilled, whole = table_of(3), table_of(1000)
    assert [d.dtype for _, d, _, _ in spilled.pieces()][:3] == [np.uint32, np.int64, np.uint32]
    assert spilled.durations().dtype == np.int64
    assert spilled.durations().tolist() == whole.durations().tolist() == spans

    def result(table):
        outcomes = {"timeouts": 0, "late": 0, "incomplete": 0, "dropped": 0}
        matcher = SimpleNamespace(intervals=table, groups=[], outcome_counts=lambda: outcomes)
        return RuleResult(SimpleNamespace(name="r", threshold_ns=5, group_by=None,
                                          report=intervals.DEFAULT_REPORT, is_count=False),
                          matcher)
    a, b = result(spilled), result(whole)
    assert a.stats == b.stats and a.stats["max_ns"] == 5_000_000_000
    assert a.slowest(top=3).tolist() == b.slowest(top=3).tolist() == [3, 5, 1]


@pytest.mark.parametrize("keys", [[5, 7, -1, 3, 9], [5, 2 ** 40, 1, 2, 3], [5, "x", 1, None, 2]])
def test_blamed_keys_read_a_chunk_at_a_time_are_the_whole_columns(keys, monkeypatch):
    """blame: on a one-integer key reads the keys a chunk at a time: the same thread ids
    as from the whole column, in 32 bits when asked and all fit, in 64 when one does
    not; a key that is not an integer is no thread (NONE_INT)."""
    import numpy as np

    from types import SimpleNamespace

    from corr.analyses.scheduling import blamed_tids
    from corr.engine.intervals import NONE_INT

    def result(rows):
        monkeypatch.setenv(intervals.SPILL_ROWS_ENV, str(rows))
        table = IntervalTable(["tid"], ())
        for i, key in enumerate(keys):
            table.append(i, i + 1, 0, key, 1, 0, "c", 1, 0, "c", (), -1)
        return SimpleNamespace(intervals=table)
    want = [k if isinstance(k, int) else NONE_INT for k in keys]
    for rows in (2, 1000):
        r = result(rows)
        assert r.intervals.spilled == (rows == 2)
        for narrow in (False, True):
            got = blamed_tids(r, "tid", narrow=narrow)
            assert got.tolist() == want
            fits = all(isinstance(k, int) and abs(k) < 2 ** 31 for k in keys)
            assert got.dtype == (np.int32 if narrow and fits else np.int64)
