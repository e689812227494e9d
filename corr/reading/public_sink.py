"""The fallback reader sink: bt2's documented Python API only.

Slow (a wrapper object per message and field) but independent of bt2's
internals; used when :func:`native_sink.available` is false and as the
reference in the differential test.
"""

from __future__ import annotations

import bt2

from . import public_fields
from .batch import FieldInfo
from .sink_common import BatchBuilder, checked_cpu, describe_stream_beginning


def _scope(struct_fc, prefix):
    if struct_fc is None:
        return []
    return [(prefix + name, public_fields.type_name(member.field_class))
            for name, member in struct_fc.items()]


class PublicSink(bt2._UserSinkComponent):
    """Fills a BatchBuilder from public message objects."""

    def __init__(self, config, params, builder: BatchBuilder):
        self._port = self._add_input_port("in")
        self._builder = builder
        self._plans: dict[int, tuple | None] = {}
        self._stream_names: dict[int, str] = {}
        self._stream_tags: dict[int, int] = {}        # stream address -> tag (if tracked)
        self._last_event = None         # the last event message seen, any class (see _note_end)

    def _user_graph_is_configured(self):
        self._iter = self._create_message_iterator(self._port)

    def _plan_for(self, event):
        ec = event.cls
        sc = ec.stream_class
        scopes = {
            "payload": _scope(ec.payload_field_class, ""),
            "common": _scope(sc.event_common_context_field_class, "ctx."),
            "specific": _scope(ec.specific_context_field_class, "ctx."),
            "packet": _scope(sc.packet_context_field_class, "pkt."),
        }
        all_fields = [f for s in scopes.values() for f in s]
        info = self._builder.registry.intern(ec.name, self._builder.trace.index,
                                             tuple(FieldInfo(n, t) for n, t in all_fields))
        wanted = self._builder.wanted_fields(ec.name, [f[0] for f in all_fields])
        if wanted is None:
            return None
        wanted_set = set(wanted)
        return info, {s: [n for n, _ in scopes[s] if n in wanted_set] for s in scopes}

    def _note_end(self) -> None:
        """Where the trace ends (or stopped): its last event message, of any class."""
        if self._last_event is not None:
            ns = self._event_ns(self._last_event)
            self._builder.trace.saw_events(ns, ns)

    def _event_ns(self, msg) -> int | None:
        if msg.event.stream.cls.default_clock_class is None:
            return None
        return msg.default_clock_snapshot.ns_from_origin + self._builder.trace.offset_ns

    def _user_consume(self):
        builder = self._builder
        try:
            msg = next(self._iter)          # raises bt2.Stop at the end
        except BaseException:
            self._note_end()
            raise
        if isinstance(msg, bt2._EventMessageConst):
            if self._last_event is None:         # where the trace begins, any class
                ns = self._event_ns(msg)
                builder.trace.saw_events(ns, ns)
            self._last_event = msg
            event = msg.event
            plan = self._plans.get(event.cls.addr, False)
            if plan is False:
                plan = self._plans[event.cls.addr] = self._plan_for(event)
            if plan is not None:
                info, scopes = plan
                cols = builder.columns_for(info, [c for s in scopes.values() for c in s])
                batch = builder.batch
                batch.ts.append(msg.default_clock_snapshot.ns_from_origin + builder.trace.offset_ns)
                batch.class_ids.append(info.id)
                if batch.mux is not None:
                    batch.mux.streams.append(self._stream_tags.get(event.stream.addr))
                packet = event.packet
                cpu = None
                if packet is not None and packet.context_field is not None \
                        and "cpu_id" in packet.context_field:
                    cpu = int(packet.context_field["cpu_id"])
                cols.cpu.append(cpu)
                for scope_name, field in (("payload", event.payload_field),
                                          ("common", event.common_context_field),
                                          ("specific", event.specific_context_field),
                                          ("packet", packet.context_field if packet else None)):
                    prefix = {"payload": "", "packet": "pkt."}.get(scope_name, "ctx.")
                    for col in scopes[scope_name]:
                        cols.fields[col].append(public_fields.to_python(field[col[len(prefix):]]))
        elif isinstance(msg, bt2._StreamBeginningMessageConst):
            name = describe_stream_beginning(msg, builder.trace)
            self._stream_names[msg.stream.addr] = name
            tag = builder.tag_stream(name, msg.stream)
            if tag is not None:
                self._stream_tags[msg.stream.addr] = tag
        elif isinstance(msg, bt2._PacketBeginningMessageConst):
            ctx = msg.packet.context_field
            if ctx is not None and "cpu_id" in ctx:
                name = self._stream_names.get(msg.packet.stream.addr, "")
                cpu = checked_cpu(builder, int(ctx["cpu_id"]), name)
                info = builder.trace.streams.get(name)
                if info is not None:
                    info.cpu = cpu
        elif isinstance(msg, (bt2._DiscardedEventsMessageConst, bt2._DiscardedPacketsMessageConst)):
            kind = "events" if isinstance(msg, bt2._DiscardedEventsMessageConst) else "packets"
            has_cs = (msg.stream.cls.discarded_events_have_default_clock_snapshots if kind == "events"
                      else msg.stream.cls.discarded_packets_have_default_clock_snapshots)
            builder.add_discard(
                kind, msg.count,
                msg.beginning_default_clock_snapshot.ns_from_origin if has_cs else None,
                msg.end_default_clock_snapshot.ns_from_origin if has_cs else None,
                self._stream_names.get(msg.stream.addr, ""))
        if len(builder.batch.ts) >= builder.batch_size:
            builder.flush()
