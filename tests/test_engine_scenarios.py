"""The engine end to end, on real CTF traces written from scenarios: exact intervals.

Each test writes a :class:`corr.testing.Scenario` and a rule file into
``tmp_path``, runs them through ``corr.api.run`` and/or ``corr run --format
json``, and checks every interval (start, end, duration, status, key, the
entry and exit threads), the outcome counts and the statistics exactly.
Times in the scenarios are ns from the scenario start; a trace reports
scenario time ``at`` as ``s.ns_from_origin(at)``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

import corr.api
from conftest import run_corr
from corr.engine.result import RuleResult
from corr.testing import Scenario

ROOT = Path(__file__).resolve().parents[1]
SYSCALLS_RULES = ROOT / "rules" / "syscalls.yaml"
WAKEUP_RULES = ROOT / "rules" / "wakeup.yaml"

FIELDS = ("start_ns", "end_ns", "duration_ns", "status", "key", "tid", "comm")
CANCEL_REASON = "cancelled by sched_process_exit"
FILTERED = "filtered out by the rule's where"
FIRST_REASON = "ignored: its key was already open (match: first)"
LAST_REASON = "replaced by a newer entry with the same key (match: last)"


# -- helpers ---------------------------------------------------------------------------


def write_rules(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_cli(rules: Path, trace: Path, *options) -> dict:
    """``corr run --format json --all-intervals RULES TRACE``: its parsed JSON (exit code 0)."""
    proc = run_corr("run", "--format", "json", "--no-progress", *options, rules, trace)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cli_rule(doc: dict, name: str) -> dict:
    (rule,) = [r for r in doc["rules"] if r["name"] == name]
    return rule


def iv(s: Scenario, start: int, end: int, status: str, key, tid, comm, **more) -> dict:
    """An expected interval, from scenario times."""
    return {"start_ns": s.ns_from_origin(start), "end_ns": s.ns_from_origin(end),
            "duration_ns": end - start, "status": status, "key": key, "tid": tid,
            "comm": comm, **more}


def intervals(rule, *extra) -> list[dict]:
    """Every interval of a rule (a RuleResult or a rule of the JSON), by start then end."""
    if isinstance(rule, RuleResult):
        rows = rule.selected_intervals(all_intervals=True)
    else:
        rows = rule["intervals"]
    fields = FIELDS + extra
    return sorted(({f: r[f] for f in fields} for r in rows),
                  key=lambda r: (r["start_ns"], r["end_ns"]))


def assert_outcomes(outcomes: dict, **expected) -> None:
    """The outcomes are exactly ``expected`` (absent counts 0), and they add up."""
    want = {"entries": 0, "complete": 0, "late": 0, "timeouts": 0, "incomplete": 0,
            "dropped": 0, "dropped_reasons": {}, "exits_without_entry": 0,
            "expression_errors": {}}
    want.update(expected)
    assert outcomes == want
    assert_conserved(outcomes)


def assert_conserved(outcomes: dict) -> None:
    """entries == complete + late + timeouts + incomplete + dropped, drops by reason."""
    assert outcomes["entries"] == (outcomes["complete"] + outcomes["late"] + outcomes["timeouts"]
                                   + outcomes["incomplete"] + outcomes["dropped"])
    assert outcomes["dropped"] == sum(outcomes["dropped_reasons"].values())


def stats_of(values, *, over_threshold, p50, p90, p99, timeouts=0, late=0, incomplete=0,
             dropped=None) -> dict:
    """Expected statistics: percentiles given by hand (nearest rank); mean and sample
    stdev from the stdlib."""
    out = {"count": len(values), "min_ns": min(values), "max_ns": max(values),
           "mean_ns": statistics.fmean(values),
           "stdev_ns": statistics.stdev(values) if len(values) > 1 else None,
           "p50_ns": p50, "p90_ns": p90, "p99_ns": p99, "over_threshold": over_threshold,
           "timeouts": timeouts, "late": late, "incomplete": incomplete}
    if dropped is not None:
        out["dropped"] = dropped
    return out


def assert_stats(got: dict, want: dict) -> None:
    got, want = dict(got), dict(want)
    got_sd, want_sd = got.pop("stdev_ns"), want.pop("stdev_ns")
    assert got == want
    if want_sd is None:
        assert got_sd is None
    else:
        assert got_sd == pytest.approx(want_sd, rel=1e-12)


# -- 1. every status -----------------------------------------------------------------------

STATUS_RULES = """\
version: 1
rules:
  - name: req
    entry: {event: "app:start", key: [seqno]}
    exit: {event: "app:end", key: [seqno]}
    threshold: 1us
    timeout: 2us
