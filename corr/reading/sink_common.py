"""What both reader sinks share: the batch being filled and trace facts.

A sink is a babeltrace2 sink component that receives one trace's
time-ordered messages (from ``filter.utils.muxer``) and fills a
:class:`BatchBuilder`.  The graph runner drains finished batches between
``graph.run_once()`` calls, so memory stays bounded by the batch size.
"""

from __future__ import annotations

import bt2

from .batch import ClassColumns, Discard, EventBatch, EventClassInfo, FieldInfo
from .projection import ALL, Projection
from .traceinfo import ClockInfo, StreamInfo, TraceInfo


class ClassRegistry:
    """Event classes of every trace of one read, with read-wide ids."""

    def __init__(self) -> None:
        self.classes: list[EventClassInfo] = []
        self._by_key: dict[tuple, EventClassInfo] = {}

    def add(self, name: str, trace: int, fields: list[FieldInfo]) -> EventClassInfo:
        info = EventClassInfo(id=len(self.classes), name=name, trace=trace,
                              fields=tuple(fields))
        self.classes.append(info)
        return info

    def intern(self, name: str, trace: int, fields: tuple[FieldInfo, ...]) -> EventClassInfo:
        """The class with this name and fields in this trace, added if new."""
        key = (trace, name, fields)
        info = self._by_key.get(key)
        if info is None:
            info = self._by_key[key] = self.add(name, trace, list(fields))
        return info


class BatchBuilder:
    """Accumulates events of one trace into the current batch."""

    def __init__(self, trace: TraceInfo, registry: ClassRegistry,
                 projection: Projection, batch_size: int):
        self.trace = trace
        self.registry = registry
        self.projection = projection
        self.batch_size = batch_size
        self.events = 0                 # events delivered so far (all batches)
        self.last_ts: int | None = None
        self.ready: list[EventBatch] = []
        self._columns: dict[int, ClassColumns] = {}
        self.batch = EventBatch()
        # Called with each new ClassColumns so sinks can rebind appenders.
        self.on_new_batch = []

    def columns_for(self, info: EventClassInfo, field_names: list[str]) -> ClassColumns:
        cols = self._columns.get(info.id)
        if cols is None:
            cols = self._columns[info.id] = ClassColumns(info, field_names)
        return cols

    def wanted_fields(self, class_name: str, available: list[str]) -> list[str] | None:
        """The columns to decode for a class, or None to skip it."""
        wanted = self.projection.fields_for(class_name)
        if wanted is None:
            return None
        if wanted == ALL:
            # Packet-context fields repeat per packet: only on explicit request.
            return [f for f in available if not f.startswith("pkt.")]
        return [f for f in available if f in wanted]

    def add_discard(self, kind: str, count, begin_ns, end_ns, stream_name: str) -> None:
        stream = self.trace.streams.get(stream_name)
        self.batch.discards.append(Discard(
            kind=kind, count=count,
            begin_ns=None if begin_ns is None else begin_ns + self.trace.offset_ns,
            end_ns=None if end_ns is None else end_ns + self.trace.offset_ns,
            cpu=stream.cpu if stream else None, trace=self.trace.index, stream=stream_name))

    def flush(self) -> None:
        """Close the current batch (if it has anything) and start a new one."""
        batch = self.batch
        if batch.ts:
            self.last_ts = batch.ts[-1]
        if not batch.ts and not batch.discards:
            return
        self.events += len(batch.ts)
        batch.classes = {cid: cols for cid, cols in self._columns.items() if len(cols)}
        self.ready.append(batch)
        self.batch = EventBatch()
        for cid, cols in list(self._columns.items()):
            self._columns[cid] = fresh = ClassColumns(cols.info, list(cols.fields))
            for callback in self.on_new_batch:
                callback(cid, fresh)

    def take(self) -> list[EventBatch]:
        out, self.ready = self.ready, []
        return out


def describe_stream_beginning(msg, trace: TraceInfo) -> str:
    """Record what a stream-beginning message says about its trace.

    Uses the public API: it happens once per stream, so speed is moot.
    """
    stream = msg.stream
    name = stream.name or f"stream-{stream.id}"
    if not trace.env:
        trace.env = {k: _plain(v) for k, v in stream.trace.environment.items()}
    clock = stream.cls.default_clock_class
    if clock is not None and trace.clock is None:
        offset = clock.offset
        trace.clock = ClockInfo(
            name=clock.name or "", frequency=clock.frequency,
            offset_s=offset.seconds, offset_cycles=offset.cycles,
            origin_is_unix_epoch=clock.origin_is_unix_epoch,
            uuid=str(clock.uuid) if clock.uuid is not None else None)
    pc = stream.cls.packet_context_field_class
    trace.streams.setdefault(name, StreamInfo(
        name=name, packet_context=tuple(pc.keys()) if pc is not None else ()))
    return name


def _plain(value):
    if isinstance(value, bt2._IntegerValueConst):
        return int(value)
    return str(value)


class End(Exception):
    """Raised by a sink's consume when its upstream is exhausted."""


Stop = bt2.Stop
