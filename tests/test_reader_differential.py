"""The native reader and the public-API reader agree event for event.

The native path uses bt2's internal functions; this is what licenses it.
Every field of every event (payload and contexts), the timestamp, the
class name and the CPU must be identical.
"""

from __future__ import annotations

import pytest

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
