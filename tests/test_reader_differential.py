"""The native reader and the public-API reader agree event for event.

The native path uses bt2's internal functions; this is what licenses it.
Every field of every event (payload and contexts), the timestamp, the
class name and the CPU must be identical.
"""

from __future__ import annotations

import pytest

from conftest import READABLE, shared_trace
from corr.errors import TraceDecodeError
from corr.reading import Projection, open_traces
from corr.reading import native_sink


def _all_events(path, reader):
    traces = open_traces(path)
    events = []
    discards = []
    for batch in traces.batches(Projection.all(), reader=reader, batch_size=4096):
        events.extend(batch.events())
        discards.extend(batch.discards)
    return events, discards


def assert_readers_agree(path):
    """The C, native-Python and public readers give the same events."""
    public, public_discards = _all_events(path, "public")
    assert public, "a trace with events"
    for reader in ("c", "native"):
        events, discards = _all_events(path, reader)
        assert len(events) == len(public), reader
        for a, b in zip(events, public):
            assert a == b, reader
        assert discards == public_discards, reader
    return public


def test_fast_paths_available_on_this_bt2():
    assert native_sink.available()
    assert native_sink.accelerated(), "the C accelerator was not built"


def test_readers_agree_on_shared_traces(readable_trace):
    events = assert_readers_agree(readable_trace)
    # The comparison must cover real fields and contexts, not empty dicts.
    assert any(fields for _, _, _, fields in events)


def test_readers_agree_on_ust_contexts():
    from conftest import shared_trace
    events = assert_readers_agree(shared_trace("php-u-20180813-150550"))
    assert all("ctx.vtid" in f and "ctx.vpid" in f for _, _, _, f in events)
    cpus = {cpu for _, _, cpu, _ in events}
    assert cpus and cpus <= {0, 1, 2, 3}


@pytest.mark.parametrize("batch_size", [1, 7, 100_000])
def test_batch_size_does_not_change_events(batch_size):
    from conftest import shared_trace
    path = shared_trace("wget-k-20180802-115406")
    ref = [e for b in open_traces(path).batches(batch_size=4096) for e in b.events()]
    got = [e for b in open_traces(path).batches(batch_size=batch_size) for e in b.events()]
    assert got == ref


def _span(path, projection, reader, jobs):
    """The trace's first and last event as a decode of ``projection`` saw them, and
    what it raised (a trace that fails part-way)."""
    traces = open_traces(path)
    error = None
    try:
        for _ in traces.batches(Projection.of(projection), reader=reader, jobs=jobs):
            pass
    except TraceDecodeError as exc:
        error = exc.cause
    (trace,) = traces.traces
    return trace.events_ns, error


@pytest.mark.parametrize("name", READABLE + ["hello-lost"])
def test_every_reader_sees_the_first_and_last_event_of_any_class(name):
    """Whatever the projection skips, each reader (serial or in workers) records the
    trace's first and last event: the first and last timestamps of a decode of all."""
    path = shared_trace(name)
    ts = []
    traces = open_traces(path)
    try:
        for batch in traces.batches(Projection.of({"*": ()}), jobs=1):
            ts.extend(batch.ts)
    except TraceDecodeError:
        pass                                        # hello-lost: the events before it
    expected = (ts[0], ts[-1])
    assert traces.traces[0].events_ns == expected
    for projection in ({"no_such_event": "*"}, {"sched_switch": ("prev_tid",)}):
        for reader in ("c", "native", "public"):
            for jobs in (1, 2) if reader != "public" or name != "many-threads" else (1,):
                assert _span(path, projection, reader, jobs)[0] == expected, (reader, jobs)
