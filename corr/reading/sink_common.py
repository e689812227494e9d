"""What both reader sinks share: the batch being filled and trace facts.

A sink is a babeltrace2 sink component that receives one trace's
time-ordered messages (from ``filter.utils.muxer``) and fills a
:class:`BatchBuilder`.  The graph runner drains finished batches between
``graph.run_once()`` calls, so memory stays bounded by the batch size.
"""

from __future__ import annotations


import bt2

from .batch import ClassColumns, Discard, EventBatch, EventClassInfo, FieldInfo, MuxKeys, RawInts
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

# Measured on many-threads (offcpu: 12% of its events kept, two workers of
# ~120k messages): the parent's first batch came after 105 ms with full
# batches only, after 42 ms from 16k messages; its run ended 18 ms sooner.
FIRST_MESSAGE_BUDGET = 16_384
MAX_MESSAGE_BUDGET = 1 << 30


class BatchBuilder:
    """Accumulates events of one trace into the current batch.

    With ``track_streams`` (a parallel reader's worker), every batch also
    carries :class:`MuxKeys`: each event's stream tag and each discard's
    muxing timestamp, and ``stream_table`` lists the streams by tag.  With
    ``raw_ints`` (a worker decoding in C) timestamps, class ids, tags and
    integer fields are :class:`RawInts` instead of lists.
    """

    def __init__(self, trace: TraceInfo, registry: ClassRegistry,
                 projection: Projection, batch_size: int, track_streams: bool = False,
                 raw_ints: bool = False):
        self.trace = trace
        self.registry = registry
        self.projection = projection
        self.batch_size = batch_size
        self.events = 0                 # events delivered so far (all batches)
        self.corrupt: str | None = None  # why a sink stopped the decode (CorruptData)
        self.last_ts: int | None = None
        self.ready: list[EventBatch] = []
        self._columns: dict[int, ClassColumns] = {}
        # tag -> (stream class id, stream id, stream name): the muxer's tie-break order.
        self.stream_table: list[tuple[int, int, str]] | None = [] if track_streams else None
        self.raw_ints = raw_ints
        # A worker ships what it holds after this many messages (0: full batches
        # only), doubling after each batch: the parent starts on a selective
        # rule's events early, and a large trace still travels in full batches.
        self.message_budget = FIRST_MESSAGE_BUDGET if track_streams else 0
        self.batch = self._new_batch()
        # Called with each new ClassColumns so sinks can rebind appenders.
        self.on_new_batch = []

    def _new_batch(self) -> EventBatch:
        if self.raw_ints:
            return EventBatch(ts=RawInts(), class_ids=RawInts(), mux=MuxKeys(streams=RawInts()))
        return EventBatch() if self.stream_table is None else EventBatch(mux=MuxKeys())

    def tag_stream(self, name: str, stream) -> int | None:
        """The tag this stream's events carry, or None when streams are not tracked.

        ``stream`` is bt2's stream object (from the stream-beginning message).
        """
        if self.stream_table is None:
            return None
        self.stream_table.append((stream.cls.id, stream.id, name))
        return len(self.stream_table) - 1

    def columns_for(self, info: EventClassInfo, field_names: list[str],
                    raw: dict[str, str] | None = None) -> ClassColumns:
        """The current batch's columns of a class; ``raw``: typecodes of columns
        the C decoder may fill as :class:`RawInts` (only with ``raw_ints``)."""
        raw = raw if self.raw_ints else None
        cols = self._columns.get(info.id)
        if cols is None:
            cols = self._columns[info.id] = ClassColumns(info, field_names, raw)
        elif raw is not None:
            self._agree(cols, raw)
        return cols

    def _agree(self, cols: ClassColumns, raw: dict[str, str]) -> None:
        """Two event classes share columns but disagree on an integer's sign: use lists."""
        changed = False
        for name, col in cols.fields.items():
            if isinstance(col, RawInts) and raw.get(name) != col.code:
                cols.fields[name] = col.tolist()
                changed = True
        if changed:
            for callback in self.on_new_batch:
                callback(cols.info.id, cols)

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
        mux = self.batch.mux
        if mux is not None:
            # The muxer orders a discard by its beginning, else where it arrives.
            if begin_ns is not None:
                mux.discards.append(begin_ns + self.trace.offset_ns)
            else:
                mux.discards.append(self.batch.ts[-1] if self.batch.ts else self.last_ts)

    def flush(self) -> None:
        """Close the current batch (if it has anything) and start a new one."""
        batch = self.batch
        if batch.ts:
            self.last_ts = batch.ts[-1]
        if not batch.ts and not batch.discards:
            return
        self.events += len(batch.ts)
        if self.message_budget:
            self.message_budget = min(2 * self.message_budget, MAX_MESSAGE_BUDGET)
        batch.classes = {cid: cols for cid, cols in self._columns.items() if len(cols)}
        self.ready.append(batch)
        self.batch = self._new_batch()
        for cid, cols in list(self._columns.items()):
            self._columns[cid] = fresh = cols.fresh()
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


# The largest CPU number a trace may name (Linux's NR_CPUS is at most 8192): a
# corrupt packet context's cpu_id beyond it would reach per-CPU tables and
# 32-bit columns.
MAX_CPU = 65_535


class CorruptData(Exception):
    """Raised by a sink on a value babeltrace2 decoded but corr cannot use;
    :attr:`BatchBuilder.corrupt` keeps the message for the decode's error."""


def checked_cpu(builder: "BatchBuilder", cpu: int, stream_name: str) -> int:
    """``cpu`` if it can be a CPU number; else the decode stops with a message."""
    if 0 <= cpu <= MAX_CPU:
        return cpu
    builder.corrupt = (f"corrupt packet context in stream {stream_name.rsplit('/', 1)[-1]}: "
                       f"cpu_id {cpu} is not a CPU number (0 to {MAX_CPU})")
    raise CorruptData(builder.corrupt)


Stop = bt2.Stop
