"""Write one CTF trace through babeltrace2: a Python source into ``sink.ctf.fs``.

The source turns a time-ordered stream of event records into bt2 messages:
one stream per CPU (like an LTTng per-CPU channel), packets whose context
carries ``cpu_id``, and discarded-events messages placed the only way
``sink.ctf.fs`` can encode them (see :func:`write_trace`).

Two ways of filling events exist.  The public bt2 API costs ~50 µs per
event (one wrapper object per field).  The fast path calls the functions
the bt2 wrappers call (``bt2.native_bt``) and hands new message references
straight to babeltrace2: about 15x faster.  It relies on bt2 internals, so
it is only used with the bt2 version it was written for (2.0.x) and the
tests check that both paths write identical traces.
"""

from __future__ import annotations

import gc
import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

import bt2
from bt2 import message as _bt2_message
from bt2 import native_bt as _native_bt

from .layouts import INTEGER_BITS, Seq

__all__ = [
    "ClockDescription", "TraceDescription", "Discard", "write_trace",
    "fast_path_available",
]

_NATIVE = getattr(_native_bt, "_native_bt", None)
_NATIVE_FUNCTIONS = (
    "message_event_create_with_packet_and_default_clock_snapshot",
    "message_event_borrow_event", "event_borrow_payload_field",
    "event_borrow_common_context_field",
    "field_structure_borrow_member_field_by_index",
    "field_integer_signed_set_value", "field_integer_unsigned_set_value",
    "field_string_set_value", "field_real_double_precision_set_value",
    "field_real_single_precision_set_value", "field_array_dynamic_set_length",
    "field_array_borrow_element_field_by_index",
)


def fast_path_available() -> bool:
    """True when the bt2 internals the fast path uses are the ones it knows."""
    return (bt2.__version__.startswith("2.0.") and _NATIVE is not None
            and all(hasattr(_NATIVE, name) for name in _NATIVE_FUNCTIONS))


@dataclass(frozen=True)
class ClockDescription:
    """An LTTng-like clock: 1 GHz, origin at the Unix epoch, offset = boot time."""

    offset_ns: int
    uuid: uuid.UUID
    name: str = "monotonic"
    description: str = "Monotonic Clock"
    frequency: int = 1_000_000_000


@dataclass
class TraceDescription:
    """What a trace declares: environment, clock, per-CPU streams, event classes.

    ``event_classes`` maps an event name to its layout (see
    :mod:`corr.testing.layouts`); ``common_context`` is the stream's event
    common context layout (``lttng add-context``).
    """

    environment: dict
    clock: ClockDescription
    cpus: int
    event_classes: dict
    common_context: tuple = ()
    channel: str = "channel0"
    log_levels: dict = field(default_factory=dict)


class Discard(NamedTuple):
    """``count`` events lost on ``cpu``'s stream between clock values ``begin`` and ``end``."""

    cpu: int
    count: int
    begin: int
    end: int


@dataclass
class _Job:
    """Everything the source component needs, handed over through the graph."""

    description: TraceDescription
    records: Iterable
    begin: int
    end: int | None
    discards: tuple
    packet_events: int | None
    fast: bool
    error: BaseException | None = None
    # Filled by the source component when the graph initialises it.
    trace_class: object = None
    stream_class: object = None
    event_classes: dict = field(default_factory=dict)
    context_setters: tuple | None = None


def write_trace(path, description: TraceDescription, records: Iterable, *,
                begin: int, end: int | None = None, discards: Iterable[Discard] = (),
                packet_events: int | None = None, fast: bool | None = None) -> Path:
    """Write ``records`` as a CTF trace in ``path`` (which must not exist or be empty).

    ``records`` yields ``(clock_value, cpu, event_name, payload_values,
    context_values)`` in non-decreasing clock order; value tuples follow the
    layouts' field order.  Every stream has packets from ``begin`` to
    ``end`` (default: the last event, for streamed records); a new packet
    starts after ``packet_events`` events per stream.  Each
    discard closes the packet at its ``begin`` and the next one at its
    ``end``, as ``sink.ctf.fs`` requires.  Values are not range-checked here
    (the fast path would silently truncate them): callers check them.
    Returns the trace directory.
    """
    path = Path(path)
    _prepare_output_dir(path)
    job = _Job(description, records, begin, end,
               _sorted_discards(discards, begin, float("inf") if end is None else end),
               packet_events, fast_path_available() if fast is None else fast)
    graph = bt2.Graph()
    source_class = _FastTraceSource if job.fast else _TraceSource
    source = graph.add_component(source_class, "scenario", obj=job)
    sink = graph.add_component(bt2.find_plugin("ctf").sink_component_classes["fs"], "writer",
                               params={"path": str(path), "assume-single-trace": True,
                                       "quiet": True})
    graph.connect_ports(source.output_ports["out"], sink.input_ports["in"])
    try:
        graph.run()
    except bt2._Error:
        if job.error is not None:
            raise job.error from None
        raise
    finally:
        # sink.ctf.fs writes the metadata file when it is destroyed.
        del graph, source, sink
        gc.collect()
    return path


