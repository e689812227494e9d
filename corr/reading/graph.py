"""Running one trace through babeltrace2: ``src.ctf.fs`` -> muxer -> our sink.

One graph per trace folder: babeltrace2 merges that trace's streams in C,
and corr merges traces itself (:mod:`merge`) so that traces on different
clocks (LTTng's epoch-based ``monotonic``, perf's ``perf_clock``) can be
aligned rather than refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import bt2

from ..errors import TraceDecodeError, UsageError
from . import native_sink
from .batch import EventBatch
from ..accelerators import enabled
from .errors_bt2 import captured_c_stderr, describe
from .groups import plan
from .metadata import explain_failure
from .projection import Projection
from .public_sink import PublicSink
from .sink_common import BatchBuilder, ClassRegistry
from .traceinfo import TraceInfo

DEFAULT_BATCH = 32_768


READERS = ("auto", "c", "native", "public")


def choose_sink(reader: str = "auto"):
    """The sink class for ``reader``.

    "c": the C accelerator on libbabeltrace2 (with the native sink for rare
    messages); "native": bt2's native functions from Python; "public":
    bt2's documented API.  "auto" (``CORR_READER`` overrides it) takes the
    fastest available (``native`` when the accelerators are off: corr.accelerators).
    """
    if reader == "auto":
        reader = os.environ.get("CORR_READER", "auto")
    if reader == "auto" and not enabled("reader"):
        reader = "native"               # the C accelerator's Python reference
    if reader not in READERS:
        raise UsageError(f"unknown reader {reader!r}: choose one of {', '.join(READERS)}")
    if reader == "public" or (reader == "auto" and not native_sink.available()):
        return PublicSink
    if reader == "native":
        return native_sink.NativePythonSink
    if reader == "c" and not native_sink.accelerated():
        raise UsageError("the C reader is not built (libbabeltrace2-dev missing at install)")
    return native_sink.NativeSink


def read_trace(trace: TraceInfo, registry: ClassRegistry, projection: Projection,
               batch_size: int = DEFAULT_BATCH, reader: str = "auto",
               jobs: int | str | None = None, workers=None) -> Iterator[EventBatch]:
    """Yield one trace's events in time order, a batch at a time.

    Raises :class:`TraceDecodeError` after yielding every event decoded
    before a mid-trace failure.  ``jobs``: worker processes decoding
    groups of the trace's stream files (:mod:`parallel`); None or "auto"
    (``CORR_JOBS`` overrides it) uses the CPUs for large traces only, 1 is
    serial.  The events and their order are the same either way.  A trace
    decoded serially is decoded in one worker process all the same: babeltrace2
    never runs in this process (:mod:`containment`), but in a served command over
    a trace decoded to its end before (:func:`parallel.decoded_whole_before`).  ``workers``: this
    trace's decode workers, already started (:func:`start_workers`).
    """
    if getattr(trace, "live", None) is not None:
        return trace.live.batches(registry)      # a live session: every event, as it comes
    from .parallel import read_parallel
    groups = workers.groups if workers is not None else plan(trace.path, jobs, batch_size)
    return read_parallel(trace, registry, projection, batch_size, reader, groups or None,
                         workers)


def add_source(graph, path: str):
    """``src.ctf.fs`` over the trace folder ``path`` in ``graph``: its metadata parsed and
    its packets indexed.  A metadata error is a TraceError with the line it is at."""
    with captured_c_stderr() as log:           # where a metadata error gets its line
        try:
            return graph.add_component(bt2.find_plugin("ctf").source_component_classes["fs"],
                                       "src", {"inputs": [path]})
        except bt2._Error as exc:
            error = exc
    raise explain_failure(path, error, log["text"]) from None


def decode(builder: BatchBuilder, reader: str = "auto", source=None,
           ports: list[int] | None = None, progress=None) -> Iterator[EventBatch]:
    """The serial decode: one graph for ``builder.trace``, yielding the builder's batches.

    Runs babeltrace2 in this process: a decode worker calls it, or a served command over
    a trace decoded to its end before (:func:`parallel.decoded_whole_before`).
    ``source``: the trace's :class:`~corr.reading.prepared.PreparedSource`, whose graph
    this process has not used yet (its metadata is not parsed again); ``ports``: the
    indexes of the source's output ports to read (None: all of them); ``progress``:
    a :class:`~corr.reading.containment.Progress` told of each step (a watchdog reads it).
    """
    trace = builder.trace
    if source is not None and source.claim():
        graph, src = source.graph, source.src
    else:
        graph = bt2.Graph()
        src = add_source(graph, trace.path)
    try:
        mux = graph.add_component(bt2.find_plugin("utils").filter_component_classes["muxer"], "mux")
        sink = graph.add_component(choose_sink(reader), "sink", obj=builder)
        outputs = list(src.output_ports.values())
        for i, n in enumerate(range(len(outputs)) if ports is None else ports):
            graph.connect_ports(outputs[n], mux.input_ports[f"in{i}"])
        graph.connect_ports(mux.output_ports["out"], sink.input_ports["in"])
    except bt2._Error as exc:
        raise explain_failure(trace.path, exc) from None
    run_once = graph.run_once
    tick = progress.tick if progress is not None else _nothing
    if progress is not None:
        progress.opened()
    while True:
        tick()
        try:
            run_once()
        except bt2.Stop:
            break
        except bt2.TryAgain:
            continue
        except bt2._Error as exc:
            builder.flush()
            yield from builder.take()
            raise TraceDecodeError(trace.path, builder.corrupt or describe(exc),
                                   stopped_at_ns=builder.last_ts,
                                   events_before=builder.events) from None
        if builder.ready:
            yield from builder.take()
    builder.flush()
    yield from builder.take()


def _nothing() -> None:
    pass


def start_workers(trace: TraceInfo, projection: Projection, batch_size: int = DEFAULT_BATCH,
                  reader: str = "auto", jobs: int | str | None = None, whole: bool = False):
    """Start a large trace's decode workers now, to pass to :func:`read_trace`; None
    when the trace is decoded serially (with ``whole``: its one worker, started now),
    or when they cannot be started."""
    if getattr(trace, "live", None) is not None:
        return None                     # its reader started when it was opened
    groups = plan(trace.path, jobs, batch_size)
    if not groups and not whole:
        return None
    from . import parallel
    if not groups and parallel.decoded_whole_before(trace):
        return None                     # decoded here: no worker to start
    return parallel.start_workers(trace, projection, batch_size, reader, groups or None)
