"""What is in a trace: the analysis behind ``corr inspect``.

Counts come from a decode that projects every class but no field, so an
inspection costs little more than babeltrace2's own pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

from ..errors import TraceDecodeError
from ..normalise.dialects import canonical_fields_of, detect
from ..sched.events import INTERRUPT_NOTES, STACKS_NOTE, fields_evidence, records_stacks
from ..reading import Projection, TraceSet
from ..reading.batch import Discard

Progress = Callable[[int, float], None]   # (events so far, fraction of the time range done)


@dataclass
class TraceSummary:
    path: str
    domain: str | None
    tracer: str | None
    dialect: str
    dialect_description: str
    dialect_notes: list[str]
    hostname: str | None
    clock: str | None
    clock_offset_ns: int | None
    alignment: str
    offset_ns: int
    cpus: list[int]
    streams: int
    events: int = 0


@dataclass
class ClassSummary:
    name: str
    count: int
    fields: list[dict]
    trace: int


@dataclass
class Stopped:
    """Where decoding stopped on a trace that could not be read to its end."""

    path: str
    cause: str
    at_ns: int | None
    events_before: int


@dataclass
class Inspection:
    traces: list[TraceSummary]
    events: int
    begin_ns: int | None
    end_ns: int | None
    event_classes: list[ClassSummary]
    discards: list[Discard]
    stopped: Stopped | None = None

    @property
    def duration_ns(self) -> int | None:
        if self.begin_ns is None or self.end_ns is None:
            return None
        return self.end_ns - self.begin_ns

    @property
    def discarded_events(self) -> int:
        return sum(d.count or 0 for d in self.discards if d.kind == "events")

    @property
    def discarded_packets(self) -> int:
        return sum(d.count or 0 for d in self.discards if d.kind == "packets")

    def to_dict(self) -> dict:
        return {
            "format_version": 1,
            "events": self.events,
            "begin_ns": self.begin_ns,
            "end_ns": self.end_ns,
            "duration_ns": self.duration_ns,
            "discarded_events": self.discarded_events,
            "discarded_packets": self.discarded_packets,
            "discards": [d._asdict() for d in self.discards],
            "traces": [asdict(t) for t in self.traces],
            "event_classes": [asdict(c) for c in self.event_classes],
            "stopped": asdict(self.stopped) if self.stopped else None,
        }


def inspect_traces(traceset: TraceSet, progress: Progress | None = None,
                   reader: str = "auto") -> Inspection:
    """Count every event of every class; never raises for a mid-trace failure."""
    counts: dict[int, int] = {}
    per_trace = [0] * len(traceset.traces)
    discards: list[Discard] = []
    begin = end = None
    total = 0
    stopped = None
    projection = Projection.of({"*": ()})
    span = traceset.range_ns
    try:
        for batch in traceset.batches(projection, reader=reader):
            discards.extend(batch.discards)
            if not batch.ts:
                continue
            if begin is None:
                begin = batch.ts[0]
            end = batch.ts[-1]
            total += len(batch.ts)
            for cid, cols in batch.classes.items():
                counts[cid] = counts.get(cid, 0) + len(cols)
            if progress:
                progress(total, _fraction(end, span))
    except TraceDecodeError as exc:
        stopped = Stopped(exc.path, exc.cause, exc.stopped_at_ns, exc.events_before)
    classes = []
    for info in traceset.registry.classes:
        per_trace[info.trace] += counts.get(info.id, 0)
        classes.append(ClassSummary(
            name=info.name, count=counts.get(info.id, 0), trace=info.trace,
            fields=[{"name": f.name, "type": f.type} for f in info.fields
                    if not f.name.startswith("pkt.")]))
    seen = {(c.trace, c.name) for c in classes}
    for t in traceset.traces:          # declared in the metadata, never seen
        for name in t.class_names:
            if (t.index, name) not in seen:
                classes.append(ClassSummary(name=name, count=0, fields=[], trace=t.index))
    classes.sort(key=lambda c: (-c.count, c.name))
    return Inspection(
        traces=[_summary(t, [c for c in traceset.registry.classes if c.trace == t.index],
                         per_trace[t.index]) for t in traceset.traces],
        events=total, begin_ns=begin, end_ns=end, event_classes=classes,
        discards=discards, stopped=stopped)


def _fraction(ts: int, span: tuple[int, int] | None) -> float:
    if not span or span[1] <= span[0]:
        return 0.0
    return min(1.0, max(0.0, (ts - span[0]) / (span[1] - span[0])))


def _summary(t, classes, events: int) -> TraceSummary:
    d = detect(t.env, t.class_names, {f.name for c in classes for f in c.fields})
    fields_of = canonical_fields_of(d, classes) if d.kernel else {}
    evidence = fields_evidence(fields_of) if d.kernel else None
    return TraceSummary(
        path=t.path, domain=t.domain, tracer=t.tracer, dialect=d.name,
        dialect_description=d.description,
        dialect_notes=d.notes + ([INTERRUPT_NOTES[evidence]] if evidence else [])
        + ([STACKS_NOTE] if records_stacks(fields_of) else []),
        hostname=t.env.get("hostname") or t.env.get("host"),
        clock=t.clock.name if t.clock else None,
        clock_offset_ns=t.clock.offset_ns if t.clock else None,
        alignment=t.alignment, offset_ns=t.offset_ns, cpus=t.cpus,
        streams=t.stream_count or len(t.streams), events=events)