"""


def status_scenario() -> Scenario:
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="app")
    s.run(cpu=0, thread=a, at=0)
    s.ust(a, "app:start", at=100, seqno=1)
    s.ust(a, "app:end", at=600, seqno=1)            # complete, 500
    s.ust(a, "app:start", at=1_000, seqno=2)
    s.ust(a, "app:end", at=4_000, seqno=2)          # after its deadline (3_000): late, 3_000
    s.ust(a, "app:start", at=5_000, seqno=3)        # never ends: timeout at 7_000
    s.ust(a, "app:start", at=8_000, seqno=5)
    s.ust(a, "app:end", at=10_000, seqno=5)         # exactly at its deadline: complete
    s.ust(a, "app:start", at=11_000, seqno=4)       # deadline 13_000 after the trace: incomplete
    s.ust(a, "app:end", at=12_500, seqno=99)        # nothing open: an exit without entry
    return s


def test_every_status(tmp_path):
    s = status_scenario()
    trace = s.write(tmp_path / "trace").root
    rules = write_rules(tmp_path, STATUS_RULES)
    result = corr.api.run(rules, [trace])
    assert result.end_ns == s.ns_from_origin(12_500)       # the trace ends at its last event
    req = result.rule("req")
    expected = [
        iv(s, 100, 600, "complete", 1, 101, "app", exit_tid=101),
        iv(s, 1_000, 4_000, "late", 2, 101, "app", exit_tid=101),
        iv(s, 5_000, 7_000, "timeout", 3, 101, "app", exit_tid=None),
        iv(s, 8_000, 10_000, "complete", 5, 101, "app", exit_tid=101),
        iv(s, 11_000, 12_500, "incomplete", 4, 101, "app", exit_tid=None),
    ]
    assert intervals(req, "exit_tid") == expected
    assert_outcomes(req.outcomes, entries=5, complete=2, late=1, timeouts=1, incomplete=1,
                    exits_without_entry=1)
    # Statistics count complete and late intervals: 500, 3_000, 2_000.
    assert_stats(req.stats, stats_of([500, 3_000, 2_000], over_threshold=2, p50=2_000,
                                     p90=3_000, p99=3_000, timeouts=1, late=1, incomplete=1,
                                     dropped=0))

    # The command line agrees; without --all-intervals only those over 1us, slowest first:
    # the two stats["over_threshold"] counts (the timeout and the incomplete one ran past
    # 1us too, but with no end in the trace).
    doc = run_cli(rules, trace, "--all-intervals")
    rule = cli_rule(doc, "req")
    assert intervals(rule, "exit_tid") == expected
    assert rule["outcomes"] == req.outcomes
    assert rule["stats"] == req.stats
    assert (rule["threshold_ns"], rule["timeout_ns"], rule["match"]) == (1_000, 2_000, "nest")
    over = cli_rule(run_cli(rules, trace), "req")["intervals"]
    assert [(r["duration_ns"], r["key"], r["status"]) for r in over] == [
        (3_000, 2, "late"), (2_000, 5, "complete")]


# -- 2. match policies -----------------------------------------------------------------------

POLICY_RULES = "version: 1\nrules:\n" + "".join(f"""\
  - name: {policy}
    entry: {{event: "app:start", key: [seqno]}}
    exit: {{event: "app:end", key: [seqno]}}
    match: {policy}
""" for policy in ("nest", "fifo", "first", "last"))


@pytest.fixture(scope="module")
def policy_run(tmp_path_factory):
    """Key 7 opened twice (by two threads), then closed twice."""
    tmp = tmp_path_factory.mktemp("policies")
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=100, comm="alpha")
    b = s.thread(tid=102, pid=100, comm="beta")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=b, at=0)
    s.ust(a, "app:start", at=100, seqno=7)
    s.ust(b, "app:start", at=200, seqno=7)
    s.ust(a, "app:end", at=300, seqno=7)
    s.ust(a, "app:end", at=500, seqno=7)
    trace = s.write(tmp / "trace").root
    return s, corr.api.run(write_rules(tmp, POLICY_RULES), [trace])


@pytest.mark.parametrize("policy, pairs, outcomes", [
    ("nest", [(100, 500, 101, "alpha"), (200, 300, 102, "beta")],      # innermost first
     dict(entries=2, complete=2)),
    ("fifo", [(100, 300, 101, "alpha"), (200, 500, 102, "beta")],      # oldest first
     dict(entries=2, complete=2)),
    ("first", [(100, 300, 101, "alpha")],
     dict(entries=2, complete=1, dropped=1, dropped_reasons={FIRST_REASON: 1},
          exits_without_entry=1)),
    ("last", [(200, 300, 102, "beta")],
     dict(entries=2, complete=1, dropped=1, dropped_reasons={LAST_REASON: 1},
          exits_without_entry=1)),
])
def test_match_policy(policy_run, policy, pairs, outcomes):
    s, result = policy_run
    rule = result.rule(policy)
    assert rule.rule.match == policy
    assert intervals(rule, "exit_tid") == [
        iv(s, start, end, "complete", 7, tid, comm, exit_tid=101)
        for start, end, tid, comm in pairs]
    assert_outcomes(rule.outcomes, **outcomes)


# -- 3. cross-thread keys ---------------------------------------------------------------------

QUEUE_RULES = """\
version: 1
rules:
  - name: queue
    entry: {event: "q:push", key: [seqno]}
    exit: {event: "q:pop", key: [seqno]}
