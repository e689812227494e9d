"""Running one trace through babeltrace2: ``src.ctf.fs`` -> muxer -> our sink.

One graph per trace folder: babeltrace2 merges that trace's streams in C,
and corr merges traces itself (:mod:`merge`) so that traces on different
clocks (LTTng's epoch-based ``monotonic``, perf's ``perf_clock``) can be
aligned rather than refused.
"""

from __future__ import annotations

import os
from typing import Iterator

import bt2

from ..errors import TraceDecodeError, TraceError
from . import native_sink
from .batch import EventBatch
from .errors_bt2 import describe
from .projection import Projection
from .public_sink import PublicSink
from .sink_common import BatchBuilder, ClassRegistry
from .traceinfo import TraceInfo

DEFAULT_BATCH = 32_768


def choose_sink(reader: str = "auto"):
    """The sink class for ``reader`` = "auto", "native" or "public".

    ``CORR_READER`` in the environment overrides "auto".
    """
    if reader == "auto":
        reader = os.environ.get("CORR_READER", "auto")
    if reader == "public":
        return PublicSink
    if reader == "native" or native_sink.available():
        return native_sink.NativeSink
    return PublicSink


def read_trace(trace: TraceInfo, registry: ClassRegistry, projection: Projection,
               batch_size: int = DEFAULT_BATCH, reader: str = "auto") -> Iterator[EventBatch]:
    """Yield one trace's events in time order, a batch at a time.

    Raises :class:`TraceDecodeError` after yielding every event decoded
    before a mid-trace failure.
    """
    builder = BatchBuilder(trace, registry, projection, batch_size)
    graph = bt2.Graph()
    try:
        src = graph.add_component(bt2.find_plugin("ctf").source_component_classes["fs"],
                                  "src", {"inputs": [trace.path]})
        mux = graph.add_component(bt2.find_plugin("utils").filter_component_classes["muxer"], "mux")
        sink = graph.add_component(choose_sink(reader), "sink", obj=builder)
        for i, port in enumerate(src.output_ports.values()):
            graph.connect_ports(port, mux.input_ports[f"in{i}"])
        graph.connect_ports(mux.output_ports["out"], sink.input_ports["in"])
    except bt2._Error as exc:
        raise TraceError(trace.path, describe(exc)) from None
    run_once = graph.run_once
    while True:
        try:
            run_once()
        except bt2.Stop:
            break
        except bt2.TryAgain:
            continue
        except bt2._Error as exc:
            builder.flush()
            yield from builder.take()
            raise TraceDecodeError(trace.path, describe(exc), stopped_at_ns=builder.last_ts,
                                   events_before=builder.events) from None
        if builder.ready:
            yield from builder.take()
    builder.flush()
    yield from builder.take()
