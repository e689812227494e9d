"""corr's folded stacks and Chrome trace-event JSON, opened in a real viewer.

speedscope (npm, pinned in tests/viewer) imports both formats; it runs in
headless Chromium (tests/in_speedscope.py).  On the client -> server ->
disk scenario of test_blame_exports.py, the viewer must show exactly the
scenario's ground truth: the frames of each blamed thread and their
weights in the flame graph, the intervals and the critical-path slices
with their durations in microseconds on the timeline.  The negative
controls show the same checks fail on a broken file or a wrong one.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from conftest import run_corr
from in_speedscope import Viewed, open_in_speedscope
from test_blame_exports import RULES
from test_sched_scenarios import chain_to_the_disk
from corr.render import chrome_trace
from corr.render.output import Destination, Options

# The ground truth of chain_to_the_disk(), in ns from the scenario's origin:
# client (101) blocks at 1000 on server (102), which blocks at 2000 on the
# disk; the BLOCK softirq wakes the server at 5200, which runs from 6000
# and wakes the client at 7000; the client runs again at 8000.
INTERVALS = {101: ("client", 1_000, 8_000), 102: ("server", 2_000, 6_000)}
CRITICAL_PATHS = {                    # blamed tid: [(tid, state, start, end)]
    101: [(102, "RUNNING", 1_000, 2_000), (102, "BLOCK_DEVICE", 2_000, 5_200),
          (102, "PREEMPTED", 5_200, 6_000), (102, "RUNNING", 6_000, 7_000),
          (101, "PREEMPTED", 7_000, 8_000)],
    102: [(102, "BLOCK_DEVICE", 2_000, 5_200), (102, "PREEMPTED", 5_200, 6_000)],
}


def thread(tid: int) -> str:
    return f"{INTERVALS[tid][0]} ({tid})"


def expected_stacks() -> dict[tuple[str, ...], int]:
    """The flame graph: rule; blamed thread; [thread it waited on;] state -> ns."""
    out: dict[tuple[str, ...], int] = {}
    for blamed, path in CRITICAL_PATHS.items():
        for tid, state, start, end in path:
            chain = (thread(blamed),) + ((thread(tid),) if tid != blamed else ())
            stack = ("offcpu", *chain, state)
            out[stack] = out.get(stack, 0) + end - start
    return out


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The scenario's trace, and corr run's .folded and .trace.json of it."""
    tmp = tmp_path_factory.mktemp("viewer")
    chain_to_the_disk().write(tmp / "trace", end=10_000)
    out = {}
    for name in ("out.folded", "out.trace.json"):
        proc = run_corr("run", RULES, tmp / "trace", "--set", "offcpu.threshold=1us",
                        "-o", tmp / name)
        assert proc.returncode == 0, proc.stderr
        out[name] = tmp / name
    return out


# -- what the viewer must show ------------------------------------------------

def _opened(v: Viewed, name: str) -> list[str]:
    """Whether speedscope imported the file and titled the page after it."""
    if not v.imported:
        return [f"not imported: {v.state} {v.message!r}"]
    return [] if v.title == f"{name} - speedscope" else [f"title {v.title!r}"]


def flame_graph_mismatches(v: Viewed, name: str) -> list[str]:
    """How speedscope's view of a .folded file differs from the ground truth."""
    wrong = _opened(v, name)
    if not v.imported:
        return wrong
    if v.stacks() != expected_stacks():
        wrong.append(f"stacks {v.stacks()}")
    # The sandwich table: every frame's total weight, as displayed.
    totals: dict[str, int] = {}
    for stack, ns in expected_stacks().items():
        for frame in set(stack):
            totals[frame] = totals.get(frame, 0) + ns
    shown = {frame: int(total.split(" ")[0].replace(",", "")) for total, _, frame in v.sandwich}
    if shown != totals:
        wrong.append(f"sandwich totals {shown} != {totals}")
    return wrong