"""


def test_cross_thread_keys(tmp_path):
    s = Scenario(cpus=2)
    producer = s.thread(tid=401, pid=400, comm="producer")
    consumer = s.thread(tid=402, pid=400, comm="consumer")
    s.run(cpu=0, thread=producer, at=0)
    s.run(cpu=1, thread=consumer, at=0)
    s.ust(producer, "q:push", at=100, seqno=1)
    s.ust(producer, "q:push", at=200, seqno=2)
    s.ust(consumer, "q:pop", at=250, seqno=1)
    s.ust(producer, "q:push", at=300, seqno=3)
    s.ust(consumer, "q:pop", at=700, seqno=2)
    s.ust(consumer, "q:pop", at=900, seqno=3)
    s.ust(consumer, "q:pop", at=950, seqno=9)            # never pushed
    trace = s.write(tmp_path / "trace").root
    rules = write_rules(tmp_path, QUEUE_RULES)
    who = dict(cpu=0, exit_tid=402, exit_comm="consumer", exit_cpu=1)
    expected = [iv(s, 100, 250, "complete", 1, 401, "producer", **who),
                iv(s, 200, 700, "complete", 2, 401, "producer", **who),
                iv(s, 300, 900, "complete", 3, 401, "producer", **who)]
    extra = ("cpu", "exit_tid", "exit_comm", "exit_cpu")

    rule = cli_rule(run_cli(rules, trace, "--all-intervals"), "queue")
    assert intervals(rule, *extra) == expected
    assert_outcomes(rule["outcomes"], entries=3, complete=3, exits_without_entry=1)
    assert_stats(rule["stats"], stats_of([150, 500, 600], over_threshold=0, p50=500, p90=600,
                                         p99=600, dropped=0))

    api_rule = corr.api.run(rules, [trace]).rule("queue")
    assert intervals(api_rule, *extra) == expected
    assert api_rule.outcomes == rule["outcomes"]


# -- 4. units and --set -----------------------------------------------------------------------

UNIT_DURATIONS = [1_000, 1_600, 2_500, 1_400_000, 1_600_000, 1_200_000_000]
UNIT_THRESHOLDS = {"t1500ns": ("1500ns", 1_500, 5), "t2us": ("2us", 2_000, 4),
                   "t1_5ms": ("1.5ms", 1_500_000, 2), "t1s": ("1s", 1_000_000_000, 1)}


def request_scenario(durations, gap: int = 10_000) -> tuple[Scenario, list[tuple[int, int]]]:
    """Requests 1, 2... one after the other, each taking the given duration."""
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="app")
    s.run(cpu=0, thread=a, at=0)
    spans, at = [], 100
    for seqno, duration in enumerate(durations, 1):
        s.ust(a, "app:start", at=at, seqno=seqno)
        s.ust(a, "app:end", at=at + duration, seqno=seqno)
        spans.append((at, at + duration))
        at += duration + gap
    return s, spans


def test_threshold_and_timeout_units(tmp_path):
    s, spans = request_scenario(UNIT_DURATIONS)
    trace = s.write(tmp_path / "trace").root
    text = "version: 1\nrules:\n" + "".join(f"""\
  - name: {name}
    entry: {{event: "app:start", key: [seqno]}}
    exit: {{event: "app:end", key: [seqno]}}
    threshold: {value}
""" for name, (value, _, _) in UNIT_THRESHOLDS.items()) + """\
  - name: timeout1_5ms
    entry: {event: "app:start", key: [seqno]}
    exit: {event: "app:end", key: [seqno]}
    timeout: 1.5ms
"""
    rules = write_rules(tmp_path, text)
    result = corr.api.run(rules, [trace])
    doc = run_cli(rules, trace)                      # intervals over threshold only
    for name, (_, threshold_ns, over) in UNIT_THRESHOLDS.items():
        rule = result.rule(name)
        assert rule.threshold_ns == threshold_ns
        assert rule.stats["over_threshold"] == over, name
        assert_outcomes(rule.outcomes, entries=6, complete=6)
        listed = cli_rule(doc, name)
        assert listed["threshold_ns"] == threshold_ns
        assert listed["stats"]["over_threshold"] == over
        assert [r["duration_ns"] for r in listed["intervals"]] == \
            sorted(UNIT_DURATIONS, reverse=True)[:over]
    late = result.rule("timeout1_5ms")
    assert late.rule.timeout_ns == 1_500_000
    assert [(r["duration_ns"], r["status"]) for r in intervals(late)] == [
        (d, "late" if d > 1_500_000 else "complete") for d in UNIT_DURATIONS]
    assert intervals(late)[-1]["end_ns"] == s.ns_from_origin(spans[-1][1])   # the real end
    assert_outcomes(late.outcomes, entries=6, complete=4, late=2)


SET_RULES = """\
version: 1
rules:
  - name: req
    entry: {event: "app:start", key: [seqno]}
    exit: {event: "app:end", key: [seqno]}
    threshold: 1s
    timeout: 10s
