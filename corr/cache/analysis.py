"""A ``blame:`` rule's analysis kept per entry: a re-run adds nothing up again.

The totals of :func:`corr.analyses.scheduling.analyse` (the blame graph's
nodes and edges, the differential view, the counts and caveats) and the
slow intervals it chose, slowest first, with their blamed threads, are a
function of the rule's intervals, its threshold and ``blame:``, the blame
limit, the thread filter and the model: keyed by all of them (and by
corr's analysis code), they are stored in one file (:mod:`.packed`).  A
run with the same key gets a ``RuleAnalysis`` that reads them back, its
intervals still explained one chunk at a time when a renderer reads them.

Each interval's own breakdown and critical path are not kept: measured on
kernel-1000000's offcpu JSON (63,989 slow intervals), computing them is
0.29 s of the 2.0 s the JSON takes to write (building the rows' dicts and
encoding them are the rest), and they come to 60 MB of columns
(docs/performance.md, the decode cache).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa

from ..collector import collector_paused
from .columns import NotCacheable, to_list
from .identity import code_fingerprint, short_hash
from . import packed

ANALYSIS_CODE = ("analyses",)
KEEP_ANALYSES = 16              # the most recently stored analyses kept per entry
_NODE_KEYS = ["kind", "tid", "label"]
_EDGE_KEYS = ["ns", "count", "kinds"]
_ROW_KEYS = ["part", "slow_share", "fast_share", "change"]


def analysis_key(rule_key: str, rule, limit: int, thread_filter, model_key: str) -> str:
    """What a rule's analysis depends on, besides the intervals its ``rule_key`` names:
    the rule's fields that change it (corr/rules/fields.py: threshold, blame, stacks)."""
    from ..rules.fields import explanation
    return short_hash(json.dumps([
        rule_key, explanation(rule), limit,
        thread_filter.to_dict() if thread_filter else None, model_key,
        code_fingerprint(ANALYSIS_CODE)]))


def write(entry, analysis) -> tuple[dict, str]:
    """``analysis`` (a RuleAnalysis of the C model) as a temporary file of the entry:
    (record, path); NotCacheable if it cannot come back the same."""
    from ..analyses.scheduling import LazyAnalyses
    if not analysis.available:
        raise NotCacheable("nothing analysed")          # cheap to find again
    lazy = analysis.intervals
    if not isinstance(lazy, LazyAnalyses) and lazy:
        raise NotCacheable("intervals explained in Python")
    graph = analysis.graph
    nodes, edges, rows = graph.nodes, graph.edges, analysis.differential
    if any(list(d) != _NODE_KEYS for d in nodes.values()) or \
            any(list(d) != _EDGE_KEYS for d in edges.values()) or \
            any(list(r) != _ROW_KEYS for r in rows):
        raise NotCacheable("an analysis of another shape")
    kinds = list(dict.fromkeys(d["kinds"] for d in edges.values()))
    if not all(type(k) is str for ks in kinds for k in ks):
        raise NotCacheable("kinds of wait")
    kind_index = {k: i for i, k in enumerate(kinds)}
    if isinstance(lazy, LazyAnalyses):
        chosen = np.asarray(lazy._order, dtype=np.int64)
        chosen_tids = np.asarray(lazy._tids[chosen], dtype=np.int64)
    else:
        chosen = chosen_tids = np.zeros(0, np.int64)
    arrays = {
        "chosen": pa.array(chosen), "chosen_tid": pa.array(chosen_tids),
        "node_id": _strings(list(nodes)),
        "node_kind": _strings([d["kind"] for d in nodes.values()]),
        "node_tid": _ints([d["tid"] for d in nodes.values()], nulls=True),
        "node_label": _strings([d["label"] for d in nodes.values()]),
        "edge_from": _strings([u for u, _ in edges]),
        "edge_to": _strings([v for _, v in edges]),
        "edge_ns": _ints([d["ns"] for d in edges.values()]),
        "edge_count": _ints([d["count"] for d in edges.values()]),
        "edge_kinds": _ints([kind_index[d["kinds"]] for d in edges.values()]),
        "part": _strings([r["part"] for r in rows]),
        "slow_share": _floats([r["slow_share"] for r in rows]),
        "fast_share": _floats([r["fast_share"] for r in rows]),
        "change": _floats([r["change"] for r in rows]),
    }
    record = {"blame": analysis.blame, "lazy": isinstance(lazy, LazyAnalyses),
              "slow": analysis.slow, "limit": analysis.limit,
              "unattributed": analysis.unattributed, "caveats": list(analysis.caveats),
              "graph_intervals": graph.intervals, "kinds": [sorted(k) for k in kinds],
              "stored": time.time()}
    if json.loads(json.dumps(record)) != record:
        raise NotCacheable("an analysis' counts")
    path = entry.temp()
    packed.write(path, arrays)
    return record, path


def restore(record: dict, arrays: dict, rule_result, model, threads):
    """The RuleAnalysis of a kept record and its file's arrays (:func:`.packed.read`),
    over ``rule_result``'s intervals and ``model``."""
    # Tens of thousands of edge dicts and no cycle: the collector's passes over them
    # would only cost time (a third of it on kernel-5000000's offcpu).
    with collector_paused():
        return _restore(record, arrays, rule_result, model, threads)


