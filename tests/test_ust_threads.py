"""UST events recorded without a vtid context (Valkey's and Monkey's documented
sessions): their thread comes from the kernel trace of the same host, or the
entries that need it are dropped with a reason, and check and run say why.

Scenario times are ns from the scenario start (``s.ns_from_origin``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import corr.api
from conftest import run_corr
from corr.normalise import Canonical
from corr.normalise import ust_threads
from corr.normalise.ust_threads import NO_VTID, UstThreads, evidence_projection
from corr.reading import Projection, open_traces
from corr.testing import Scenario

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_TRACE = ROOT / "examples" / "llserver" / "trace"

RULES = """\
version: 1
rules:
  - name: req
    entry: {event: "app:begin", key: {tid: $tid}, fields: [op]}
    exit: {event: "app:end", key: {tid: $tid}}
    where: entry.op == exit.op
    threshold: 1us
    blame: entry
"""


def two_threads(ust_context=()) -> Scenario:
    """alpha (101) on CPU 0 and beta (102) on CPU 1 open and close requests in
    turn; beta sleeps until alpha wakes it, later migrates to CPU 0."""
    s = Scenario(cpus=2, ust_context=ust_context)
    a = s.thread(tid=101, pid=100, comm="alpha")
    b = s.thread(tid=102, pid=100, comm="beta")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=b, at=0)
    s.ust(a, "app:begin", at=100, op=1)
    s.ust(b, "app:begin", at=200, op=2)
    s.ust(a, "app:end", at=300, op=1)
    s.ust(a, "app:begin", at=400, op=3)
    s.block(b, at=500)
    s.wakeup(b, by=a, at=1_200, target_cpu=1)
    s.run(cpu=1, thread=b, at=1_400)
    s.ust(b, "app:end", at=1_500, op=2)
    s.ust(a, "app:end", at=1_600, op=3)
    s.preempt(b, by=None, at=1_700)
    s.block(a, at=1_750)
    s.run(cpu=0, thread=b, at=1_800)            # beta now on CPU 0
    s.ust(b, "app:begin", at=1_900, op=4)
    s.ust(b, "app:end", at=2_000, op=4)
    return s


# (start, end, tid, comm, cpu): each thread's own requests.
EXPECTED = [(100, 300, 101, "alpha", 0), (200, 1_500, 102, "beta", 1),
            (400, 1_600, 101, "alpha", 0), (1_900, 2_000, 102, "beta", 0)]


def intervals(s: Scenario, rule: dict) -> list[tuple]:
    base = s.ns_from_origin(0)
    return sorted((iv["start_ns"] - base, iv["end_ns"] - base, iv["tid"], iv["comm"], iv["cpu"])
                  for iv in rule["intervals"])


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """The scenario written without vtid and with it, and its rule file."""
    root = tmp_path_factory.mktemp("ust-threads")
    rules = root / "rules.yaml"
    rules.write_text(RULES)
    bare = two_threads().write(root / "bare", end=2_100)
    with_vtid = two_threads(("vpid", "vtid", "procname")).write(root / "vtid", end=2_100)
    return rules, bare, with_vtid


def run_json(rules, trace) -> tuple[dict, str]:
    proc = run_corr("run", "--format", "json", "--all-intervals", "--no-progress", rules, trace)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_threads_from_the_kernel_pair_as_with_vtid(traces):
    rules, bare, with_vtid = traces
    s = two_threads()
    doc, stderr = run_json(rules, bare.root)
    assert stderr == "" and doc["warnings"] == []
    (rule,) = doc["rules"]
    assert intervals(s, rule) == EXPECTED
    assert [iv["key"] for iv in sorted(rule["intervals"], key=lambda iv: iv["start_ns"])] == [
        101, 102, 101, 102]
    assert rule["outcomes"] == {"entries": 4, "complete": 4, "late": 0, "timeouts": 0,
                                "incomplete": 0, "dropped": 0, "dropped_reasons": {},
                                "exits_without_entry": 0, "expression_errors": {}}
    # Blame is computed, for the right thread: beta's wait on alpha.
    assert rule["blame"]["slow"] == rule["blame"]["analysed"] == 2
    assert rule["blame"]["unattributed"] == 0
    (beta,) = [iv for iv in rule["intervals"] if iv["duration_ns"] == 1_300]
    assert (beta["blamed_tid"], beta["blamed_comm"]) == (102, "beta")
    assert [(p["kind"], p["by"], p["ns"]) for p in beta["breakdown"]] == [
        ("blocked", "alpha (101)", 700), ("on_cpu", None, 400), ("preempted", None, 200)]
    # The same as what the vtid context says.
    vtid_doc, _ = run_json(rules, with_vtid.root)
    for key in ("intervals", "outcomes", "blame"):
        assert rule[key] == vtid_doc["rules"][0][key], key


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5, 32_768])
def test_batch_boundaries(traces, batch_size):
    """The CPUs' threads carry from batch to batch, whatever the cut."""
    _, bare, _ = traces
    traceset = open_traces([bare.root])
    ust = next(t for t in traceset.traces if t.domain == "ust")
    projection = Projection.of({"app:*": frozenset({"op"}),
                                "sched_switch": frozenset({"prev_tid", "next_tid"})})
    canonical = Canonical(traceset, projection, batch_size=batch_size)
    threads = UstThreads.of(traceset)
    got = []
    for batch in canonical.batches():
        registry = canonical.registry.classes
        derived = threads.columns(batch, registry)
        rows = dict.fromkeys(batch.classes, 0)
        for cid in batch.class_ids:
            r = rows[cid]
            rows[cid] += 1
            if registry[cid].trace == ust.index:
                got.append((registry[cid].name, batch.classes[cid].fields["op"][r], derived[cid][r]))
    assert got == [("app:begin", 1, 101), ("app:begin", 2, 102), ("app:end", 1, 101),
                   ("app:begin", 3, 101), ("app:end", 2, 102), ("app:end", 3, 101),
                   ("app:begin", 4, 102), ("app:end", 4, 102)]


