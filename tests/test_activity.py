"""Kernel activity per interval (``activity: true``, docs/scheduling.md) on scenarios whose
system calls, interrupts and schedule are known to the nanosecond; its invariants by
hypothesis and on every shared kernel trace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, run_corr, shared_trace
import corr.api as api
from corr.engine.plan import run_projection
from corr.rules import load_rules
from corr.sched.activity import pair
from corr.testing import Scenario

OFFCPU = ROOT / "rules" / "offcpu.yaml"


def _rules(tmp_path, activity: bool = True, threshold: str = "1us"):
    text = OFFCPU.read_text().replace("threshold: 1ms", f"threshold: {threshold}")
    if activity:
        text = text.replace("blame: entry", "blame: entry\n    activity: true")
    path = tmp_path / "offcpu.yaml"
    path.write_text(text)
    return path


def _disk_chain(tmp_path, irqs: bool = True, syscalls: bool = True):
    """client (101) reads from 500 to 9,500 and sleeps from 1,000 to 8,000 on server
    (102), which runs (1,000-2,000), sleeps on the disk (2,000-6,000; softirq BLOCK
    wakes it at 5,200) and runs again (6,000-7,000) before waking the client; the
    client waits for CPU 0 until 8,000 and is migrated at 7,500."""
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=101, comm="client")
    b = s.thread(tid=102, pid=102, comm="server")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=b, at=0)
    if syscalls:
        s.syscall(a, "read", at=500, until=9_500)
        s.syscall(b, "write", at=1_200, until=1_800)
        s.syscall(b, "fsync", at=1_900, until=6_100)
        s.syscall(b, "write", at=6_200, until=6_500)
    s.block(a, at=1_000, state="S")
    # While the server runs on CPU 1: counted.
    s.irq(cpu=1, irq=18, name="eth0", at=1_300, until=1_400, recorded=irqs)
    s.block(b, at=2_000, state="D")
    # While the server sleeps, or on the client's CPU while it sleeps: not counted.
    s.irq(cpu=1, irq=19, name="ahci", at=3_000, until=3_100, recorded=irqs)
    s.softirq(cpu=0, vec="TIMER", at=4_000, until=4_100, recorded=irqs)
    s.wakeup(b, by=s.softirq(cpu=1, vec="BLOCK", at=5_000, until=5_500, recorded=irqs),
             at=5_200)
    s.run(cpu=1, thread=b, at=6_000)
    # A softirq with an IRQ nested in it, while the server runs: both counted.
    s.softirq(cpu=1, vec="NET_RX", at=6_300, until=6_400, recorded=irqs)
    s.irq(cpu=1, irq=18, name="eth0", at=6_320, until=6_340, recorded=irqs)
    s.wakeup(a, by=b, at=7_000)
    s.migrate(a, dest_cpu=0, at=7_500, cpu=1)
    s.run(cpu=0, thread=a, at=8_000)
    path = tmp_path / "trace"
    s.write(path, end=10_000)
    return path, s.ns_from_origin(0)


def _intervals(tmp_path, trace, activity: bool = True, threshold: str = "1us"):
    result = api.run(str(_rules(tmp_path, activity, threshold)), [trace])
    return result.rule("offcpu").to_dict()


CLIENT = {
    "threads": [
        {"tid": 101, "comm": "client", "ns": 7_000, "cpu_ns": 0, "cpus": [], "migrations": 1,
         "syscalls": [{"name": "read", "count": 1, "ns": 7_000}]},
        {"tid": 102, "comm": "server", "ns": 6_000, "cpu_ns": 2_000, "cpus": [1],
         "migrations": 0,
         "syscalls": [{"name": "fsync", "count": 1, "ns": 4_200},
                      {"name": "write", "count": 2, "ns": 900}]}],
    "cpu_ns": 2_000,
    "migrations": 1,
    "syscalls": [{"name": "read", "count": 1, "ns": 7_000},
                 {"name": "fsync", "count": 1, "ns": 4_200},
                 {"name": "write", "count": 2, "ns": 900}],
    "irqs": [{"irq": 18, "name": "eth0", "count": 2, "ns": 120}],
    "softirqs": [{"vec": 3, "name": "NET_RX", "count": 1, "ns": 100}],
    "waits": [{"on": "disk", "by": "softirq BLOCK", "count": 1, "ns": 3_200}],
    "not_recorded": [],
}
SERVER = {
    "threads": [{"tid": 102, "comm": "server", "ns": 4_000, "cpu_ns": 0, "cpus": [],
                 "migrations": 0, "syscalls": [{"name": "fsync", "count": 1, "ns": 4_000}]}],
    "cpu_ns": 0, "migrations": 0,
    "syscalls": [{"name": "fsync", "count": 1, "ns": 4_000}],
    "irqs": [], "softirqs": [],
    "waits": [{"on": "disk", "by": "softirq BLOCK", "count": 1, "ns": 3_200}],
    "not_recorded": [],
}


@pytest.mark.parametrize("model", ["c", "python"])
def test_exact_activity_of_a_chain_to_the_disk(tmp_path, monkeypatch, model):
    """The same with the C model's timelines and the Python reference's."""
    if model == "python":
        monkeypatch.setenv("CORR_SCHED", "python")
    trace, base = _disk_chain(tmp_path)
    r = _intervals(tmp_path, trace)
    got = [(iv["blamed_tid"], iv["start_ns"] - base, iv["duration_ns"], iv["activity"])
           for iv in r["intervals"]]
    assert got == [(101, 1_000, 7_000, CLIENT), (102, 2_000, 4_000, SERVER)]
    assert r["blame"]["activity_not_recorded"] == []
    # The library's interval objects carry the same, read-only.
    result = api.run(str(_rules(tmp_path)), [trace])
    objects = list(result.interval_objects("offcpu"))
    assert [o.to_dict()["activity"] for o in objects] == [CLIENT, SERVER]
    assert objects[0].extra["activity"]["syscalls"][0]["name"] == "read"


def test_a_thread_twice_on_the_path(tmp_path):
    """client (101) sleeps 1,000-6,500 on server (102), which sleeps 2,000-4,000 on
    worker (103), itself asleep until IRQ 30 wakes it at 2,500: the path leaves the
    server for the worker and comes back.  The server's futex (1,500-4,500) counts once,
    for its 1,000 ns inside the server's two stretches; the worker's wait counts for
    its 500 ns on the path; the IRQ came while the worker did not run: not counted."""
    s = Scenario(cpus=3)
    a = s.thread(tid=101, pid=101, comm="client")
    b = s.thread(tid=102, pid=102, comm="server")
    c = s.thread(tid=103, pid=103, comm="worker")
    for cpu, thread in enumerate((a, b, c)):
        s.run(cpu=cpu, thread=thread, at=0)
    s.block(c, at=500)
    s.block(a, at=1_000)
    s.syscall(b, "futex", at=1_500, until=4_500)
    s.block(b, at=2_000)
    s.wakeup(c, by=s.irq(cpu=2, irq=30, name="nvme0q1", at=2_400, until=2_600), at=2_500)
    s.run(cpu=2, thread=c, at=2_600)
    s.wakeup(b, by=c, at=4_000)
    s.run(cpu=1, thread=b, at=4_100)
    s.wakeup(a, by=b, at=6_000)
    s.run(cpu=0, thread=a, at=6_500)
    s.write(tmp_path / "trace", end=8_000)
    base = s.ns_from_origin(0)
    (client,) = [iv for iv in _intervals(tmp_path, tmp_path / "trace")["intervals"]
                 if iv["blamed_tid"] == 101]
    assert (client["start_ns"] - base, client["duration_ns"]) == (1_000, 5_500)
    assert client["activity"] == {
        "threads": [
            {"tid": 101, "comm": "client", "ns": 5_500, "cpu_ns": 0, "cpus": [],
             "migrations": None, "syscalls": []},
            {"tid": 102, "comm": "server", "ns": 3_000, "cpu_ns": 2_900, "cpus": [1],
             "migrations": None, "syscalls": [{"name": "futex", "count": 1, "ns": 1_000}]},
            {"tid": 103, "comm": "worker", "ns": 2_000, "cpu_ns": 1_400, "cpus": [2],
             "migrations": None, "syscalls": []}],
        "cpu_ns": 4_300, "migrations": None,
        "syscalls": [{"name": "futex", "count": 1, "ns": 1_000}],
        "irqs": [], "softirqs": None,
        "waits": [{"on": "irq", "by": "IRQ 30 (nvme0q1)", "count": 1, "ns": 500}],
        "not_recorded": ["softirqs", "migrations"]}


def test_the_text_and_the_report_show_it(tmp_path):
    trace, _ = _disk_chain(tmp_path)
    rules = _rules(tmp_path)
    text = run_corr("run", rules, trace)
    assert text.returncode == 0, text.stderr
    assert ("    kernel activity\n"
            "      threads   client (101) the interval; server (102) 6.000 us on its path\n"
            "      CPU       2.000 us on CPU 1; 1 migration\n"
            "      syscalls  read ×1 7.000 us, fsync ×1 4.200 us, write ×2 900 ns\n"
            "      IRQs      IRQ 18 (eth0) ×2 120 ns\n"
            "      softirqs  NET_RX ×1 100 ns\n"
            "      waits     disk (softirq BLOCK) ×1 3.200 us\n") in text.stdout
    report = tmp_path / "report.html"
    made = run_corr("run", rules, trace, "-o", report)
    assert made.returncode == 0, made.stderr
    html = report.read_text()
    assert "<h4>Kernel activity</h4>" in html
    assert "<tr><th>IRQs</th><td>IRQ 18 (eth0) ×2 120 ns</td></tr>" in html


def test_names_from_the_trace_are_escaped(tmp_path):
    """An IRQ name is the trace's: never a raw control character in the text, never
    markup in the report."""
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=101, comm="sleeper")
    w = s.thread(tid=102, pid=102, comm="waker")
    s.run(cpu=0, thread=a, at=0)
    s.block(a, at=500, next=w)
    s.irq(cpu=0, irq=5, name="\x1b[2J<b>x", at=1_000, until=1_200)   # the waker on the path
    s.wakeup(a, by=w, at=2_000, target_cpu=0)
    s.block(w, at=2_100, next=a)
    s.block(a, at=3_000)
    s.wakeup(a, by=s.irq(cpu=0, irq=5, name="\x1b[2J<b>x", at=3_900, until=4_100), at=4_000)
    s.run(cpu=0, thread=a, at=4_200)
    s.write(tmp_path / "trace", end=5_000)
    rules = _rules(tmp_path)
    text = run_corr("run", rules, tmp_path / "trace")
    assert text.returncode == 0, text.stderr
    assert "\x1b" not in text.stdout
    assert "      IRQs      IRQ 5 (\\x1b[2J<b>x) ×1 200 ns\n" in text.stdout
    assert "      waits     irq (IRQ 5 (\\x1b[2J<b>x)) ×1 1.000 us\n" in text.stdout
    made = run_corr("run", rules, tmp_path / "trace", "-o", tmp_path / "r.html")
    assert made.returncode == 0, made.stderr
    html = (tmp_path / "r.html").read_text()
    assert "<b>x" not in html and "IRQ 5 (\\x1b[2J&lt;b&gt;x)" in html


def test_what_is_not_recorded_is_said_not_zero(tmp_path):
    """No IRQ events (as perf recordings often have) and no system calls: null and
    "not recorded", never zeros; the disk wait is still told from the wakeup."""
    trace, _ = _disk_chain(tmp_path, irqs=False, syscalls=False)
    r = _intervals(tmp_path, trace)
    act = r["intervals"][0]["activity"]
    assert (act["syscalls"], act["irqs"], act["softirqs"]) == (None, None, None)
    assert act["threads"][0]["syscalls"] is None
    assert act["not_recorded"] == ["syscalls", "irqs", "softirqs"]
    assert act["cpu_ns"] == 2_000 and act["migrations"] == 1
    text = run_corr("run", _rules(tmp_path), trace).stdout
    assert "      syscalls  not recorded\n      IRQs      not recorded\n" in text
    assert ("note: kernel activity: the traces do not record syscalls, irqs, softirqs "
            "(shown as not recorded, not as zeros)") in text
    checked = run_corr("check", _rules(tmp_path), trace)
    assert ("rule offcpu: activity: true, but no trace records syscalls (syscall_entry_*), "
            "irqs (irq_handler_entry), softirqs (irq_softirq_entry): its intervals say not "
            "recorded for them") in checked.stdout + checked.stderr


def test_no_cost_unless_a_rule_asks(tmp_path):
    """Without ``activity: true`` neither the system calls are decoded nor any activity
    is computed; with it, only their thread."""
    trace, _ = _disk_chain(tmp_path)
    plain = load_rules(_rules(tmp_path, activity=False))
    assert run_projection(plain, True).fields_for("syscall_entry_read") is None
    asking = load_rules(_rules(tmp_path))
    assert run_projection(asking, True).fields_for("syscall_exit_fsync") == {"ctx.tid"}
    r = _intervals(tmp_path, trace, activity=False)
    assert all("activity" not in iv for iv in r["intervals"])
    assert "activity_not_recorded" not in r["blame"]


def test_activity_needs_blame(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(OFFCPU.read_text().replace("blame: entry", "activity: true"))
    done = run_corr("check", path)
    assert done.returncode == 2
    assert "activity: true needs blame:" in done.stderr
    assert "Traceback" not in done.stderr


def test_pairing_entries_and_exits():
    """Per group in stream order: entry then exit is a span; a leading exit is open
    since ``begin``, a trailing entry until ``end``; an entry followed by an entry (a
    lost exit) or an exit by an exit is left out."""
    group = np.array([7, 7, 7, 7, 7, 7, 9, 9, 9])
    code = np.array([-1, 1, -1, 1, 1, -1, 1, -1, 1])
    seq = np.arange(len(group))
    entries, exits = pair(group, seq, code, begin=0, end=100)
    assert list(zip(entries.tolist(), exits.tolist())) == [
        (-1, 0), (1, 2), (4, 5), (6, 7), (8, -1)]
    entries, exits = pair(group, seq, code)        # interrupts: only whole pairs
    assert list(zip(entries.tolist(), exits.tolist())) == [(1, 2), (4, 5), (6, 7)]
    # Rows not in stream order: the same spans, named by their rows.
    shuffled = np.array([5, 2, 8, 0, 7, 3, 1, 6, 4])
    entries, exits = pair(group[shuffled], seq[shuffled], code[shuffled], begin=0, end=100)
    assert [(shuffled[e] if e >= 0 else -1, shuffled[x] if x >= 0 else -1)
            for e, x in zip(entries.tolist(), exits.tolist())] == [
        (-1, 0), (1, 2), (4, 5), (6, 7), (8, -1)]


# -- invariants ----------------------------------------------------------------------

def check_invariants(iv: dict) -> None:
    """Each thread's CPU time and its system calls' time within the time it is counted
    for (one call at a time), the blamed thread's the whole interval, the others' on
    the path within it; IRQ and softirq time within the CPU time they interrupted."""
    act, duration = iv["activity"], iv["duration_ns"]
    first, *others = act["threads"]
    assert (first["tid"], first["ns"]) == (iv["blamed_tid"], duration)
    assert sum(t["ns"] for t in others) <= duration
    for t in act["threads"]:
        assert 0 <= t["cpu_ns"] <= t["ns"]
        if t["syscalls"] is not None:
            assert sum(c["ns"] for c in t["syscalls"]) <= t["ns"]
            assert all(c["count"] >= 1 and c["ns"] >= 0 for c in t["syscalls"])
    assert act["cpu_ns"] == sum(t["cpu_ns"] for t in act["threads"])
    for kind in ("irqs", "softirqs"):
        if act[kind] is not None:
            assert sum(c["ns"] for c in act[kind]) <= act["cpu_ns"]
    assert sum(w["ns"] for w in act["waits"]) <= sum(t["ns"] for t in act["threads"])


@st.composite
def _sleeper(draw):
    """One thread on one CPU: runs, sleeps (woken by a helper), runs again; system
    calls at random (each may span sleeps)."""
    n = draw(st.integers(1, 5))
    cuts = sorted(draw(st.lists(st.integers(1, 999), min_size=2 * n, max_size=2 * n,
                                unique=True)))
    sleeps = [(cuts[2 * k] * 100, cuts[2 * k + 1] * 100) for k in range(n)]
    marks = sorted(m for m in draw(st.lists(st.integers(1, 100_999), max_size=12, unique=True))
                   if not any(a <= m <= b for a, b in sleeps))     # while it runs
    calls = [(marks[k], marks[k + 1]) for k in range(0, len(marks) - 1, 2)]
    return sleeps, calls


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_sleeper())
def test_syscall_and_cpu_time_within_the_interval(tmp_path_factory, drawn):
    sleeps, calls = drawn
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=101, comm="sleeper")
    w = s.thread(tid=102, pid=102, comm="waker")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=w, at=0)
    for k, (at, until) in enumerate(calls):
        s.syscall(a, "read" if k % 2 else "write", at=at, until=until)
    for at, until in sleeps:
        s.block(a, at=at)
        s.wakeup(a, by=w, at=until, target_cpu=0)
        s.run(cpu=0, thread=a, at=until)
    tmp = tmp_path_factory.mktemp("prop")
    s.write(tmp / "trace", end=101_000)
    base = s.ns_from_origin(0)
    r = _intervals(tmp, tmp / "trace", threshold="1ns")
    assert len(r["intervals"]) == len(sleeps)
    for iv in r["intervals"]:
        check_invariants(iv)
        start, end = iv["start_ns"] - base, iv["start_ns"] - base + iv["duration_ns"]
        # Clipped to the interval, the calls' time is exactly their overlap with it.
        overlap = sum(max(0, min(b, end) - max(a_, start)) for a_, b in calls)
        got = iv["activity"]["threads"][0]["syscalls"]
        if not calls:                  # the trace has no system call events at all
            assert got is None and "syscalls" in iv["activity"]["not_recorded"]
            continue
        assert sum(c["ns"] for c in got) == overlap
        assert sum(c["count"] for c in got) == sum(
            1 for a_, b in calls if a_ < end and b > start)


@pytest.mark.parametrize("name", ["many-threads", "bug446190", "wget-k-20180802-115043",
                                  "wget-k-20180802-115406", "flipping-endianness"])
def test_invariants_on_shared_kernel_traces(tmp_path, name):
    trace = shared_trace(name)
    r = _intervals(tmp_path, trace, threshold="1ms")
    analysed = [iv for iv in r["intervals"] if "activity" in iv]
    assert analysed and len(analysed) == r["blame"]["analysed"]
    for iv in analysed:
        check_invariants(iv)


def _reference_calls(trace) -> dict[int, list[tuple[str, int, int]]]:
    """Each thread's system calls (name, start, end) from bt2 alone (the events' threads
    from the CPUs' switches, as tests/test_rules_vs_tools.py reads them), paired as
    docs/scheduling.md says: an entry then an exit; a thread's first event an exit:
    from the trace's first event; its last an entry: to its last."""
    from test_rules_vs_tools import NEW_ENTRY, NEW_EXIT, OLD_ENTRY, OLD_EXIT, Reference
    ref = Reference(trace)
    begin, end = ref.events[0][0], ref.events[-1][0]
    events: dict[int, list] = {}
    for ts, name, _, tid in ref._with_threads():
        if name.startswith((NEW_ENTRY, OLD_ENTRY)):
            events.setdefault(tid, []).append((1, Reference._call(name), ts))
        elif name.startswith(NEW_EXIT) or name == OLD_EXIT:
            call = name[len(NEW_EXIT):] if name.startswith(NEW_EXIT) else "unknown"
            events.setdefault(tid, []).append((-1, call, ts))
    calls: dict[int, list] = {}
    for tid, mine in events.items():
        for k, (code, call, ts) in enumerate(mine):
            if code > 0 and k + 1 == len(mine):
                calls.setdefault(tid, []).append((call, ts, end))
            elif code > 0 and mine[k + 1][0] < 0:
                calls.setdefault(tid, []).append((call, ts, mine[k + 1][2]))
            elif code < 0 and k == 0:
                calls.setdefault(tid, []).append((call, begin, ts))
    return calls


