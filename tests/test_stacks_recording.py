"""Code stacks on a real recording: which code blocked, and which code woke it.

tests/programs/blocker.c (built here with ``-O0 -g -fno-omit-frame-pointer``)
has a thread whose ``wait_for_lock()`` blocks on a mutex another thread holds
in ``hold_lock()``, and one whose ``write_and_sync()`` blocks in
``fdatasync``.  It is recorded system-wide with ``perf record -g -e
sched:sched_switch -e sched:sched_waking`` on CLOCK_MONOTONIC (as root, tracefs
mounted as examples/record-common.sh does) and converted to CTF, perf.data
kept beside it for the symbols.  corr's folded output must hold those
functions under the kernel's scheduler frames, with the weights perf's own
samples give (``perf script`` of the same perf.data: each sleeping
switch-out to the thread's next switch-in), the mutex wait's waker side
must hold ``hold_lock``, and speedscope must show the flame graph as written.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT
from corr import api
from corr.api import ThreadFilter

PROGRAM = ROOT / "tests" / "programs" / "blocker.c"
RECORD_COMMON = ROOT / "examples" / "record-common.sh"
OFFCPU = ROOT / "rules" / "offcpu.yaml"
ROUNDS, SYNCS = 10, 20
RECORD_ATTEMPTS = 3
SCHEDULER = ("schedule+", "__schedule+")     # the innermost kernel frames of a sleep


def _need(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI records as root with perf and gcc)")
        pytest.skip(why)


class Recording:
    def __init__(self, folder: Path, text: str):
        found = re.search(r"^blocker: pid (\d+) waiter (\d+) holder (\d+) syncer (\d+) "
                          r"rounds (\d+) syncs (\d+)$", text, re.M)
        assert found, text
        self.folder = folder
        self.pid, self.waiter, self.holder, self.syncer = map(int, found.groups()[:4])
        self.kernel = folder / "kernel"
        self.perf_data = folder / "perf.data"


def _record(folder: Path, binary: Path) -> Recording:
    subprocess.run(["bash", "-c", f'source "{RECORD_COMMON}"; ensure_tracepoints'],
                   check=True, capture_output=True)
    out = folder / "program.txt"
    with open(out, "w") as handle:
        subprocess.run(["nice", "-n", "19", "perf", "record", "-a", "-g", "-k", "CLOCK_MONOTONIC",
                        "-m", "8M",                  # as record-common.sh: fewer lost events
                        "-e", "sched:sched_switch", "-e", "sched:sched_waking",
                        "-o", str(folder / "perf.data"), "--",
                        str(binary), str(folder / "blocker.dat"), str(ROUNDS), str(SYNCS)],
                       check=True, stdout=handle, stderr=subprocess.DEVNULL)
    subprocess.run(["perf", "data", "convert", "--to-ctf", str(folder / "kernel"),
                    "-i", str(folder / "perf.data")], check=True, capture_output=True)
    return Recording(folder, out.read_text())


# -- perf's own view -------------------------------------------------------------

# comm (which may hold spaces), tid (-1 for an exiting task), time, event, its fields
_HEAD = re.compile(r"\s(-?\d+)\s+(\d+)\.(\d{9}):\s+(sched:\S+):\s*(.*)$")


def perf_sleeps(perf_data: Path) -> list[tuple[int, int, int, list[str]]]:
    """Every sleeping switch-out perf recorded that has a switch-in after it:
    (tid, off-CPU ns to that switch-in, switch-out ns, the chain's symbols innermost first),
    paired as rules/offcpu.yaml pairs them."""
    text = subprocess.run(["perf", "script", "-i", str(perf_data), "--ns",
                           "-F", "comm,tid,time,event,trace,ip,sym"],
                          check=True, capture_output=True, text=True).stdout
    events = []
    for line in text.splitlines():            # a head line per event, its frames tab-indented
        if line.startswith("\t"):
            if events:
                parts = line.split(None, 1)
                events[-1][3].append(parts[1] if len(parts) > 1 else "?")
            continue
        head = _HEAD.search(" " + line)
        if head is not None:
            ns = int(head.group(2)) * 1_000_000_000 + int(head.group(3))
            events.append((ns, head.group(4), head.group(5), []))
    sleeps, open_ = [], {}
    for ns, event, trace, frames in events:
        if event != "sched:sched_switch":
            continue
        fields = dict(re.findall(r"(\w+)=(\S+)", trace))
        nxt = int(fields["next_pid"])
        if nxt in open_:
            start, chain = open_.pop(nxt)
            sleeps.append((nxt, ns - start, start, chain))
        prev, state = int(fields["prev_pid"]), fields["prev_state"]
        # As rules/offcpu.yaml (match: first): a second switch-out before any switch-in
        # (the switch-in was lost: perf's buffer overran) leaves the first one open.
        if prev and state[0] in "SDI" and not state.startswith("R") and prev not in open_:
            open_[prev] = (ns, frames)
    return sleeps


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Recording:
    _need(os.geteuid() == 0, "recording kernel tracepoints needs root")
    _need(shutil.which("perf") is not None, "perf is not installed")
    _need(shutil.which("gcc") is not None, "gcc is not installed")
    build = tmp_path_factory.mktemp("blocker-build")
    binary = build / "blocker"
    subprocess.run(["gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-Wall", "-o", str(binary),
                    str(PROGRAM), "-lpthread"], check=True, capture_output=True)
    for _ in range(RECORD_ATTEMPTS):
        made = _record(tmp_path_factory.mktemp("blocker"), binary)
        if _what_the_tests_need(made):
            return made
    return made


def _what_the_tests_need(made: Recording) -> bool:
    """Every round's mutex wait and at least half of the syncs blocked, as perf saw it (a
    busy host may let the waiter in late, after the holder let go, once in a while)."""
    sleeps = perf_sleeps(made.perf_data)
    waits = sum(1 for tid, _, _, chain in sleeps
                if tid == made.waiter and any(f.startswith("wait_for_lock") for f in chain))
    syncs = sum(1 for tid, _, _, chain in sleeps
                if tid == made.syncer and any(f.startswith("write_and_sync") for f in chain))
    return waits >= ROUNDS - 1 and syncs >= SYNCS // 2


def _stacks_rules(tmp_path) -> Path:
    path = tmp_path / "offcpu.yaml"
    path.write_text(OFFCPU.read_text().replace("blame: entry", "blame: entry\n    stacks: true"))
    return path


@pytest.fixture(scope="module")
def result(recording, tmp_path_factory):
    rules = _stacks_rules(tmp_path_factory.mktemp("rules"))
    return api.run(str(rules), [str(recording.kernel)], overrides=["offcpu.threshold=1ns"],
                   blame_limit=0, cache=False, filter=ThreadFilter(pids=[recording.pid]))


def _folded(result, **options) -> list[tuple[list[str], int]]:
    out = io.StringIO()
    api.write(result, "folded", stream=out, **options)
    lines = []
    for line in out.getvalue().splitlines():
        stack, _, ns = line.rpartition(" ")
        lines.append((stack.split(";"), int(ns)))
    return lines


def _function(frame: str) -> str:
    return frame.split("+", 1)[0]


def _weights(lines, tid: int, function: str) -> int:
    return sum(ns for frames, ns in lines
               if frames[1].endswith(f"({tid})") and function in map(_function, frames))


def test_the_blocking_functions_sit_under_the_scheduler(recording, result):
    lines = _folded(result)
    for tid, function in ((recording.waiter, "wait_for_lock"),
                          (recording.syncer, "write_and_sync")):
        mine = [frames for frames, _ in lines
                if frames[1].endswith(f"({tid})") and function in map(_function, frames)]
        assert mine, (function, lines[:5])
        for frames in mine:
            names = [_function(f) for f in frames]
            # Outermost first: the function, later the system call, the scheduler last.
            assert names[-2:] == ["schedule", "__schedule"], frames
            assert names.index(function) < names.index("entry_SYSCALL_64_after_hwframe"), frames
            assert all(f.endswith(")") or f.startswith("0x") for f in frames[2:]), frames


def test_weights_are_the_threads_off_cpu_time_as_perf_sees_it(recording, result):
    """Per thread and blocking function: corr's folded weight is the sum, over perf's
    sleeping switch-outs whose chain holds the function, of the time to the switch-in."""
    lines = _folded(result)
    sleeps = perf_sleeps(recording.perf_data)
    for tid, function in ((recording.waiter, "wait_for_lock"),
                          (recording.syncer, "write_and_sync"),
                          # usleep() called from hold_lock: the frame libc hides
                          (recording.holder, "holder")):
        expected = sum(ns for t, ns, _, chain in sleeps
                       if t == tid and any(_function(f.split(" (")[0]) == function
                                           for f in chain))
        assert expected > 0, function
        assert _weights(lines, tid, function) == expected, function
    # Every sleep of the three threads is there, whatever its stack.
    for tid in (recording.waiter, recording.syncer, recording.holder):
        expected = sum(ns for t, ns, _, _ in sleeps if t == tid)
        got = sum(ns for frames, ns in lines if frames[1].endswith(f"({tid})"))
        assert got == expected, tid


def test_the_mutex_wait_was_woken_from_hold_lock(recording, result):
    lines = _folded(result, wakers=True)
    waits = [frames for frames, _ in lines
             if frames[1].endswith(f"({recording.waiter})")
             and "wait_for_lock" in map(_function, frames)]
    assert waits
    for frames in waits:
        woke = frames[frames.index("--") + 1:]
        names = [_function(f) for f in woke]
        assert names[0] == "try_to_wake_up", frames
        assert "futex_wake" in names and "hold_lock" in names, frames
        assert woke[-1] == f"blocker ({recording.holder})", frames


def _mutex_waits(recording, result) -> list[dict]:
    """The JSON intervals of the waiter blocked in wait_for_lock (there are some)."""
    out = io.StringIO()
    api.write(result, "json", stream=out)
    intervals = json.loads(out.getvalue())["rules"][0]["intervals"]
    waits = [i for i in intervals if i["tid"] == recording.waiter
             and any(_function(f) == "wait_for_lock" for f in i["stack"]["user"])]
    assert waits
    return waits


def test_json_intervals_carry_stacks_and_waker_stacks(recording, result):
    for interval in _mutex_waits(recording, result):
        assert [_function(f) for f in interval["stack"]["kernel"][:2]] == ["__schedule",
                                                                           "schedule"]
        own = [w for w in interval["wakeups"] if w["woken_tid"] == recording.waiter]
        assert own and own[0]["waker_tid"] == recording.holder
        assert "hold_lock" in map(_function, own[0]["waker_stack"]["user"])


def _line_of(marker: str) -> str:
    """``blocker.c:N``: the line of tests/programs/blocker.c holding ``marker``."""
    (found,) = [n for n, line in enumerate(PROGRAM.read_text().splitlines(), 1) if marker in line]
    return f"blocker.c:{found}"


def test_frames_carry_the_source_line_of_their_call(recording, result):
    """The program is built with -g: wait_for_lock's frame has the line of its call
    that blocked (lock_it(), which calls pthread_mutex_lock), hold_lock's on the waker
    side the line of its call that woke (unlock_it()), in the JSON and in the text."""
    blocked = _line_of("/* blocks here: the waiter's stack */")
    woke = _line_of("/* wakes it: the waker's stack */")
    for interval in _mutex_waits(recording, result):
        stack = interval["stack"]
        lines = dict(zip(map(_function, stack["user"]), stack["user_lines"]))
        assert lines["wait_for_lock"] == blocked, stack
        own = [w for w in interval["wakeups"] if w["woken_tid"] == recording.waiter]
        waker = own[0]["waker_stack"]
        assert dict(zip(map(_function, waker["user"]), waker["user_lines"]))["hold_lock"] == woke
    text = io.StringIO()
    api.write(result, "text", stream=text)
    assert re.search(rf"^ +wait_for_lock\+0x[0-9a-f]+ \(\S+/blocker\) {blocked}$",
                     text.getvalue(), re.M)


BLOCKER_FUNCTIONS = {"hold_lock", "wait_for_lock", "write_and_sync", "holder", "waiter",
                     "syncer", "lock_it", "unlock_it", "sync_it"}


def test_source_lines_are_addr2lines_of_the_call(recording, tmp_path):
    """Every user frame of the blocker's chains that has a line: it is what binutils'
    addr2line, asked one address at a time, gives of the address before the return
    address in the file mapped (a library's installed debug file addr2line finds on
    its own); the blocker's functions' frames all have one."""
    from corr.analyses.perf_maps import ElfSymbols, read_perf_maps
    from corr.analyses.symbols import Symbolizer
    from corr.engine.runner import Engine
    from corr.reading import open_traces
    from corr.rules import load_rules
    engine = Engine(open_traces([recording.kernel]), load_rules(_stacks_rules(tmp_path)),
                    scheduling=True).run()
    events = [e for e in engine.stack_log.representatives() if e[1] in
              (recording.waiter, recording.holder, recording.syncer)]
    symbols = Symbolizer([recording.kernel])
    symbols.learn(events)
    maps = read_perf_maps(recording.perf_data)
    compared = {}
    for ns, tid, chain in events:
        for value, line in zip(chain.user, symbols.user_lines(chain, tid) or
                               (None,) * len(chain.user)):
            where = maps.locate(recording.pid, value, ns)
            vaddr = ElfSymbols(where[0]).vaddr(where[1]) if where else None
            if vaddr is None:                 # no file mapped there (a frame past the stack)
                assert line is None
                continue
            path = where[0]
            frame = symbols.frame(value, tid, False)
            if path.endswith("/blocker") and _function(frame) in BLOCKER_FUNCTIONS:
                assert line, (frame, vaddr)
            if line is None or (path, vaddr) in compared:
                continue
            out = subprocess.run(["addr2line", "-e", path, f"{vaddr - 1:#x}"], check=True,
                                 capture_output=True, text=True).stdout.strip()
            compared[(path, vaddr)] = (line, os.path.basename(
                re.sub(r" \(discriminator \d+\)$", "", out)))
    assert compared
    assert {k: ours for k, (ours, _) in compared.items()} == \
        {k: theirs for k, (_, theirs) in compared.items()}


def test_the_readers_agree_on_perf_callchains(recording):
    from test_reader_differential import assert_readers_agree
    events = assert_readers_agree(recording.kernel)
    chains = [f["perf_callchain"] for _, _, _, f in events if "perf_callchain" in f]
    assert chains and all(len(c) for c in chains)


def test_the_flame_graph_opens_in_speedscope(recording, result, tmp_path):
    from in_speedscope import open_in_speedscope
    path = tmp_path / "stacks.folded"
    api.write(result, str(path))
    expected: Counter = Counter()
    for frames, ns in _folded(result):
        expected[tuple(frames)] += ns
    v = open_in_speedscope(path, tmp_path)
    assert v.imported, (v.state, v.message)
    assert v.stacks() == dict(expected)


def test_attribution_is_the_same_on_the_c_model_and_its_reference(recording, result, tmp_path):
    """Each interval's stacks and wakers, from the C scheduling model and from the
    Python reference, over every analysed interval of the recording."""
    from corr.analyses.stacks import attribute
    from corr.analyses.symbols import Symbolizer
    from corr.engine.runner import Engine
    from corr.reading import open_traces
    from corr.rules import load_rules
    from corr.sched.model import SchedModel
    engine = Engine(open_traces([recording.kernel]), load_rules(_stacks_rules(tmp_path)),
                    scheduling=True).run()
    symbols = Symbolizer([recording.kernel])
    symbols.learn(engine.stack_log.events())
    out = io.StringIO()
    api.write(result, "json", stream=out)
    intervals = json.loads(out.getvalue())["rules"][0]["intervals"]
    bounds = [(i["blamed_tid"], i["start_ns"], i["end_ns"]) for i in intervals if "stack" in i]
    assert len(bounds) >= ROUNDS

    def attributed(native: bool) -> list:
        model = SchedModel(engine.sched_log, engine.begin_ns, engine.end_ns,
                           names=engine.thread_names.name_at, native=native)
        return [attribute(model, engine.stack_log, symbols, *b) for b in bounds]

    reference = attributed(False)
    assert attributed(True) == reference
    # And what the run wrote is that.
    written = [(i["stack"], i["off_cpu_ns"], i["wakeups"]) for i in intervals if "stack" in i]
    assert written == [(r.to_dict()["stack"], r.off_cpu_ns, r.to_dict()["wakeups"])
                       for r in reference]
    from test_stacks import assert_stacks_read_alone_are_those_read_together
    assert_stacks_read_alone_are_those_read_together(result)


def test_a_parallel_read_gives_the_same_stacks(recording, tmp_path, monkeypatch):
    """Decoded by two workers (their columns merged), the stacks are the serial run's.
    (By thread ids: a --pid filter learns no process from a parallel read, a fault
    of the filter's own, apart from stacks.)"""
    rules = _stacks_rules(tmp_path)
    threads = ThreadFilter(tids=[recording.waiter, recording.holder, recording.syncer])
    runs = {}
    for jobs in ("1", "2"):
        monkeypatch.setenv("CORR_JOBS", jobs)
        runs[jobs] = api.run(str(rules), [str(recording.kernel)],
                             overrides=["offcpu.threshold=1ns"], blame_limit=0, cache=False,
                             filter=threads)
    serial = sorted(_folded(runs["1"], wakers=True))
    # What the recording fixture makes sure of (the waiter's waits, the syncer's
    # syncs): the lines compared hold both.  Identical stacks fold into one line, so
    # how many lines there are is the recording's, not corr's.
    functions = {_function(frame) for frames, _ in serial for frame in frames}
    assert {"wait_for_lock", "write_and_sync"} <= functions, serial[:5]
    assert sorted(_folded(runs["2"], wakers=True)) == serial


def test_corr_record_g_keeps_what_names_the_frames(tmp_path):
    """``corr record -g``: the switches and wakeups carry call chains, perf.data and a
    kallsyms copy stay beside kernel/, and ``corr run`` written as folded (stacks on
    by itself) names the blocker's functions under the scheduler's, and the mutex
    wait's waker side in hold_lock (its sched_waking's chain: the sched_wakeup's, also
    recorded here, is not read)."""
    from conftest import run_corr
    _need(os.geteuid() == 0, "recording kernel tracepoints needs root")
    _need(shutil.which("perf") is not None, "perf is not installed")
    _need(shutil.which("gcc") is not None, "gcc is not installed")
    binary = tmp_path / "blocker"
    subprocess.run(["gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-Wall", "-o", str(binary),
                    str(PROGRAM), "-lpthread"], check=True, capture_output=True)
    for attempt in range(RECORD_ATTEMPTS):       # as the fixture: until the waits blocked
        out = tmp_path / f"rec{attempt}"
        done = run_corr("record", str(ROOT / "rules" / "offcpu.yaml"), "-g", "--no-run",
                        "-o", str(out), "--", str(binary), str(tmp_path / "blocker.dat"),
                        str(ROUNDS), str(SYNCS))
        assert done.returncode == 0, done.stderr
        made = Recording(out, done.stdout)
        if _what_the_tests_need(made):
            break
    assert sorted(p.name for p in out.iterdir()) == ["kallsyms", "kernel", "perf.data"]
    done = run_corr("run", str(ROOT / "rules" / "offcpu.yaml"), str(out), "--format", "folded",
                    "--wakers", "--set", "offcpu.threshold=1ns", "--blame-limit", "0",
                    "-p", str(made.pid))
    assert done.returncode == 0, done.stderr
    lines = [line.rsplit(" ", 1)[0].split(";") for line in done.stdout.splitlines()]
    blocked = [frames[:frames.index("--")] if "--" in frames else frames for frames in lines]
    functions = {_function(f.split(" (")[0]) for frames in blocked for f in frames}
    assert {"wait_for_lock", "write_and_sync", "__schedule"} <= functions
    wakers = {_function(f.split(" (")[0]) for frames in lines if "--" in frames
              for f in frames[frames.index("--"):]}
    assert "hold_lock" in wakers
    # The waker's code, never that of the interrupt that completed a remote wakeup on the
    # woken thread's CPU (a sched_wakeup's chain beside the sched_waking recorded too).
    assert "sched_ttwu_pending" not in wakers


def test_symbols_from_the_maps_are_perf_scripts(recording, tmp_path):
    """Every frame of the recording's chains as perf.data's maps and the ELF files
    name it (what a run uses) is what perf script printed for it (the reference),
    but the vdso's (no file to read) and the PLT stubs perf makes up symbols for
    (``fread@plt``), which stay addresses."""
    from corr.analyses.symbols import Symbolizer
    from corr.engine.runner import Engine
    from corr.reading import open_traces
    from corr.rules import load_rules
    engine = Engine(open_traces([recording.kernel]), load_rules(_stacks_rules(tmp_path)),
                    scheduling=True).run()
    events = list(engine.stack_log.representatives())
    fast, reference = Symbolizer([recording.kernel]), Symbolizer([recording.kernel])
    fast.learn(events)
    reference.learn_from_perf_script(events)
    named = differ = 0
    for _, tid, chain in events:
        for kernel, values in ((True, chain.kernel), (False, chain.user)):
            for value in values:
                ours, perfs = fast.frame(value, tid, kernel), reference.frame(value, tid, kernel)
                if perfs.endswith("([vdso])") or "@plt+" in perfs:
                    assert ours == f"{value:#x}"
                    continue
                named += not perfs.startswith("0x")
                differ += ours != perfs and not perfs.startswith("0x")
                assert ours == perfs or perfs.startswith("0x"), (ours, perfs)
    assert named and not differ
    assert any("wait_for_lock" in fast.frame(v, tid, False)
               for _, tid, chain in events for v in chain.user)


def test_the_maps_read_from_perf_data_are_perf_scripts(recording):
    from test_perf_data import assert_maps_read_here_are_perf_scripts
    assert_maps_read_here_are_perf_scripts(recording.perf_data)


def test_frames_are_named_without_perf_script(recording, result, tmp_path, monkeypatch):
    """The run reads the maps from perf.data itself (perf script maps the whole file:
    as much memory as it is large): with perf script out of reach, the same folded
    stacks."""
    from corr.analyses import perf_maps

    def refused(path):
        raise AssertionError("perf script was started")
    monkeypatch.setattr(perf_maps, "start_perf_script", refused)
    again = api.run(str(_stacks_rules(tmp_path)), [str(recording.kernel)],
                    overrides=["offcpu.threshold=1ns"], blame_limit=0, cache=False,
                    filter=ThreadFilter(pids=[recording.pid]))
    assert _folded(again, wakers=True) == _folded(result, wakers=True)
    assert "wait_for_lock" in {_function(f) for frames, _ in _folded(again) for f in frames}


def test_maps_of_events_told_apart_by_id_are_perf_scripts(recording, tmp_path):
    """A recording of a tracepoint and a software clock of one command (not system-wide:
    the clock's samples carry no CPU, so each record ends with its event's id): its
    maps read here are perf script's."""
    from corr.analyses import perf_data
    from test_perf_data import assert_maps_read_here_are_perf_scripts
    path = tmp_path / "mixed.data"
    subprocess.run(["perf", "record", "-g", "-e", "sched:sched_switch,cpu-clock", "-o",
                    str(path), "--", "sh", "-c", "ls /; sleep 0.1"], check=True,
                   capture_output=True)
    found = perf_data.layout(path)
    assert found is not None and None not in found.trailers     # told apart by id
    assert_maps_read_here_are_perf_scripts(path)
