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

import numpy as np

from ..sched.activity import ActivityIndex, Spans
from ..sched.model import BLOCKED, RUNNING, SOFTIRQ_NAMES, SchedModel

# What a wait ended by an interrupt was on, by the wakeup source's label.
WAIT_ON = {"softirq BLOCK": "disk", "softirq NET_RX": "network", "softirq NET_TX": "network"}
KINDS = ("syscalls", "irqs", "softirqs", "migrations")


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


def _clipped(spans: Spans, rows: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.minimum(spans.end[rows], b) - np.maximum(spans.start[rows], a)


def _add(found: dict, spans: Spans, key: int, a: int, b: int) -> None:
    """Each span of ``key`` meeting [a, b): its id -> (set of rows, clipped ns)."""
    rows = spans.meeting(key, a, b)
    if not len(rows):
        return
    ns = _clipped(spans, rows, a, b)
    for row, ident, n in zip(rows.tolist(), spans.ident[rows].tolist(), ns.tolist()):
        seen, total = found.get(ident, (set(), 0))
        seen.add(row)
        found[ident] = (seen, total + n)


def _listed(found: dict, label) -> list[dict]:
    out = [dict(label(ident), count=len(seen), ns=ns) for ident, (seen, ns) in found.items()]
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
        threads = []
        totals = {"syscalls": {}, "irqs": {}, "softirqs": {}, "waits": {}}
        cpu_total, migrations_total = 0, 0
        for thread, spans in stretches(tid, start, end, path).items():
            calls: dict = {}
            runs, waits = [], {}
            cpu_ns, cpus, migrations = 0, set(), 0
            for a, b in spans:
                for seg in self.model.segments(thread, a, b):
                    if seg.state == RUNNING:
                        cpu_ns += seg.end - seg.start
                        if seg.cpu is not None and seg.cpu >= 0:
                            cpus.add(seg.cpu)
                            runs.append((seg.cpu, seg.start, seg.end))
                    elif (seg.state == BLOCKED and seg.source is not None
                          and seg.source.kind in ("irq", "softirq")):
                        label = seg.source.label()
                        count, ns = waits.get(label, (0, 0))
                        waits[label] = (count + 1, ns + seg.end - seg.start)
                _add(calls, index.calls, thread, a, b)
                if index.migrations is not None:
                    migrations += len(index.migrations.meeting(thread, a, b))
            for cpu, a, b in runs:
                _add(totals["irqs"], index.irqs, cpu, a, b)
                _add(totals["softirqs"], index.softirqs, cpu, a, b)
            for ident, (seen, ns) in calls.items():
                had = totals["syscalls"].get(ident, (set(), 0))
                totals["syscalls"][ident] = (had[0] | {(thread, r) for r in seen}, had[1] + ns)
            for label, (count, ns) in waits.items():
                had = totals["waits"].get(label, (0, 0))
                totals["waits"][label] = (had[0] + count, had[1] + ns)
            cpu_total += cpu_ns
            migrations_total += migrations
            threads.append({
                "tid": thread, "comm": self.model.name_at(thread, spans[0][0]),
                "ns": sum(b - a for a, b in spans), "cpu_ns": cpu_ns, "cpus": sorted(cpus),
                "migrations": migrations if recorded.get("migrations") else None,
                "syscalls": (_listed(calls, self._syscall) if recorded.get("syscalls")
                             else None)})
        return {
            "threads": threads,
            "cpu_ns": cpu_total,
            "migrations": migrations_total if recorded.get("migrations") else None,
            "syscalls": (_listed(totals["syscalls"], self._syscall)
                         if recorded.get("syscalls") else None),
            "irqs": (_listed(totals["irqs"], self._irq) if recorded.get("irqs") else None),
            "softirqs": (_listed(totals["softirqs"], self._softirq)
                         if recorded.get("softirqs") else None),
            "waits": sorted(({"on": WAIT_ON.get(label, "irq"), "by": label, "count": count,
                              "ns": ns} for label, (count, ns) in totals["waits"].items()),
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
