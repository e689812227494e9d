"""Decoding one trace in parallel worker processes gives exactly the serial decode.

Every event (timestamp, class, CPU, fields), in the same order (equal
timestamps of different streams included), the same discards, the same
error after the same events, the same stream facts; and no worker or
temporary folder outlives the read.
"""

from __future__ import annotations

import contextlib

import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import READABLE, shared_trace

from corr.errors import TraceDecodeError, UsageError
from corr.reading import Projection, groups, open_traces, parallel
from corr.testing import Scenario, generate_kernel_trace


@pytest.fixture(autouse=True)
def two_cpus(monkeypatch):
    """Two workers wherever the tests run (CI machines may have one CPU)."""
    monkeypatch.setattr(groups, "usable_cpus", lambda: 2)
    monkeypatch.delenv("CORR_JOBS", raising=False)


def of_a_group(work) -> bool:
    """Whether a worker decodes a group of the trace's files (not the whole trace)."""
    return work.files is not None or work.group_dir is not None


@pytest.fixture
def given(monkeypatch):
    """What each forked worker of a group was given: ports of the trace's prepared source,
    or a folder (the workers decoding a whole trace serially are not listed)."""
    works = []
    real = parallel._Workers._fork

    def recording(self, work, *args):
        if of_a_group(work):
            works.append(work)
        return real(self, work, *args)
    monkeypatch.setattr(parallel._Workers, "_fork", recording)
    return works


@pytest.fixture(params=["ports", "folders"])
def split(request, monkeypatch, given):
    """Workers reading ports of one prepared source, then (as when the ports cannot be
    told apart) each its own temporary trace folder; what each worker was given."""
    if request.param == "folders":
        monkeypatch.setattr(parallel, "port_groups", lambda *args: None)
    else:                       # a source made before the fork (after a child made one)
        monkeypatch.setattr(parallel, "PARSE_BEFORE_FORK", True)
    return request.param, given


@pytest.fixture
def replays(monkeypatch):
    """The events each serial replay skipped (what the workers had delivered before)."""
    skipped = []
    real = parallel.replay

    def replay(*args):
        skipped.append(args[5])
        return real(*args)
    monkeypatch.setattr(parallel, "replay", replay)
    return skipped


@pytest.fixture
def group_dirs(monkeypatch):
    """Workers given temporary folders (no prepared source's ports); the folders."""
    monkeypatch.setattr(parallel, "port_groups", lambda *args: None)
    made = []
    real = groups.make_group_dir

    def recording(path, files):
        made.append(real(path, files))
        return made[-1]
    monkeypatch.setattr(parallel, "make_group_dir", recording)
    return made


def decode(path, jobs, projection=None, batch_size=32_768, reader="auto"):
    """Everything a consumer can see of one decode."""
    traces = open_traces(path)
    events, discards, error = [], [], None
    try:
        for batch in traces.batches(projection or Projection.all(), batch_size=batch_size,
                                    reader=reader, jobs=jobs):
            assert batch.mux is None
            for ts, cid, row in batch.rows():
                cols = batch.classes[cid]
                events.append((ts, cols.info.name, cols.info.fields, cols.cpu[row],
                               tuple((k, v[row]) for k, v in cols.fields.items())))
            discards.extend(batch.discards)
    except TraceDecodeError as exc:
        error = (str(exc), exc.path, exc.events_before, exc.stopped_at_ns)
    streams = [[(s.name, s.cpu, s.packet_context) for s in t.streams.values()]
               for t in traces.traces]
    envs = [t.env for t in traces.traces]
    return events, discards, error, streams, envs


@contextlib.contextmanager
def no_serial_fallback():
    """The workers must deliver everything: a fallback to a serial replay (which gives
    the same result, so comparing results would not notice) fails the test."""
    real = parallel.replay

    def replay(*args):
        raise AssertionError("a worker failed and the parent replayed serially")

    parallel.replay = replay
    try:
        yield
    finally:
        parallel.replay = real


