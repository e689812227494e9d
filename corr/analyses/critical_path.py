"""Where an interval's time went: its breakdown and its critical path.

The *breakdown* looks at the blamed thread alone: time on a CPU, time
runnable but waiting (and who held that CPU), time blocked (by what woke
it), time unknown.  The parts add up to the interval exactly.

The *critical path* follows the waits, as Giraldeau and Dagenais define it
(Trace Compass's critical path): while the thread is blocked and is later
woken by thread Y, the path continues in Y from the moment the blocking
began, recursively; interrupts, timers and devices end the chain with a
state saying what was waited on.  Recursion is depth-bounded and a thread
already on the chain is never followed again, so wakeup cycles end.  The
segments tile the interval exactly.
"""

from __future__ import annotations

from typing import NamedTuple

from ..sched.model import BLOCKED, EXITED, RUNNABLE, RUNNING, SchedModel, Source
from ..engine.threads import label
from ..sched.store import _native

MAX_DEPTH = 16
CPU_WAIT = "waiting for a CPU"      # a blame edge to no thread: the CPU was idle or unknown
NOT_WOKEN = "not woken in the trace"    # a blocked wait no wakeup of the model ended

# Trace Compass's critical-path state names.
STATES = ("RUNNING", "PREEMPTED", "BLOCKED", "INTERRUPTED", "TIMER", "BLOCK_DEVICE", "NETWORK",
          "IPI", "UNKNOWN")
_SOFTIRQ_STATES = {"NET_RX": "NETWORK", "NET_TX": "NETWORK", "BLOCK": "BLOCK_DEVICE",
                   "IRQ_POLL": "BLOCK_DEVICE", "TIMER": "TIMER", "HRTIMER": "TIMER"}


class PathSegment(NamedTuple):
    """One piece of a critical path; ``via`` are the threads it was reached
    through, from the blamed one (empty on the blamed thread itself)."""

    tid: int
    comm: str | None
    state: str
    start_ns: int
    end_ns: int
    via: tuple = ()

    def as_dict(self) -> dict:
        out = self._asdict()
        out["via"] = list(self.via)
        return out


class Part(NamedTuple):
    """One part of a breakdown: ``kind`` is on_cpu, preempted, blocked or unknown."""

    kind: str
    by: str | None           # who or what: a thread's label, "IRQ 42 (eth0)", "softirq NET_RX"...
    tid: int | None          # the thread behind ``by``, when it is one
    ns: int

    def as_dict(self) -> dict:
        return self._asdict()


def wait_state(source: Source | None) -> str:
    """The critical-path state of a wait ended by ``source`` (not a thread)."""
    if source is None:
        return "BLOCKED"
    if source.kind == "irq":
        name = (source.name or "").lower()
        return "IPI" if "ipi" in name else "INTERRUPTED"
    if source.kind == "softirq":
        return _SOFTIRQ_STATES.get(source.name or "", "INTERRUPTED")
    if source.kind == "hrtimer":
        return "TIMER"
    return "UNKNOWN"


def critical_path(model: SchedModel, tid: int, start: int, end: int,
                  max_depth: int = MAX_DEPTH, waits: list | None = None) -> list[PathSegment]:
    """The critical path of ``tid`` over ``[start, end]``, merged where it continues.

    With a ``waits`` list, every wait on the path is appended to it as
    ``(waiting tid, what it waited on, "blocked", start, end)``: a thread id,
    or a label for interrupts, timers and devices -- the edges of a blame graph.
    With the C model (and no ``waits``), the walk and the merge are
    ``_native.explain``'s, for paths of thousands of segments.
    """
    if waits is None and getattr(model, "native", False) and _native is not None:
        from .bulk import Explained, Names
        found = Explained(model, Names(model), [tid], [start], [end], max_depth, want=2)
        name = model.name_at
        return [PathSegment(who, name(who, a), STATES[state], a, b, via)
                for who, state, a, b, via in found.segments(0)]
    raw: list[PathSegment] = []
    _follow(model, tid, start, end, 0, max_depth, (), raw, waits)
    merged: list[PathSegment] = []
    for seg in raw:
        if seg.end_ns <= seg.start_ns:
            continue
        last = merged[-1] if merged else None
        if (last and last.tid == seg.tid and last.state == seg.state
                and last.end_ns == seg.start_ns and last.via == seg.via):
            merged[-1] = last._replace(end_ns=seg.end_ns)
        else:
            merged.append(seg)
    return merged


