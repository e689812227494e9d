"""The blame graphs as DOT (Graphviz) and GraphML (yEd, Gephi, networkx).

One graph for the run: a cluster per rule with ``blame:``, node ids
prefixed with the rule's name so that rules never merge; edges carry the
nanoseconds waited (each once, however many intervals shared the wait: see
``corr.analyses.blame``) and the number of intervals.

DOT is for people: a busy trace's graph has thousands of edges, most of
them a few microseconds, and Graphviz draws them all into a hairball.  So
edges under ``DOT_MIN_SHARE`` of their rule's total blame are left out
(said in a comment at the top), and threads left with no edge; ``min_share=0``
keeps them all.  GraphML, read by programs, always has every edge.
"""

from __future__ import annotations

import networkx as nx

from . import escape
from .units import duration

DOT_MIN_SHARE = 0.01


def combined(result) -> nx.DiGraph:
    g = nx.DiGraph()
    for r in result.rules:
        analysis = r.analysis
        if analysis is None or not analysis.available or analysis.graph is None:
            continue
        for node, data in analysis.graph.graph.nodes(data=True):
            g.add_node(f"{r.name}/{node}", rule=r.name, kind=data["kind"], label=data["label"],
                       tid=-1 if data["tid"] is None else data["tid"])
        for u, v, data in analysis.graph.graph.edges(data=True):
            g.add_edge(f"{r.name}/{u}", f"{r.name}/{v}", rule=r.name, ns=data["ns"],
                       count=data["count"], kinds=",".join(sorted(data["kinds"])))
    return g


_quote = escape.dot_quoted


def _readable(g: nx.DiGraph, min_share: float) -> tuple[nx.DiGraph, int]:
    """The graph without edges under ``min_share`` of their rule's total, nor the
    nodes that leaves alone; and how many edges went."""
    if min_share <= 0:
        return g, 0
    totals: dict = {}
    for _, _, d in g.edges(data=True):
        totals[d["rule"]] = totals.get(d["rule"], 0) + d["ns"]
    small = [(u, v) for u, v, d in g.edges(data=True) if d["ns"] < min_share * totals[d["rule"]]]
    kept = g.copy()
    kept.remove_edges_from(small)
    kept.remove_nodes_from([n for n in g if kept.degree(n) == 0 and g.degree(n) > 0])
    return kept, len(small)


def write_dot(result, out, min_share: float = DOT_MIN_SHARE) -> None:
    g, dropped = _readable(combined(result), min_share)
    out.write("digraph blame {\n")
    if dropped:
        out.write(f"  // {dropped} edges under {100 * min_share:g}% of their rule's total blame "
                  "left out (corr run --all-edges keeps them)\n")
    out.write("  rankdir=LR;\n  node [shape=box, fontname=\"sans\"];\n")
    for i, rule in enumerate(sorted({d["rule"] for _, d in g.nodes(data=True)})):
        out.write(f"  subgraph cluster_{i} {{\n    label={_quote('rule ' + rule)};\n")
        for node, d in g.nodes(data=True):
            if d["rule"] == rule:
                shape = "box" if d["kind"] == "thread" else "ellipse"
                out.write(f"    {_quote(node)} [label={_quote(d['label'])}, shape={shape}];\n")
        out.write("  }\n")
    top = max((d["ns"] for _, _, d in g.edges(data=True)), default=1) or 1
    for u, v, d in g.edges(data=True):
        width = 1 + 4 * d["ns"] / top
        label = f"{duration(d['ns'])} / {d['count']}"
        out.write(f"  {_quote(u)} -> {_quote(v)} [label={_quote(label)}, penwidth={width:.2f}];\n")
    out.write("}\n")


def write_graphml(result, out) -> None:
    """GraphML to ``out``: a path, or a binary stream.  Names from a trace hold nothing
    XML 1.0 forbids (a control character, a byte that was not UTF-8): such characters
    are written as ``\\x1b`` (:func:`corr.render.escape.xml`), so the file is well-formed."""
    g = combined(result)
    clean = nx.DiGraph()
    for node, data in g.nodes(data=True):
        clean.add_node(escape.xml(node), **{k: escape.xml(v) for k, v in data.items()})
    for u, v, data in g.edges(data=True):
        clean.add_edge(escape.xml(u), escape.xml(v), **{k: escape.xml(x) for k, x in data.items()})
    nx.write_graphml(clean, out)