def _slice(frame: str) -> tuple[str, dict]:
    """speedscope names a Chrome event's frame by its name and its args (JSON)."""
    name, _, args = frame.partition(" {")
    return name, json.loads("{" + args) if args else {}


def timeline_mismatches(v: Viewed, name: str) -> list[str]:
    """How speedscope's view of a .trace.json differs from the ground truth."""
    wrong = _opened(v, name)
    if not v.imported:
        return wrong
    profiles = v.profiles()
    units = {p["unit"] for p in v.export["profiles"]}
    if units != {"microseconds"}:
        wrong.append(f"units {units}")
    for tid, (comm, start, end) in INTERVALS.items():
        # The rule's track for the thread, named by its thread_name event.
        track = f"rule offcpu (pid 1), {thread(tid)} (tid {tid})"
        got = [(_slice(f), depth, at, dur) for f, depth, at, dur in profiles.get(track, [])]
        want = [(("offcpu complete", {"key": tid, "comm": comm, "group": comm,
                                      "duration_ns": end - start, "status": "complete"}),
                 0, 0, pytest.approx((end - start) / 1000))]
        if got != want:
            wrong.append(f"{track}: {got}")
        # Its critical path: one track, the segments' states one after the other.
        paths = [p for p in profiles
                 if re.fullmatch(rf"rule offcpu: critical paths \(pid 2\), "
                                 rf"interval \d+ \({tid}\) \(tid \d+\)", p)]
        if len(paths) != 1:
            wrong.append(f"critical path tracks of {tid}: {paths}")
            continue
        first = CRITICAL_PATHS[tid][0][2]
        want = [(state, seg_tid, 0, pytest.approx((s - first) / 1000),
                 pytest.approx((e - s) / 1000))
                for seg_tid, state, s, e in CRITICAL_PATHS[tid]]
        got = [(_slice(f)[0], _slice(f)[1].get("tid"), depth, at, dur)
               for f, depth, at, dur in profiles[paths[0]]]
        if got != want:
            wrong.append(f"{paths[0]}: {got}")
    # The profile selector: each track and its duration, as displayed.
    listed = {profile: duration for _, profile, duration in v.profile_list}
    want = {f"rule offcpu (pid 1), {thread(tid)} (tid {tid})": f"{(e - s) / 1000:.2f}µs"
            for tid, (_, s, e) in INTERVALS.items()}
    if {k: listed.get(k) for k in want} != want or len(listed) != 4:
        wrong.append(f"profile list {listed}")
    return wrong


# -- the exports ---------------------------------------------------------------

def test_flame_graph_shows_the_blamed_threads_and_their_weights(exports, tmp_path):
    v = open_in_speedscope(exports["out.folded"], tmp_path)
    assert flame_graph_mismatches(v, "out.folded") == []
    # Spelled out: the client's 7 us off CPU, 6 of them in the server.
    assert v.stacks()[("offcpu", "client (101)", "server (102)", "BLOCK_DEVICE")] == 3_200
    assert ("7,000 (64%)", "0 (<0.01%)", "client (101)") in v.sandwich


def test_timeline_shows_the_intervals_and_critical_paths(exports, tmp_path):
    v = open_in_speedscope(exports["out.trace.json"], tmp_path)
    assert timeline_mismatches(v, "out.trace.json") == []
    # Spelled out: speedscope read microseconds (7.00µs, not 7.00ms), and the
    # client's critical path lasts its interval.
    assert ("1", "rule offcpu (pid 1), client (101) (tid 101)", "7.00µs") in v.profile_list
    client_path = next(p for name, p in v.profiles().items()
                       if re.search(r"interval \d+ \(101\)", name))
    assert sum(dur for *_, dur in client_path) == pytest.approx(7.0)


# -- negative controls: the checks can fail --------------------------------------

