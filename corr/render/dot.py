"""``corr run -o blame.dot``: the blame graphs for Graphviz (``dot -Tsvg``).

Written by :func:`corr.render.blame_graph.write_dot`: edges under 1% of
their rule's total blame are left out (said in a comment at the top)
unless ``--all-edges``.
"""

from __future__ import annotations

NAME = "dot"
DESCRIPTION = "blame graph, DOT"
NEEDS_BLAME = True
FILE_ONLY = False


def write(result, destination, options) -> None:
    from .blame_graph import DOT_MIN_SHARE, write_dot
    with destination.text() as out:
        write_dot(result, out, 0 if options.all_edges else DOT_MIN_SHARE)
