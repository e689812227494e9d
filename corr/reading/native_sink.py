"""The fast reader sink: bt2's own native functions, no wrapper objects.

bt2's idiomatic API builds a Python object per message, event and field
(~10 us each).  This sink takes whole message ranges with
``bt2_self_component_port_input_get_msg_range`` and reads clock snapshots,
class pointers and fields by index through ``bt2._native_bt``: about 17x
faster.  It is internal API, so :func:`available` pins it to the bt2
versions it was tested against; the public sink is the fallback, and a
differential test checks that both give the same events.

When the optional C accelerator (``_fastsink``, built against
libbabeltrace2's stable C API) is present, the event messages of planned
classes are decoded there; everything rare stays in this module.
"""

from __future__ import annotations

import os

import bt2
from bt2 import _native_bt as N
from bt2 import message as bt2_message
from bt2 import native_bt as nbt

from . import native_fields
from .batch import FieldInfo
from .sink_common import BatchBuilder, checked_cpu, describe_stream_beginning

TESTED_BT2 = ("2.0",)
_NEEDED = ("bt2_self_component_port_input_get_msg_range", "message_get_type",
           "message_event_borrow_event_const", "event_borrow_class_const",
           "message_event_borrow_default_clock_snapshot_const",
           "clock_snapshot_get_ns_from_origin", "message_put_ref",
           "field_structure_borrow_member_field_by_index_const")
_SCOPES = ("payload", "common", "specific", "packet")


def available() -> bool:
    """True when this bt2 has the native functions this sink was built on."""
    version = getattr(bt2, "__version__", "")
    return (any(version.startswith(v + ".") or version == v for v in TESTED_BT2)
            and all(hasattr(N, name) for name in _NEEDED))


def _load_accelerator():
    """The C decoder module, or None (not built, or ``CORR_NO_C=1``)."""
    if os.environ.get("CORR_NO_C"):
        return None
    try:
        from . import _fastsink
    except ImportError:
        return None
    return _fastsink


_fastsink = _load_accelerator()
# C kinds a worker's C decoder writes as raw words (batch.RawInts), by typecode.
_RAW_CODES = {native_fields.C_SIGNED: "q", native_fields.C_UNSIGNED: "Q",
              native_fields.C_BIT_ARRAY: "Q"}
# _fastsink.Decoder.run() statuses.
RUN_FULL, RUN_END, RUN_AGAIN, RUN_ERROR, RUN_PYTHON = range(5)


def accelerated() -> bool:
    """True when event messages are decoded by the C accelerator."""
    return _fastsink is not None


class _Plan:
    """How to decode one event class: its id, columns and field readers."""

    __slots__ = ("cid", "ec", "cpu_append", "ts_base", "python_only", "cols",
                 "payload", "common", "specific", "packet")

    def __init__(self, cid, ec, ts_base, scopes):
        self.cid = cid
        self.ec = ec                      # the class pointer, kept for the C decoder
        self.ts_base = ts_base
        # Per scope: [appender, member index, converter, column, C kind]
        self.payload, self.common, self.specific, self.packet = (
            [[None, idx, conv, col, kind] for col, idx, conv, kind in scopes[s]] for s in _SCOPES)
        self.python_only = any(item[4] is None for s in _SCOPES for item in getattr(self, s))

    def bind(self, cols):
        """Point the appenders at a fresh batch's columns."""
        self.cols = cols
        self.cpu_append = cols.cpu.append
        for s in _SCOPES:
            for item in getattr(self, s):
                item[0] = cols.fields[item[3]].append

    def c_plan(self):
        """The tuple _fastsink.Decoder.set_plan takes."""
        cols = self.cols
        return (self.cid, self.ts_base, cols.cpu,
                *(tuple((idx, kind, cols.fields[col]) for _, idx, _, col, kind in getattr(self, s)
                        if kind is not None) for s in _SCOPES),
                self.python_only)


def _scope_fields(fc, prefix: str):
    """``(column name, member index, converter, type, C kind)`` of a struct scope."""
    return [(prefix + name, idx, native_fields.converter(mfc), native_fields.type_name(mfc),
             native_fields.c_kind(mfc))
            for idx, name, mfc in native_fields.structure_members(fc)]


