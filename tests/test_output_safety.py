"""Where corr writes: devices and FIFOs written into, never replaced; write errors
on stdout or a file as one ``corr:`` line; a closed pipe ends quietly (status 141).

Each CLI test runs in-process (``CORR_SERVER=off``) and served (a resident
server of a private runtime folder, which writes through the client's
descriptors).  The devices written to are nodes this test makes in its own
folder (``mknod``, as root) with the numbers of /dev/null and /dev/full: a
write path that replaced its target would replace those, never the system's.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT, one_line_error, shared_trace

CORR = str(Path(sys.executable).parent / "corr")
OFFCPU = ROOT / "rules" / "offcpu.yaml"
TRACE_NAME = "wget-k-20180802-115043"
BROKEN_PIPE = 141

pytestmark = pytest.mark.shared


def corr(*args, env, **kw) -> subprocess.CompletedProcess:
    if "stdout" not in kw and "stderr" not in kw:
        kw["capture_output"] = True
    return subprocess.run([CORR, *map(os.fsdecode, args)], env=env, text=True, timeout=120,
                          **kw)


def trace() -> Path:
    return shared_trace(TRACE_NAME)


@pytest.fixture(scope="module")
def whole_json(served_env) -> bytes:
    """What ``corr run ... --format json`` writes to a file."""
    env = {**os.environ, "CORR_SERVER": "off", "CORR_CACHE_DIR": served_env["CORR_CACHE_DIR"]}
    proc = subprocess.run([CORR, "run", str(OFFCPU), str(trace()), "--format", "json"],
                          env=env, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- devices and FIFOs: written into, never replaced ------------------------------------

def device(folder: Path, name: str, like: str) -> Path:
    """A character device node in ``folder`` with the numbers of ``like`` (/dev/null,
    /dev/full); skips where nodes cannot be made or opened (not root, nodev)."""
    node = folder / name
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.stat(like).st_rdev)
        os.close(os.open(node, os.O_WRONLY))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"no device node here: {exc}")
    return node


def identity(path: Path) -> tuple:
    st = os.lstat(path)
    return (stat.S_IFMT(st.st_mode), st.st_ino, st.st_rdev)


@pytest.fixture(autouse=True)
def the_systems_devices_stay():
    """Fails loudly should anything have replaced the system's /dev/null or /dev/full."""
    before = {p: identity(Path(p)) for p in ("/dev/null", "/dev/full")}
    yield
    after = {p: identity(Path(p)) for p in before}
    assert after == before, "the system's /dev/null or /dev/full was replaced"


def test_o_onto_a_null_device_writes_into_it(env, tmp_path):
    null = device(tmp_path, "null", "/dev/null")
    before = identity(null)
    proc = corr("run", OFFCPU, trace(), "-o", null, "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == f"wrote {null} (JSON)\n"
    assert identity(null) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".corr-")] == []


def test_o_onto_a_full_device_is_one_line_and_the_device_stays(env, tmp_path):
    full = device(tmp_path, "full", "/dev/full")
    before = identity(full)
    proc = corr("run", OFFCPU, trace(), "-o", full, "--format", "json", env=env)
    assert one_line_error(proc) == f"corr: {full}: cannot write: No space left on device"
    assert identity(full) == before


def test_tune_write_onto_a_device_writes_into_it(env, tmp_path):
    null = device(tmp_path, "null", "/dev/null")
    before = identity(null)
    proc = corr("tune", OFFCPU, trace(), "--write", null, env=env)
    assert proc.returncode == 0, proc.stderr
    assert identity(null) == before
    full = device(tmp_path, "full", "/dev/full")
    before = identity(full)
    proc = corr("tune", OFFCPU, trace(), "--write", full, env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
    assert proc.returncode == 2
    assert proc.stderr == f"corr: {full}: cannot write: no space left on device\n"
    assert identity(full) == before


def read_fifo_in_thread(fifo: Path):
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    return reader, got


def test_o_onto_a_fifo_writes_into_it(env, tmp_path, whole_json):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    reader, got = read_fifo_in_thread(fifo)
    proc = corr("run", OFFCPU, trace(), "-o", fifo, env=env)
    reader.join(timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert got == [whole_json]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".corr-")] == []