def assert_same_decode(path, projection=None, batch_size=32_768, reader="auto"):
    """Serial and parallel decodes agree; a trace that decodes whole needs no fallback
    (one that stops with an error is replayed serially up to it, by design)."""
    serial = decode(path, 1, projection, batch_size, reader)
    with no_serial_fallback() if serial[2] is None else contextlib.nullcontext():
        par = decode(path, 2, projection, batch_size, reader)
    assert len(par[0]) == len(serial[0])
    for i, (a, b) in enumerate(zip(par[0], serial[0])):
        assert a == b, f"event {i}"
    assert par[1:] == serial[1:]
    return serial


def children() -> list[int]:
    """This process's child processes, zombies included."""
    pid = os.getpid()
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found.extend(int(c) for c in f.read().split())
    return found


def cross_group_ties(path) -> int:
    """Equal timestamps of events from CPUs that the two workers decode apart."""
    plan = groups.plan(str(path), 2)
    group_of = {groups.cpu_key(f): i for i, files in enumerate(plan) for f in files}
    events = decode(path, 1)[0]
    return sum(1 for a, b in zip(events, events[1:])
               if a[0] == b[0] and group_of.get(a[3]) != group_of.get(b[3]))


# -- identical decodes ----------------------------------------------------------------------

ONE_STREAM_FILE = {"flipping-endianness", "context-switches-ust"}      # nothing to split


@pytest.mark.parametrize("name", READABLE + ["hello-lost"])
def test_parallel_equals_serial_on_shared_traces(name, split):
    mode, given = split
    events, _, error, _, _ = assert_same_decode(shared_trace(name))
    assert len(given) == (0 if name in ONE_STREAM_FILE else 2), "split as planned"
    for work in given:          # every shared trace's ports are told apart
        assert (work.source is not None) == (mode == "ports")
        assert (work.group_dir is not None) == (mode == "folders")
    if name == "hello-lost":
        assert len(events) == 38 and error is not None and error[2] == 38
    else:
        assert error is None and events


def test_muxer_order_of_equal_timestamps_is_kept():
    # bug446190 has no stream_instance_id (stream ids follow file names) and
    # hundreds of equal timestamps on CPUs the two workers decode apart.
    path = shared_trace("bug446190")
    assert groups.auto_stream_ids(str(path)) is not None
    assert cross_group_ties(path) > 100
    assert_same_decode(path)


@pytest.mark.parametrize("projection, batch_size", [
    (Projection.of({"sched_*": "*"}), 7),
    (Projection.of({"syscall_*": ["ret", "fd"]}), 1000),
    (Projection.of({"sched_switch": []}), 32_768),
])
def test_projected_decodes_and_small_batches(projection, batch_size):
    assert_same_decode(shared_trace("many-threads"), projection, batch_size)


@pytest.mark.parametrize("reader", ["native", "public"])
def test_other_readers_in_workers(reader):
    assert_same_decode(shared_trace("wget-k-20180802-115406"), batch_size=2000, reader=reader)


def test_empty_strings_are_empty_in_every_decode():
    # babeltrace2 2.0.4 reads an empty string field as an earlier event's
    # text (fixed in 2.0.5): the value would depend on what each worker
    # decoded before.  This openat's filename is empty.
    path = shared_trace("wget-k-20180802-115043")
    for jobs in (1, 2):
        for batch in open_traces(path).batches(Projection.of({"syscall_entry_openat": "*"}),
                                               jobs=jobs):
            for ts, _, _, fields in batch.events():
                if ts == 1533225044393045371:
                    assert fields["filename"] == ""


def test_generated_trace(tmp_path, split):
    g = generate_kernel_trace(tmp_path / "gen", events=30_000, cpus=6, threads=40, seed=11,
                              packet_events=500)
    events = assert_same_decode(g.path, batch_size=3000)[0]
    assert len(events) == 30_000 and len(split[1]) == 2


