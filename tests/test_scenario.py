"""The scenario writer writes exactly what the scenario says.

Every trace here is read back by babeltrace2 itself (the command-line tool
and bt2's TraceCollectionMessageIterator), and compared with values written
out by hand in the test, not only with what the scenario computes.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter

import bt2
import pytest

from corr.testing import Scenario, ScenarioError, fast_path_available, generate_kernel_trace

ORIGIN = 1_700_000_000_000_000_123  # DEFAULT_CLOCK_OFFSET_NS
START = 1_000_000_000               # DEFAULT_START_NS
CLOCK_UUID = "9a3c8e0e-3f4b-4b7e-9d2c-5c0ffee0c0de"
EVENT_LINE = re.compile(r"^\[(\d+)\] \(\S+\) corr-host (\S+): \{ cpu_id = (\d+) \}, (.*)$")


def ns(at: int) -> int:
    """ns from origin of a scenario time."""
    return ORIGIN + START + at


def build_full_scenario(**options) -> Scenario:
    """Two CPUs, a producer and a consumer, and one of everything."""
    options.setdefault("kernel_context", ("tid", "procname"))
    s = Scenario(cpus=2, **options)
    a = s.thread(tid=101, pid=100, comm="producer")
    b = s.thread(tid=102, pid=100, comm="consumer")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=b, at=10)
    s.syscall(a, "getpid", at=50, until=60, ret=100)
    s.syscall(a, "read", at=100, until=5_000, args={"fd": 3, "count": 10}, ret=10)
    s.syscall_entry(b, "futex", at=200, args={"uaddr": 0x1000, "op": 0, "val": 1})
    s.block(b, at=300, state="S")
    s.block(a, at=1_000, state="D")
    eth = s.irq(cpu=1, irq=42, name="eth0", at=2_000, until=2_500)
    s.wakeup(b, by=eth)                                       # at 2_250, on CPU 1
    s.softirq(cpu=1, vec="NET_RX", raise_at=2_400, at=2_500, until=2_550)
    s.run(cpu=1, thread=b, at=2_600)
    s.syscall_exit(b, "futex", at=2_650, ret=0, out={"uaddr": 0x1000})
    s.wakeup(a, by=b, at=2_700)                               # sched_wakeup on CPU 0 at 2_701
    c = s.fork(parent=b, child_tid=103, at=2_800)
    s.exit(b, at=2_900, free_at=3_500)
    s.run(cpu=1, thread=c, at=3_000)
    s.syscall_exit(c, "clone", at=3_001, ret=0)
    s.hrtimer(cpu=0, at=3_100, until=3_200, function=0xFFFFFFFF81234560)
    s.run(cpu=0, thread=a, at=4_000)
    s.ust(a, "llserver:process_start", at=4_500, seqno=7, queue_size=3)
    s.ust(a, "llserver:process_end", at=4_550, seqno=7, processing_ns=50, ratio=0.5)
    s.block_rq(dev=8388624, sector=1234, nr_sector=8, issue_at=4_600, complete_at=4_900,
               thread=a, rwbs="WS")
    s.discarded(cpu=0, count=12, begin=1_500, end=3_000)
    return s


# What the full scenario must contain, written out by hand.
FULL_COUNTS = {
    "sched_switch": 8, "syscall_entry_getpid": 1, "syscall_exit_getpid": 1,
    "syscall_entry_read": 1, "syscall_exit_read": 1, "syscall_entry_futex": 1,
    "syscall_exit_futex": 1, "syscall_exit_clone": 1, "irq_handler_entry": 1,
    "irq_handler_exit": 1, "irq_softirq_raise": 1, "irq_softirq_entry": 1,
    "irq_softirq_exit": 1, "sched_waking": 2, "sched_wakeup": 2, "sched_process_fork": 1,
    "sched_wakeup_new": 1, "sched_process_exit": 1, "sched_process_free": 1,
    "timer_hrtimer_expire_entry": 1, "timer_hrtimer_expire_exit": 1, "block_rq_issue": 1,
    "block_rq_complete": 1, "llserver:process_start": 1, "llserver:process_end": 1,
}

# (scenario time, cpu, name, payload subset, context subset) for chosen events.
FULL_CHOSEN = [
    (0, 0, "sched_switch", {"prev_comm": "swapper/0", "prev_tid": 0, "prev_state": 0,
                            "next_comm": "producer", "next_tid": 101, "next_prio": 20},
     {"tid": 0, "procname": "swapper/0"}),
    (50, 0, "syscall_entry_getpid", {}, {"tid": 101}),
    (60, 0, "syscall_exit_getpid", {"ret": 100}, {"tid": 101}),
    (100, 0, "syscall_entry_read", {"fd": 3, "count": 10}, {"tid": 101}),
    (200, 1, "syscall_entry_futex", {"uaddr": 0x1000, "op": 0, "val": 1, "utime": 0}, {}),
    (300, 1, "sched_switch", {"prev_tid": 102, "prev_state": 1, "next_tid": 0}, {"tid": 102}),
    (1_000, 0, "sched_switch", {"prev_tid": 101, "prev_state": 2, "next_comm": "swapper/0"},
     {"tid": 101, "procname": "producer"}),
    (2_000, 1, "irq_handler_entry", {"irq": 42, "name": "eth0"}, {"tid": 0}),
    (2_250, 1, "sched_waking", {"comm": "consumer", "tid": 102, "target_cpu": 1}, {"tid": 0}),
    (2_250, 1, "sched_wakeup", {"tid": 102, "target_cpu": 1}, {}),
    (2_400, 1, "irq_softirq_raise", {"vec": 3}, {}),
    (2_500, 1, "irq_handler_exit", {"irq": 42, "ret": 1}, {}),
    (2_650, 1, "syscall_exit_futex", {"ret": 0, "uaddr": 0x1000, "uaddr2": 0}, {"tid": 102}),
    (2_700, 1, "sched_waking", {"tid": 101, "target_cpu": 0}, {"tid": 102}),
    (2_701, 0, "sched_wakeup", {"tid": 101, "target_cpu": 0}, {"tid": 0}),
    (2_800, 1, "sched_process_fork", {"parent_tid": 102, "parent_pid": 100, "child_tid": 103,
                                      "child_pid": 103, "_vtids_length": 1, "vtids": [103],
                                      "child_ns_inum": 4026531836}, {}),
    (2_800, 1, "sched_wakeup_new", {"tid": 103, "target_cpu": 1}, {}),
    (2_900, 1, "sched_process_exit", {"tid": 102, "comm": "consumer"}, {"tid": 102}),
    (2_900, 1, "sched_switch", {"prev_tid": 102, "prev_state": 16, "next_tid": 0}, {}),
    (3_001, 1, "syscall_exit_clone", {"ret": 0}, {"tid": 103}),
    (3_100, 0, "timer_hrtimer_expire_entry", {"now": START + 3_100,
                                              "function": 0xFFFFFFFF81234560}, {}),
    (3_500, 1, "sched_process_free", {"tid": 102}, {"tid": 103}),
    (4_000, 0, "sched_switch", {"prev_tid": 0, "next_tid": 101}, {}),
    (4_500, 0, "llserver:process_start", {"seqno": 7, "queue_size": 3},
     {"vpid": 100, "vtid": 101, "procname": "producer"}),
    (4_550, 0, "llserver:process_end", {"seqno": 7, "processing_ns": 50, "ratio": 0.5}, {}),
    (4_600, 0, "block_rq_issue", {"dev": 8388624, "sector": 1234, "nr_sector": 8,
                                  "bytes": 4096, "tid": 101, "rwbs": 33, "comm": "producer"}, {}),
    (4_900, 0, "block_rq_complete", {"sector": 1234, "error": 0, "rwbs": 33}, {}),
    (5_000, 0, "syscall_exit_read", {"ret": 10, "buf": 0}, {"tid": 101}),
]


@pytest.fixture(scope="module")
def full_trace(tmp_path_factory):
    scenario = build_full_scenario(packet_events=3)
    written = scenario.write(tmp_path_factory.mktemp("full") / "session")
    return scenario, written


# -- reading back ------------------------------------------------------------------


def read_with_bt2(path) -> tuple[list[tuple], list[tuple]]:
    """(events, discards) of a trace or session, through TraceCollectionMessageIterator."""
    events, discards = [], []
    for message in bt2.TraceCollectionMessageIterator(str(path)):
        if type(message) is bt2._EventMessageConst:
            event = message.event
            events.append((
                event.stream.trace.environment["domain"],
                message.default_clock_snapshot.ns_from_origin,
                int(event.packet.context_field["cpu_id"]),
                event.name,
                to_python(event.payload_field),
                to_python(event.common_context_field) if event.common_context_field else {},
            ))
        elif type(message) is bt2._DiscardedEventsMessageConst:
            discards.append((int(message.stream.name.rsplit("_", 1)[1]), message.count,
                             message.beginning_default_clock_snapshot.ns_from_origin,
                             message.end_default_clock_snapshot.ns_from_origin))
    return events, discards


def to_python(field):
    """Plain Python values of a bt2 field."""
    if isinstance(field, bt2._StructureFieldConst):
        return {name: to_python(member) for name, member in field.items()}
    if isinstance(field, bt2._ArrayFieldConst):
        return [to_python(element) for element in field]
    if isinstance(field, bt2._StringFieldConst):
        return str(field)
    if isinstance(field, bt2._RealFieldConst):
        return float(field)
    return int(field)


def run_babeltrace2(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["babeltrace2", *map(str, args)], capture_output=True, text=True,
                          check=True, env={**os.environ, "TZ": "UTC"})


def gmt(ns_from_origin: int) -> str:
    """babeltrace2's ``[HH:MM:SS.nnnnnnnnn]`` for a time (UTC)."""
    seconds, nanoseconds = divmod(ns_from_origin, 1_000_000_000)
    return f"[{time.strftime('%H:%M:%S', time.gmtime(seconds))}.{nanoseconds:09d}]"