@pytest.mark.parametrize("name", ["bug446190", "wget-k-20180802-115043",
                                  "wget-k-20180802-115406"])
def test_blamed_threads_calls_against_bt2(tmp_path, name):
    """Every analysed interval's blamed thread's calls, by name (count, clipped ns),
    equal to what the trace's events read by bt2 alone say."""
    trace = shared_trace(name)
    calls = _reference_calls(trace)
    r = _intervals(tmp_path, trace, threshold="1ms")
    checked = 0
    for iv in r["intervals"]:
        if "activity" not in iv:
            continue
        s, e = iv["start_ns"], iv["start_ns"] + iv["duration_ns"]
        expected: dict[str, list[int]] = {}
        for call, a, b in calls.get(iv["blamed_tid"], ()):
            if a < e and (b > s or a == b >= s):
                found = expected.setdefault(call, [0, 0])
                found[0] += 1
                found[1] += min(b, e) - max(a, s)
        got = {c["name"]: [c["count"], c["ns"]] for c in iv["activity"]["threads"][0]["syscalls"]}
        assert got == expected, (iv["blamed_tid"], s, e)
        checked += 1
    assert checked == r["blame"]["analysed"] > 0


def _reference_runs_and_interrupts(trace):
    """From bt2 alone: each thread's running windows (cpu, start, end) between its
    switches in and out (or the trace's last event), and each CPU's hard IRQ and softirq
    spans (entry then exit)."""
    import bt2
    runs: dict[int, list] = {}
    spans: dict[tuple[str, int], list] = {}          # (irqs|softirqs, cpu) -> [(id, start, end)]
    running: dict[int, tuple[int, int]] = {}         # cpu -> (tid, since)
    opened: dict[tuple[str, int], tuple[int, int]] = {}
    kinds = {"irq_handler_entry": ("irqs", 1, "irq"), "irq_handler_exit": ("irqs", -1, "irq"),
             "irq_softirq_entry": ("softirqs", 1, "vec"),
             "irq_softirq_exit": ("softirqs", -1, "vec"),
             # lttng-modules before 2.6 (bug446190)
             "softirq_entry": ("softirqs", 1, "vec"), "softirq_exit": ("softirqs", -1, "vec")}
    ts = 0
    for msg in bt2.TraceCollectionMessageIterator(str(trace)):
        if not isinstance(msg, bt2._EventMessageConst):
            continue
        event, ts = msg.event, msg.default_clock_snapshot.ns_from_origin
        cpu = int(event.packet.context_field["cpu_id"])
        if event.name == "sched_switch":
            payload = event.payload_field
            was = running.get(cpu)
            if was is not None and was[0] == int(payload["prev_tid"]):
                runs.setdefault(was[0], []).append((cpu, was[1], ts))
            running[cpu] = (int(payload["next_tid"]), ts)
        elif event.name in kinds:
            kind, code, field = kinds[event.name]
            ident = int(event.payload_field[field])
            if code > 0:
                opened[(kind, cpu)] = (ident, ts)
            elif (kind, cpu) in opened:
                ident, since = opened.pop((kind, cpu))
                spans.setdefault((kind, cpu), []).append((ident, since, ts))
    for cpu, (tid, since) in running.items():          # still running at the end
        runs.setdefault(tid, []).append((cpu, since, ts))
    return runs, spans