def _tied_scenario(cpus: int = 12) -> Scenario:
    """Events at the same nanoseconds on every CPU, and losses at equal times."""
    s = Scenario(cpus=cpus, packet_events=40)
    for step in range(300):
        for cpu in range(cpus):
            at = 1_000 * step + (0 if (step + cpu) % 3 else 7)
            s.event("corr_tick", cpu=cpu, at=at, step=step, cpu_seen=cpu, tag=f"s{step}c{cpu}")
            if step % 50 == 0:
                s.event("corr_tock", cpu=cpu, at=at, step=step)
    for cpu in (0, 3, 10):
        s.discarded(cpu=cpu, count=5 + cpu, begin=150_000, end=150_500)
    return s


def test_scenario_with_equal_timestamps_on_every_cpu(tmp_path):
    path = tmp_path / "ties"
    _tied_scenario().write(path)
    assert cross_group_ties(path) > 1000
    for batch_size in (5, 64, 32_768):
        events, discards, _, _, _ = assert_same_decode(path, batch_size=batch_size)
    assert len(events) == 300 * 12 + 6 * 12
    assert sorted(d.cpu for d in discards) == [0, 3, 10]


# -- failures and clean-up ------------------------------------------------------------------

def test_a_failing_worker_gives_the_serial_result(monkeypatch, replays):
    """A worker dies part-way: the parent replays serially, skipping what it gave."""
    path = shared_trace("many-threads")
    expected = decode(path, 1, batch_size=5000)
    real_decode = parallel._decode_group

    def dies_after_two_batches(sender, *args):
        if not of_a_group(args[1]):                 # the serial replay
            return real_decode(sender, *args)

        class Dying:
            sent = 0

            def put(self, msg):
                if self.sent == 2:
                    sender.finish()
                    os._exit(3)
                self.sent += 1
                sender.put(msg)
        real_decode(Dying(), *args)
    monkeypatch.setattr(parallel, "_decode_group", dies_after_two_batches)
    assert decode(path, 2, batch_size=5000) == expected
    assert replays and replays[0] > 0, "the parent had delivered events before the failure"
    assert children() == []


def test_stopping_early_leaves_no_worker_and_no_folder(group_dirs):
    batches = open_traces(shared_trace("many-threads")).batches(batch_size=1000, jobs=2)
    next(batches)
    assert len(children()) == 2 and all(os.path.isdir(d) for d in group_dirs)
    batches.close()
    assert children() == []
    assert group_dirs and not any(os.path.exists(d) for d in group_dirs)


def test_a_dropped_reader_is_cleaned_up(group_dirs):
    batches = open_traces(shared_trace("many-threads")).batches(batch_size=1000, jobs=2)
    next(batches)
    del batches
    gc.collect()
    assert children() == []
    assert not any(os.path.exists(d) for d in group_dirs)


def test_an_exception_in_the_consumer_cleans_up(group_dirs):
    with pytest.raises(ZeroDivisionError):
        for _ in open_traces(shared_trace("many-threads")).batches(batch_size=1000, jobs=2):
            1 / 0
    assert children() == []
    assert not any(os.path.exists(d) for d in group_dirs)


def test_workers_die_with_their_parent():
    """A parent killed outright takes its workers with it (no orphans); a later
    read removes the folders it left (workers given folders, not prepared ports)."""
    script = (
        "import os, sys\n"
        "from corr.reading import groups, open_traces, parallel\n"
        "groups.usable_cpus = lambda: 2\n"
        "parallel.port_groups = lambda *args: None\n"
        f"b = open_traces({str(shared_trace('many-threads'))!r}).batches(batch_size=100, jobs=2)\n"
        "next(b)\n"
        "print(' '.join(open(f'/proc/{os.getpid()}/task/{os.getpid()}/children').read().split()),"
        " flush=True)\n"
        "import time; time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in proc.stdout.readline().split()]
    assert len(workers) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.05)
    assert not any(_alive(p) for p in workers)
    left = Path(tempfile.gettempdir()).glob(f"corr-group-{proc.pid}-*")
    assert len(list(left)) == 2
    groups.remove_stale_group_dirs(older_than=0)
    assert not list(Path(tempfile.gettempdir()).glob(f"corr-group-{proc.pid}-*"))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- when to split, and how -----------------------------------------------------------------

