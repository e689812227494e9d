"""Chrome trace-event JSON: slow intervals and their critical paths as tracks.

The Perfetto UI (ui.perfetto.dev) and chrome://tracing open it.  Each rule
is a process whose threads are the intervals' blamed threads (or keys);
the critical paths of analysed intervals are one more process per rule,
a track per interval, a slice per segment named by its state.  Times are
microseconds from the traces' beginning (``RunResult.trace_begin_ns``), as
``corr run``'s ``start`` column counts them.

As the Trace Event Format asks (and the Perfetto UI needs: it keeps only
integer ids), pid and tid are integers: a thread's track is its tid, and
intervals whose entry had no thread (block requests, IRQs keyed by
CPU) get numbers after the rule's largest tid; every track is named by a
``thread_name`` metadata event ("comm (tid)", or "key ...").
``displayTimeUnit`` comes before the events, where the Perfetto UI looks
for it (it reads only the start of the file for it).
"""

from __future__ import annotations

import json


def events(result, all_intervals: bool = False) -> list[dict]:
    begin = result.trace_begin_ns or 0
    out: list[dict] = []

    def us(ns):
        return (ns - begin) / 1000.0

    for index, r in enumerate(result.rules):
        pid = 2 * index + 1
        out.append({"ph": "M", "name": "process_name", "pid": pid,
                    "args": {"name": f"rule {r.name}"}})
        intervals = list(r.iter_intervals(all_intervals))
        tracks: dict = {}             # tid, or ("key", key) for intervals without one
        spare = 1 + max((int(iv["tid"]) for iv in intervals if iv["tid"] is not None), default=0)
        for iv in intervals:
            if iv["tid"] is not None:
                ident = int(iv["tid"])
                label = f"{iv['comm'] or 'tid'} ({ident})"
            else:
                ident = ("key", str(iv["key"]))
                label = f"key {iv['key']}"
            if ident not in tracks:
                if isinstance(ident, int):
                    tracks[ident] = ident
                else:
                    tracks[ident] = spare
                    spare += 1
                out.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tracks[ident],
                            "args": {"name": label}})
            track = tracks[ident]
            out.append({"ph": "X", "name": f"{r.name} {iv['status']}", "cat": r.name,
                        "pid": pid, "tid": track, "ts": us(iv["start_ns"]),
                        "dur": iv["duration_ns"] / 1000.0,
                        "args": {"key": iv["key"], "comm": iv["comm"], "group": iv["group"],
                                 "duration_ns": iv["duration_ns"], "status": iv["status"]}})
        analysis = r.analysis
        if analysis is None or not analysis.available:
            continue
        paths_pid = pid + 1
        out.append({"ph": "M", "name": "process_name", "pid": paths_pid,
                    "args": {"name": f"rule {r.name}: critical paths"}})
        for n, (i, found) in enumerate(sorted(analysis.intervals.items())):
            out.append({"ph": "M", "name": "thread_name", "pid": paths_pid, "tid": n,
                        "args": {"name": f"interval {i} ({found.tid})"}})
            for seg in found.critical_path:
                out.append({"ph": "X", "name": seg.state, "cat": "critical_path",
                            "pid": paths_pid, "tid": n, "ts": us(seg.start_ns),
                            "dur": (seg.end_ns - seg.start_ns) / 1000.0,
                            "args": {"tid": seg.tid, "comm": seg.comm}})
    return out


def write(result, out, all_intervals: bool = False) -> None:
    json.dump({"displayTimeUnit": "ns", "traceEvents": events(result, all_intervals)}, out)