"""


def test_set_overrides_threshold_and_timeout(tmp_path):
    s, spans = request_scenario([1_000, 1_600, 2_500])
    trace = s.write(tmp_path / "trace").root
    rules = write_rules(tmp_path, SET_RULES)

    def expected(statuses):
        return [iv(s, start, end, status, seqno, 101, "app")
                for seqno, ((start, end), status) in enumerate(zip(spans, statuses), 1)]

    # As written: nothing over 1s, everything complete.
    plain = corr.api.run(rules, [trace]).rule("req")
    assert intervals(plain) == expected(["complete"] * 3)
    assert plain.stats["over_threshold"] == 0 and plain.selected_intervals() == []
    doc = cli_rule(run_cli(rules, trace), "req")
    assert doc["stats"]["over_threshold"] == 0 and doc["intervals"] == []

    # threshold 1500ns: 1_600 and 2_500 are over it.
    for rule in (corr.api.run(rules, [trace], overrides=["req.threshold=1500ns"]).rule("req"),
                 cli_rule(run_cli(rules, trace, "--set", "req.threshold=1500ns"), "req")):
        stats = rule.stats if isinstance(rule, RuleResult) else rule["stats"]
        assert stats["over_threshold"] == 2
        listed = (rule.selected_intervals() if isinstance(rule, RuleResult)
                  else rule["intervals"])
        assert [(r["key"], r["duration_ns"]) for r in listed] == [(3, 2_500), (2, 1_600)]

    # timeout 2us: the 2_500 ns request becomes late, with its real end; the
    # 1_600 one stays complete.  Both overrides at once.
    want = expected(["complete", "complete", "late"])
    api_rule = corr.api.run(rules, [trace],
                            overrides=["req.timeout=2us", "req.threshold=2us"]).rule("req")
    cli = cli_rule(run_cli(rules, trace, "--all-intervals", "--set", "req.timeout=2us",
                           "--set", "req.threshold=2us"), "req")
    assert (api_rule.rule.timeout_ns, api_rule.threshold_ns) == (2_000, 2_000)
    assert (cli["timeout_ns"], cli["threshold_ns"]) == (2_000, 2_000)
    for outcomes, got in ((api_rule.outcomes, intervals(api_rule)),
                          (cli["outcomes"], intervals(cli))):
        assert got == want
        assert_outcomes(outcomes, entries=3, complete=2, late=1)
    assert_stats(cli["stats"], stats_of([1_000, 1_600, 2_500], over_threshold=1, p50=1_600,
                                        p90=2_500, p99=2_500, late=1, dropped=0))

    # timeout 1us: the 1_000 ns one ends exactly at its deadline (complete), the others late.
    tight = corr.api.run(rules, [trace], overrides=["req.timeout=1us"]).rule("req")
    assert intervals(tight) == expected(["complete", "late", "late"])
    assert_outcomes(tight.outcomes, entries=3, complete=1, late=2)


# -- 5. group_by ------------------------------------------------------------------------------

GROUP_RULES = "version: 1\nrules:\n" + "".join(f"""\
  - name: {name}
    entry: {{event: "rq:begin", key: {{client: client, seqno: seqno}}}}
    exit: {{event: "rq:finish", key: {{client: client, seqno: seqno}}}}
    threshold: 500ns
    group_by: {group_by}
