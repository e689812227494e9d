"""corr.reading.merge.merge: several traces' batch streams into one time-ordered stream.

A property over random streams (every event kept once, in time order, the
earlier trace first at equal timestamps), and a damaged trace whose batch is
not in time order (a fuzzed timestamp): its events are all kept, none
raises (numpy's ``need at least one array to concatenate`` did, once).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from corr.reading.batch import ClassColumns, EventBatch, EventClassInfo
from corr.reading.merge import merge


def _stream(trace: int, batches: list[list[int]]):
    """Batches of class ``trace`` (one class per trace, as traces never share one); each
    event's ``seq`` field is its place in its trace, and its cpu the trace."""
    info = EventClassInfo(trace, f"class{trace}", trace, ("seq",))
    out, seq = [], 0
    for ts in batches:
        columns = ClassColumns(info, ["seq"])
        columns.fields["seq"] = list(range(seq, seq + len(ts)))
        columns.cpu = [trace] * len(ts)
        seq += len(ts)
        out.append(EventBatch(ts=list(ts), class_ids=[trace] * len(ts),
                              classes={trace: columns} if ts else {}))
    return iter(out)


def _merged(streams) -> list[tuple[int, int]]:
    """``(timestamp, trace)`` of each merged event; checks that its columns came with it."""
    out, seen = [], {}
    for batch in merge(streams):
        for t, cid, row in batch.rows():
            columns = batch.classes[cid]
            assert columns.fields["seq"][row] == seen.get(cid, 0) and columns.cpu[row] == cid
            seen[cid] = seen.get(cid, 0) + 1
            out.append((t, cid))
    return out


sorted_batches = st.lists(st.integers(0, 50), max_size=12).map(sorted).flatmap(
    lambda ts: st.lists(st.integers(1, 4), max_size=6).map(lambda cuts: _cut(ts, cuts)))


def _cut(ts: list[int], sizes: list[int]) -> list[list[int]]:
    """``ts`` cut into consecutive batches of ``sizes`` (the rest in a last one)."""
    out, at = [], 0
    for size in sizes:
        out.append(ts[at:at + size])
        at += size
    out.append(ts[at:])
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(sorted_batches, min_size=2, max_size=4))
def test_every_event_once_in_time_order_earlier_trace_first(traces):
    merged = _merged([_stream(i, batches) for i, batches in enumerate(traces)])
    expected = sorted((t, i) for i, batches in enumerate(traces) for b in batches for t in b)
    assert merged == expected


def test_a_batch_out_of_time_order_is_passed_on_whole():
    # Trace 0's batch ends on an earlier timestamp than it starts with: at the
    # watermark (50) neither trace has an event at or before it by bisection.
    merged = _merged([_stream(0, [[100, 200, 50]]), _stream(1, [[60, 70]])])
    assert merged == [(100, 0), (200, 0), (50, 0), (60, 1), (70, 1)]


def test_out_of_order_batches_in_both_traces_keep_every_event():
    merged = _merged([_stream(0, [[100, 200, 50], [300]]), _stream(1, [[90, 10], [400]])])
    assert sorted(merged) == sorted([(100, 0), (200, 0), (50, 0), (300, 0),
                                     (90, 1), (10, 1), (400, 1)])