# -- the full scenario ---------------------------------------------------------------


def test_bt2_reads_back_exact_events(full_trace):
    scenario, written = full_trace
    events, _ = read_with_bt2(written.root)
    assert Counter(name for _, _, _, name, _, _ in events) == FULL_COUNTS
    found = {(when, cpu, name): (payload, context)
             for _, when, cpu, name, payload, context in events}
    for at, cpu, name, payload, context in FULL_CHOSEN:
        assert (ns(at), cpu, name) in found, (at, cpu, name)
        got_payload, got_context = found[(ns(at), cpu, name)]
        assert got_payload.items() >= payload.items(), (name, got_payload)
        assert got_context.items() >= context.items(), (name, got_context)
    assert found[(ns(50), 0, "syscall_entry_getpid")][0] == {}


def test_bt2_reads_back_every_expected_event(full_trace):
    scenario, written = full_trace
    events, _ = read_with_bt2(written.root)
    expected = [(e.domain, e.ns_from_origin, e.cpu, e.name, e.fields, e.context)
                for e in scenario.expected_events()]
    assert sorted(events, key=repr) == sorted(expected, key=repr)
    assert len(events) == sum(FULL_COUNTS.values())


def test_domains_and_per_cpu_order(full_trace):
    _, written = full_trace
    events, _ = read_with_bt2(written.root)
    ust = [name for domain, _, _, name, _, _ in events if domain == "ust"]
    assert ust == ["llserver:process_start", "llserver:process_end"]
    assert written.kernel == written.root / "kernel"
    assert written.ust == written.root / "ust" / "uid" / "0" / "64-bit"
    cpu1 = [(when, name) for domain, when, cpu, name, _, _ in events
            if cpu == 1 and domain == "kernel"]
    # At equal times, a CPU's events keep the order of the calls.
    exit_and_switch = [name for when, name in cpu1 if when == ns(2_900)]
    assert exit_and_switch == ["sched_process_exit", "sched_switch"]
    assert [when for when, _ in cpu1] == sorted(when for when, _ in cpu1)