def _files(tmp_path, sizes: dict[str, int]) -> Path:
    (tmp_path / "metadata").write_text("/* CTF 1.8 */")
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"\0" * size)
    return tmp_path


def test_files_of_one_cpu_stay_together_and_groups_balance(tmp_path):
    path = _files(tmp_path, {"channel0_0": 9000, "channel0_0_1": 1000, "channel1_0": 2000,
                             "channel0_1": 5000, "channel0_2": 4000, "channel0_3": 3000})
    plan = groups.plan(str(path), 2)
    assert sorted(map(sorted, plan)) == [["channel0_0", "channel0_0_1", "channel1_0"],
                                         ["channel0_1", "channel0_2", "channel0_3"]]


def test_when_a_trace_stays_serial(tmp_path, monkeypatch):
    path = _files(tmp_path, {"channel0_0": 100, "channel0_1": 100})
    assert groups.plan(str(path), None) is None            # auto: too small
    assert groups.plan(str(path), 1) is None
    assert groups.plan(str(path), 2) == [["channel0_0"], ["channel0_1"]]
    monkeypatch.setenv("CORR_JOBS", "1")
    assert groups.plan(str(path), None) is None
    monkeypatch.setenv("CORR_JOBS", "2")
    assert groups.plan(str(path), None) is not None
    monkeypatch.setattr(groups, "usable_cpus", lambda: 1)
    assert groups.plan(str(path), 2) is None               # one CPU
    monkeypatch.setattr(groups, "usable_cpus", lambda: 2)
    (tmp_path / "channel0_1").unlink()
    (tmp_path / "channel0_0_1").write_bytes(b"\0" * 100)  # the same CPU's next file
    assert groups.plan(str(path), 2) is None
    for bad in (0, -1, "two"):
        with pytest.raises(UsageError):
            groups.plan(str(path), bad)


def test_large_traces_split_by_default(tmp_path):
    path = _files(tmp_path, {"channel0_0": groups.MIN_PARALLEL_BYTES, "channel0_1": 10})
    assert groups.plan(str(path), None) is not None
    assert groups.plan(str(path), None, batch_size=10) is None


def test_group_folder_links_metadata_streams_and_indexes(tmp_path):
    path = _files(tmp_path, {"channel0_0": 10, "channel0_1": 10})
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "channel0_1.idx").write_bytes(b"x")
    group = groups.make_group_dir(str(path), ["channel0_1"])
    try:
        assert sorted(os.listdir(group)) == ["channel0_1", "index", "metadata"]
        assert os.readlink(os.path.join(group, "index", "channel0_1.idx")) == \
            str(tmp_path / "index" / "channel0_1.idx")
    finally:
        shutil.rmtree(group)


def test_bt2_path_is_babeltrace2s_normalisation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert groups.bt2_path("a/./b/../c/") == f"{os.getcwd()}/a/c"
    assert groups.bt2_path("/x//y/.") == "/x/y"


def test_raw_integer_columns():
    from corr.reading.batch import EventClassInfo, RawInts
    from corr.reading.sink_common import BatchBuilder, ClassRegistry
    from corr.reading.traceinfo import TraceInfo

    col = RawInts("Q")
    for v in (0, 7, 2**64 - 1):
        col.append(v)
    assert len(col) == 3 and col[-1] == 2**64 - 1 and col.tolist() == [0, 7, 2**64 - 1]
    # Two event classes sharing one class's columns but not the sign of a field:
    # the column becomes a list, and every sink plan is told.
    builder = BatchBuilder(TraceInfo(0, "t"), ClassRegistry(), Projection.all(), 10,
                           track_streams=True, raw_ints=True)
    told = []
    builder.on_new_batch.append(lambda cid, cols: told.append(cid))
    info = EventClassInfo(0, "e", 0)
    cols = builder.columns_for(info, ["x", "s"], {"x": "q"})
    cols.fields["x"].append(-5)
    assert isinstance(cols.fields["x"], RawInts) and cols.fields["s"] == []
    assert builder.columns_for(info, ["x", "s"], {"x": "Q"}) is cols
    assert cols.fields["x"] == [-5] and told == [0]


