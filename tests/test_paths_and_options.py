"""Paths that are not regular files or folders, paths that are not UTF-8, and option
values out of range: one ``corr:`` line and exit 2 (or a run that works), never a
hang, a traceback or an internal error.  In-process and served alike."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT, one_line_error, shared_trace
from corr.rules.document import MAX_BYTES

CORR = str(Path(sys.executable).parent / "corr")
OFFCPU = ROOT / "rules" / "offcpu.yaml"
NOT_UTF8 = b"\xff"

pytestmark = pytest.mark.shared


def corr(*args, env) -> subprocess.CompletedProcess:
    """A command; its arguments may be bytes (paths that are not UTF-8)."""
    argv = [os.fsencode(CORR), *(a if isinstance(a, bytes) else os.fsencode(str(a))
                                 for a in args)]
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode,
                                       proc.stdout.decode("utf-8", "backslashreplace"),
                                       proc.stderr.decode("utf-8", "backslashreplace"))


def trace() -> Path:
    return shared_trace("wget-k-20180802-115043")


def copy_of_kernel_trace(folder: Path) -> Path:
    import shutil
    return Path(shutil.copytree(trace() / "kernel", folder))


# -- trace paths ------------------------------------------------------------------------

def a_socket(path: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return path


@pytest.mark.parametrize("what, make, cause", [
    ("fifo", lambda p: os.mkfifo(p) or p, "a named pipe (FIFO), not a trace folder"),
    ("socket", a_socket, "a socket, not a trace folder"),
    ("device", lambda p: Path("/dev/zero"), "a character device, not a trace folder"),
])
def test_a_trace_path_that_is_not_a_folder_is_one_line(env, tmp_path, what, make, cause):
    path = make(tmp_path / what)
    proc = corr("inspect", path, env=env)
    assert one_line_error(proc) == f"corr: {path}: {cause}"


@pytest.mark.parametrize("name", ["metadata", "k_1", "index/k_0.idx"])
def test_a_fifo_inside_a_trace_folder_is_refused_before_decoding(env, tmp_path, name):
    folder = copy_of_kernel_trace(tmp_path / "trace")
    (folder / name).unlink()
    os.mkfifo(folder / name)
    proc = corr("run", OFFCPU, folder, env=env)
    assert one_line_error(proc) == (f"corr: {folder / name}: a named pipe (FIFO): a trace "
                                    f"folder holds regular files only")


def test_proc_self_as_a_trace_ends_in_one_line(env):
    proc = corr("inspect", "/proc/self", env=env)
    assert one_line_error(proc) == ("corr: /proc/self: more than 10,000 folders below it "
                                    "(searching stopped; give the trace folders themselves)")


def test_a_folder_of_links_to_trace_folders_is_searched_through_them(env, tmp_path):
    links = tmp_path / "traces"
    links.mkdir()
    (links / "kernel").symlink_to(trace() / "kernel")
    (links / "loop").symlink_to(links)                     # searched once, not forever
    (links / "up").symlink_to(tmp_path)
    linked = corr("run", OFFCPU, links, "--format", "json", env=env)
    direct = corr("run", OFFCPU, trace() / "kernel", "--format", "json", env=env)
    assert linked.returncode == 0, linked.stderr
    assert direct.returncode == 0, direct.stderr
    strip = lambda text: [line for line in text.splitlines() if "path" not in line]  # noqa: E731
    assert strip(linked.stdout) == strip(direct.stdout)


def test_a_trace_path_that_is_not_utf8_is_one_line_a_link_to_it_works(env, tmp_path):
    folder = copy_of_kernel_trace(tmp_path / "trace")
    odd = os.fsencode(tmp_path) + b"/tr" + NOT_UTF8
    os.rename(folder, odd)
    proc = corr("inspect", odd, env=env)
    assert one_line_error(proc) == (
        f"corr: {tmp_path}/tr\\xff: not a UTF-8 path (babeltrace2 opens UTF-8 paths only): "
        f"rename it, or give a symbolic link to it with a UTF-8 name")
    os.symlink(odd, tmp_path / "link")
    assert corr("inspect", tmp_path / "link", env=env).returncode == 0


# -- rule files -------------------------------------------------------------------------

def test_a_rule_file_fifo_nobody_writes_to_is_one_line(env, tmp_path):
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)
    proc = corr("check", fifo, env=env)
    assert one_line_error(proc) == f"corr: {fifo}: a named pipe (FIFO) that nobody writes to " \
                                   f"(waited 10 s)"


def test_a_rule_file_from_a_pipe_with_a_writer_is_read(env, tmp_path):
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(OFFCPU.read_bytes()), daemon=True)
    writer.start()
    proc = corr("check", fifo, env=env)
    writer.join(timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"{fifo}: 1 rule(s) ok"


@pytest.mark.parametrize("path, cause", [
    ("/dev/zero", "a character device, not a rule file"),
    ("/proc/self", "cannot read: is a directory"),
])
def test_a_rule_file_that_is_not_a_file_is_one_line(env, path, cause):
    assert one_line_error(corr("check", path, env=env)) == f"corr: {path}: {cause}"


def test_a_proc_file_as_rules_is_read_and_refused_as_yaml(env):
    line = one_line_error(corr("check", "/proc/self/status", env=env))
    assert line.startswith("corr: /proc/self/status:1:")


def test_a_rule_file_over_the_bound_is_one_line(env, tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(MAX_BYTES + 1)                       # sparse: no disk used
    assert one_line_error(corr("check", big, env=env)) == (
        f"corr: {big}: longer than {MAX_BYTES:,} bytes: too large for a rule file")


def test_a_rule_file_path_that_is_not_utf8_works(env, tmp_path):
    odd = os.fsencode(tmp_path) + b"/rules" + NOT_UTF8 + b".yaml"
    with open(odd, "wb") as f:
        f.write(OFFCPU.read_bytes())
    proc = corr("check", odd, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{tmp_path}/rules\\xff.yaml: 1 rule(s) ok"
    assert lines[-1].startswith(f"record it with: corr record '{tmp_path}/rules\\xff.yaml' --")


def test_an_o_path_that_is_not_utf8_works(env, tmp_path):
    odd = os.fsencode(tmp_path) + b"/out" + NOT_UTF8 + b".json"
    proc = corr("run", OFFCPU, trace(), "-o", odd, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == f"wrote {tmp_path}/out\\xff.json (JSON)\n"
    with open(odd, "rb") as f:
        assert f.read(1) == b"{"


# -- option values ----------------------------------------------------------------------

@pytest.mark.parametrize("option, message", [
    (["--clock-offset", "TRACE=9223372036854775807"],
     "--clock-offset 'TRACE=9223372036854775807': out of range (at most "
     "±4,611,686,018,427,387,904 ns, 146 years)"),
    (["--clock-offset", "TRACE=-4611686018427387905"],
     "--clock-offset 'TRACE=-4611686018427387905': out of range (at most "
     "±4,611,686,018,427,387,904 ns, 146 years)"),
    (["--clock-offset", "/nonexistent=5"],
     "--clock-offset '/nonexistent=5': /nonexistent: no such file or directory"),
    (["--clock-offset", "TRACE=5s"], "--clock-offset 'TRACE=5s': '5s' is not a whole number of ns"),
    (["--top", "-1"], "--top -1: must be 0 or more"),
    (["--blame-limit", "-1"], "--blame-limit -1: must be 0 or more"),
    (["--top", "99999999999999999999999"], "--top 99999999999999999999999: at most 1,000,000,000"),
    (["--blame-limit", "99999999999999999999999"],
     "--blame-limit 99999999999999999999999: at most 1,000,000,000"),
    (["--pid", "99999999999999999999"], "not a pid"),
    (["--cache-size", "-5"], "is not a size"),
])
def test_run_option_values_out_of_range_are_one_line(env, option, message):
    option = [o.replace("TRACE", str(trace())) for o in option]
    proc = corr("run", OFFCPU, trace(), *option, env=env)
    assert message.replace("TRACE", str(trace())) in one_line_error(proc)


@pytest.mark.parametrize("option, message", [
    (["--groups", "-1"], "--groups -1: must be 0 or more"),
    (["--groups", "99999999999999999999999"], "--groups 99999999999999999999999: at most "
                                              "1,000,000,000"),
    (["--clock-offset", "TRACE=9223372036854775807"], "out of range"),
])
def test_tune_option_values_out_of_range_are_one_line(env, option, message):
    option = [o.replace("TRACE", str(trace())) for o in option]
    assert message in one_line_error(corr("tune", OFFCPU, trace(), *option, env=env))


def test_inspect_clock_offset_out_of_range_is_one_line(env):
    proc = corr("inspect", trace(), "--clock-offset", f"{trace()}=9223372036854775807", env=env)
    assert "out of range" in one_line_error(proc)


def test_trace_files_list_what_os_walk_listed():
    """The decode cache's identity of a trace (its files) is the same as when the
    search was os.walk's: cached entries stay valid."""
    from corr.reading.sources import discover, trace_files

    def walked(path):
        out = []
        for root, dirs, files in os.walk(path, followlinks=True):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                st = os.stat(full)
                out.append([os.path.relpath(full, path), st.st_size, st.st_mtime_ns])
        return out

    folders = [t.path for t in discover([shared_trace(name) for name in (
        "wget-k-20180802-115043", "php-u-20180813-150550", "hello-lost")])]
    assert len(folders) == 3
    for folder in folders:
        assert trace_files(folder) == walked(folder)


def test_a_trace_file_linked_to_proc_is_refused_before_decoding(env, tmp_path):
    folder = copy_of_kernel_trace(tmp_path / "trace")
    (folder / "k_1").unlink()
    (folder / "k_1").symlink_to("/proc/kmsg")             # regular to stat, blocks to read
    proc = corr("run", OFFCPU, folder, env=env)
    assert one_line_error(proc) == (f"corr: {folder / 'k_1'}: a file of /proc or /sys (read, "
                                    f"it may wait or never end), not a trace file")