def test_bt2_reports_the_discarded_events(full_trace):
    scenario, written = full_trace
    _, discards = read_with_bt2(written.root)
    assert discards == [(0, 12, ns(1_500), ns(3_000))]
    expected = scenario.expected_discards()[0]
    assert (expected.count, expected.begin_ns_from_origin) == (12, ns(1_500))


def test_babeltrace2_cli_prints_the_scenario(full_trace):
    _, written = full_trace
    result = run_babeltrace2("--clock-cycles", written.kernel)
    lines = [EVENT_LINE.match(line) for line in result.stdout.splitlines()]
    assert all(lines), result.stdout
    seen = [(int(m[1]), m[2], int(m[3])) for m in lines]
    kernel_counts = {k: v for k, v in FULL_COUNTS.items() if not k.startswith("llserver")}
    assert Counter(name for _, name, _ in seen) == kernel_counts
    for at, cpu, name, _, _ in FULL_CHOSEN:
        if not name.startswith("llserver"):
            assert (START + at, name, cpu) in seen
    getpid = next(m for m in lines if m[2] == "syscall_entry_getpid")
    assert getpid[4] == '{ tid = 101, procname = "producer" }, { }'
    warning = (f"WARNING: Tracer discarded 12 events between {gmt(ns(1_500))} and "
               f"{gmt(ns(3_000))}")
    assert warning in result.stderr
    assert "channel0_0" in result.stderr