# -- workers started ahead of the run ---------------------------------------------------------

def _run_json(rules, trace, **kwargs) -> str:
    from corr import api
    from corr.render import run_json
    return run_json.render(api.run(rules, [trace], **kwargs), all_intervals=True)


def test_a_run_starts_its_workers_before_the_engine_and_gives_the_serial_result(
        monkeypatch, group_dirs):
    """corr.api.run forks a large trace's workers before importing the engine;
    what it finds is what a serial decode finds."""
    from corr.pipeline import start_decoding
    from corr.rules import load_rules
    rules = str(Path(__file__).parent.parent / "rules" / "wakeup.yaml")
    trace = shared_trace("many-threads")
    started = start_decoding(open_traces(trace), load_rules(rules), cache=False)
    assert started is not None and len(children()) == 2
    parallel._close_all()                              # nobody read them: stopped, removed
    assert children() == [] and not any(os.path.exists(d) for d in group_dirs)
    ahead = _run_json(rules, trace, cache=False)
    assert children() == []
    monkeypatch.setenv("CORR_JOBS", "1")
    assert start_decoding(open_traces(trace), load_rules(rules), cache=False) is None
    assert ahead == _run_json(rules, trace, cache=False)


def test_nothing_starts_ahead_when_the_cache_may_serve_the_run(tmp_path):
    from corr.pipeline import start_decoding
    from corr.rules import load_rules
    rules = str(Path(__file__).parent.parent / "rules" / "syscalls.yaml")
    trace = shared_trace("many-threads")
    first = _run_json(rules, trace, cache=tmp_path)    # started ahead, recorded on the way
    assert start_decoding(open_traces(trace), load_rules(rules), cache=tmp_path) is None
    assert _run_json(rules, trace, cache=tmp_path) == first == _run_json(rules, trace, cache=False)
    assert children() == []


def test_workers_a_failed_run_never_read_are_stopped(monkeypatch, group_dirs):
    """An error between starting the workers and reading them leaves no process behind."""
    import corr.cache
    from corr import api

    def failing(*args, **kwargs):
        raise RuntimeError("the run failed before decoding")
    monkeypatch.setattr(corr.cache, "open_cache", failing)      # run_rules' next step
    rules = str(Path(__file__).parent.parent / "rules" / "syscalls.yaml")
    with pytest.raises(RuntimeError):
        api.run(rules, [shared_trace("many-threads")], cache=False)
    assert group_dirs and children() == []
    assert not any(os.path.exists(d) for d in group_dirs)


@pytest.mark.parametrize("rule", ["syscalls", "offcpu"])
def test_a_whole_run_from_workers_is_the_serial_run(rule, monkeypatch):
    """Matching, normalising (tids derived column-wise from the merged arrays), the
    scheduling log and the blame read the workers' merged columns as a serial run's."""
    rules = str(Path(__file__).parent.parent / "rules" / f"{rule}.yaml")
    trace = shared_trace("many-threads")
    with no_serial_fallback():
        merged = _run_json(rules, trace, cache=False)
    monkeypatch.setenv("CORR_JOBS", "1")
    assert merged == _run_json(rules, trace, cache=False)


# -- which ports carry which files ----------------------------------------------------------

