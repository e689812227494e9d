"""Bad input ends in one `corr: ...` line naming the path and cause, exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import one_line_error, run_corr, shared_trace


def _copy(name, tmp_path):
    dst = tmp_path / name
    shutil.copytree(shared_trace(name), dst)
    for root, dirs, files in os.walk(dst):
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
        os.chmod(root, 0o755)
    return dst



def test_missing_path(tmp_path):
    p = tmp_path / "nope"
    one_line_error(run_corr("inspect", p), str(p), "no such file or directory")


def test_folder_without_trace(tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(run_corr("inspect", tmp_path / "empty"), "empty", "no CTF trace found")


def test_file_that_is_not_a_trace(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    one_line_error(run_corr("inspect", p), "notes.txt", "not a CTF trace")


def test_metadata_that_does_not_parse_names_the_line(tmp_path):
    trace = _copy("flipping-endianness", tmp_path)
    # The recorded metadata is packetized: rewrite it as the plain TSDL text.
    text = subprocess.run(["babeltrace2", "--output-format=ctf-metadata", str(trace)],
                          capture_output=True, text=True, check=True).stdout
    lines = ["/* CTF 1.8 */"] + text.splitlines()
    (trace / "metadata").write_text("\n".join(lines) + "\n")
    assert run_corr("inspect", trace).returncode == 0      # the plain text is fine
    bad_line = next(i for i, line in enumerate(lines, 1) if '"sched_switch";' in line)
    lines[bad_line - 1] = lines[bad_line - 1].replace('"sched_switch";', '"sched_switch"')
    (trace / "metadata").write_text("\n".join(lines) + "\n")
    line = one_line_error(run_corr("inspect", trace), "metadata", "does not parse")
    # The parser reports the line where it gave up: at or after the damage.
    reported = int(line.split("metadata:")[1].split(":")[0])
    assert reported >= bad_line


def test_plain_metadata_without_signature(tmp_path):
    trace = _copy("flipping-endianness", tmp_path)
    text = subprocess.run(["babeltrace2", "--output-format=ctf-metadata", str(trace)],
                          capture_output=True, text=True, check=True).stdout
    (trace / "metadata").write_text(text)
    one_line_error(run_corr("inspect", trace), "metadata", "/* CTF 1.8 */")


def test_garbage_metadata(tmp_path):
    d = tmp_path / "garbage"
    d.mkdir()
    (d / "metadata").write_text("this is not TSDL\n")
    (d / "stream_0").write_bytes(b"\0" * 64)
    one_line_error(run_corr("inspect", d), "garbage/metadata", "/* CTF 1.8 */")


def test_truncated_stream(tmp_path):
    trace = _copy("wget-k-20180802-115043", tmp_path) / "kernel"
    shutil.rmtree(trace / "index")
    with open(trace / "k_0", "r+b") as f:
        f.truncate(100_000)
    one_line_error(run_corr("inspect", trace), str(trace), "k_0", "truncated or corrupt")


def test_corrupt_stream_bytes(tmp_path):
    trace = _copy("wget-k-20180802-115043", tmp_path) / "kernel"
    shutil.rmtree(trace / "index")
    with open(trace / "k_1", "r+b") as f:
        f.seek(50_000)
        f.write(bytes(range(256)) * 8)
    one_line_error(run_corr("inspect", trace), str(trace), "corrupt")


def test_trace_without_streams(tmp_path):
    trace = _copy("flipping-endianness", tmp_path)
    for f in trace.iterdir():
        if f.name != "metadata":
            f.unlink()
    one_line_error(run_corr("inspect", trace), "no stream files")


@pytest.mark.parametrize("value", ["nonsense", "=5", "x=abc"])
def test_bad_clock_offset_option(value):
    one_line_error(run_corr("inspect", "--clock-offset", value, "."), "--clock-offset")


def test_unknown_option():
    one_line_error(run_corr("inspect", "--frobnicate", "."), "--frobnicate")
