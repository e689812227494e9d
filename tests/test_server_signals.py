"""A served command that dies by a signal: one ``corr:`` line naming it, exit code 2 or
70 (corr/server/fate.py), and the server serves the next command.

Each test runs with both clients (the native one and the Python launcher),
each with its own server (see tests/test_server.py).
"""

from __future__ import annotations

import json
import os
import signal
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from corr.server import fate

from test_server import REPO, TRACE, children_of, command, corr, server_env, served_count, start

__all__ = ["server_env"]        # the fixture, used by name

RULES = REPO / "rules" / "offcpu.yaml"


def server_pid(env) -> int:
    return int(corr("server", "status", env=env).stdout.split()[1].rstrip(":"))


def serves_on(env, pid: int) -> None:
    """The same server runs the next command, and it succeeds."""
    proc = corr("inspect", TRACE, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith("trace 0: ")
    assert server_pid(env) == pid


@pytest.fixture
def aborting_trace(tmp_path) -> Path:
    """The example's kernel trace with an enumeration whose range's upper bound is below
    its lower: libbabeltrace2 aborts on it (``babeltrace2 TRACE``: SIGABRT)."""
    trace = tmp_path / "aborts"
    shutil.copytree(TRACE / "kernel", trace)
    metadata = trace / "metadata"
    field = ("integer { size = 64; align = 1; signed = true; encoding = none; base = decimal; "
             "byte_order = le; } prev_state;")
    text = metadata.read_text()
    assert field in text
    metadata.write_text(text.replace(field, "enum : " + field[:-len(" prev_state;")] +
                                     " { R = 5 ... 1 } prev_state;", 1))
    if shutil.which("babeltrace2"):
        proc = subprocess.run(["babeltrace2", str(trace)], capture_output=True, timeout=60)
        assert proc.returncode == -signal.SIGABRT
    return trace


@pytest.mark.parametrize("args", [("inspect",), ("run", RULES, "--format", "json")],
                         ids=["inspect", "run"])
def test_an_abort_while_decoding_is_bad_input(server_env, aborting_trace, args):
    """Today the served command dies of libbabeltrace2's SIGABRT: the server says so,
    exit code 2 (a command that contains its decoder ends the same way by itself)."""
    start(server_env)
    pid = server_pid(server_env)
    proc = corr(*args[:1], *args[1:2], aborting_trace, *args[2:], env=server_env, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("corr: "), proc.stderr
    assert "abort" in lines[0].lower() and "Traceback" not in proc.stderr
    if "json" in args:               # nothing, or one whole document
        assert proc.stdout == "" or json.loads(proc.stdout)
    serves_on(server_env, pid)


def waiting_command(env, tmp_path) -> tuple[int, subprocess.Popen, int]:
    """A served ``corr run`` that waits on its rules file (a FIFO): the server's pid,
    the client, and the command's pid (the server's child)."""
    start(env)
    server = server_pid(env)
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)
    proc = subprocess.Popen([*command(env), "run", str(fifo), str(TRACE)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not children_of(server):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    [child] = children_of(server)
    time.sleep(0.3)                  # into the rules file's read
    return server, proc, child


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT])
def test_a_command_killed_outside_decoding_is_an_internal_error(server_env, tmp_path, signum):
    """Killed while it waits on its rules file (a FIFO): not its traces' fault, 70."""
    server, proc, child = waiting_command(server_env, tmp_path)
    os.kill(child, signum)
    out, err = proc.communicate(timeout=60)
    name, described = signum.name, signal.strsignal(signum)
    assert (proc.returncode, out, err) == (70, "", (
        f"corr: the resident server's command was killed by {name} ({described}) "
        "(CORR_SERVER=off runs corr in this process)\n"))
    serves_on(server_env, server)


def test_a_signal_the_client_passed_on_ends_the_client_too(server_env, tmp_path):
    """SIGTERM to the client reaches the command, which dies of it: so does the client,
    as corr would in-process; no message."""
    server, proc, _ = waiting_command(server_env, tmp_path)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (-signal.SIGTERM, "", "")
    assert served_count(server_env) >= 1
    serves_on(server_env, server)


FAULT = """Fatal Python error: Aborted

Current thread 0x00007f0000000000 (most recent call first):
  File "{inner}", line 10 in run
  File "/x/corr/pipeline.py", line 3 in run
  File "/x/corr/cli/__init__.py", line 1 in main

Extension modules: numpy.core._multiarray_umath (total: 1)
"""


@pytest.mark.parametrize("inner, expected", [
    ("/x/site-packages/bt2/graph.py", 2), ("/x/corr/reading/graph.py", 2),
    ("/x/corr/engine/runner.py", 70), ("/x/corr/rules/loader.py", 70)])
def test_the_exit_code_follows_where_the_fault_was(inner, expected):
    text = FAULT.format(inner=inner)
    assert fate.exit_code(signal.SIGABRT, text) == expected
    assert fate.exit_code(signal.SIGSEGV, text) == expected
    assert fate.exit_code(signal.SIGKILL, text) == 70          # never a fault of the input
    assert fate.exit_code(signal.SIGABRT, "") == 70            # no traceback: internal
    # A decode worker's traceback first, the command's own last: the last one counts.
    assert fate.exit_code(signal.SIGABRT, FAULT.format(inner="/x/bt2/a.py") + text) == expected


def test_the_server_never_parses_the_traces_of_a_command_that_failed(server_env, tmp_path):
    """The server parses in its own process the metadata of the traces its commands
    read: a trace a command failed on may be one libbabeltrace2 aborts or hangs on,
    so it is not parsed there; one a command succeeded on is."""
    from test_server import parsed_traces
    start(server_env)
    bad, good = tmp_path / "bad", tmp_path / "good"
    shutil.copytree(TRACE / "kernel", bad)
    shutil.copytree(TRACE / "kernel", good)
    stream = bad / "perf_stream_0"
    data = bytearray(stream.read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = b"\xff" * 64     # a packet in the middle
    stream.write_bytes(bytes(data))
    failed = corr("run", RULES, bad, "--no-cache", env=server_env, timeout=120)
    assert failed.returncode == 2 and "decoding stopped part-way" in failed.stderr
    assert corr("--version", env=server_env).returncode == 0   # forked after any parse
    assert parsed_traces(server_env) == []
    done = corr("run", RULES, good, "--no-cache", env=server_env, timeout=120)
    assert done.returncode == 0
    assert corr("--version", env=server_env).returncode == 0
    assert parsed_traces(server_env) == [str(good)]
