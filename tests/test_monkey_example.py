"""rules/monkey.yaml on examples/monkey: every connection's life is the one the
program logged, under forced fd reuse.

The program (two Monkey-like epoll workers with Monkey's tracepoints, seed 002)
prints each connection (recording.txt): its worker's thread, its fd, how it
ended, how many requests it made, and pairs of clock reads around its
REGISTERED, its reason event (FORCED CLOSE or TIMEOUT) and its DELETE_CLIENT
tracepoints.  Every forced close with a next connection has that next one
registered on the same fd by the other worker between its close(fd) and its
DELETE_CLIENT, as Monkey allows.  So:

- ``connection`` (keyed by worker thread and fd) has one interval per logged
  connection, starting at its REGISTERED and ending at its DELETE_CLIENT (each
  inside its bracket);
- the same rule keyed by fd alone pairs each reused fd's two connections
  crosswise: exactly the reused pairs come out wrong;
- ``ended_by`` (a rule with a step) gives every connection's whole life, as
  ``connection`` does, grouped by its reason event (none, null, for the ones
  the server closed);
- ``request`` completes every request; the workers' listening channels' EPOLLINs
  are the incomplete ones, the closing reads are cancelled;
- ``forced_close`` (a count rule) counts each worker's forced closes, in all and
  per second (the recording lasts under a second: one window).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, assert_small, record_ust_example, run_corr, ust_clock_offset

RULES = ROOT / "rules" / "monkey.yaml"
COMMITTED = ROOT / "examples" / "monkey" / "trace"
CONNS, WORKERS = 12, 2
_CONN = re.compile(r"monkey: conn (\d+) worker (\d+) tid (\d+) fd (\d+) reason (\w+) requests (\d+) "
                   r"registered (\d+) (\d+) ended (\d+) (\d+) deleted (\d+) (\d+) reused_from (-?\d+)")
REASON_EVENT = {"forced": "FORCED CLOSE", "timeout": "TIMEOUT"}


def connections(trace: Path) -> list[dict]:
    out = []
    for m in _CONN.finditer((trace / "recording.txt").read_text()):
        conn = dict(zip(("id", "worker", "tid", "fd"), map(int, m.groups()[:4])))
        conn["reason"] = m[5]
        conn.update(zip(("requests", "r0", "r1", "x0", "x1", "d0", "d1", "reused_from"),
                        map(int, m.groups()[5:])))
        out.append(conn)
    assert len(out) == CONNS
    return out


def run(rules: Path, trace: Path) -> dict:
    proc = run_corr("run", rules, trace, "--format", "json", "--all-intervals")
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)["rules"]}


def lifetime_of(interval: dict, conns: list[dict], offset: int, end: str = "d") -> dict | None:
    """The logged connection whose brackets hold the interval's start and end."""
    start, stop = interval["start_ns"] - offset, interval["end_ns"] - offset
    for c in conns:
        if c["r0"] <= start <= c["r1"] and c[end + "0"] <= stop <= c[end + "1"]:
            return c
    return None


