"""Blame graphs: who and what a rule's slow intervals waited on, added up.

Per rule, a networkx ``DiGraph`` whose nodes are threads and resources
(IRQs, softirqs, timers, "unknown") and whose edges go from a thread to
what it waited on: the blamed thread's own waits (preempted by, blocked
on) and every wait along its critical path (the waker blocked on the disk,
and so on).

An edge's weight (``ns``) is the time during which that wait lay on at
least one slow interval's critical path: the union of those stretches of
the waiting thread's time, each nanosecond once, however many intervals
shared it.  ``count`` is the number of intervals it was on.  So a thread's
outgoing weights never add up to more than the time it spent waiting
(each stretch of its time is one state, one edge), and a wait that three
slow requests all sat behind counts once, with ``count`` 3.

The *differential* view compares where the time of slow intervals went
with where the time of fast ones (same rule) went, as shares of their
durations: what grows in the slow ones is what to look at.
"""

from __future__ import annotations

import heapq

from ..engine.threads import label
from .critical_path import Part


def union_ns(ranges) -> int:
    """The length of the union of ``(start, end)`` ranges (any iterable): each ns once."""
    total, reach = 0, None
    for start, end in sorted(ranges):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def thread_node(tid: int) -> str:
    return f"tid:{tid}"


class BlameGraph:
    """The aggregated blame of one rule's analysed intervals.

    An edge's ``kinds`` is a frozenset (most edges share one of a few: a
    rule can have tens of thousands of edges).  Nodes and edges are kept in
    plain dicts while they are added up; the
    networkx ``DiGraph`` (``graph``) is made from them when first read (by
    the DOT and GraphML exports), so a run that only prints pays neither
    networkx's import nor its per-edge cost.
    """

    def __init__(self, names=None):
        self.names = names or (lambda tid, ts=None: None)
        self.intervals = 0
        self.nodes: dict[str, dict] = {}
        self.edges: dict[tuple[str, str], dict] = {}
        self._ranges: dict[tuple[str, str], list] = {}    # add()'s, until finish()
        self._graph = None

    @property
    def graph(self):
        """The blame graph as a networkx ``DiGraph`` (nodes and edges with their data)."""
        if self._graph is None:
            import networkx as nx
            g = nx.DiGraph()
            g.add_nodes_from(self.nodes.items())
            g.add_edges_from((u, v, data) for (u, v), data in self.edges.items())
            self._graph = g
        return self._graph

    def _node(self, what) -> str:
        """A node for a thread id or a resource label."""
        if isinstance(what, int):
            node = thread_node(what)
            if node not in self.nodes:
                self._graph = None
                self.nodes[node] = {"kind": "thread", "tid": what,
                                    "label": label(what, self.names(what))}
        else:
            node = f"res:{what}"
            if node not in self.nodes:
                self._graph = None
                self.nodes[node] = {"kind": "resource", "tid": None, "label": str(what)}
        return node

    def _data(self, u: str, v: str) -> dict:
        """The edge's data, to be added to (the networkx copy is then stale)."""
        self._graph = None
        data = self.edges.get((u, v))
        if data is None:
            data = self.edges[(u, v)] = {"ns": 0, "count": 0, "kinds": frozenset()}
        return data

    def add(self, tid: int, waits: list[tuple]) -> None:
        """One analysed interval: its edges ``(waiter, on, kind, start, end)``, as
        ``breakdown`` and ``critical_path`` list them.  The weights are unions:
        :meth:`finish` computes them once every interval is added."""
        self.intervals += 1
        self._node(tid)
        seen: set = set()
        for waiter, on, kind, start, end in waits:
            if end <= start:
                continue
            u, v = self._node(waiter), self._node(on)
            data = self._data(u, v)
            self._ranges.setdefault((u, v), []).append((start, end))
            if kind not in data["kinds"]:
                data["kinds"] = data["kinds"] | {kind}
            if (u, v) not in seen:           # count intervals, not segments
                data["count"] += 1
                seen.add((u, v))

    def finish(self) -> None:
        """Each edge's weight, the union of the stretches :meth:`add` gave it."""
        for edge, ranges in self._ranges.items():
            self.edges[edge]["ns"] = union_ns(ranges)
        self._ranges = {}
        self._graph = None

    def add_totals(self, blamed: list[int], edges: list[tuple], intervals: int) -> None:
        """Many intervals at once: their blamed threads and their edges
        ``(waiter, on, ns, intervals, kinds)``, weights already unions (see
        ``corr.analyses.bulk``), from one call: an edge met twice is added up."""
        self.intervals += intervals
        self._graph = None
        ids: dict = {}                   # tid or label -> node, looked up once each
        for tid in blamed:
            ids[tid] = self._node(tid)
        table = self.edges
        for waiter, on, ns, count, kinds in edges:
            u = ids.get(waiter)
            if u is None:
                u = ids[waiter] = self._node(waiter)
            v = ids.get(on)
            if v is None:
                v = ids[on] = self._node(on)
            data = table.get((u, v))
            if data is None:
                table[(u, v)] = {"ns": ns, "count": count, "kinds": kinds}
            else:
                data["ns"] += ns
                data["count"] += count
                data["kinds"] = data["kinds"] | kinds

    def heaviest_edges(self, top: int | None = None) -> list[tuple[tuple[str, str], dict]]:
        """``((from, to), data)`` of every edge (or the ``top``), heaviest first."""
        key = lambda e: (-e[1]["ns"], e[0][0], e[0][1])       # noqa: E731
        items = self.edges.items()
        return sorted(items, key=key) if top is None else heapq.nsmallest(top, items, key=key)

    def to_dict(self) -> dict:
        """Nodes and weighted edges, heaviest first (for JSON).

        Nodes in the order the heaviest edges first name them, then those on
        no edge by id: the same order whichever walk (C or Python) found them.
        """
        edges = self.heaviest_edges()
        order = dict.fromkeys(n for (u, v), _ in edges for n in (u, v))
        order.update(dict.fromkeys(sorted(n for n in self.nodes if n not in order)))
        return {
            "intervals": self.intervals,
            "nodes": [{"id": n, **self.nodes[n]} for n in order],
            "edges": [{"from": u, "to": v, "ns": d["ns"], "count": d["count"],
                       "kinds": sorted(d["kinds"])} for (u, v), d in edges],
        }

    def ranking(self, top: int | None = None) -> list[tuple[str, str, int, int]]:
        """(from label, to label, ns, count) for every edge (or the ``top``), heaviest first."""
        nodes = self.nodes
        return [(nodes[u]["label"], nodes[v]["label"], d["ns"], d["count"])
                for (u, v), d in self.heaviest_edges(top)]