def test_ports_named_by_instance_id_follow_the_streams_first_files(tmp_path):
    # Ports in the order of each stream's first file; a CPU's rotated files are one stream.
    path = _files(tmp_path, {"channel0_0_0": 10, "channel0_0_1": 10, "channel0_1": 10,
                             "channel0_10": 10, "channel1_0": 10, "channel0_2": 0})
    ports = ["u | 0 | 0", "u | 0 | 1", "u | 0 | 10", "u | 1 | 0"]
    plan = [["channel0_0_0", "channel0_0_1", "channel1_0"], ["channel0_1", "channel0_10"]]
    assert groups.port_groups(ports, str(path), plan) == [[0, 3], [1, 2]]
    assert groups.port_groups(ports[:3], str(path), plan) is None       # a stream without port
    split_cpu = [["channel0_0_0", "channel1_0"], ["channel0_0_1", "channel0_1", "channel0_10"]]
    assert groups.port_groups(ports, str(path), split_cpu) is None      # one stream, two groups


def test_ports_named_by_path_are_their_files(tmp_path):
    path = _files(tmp_path, {"a_0": 10, "a_1": 10, "a_2": 10})
    ports = [f"u | 0 | {tmp_path}/{name}" for name in ("a_0", "a_1", "a_2")]
    assert groups.port_groups(ports, str(path), [["a_1"], ["a_0", "a_2"]]) == [[1], [0, 2]]
    assert groups.port_groups(ports, str(path), [["a_1"], ["a_0"]]) is None


@pytest.fixture
def prepared_ports(monkeypatch):
    """The trace's source made before the workers fork (as the resident server has it)."""
    monkeypatch.setattr(parallel, "PARSE_BEFORE_FORK", True)


def test_a_wrong_port_guess_costs_a_serial_decode_not_a_wrong_result(monkeypatch, given,
                                                                    replays, prepared_ports):
    """Workers check that each stream they read is a file of their group."""
    path = shared_trace("many-threads")
    expected = decode(path, 1, batch_size=5000)
    real_port_groups = groups.port_groups

    def swapped(*args):
        return real_port_groups(*args)[::-1]
    monkeypatch.setattr(parallel, "port_groups", swapped)
    assert decode(path, 2, batch_size=5000) == expected
    assert replays == [0] and all(work.source is not None for work in given)
    assert children() == []


def test_stopping_early_leaves_no_worker_with_prepared_ports(given, prepared_ports):
    batches = open_traces(shared_trace("many-threads")).batches(batch_size=1000, jobs=2)
    next(batches)
    assert len(children()) == 2 and all(w.group_dir is None for w in given)
    batches.close()
    assert children() == []


def _many_stacks_trace(tmp_path) -> Path:
    """Two threads on each of two CPUs switching 8,000 times, each switch-out with a call stack drawn from
    a pool of 20,000 (lengths 0 to 300: more than the C decoder caches, some too long
    to cache), so that stacks repeat, and differ, in every slot of its cache."""
    import random
    rng = random.Random(7)
    pool = [tuple(rng.randrange(1 << 64) for _ in range(rng.choice((0, 1, 2, 17, 40, 257, 300))))
            for _ in range(20_000)]
    s = Scenario(cpus=2, kernel_context=("callstack_kernel", "callstack_user"))
    pairs = [(s.thread(tid=101 + 2 * cpu, pid=100, comm="a"),
              s.thread(tid=102 + 2 * cpu, pid=100, comm="b")) for cpu in (0, 1)]
    for cpu, (a, _) in enumerate(pairs):
        s.run(cpu=cpu, thread=a, at=0)
    at = 1_000
    for k in range(8_000):              # on each CPU in turn, its two threads in turn
        a, b = pairs[k % 2]
        runner, other = (a, b) if k % 4 < 2 else (b, a)
        s.stack(runner, at=at, kernel=rng.choice(pool), user=rng.choice(pool[:50]))
        s.preempt(runner, other, at=at + 10)
        at += 1_000
    s.write(tmp_path / "trace")
    return tmp_path / "trace"