def warning(trace: Path, role: str, event: str, outcome: str, line: int, column: int,
            rules: Path) -> str:
    return (f"{rules}:{line}:{column}: rule req: key part 'tid' reads the thread of {role} events "
            f"'{event}': {trace} has no vtid context and no kernel trace of its host to derive "
            f"it from; {outcome} (record it with: lttng add-context -u -t vtid)")


def test_without_the_kernel_half_entries_are_dropped_and_both_commands_warn(traces):
    rules, bare, _ = traces
    ust = bare.ust
    expected = [warning(ust, "entry", "app:begin", "those entries are dropped", 4, 20, rules),
                warning(ust, "exit", "app:end", "those exits match no entry", 5, 19, rules)]
    proc = run_corr("check", rules, ust)
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == [f"corr: warning: {w}" for w in expected]
    assert proc.stdout == f"{rules}: 1 rule(s) ok, 2 warning(s)\n"

    doc, stderr = run_json(rules, ust)
    assert doc["warnings"] == expected
    (rule,) = doc["rules"]
    assert rule["intervals"] == []
    assert rule["outcomes"] == {"entries": 4, "complete": 0, "late": 0, "timeouts": 0,
                                "incomplete": 0, "dropped": 4,
                                "dropped_reasons": {NO_VTID: 4}, "exits_without_entry": 4,
                                "expression_errors": {}}
    assert NO_VTID == "no thread id (vtid context missing)"

    text = run_corr("run", "--no-progress", rules, ust)
    assert text.returncode == 0 and text.stderr == ""
    squeezed = "".join(text.stdout.split())           # the console wraps long lines
    for w in expected:
        assert "".join(f"warning: {w}".split()) in squeezed
    assert ("entries 4 = complete 0 + late 0 + timeouts 0 + incomplete 0 + dropped 4 "
            "(no thread id (vtid context missing): 4); exits without entry 4") in text.stdout
    assert "None" not in text.stdout