def check(trace: Path, tmp_path: Path) -> None:
    conns, offset = connections(trace), ust_clock_offset(trace)
    rules = run(RULES, trace)
    reused = [c for c in conns if c["reused_from"] >= 0]
    assert len(reused) == 4

    # The program forced the reuse: the next connection registered on the fd
    # before the previous one's DELETE_CLIENT, in the other worker.
    for c in reused:
        old = conns[c["reused_from"]]
        assert (c["fd"], old["reason"]) == (old["fd"], "forced") and c["tid"] != old["tid"]
        assert c["r1"] < old["d0"]

    # Every connection's life, exactly as logged.
    connection = rules["connection"]
    assert connection["outcomes"]["complete"] == connection["outcomes"]["entries"] == CONNS
    found = [lifetime_of(i, conns, offset) for i in connection["intervals"]]
    assert sorted(c["id"] for c in found if c) == list(range(CONNS))
    for interval, c in zip(connection["intervals"], found):
        assert interval["key"] == {"tid": c["tid"], "fd": c["fd"]} and interval["tid"] == c["tid"]

    # Keyed by fd alone, each reused pair is paired crosswise (a stack: the
    # older connection's DELETE_CLIENT ends the newer one).
    fd_only = tmp_path / "fd-only.yaml"
    fd_only.write_text(RULES.read_text().replace("{tid: $tid, fd: fd}", "{fd: fd}"))
    wrong = run(fd_only, trace)["connection"]
    right = [i for i in wrong["intervals"] if lifetime_of(i, conns, offset)]
    assert len(wrong["intervals"]) == CONNS and len(right) == CONNS - 2 * len(reused)

    # Every connection's whole life by how it ended: its reason event, a step
    # between REGISTERED and DELETE_CLIENT (none for the ones the server closed).
    ended = rules["ended_by"]
    assert ended["outcomes"]["complete"] == ended["outcomes"]["entries"] == CONNS
    ends = sorted((c["id"], REASON_EVENT.get(c["reason"])) for c in conns)
    got = sorted((lifetime_of(i, conns, offset)["id"], i["group"]) for i in ended["intervals"])
    assert got == ends
    assert {c["reason"] for c in conns} == {"forced", "timeout", "close"}
    assert {(i["start_ns"], i["end_ns"]) for i in ended["intervals"]} == {
        (i["start_ns"], i["end_ns"]) for i in connection["intervals"]}
    assert [i["fields"]["steps.reason.event"] for i in ended["intervals"]] == [
        i["group"] for i in ended["intervals"]]

    # Every request is complete; the listening channels' EPOLLINs are not.
    request = rules["request"]
    assert request["outcomes"]["complete"] == sum(c["requests"] for c in conns)
    assert request["outcomes"]["incomplete"] == WORKERS
    # ...and none of them is among the slowest, nor blamed (report: defaults to
    # complete and late).
    proc = run_corr("run", RULES, trace, "--format", "json", "--set", "request.threshold=0ns")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    slowest = {r["name"]: r for r in doc["rules"]}["request"]
    assert slowest["intervals"] and {i["status"] for i in slowest["intervals"]} == {"complete"}
    assert slowest["blame"]["slow"] == slowest["stats"]["over_threshold"] == len(slowest["intervals"])
    forced = sum(c["reason"] == "forced" for c in conns)
    assert request["outcomes"]["dropped_reasons"]["cancelled by monkey:epoll"] == forced

    # Each counted event is a logged FORCED CLOSE, in its worker (--all-intervals lists
    # a count rule's events)...
    events = sorted((i["start_ns"] - offset, i["tid"]) for i in rules["forced_close"]["intervals"])
    brackets = sorted((c["x0"], c["x1"], c["tid"]) for c in conns if c["reason"] == "forced")
    assert len(events) == len(brackets) == forced
    assert all(x0 <= at <= x1 and tid == worker
               for (at, tid), (x0, x1, worker) in zip(events, brackets))
    # ...and the report counts them, in all and per second.
    counted = {r["name"]: r for r in doc["rules"]}["forced_close"]
    per_worker = {tid: sum(c["reason"] == "forced" and c["tid"] == tid for c in conns)
                  for tid in {c["tid"] for c in conns}}
    assert {g["key"]: g["counts"]["count"] for g in counted["groups"]} == per_worker
    assert counted["intervals"] == []                 # counted, none listed as slow
    assert doc["end_ns"] - doc["begin_ns"] < 1_000_000_000      # one window of 1 s
    one_second = {"window_ns": 1_000_000_000, "windows": 1}
    assert counted["counts"] == {"count": forced, **one_second, "max_per_window": forced,
                                 "busiest_window_start_ns": doc["begin_ns"],
                                 "mean_per_window": float(forced), "max_per_second": float(forced),
                                 "mean_per_second": float(forced), "per_window": [forced]}
    for g in counted["groups"]:
        n = per_worker[g["key"]]
        assert g["counts"] == {"count": n, **one_second, "max_per_window": n,
                               "busiest_window_start_ns": doc["begin_ns"],
                               "mean_per_window": float(n), "max_per_second": float(n),
                               "mean_per_second": float(n)}


def test_committed_recording(tmp_path):
    check(COMMITTED, tmp_path)


def test_committed_recording_is_small():
    assert_small(COMMITTED)


@pytest.mark.recording
def test_fresh_recording(tmp_path):
    record_ust_example("monkey", tmp_path / "rec")
    check(tmp_path / "rec", tmp_path)