def test_integer_arrays_decode_alike_serially_and_in_parallel(tmp_path, split):
    """Integer arrays (call stacks) decoded by the C reader, which gives a repeated
    array's object again, equal the Python readers'; sent from workers once per
    distinct value (wire INTERNED), they merge to the same columns."""
    from corr.reading.batch import InternedColumn
    from test_reader_differential import assert_readers_agree
    trace = _many_stacks_trace(tmp_path)
    events = assert_readers_agree(trace)
    stacks = [f["ctx.callstack_kernel"] for _, name, _, f in events if name == "sched_switch"]
    assert len(set(map(tuple, stacks))) > 4_096
    projection = Projection.of({"sched_switch": {"ctx.callstack_kernel", "ctx.callstack_user"}})
    serial = assert_same_decode(trace, projection, batch_size=1_000, reader="c")
    assert len(serial[0]) == 8_002          # and each CPU's first switch-in
    # The C reader gives a repeated array its object again (its cache keeps the last
    # short array of each slot; the first batch's first events are decoded before the C
    # loop takes over); the parallel merge keeps each distinct value once.
    users = Projection.of({"sched_switch": {"ctx.callstack_user"}})
    for jobs in (1, 2):
        batches = list(open_traces(trace).batches(users if jobs == 1 else projection,
                                                  batch_size=1_000, reader="c", jobs=jobs))
        assert len(batches) > 4
        for batch in batches[1:]:
            for column in (cols.fields["ctx.callstack_user"] for cols in batch.classes.values()):
                if len(column) < 500:   # a merge's small batch between workers' parts
                    continue
                if jobs == 1:           # arrays of over 256 values are not cached
                    short = [value for value in column if len(value) <= 256]
                    assert len({tuple(v) for v in short}) < 40
                    # Two values in one slot take turns in it: a few objects each.
                    assert len({id(v) for v in short}) < len(short) / 8
                    continue
                assert isinstance(column, InternedColumn)
                # One object a distinct value of each message a worker sent.
                assert len({id(value) for value in column}) == len(set(column.ids.tolist()))
                assert [column.uniques[i] for i in column.ids.tolist()] == list(column)


def test_only_arrays_of_ints_travel_interned():
    """Equal is not the same value for floats and bools (``-0.0 == 0.0``, ``True ==
    1``): such columns travel as they are; arrays of ints, each distinct one once, and
    a merge keeps only the values its rows use."""
    import numpy as np
    from corr.reading import wire
    from corr.reading.batch import Interned, interned
    for column in ([[0.0], [-0.0]], [[1], [True]], [[True], [1]], [[1], [2.5]], [[{"a": 1}]]):
        assert wire.interned_column(column) == (wire.OBJECTS, column)
    kind, uniques, ids = wire.interned_column([[1, 2], [1, 2], None, [], [3], [1 << 63]])
    assert kind == wire.INTERNED and uniques == [[1, 2], None, [], [3], [1 << 63]]
    assert np.frombuffer(ids.raw(), dtype=np.int64).tolist() == [0, 0, 1, 2, 3, 4]
    pieces = [Interned([[1], [2], [3]], np.array([2, 2])), Interned([[4], [3]], np.array([1, 0]))]
    merged = interned(pieces, np.array([3, 0, 2, 1]))
    assert merged == [[4], [3], [3], [3]] and merged.uniques == [[3], [4], [3]]
    assert [merged.uniques[i] for i in merged.ids.tolist()] == list(merged)
    # Slices of one worker's part share its values: numbered once for all of them.
    part = Interned([[1], [2], [3], [4]], np.array([3, 0, 3, 1]))
    merged = interned([part[0:2], part[2:4], pieces[1]])
    assert merged == [[4], [1], [4], [2], [3], [4]]
    assert merged.uniques == [[1], [2], [4], [4], [3]]
    assert [merged.uniques[i] for i in merged.ids.tolist()] == list(merged)
    # A worker's part interned beside another's sent as it is (an array of floats).
    from corr.reading.merge import _column
    assert _column([pieces[0], [[0.5], None]], np.array([1, 3, 0, 2])) == [[3], None, [3], [0.5]]