def shares(breakdowns: list[tuple[int, list[Part]]], name=None) -> dict[str, float]:
    """Each part's share of the total duration, over ``(duration, parts)`` pairs.

    With ``name`` (tid -> the thread's name), a part on a thread is called by
    that one name whatever the thread was called in each interval, as the
    C totals call it: a renamed thread is one part, not one per name.
    """
    total = sum(d for d, _ in breakdowns)
    if not total:
        return {}
    out: dict[str, int] = {}
    for _, parts in breakdowns:
        for p in parts:
            by = label(p.tid, name(p.tid)) if name and p.tid is not None else p.by
            key = p.kind if by is None else f"{p.kind}: {by}"
            out[key] = out.get(key, 0) + p.ns
    return {k: v / total for k, v in out.items()}


def differential(slow: list[tuple[int, list[Part]]], fast: list[tuple[int, list[Part]]],
                 name=None) -> list[dict]:
    """How the slow intervals' breakdown differs from the fast ones', biggest change first
    (``name`` as for :func:`shares`)."""
    a, b = shares(slow, name), shares(fast, name)
    rows = [{"part": k, "slow_share": round(a.get(k, 0.0), 6), "fast_share": round(b.get(k, 0.0), 6),
             "change": round(a.get(k, 0.0) - b.get(k, 0.0), 6)} for k in set(a) | set(b)]
    rows.sort(key=lambda r: (-abs(r["change"]), r["part"]))
    return rows