# Each array's Arrow type, and the arrays of one length (a node's, an edge's, a row's,
# a chosen interval's).
_TYPES = {"chosen": pa.int64(), "chosen_tid": pa.int64(), "node_tid": pa.int64(),
          "edge_ns": pa.int64(), "edge_count": pa.int64(), "edge_kinds": pa.int64(),
          "slow_share": pa.float64(), "fast_share": pa.float64(), "change": pa.float64(),
          **{name: pa.string() for name in ("node_id", "node_kind", "node_label", "edge_from",
                                            "edge_to", "part")}}
_SAME_LENGTH = (("chosen", "chosen_tid"), ("node_id", "node_kind", "node_tid", "node_label"),
                ("edge_from", "edge_to", "edge_ns", "edge_count", "edge_kinds"),
                ("part", "slow_share", "fast_share", "change"))


def check(record: dict, arrays: dict, intervals: int) -> None:
    """Bad unless a kept analysis' arrays are those :func:`write` makes, over a table of
    ``intervals`` rows: types, lengths, and indexes in range."""
    from .shape import need, no_nulls
    need(sorted(arrays) == sorted(_TYPES), "an analysis of other arrays")
    for name, kind in _TYPES.items():
        need(arrays[name].type == kind or (not len(arrays[name]) and
                                           pa.types.is_null(arrays[name].type)),
             f"an analysis' {name} of type {arrays[name].type}")
        if name != "node_tid":
            no_nulls(arrays[name], "an analysis")
    for names in _SAME_LENGTH:
        need(len({len(arrays[name]) for name in names}) == 1, "an analysis' arrays differ")
    kinds = packed.numpy(arrays["edge_kinds"], np.int64) if len(arrays["edge_kinds"]) else []
    need(not len(kinds) or (kinds.min() >= 0 and kinds.max() < len(record["kinds"])),
         "an analysis' kinds of wait out of range")
    chosen = packed.numpy(arrays["chosen"], np.int64) if len(arrays["chosen"]) else []
    need(not len(chosen) or (chosen.min() >= 0 and chosen.max() < intervals),
         "an analysis of other intervals")
    nodes = set(to_list(arrays["node_id"]))
    need(len(nodes) == len(arrays["node_id"]) and
         nodes.issuperset(to_list(arrays["edge_from"])) and
         nodes.issuperset(to_list(arrays["edge_to"])), "an analysis' edges of other nodes")
    pairs = set(zip(to_list(arrays["edge_from"]), to_list(arrays["edge_to"])))
    need(len(pairs) == len(arrays["edge_from"]), "an analysis' edges repeated")


def _restore(record, arrays, rule_result, model, threads):
    from ..analyses.blame import BlameGraph
    from ..analyses.scheduling import LazyAnalyses, RuleAnalysis
    check(record, arrays, len(rule_result.intervals))
    out = RuleAnalysis(record["blame"], True)
    out.caveats = list(record["caveats"])
    out.threads = threads
    out.slow, out.limit, out.unattributed = record["slow"], record["limit"], record["unattributed"]
    graph = out.graph = BlameGraph(model.name_at)
    graph.intervals = record["graph_intervals"]
    graph.nodes = {node: {"kind": kind, "tid": tid, "label": label}
                   for node, kind, tid, label in zip(*(to_list(arrays[name]) for name in (
                       "node_id", "node_kind", "node_tid", "node_label")))}
    kinds = [frozenset(k) for k in record["kinds"]]
    graph.edges = {(u, v): {"ns": ns, "count": count, "kinds": kinds[k]}
                   for u, v, ns, count, k in zip(*(to_list(arrays[name]) for name in (
                       "edge_from", "edge_to", "edge_ns", "edge_count", "edge_kinds")))}
    out.differential = [{"part": part, "slow_share": slow, "fast_share": fast, "change": change}
                        for part, slow, fast, change in zip(*(to_list(arrays[name]) for name in _ROW_KEYS))]
    if record["lazy"]:
        table = rule_result.intervals
        chosen = packed.numpy(arrays["chosen"], np.int64)
        if len(chosen) and int(chosen.max()) >= len(table):
            raise ValueError("an analysis of other intervals")
        # Only the chosen intervals' blamed threads and bounds are read.
        out.intervals = LazyAnalyses(model, chosen, packed.numpy(arrays["chosen_tid"], np.int64),
                                     table.ints_at("start_ns", chosen),
                                     table.ints_at("end_ns", chosen), threads)
    return out


def _strings(values: list) -> pa.Array:
    if not all(type(v) is str for v in values):
        raise NotCacheable("labels that are not strings")
    return pa.array(values, type=pa.string())


def _ints(values: list, nulls: bool = False) -> pa.Array:
    if not all(type(v) is int or (nulls and v is None) for v in values):
        raise NotCacheable("counts that are not integers")
    try:
        return pa.array(values, type=pa.int64())
    except (OverflowError, pa.ArrowException):
        raise NotCacheable("counts past 64 bits") from None


def _floats(values: list) -> pa.Array:
    if not all(type(v) is float for v in values):
        raise NotCacheable("shares that are not floats")
    return pa.array(values, type=pa.float64())
