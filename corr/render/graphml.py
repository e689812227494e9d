"""``corr run -o blame.graphml``: the blame graphs for yEd, Gephi and networkx.

Every edge (programs read it, not people), written by
:func:`corr.render.blame_graph.write_graphml`.
"""

from __future__ import annotations

NAME = "graphml"
DESCRIPTION = "blame graph, GraphML"
NEEDS_BLAME = True
FILE_ONLY = True


def write(result, destination, options) -> None:
    from .blame_graph import write_graphml
    write_graphml(result, destination.binary)