def _prepare_output_dir(path: Path) -> None:
    """sink.ctf.fs refuses an existing directory: remove it if it is empty."""
    if path.exists():
        if not path.is_dir() or any(path.iterdir()):
            raise FileExistsError(f"{path}: output trace directory exists and is not empty")
        path.rmdir()
    path.parent.mkdir(parents=True, exist_ok=True)


def _sorted_discards(discards, begin, end) -> tuple:
    """Validate discarded-event ranges: inside the trace, ordered, not overlapping."""
    ordered = tuple(sorted(discards, key=lambda d: (d.cpu, d.begin)))
    for previous, current in zip((None,) + ordered, ordered):
        if not begin <= current.begin <= current.end <= end:
            raise ValueError(f"discarded range {current} is outside the trace [{begin}, {end}]")
        if current.count < 1:
            raise ValueError(f"discarded range {current} must count at least one event")
        if previous is not None and previous.cpu == current.cpu and current.begin < previous.end:
            raise ValueError(f"discarded ranges {previous} and {current} overlap")
    return ordered


# ---------------------------------------------------------------------------
# Trace IR classes


def _create_field_class(trace_class, type_code, members=None):
    """A bt2 field class for a type code; ``members`` resolves a Seq's length field."""
    if isinstance(type_code, Seq):
        element = _create_field_class(trace_class, type_code.element)
        return trace_class.create_dynamic_array_field_class(element, members[type_code.length_field])
    if type_code == "str":
        return trace_class.create_string_field_class()
    if type_code == "f64":
        return trace_class.create_double_precision_real_field_class()
    if type_code == "f32":
        return trace_class.create_single_precision_real_field_class()
    bits = INTEGER_BITS[type_code]
    if type_code[0] == "s":
        return trace_class.create_signed_integer_field_class(bits)
    base = 16 if type_code[0] == "x" else 10
    return trace_class.create_unsigned_integer_field_class(bits, preferred_display_base=base)


def _create_structure(trace_class, layout):
    """A structure field class with one member per layout entry."""
    structure = trace_class.create_structure_field_class()
    members = {}
    for name, type_code in layout:
        members[name] = _create_field_class(trace_class, type_code, members)
        structure.append_member(name, members[name])
    return structure


class _EventClassInfo(NamedTuple):
    """An event class with what filling its fields needs."""

    event_class: object
    names: tuple
    setters: tuple


class _TraceSourceBase:
    """Declares the trace IR classes of a :class:`TraceDescription`."""

    def __init__(self, config, params, job):
        description = job.description
        trace_class = self._create_trace_class()
        clock = description.clock
        clock_class = self._create_clock_class(
            frequency=clock.frequency, name=clock.name, description=clock.description,
            offset=bt2.ClockClassOffset(*divmod(clock.offset_ns, clock.frequency)),
            origin_is_unix_epoch=True, uuid=clock.uuid)
        packet_context = trace_class.create_structure_field_class()
        packet_context.append_member("cpu_id", trace_class.create_unsigned_integer_field_class(32))
        common_context = (_create_structure(trace_class, description.common_context)
                          if description.common_context else None)
        stream_class = trace_class.create_stream_class(
            name=description.channel, default_clock_class=clock_class,
            packet_context_field_class=packet_context,
            event_common_context_field_class=common_context,
            supports_packets=True,
            packets_have_beginning_default_clock_snapshot=True,
            packets_have_end_default_clock_snapshot=True,
            supports_discarded_events=True,
            discarded_events_have_default_clock_snapshots=True)
        job.trace_class = trace_class
        job.stream_class = stream_class
        job.event_classes = {
            name: self._event_class_info(trace_class, stream_class, name, layout,
                                         description.log_levels.get(name), job.fast)
            for name, layout in description.event_classes.items()}
        job.context_setters = _setters(description.common_context, job.fast)
        self._add_output_port("out", job)

    @staticmethod
    def _event_class_info(trace_class, stream_class, name, layout, log_level, fast):
        event_class = stream_class.create_event_class(
            name=name, payload_field_class=_create_structure(trace_class, layout),
            log_level=log_level)
        names = tuple(field_name for field_name, _ in layout)
        return _EventClassInfo(event_class, names, _setters(layout, fast))


