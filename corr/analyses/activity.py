"""What the kernel did during a slow interval, for the threads involved.

For a rule with ``activity: true``, each analysed interval gets an aggregate
over its *threads*: the blamed thread over the whole interval, and each
other thread of its critical path over the stretches it is on that path.
For each: its system calls by name (count, and time clipped to its
stretches), the hard IRQs and softirqs on the CPUs it ran on while it ran
(by name; time clipped), its CPU time, the CPUs it ran on, its migrations
(``sched_migrate_task``), and its waits that an interrupt ended, by what
ended them (a disk: softirq BLOCK; the network: NET_RX or NET_TX; an IRQ by
name).  Computed when a row is read (:meth:`IntervalActivity.of_row`), so
only the intervals a renderer shows cost anything.  See docs/scheduling.md.
"""

from __future__ import annotations

from typing import Any

from ..engine.plan import ACTIVITY_CLASSES
from ..sched.activity import ActivityIndex, Spans
from ..sched.model import BLOCKED, RUNNING, SOFTIRQ_NAMES, SchedModel

# What a wait ended by an interrupt was on, by the wakeup source's label (other IRQs:
# "irq", other softirqs: "softirq"); timers are sleeps, not waits on a device.
WAIT_ON = {"softirq BLOCK": "disk", "softirq NET_RX": "network", "softirq NET_TX": "network"}
TIMERS = frozenset({"softirq TIMER", "softirq HRTIMER"})
KINDS = tuple(ACTIVITY_CLASSES)         # syscalls, irqs, softirqs, migrations


def stretches(blamed: int, start: int, end: int, path) -> dict[int, list[tuple[int, int]]]:
    """Per thread, the stretches counted: the blamed thread's whole interval, and each
    other thread's time on the critical path (``path``: (tid, start, end) in time
    order), adjacent pieces joined."""
    out = {blamed: [(start, end)]}
    for tid, a, b in path:
        if tid == blamed or tid is None or b <= a:
            continue
        mine = out.setdefault(tid, [])
        if mine and mine[-1][1] == a:
            mine[-1] = (mine[-1][0], b)
        else:
            mine.append((a, b))
    return out


def _pieces(segments, spans):
    """``segments`` (sorted, tiling a range) cut to ``spans`` (sorted, disjoint, in it):
    (segment, start, end) for each non-empty overlap."""
    k = 0
    for seg in segments:
        while k < len(spans) and spans[k][1] <= seg.start:
            k += 1
        j = k
        while j < len(spans) and spans[j][0] < seg.end:
            a, b = max(seg.start, spans[j][0]), min(seg.end, spans[j][1])
            if b > a:
                yield seg, a, b
            j += 1


class _Found:
    """Spans met over an interval's windows, per id: the number of distinct spans and
    their ns within the windows."""

    def __init__(self, spans: Spans):
        self.spans = spans
        self.by_id: dict[int, list[int]] = {}
        self.seen: set[int] = set()

    def add(self, key: int, windows) -> None:
        by_id, seen = self.by_id, self.seen
        for row, ident, ns in self.spans.meeting(key, windows):
            found = by_id.get(ident)
            if found is None:
                found = by_id[ident] = [0, 0]
            if row not in seen:
                seen.add(row)
                found[0] += 1
            found[1] += ns

    def merge(self, other: "_Found") -> None:
        """Another thread's (its spans are not this one's)."""
        for ident, (count, ns) in other.by_id.items():
            found = self.by_id.setdefault(ident, [0, 0])
            found[0] += count
            found[1] += ns

    def listed(self, label) -> list[dict]:
        out = [dict(label(ident), count=count, ns=ns)
               for ident, (count, ns) in self.by_id.items()]
        out.sort(key=lambda d: (-d["ns"], -d["count"], str(d.get("name"))))
        return out