""" for name, group_by in (("by_client", "[client]"), ("by_op", "entry.op"),
                           ("by_both", "[client, entry.op]")))

# (client, op, duration or None for a request still open at the end)
REQUESTS = ([(1, "get", d) for d in (110, 120, 130, 140, 150, 160)]
            + [(1, "put", d) for d in (170, 180, 190, 5_000)]
            + [(2, "get", 300), (2, "put", 700), (2, "put", 1_000), (3, "del", 40),
               (2, "get", None)])


@pytest.fixture(scope="module")
def group_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("groups")
    s = Scenario(cpus=1)
    a = s.thread(tid=501, pid=500, comm="kv")
    s.run(cpu=0, thread=a, at=0)
    at = 100
    for seqno, (client, op, duration) in enumerate(REQUESTS, 1):
        s.ust(a, "rq:begin", at=at, client=client, seqno=seqno, op=op)
        if duration is not None:
            s.ust(a, "rq:finish", at=at + duration, client=client, seqno=seqno)
        at += 10_000
    s.ust(a, "rq:finish", at=at, client=9, seqno=0)     # the end of the trace
    trace = s.write(tmp / "trace").root
    rules = write_rules(tmp, GROUP_RULES)
    return s, rules, trace, corr.api.run(rules, [trace])


def test_group_by_key_part(group_run):
    s, rules, trace, result = group_run
    rule = result.rule("by_client")
    groups = rule.groups
    assert [g["key"] for g in groups] == [1, 2, 3]          # most intervals first
    assert_stats(groups[0]["stats"], stats_of(
        [110, 120, 130, 140, 150, 160, 170, 180, 190, 5_000],
        over_threshold=1, p50=150, p90=190, p99=5_000))
    assert_stats(groups[1]["stats"], stats_of([300, 700, 1_000], over_threshold=2, p50=700,
                                              p90=1_000, p99=1_000, incomplete=1))
    assert_stats(groups[2]["stats"], stats_of([40], over_threshold=0, p50=40, p90=40, p99=40))
    assert_outcomes(rule.outcomes, entries=15, complete=14, incomplete=1,
                    exits_without_entry=1)
    # Two key parts: the interval key is a mapping; each interval names its group.
    rows = rule.selected_intervals(all_intervals=True)
    open_one = [r for r in rows if r["status"] == "incomplete"]
    assert open_one == [{**open_one[0], "key": {"client": 2, "seqno": 15}, "group": 2,
                         "start_ns": s.ns_from_origin(100 + 14 * 10_000),
                         "end_ns": s.ns_from_origin(100 + 15 * 10_000),
                         "duration_ns": 10_000, "tid": 501, "comm": "kv"}]
    assert [(r["key"], r["group"], r["duration_ns"]) for r in rows[:3]] == [
        ({"client": 2, "seqno": 15}, 2, 10_000), ({"client": 1, "seqno": 10}, 1, 5_000),
        ({"client": 2, "seqno": 13}, 2, 1_000)]                         # slowest first
    # The JSON says the same.
    doc = cli_rule(run_cli(rules, trace), "by_client")
    assert doc["groups"] == json.loads(json.dumps(groups))


def test_group_by_entry_field(group_run):
    _, _, _, result = group_run
    rule = result.rule("by_op")
    groups = rule.groups
    assert [g["key"] for g in groups] == ["get", "put", "del"]
    assert_stats(groups[0]["stats"], stats_of([110, 120, 130, 140, 150, 160, 300],
                                              over_threshold=0, p50=140, p90=300, p99=300,
                                              incomplete=1))
    assert_stats(groups[1]["stats"], stats_of([170, 180, 190, 5_000, 700, 1_000],
                                              over_threshold=3, p50=190, p90=5_000,
                                              p99=5_000))
    assert_stats(groups[2]["stats"], stats_of([40], over_threshold=0, p50=40, p90=40, p99=40))
    assert_outcomes(rule.outcomes, entries=15, complete=14, incomplete=1,
                    exits_without_entry=1)


def test_group_by_two_items(group_run):
    _, rules, trace, result = group_run
    rule = result.rule("by_both")
    groups = rule.groups
    # Most intervals first, then by the key's text: [2, 'get'] before [3, 'del'].
    assert [g["key"] for g in groups] == [[1, "get"], [1, "put"], [2, "put"], [2, "get"],
                                          [3, "del"]]
    want = [stats_of([110, 120, 130, 140, 150, 160], over_threshold=0, p50=130, p90=160,
                     p99=160),
            stats_of([170, 180, 190, 5_000], over_threshold=1, p50=180, p90=5_000, p99=5_000),
            stats_of([700, 1_000], over_threshold=2, p50=700, p90=1_000, p99=1_000),
            stats_of([300], over_threshold=0, p50=300, p90=300, p99=300, incomplete=1),
            stats_of([40], over_threshold=0, p50=40, p90=40, p99=40)]
    for group, stats in zip(groups, want):
        assert_stats(group["stats"], stats)
    assert_outcomes(rule.outcomes, entries=15, complete=14, incomplete=1,
                    exits_without_entry=1)
    doc = cli_rule(run_cli(rules, trace, "--all-intervals"), "by_both")
    assert [g["key"] for g in doc["groups"]] == [g["key"] for g in groups]
    assert {(r["key"]["seqno"], tuple(r["group"])) for r in doc["intervals"]} == {
        (seqno, (client, op)) for seqno, (client, op, _) in enumerate(REQUESTS, 1)}


# -- 6. kernel: the shipped rules -----------------------------------------------------------


def syscall_scenario() -> Scenario:
    """Two threads on two CPUs; getpid without arguments, a clone whose child returns
    too, an exit_group that never returns."""
    s = Scenario(cpus=2)
    server = s.thread(tid=201, pid=200, comm="server")
    worker = s.thread(tid=202, pid=200, comm="worker")
    s.run(cpu=0, thread=server, at=0)
    s.run(cpu=1, thread=worker, at=0)
    s.syscall(server, "getpid", at=100, until=150, ret=200)
    s.syscall(server, "read", at=200, until=1_200, args={"fd": 3, "count": 64}, ret=64)
    s.syscall(worker, "read", at=300, until=2_300, args={"fd": 4, "count": 8}, ret=-11)
    s.syscall(worker, "clone", at=2_500, until=3_500, ret=203)
    child = s.fork(worker, child_tid=203, at=3_000, comm="child")
    s.run(cpu=0, thread=child, at=4_000)                # preempts the server
    s.syscall_exit(child, "clone", at=4_010, ret=0)    # the child's return: no entry
    s.syscall(child, "getpid", at=4_100, until=4_130, ret=203)
    s.syscall_entry(worker, "exit_group", at=5_000, args={"error_code": 0})
    s.exit(worker, at=5_500)
    return s


def test_shipped_syscalls_rule(tmp_path):
    s = syscall_scenario()
    trace = s.write(tmp_path / "trace").root
    result = corr.api.run(SYSCALLS_RULES, [trace])
    rule = result.rule("syscalls")
    extra = ("cpu", "exit_tid", "fields", "group")
    assert intervals(rule, *extra) == [
        iv(s, 100, 150, "complete", 201, 201, "server", cpu=0, exit_tid=201,
           fields={"ret": 200}, group="getpid"),
        iv(s, 200, 1_200, "complete", 201, 201, "server", cpu=0, exit_tid=201,
           fields={"ret": 64}, group="read"),
        iv(s, 300, 2_300, "complete", 202, 202, "worker", cpu=1, exit_tid=202,
           fields={"ret": -11}, group="read"),
        iv(s, 2_500, 3_500, "complete", 202, 202, "worker", cpu=1, exit_tid=202,
           fields={"ret": 203}, group="clone"),
        iv(s, 4_100, 4_130, "complete", 203, 203, "child", cpu=0, exit_tid=203,
           fields={"ret": 203}, group="getpid"),
    ]
    assert_outcomes(rule.outcomes, entries=6, complete=5, dropped=1,
                    dropped_reasons={CANCEL_REASON: 1}, exits_without_entry=1)
    groups = rule.groups
    assert [g["key"] for g in groups] == ["getpid", "read", "clone"]
    assert_stats(groups[0]["stats"], stats_of([50, 30], over_threshold=0, p50=30, p90=50,
                                              p99=50))
    assert_stats(groups[1]["stats"], stats_of([1_000, 2_000], over_threshold=0, p50=1_000,
                                              p90=2_000, p99=2_000))
    assert_stats(groups[2]["stats"], stats_of([1_000], over_threshold=0, p50=1_000,
                                              p90=1_000, p99=1_000))
    assert_stats(rule.stats, stats_of([50, 1_000, 2_000, 1_000, 30], over_threshold=0,
                                      p50=1_000, p90=2_000, p99=2_000, dropped=1))
    doc = cli_rule(run_cli(SYSCALLS_RULES, trace, "--all-intervals"), "syscalls")
    assert intervals(doc, *extra) == intervals(rule, *extra)
    assert doc["outcomes"] == rule.outcomes and doc["groups"] == rule.groups


def test_shipped_wakeup_rule(tmp_path):
    s = Scenario(cpus=2)
    waker = s.thread(tid=301, pid=300, comm="waker")
    sleeper = s.thread(tid=302, pid=300, comm="sleeper")
    netd = s.thread(tid=303, pid=303, comm="netd")
    s.run(cpu=0, thread=waker, at=0)
    s.run(cpu=1, thread=sleeper, at=0)
    s.run(cpu=0, thread=netd, at=50)
    s.block(netd, at=60, state="S", next=waker)
    s.block(sleeper, at=100, state="S")
    # Woken by a thread on the other CPU (sched_waking on CPU 0), switched in on CPU 1.
    s.wakeup(sleeper, by=waker, at=1_000)
    s.run(cpu=1, thread=sleeper, at=1_400)                               # 400
    s.block(sleeper, at=2_000, state="S")
    # Woken by an IRQ on the idle CPU 1 (at 3_300).
    s.wakeup(sleeper, by=s.irq(cpu=1, irq=42, name="eth0", at=3_000, until=3_600))
    s.run(cpu=1, thread=sleeper, at=3_900)                               # 600
    # netd woken by the waker, then preempts it.
    s.wakeup(netd, by=waker, at=4_000)
    s.preempt(waker, by=netd, at=4_250)                                   # 250
    # netd woken while it still runs: switched out next, not in; measured nothing.
    s.event("sched_waking", cpu=1, at=5_000, comm="netd", tid=303, prio=20, target_cpu=0)
    s.event("sched_wakeup", cpu=0, at=5_001, comm="netd", tid=303, prio=20, target_cpu=0)
    s.block(netd, at=5_100, state="S", next=waker)
    s.wakeup(netd, by=sleeper, at=6_000)
    s.preempt(waker, by=netd, at=6_700)                                   # 700
    kid = s.fork(sleeper, child_tid=304, at=7_000, comm="kid", target_cpu=1)
    s.preempt(sleeper, by=kid, at=7_050)                                  # 50 (wakeup_new)
    trace = s.write(tmp_path / "trace").root

    rule = corr.api.run(WAKEUP_RULES, [trace]).rule("wakeup")
    extra = ("cpu", "exit_tid", "exit_comm", "exit_cpu", "group")
    assert intervals(rule, *extra) == [
        iv(s, 1_000, 1_400, "complete", 302, 301, "waker", cpu=0, exit_tid=0,
           exit_comm="swapper/1", exit_cpu=1, group="sleeper"),
        iv(s, 3_300, 3_900, "complete", 302, 0, "swapper/1", cpu=1, exit_tid=0,
           exit_comm="swapper/1", exit_cpu=1, group="sleeper"),
        iv(s, 4_000, 4_250, "complete", 303, 301, "waker", cpu=0, exit_tid=301,
           exit_comm="waker", exit_cpu=0, group="netd"),
        iv(s, 6_000, 6_700, "complete", 303, 302, "sleeper", cpu=1, exit_tid=301,
           exit_comm="waker", exit_cpu=0, group="netd"),
        iv(s, 7_000, 7_050, "complete", 304, 302, "sleeper", cpu=1, exit_tid=302,
           exit_comm="sleeper", exit_cpu=1, group="kid"),
    ]
    # Switch-ins without a wakeup (the first ones, preempted threads back, idle) are
    # exits without entry: at 0 (x2), 60, 100 and 2_000 (idle), 5_100.  Each wake's
    # sched_wakeup is an entry too (it opens the wait when a switch-out cancelled the
    # waking), found already open after a waking: 5 of the 11 entries.
    assert_outcomes(rule.outcomes, entries=11, complete=5, dropped=6,
                    dropped_reasons={"cancelled by sched_switch": 1,
                                     "ignored: its key was already open (match: first)": 5},
                    exits_without_entry=7)
    groups = {g["key"]: g["stats"] for g in rule.groups}
    assert_stats(groups["netd"], stats_of([250, 700], over_threshold=0, p50=250, p90=700,
                                          p99=700))
    assert_stats(groups["sleeper"], stats_of([400, 600], over_threshold=0, p50=400, p90=600,
                                             p99=600))
    assert_stats(groups["kid"], stats_of([50], over_threshold=0, p50=50, p90=50, p99=50))


def test_idle_comm_agrees_with_procname_context(tmp_path):
    """Without a procname context, tid 0 on CPU N is named swapper/N, as the context says."""
    names = []
    for context in ((), ("procname",)):
        s = Scenario(cpus=2, kernel_context=context)
        t = s.thread(tid=601, comm="t")
        u = s.thread(tid=602, comm="u")
        s.run(cpu=0, thread=t, at=0)
        s.run(cpu=1, thread=u, at=0)
        s.block(u, at=50)                       # CPU 1 is known to be idle from here
        s.block(t, at=100)
        s.wakeup(t, by=s.irq(cpu=1, irq=9, name="acpi", at=200, until=400))   # at 300
        s.run(cpu=0, thread=t, at=1_000)
        trace = s.write(tmp_path / f"trace{len(context)}").root
        rule = corr.api.run(WAKEUP_RULES, [trace]).rule("wakeup")
        # The waking and its sched_wakeup: the second finds the wait already open.
        assert_outcomes(rule.outcomes, entries=2, complete=1, dropped=1,
                        dropped_reasons={"ignored: its key was already open (match: first)": 1},
                        exits_without_entry=4)
        names.append(intervals(rule, "exit_tid", "exit_comm", "cpu", "exit_cpu"))
        assert names[-1] == [iv(s, 300, 1_000, "complete", 601, 0, "swapper/1", cpu=1,
                                exit_tid=0, exit_comm="swapper/0", exit_cpu=0)]
    assert names[0] == names[1]


# -- 7. where filters ------------------------------------------------------------------------

WHERE_RULES = """\
version: 1
rules:
  - name: filtered
    entry:
      event: "app:start"
      key: [seqno]
      where: seqno < 100
    exit: {event: "app:end", key: [seqno]}
    where: $duration > 1us