def test_with_vtid_nothing_is_said(traces):
    rules, _, with_vtid = traces
    proc = run_corr("check", rules, with_vtid.ust)
    assert proc.returncode == 0 and proc.stderr == ""


def test_valkey_commands_explained_without_vtid(tmp_path):
    """Valkey's session: command_call with its duration (us), no context; two threads."""
    s = Scenario(cpus=2, ust_context=())
    main = s.thread(tid=201, pid=200, comm="valkey-server")
    io = s.thread(tid=202, pid=200, comm="io_thd_1")
    s.run(cpu=0, thread=main, at=0)
    s.run(cpu=1, thread=io, at=0)
    s.block(main, at=1_000, state="D")                      # the command waits 20 ms
    s.wakeup(main, by=io, at=20_999_000, target_cpu=0)
    s.run(cpu=0, thread=main, at=21_000_000)
    s.ust(main, "valkey_commands:command_call", at=22_000_000, name="keys", duration=22_000,
          prot=0, addr="127.0.0.1:50000", laddr="127.0.0.1:6379")
    s.ust(io, "valkey_commands:command_call", at=22_500_000, name="set", duration=1,
          prot=0, addr="127.0.0.1:50001", laddr="127.0.0.1:6379")
    trace = s.write(tmp_path / "valkey", end=23_000_000).root
    result = corr.api.run(ROOT / "rules" / "valkey.yaml", [trace])
    assert result.warnings == [w for w in result.warnings if "no trace has" in w]
    rule = result.rule("commands").to_dict()
    base = s.ns_from_origin(0)
    every = result.rule("commands").selected_intervals(all_intervals=True)
    assert sorted((iv["start_ns"] - base, iv["duration_ns"], iv["tid"], iv["comm"],
                   iv["fields"]["name"]) for iv in every) == [
        (0, 22_000_000, 201, "valkey-server", "keys"),
        (22_499_000, 1_000, 202, "io_thd_1", "set")]
    assert rule["blame"]["slow"] == rule["blame"]["analysed"] == 1
    (slow,) = [iv for iv in rule["intervals"] if "breakdown" in iv]
    assert [(p["kind"], p["by"], p["ns"]) for p in slow["breakdown"]] == [
        ("blocked", "io_thd_1 (202)", 20_998_000), ("on_cpu", None, 1_001_000),
        ("preempted", None, 1_000)]


def test_real_recording_without_vtid_agrees_with_vtid(monkeypatch):
    """examples/llserver/trace read without its vtid context: the thread derived from
    the perf kernel half (whose CPU 1 lacks many switch-ins) is vtid's, every event."""
    traceset = open_traces([EXAMPLE_TRACE])
    ust = next(t for t in traceset.traces if t.domain == "ust")
    kernel = next(t for t in traceset.traces if t is not ust)

    def threads(projection, derive, batch_size=32_768):
        canonical = Canonical(traceset, Projection.of(projection), batch_size=batch_size)
        source = UstThreads({ust.index: kernel}) if derive else None
        out = []
        for batch in canonical.batches():
            registry = canonical.registry.classes
            derived = source.columns(batch, registry) if derive else {}
            rows = dict.fromkeys(batch.classes, 0)
            for cid in batch.class_ids:
                r = rows[cid]
                rows[cid] += 1
                if registry[cid].trace == ust.index:
                    column = derived[cid] if derive else batch.classes[cid].fields["ctx.vtid"]
                    out.append(column[r])
        return out

    truth = threads({name: frozenset({"ctx.vtid"}) for name in ust.class_names}, False)
    # What a run projects for a UST trace without vtid beside a perf kernel half.
    projection = {name: frozenset() for name in ust.class_names}
    projection["sched_switch"] = frozenset({"prev_tid", "next_tid"})
    monkeypatch.setattr(ust_threads, "records_threads", lambda trace: False)
    for name, fields in evidence_projection(traceset.traces).items():
        projection[name] = projection.get(name, frozenset()) | fields
    assert "syscall_entry_*" in projection
    assert len(truth) == 5_309 and None not in truth
    for batch_size in (32_768, 1_000):
        assert threads(projection, True, batch_size) == truth
