"""Folded stacks of off-CPU time, for flamegraph.pl and speedscope.

One line per distinct stack: the blamed thread, then each thread the
critical path went through (the waker chain), then the state, and the
nanoseconds spent there over every analysed interval of every rule with
``blame:``.  Frames name threads as ``comm (tid)``; ``;`` in names is
replaced, since it separates frames.
"""

from __future__ import annotations


def _frame(text) -> str:
    return str(text).replace(";", ":").replace("\n", " ").replace("\r", " ").strip() or "?"


def folded_lines(result) -> list[str]:
    totals: dict[str, int] = {}
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
                totals[stack] = totals.get(stack, 0) + (seg.end_ns - seg.start_ns)
    return [f"{stack} {ns}" for stack, ns in sorted(totals.items()) if ns > 0]


def write(result, out) -> None:
    for line in folded_lines(result):
        out.write(line + "\n")
