"""libbabeltrace2 aborting or hanging on a malformed trace cannot take corr down.

Mutants of a shared trace (recipes below, applied to a copy) on which the
babeltrace2 CLI itself aborts (SIGABRT on an assertion) or hangs; corr
reports each as one ``corr:`` line and exit code 2, in-process and served,
and the resident server answers the next command.  Aborts and stalls in the
middle of a decode (a worker killed after its first batches) keep what was
decoded before, and every output stays a whole document.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import time

import pytest

from conftest import one_line_error, run_corr, shared_trace
from test_server import private_env, served_count, start, stop_servers

from corr.errors import TraceDecodeError, TraceError
from corr.reading import (Projection, containment, groups, open_traces, parallel, prepared,
                          wire)
from corr.reading.metadata import metadata_text

TRACE = "wget-k-20180802-115043"
KERNEL = "kernel"                  # the trace folder inside it
RULES = os.path.join(os.path.dirname(__file__), "..", "rules", "offcpu.yaml")
STALL_S = "2"


# -- mutation recipes: (name, how to rewrite the metadata) -------------------------------

def _plain(edit):
    """The metadata as plain TSDL text, edited."""
    def mutate(folder):
        text = metadata_text(str(folder))
        edited = edit(text)
        assert edited != text, "the recipe no longer applies to the trace"
        (folder / "metadata").write_text("/* CTF 1.8 */\n" + edited)
    return mutate


def _truncated(size):
    """The packetized metadata cut after ``size`` bytes."""
    def mutate(folder):
        data = (folder / "metadata").read_bytes()
        (folder / "metadata").write_bytes(data[:size])
    return mutate


EPFD = "integer { size = 32; align = 8; signed = 1; encoding = none; base = 10; } _epfd;\n"
DUPLICATED_MEMBER = _plain(lambda t: t.replace(
    EPFD + "\t\tinteger { size = 32; align = 8; signed = 1; encoding = none; base = 10; } "
    "_maxevents;", EPFD + "\t\t" + EPFD.rstrip(), 1))
ENUM_UPPER_BELOW_LOWER = _plain(lambda t: t.replace('"EPOLL_CTL_ADD" = 1,',
                                                    '"EPOLL_CTL_ADD" = 5 ... 1,', 1))
TRUNCATED_PACKED = _truncated(8000)
CLOCK_FREQ_NOT_AN_INTEGER = _plain(lambda t: t.replace("freq = 1000000000;",
                                                       "freq = 1<50192743562703624;", 1))

ABORTS = {
    "duplicated-member": (DUPLICATED_MEMBER,
                          "babeltrace2 aborted while reading its metadata (SIGABRT: Duplicate "
                          'member/option name in structure/variant field class: name="epfd")'),
    "enum-upper-below-lower": (ENUM_UPPER_BELOW_LOWER,
                               "babeltrace2 aborted while reading its metadata (SIGABRT: Range's "
                               "upper bound is less than lower bound: upper=5, lower=1)"),
}
HANGS = {
    "truncated-packed-metadata": (TRUNCATED_PACKED,
                                  f"no progress reading its metadata for {STALL_S} s"),
}


def mutant(tmp_path, recipe) -> str:
    folder = tmp_path / "mutant"
    shutil.copytree(shared_trace(TRACE) / KERNEL, folder)
    recipe(folder)
    return str(folder)


def babeltrace2_outcome(path) -> str:
    try:
        proc = subprocess.run(["babeltrace2", path], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10)
    except subprocess.TimeoutExpired:
        return "hang"
    return "abort" if proc.returncode == -signal.SIGABRT else f"exit {proc.returncode}"


@pytest.fixture
def stall_env(monkeypatch):
    monkeypatch.setenv("CORR_DECODE_STALL_S", STALL_S)
    return {"CORR_DECODE_STALL_S": STALL_S}


CASES = [(name, recipe, message, "abort") for name, (recipe, message) in ABORTS.items()] + \
        [(name, recipe, message, "hang") for name, (recipe, message) in HANGS.items()]


@pytest.mark.parametrize("name, recipe, message, outcome", CASES, ids=[c[0] for c in CASES])
def test_babeltrace2_itself_fails_on_the_mutant(tmp_path, name, recipe, message, outcome):
    assert babeltrace2_outcome(mutant(tmp_path, recipe)) == outcome


@pytest.mark.parametrize("name, recipe, message, outcome", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("args", [["inspect"], ["run", RULES, "--format", "json"]],
                         ids=["inspect", "run-json"])
def test_in_process_one_line_and_exit_2(tmp_path, stall_env, name, recipe, message, outcome,
                                        args):
    path = mutant(tmp_path, recipe)
    proc = subprocess.run([*_corr(), *args, path], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **stall_env, "CORR_SERVER": "off"})
    assert one_line_error(proc) == f"corr: {path}: {message}"
    assert proc.stdout == ""


def _corr() -> list[str]:
    import sys
    return [os.path.join(os.path.dirname(sys.executable), "corr")]


@pytest.mark.parametrize("name, recipe, message, outcome", CASES, ids=[c[0] for c in CASES])
def test_served_one_line_and_the_server_answers_the_next_command(tmp_path, stall_env, name,
                                                                  recipe, message, outcome):
    env = {**private_env(tmp_path), **stall_env}
    try:
        path = mutant(tmp_path, recipe)
        good = str(shared_trace(TRACE))
        start(env)
        assert run_corr("inspect", good, env=env).returncode == 0
        before = served_count(env)
        for args in (["inspect"], ["run", RULES, "--format", "json"]):
            proc = subprocess.run([*_corr(), *args, path], capture_output=True, text=True,
                                  timeout=60, env=env)
            assert one_line_error(proc) == f"corr: {path}: {message}"
        after = run_corr("inspect", good, env=env)
        assert after.returncode == 0 and "wget" in after.stdout
        assert served_count(env) == before + 3, "all three served by the same server"
    finally:
        stop_servers(env)


def test_a_clock_that_is_not_an_integer_is_a_trace_error(tmp_path):
    path = mutant(tmp_path, CLOCK_FREQ_NOT_AN_INTEGER)
    proc = run_corr("inspect", path)
    assert one_line_error(proc) == (
        f"corr: {path}/metadata: clock freq = '1<50192743562703624' is not an integer in "
        f"[1, 9223372036854775808)")


def _cpu_id(stream, value):
    """The first packet context's cpu_id of ``stream`` (LTTng kernel: at byte 80) set."""
    def mutate(folder):
        with open(folder / stream, "r+b") as f:
            f.seek(80)
            assert struct.unpack("<I", f.read(4))[0] == 1, "the recipe no longer applies"
            f.seek(80)
            f.write(struct.pack("<I", value))
    return mutate