"""


def test_entry_where_and_pair_where(tmp_path):
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="app")
    s.run(cpu=0, thread=a, at=0)
    for seqno, start, end in ((1, 100, 600), (2, 1_000, 3_000), (100, 4_000, 9_000),
                              (3, 10_000, 11_000), (4, 12_000, 13_001), (5, 14_000, None)):
        s.ust(a, "app:start", at=start, seqno=seqno)
        if end is not None:
            s.ust(a, "app:end", at=end, seqno=seqno)
    trace = s.write(tmp_path / "trace").root
    rules = write_rules(tmp_path, WHERE_RULES)
    for rule in (corr.api.run(rules, [trace]).rule("filtered"),
                 cli_rule(run_cli(rules, trace, "--all-intervals"), "filtered")):
        # seqno 100 fails the entry filter: not an entry, its exit has no entry.
        # 1 (500 ns) and 3 (exactly 1us) fail the pair filter: dropped.  5 never ends.
        assert intervals(rule) == [iv(s, 1_000, 3_000, "complete", 2, 101, "app"),
                                   iv(s, 12_000, 13_001, "complete", 4, 101, "app"),
                                   iv(s, 14_000, 14_000, "incomplete", 5, 101, "app")]
        outcomes = rule.outcomes if isinstance(rule, RuleResult) else rule["outcomes"]
        assert_outcomes(outcomes, entries=5, complete=2, incomplete=1, dropped=2,
                        dropped_reasons={FILTERED: 2}, exits_without_entry=1)


EXIT_RET_RULES = """\
version: 1
rules:
  - name: ok_calls
    entry: {event: syscall_entry_*, key: {tid: $tid}}
    exit: {event: syscall_exit_*, key: {tid: $tid}, fields: [ret]}
    match: last
    where: exit.ret >= 0
    group_by: entry.$syscall
