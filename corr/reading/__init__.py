"""Reading traces: from paths to one time-ordered stream of event batches.

    traces = open_traces(["trace/"])
    for batch in traces.batches(Projection.of({"sched_switch": "*"})):
        ...

``open_traces`` finds the CTF traces under the paths, reads their metadata
and aligns their clocks; ``TraceSet.batches`` decodes (natively when it can,
a large trace's stream files in worker processes: ``jobs``, ``CORR_JOBS``)
only the projected classes and fields, and merges the traces by time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

# The CTF plugin reads this when it loads: its TSDL parser then logs syntax
# errors with their line, which metadata.load captures to name the line.
os.environ.setdefault("BABELTRACE_PLUGIN_CTF_METADATA_LOG_LEVEL", "E")

from . import clocks, live, metadata, sources
from .batch import ClassColumns, Discard, EventBatch, EventClassInfo, FieldInfo
from .graph import DEFAULT_BATCH, read_trace, start_workers
from .merge import merge
from .projection import ALL, Projection
from .sink_common import ClassRegistry
from .traceinfo import ClockInfo, StreamInfo, TraceInfo

__all__ = ["open_traces", "TraceSet", "Projection", "ALL", "EventBatch", "ClassColumns",
           "EventClassInfo", "FieldInfo", "Discard", "TraceInfo", "ClockInfo", "StreamInfo"]


class TraceSet:
    """The traces of one analysis, aligned on one time base."""

    def __init__(self, traces: list[TraceInfo]):
        self.traces = traces
        self.registry = ClassRegistry()

    @property
    def range_ns(self) -> tuple[int, int] | None:
        """First and last timestamp on the common time base, from the indexes."""
        spans = [(t.range_ns[0] + t.offset_ns, t.range_ns[1] + t.offset_ns)
                 for t in self.traces if t.range_ns]
        if not spans:
            return None
        return min(b for b, _ in spans), max(e for _, e in spans)

    def batches(self, projection: Projection | None = None, batch_size: int = DEFAULT_BATCH,
                reader: str = "auto", jobs: int | str | None = None) -> Iterator[EventBatch]:
        """Every projected event of every trace, merged in time order.

        Raises :class:`~corr.errors.TraceDecodeError` after the last event
        that could be decoded when a trace fails part-way.  ``jobs``: worker
        processes per trace (see :func:`~corr.reading.graph.read_trace`).
        """
        projection = projection or Projection.all()
        # Several traces: every trace's workers start now, so that they decode at once
        # (a trace's own would start only when the merge first asks it for a batch).
        workers = [start_workers(t, projection, batch_size, reader, jobs, whole=True)
                   if len(self.traces) > 1 else None for t in self.traces]
        streams = [read_trace(t, self.registry, projection, batch_size, reader, jobs, w)
                   for t, w in zip(self.traces, workers)]
        return merge(streams)

    @property
    def live(self) -> "live.LiveSource | None":
        """The live session's reader (:class:`~corr.reading.live.LiveSource`) when the
        set is a live session, else None."""
        for t in self.traces:
            source = getattr(t, "live", None)
            if source is not None:
                return source
        return None

    def class_info(self, class_id: int) -> EventClassInfo:
        return self.registry.classes[class_id]


def open_traces(paths, clock_offsets: dict[str, int] | None = None) -> TraceSet:
    """Find, check and align the traces under ``paths`` (no events decoded yet)."""
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    paths = list(paths)
    if any(live.is_live(p) for p in paths):
        return _open_live(paths)
    traces = sources.discover(paths)
    for t in traces:
        metadata.load(t)
    clocks.align(traces, clock_offsets)
    return TraceSet(traces)


def _open_live(paths) -> TraceSet:
    """A live session (``net://...``), read alone: its events come as they are recorded,
    and a trace folder read with it would be merged only once the session ended."""
    if len(paths) > 1:
        from ..errors import UsageError
        raise UsageError("a live session (net://...) is read alone, without other traces")
    return TraceSet([live.open_live(paths[0], 0)])