@pytest.mark.parametrize("reader", ["c", "native", "public"])
def test_a_cpu_id_out_of_range_stops_the_decode(tmp_path, reader):
    path = mutant(tmp_path, _cpu_id("k_1", 0xFFFFFFF0))
    proc = run_corr("run", RULES, path, "--format", "json", "--reader", reader)
    cause = ("corrupt packet context in stream k_1: cpu_id 4294967280 is not a CPU number "
             "(0 to 65535)")
    assert one_line_error(proc) == (f"corr: {path}: {cause} (decoding stopped part-way; the "
                                    f"results above cover what was read before)")
    assert json.loads(proc.stdout)["stopped"] == {"path": path, "cause": cause, "at_ns": None,
                                                  "events_before": 0}


def test_a_prepared_source_is_only_made_after_a_child_made_one(tmp_path, stall_env):
    """The resident server prepares the traces its commands read: not a bad one."""
    for recipe in (DUPLICATED_MEMBER, TRUNCATED_PACKED):
        path = mutant(tmp_path, recipe)
        assert prepared.prepare([path]) == [] and prepared.kept() == []
        shutil.rmtree(path)


def test_a_query_that_hangs_is_a_stall(stall_env):
    with pytest.raises(containment.DecoderStalled):
        containment.call(time.sleep, 3600)


def test_a_query_that_aborts_is_a_death():
    with pytest.raises(containment.DecoderDied) as caught:
        containment.call(_abort)
    assert caught.value.signum == signal.SIGABRT and str(caught.value) == "SIGABRT"


def test_a_query_brings_back_a_corr_error_whole():
    def fails(path):
        raise TraceDecodeError(path, "corrupt", stopped_at_ns=5, events_before=7)
    with pytest.raises(TraceDecodeError) as caught:
        containment.call(fails, "/t")
    e = caught.value
    assert (str(e), e.path, e.cause, e.stopped_at_ns, e.events_before) == \
        ("/t: corrupt", "/t", "corrupt", 5, 7)


# -- aborts and stalls in the middle of a decode -------------------------------------------

def _events(path, jobs, projection=None):
    """(events, error) of a decode: the events as (ts, class name)."""
    out, error = [], None
    try:
        for batch in open_traces(path).batches(projection or Projection.all(), jobs=jobs,
                                               batch_size=2000):
            out.extend((ts, batch.classes[cid].info.name) for ts, cid, _ in batch.rows())
    except TraceError as exc:
        error = exc
    return out, error


def _failing_after(monkeypatch, tmp_path, how, only_file=None, batches=2):
    """Workers that decode ``batches`` batches, note how many events they sent, then
    ``how()`` (only the worker whose folder holds ``only_file``, when given)."""
    real = parallel.decode
    sent = tmp_path / "sent"

    def decode(builder, *args):
        if only_file and not os.path.exists(os.path.join(builder.trace.path, only_file)):
            yield from real(builder, *args)
            return
        n = 0
        for i, batch in enumerate(real(builder, *args)):
            if i == batches:
                sent.write_text(str(n))
                how()
            n += len(batch.ts)
            yield batch
    monkeypatch.setattr(parallel, "decode", decode)
    monkeypatch.setattr(parallel, "replay", _no_replay)
    # Each batch written before the next is decoded (not from the sender's thread), so
    # that what a worker sent before it died is in the pipe: a count to compare with.
    monkeypatch.setattr(parallel._Sender, "put",
                        lambda self, msg: wire.write(self.fd, wire.encode(msg)))
    return lambda: int(sent.read_text())


