"""Folded stacks of off-CPU time, for flamegraph.pl and speedscope.

One line per distinct stack: the blamed thread, then each thread the
critical path went through (the waker chain), then the state, and the
nanoseconds spent there over the analysed intervals of every rule with
``blame:``.  As the blame graph's, a stack's weight is a union: the time
during which it lay on at least one interval's path, each nanosecond once
(two slow intervals of one thread sharing a wait count it once), so a
blamed thread's stacks never weigh more than its slow intervals lasted.
Frames name threads as ``comm (tid)``; ``;`` in names is replaced, since it
separates frames.
"""

from __future__ import annotations

from ..analyses.blame import union_ns


def _frame(text) -> str:
    return str(text).replace(";", ":").replace("\n", " ").replace("\r", " ").strip() or "?"


def folded_lines(result) -> list[str]:
    ranges: dict[str, list] = {}
    for r in result.rules:
        analysis = r.analysis
        if analysis is None or not analysis.available:
            continue
        for index, found in analysis.intervals.items():
            names = {}
            for seg in found.critical_path:
                names.setdefault(seg.tid, seg.comm)
            for seg in found.critical_path:
                chain = list(seg.via) + ([seg.tid] if seg.tid not in seg.via else [])
                frames = [_frame(f"{names.get(t) or 'tid'} ({t})") for t in chain]
                frames.append(seg.state)
                stack = ";".join([_frame(r.name)] + frames)
                ranges.setdefault(stack, []).append((seg.start_ns, seg.end_ns))
    totals = {stack: union_ns(spans) for stack, spans in ranges.items()}
    return [f"{stack} {ns}" for stack, ns in sorted(totals.items()) if ns > 0]


def write(result, out) -> None:
    for line in folded_lines(result):
        out.write(line + "\n")