# ---------------------------------------------------------------------------
# Filling fields


def _setters(layout, fast):
    """One native setter per member (fast path); None for the public path."""
    if not fast:
        return None
    return tuple(_native_setter(type_code) for _, type_code in layout)


def _native_setter(type_code):
    """A function (field_ptr, value) setting one field through bt2.native_bt."""
    if isinstance(type_code, Seq):
        return _native_sequence_setter(_native_setter(type_code.element))
    if type_code == "str":
        return _NATIVE.field_string_set_value
    if type_code == "f64":
        return _NATIVE.field_real_double_precision_set_value
    if type_code == "f32":
        return _NATIVE.field_real_single_precision_set_value
    if type_code[0] == "s":
        return _NATIVE.field_integer_signed_set_value
    return _NATIVE.field_integer_unsigned_set_value


def _native_sequence_setter(element_setter):
    set_length = _NATIVE.field_array_dynamic_set_length
    borrow = _NATIVE.field_array_borrow_element_field_by_index

    def set_sequence(field_ptr, values):
        set_length(field_ptr, len(values))
        for index, value in enumerate(values):
            element_setter(borrow(field_ptr, index), value)
    return set_sequence


# ---------------------------------------------------------------------------
# Messages


class _StreamState:
    """The packet currently open on one CPU's stream."""

    __slots__ = ("cpu", "stream", "packet", "packet_ptr", "events_in_packet", "in_discard")

    def __init__(self, cpu, stream):
        self.cpu = cpu
        self.stream = stream
        self.packet = None
        self.packet_ptr = None
        self.events_in_packet = 0
        self.in_discard = False


class _TraceIterator(bt2._UserMessageIterator):
    """Yields the messages of one trace, in clock order, through the public API."""

    def __init__(self, config, port):
        self._job = port.user_data
        self._messages = self._all_messages(self._job)

    def __next__(self):
        try:
            return next(self._messages)
        except StopIteration:
            raise bt2.Stop from None
        except Exception as error:  # kept to re-raise it outside the graph
            self._job.error = error
            raise

    def _all_messages(self, job):
        description = job.description
        trace = job.trace_class(environment=description.environment)
        states = [_StreamState(cpu, trace.create_stream(
                      job.stream_class, name=f"{description.channel}_{cpu}"))
                  for cpu in range(description.cpus)]
        for state in states:
            yield self._create_stream_beginning_message(state.stream)
            yield self._open_packet(state, job.begin)
        boundaries = _discard_boundaries(job.discards)
        last = yield from self._event_messages(job, states, boundaries)
        while boundaries:
            last = boundaries[0][0]
            yield from self._cross_boundary(states, heapq.heappop(boundaries))
        end = last if job.end is None else job.end
        for state in states:
            yield self._create_packet_end_message(state.packet, end)
            yield self._create_stream_end_message(state.stream)

    def _event_messages(self, job, states, boundaries):
        make_event = self._event_maker(job)
        packet_events = job.packet_events
        last = job.begin
        end = float("inf") if job.end is None else job.end
        for clock_value, cpu, name, payload, context in job.records:
            if clock_value < last or clock_value > end:
                raise ValueError(f"event {name} at {clock_value} is out of order "
                                 f"(previous {last}, trace ends at {job.end})")
            last = clock_value
            while boundaries and boundaries[0][0] < clock_value:
                yield from self._cross_boundary(states, heapq.heappop(boundaries))
            state = states[cpu]
            yield make_event(state, clock_value, name, payload, context)
            state.events_in_packet += 1
            if packet_events and state.events_in_packet >= packet_events and not state.in_discard:
                yield self._create_packet_end_message(state.packet, clock_value)
                yield self._open_packet(state, clock_value)
        return last

    def _cross_boundary(self, states, boundary):
        """Close the packet at a discarded range's begin or end."""
        clock_value, is_begin, cpu, count, end = boundary
        state = states[cpu]
        yield self._create_packet_end_message(state.packet, clock_value)
        if is_begin:
            yield self._create_discarded_events_message(state.stream, count, clock_value, end)
        state.in_discard = bool(is_begin)
        yield self._open_packet(state, clock_value)

    def _open_packet(self, state, clock_value):
        state.packet = state.stream.create_packet()
        state.packet.context_field["cpu_id"] = state.cpu
        state.packet_ptr = state.packet._ptr
        state.events_in_packet = 0
        return self._create_packet_beginning_message(state.packet, clock_value)

    def _event_maker(self, job):
        """A function making one event message with the public bt2 API."""
        classes = job.event_classes
        context_names = tuple(name for name, _ in job.description.common_context)

        def make_event(state, clock_value, name, payload, context):
            info = classes[name]
            message = self._create_event_message(info.event_class, state.packet, clock_value)
            event = message.event
            _assign(event.payload_field, info.names, payload)
            if context_names:
                _assign(event.common_context_field, context_names, context)
            return message
        return make_event