def _no_replay(*args):
    raise AssertionError("a decode that aborted or stalled was run again")


def _abort():
    import faulthandler
    faulthandler.disable()              # pytest's: its dump is no part of the test
    os.kill(os.getpid(), signal.SIGABRT)


def _hang():
    time.sleep(3600)


@pytest.mark.parametrize("how, cause", [
    (_abort, "babeltrace2 aborted while decoding k_0, k_1 and 2 more (SIGABRT)"),
    (_hang, f"no progress decoding k_0, k_1 and 2 more for {STALL_S} s"),
], ids=["abort", "stall"])
def test_a_serial_decode_keeps_what_came_before(monkeypatch, tmp_path, stall_env, how, cause):
    path = str(shared_trace(TRACE) / KERNEL)
    whole, _ = _events(path, 1)
    sent = _failing_after(monkeypatch, tmp_path, how)
    events, error = _events(path, 1)
    assert isinstance(error, TraceDecodeError)
    assert (error.path, error.cause) == (path, cause)
    assert error.events_before == len(events) == sent() > 0
    assert events == whole[:len(events)] and error.stopped_at_ns == events[-1][0]


def test_an_aborting_worker_of_several_is_not_run_again(monkeypatch, tmp_path):
    monkeypatch.setattr(groups, "usable_cpus", lambda: 2)
    monkeypatch.setattr(parallel, "port_groups", lambda *args: None)    # group folders
    path = str(shared_trace("many-threads"))
    plan = groups.plan(path, 2)
    dying = next(g for g in plan if "channel0_0" in g)
    whole, _ = _events(path, 1)
    _failing_after(monkeypatch, tmp_path, _abort, only_file="channel0_0")
    events, error = _events(path, 2)
    assert isinstance(error, TraceDecodeError)
    assert error.cause == (f"babeltrace2 aborted while decoding "
                           f"{containment.describe_files(dying)} (SIGABRT)")
    assert error.events_before == len(events) and events == whole[:len(events)]


def test_a_run_that_stops_part_way_is_one_whole_json_document(monkeypatch, tmp_path):
    from corr import api
    monkeypatch.setenv("CORR_JOBS", "1")
    path = str(shared_trace("many-threads"))
    sent = _failing_after(monkeypatch, tmp_path, _abort)
    result = api.run(RULES, [path], cache=False)
    assert result.stopped == {
        "path": path, "at_ns": result.stopped["at_ns"], "events_before": sent(),
        "cause": "babeltrace2 aborted while decoding channel0_0, channel0_1 and 6 more (SIGABRT)"}
    assert sent() > 0 and result.stopped["at_ns"] is not None and result.events == sent()
    for fmt, check in (("json", _json_document), ("jsonl", _json_lines), ("text", _text_note)):
        out = tmp_path / f"out.{fmt}"
        api.write(result, str(out), format=fmt)
        check(out.read_text(), result.stopped)


def _json_document(text, stopped):
    document = json.loads(text)
    assert document["stopped"] == stopped


def _json_lines(text, stopped):
    assert text == "" or text.endswith("\n")
    for line in text.splitlines():
        json.loads(line)


def _text_note(text, stopped):
    assert (f"decoding stopped part-way in {stopped['path']} after "
            f"{stopped['events_before']:,} events: {stopped['cause']}; these results cover "
            f"only what was read before") in " ".join(text.split())


def test_a_watched_child_keeps_no_pipe_or_socket_of_its_parent():
    """A pipe's write end the parent holds (a subprocess's, in another thread) is not
    held by a child corr forks: the pipe's reader sees its end when the parent
    closes it, however long the child lives.  Regular files stay open."""
    import pickle
    import socket
    from corr.reading import containment
    read_end, write_end = os.pipe()
    left, right = socket.socketpair()
    with open(__file__, "rb") as regular:
        fds = [write_end, read_end, left.fileno(), regular.fileno()]
        pid, answer_r, answer_w, _, log = containment.fork_watched()
        if pid == 0:
            still = []
            for fd in fds:
                try:
                    os.fstat(fd)
                    still.append(fd)
                except OSError:
                    pass
            os.write(answer_w, pickle.dumps(still))
            os._exit(0)
        os.close(answer_w)
        os.close(write_end)
        left.close()
        right.close()
        with os.fdopen(answer_r, "rb") as answer:
            still = pickle.loads(answer.read())
        os.waitpid(pid, 0)
        log.close()
        assert still == [regular.fileno()]
    assert os.read(read_end, 1) == b""          # no one else holds the write end
    os.close(read_end)