def _follow(model, tid, start, end, depth, max_depth, via, out, waits) -> None:
    name = model.name_at
    for seg in model.segments(tid, start, end):
        comm = name(tid, seg.start)
        if seg.state == RUNNING:
            out.append(PathSegment(tid, comm, "RUNNING", seg.start, seg.end, via))
        elif seg.state == RUNNABLE:
            out.append(PathSegment(tid, comm, "PREEMPTED", seg.start, seg.end, via))
        elif seg.state == BLOCKED:
            source = seg.source
            if source is not None and source.kind == "thread":
                waker = source.id
                if waits is not None:
                    waits.append((tid, waker, "blocked", seg.start, seg.end))
                if depth < max_depth and waker != tid and waker not in via:
                    _follow(model, waker, seg.start, seg.end, depth + 1, max_depth,
                            via + (tid,), out, waits)
                else:
                    out.append(PathSegment(tid, comm, "BLOCKED", seg.start, seg.end, via))
            else:
                state = wait_state(source)
                if waits is not None:
                    waits.append((tid, source.label() if source else NOT_WOKEN,
                                  "blocked", seg.start, seg.end))
                out.append(PathSegment(tid, comm, state, seg.start, seg.end, via))
        else:                                   # unknown, exited
            out.append(PathSegment(tid, comm, "UNKNOWN", seg.start, seg.end, via))


def breakdown(model: SchedModel, tid: int, start: int, end: int,
              waits: list | None = None) -> list[Part]:
    """Where the thread's time over ``[start, end]`` went, largest part first.

    With a ``waits`` list, the stretches it waited for a CPU (on whom) or
    was unknown are appended to it as blame-graph edges, as
    :func:`critical_path` appends its waits.
    """
    totals: dict[tuple, int] = {}

    def add(kind, by, who, ns):
        if ns > 0:
            totals[(kind, by, who)] = totals.get((kind, by, who), 0) + ns

    def edge(on, kind, at, until):
        if waits is not None and until > at:
            waits.append((tid, on, kind, at, until))

    name = model.name_at
    for seg in model.segments(tid, start, end):
        span = seg.end - seg.start
        if seg.state == RUNNING:
            add("on_cpu", None, None, span)
        elif seg.state == RUNNABLE:
            cpu = _waiting_cpu(model, tid, seg)
            if cpu is None:
                add("preempted", None, None, span)
                edge(CPU_WAIT, "preempted", seg.start, seg.end)
                continue
            at = seg.start
            for occupant, ns in model.occupants(cpu, seg.start, seg.end):
                if occupant is None or occupant == tid or occupant == 0:
                    add("preempted", None, None, ns)      # the CPU was idle: plain latency
                    edge(CPU_WAIT, "preempted", at, at + ns)
                else:
                    add("preempted", _thread_label(name, occupant, seg.start), occupant, ns)
                    edge(occupant, "preempted", at, at + ns)
                at += ns
        elif seg.state == BLOCKED:
            source = seg.source
            if source is None:
                add("blocked", NOT_WOKEN, None, span)
            elif source.kind == "thread":
                add("blocked", _thread_label(name, source.id, seg.end), source.id, span)
            elif source.kind == "unknown":
                add("blocked", "unknown", None, span)
            else:
                add("blocked", source.label(), None, span)
        elif seg.state == EXITED:
            add("unknown", "exited", None, span)
            edge("unknown", "unknown", seg.start, seg.end)
        else:
            add("unknown", None, None, span)
            edge("unknown", "unknown", seg.start, seg.end)
    parts = [Part(kind, by, who, ns) for (kind, by, who), ns in totals.items()]
    parts.sort(key=lambda p: (-p.ns, p.kind, p.by or ""))
    return parts


def _waiting_cpu(model: SchedModel, tid: int, seg) -> int | None:
    """The CPU a runnable thread waited for: where it ran next, else where it was queued."""
    cpu = model.running_cpu_after(tid, seg.end)
    return seg.cpu if cpu is None else cpu


def _thread_label(name, tid: int, at: int) -> str:
    return label(tid, name(tid, at))


__all__ = ["critical_path", "breakdown", "PathSegment", "Part", "STATES", "wait_state",
           "MAX_DEPTH", "CPU_WAIT"]