@pytest.mark.parametrize("name", ["bug446190", "wget-k-20180802-115043"])
def test_cpu_time_and_interrupts_against_bt2(tmp_path, name):
    """System calls blamed on their thread: where the critical path never leaves it,
    its CPU time and the IRQs and softirqs that came while it ran equal what bt2 alone
    reads (its runs between its switches, each CPU's interrupt entries and exits)."""
    trace = shared_trace(name)
    runs, spans = _reference_runs_and_interrupts(trace)
    text = (ROOT / "rules" / "syscalls.yaml").read_text()
    text = text.replace("threshold: 1ms", "threshold: 50us").replace(
        "timeout: 10s", "timeout: 10s\n    blame: entry\n    activity: true")
    rules = tmp_path / "syscalls.yaml"
    rules.write_text(text)
    r = api.run(str(rules), [trace]).rule("syscalls").to_dict()
    checked = with_interrupts = 0
    for iv in r["intervals"]:
        act = iv.get("activity")
        if act is None or len(act["threads"]) != 1:
            continue
        s, e = iv["start_ns"], iv["start_ns"] + iv["duration_ns"]
        windows = [(cpu, max(a, s), min(b, e)) for cpu, a, b in runs.get(iv["blamed_tid"], ())
                   if a < e and b > s]
        assert act["cpu_ns"] == sum(b - a for _, a, b in windows), (iv["blamed_tid"], s)
        for kind, label in (("irqs", "irq"), ("softirqs", "vec")):
            expected: dict[int, list[int]] = {}
            for cpu, a, b in windows:
                for ident, x, y in spans.get((kind, cpu), ()):
                    if x < b and y > a:
                        found = expected.setdefault(ident, [0, 0])
                        found[0] += 1
                        found[1] += min(y, b) - max(x, a)
            got = {c[label]: [c["count"], c["ns"]] for c in act[kind]}
            assert got == expected, (kind, iv["blamed_tid"], s)
            with_interrupts += bool(got)
        checked += 1
    assert checked > 0 and with_interrupts > 0