class IntervalActivity:
    """The activity of analysed intervals, computed when read."""

    def __init__(self, index: ActivityIndex, model: SchedModel):
        self.index = index
        self.model = model

    @property
    def not_recorded(self) -> list[str]:
        """What the traces did not record (said, never shown as zeros)."""
        return [k for k in KINDS if not self.index.recorded.get(k)]

    def of_row(self, row: dict) -> dict:
        """A result row's activity (it has ``blamed_tid`` and ``critical_path``)."""
        start = row["start_ns"]
        path = [(s["tid"], s["start_ns"], s["end_ns"]) for s in row["critical_path"]]
        return self.of(row["blamed_tid"], start, start + row["duration_ns"], path)

    def of(self, tid: int, start: int, end: int, path=()) -> dict:
        """The activity over interval [start, end] of blamed thread ``tid`` whose
        critical path is ``path`` ((tid, start, end) pieces)."""
        index, recorded = self.index, self.index.recorded
        threads: list[dict[str, Any]] = []
        syscalls, irqs, softirqs = _Found(index.calls), _Found(index.irqs), _Found(index.softirqs)
        waits: dict[str, tuple[int, int]] = {}
        cpu_total = migrations_total = 0
        for thread, spans in stretches(tid, start, end, path).items():
            mine = _Found(index.calls)
            runs: dict[int, list] = {}
            cpu_ns = 0
            segments = self.model.segments(thread, spans[0][0], spans[-1][1])
            counted = None            # a wait cut by two stretches is one wait
            for seg, a, b in _pieces(segments, spans):
                if seg.state == RUNNING:
                    cpu_ns += b - a
                    if seg.cpu is not None and seg.cpu >= 0:
                        runs.setdefault(seg.cpu, []).append((a, b))
                elif (seg.state == BLOCKED and seg.source is not None
                      and seg.source.kind in ("irq", "softirq")
                      and seg.source.label() not in TIMERS):
                    label = seg.source.label()
                    count, ns = waits.get(label, (0, 0))
                    waits[label] = (count + (seg is not counted), ns + b - a)
                    counted = seg
            mine.add(thread, spans)
            syscalls.merge(mine)
            migrations = (len(index.migrations.meeting(thread, spans))
                          if index.migrations is not None else 0)
            for cpu, ranges in runs.items():
                irqs.add(cpu, ranges)
                softirqs.add(cpu, ranges)
            cpu_total += cpu_ns
            migrations_total += migrations
            threads.append({
                "tid": thread, "comm": self.model.name_at(thread, spans[0][0]),
                "ns": sum(b - a for a, b in spans), "cpu_ns": cpu_ns, "cpus": sorted(runs),
                "migrations": migrations if recorded.get("migrations") else None,
                "syscalls": mine.listed(self._syscall) if recorded.get("syscalls") else None})
        threads[1:] = sorted(threads[1:], key=lambda t: (-t["ns"], t["tid"]))
        return {
            "threads": threads,
            "cpu_ns": cpu_total,
            "migrations": migrations_total if recorded.get("migrations") else None,
            "syscalls": syscalls.listed(self._syscall) if recorded.get("syscalls") else None,
            "irqs": irqs.listed(self._irq) if recorded.get("irqs") else None,
            "softirqs": softirqs.listed(self._softirq) if recorded.get("softirqs") else None,
            "waits": sorted(({"on": WAIT_ON.get(label, label.split(" ")[0].lower()),
                              "by": label, "count": count,
                              "ns": ns} for label, (count, ns) in waits.items()),
                            key=lambda d: (-d["ns"], d["by"])),
            "not_recorded": self.not_recorded,
        }

    def _syscall(self, ident: int) -> dict:
        return {"name": self.index.syscall_names[ident]}

    def _irq(self, ident: int) -> dict:
        return {"irq": ident, "name": self.index.irq_names.get(ident)}

    @staticmethod
    def _softirq(ident: int) -> dict:
        return {"vec": ident,
                "name": SOFTIRQ_NAMES[ident] if 0 <= ident < len(SOFTIRQ_NAMES) else None}