def test_babeltrace2_cli_prints_ust_events(full_trace):
    _, written = full_trace
    lines = run_babeltrace2("--clock-cycles", written.ust).stdout.splitlines()
    assert len(lines) == 2
    assert (f"[{START + 4_500:020d}]" in lines[0]
            and 'llserver:process_start: { cpu_id = 0 }, { vpid = 100, vtid = 101, '
                'procname = "producer" }, { seqno = 7, queue_size = 3 }' in lines[0])
    assert "ratio = 0.5" in lines[1]


def test_metadata_says_lttng_2_13(full_trace):
    _, written = full_trace
    kernel = run_babeltrace2("--output-format=ctf-metadata", written.kernel).stdout
    ust = run_babeltrace2("--output-format=ctf-metadata", written.ust).stdout
    for line in ("tracer_major = 2;", "tracer_minor = 13;", 'domain = "kernel";',
                 'tracer_name = "lttng-modules";', 'sysname = "Linux";',
                 'hostname = "corr-host";', "name = monotonic;", "freq = 1000000000;",
                 "offset_s = 1700000000;", "offset = 123;",
                 f'uuid = "{CLOCK_UUID}";'):
        assert line in kernel, line
    for line in ("tracer_major = 2;", "tracer_minor = 13;", 'domain = "ust";',
                 'tracer_name = "lttng-ust";', 'tracer_buffering_scheme = "uid";',
                 f'uuid = "{CLOCK_UUID}";', "loglevel = 13;"):
        assert line in ust, line
    packet_context = kernel.split("packet.context := struct {")[1].split("} align(8);")[0]
    members = re.findall(r"\} (\w+);", packet_context)
    assert members == ["packet_size", "content_size", "timestamp_begin", "timestamp_end",
                       "events_discarded", "packet_seq_num", "_cpu_id"]
    assert "_tid;" in kernel and "_vtid;" in ust and "_procname;" in ust