def test_o_onto_a_fifo_nobody_reads_is_refused_not_waited_on(env, tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    proc = corr("run", OFFCPU, trace(), "-o", fifo, env=env)
    assert one_line_error(proc) == (f"corr: {fifo}: a named pipe (FIFO) that nobody reads "
                                    f"from (waited 10 s)")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_tune_write_onto_a_fifo_writes_the_rule_file_into_it(env, tmp_path):
    fifo = tmp_path / "tuned.yaml"
    os.mkfifo(fifo)
    reader, got = read_fifo_in_thread(fifo)
    proc = corr("tune", OFFCPU, trace(), "--set", "offcpu.threshold=3ms", "--write", fifo,
                env=env)
    reader.join(timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert got == [OFFCPU.read_bytes().replace(b"threshold: 1ms", b"threshold: 3ms")]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


# -- a run that stops part-way writes no file ------------------------------------------

HELLO_RULES = """\
version: 1
rules:
  - name: hello
    span:
      event: "ust_tests_hello:tptest"
      duration: 0
    threshold: 1ns
"""


@pytest.mark.parametrize("existing", [True, False])
def test_a_run_that_stops_part_way_leaves_the_o_file_as_it_was(env, tmp_path, existing):
    rules = tmp_path / "rules.yaml"
    rules.write_text(HELLO_RULES)
    out = tmp_path / "out.json"
    if existing:
        out.write_bytes(b"previous results\n")
    proc = corr("run", rules, shared_trace("hello-lost"), "-o", out, env=env)
    message = one_line_error(proc, "timestamps go backwards")
    assert message.endswith(f"(decoding stopped part-way; {out} not written)")
    if existing:
        assert out.read_bytes() == b"previous results\n"
    else:
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".corr-")] == []


# -- write errors on stdout --------------------------------------------------------------

COMMANDS = {
    "run text": ["run", OFFCPU, "TRACE"],
    "run json": ["run", OFFCPU, "TRACE", "--format", "json"],
    "run jsonl": ["run", OFFCPU, "TRACE", "--format", "jsonl"],
    "tune": ["tune", OFFCPU, "TRACE"],
    "inspect": ["inspect", "TRACE"],
    "version": ["--version"],
    "help": ["run", "--help"],
}


def command(name: str) -> list:
    return [trace() if a == "TRACE" else a for a in COMMANDS[name]]


@pytest.mark.parametrize("name", COMMANDS)
def test_stdout_on_a_full_disk_is_one_line(env, name):
    with open("/dev/full", "w") as full:                 # a redirection: nothing replaced
        proc = corr(*command(name), env=env, stdout=full, stderr=subprocess.PIPE)
    assert proc.returncode == 2
    assert proc.stderr == "corr: stdout: cannot write: No space left on device\n"


@pytest.mark.parametrize("name", COMMANDS)
def test_a_closed_stdout_is_one_line_not_exit_0(env, name):
    proc = subprocess.run(
        ["/bin/sh", "-c", 'exec "$@" >&-', "sh", CORR, *map(str, command(name))],
        env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "corr: stdout: cannot write: it was closed when corr started\n"


def test_a_closed_stdout_does_not_stop_o(env, tmp_path, whole_json):
    out = tmp_path / "out.json"
    proc = subprocess.run(["/bin/sh", "-c", 'exec "$@" >&-', "sh", CORR, "run", str(OFFCPU),
                           str(trace()), "-o", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == whole_json


@pytest.mark.parametrize("name", COMMANDS)
def test_a_pipe_whose_reader_left_ends_quietly_with_sigpipes_status(env, name):
    read, write = os.pipe()
    os.close(read)                                       # as `| true` leaves it
    try:
        proc = subprocess.run([CORR, *map(str, command(name))], env=env, stdout=write,
                              stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write)
    assert proc.returncode == BROKEN_PIPE
    assert proc.stderr == b""


@pytest.mark.parametrize("name", ["run json", "run jsonl", "inspect"])   # over 64 KiB each
def test_a_pipe_closed_part_way_ends_quietly_with_sigpipes_status(env, name):
    proc = subprocess.Popen([CORR, *map(str, command(name))], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(proc.stdout.read(10)) == 10
    proc.stdout.close()                                  # as `| head -c 10` does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == BROKEN_PIPE
    assert err == b""


def test_api_write_to_a_closed_stdout_is_an_oserror(monkeypatch, tmp_path):
    from corr import api
    result = api.run(str(OFFCPU), [str(trace())], cache=False)
    monkeypatch.setattr(sys, "stdout", None)
    with pytest.raises(OSError, match="stdout is closed"):
        api.write(result, "json")


def test_a_served_stdout_that_failed_stays_open_for_the_exit_code(served_env):
    """A served command whose JSON could not be written still reports its code (its
    stdout was once closed by the failed flush, and the command died without one)."""
    with open("/dev/full", "w") as full:
        proc = corr("run", OFFCPU, trace(), "--format", "json", env=served_env, stdout=full,
                    stderr=subprocess.PIPE)
    assert proc.returncode == 2
    assert "without an exit code" not in proc.stderr

