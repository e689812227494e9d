"""Prepared trace sources: a trace's metadata parsed once, never trusted once stale.

Every process's parses are counted through a file (decode workers are
forked), and each decode is compared with one made from scratch.
"""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import shared_trace

from corr.reading import Projection, graph, groups, open_traces, prepared

TRACE = "many-threads"
PROJECTION = Projection.of({"sched_switch": "*", "sched_wakeup": "*"})


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(prepared, "_sources", {})
    monkeypatch.setattr(prepared, "_read", [])
    monkeypatch.setattr(groups, "usable_cpus", lambda: 2)
    monkeypatch.delenv("CORR_JOBS", raising=False)


@pytest.fixture
def probes(monkeypatch, tmp_path):
    """The processes that made a source only to see that it can be made (a child
    of the preparing process: a malformed trace aborts or hangs it, not the server)."""
    log = tmp_path / "probes"
    log.write_text("")
    real = prepared._try_source

    def recording(path):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return real(path)
    monkeypatch.setattr(prepared, "_try_source", recording)
    return lambda: log.read_text().split()


@pytest.fixture
def parses(monkeypatch, tmp_path, probes):
    """How many times any process (workers included) parsed a trace's metadata to use it
    (the probes before a source is kept are not counted)."""
    log = tmp_path / "parses"
    log.write_text("")
    real = graph.add_source

    def counting(g, path):
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {path}\n")
        return real(g, path)
    monkeypatch.setattr(graph, "add_source", counting)
    return lambda: [line for line in log.read_text().splitlines()
                    if line.split()[0] not in probes()]


def events(path, jobs):
    out = []
    for batch in open_traces(path).batches(PROJECTION, jobs=jobs):
        out.extend((ts, batch.classes[cid].info.name, batch.classes[cid].fields["next_tid"][row]
                    if "next_tid" in batch.classes[cid].fields else None)
                   for ts, cid, row in batch.rows())
    return out


@pytest.fixture(scope="module")
def expected():
    return events(shared_trace(TRACE), 1)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_prepared_trace_is_not_parsed_again(jobs, parses, probes, expected):
    path = shared_trace(TRACE)
    assert prepared.prepare([path]) == [prepared.key(path)]
    assert len(parses()) == 1 and parses()[0].split()[0] == str(os.getpid())
    assert len(probes()) == 1 and probes()[0] != str(os.getpid()), "a child made one first"
    pid = os.fork()                 # a served command: a child of the process that prepared
    if pid == 0:
        code = 1
        try:
            code = 0 if events(path, jobs) == expected else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(parses()) == 1, "neither the command nor its workers parsed the metadata"
    assert prepared.kept() == [prepared.key(path)], "the preparing process keeps it"


@pytest.mark.parametrize("jobs", [1, 2])
def test_without_one_only_the_workers_parse(jobs, parses, expected):
    """This process never runs babeltrace2 over a trace it was not told is safe."""
    assert events(shared_trace(TRACE), jobs) == expected
    who = {line.split()[0] for line in parses()}
    assert len(parses()) == jobs and len(who) == jobs and str(os.getpid()) not in who


def test_a_source_runs_once_then_is_forgotten(parses, expected):
    path = shared_trace(TRACE)
    prepared.prepare([path])
    assert events(path, 1) == expected          # this process runs the prepared graph
    assert prepared.kept() == []
    assert events(path, 1) == expected          # a new graph: parsed again
    assert len(parses()) == 2


def test_a_changed_trace_is_parsed_again(tmp_path, parses, expected):
    path = tmp_path / "trace"
    shutil.copytree(shared_trace(TRACE), path)
    prepared.prepare([path])
    source = prepared.source_for(str(path))
    assert source is not None and source.fresh()
    os.utime(path / "channel0_3", ns=(1, 1))
    assert not source.fresh()
    assert prepared.source_for(str(path)) is None and prepared.kept() == []
    assert events(path, 1) == expected
    assert len(parses()) == 2


def test_the_server_keeps_the_last_commands_traces_only(tmp_path, parses):
    paths = []
    for i in range(prepared.KEPT + 2):
        paths.append(tmp_path / f"t{i}")
        shutil.copytree(shared_trace("context-switches-ust"), paths[-1])
    prepared.prepare(paths)                     # a command that read them all: the last few
    assert prepared.kept() == [str(p) for p in paths[-prepared.KEPT:]]
    prepared.prepare(paths[-2:])                # the next command's: kept, not parsed again
    assert prepared.kept() == [str(p) for p in paths[-2:]]
    assert len(parses()) == prepared.KEPT


def test_a_trace_that_cannot_be_parsed_is_not_kept(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metadata").write_text("/* CTF 1.8 */ trace { major = 1; minor = 8; ")
    assert prepared.prepare([bad]) == [] and prepared.kept() == []


def test_a_served_command_decodes_a_trace_decoded_whole_before_in_its_own_process(expected):
    """A trace the server keeps a source of was decoded to its end by a command that
    succeeded: a served command (a child of the server) decodes it without a worker."""
    from corr.reading import parallel
    path = shared_trace(TRACE)
    prepared.prepare([path])
    pid = os.fork()                 # a served command: a child of the process that prepared
    if pid == 0:
        code = 1
        try:
            def no_worker(*args, **kwargs):
                raise AssertionError("a worker was started")
            parallel._Workers = no_worker
            code = 0 if events(path, 1) == expected else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("jobs", [1, 2])
def test_only_a_trace_decoded_to_its_end_is_one_a_server_may_prepare(jobs):
    path = shared_trace(TRACE)
    stream = open_traces(path).batches(PROJECTION, jobs=jobs)
    next(stream)
    stream.close()                  # a consumer that stopped early
    assert prepared.traces_read() == []
    for _ in open_traces(path).batches(PROJECTION, jobs=jobs):
        pass
    assert prepared.traces_read() == [prepared.key(path)]
