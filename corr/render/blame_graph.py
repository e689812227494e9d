"""The blame graphs as DOT (Graphviz) and GraphML (yEd, Gephi, networkx).

One graph for the run: a cluster per rule with ``blame:``, node ids
prefixed with the rule's name so that rules never merge; edges carry the
nanoseconds waited and the number of intervals.
"""

from __future__ import annotations

import networkx as nx

from .units import duration


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


def _quote(text) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_dot(result, out) -> None:
    g = combined(result)
    out.write("digraph blame {\n  rankdir=LR;\n  node [shape=box, fontname=\"sans\"];\n")
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


def write_graphml(result, path) -> None:
    nx.write_graphml(combined(result), path)
