"""Folded stacks of off-CPU time, for flamegraph.pl and speedscope.

One line per distinct stack: the blamed thread, then each thread the
critical path went through (the waker chain), then the state, and the
nanoseconds spent there over the analysed intervals of every rule with
``blame:``.  As the blame graph's, a stack's weight is a union: the time
during which it lay on at least one interval's path, each nanosecond once
(two slow intervals of one thread sharing a wait count it once), so a
blamed thread's stacks never weigh more than its slow intervals lasted.
Frames name threads as ``comm (tid)``, as :func:`corr.render.escape.folded_frame`
writes a name from a trace: ``;`` as ``\\x3b`` (it separates frames), line
breaks and other control characters as ``\\n``, ``\\x1b`` (a line is a stack),
bytes that were not UTF-8 as ``\\xff``.

A rule with ``stacks: true`` has code stacks instead (docs/stacks.md): per
analysed interval, ``rule;comm (tid);user frames;kernel frames``, outermost
first (the scheduler's frames at the top of a flame graph), weighted by the
interval's off-CPU time; with the ``wakers`` option, then ``--`` (flamegraph.pl's
separator) and the code that woke the thread, innermost first, then the waker,
as offwaketime writes them.  Frames are :func:`corr.render.escape.code_frame`'s,
names only: a frame's source line is not in its folded text (JSON, text and
HTML show it).

A busy trace's paths have millions of segments: each stack's ranges are
kept as two integer arrays (16 bytes a segment), each stack's text is made
once, and a union of many ranges is taken with numpy.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..analyses import blame
from .escape import SEPARATOR, code_frame, folded_frame

NAME = "folded"
DESCRIPTION = "folded stacks"
NEEDS_BLAME = True
FILE_ONLY = False

SMALL = 64             # ranges a stack's union adds up without numpy


def folded_lines(result, wakers: bool = False) -> list[str]:
    from array import array
    # Ranges by (rule, via, tid, state, the chain's names): the stack's text is made
    # once per distinct key at the end (most paths are a segment or two, so the work
    # per segment is a tuple and a dict look-up).
    ranges: dict[tuple, tuple[array, array]] = {}
    for r in result.rules:
        analysis = r.analysis
        if analysis is None or not analysis.available or analysis.stacks is not None:
            continue
        rule = r.name
        for _, found in analysis.intervals.items():
            path = found.critical_path
            names: dict = {}
            for seg in path:
                if seg[0] not in names:
                    names[seg[0]] = seg[1]
            for tid, _, state, start, end, via in path:
                if not via:
                    key = (rule, (), tid, state, (names[tid],))
                else:
                    if type(via) is not tuple:
                        via = tuple(via)
                    chain = via if tid in via else via + (tid,)
                    key = (rule, via, tid, state, tuple([names.get(t) for t in chain]))
                spans = ranges.get(key)
                if spans is None:
                    spans = ranges[key] = (array("q"), array("q"))
                spans[0].append(start)
                spans[1].append(end)
    by_stack: dict[str, tuple[array, array]] = {}
    frames: dict = {}
    for (rule, via, tid, state, chain_names), (starts, ends) in ranges.items():
        chain = via if tid in via else via + (tid,)
        parts = [folded_frame(rule)]
        for t, name in zip(chain, chain_names):
            text = frames.get((t, name))
            if text is None:
                text = frames[(t, name)] = folded_frame(f"{name or 'tid'} ({t})")
            parts.append(text)
        parts.append(folded_frame(state))
        stack = ";".join(parts)
        found = by_stack.get(stack)
        if found is None:
            by_stack[stack] = (starts, ends)
        else:                                     # names that read the same once cleaned
            found[0].extend(starts)
            found[1].extend(ends)
    totals = {stack: union_ns(starts, ends) for stack, (starts, ends) in by_stack.items()}
    for stack, ns in code_stacks(result, wakers).items():
        totals[stack] = totals.get(stack, 0) + ns
    return [f"{stack} {ns}" for stack, ns in sorted(totals.items()) if ns > 0]


def code_stacks(result, wakers: bool = False) -> dict[str, int]:
    """Folded code stacks of the rules with ``stacks: true`` and their off-CPU ns."""
    totals: dict[str, int] = {}
    for r in result.rules:
        for stack, ns in rule_code_stacks(r, wakers).items():
            totals[stack] = totals.get(stack, 0) + ns
    return totals


def rule_code_stacks(r, wakers: bool = False, with_rule: bool = True) -> dict[str, int]:
    """One rule's folded code stacks (none without ``stacks: true``) and their ns;
    ``with_rule``: the rule's name as the first frame."""
    totals: dict[str, int] = {}
    analysis = r.analysis
    if analysis is not None and analysis.available and analysis.stacks is not None:
        rule = folded_frame(r.name)
        for found in own_stacks(analysis.stacks):
            if found.off_cpu_ns <= 0:
                continue
            parts = [rule] if with_rule else []
            parts.append(folded_frame(f"{found.comm or 'tid'} ({found.tid})"))
            parts += [code_frame(f) for f in reversed(found.user)]
            parts += [code_frame(f) for f in reversed(found.kernel)]
            if wakers:
                waker = found.own_waker()
                if waker is not None:
                    parts.append(SEPARATOR)
                    parts += [code_frame(f) for f in waker.kernel]
                    parts += [code_frame(f) for f in waker.user]
                    parts.append(folded_frame(waker.waker))
            stack = ";".join(parts)
            totals[stack] = totals.get(stack, 0) + found.off_cpu_ns
    return totals