def test_packets_split_as_asked(full_trace):
    _, written = full_trace
    events, _ = read_with_bt2(written.kernel)
    per_cpu = Counter(cpu for _, _, cpu, _, _, _ in events)
    counts = run_babeltrace2("-c", "sink.utils.counter", written.kernel).stdout
    packets = int(re.search(r"(\d+) Packet beginning messages", counts)[1])
    at_least = sum(-(-n // 3) for n in per_cpu.values())  # packets of 3 events
    assert at_least <= packets <= at_least + 2 + 2  # + the discard's cuts, + last ones
    assert re.search(r"\b1 Discarded event message\b", counts)


# -- other layouts and paths -----------------------------------------------------------


def test_fast_and_public_paths_write_the_same_events(tmp_path):
    if not fast_path_available():
        pytest.skip("bt2 fast path unavailable: only the public path exists")
    fast = build_full_scenario().write(tmp_path / "fast", fast=True)
    public = build_full_scenario().write(tmp_path / "public", fast=False)
    assert read_with_bt2(fast.root) == read_with_bt2(public.root)


def test_kernel_only_scenario_plain_or_session(tmp_path):
    s = Scenario(cpus=1)
    t = s.thread(tid=7, comm="sleeper")
    s.run(cpu=0, thread=t, at=0)
    s.syscall(t, "nanosleep", at=10, args={"rqtp": 0x7FFD0000}, out={"rmtp": 0})
    plain = s.write(tmp_path / "plain")
    session = s.write(tmp_path / "session", session=True)
    assert (tmp_path / "plain" / "metadata").is_file() and plain.ust is None
    assert (tmp_path / "session" / "kernel" / "metadata").is_file()
    assert session.kernel == tmp_path / "session" / "kernel"
    events, _ = read_with_bt2(plain.kernel)
    assert [(name, payload) for _, _, _, name, payload, _ in events] == [
        ("sched_switch", {"prev_comm": "swapper/0", "prev_tid": 0, "prev_prio": 20,
                          "prev_state": 0, "next_comm": "sleeper", "next_tid": 7,
                          "next_prio": 20}),
        ("syscall_entry_nanosleep", {"rqtp": 0x7FFD0000}),
    ]


def test_calls_in_any_order_give_the_same_trace(tmp_path):
    def scenario(reverse):
        s = Scenario(cpus=2)
        a = s.thread(tid=5, comm="a")
        b = s.thread(tid=6, comm="b")
        calls = [
            lambda: s.run(cpu=0, thread=a, at=0),
            lambda: s.run(cpu=1, thread=b, at=5),
            lambda: s.syscall(a, "write", at=10, until=300, args={"fd": 1, "count": 2}, ret=2),
            lambda: s.block(a, at=100, state="D"),
            lambda: s.wakeup(a, by=b, at=200),
            lambda: s.preempt(b, by=a, at=250),
        ]
        for call in reversed(calls) if reverse else calls:
            call()
        return s

    forward = read_with_bt2(scenario(False).write(tmp_path / "forward").root)
    backward = read_with_bt2(scenario(True).write(tmp_path / "backward").root)
    assert forward == backward
    exit_event = [e for e in forward[0] if e[3] == "syscall_exit_write"]
    assert [(when, cpu) for _, when, cpu, _, _, _ in exit_event] == [(ns(300), 1)]
    preempt = [e[4] for e in forward[0] if e[3] == "sched_switch" and e[1] == ns(250)]
    assert preempt == [{"prev_comm": "b", "prev_tid": 6, "prev_prio": 20, "prev_state": 256,
                        "next_comm": "a", "next_tid": 5, "next_prio": 20}]


def test_ust_only_scenario_per_pid_buffering(tmp_path):
    s = Scenario(cpus=2, ust_buffering="pid")
    worker = s.thread(tid=42, pid=40, comm="llserver", cpu=1)
    s.declare_ust_event("llserver:packet_received", seqno="u64", queue_size="u32")
    s.ust(worker, "llserver:packet_received", at=5, seqno=2**64 - 1, queue_size=9)
    written = s.write(tmp_path / "ust-only")
    assert written.kernel is None
    assert written.ust == tmp_path / "ust-only" / "ust" / "pid" / "llserver-40-20231114-221320"
    events, _ = read_with_bt2(written.root)
    assert events == [("ust", ns(5), 1, "llserver:packet_received",
                       {"seqno": 2**64 - 1, "queue_size": 9},
                       {"vpid": 40, "vtid": 42, "procname": "llserver"})]
    metadata = run_babeltrace2("--output-format=ctf-metadata", written.ust).stdout
    assert 'procname = "llserver";' in metadata and "vpid = 40;" in metadata


def test_statedump_migration_and_raw_events(tmp_path):
    s = Scenario(cpus=2, kernel_context=("pid",))
    leader = s.thread(tid=20, comm="server")
    s.thread(tid=21, pid=20, comm="server-w")          # listed by the state dump
    s.run(cpu=1, thread=leader, at=0)
    s.block(leader, at=10, state="S")
    s.migrate(leader, dest_cpu=0, at=20)
    s.statedump(at=30, cpu=0)
    s.event("irq_handler_entry", cpu=1, at=40, fields={"irq": 7, "name": "raw"})
    s.declare_event("corr_custom", [("value", "u16"), ("label", "str")])
    s.event("corr_custom", cpu=0, at=50, value=65535, label="x")
    events, _ = read_with_bt2(s.write(tmp_path / "dump").kernel)
    by_name = [(name, cpu, when, payload, context)
               for _, when, cpu, name, payload, context in events]
    assert by_name[2] == ("sched_migrate_task", 1, ns(20), {
        "comm": "server", "tid": 20, "prio": 20, "orig_cpu": 1, "dest_cpu": 0}, {"pid": 0})
    assert [name for name, *_ in by_name[3:7]] == [
        "lttng_statedump_start", "lttng_statedump_process_state",
        "lttng_statedump_process_state", "lttng_statedump_end"]
    assert by_name[4][3] == {"tid": 20, "pid": 20, "ppid": 1, "name": "server", "type": 0,
                             "mode": 5, "submode": 0, "status": 5, "cpu": 0,
                             "file_table_address": 0}
    assert by_name[5][3]["tid"] == 21 and by_name[5][3]["status"] == 5
    assert by_name[7][:4] == ("irq_handler_entry", 1, ns(40), {"irq": 7, "name": "raw"})
    assert by_name[8][3] == {"value": 65535, "label": "x"}


def test_generate_kernel_trace_writes_exactly_the_events_asked(tmp_path):
    generated = generate_kernel_trace(tmp_path / "big", events=20_000, cpus=4, threads=50,
                                      seed=3, packet_events=4_000)
    counts = run_babeltrace2("-c", "sink.utils.counter", generated.path).stdout
    assert re.search(r"\b20000 Event messages", counts)
    assert generated.events == 20_000 == sum(generated.counts.values())
    share = Counter()
    for name, count in generated.counts.items():
        share[name.split("_")[0]] += count / generated.events
    assert 0.15 < share["sched"] < 0.35
    assert 0.50 < share["syscall"] < 0.70
    assert 0.05 < share["irq"] + share["timer"] < 0.25
    metadata = run_babeltrace2("--output-format=ctf-metadata", generated.path).stdout
    assert "tracer_minor = 13;" in metadata


def test_generate_kernel_trace_is_deterministic(tmp_path):
    first = generate_kernel_trace(tmp_path / "one", events=2_000, cpus=2, threads=10, seed=9)
    second = generate_kernel_trace(tmp_path / "two", events=2_000, cpus=2, threads=10, seed=9)
    assert first.counts == second.counts
    assert read_with_bt2(first.path) == read_with_bt2(second.path)


# -- impossible scenarios ----------------------------------------------------------------


@pytest.fixture
def pair():
    s = Scenario(cpus=2)
    a = s.thread(tid=11, comm="a")
    b = s.thread(tid=12, comm="b")
    s.run(cpu=0, thread=a, at=0)
    return s, a, b


def test_syscall_exit_while_blocked_is_refused(pair):
    s, a, _ = pair
    s.syscall(a, "read", at=10, until=50)
    s.block(a, at=20, state="D")
    with pytest.raises(ScenarioError, match=r"syscall_exit_read of tid 11 \(a\) at t=50: "
                                            r".*not running.*switched out at t=20"):
        s.expected_events()


def test_running_a_blocked_thread_needs_a_wakeup(pair):
    s, a, _ = pair
    s.block(a, at=20)
    s.run(cpu=1, thread=a, at=30)
    with pytest.raises(ScenarioError, match="wake it first"):
        s.expected_events()


def test_waking_a_running_thread_is_refused(pair):
    s, a, b = pair
    s.run(cpu=1, thread=b, at=5)
    s.wakeup(a, by=b, at=10)
    with pytest.raises(ScenarioError, match=r"is running on CPU 0"):
        s.expected_events()


def test_a_thread_cannot_run_on_two_cpus(pair):
    s, a, _ = pair
    s.run(cpu=1, thread=a, at=10)
    with pytest.raises(ScenarioError, match="already running on CPU 0"):
        s.expected_events()


@pytest.mark.parametrize("call, message", [
    (lambda s, a: s.syscall(a, "read", at=1, args={"fd": 3, "bogus": 1}), "no field"),
    (lambda s, a: s.syscall(a, "read", at=1, args={"fd": -1}), "cannot hold -1"),
    (lambda s, a: s.run(cpu=2, thread=a, at=1), "CPU 2 does not exist"),
    (lambda s, a: s.block(a, at=1, state="R"), "not a sleeping state"),
    (lambda s, a: s.thread(tid=11, comm="other"), "already"),
    (lambda s, a: s.thread(tid=99, comm="x" * 16), "15 bytes"),
    (lambda s, a: s.syscall(a, "read", at=-5), "must be an integer >= 0"),
    (lambda s, a: s.event("no_such_event", cpu=0, at=1, fields={"x": [1]}), "cannot infer"),
])
def test_malformed_calls_fail_at_once(pair, call, message):
    s, a, _ = pair
    with pytest.raises((ScenarioError, TypeError), match=message):
        call(s, a)


def test_overlapping_discards_are_refused(pair, tmp_path):
    s, _, _ = pair
    s.discarded(cpu=0, count=1, begin=10, end=50)
    s.discarded(cpu=0, count=1, begin=40, end=60)
    with pytest.raises(ValueError, match="overlap"):
        s.write(tmp_path / "overlap")


def test_output_directory_must_be_empty(tmp_path, pair):
    s, _, _ = pair
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(FileExistsError):
        s.write(tmp_path / "busy")
    (tmp_path / "empty").mkdir()
    assert s.write(tmp_path / "empty").kernel == tmp_path / "empty"  # empty is fine