def _assign(structure, names, values):
    for name, value in zip(names, values, strict=True):
        structure[name] = value


def _discard_boundaries(discards):
    """A heap of (clock value, is_begin, cpu, count, end): ends sort before begins."""
    heap = []
    for discard in discards:
        heap.append((discard.begin, 1, discard.cpu, discard.count, discard.end))
        heap.append((discard.end, 0, discard.cpu, discard.count, discard.end))
    heapq.heapify(heap)
    return heap


class _FastTraceIterator(_TraceIterator):
    """Same messages, events built through bt2.native_bt (bt2 2.0.x only).

    Event messages are created as native references and given to
    babeltrace2 as is, without a Python wrapper; other messages go through
    the public API.
    """

    def _bt_next_from_native(self):
        # Overrides bt2's own hook, which only accepts wrapped messages.
        message = self.__next__()
        if isinstance(message, _bt2_message._MessageConst):
            message._get_ref(message._ptr)
            return int(message._ptr)
        return int(message)

    def _event_maker(self, job):
        classes = job.event_classes
        create = _NATIVE.message_event_create_with_packet_and_default_clock_snapshot
        borrow_event = _NATIVE.message_event_borrow_event
        borrow_payload = _NATIVE.event_borrow_payload_field
        borrow_context = _NATIVE.event_borrow_common_context_field
        borrow_member = _NATIVE.field_structure_borrow_member_field_by_index
        iterator_ptr = self._bt_ptr
        by_name = {name: (info.event_class._ptr, tuple(enumerate(info.setters)))
                   for name, info in classes.items()}
        context_setters = tuple(enumerate(job.context_setters or ()))

        def make_event(state, clock_value, name, payload, context):
            class_ptr, setters = by_name[name]
            message = create(iterator_ptr, class_ptr, state.packet_ptr, clock_value)
            if message is None:
                raise MemoryError("cannot create an event message")
            event = borrow_event(message)
            if payload:
                _fill(borrow_payload(event), setters, payload, borrow_member)
            if context_setters:
                _fill(borrow_context(event), context_setters, context, borrow_member)
            return message
        return make_event


def _fill(structure, indexed_setters, values, borrow_member):
    """Set each member of a native structure field from ``values`` (same order)."""
    if len(values) != len(indexed_setters):
        raise ValueError(f"{len(values)} values for {len(indexed_setters)} fields")
    for (index, setter), value in zip(indexed_setters, values):
        setter(borrow_member(structure, index), value)


class _TraceSource(_TraceSourceBase, bt2._UserSourceComponent,
                   message_iterator_class=_TraceIterator):
    """Source component of the public-API path."""


class _FastTraceSource(_TraceSourceBase, bt2._UserSourceComponent,
                       message_iterator_class=_FastTraceIterator):
    """Source component of the fast path."""
