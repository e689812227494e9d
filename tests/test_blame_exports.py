"""corr run with blame: on an exact scenario: JSON, folded stacks, DOT,
GraphML and Chrome trace-event output say exactly what happened."""

from __future__ import annotations

import io
import json
from pathlib import Path

import networkx as nx
import pytest

import corr.api as api
from corr.render import blame_graph

from conftest import one_line_error, run_corr, shared_trace
from test_sched_scenarios import chain_to_the_disk

RULES = Path(__file__).resolve().parent.parent / "rules" / "offcpu.yaml"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """client (101) waits on server (102), which waits on the disk (BLOCK softirq)."""
    s = chain_to_the_disk()
    path = tmp_path_factory.mktemp("chain") / "trace"
    s.write(path, end=10_000)
    result = api.run(str(RULES), [path], overrides=["offcpu.threshold=1us"])
    return s.ns_from_origin(0), result


def test_json_has_breakdowns_paths_and_blame(chain):
    base, result = chain
    r = result.rule("offcpu").to_dict()
    by_tid = {iv["tid"]: iv for iv in r["intervals"]}
    client = by_tid[101]
    assert (client["blamed_tid"], client["blamed_comm"]) == (101, "client")
    assert (client["start_ns"] - base, client["end_ns"] - base) == (1_000, 8_000)
    assert [(p["kind"], p["by"], p["ns"]) for p in client["breakdown"]] == [
        ("blocked", "server (102)", 6_000), ("preempted", None, 1_000)]
    assert [(s["tid"], s["state"], s["start_ns"] - base, s["end_ns"] - base, s["via"])
            for s in client["critical_path"]] == [
        (102, "RUNNING", 1_000, 2_000, [101]),
        (102, "BLOCK_DEVICE", 2_000, 5_200, [101]),
        (102, "PREEMPTED", 5_200, 6_000, [101]),
        (102, "RUNNING", 6_000, 7_000, [101]),
        (101, "PREEMPTED", 7_000, 8_000, []),
    ]
    server = by_tid[102]
    assert [(p["kind"], p["by"], p["ns"]) for p in server["breakdown"]] == [
        ("blocked", "softirq BLOCK", 3_200), ("preempted", None, 800)]
    edges = {(e["from"], e["to"]): (e["ns"], e["count"]) for e in r["blame"]["edges"]}
    assert edges == {
        ("tid:101", "tid:102"): (6_000, 1),
        # The server's disk wait is on both slow intervals' paths (the client's,
        # through the server, and the server's own): its 3,200 ns count once.
        ("tid:102", "res:softirq BLOCK"): (3_200, 2),
        ("tid:101", "res:waiting for a CPU"): (1_000, 1),
        ("tid:102", "res:waiting for a CPU"): (800, 1),
    }


def test_folded_stacks(chain):
    _, result = chain
    out = io.StringIO()
    api.write(result, "folded", stream=out)
    assert out.getvalue().splitlines() == [
        "offcpu;client (101);PREEMPTED 1000",
        "offcpu;client (101);server (102);BLOCK_DEVICE 3200",
        "offcpu;client (101);server (102);PREEMPTED 800",
        "offcpu;client (101);server (102);RUNNING 2000",
        "offcpu;server (102);BLOCK_DEVICE 3200",
        "offcpu;server (102);PREEMPTED 800",
    ]


def test_dot_and_graphml(chain, tmp_path):
    _, result = chain
    out = io.StringIO()
    blame_graph.write_dot(result, out)
    dot = out.getvalue()
    assert dot.startswith("digraph blame {") and dot.rstrip().endswith("}")
    assert '"offcpu/tid:101" -> "offcpu/tid:102" [label="6.000 us / 1"' in dot
    blame_graph.write_graphml(result, tmp_path / "b.graphml")
    g = nx.read_graphml(tmp_path / "b.graphml")
    assert g.nodes["offcpu/tid:102"]["label"] == "server (102)"
    assert g.edges["offcpu/tid:101", "offcpu/tid:102"]["ns"] == 6_000


def test_dot_leaves_out_small_edges_unless_asked(chain):
    """Edges under a share of their rule's total (11,000 ns here) go, and the nodes
    they leave alone; a comment says how many; --all-edges keeps them."""
    _, result = chain
    out = io.StringIO()
    blame_graph.write_dot(result, out, min_share=0.1)        # under 1,100 ns
    dot = out.getvalue()
    assert "// 2 edges under 10% of their rule's total blame left out" in dot
    assert dot.count(" -> ") == 2 and "waiting for a CPU" not in dot
    out = io.StringIO()
    blame_graph.write_dot(result, out, min_share=0)
    assert out.getvalue().count(" -> ") == 4 and "//" not in out.getvalue()



@pytest.mark.shared
def test_dot_of_a_real_trace_is_readable(tmp_path):
    """wget's off-CPU blame: 199 edges, 40 of them over 1% of the total."""
    trace = shared_trace("wget-k-20180802-115043")
    counts = {}
    for extra in ([], ["--all-edges"]):
        proc = run_corr("run", RULES, trace, "--format", "dot", "--no-cache", *extra)
        assert proc.returncode == 0, proc.stderr
        counts[bool(extra)] = proc.stdout.count(" -> ")
        left_out = "// 159 edges under 1% of their rule's total blame left out"
        assert (left_out in proc.stdout) is not bool(extra)
    assert counts == {False: 40, True: 199}


def test_chrome_trace_events(chain):
    base, result = chain
    out = io.StringIO()
    api.write(result, "chrome", stream=out)
    events = json.loads(out.getvalue())["traceEvents"]
    slices = [e for e in events if e["ph"] == "X" and e["cat"] == "critical_path"]
    assert all(e["dur"] > 0 for e in events if e["ph"] == "X")
    begin = result.begin_ns
    track = next(e["tid"] for e in events
                 if e["ph"] == "M" and e["name"] == "thread_name"
                 and e["args"]["name"].startswith("interval ") and "(101)" in e["args"]["name"])
    client_path = [(e["name"], e["ts"], e["dur"]) for e in slices if e["tid"] == track]
    assert client_path[0] == ("RUNNING", (base + 1_000 - begin) / 1000, 1.0)
    assert sum(d for _, _, d in client_path) == 7.0


@pytest.mark.parametrize("name,check", [
    ("out.folded", lambda text: text.splitlines()[0] == "offcpu;client (101);PREEMPTED 1000"),
    ("out.dot", lambda text: text.startswith("digraph blame {")),
    ("out.graphml", lambda text: "<graphml" in text),
    ("out.trace.json", lambda text: '"traceEvents"' in text),
])
def test_cli_picks_the_export_from_the_extension(chain, tmp_path, name, check):
    trace = chain[1].traces[0]["path"]
    out = tmp_path / name
    proc = run_corr("run", str(RULES), str(trace), "--set", "offcpu.threshold=1us", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert check(out.read_text())
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_cli_refuses_an_export_without_blame(chain):
    trace = chain[1].traces[0]["path"]
    irq = RULES.parent / "irq.yaml"          # no rule with blame:
    proc = run_corr("run", str(irq), trace, "--format", "folded")
    one_line_error(proc, "has blame:")


def _umask() -> int:
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask
