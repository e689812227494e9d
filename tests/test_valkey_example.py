"""rules/valkey.yaml on examples/valkey: the slow spots the program injected are
found, each with its cause.

The program (a Valkey event-loop stand-in with Valkey's own tracepoints, recorded
as Valkey's documentation records it: no context) prints when it ran each
injected operation, and how long it measured it (recording.txt):

- a GET during which a SCHED_FIFO ``cpuhog`` spins on the server's CPU:
  slow, preempted by cpuhog;
- a KEYS over a million keys: slow, on CPU;
- an fdatasync of the append-only file in the event loop: slow, blocked on
  the disk (on threads that are not the program's: the kernel's writeback
  worker, interrupts).

Every other command is a few microseconds long; the server runs at SCHED_FIFO
priority, so nothing else on the host makes one slow.  The thresholds are set
from the program's own measures, so the same checks hold for the committed
recording and for a fresh one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, assert_small, record_ust_example, run_corr, ust_clock_offset

RULES = ROOT / "rules" / "valkey.yaml"
COMMITTED = ROOT / "examples" / "valkey" / "trace"
_INJECT = re.compile(r"valkey: inject (\w+) name (\w+) begin (\d+) end (\d+) traced (\d+) "
                     r"duration_us (\d+)")


def program_log(trace: Path) -> tuple[dict, dict]:
    """The injected operations ({hog, keys, fsync} -> name, begin, end, traced, us)
    and the ids (pid, server, cpuhog), as the program printed them."""
    text = (trace / "recording.txt").read_text()
    injected = {m[1]: {"name": m[2], "begin": int(m[3]), "end": int(m[4]),
                       "traced": int(m[5]), "us": int(m[6])} for m in _INJECT.finditer(text)}
    ids = dict(zip(("pid", "server", "cpuhog"),
                   map(int, re.search(r"valkey: pid (\d+) server (\d+) cpuhog (\d+)", text).groups())))
    assert set(injected) == {"hog", "keys", "fsync"}, text
    return injected, ids


def run(trace: Path, injected: dict) -> dict:
    """corr run, each threshold under the injected operations' own durations."""
    commands = min(injected["hog"]["us"], injected["keys"]["us"]) // 2
    proc = run_corr("run", RULES, trace, "--format", "json", "--all-intervals",
                    "--set", f"commands.threshold={commands}us",
                    "--set", f"aof.threshold={injected['fsync']['us'] // 2}us",
                    "--set", "event_loop.threshold=5ms")
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)["rules"]}


def slow(rule: dict) -> list[dict]:
    return [i for i in rule["intervals"] if i["duration_ns"] > rule["threshold_ns"]]


def share(interval: dict, kind: str, tids=None) -> float:
    """The share of the interval's time in breakdown parts of this kind (and thread)."""
    ns = sum(p["ns"] for p in interval["breakdown"]
             if p["kind"] == kind and (tids is None or p["tid"] in tids))
    return ns / interval["duration_ns"]


def is_event_of(interval: dict, op: dict, offset: int) -> bool:
    """The interval is the span of the operation's event: it ends when the event
    was traced (between the operation's end and the program's next clock read) and
    lasts what the program measured, in whole microseconds."""
    return (op["end"] <= interval["end_ns"] - offset <= op["traced"]
            and interval["duration_ns"] == op["us"] * 1000)


def check(trace: Path) -> None:
    injected, ids = program_log(trace)
    offset = ust_clock_offset(trace)
    rules = run(trace, injected)
    program = set(ids.values())

    # The slow commands are the hogged GET and the KEYS, nothing else.
    commands = sorted(slow(rules["commands"]), key=lambda i: i["start_ns"])
    assert [(i["group"], i["tid"]) for i in commands] == [("get", ids["server"]), ("keys", ids["server"])]
    get, keys = commands
    assert is_event_of(get, injected["hog"], offset)
    assert is_event_of(keys, injected["keys"], offset)
    assert share(get, "preempted", {ids["cpuhog"]}) >= 0.9, get["breakdown"]
    assert share(keys, "on_cpu") >= 0.9, keys["breakdown"]
    counts = re.search(r"valkey: commands (\d+) cycles (\d+)", (trace / "recording.txt").read_text())
    assert rules["commands"]["outcomes"]["complete"] == int(counts[1])
    assert rules["event_loop"]["outcomes"]["complete"] == int(counts[2])
    # The cluster configuration save (6 steps) and the BGSAVE (fork, unlink).
    assert {g["key"]: g["stats"]["count"] for g in rules["cluster_config"]["groups"]} == {
        f"valkey_cluster:cluster_config_{step}": 1
        for step in ("open", "write", "fsync", "rename", "dir_fsync", "close")}
    assert {g["key"]: g["stats"]["count"] for g in rules["fork"]["groups"]} == {
        "valkey_rdb:fork": 1, "valkey_rdb:rdb_unlink_temp_file": 1}

    # The slow fsync: blocked on what is not the program (the disk's workers, interrupts).
    fsyncs = [i for i in slow(rules["aof"]) if i["group"] == "valkey_aof:aof_fsync_always"]
    assert len(fsyncs) == 1 and is_event_of(fsyncs[0], injected["fsync"], offset)
    blocked = [p for p in fsyncs[0]["breakdown"] if p["kind"] == "blocked"]
    assert share(fsyncs[0], "blocked") >= 0.5, fsyncs[0]["breakdown"]
    assert not {p["tid"] for p in blocked} & program, blocked

    # Each of the three slow event-loop cycles holds one injected operation (its end
    # and its event; a span starts up to 1 us late, its duration is whole us).
    cycles = sorted(slow(rules["event_loop"]), key=lambda i: i["start_ns"])
    assert len(cycles) == 3
    for cycle, op in zip(cycles, (injected["hog"], injected["keys"], injected["fsync"])):
        assert cycle["start_ns"] - offset < op["end"] and op["traced"] <= cycle["end_ns"] - offset
        assert cycle["duration_ns"] >= op["us"] * 1000


def test_committed_recording():
    check(COMMITTED)


def test_committed_recording_is_small():
    assert_small(COMMITTED)


@pytest.mark.recording
def test_fresh_recording(tmp_path):
    record_ust_example("valkey", tmp_path / "rec")
    check(tmp_path / "rec")