"""


def test_pair_where_on_exit_field(tmp_path):
    s = syscall_scenario()
    trace = s.write(tmp_path / "trace").root
    rule = corr.api.run(write_rules(tmp_path, EXIT_RET_RULES), [trace]).rule("ok_calls")
    # The worker's read returned -11: filtered.  No cancel in this rule: the
    # exit_group is still open at the end of the trace (5_500).
    rows = intervals(rule, "fields", "group")
    assert [{k: v for k, v in r.items() if k != "fields"} for r in rows] == [
        iv(s, 100, 150, "complete", 201, 201, "server", group="getpid"),
        iv(s, 200, 1_200, "complete", 201, 201, "server", group="read"),
        iv(s, 2_500, 3_500, "complete", 202, 202, "worker", group="clone"),
        iv(s, 4_100, 4_130, "complete", 203, 203, "child", group="getpid"),
        iv(s, 5_000, 5_500, "incomplete", 202, 202, "worker", group="exit_group"),
    ]
    # The exit's ret is kept; the open exit_group has none (absent or null).
    assert [r["fields"].get("ret") for r in rows] == [200, 64, 203, 203, None]
    assert_outcomes(rule.outcomes, entries=6, complete=4, incomplete=1, dropped=1,
                    dropped_reasons={FILTERED: 1}, exits_without_entry=1)


def test_shipped_syscalls_where_drops_mismatched_pairs(tmp_path):
    """An exit of another call than the open one (events were lost) is filtered out."""
    s = Scenario(cpus=1)
    t = s.thread(tid=701, comm="lossy")
    s.run(cpu=0, thread=t, at=0)
    s.syscall_entry(t, "read", at=100, args={"fd": 3, "count": 1})
    s.syscall_exit(t, "write", at=500, ret=1)
    s.syscall(t, "getpid", at=600, until=650, ret=701)
    trace = s.write(tmp_path / "trace").root
    rule = corr.api.run(SYSCALLS_RULES, [trace]).rule("syscalls")
    assert intervals(rule) == [iv(s, 600, 650, "complete", 701, 701, "lossy")]
    assert_outcomes(rule.outcomes, entries=2, complete=1, dropped=1,
                    dropped_reasons={FILTERED: 1})


# -- 9. discarded events ------------------------------------------------------------------------


def test_lossy_intervals(tmp_path):
    s = Scenario(cpus=2)
    a = s.thread(tid=101, comm="reader")
    b = s.thread(tid=102, comm="writer")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=b, at=0)
    s.syscall(a, "read", at=100, until=900, args={"fd": 3, "count": 1}, ret=1)
    s.syscall(a, "read", at=1_000, until=3_000, args={"fd": 3, "count": 1}, ret=1)
    s.syscall(b, "write", at=1_500, until=1_800, args={"fd": 1, "count": 1}, ret=1)
    s.syscall(b, "write", at=2_200, until=2_400, args={"fd": 1, "count": 1}, ret=1)
    s.syscall(b, "write", at=4_500, until=7_800, args={"fd": 1, "count": 1}, ret=1)
    s.syscall(a, "read", at=5_000, until=6_000, args={"fd": 3, "count": 1}, ret=1)
    s.discarded(cpu=1, count=7, begin=2_000, end=2_500)
    trace = s.write(tmp_path / "trace").root
    result = corr.api.run(SYSCALLS_RULES, [trace])
    assert result.discarded_events == 7
    rule = result.rule("syscalls")
    assert intervals(rule, "lossy") == [
        iv(s, 100, 900, "complete", 101, 101, "reader", lossy=False),
        iv(s, 1_000, 3_000, "complete", 101, 101, "reader", lossy=True),   # spans it
        iv(s, 1_500, 1_800, "complete", 102, 102, "writer", lossy=False),
        iv(s, 2_200, 2_400, "complete", 102, 102, "writer", lossy=True),   # inside it
        iv(s, 4_500, 7_800, "complete", 102, 102, "writer", lossy=False),
        iv(s, 5_000, 6_000, "complete", 101, 101, "reader", lossy=False),
    ]
    assert_outcomes(rule.outcomes, entries=6, complete=6)
    doc = run_cli(SYSCALLS_RULES, trace, "--all-intervals")
    assert doc["discarded_events"] == 7
    assert cli_rule(doc, "syscalls")["lossy_intervals"] == 2
    assert intervals(cli_rule(doc, "syscalls"), "lossy") == intervals(rule, "lossy")