class _NativeSinkBase:
    """Fills a BatchBuilder from native message ranges (C-accelerated if built)."""

    _accelerate = True

    def __init__(self, config, params, builder: BatchBuilder):
        self._port = self._add_input_port("in")
        self._builder = builder
        self._plans: dict[int, _Plan | None] = {}              # class pointer -> plan
        self._plans_of_class: dict[int, list[_Plan]] = {}      # class id -> its plans
        self._stream_names: dict[int, str] = {}
        self._stream_tags: dict[int, int] = {}         # stream pointer -> tag (if tracked)
        self._stream_cpu: dict[int, int | None] = {}
        self._cpu_index: dict[int, int | None] = {}   # stream class -> cpu_id member
        self._decoder = (_fastsink.Decoder() if _fastsink is not None and self._accelerate
                         else None)
        self._run = False        # the decoder pulls messages itself (see _consume_run)
        # ns from origin of the first and last event message taken in Python (_note_span).
        self._first_ns = self._last_ns = None
        builder.on_new_batch.append(self._rebind)

    def _user_graph_is_configured(self):
        self._iter = self._create_message_iterator(self._port)

    def _rebind(self, cid, cols):
        for plan in self._plans_of_class.get(cid, ()):
            plan.bind(cols)
            if self._decoder is not None:
                self._decoder.set_plan(plan.ec, plan.c_plan())

    # -- rare messages -------------------------------------------------------
    def _plan_for(self, ec) -> _Plan | None:
        builder = self._builder
        name = N.event_class_get_name(ec)
        sc = N.event_class_borrow_stream_class_const(ec)
        scopes = {
            "payload": _scope_fields(N.event_class_borrow_payload_field_class_const(ec), ""),
            "common": _scope_fields(N.stream_class_borrow_event_common_context_field_class_const(sc), "ctx."),
            "specific": _scope_fields(N.event_class_borrow_specific_context_field_class_const(ec), "ctx."),
            "packet": _scope_fields(N.stream_class_borrow_packet_context_field_class_const(sc), "pkt."),
        }
        all_fields = [f for s in scopes.values() for f in s]
        wanted = builder.wanted_fields(name, [f[0] for f in all_fields])
        info = builder.registry.intern(name, builder.trace.index,
                                       tuple(FieldInfo(f[0], f[3]) for f in all_fields))
        if wanted is None:
            plan = None
        else:
            wanted_set = set(wanted)
            plan = _Plan(info.id, ec, self._ts_base(sc), {
                s: [(col, idx, conv, kind) for col, idx, conv, _, kind in scopes[s]
                    if col in wanted_set] for s in _SCOPES})
            raw = None
            if self._decoder is not None:
                raw = {col: _RAW_CODES[kind] for col, _, _, _, kind in all_fields
                       if col in wanted_set and kind in _RAW_CODES}
            plan.bind(builder.columns_for(info, wanted, raw))
            self._plans_of_class.setdefault(info.id, []).append(plan)
        if self._decoder is not None:
            self._decoder.set_plan(ec, None if plan is None else plan.c_plan())
        return plan

    def _ts_base(self, sc) -> int | None:
        """ns = raw clock value + base, for 1 GHz clocks (LTTng's, perf's).

        Reading the raw value skips the (status, ns) tuple bt2 builds for
        ns_from_origin; the sum is the same number.  None: use ns_from_origin.
        """
        cc = N.stream_class_borrow_default_clock_class_const(sc)
        if cc is None or N.clock_class_get_frequency(cc) != 1_000_000_000:
            return None
        seconds, cycles = N.clock_class_get_offset(cc)
        return seconds * 1_000_000_000 + cycles + self._builder.trace.offset_ns

    def _on_stream_beginning(self, m):
        msg = bt2_message._create_from_ptr(m)    # takes over m's reference
        name = describe_stream_beginning(msg, self._builder.trace)
        stream = N.message_stream_beginning_borrow_stream_const(m)
        self._stream_names[int(stream)] = name
        tag = self._builder.tag_stream(name, msg.stream)
        if tag is not None:
            self._stream_tags[int(stream)] = tag
            if self._decoder is not None:
                self._decoder.set_stream_tag(stream, tag)
        sc = N.stream_borrow_class_const(stream)
        if int(sc) not in self._cpu_index:
            index = None
            for idx, mname, _ in native_fields.structure_members(
                    N.stream_class_borrow_packet_context_field_class_const(sc)):
                if mname == "cpu_id":
                    index = idx
            self._cpu_index[int(sc)] = index
            if self._decoder is not None:
                self._decoder.set_cpu_member(sc, -1 if index is None else index)

    def _on_packet_beginning(self, m):
        packet = N.message_packet_beginning_borrow_packet_const(m)
        stream = N.packet_borrow_stream_const(packet)
        index = self._cpu_index.get(int(N.stream_borrow_class_const(stream)))
        if index is None:
            return
        ctx = N.packet_borrow_context_field_const(packet)
        cpu = checked_cpu(self._builder, N.field_integer_unsigned_get_value(
            N.field_structure_borrow_member_field_by_index_const(ctx, index)),
            self._stream_names.get(int(stream), ""))
        self._stream_cpu[int(stream)] = cpu
        if self._decoder is not None:
            self._decoder.set_stream_cpu(stream, cpu)
        info = self._builder.trace.streams.get(self._stream_names.get(int(stream), ""))
        if info is not None:
            info.cpu = cpu

    def _on_discarded(self, m, kind):
        if kind == "events":
            borrow_stream = N.message_discarded_events_borrow_stream_const
            get_count = N.message_discarded_events_get_count
            begin = N.message_discarded_events_borrow_beginning_default_clock_snapshot_const
            end = N.message_discarded_events_borrow_end_default_clock_snapshot_const
        else:
            borrow_stream = N.message_discarded_packets_borrow_stream_const
            get_count = N.message_discarded_packets_get_count
            begin = N.message_discarded_packets_borrow_beginning_default_clock_snapshot_const
            end = N.message_discarded_packets_borrow_end_default_clock_snapshot_const
        stream = borrow_stream(m)
        sc = N.stream_borrow_class_const(stream)
        has_cs = (N.stream_class_discarded_events_have_default_clock_snapshots(sc) if kind == "events"
                  else N.stream_class_discarded_packets_have_default_clock_snapshots(sc))
        ok, count = get_count(m)
        b = e = None
        if has_cs:
            b = N.clock_snapshot_get_ns_from_origin(begin(m))[1]
            e = N.clock_snapshot_get_ns_from_origin(end(m))[1]
        self._builder.add_discard(kind, count if ok else None, b, e,
                                  self._stream_names.get(int(stream), ""))

    def _other_message(self, m, kind) -> None:
        """Anything but an event; takes care of m's reference."""
        if kind == nbt.MESSAGE_TYPE_STREAM_BEGINNING:
            self._on_stream_beginning(m)      # reference taken over
            return
        if kind == nbt.MESSAGE_TYPE_PACKET_BEGINNING:
            self._on_packet_beginning(m)
        elif kind == nbt.MESSAGE_TYPE_DISCARDED_EVENTS:
            self._on_discarded(m, "events")
        elif kind == nbt.MESSAGE_TYPE_DISCARDED_PACKETS:
            self._on_discarded(m, "packets")
        N.message_put_ref(m)

    # -- the hot loops ---------------------------------------------------------
    # Ranges taken per consume call: each graph.run_once() round trip costs
    # a few microseconds of Python, and a range holds only ~15 messages.
    RANGES_PER_CONSUME = 64

    def _user_consume(self):
        if self._run:
            return self._consume_run()
        try:
            self._consume_ranges()
        finally:
            self._tell_span()

    def _consume_ranges(self):
        builder = self._builder
        get_range = N.bt2_self_component_port_input_get_msg_range
        iterator = self._iter._ptr
        for _ in range(self.RANGES_PER_CONSUME):
            status, msgs = get_range(iterator)
            if status != nbt.MESSAGE_ITERATOR_NEXT_STATUS_OK:
                if status == nbt.MESSAGE_ITERATOR_NEXT_STATUS_END:
                    raise bt2.Stop
                if status == nbt.MESSAGE_ITERATOR_NEXT_STATUS_AGAIN:
                    raise bt2.TryAgain
                raise bt2._Error("cannot advance the message iterator")
            self._note_span(msgs)
            if self._decoder is not None and msgs:
                # Learn bt2's SWIG types from real messages, then let C pull.
                _fastsink.bind_swig_type(msgs[0])
                self._run = _fastsink.bind_message_type(msgs[0])
            self._consume_python(msgs)
            if self._run:
                return
            if len(builder.batch.ts) >= builder.batch_size:
                builder.flush()
                return

    def _consume_run(self):
        """C pulls and decodes; Python takes each message C hands back."""
        builder = self._builder
        run = self._decoder.run
        iterator = self._iter._ptr
        try:
            while True:
                batch = builder.batch
                status, msg = run(iterator, batch.ts, batch.class_ids, builder.batch_size,
                                  None if batch.mux is None else batch.mux.streams,
                                  builder.message_budget)
                if status == RUN_PYTHON:
                    self._consume_python((msg,))
                elif status == RUN_FULL:
                    builder.flush()
                    return
                elif status == RUN_END:
                    raise bt2.Stop
                elif status == RUN_AGAIN:
                    raise bt2.TryAgain
                else:
                    raise bt2._Error("cannot advance the message iterator")
        finally:
            self._tell_span()

    def _note_span(self, msgs) -> None:
        """The first (until known) and last event message of a range, of any class:
        where the trace begins and ends whatever the plans decode (as _fastsink's
        note_span)."""
        for m in reversed(msgs):
            last = _event_ns(m)
            if last is not None:
                self._last_ns = last
                if self._first_ns is None:
                    self._first_ns = next(ns for ns in map(_event_ns, msgs) if ns is not None)
                return

    def _tell_span(self) -> None:
        """The trace's events seen so far (here and in C), once per consume call."""
        trace = self._builder.trace
        offset = trace.offset_ns
        if self._first_ns is not None:
            trace.saw_events(self._first_ns + offset, self._last_ns + offset)
        span = self._decoder.span() if self._decoder is not None else None
        if span is not None:
            trace.saw_events(span[0] + offset, span[1] + offset)

    def _consume_python(self, msgs):
        builder = self._builder
        batch = builder.batch
        ts_append = batch.ts.append
        cid_append = batch.class_ids.append
        tag_append = None if batch.mux is None else batch.mux.streams.append
        stream_tags = self._stream_tags
        offset = builder.trace.offset_ns
        plans = self._plans
        stream_cpu = self._stream_cpu
        get_type = N.message_get_type
        put = N.message_put_ref
        borrow_event = N.message_event_borrow_event_const
        borrow_class = N.event_borrow_class_const
        borrow_cs = N.message_event_borrow_default_clock_snapshot_const
        ns_from_origin = N.clock_snapshot_get_ns_from_origin
        raw_value = N.clock_snapshot_get_value
        borrow_stream = N.event_borrow_stream_const
        borrow_payload = N.event_borrow_payload_field_const
        borrow_common = N.event_borrow_common_context_field_const
        borrow_specific = N.event_borrow_specific_context_field_const
        borrow_packet = N.event_borrow_packet_const
        packet_ctx = N.packet_borrow_context_field_const
        member = N.field_structure_borrow_member_field_by_index_const
        EVENT = nbt.MESSAGE_TYPE_EVENT
        for m in msgs:
            kind = get_type(m)
            if kind != EVENT:
                self._other_message(m, kind)
                continue
            ev = borrow_event(m)
            ec = borrow_class(ev)
            key = int(ec)
            try:
                plan = plans[key]
            except KeyError:
                plan = plans[key] = self._plan_for(ec)
            if plan is None:
                put(m)
                continue
            base = plan.ts_base
            if base is not None:
                ts_append(raw_value(borrow_cs(m)) + base)
            else:
                ts_append(ns_from_origin(borrow_cs(m))[1] + offset)
            cid_append(plan.cid)
            stream = int(borrow_stream(ev))
            plan.cpu_append(stream_cpu.get(stream))
            if tag_append is not None:
                tag_append(stream_tags.get(stream))
            if plan.payload:
                scope = borrow_payload(ev)
                for append, idx, conv, _, _ in plan.payload:
                    append(conv(member(scope, idx)))
            if plan.common:
                scope = borrow_common(ev)
                for append, idx, conv, _, _ in plan.common:
                    append(conv(member(scope, idx)))
            if plan.specific:
                scope = borrow_specific(ev)
                for append, idx, conv, _, _ in plan.specific:
                    append(conv(member(scope, idx)))
            if plan.packet:
                scope = packet_ctx(borrow_packet(ev))
                for append, idx, conv, _, _ in plan.packet:
                    append(conv(member(scope, idx)))
            put(m)


def _event_ns(m) -> int | None:
    """An event message's ns from origin; None for other messages."""
    if N.message_get_type(m) != nbt.MESSAGE_TYPE_EVENT or \
            N.message_event_borrow_stream_class_default_clock_class_const(m) is None:
        return None
    status, ns = N.clock_snapshot_get_ns_from_origin(
        N.message_event_borrow_default_clock_snapshot_const(m))
    return ns if status == nbt.CLOCK_SNAPSHOT_GET_NS_FROM_ORIGIN_STATUS_OK else None


class NativeSink(_NativeSinkBase, bt2._UserSinkComponent):
    """The fastest sink: C for planned events, Python for the rest."""


class NativePythonSink(_NativeSinkBase, bt2._UserSinkComponent):
    """The native sink without the C accelerator: bt2's functions from Python."""

    _accelerate = False