def own_stacks(stacks):
    """Each analysed interval's IntervalStacks with only its own waker where the
    stacks can read them so (IntervalStackMap.own: a path through busy threads meets
    10^5 wakeups), else as they are: what folded stacks and the flame graph show."""
    own = getattr(stacks, "own", None)
    return (own(i) for i in stacks) if own is not None else stacks.values()


def code_frame_lines(found) -> dict[str, str]:
    """The source line of each folded user frame (its :func:`code_frame` text) of the
    stacks ``found`` (interval index -> IntervalStacks, or IntervalStacks) that debug
    info gave one: the folded text is the frame's
    name alone (flamegraph.pl and speedscope merge frames by it), and a frame's text
    (``name+0xoff (path)``) is one address of one file, so one line."""
    lines: dict[str, str] = {}
    user_stacks = getattr(found, "user_stacks", None)
    pairs = user_stacks() if user_stacks is not None else (
        pair for stacks in (found.values() if isinstance(found, Mapping) else found)
        for pair in ((stacks.user, stacks.user_lines),
                     *((w.user, w.user_lines) for w in stacks.wakers)))
    for user, sources in pairs:
        for frame, line in zip(user, sources):
            if line:
                lines.setdefault(code_frame(frame), line)
    return lines


def union_ns(starts, ends) -> int:
    """The length of the union of the ranges ``[starts[i], ends[i]]``: each ns once
    (``corr.analyses.blame.union_ns``, over arrays)."""
    if len(starts) <= SMALL:                   # most stacks: numpy's call costs more
        return blame.union_ns(zip(starts, ends))
    import numpy as np
    s = np.frombuffer(starts, dtype=np.int64)
    e = np.frombuffer(ends, dtype=np.int64)
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    # Each range adds what lies past the furthest end of those before it.
    reach = np.maximum.accumulate(e)
    before = np.concatenate(([np.iinfo(np.int64).min], reach[:-1]))
    return int(np.maximum(e - np.maximum(s, before), 0).sum())


def write(result, destination, options) -> None:
    out = destination.binary
    lines = folded_lines(result, wakers=options.wakers)
    for a in range(0, len(lines), 4096):
        out.write(("\n".join(lines[a:a + 4096]) + "\n").encode("utf-8", "backslashreplace"))