@pytest.mark.parametrize("name,content", [
    ("truncated.trace.json", lambda text: text[: len(text) // 2]),
    ("garbage.folded", lambda text: "this is not a profile\n"),
])
def test_a_broken_file_is_reported_as_not_imported(exports, tmp_path, name, content):
    source = exports["out.trace.json" if name.endswith(".json") else "out.folded"]
    broken = tmp_path / name
    broken.write_text(content(source.read_text()))
    v = open_in_speedscope(broken, tmp_path)
    assert not v.imported
    assert (v.state, v.message) == ("alert", "Unrecognized format! See documentation "
                                             "about supported formats.")
    check = timeline_mismatches if name.endswith(".json") else flame_graph_mismatches
    assert check(v, name) == [f"not imported: alert {v.message!r}"]


def test_a_wrong_weight_is_seen(exports, tmp_path):
    wrong = tmp_path / "out.folded"
    wrong.write_text(exports["out.folded"].read_text().replace("BLOCK_DEVICE 3200",
                                                               "BLOCK_DEVICE 3100", 1))
    v = open_in_speedscope(wrong, tmp_path)
    assert v.imported
    mismatches = flame_graph_mismatches(v, "out.folded")
    assert [m.split(" ")[0] for m in mismatches] == ["stacks", "sandwich"]


def test_times_in_the_wrong_unit_are_seen(exports, tmp_path):
    """Nanoseconds written where the format wants microseconds: the viewer
    shows every duration a thousand times too long, and the check says so."""
    doc = json.loads(exports["out.trace.json"].read_text())
    for e in doc["traceEvents"]:
        for k in ("ts", "dur"):
            if k in e:
                e[k] *= 1000
    wrong = tmp_path / "out.trace.json"
    wrong.write_text(json.dumps(doc))
    v = open_in_speedscope(wrong, tmp_path)
    assert v.imported
    assert ("1", "rule offcpu (pid 1), client (101) (tid 101)", "7.00ms") in v.profile_list
    assert len(timeline_mismatches(v, "out.trace.json")) == 5   # 4 tracks and the list


# -- intervals without a thread ------------------------------------------------------

def _keyed_result():
    """A rule whose intervals have no thread (block requests keyed by sector)."""
    def interval(sector, start, dur):
        return {"tid": None, "comm": None, "key": {"dev": 8, "sector": sector},
                "group": None, "status": "complete", "start_ns": start, "duration_ns": dur}
    ivs = [interval(64, 1_000, 5_000), interval(128, 2_000, 2_000), interval(64, 9_000, 1_000)]
    rule = SimpleNamespace(name="block", analysis=None, iter_intervals=lambda all=False: ivs)
    return SimpleNamespace(begin_ns=0, trace_begin_ns=0, rules=[rule])


def test_intervals_without_a_thread_get_integer_named_tracks():
    events = chrome_trace.events(_keyed_result())
    assert all(isinstance(e["pid"], int) for e in events)
    assert all(isinstance(e["tid"], int) for e in events if "tid" in e)
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names == {1: "key {'dev': 8, 'sector': 64}", 2: "key {'dev': 8, 'sector': 128}"}
    assert [(e["tid"], e["ts"], e["dur"]) for e in events if e["ph"] == "X"] == [
        (1, 1.0, 5.0), (2, 2.0, 2.0), (1, 9.0, 1.0)]


def test_intervals_without_a_thread_in_speedscope(tmp_path):
    path = tmp_path / "block.trace.json"
    with open(path, "wb") as out:
        chrome_trace.write(_keyed_result(), Destination(out), Options())
    assert path.read_text().startswith('{"displayTimeUnit":"ns","traceEvents":[')
    v = open_in_speedscope(path, tmp_path)
    assert v.imported
    # One track per key; the selector shows each track's total time (5 + 1 us).
    assert [(name, duration) for _, name, duration in v.profile_list] == [
        ("rule block (pid 1), key {'dev': 8, 'sector': 64} (tid 1)", "6.00µs"),
        ("rule block (pid 1), key {'dev': 8, 'sector': 128} (tid 2)", "2.00µs")]
