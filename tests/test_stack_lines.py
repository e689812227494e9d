"""Source lines of code stacks' user frames (docs/stacks.md, *Source lines*).

A small C program is compiled here with ``-g``; its ``g()`` prints its own
return address (``__builtin_return_address``), an address inside ``f()``
just after the call to ``g()``.  The line corr gives that frame must be the
line of the call, found in the source by its marker comment; the address
itself belongs to the next statement's line (what looking up the address
before it avoids).  The program's maps are given as the lines ``perf script
--show-mmap-events --show-task-events`` prints (its executable segment as
``readelf`` reads it), so no recording is needed; tests/test_stacks_recording.py
holds the same to a real ``perf record``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from corr import api
from corr.analyses import perf_maps
from corr.analyses.perf_maps import PerfMaps, source_lines
from corr.testing.scenario import Scenario

from test_stacks import CALLSTACKS, _folded, _json_rule, _rules

PID, TID = 100, 101
SAMPLE_NS = 10                     # the sample's time; the maps are older

PROGRAM = r"""
#include <stdio.h>

volatile int after;

__attribute__((noinline)) void g(void)
{
    printf("%p\n", __builtin_return_address(0));
}

__attribute__((noinline)) void f(void)
{
    g();                    /* MARK: the call */
    after = 1;              /* MARK: after the call */
}

int main(void)
{
    f();
    return 0;
}
"""


def _need_tools() -> None:
    if not all(shutil.which(t) for t in ("gcc", "readelf", "nm", "addr2line", "objcopy")):
        if os.environ.get("CI"):
            pytest.fail("gcc and binutils are installed in CI")
        pytest.skip("gcc or binutils missing")


def line_of(source: str, marker: str) -> int:
    """The number of the line of ``source`` holding ``/* MARK: marker */``."""
    (found,) = [n for n, line in enumerate(source.splitlines(), 1)
                if f"/* MARK: {marker} */" in line]
    return found


class Program:
    """The program built here (at fixed addresses: ``-no-pie``) and what it printed."""

    def __init__(self, folder: Path, source: str, name: str = "prog.c"):
        self.source = source
        self.path = folder / name
        self.path.write_text(source)
        self.binary = folder / "prog"
        subprocess.run(["gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-no-pie", "-fno-pie",
                        "-o", str(self.binary), str(self.path)], check=True, capture_output=True)
        printed = subprocess.run([str(self.binary)], check=True, capture_output=True, text=True)
        self.returns_to = int(printed.stdout.split()[0], 16)     # an address in f()
        self.f = _symbol(self.binary, "f")

    def side_band(self, binary: Path | None = None) -> list[str]:
        """The process's fork and its executable mapping of ``binary``, as perf script
        prints them: the segment readelf lists, at the page it starts in."""
        binary = binary or self.binary
        offset, vaddr, size = _executable_segment(binary)
        start, page_offset = vaddr & ~0xFFF, offset & ~0xFFF
        return [f"{PID}/{PID} 0.000000001: PERF_RECORD_FORK({PID}:{TID}):({PID}:{PID})",
                f"{PID}/{PID} 0.000000002: PERF_RECORD_MMAP2 {PID}/{PID}: "
                f"[{start:#x}({vaddr + size - start:#x}) @ {page_offset:#x} 08:01 1 0]: "
                f"r-xp {binary}"]

    def frame(self, binary: Path | None = None) -> str:
        return f"f+{self.returns_to - self.f:#x} ({binary or self.binary})"


def _symbol(binary: Path, name: str) -> int:
    for line in subprocess.run(["nm", str(binary)], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        parts = line.split()
        if parts[-1] == name:
            return int(parts[0], 16)
    raise AssertionError(f"{name} not in {binary}")


def _executable_segment(binary: Path) -> tuple[int, int, int]:
    """(file offset, virtual address, size) of the executable PT_LOAD, by readelf."""
    text = subprocess.run(["readelf", "-lW", str(binary)], capture_output=True, text=True,
                          check=True).stdout
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["LOAD"] and "E" in parts[6:-1]:
            return int(parts[1], 16), int(parts[2], 16), int(parts[5], 16)
    raise AssertionError(text)


def addr2line(binary: Path, address: int) -> str:
    """binutils' own answer for one address, one process: ``file:line`` as perf prints
    a srcline (the base name, no discriminator)."""
    out = subprocess.run(["addr2line", "-e", str(binary), f"{address:#x}"], check=True,
                         capture_output=True, text=True).stdout.strip()
    out = re.sub(r" \(discriminator \d+\)$", "", out)
    return os.path.basename(out)


@pytest.fixture
def program(tmp_path) -> Program:
    _need_tools()
    return Program(tmp_path, PROGRAM)


def _maps(lines) -> PerfMaps:
    maps = PerfMaps()
    maps.read(lines)
    return maps


def test_a_return_address_has_the_line_of_its_call(program):
    maps = _maps(program.side_band())
    found = maps.locate(PID, program.returns_to, SAMPLE_NS)
    assert maps.name(found) == program.frame()
    call = line_of(program.source, "the call")
    assert maps.lines([found]) == {found: f"prog.c:{call}"}
    # The return address itself is the next statement's: the line the call is not on.
    assert addr2line(program.binary, program.returns_to) == \
        f"prog.c:{line_of(program.source, 'after the call')}"


def test_lines_are_addr2lines_of_the_address_before(program):
    """Every instruction of the program's functions taken as a return address: corr's
    line (one addr2line for them all) is addr2line's of the address before, asked one
    at a time; an address no line covers has none."""
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(program.binary)],
                          capture_output=True, text=True, check=True).stdout
    body = text[text.index("<g>:"):text.index("\n\n", text.index("<main>:"))]
    addresses = [int(a, 16) for a in re.findall(r"^\s+([0-9a-f]+):", body, re.M)]
    maps = _maps(program.side_band())
    found = {a: maps.locate(PID, a, SAMPLE_NS) for a in addresses}
    lines = maps.lines(found.values())
    expected = {a: addr2line(program.binary, a - 1) for a in addresses}
    assert len(addresses) > 20
    # addr2line's "??:0", "crtstuff.c:?": no line known.
    assert {a: lines.get(where) for a, where in found.items()} == {
        a: (e if re.search(r"^[^?].*:[1-9][0-9]*$", e) else None) for a, e in expected.items()}
    assert source_lines(str(program.binary), addresses[:3]) == {
        a: addr2line(program.binary, a) for a in addresses[:3]}


def test_without_debug_info_frames_are_as_before_without_a_line(program, tmp_path):
    stripped = tmp_path / "stripped"
    subprocess.run(["objcopy", "--strip-debug", str(program.binary), str(stripped)], check=True)
    maps = _maps(program.side_band(stripped))
    found = maps.locate(PID, program.returns_to, SAMPLE_NS)
    assert maps.name(found) == program.frame(stripped)
    assert maps.lines([found]) == {}


def test_without_addr2line_frames_have_no_line(program, monkeypatch):
    which = shutil.which
    monkeypatch.setattr(perf_maps.shutil, "which",
                        lambda name: None if name == "addr2line" else which(name))
    maps = _maps(program.side_band())
    found = maps.locate(PID, program.returns_to, SAMPLE_NS)
    assert maps.name(found) == program.frame()
    assert maps.lines([found]) == {}


# -- a run: where the line shows ------------------------------------------------------

def _run(tmp_path, program: Program, monkeypatch, binary: Path | None = None,
         rules: Path | None = None, reads: list | None = None):
    """A run over a scenario whose thread blocks with the program's return address as
    its one user frame, the program's maps standing for the perf.data beside it
    (each read of them appended to ``reads``)."""
    s = Scenario(cpus=1, kernel_context=CALLSTACKS)
    a = s.thread(tid=TID, pid=PID, comm="waiter")
    s.run(cpu=0, thread=a, at=0)
    s.stack(a, at=SAMPLE_NS, kernel=(), user=(program.returns_to,))
    s.block(a, at=1_000, state="S")
    s.wakeup(a, cpu=0, at=2_000_000)
    s.run(cpu=0, thread=a, at=2_001_000)
    s.write(tmp_path / "rec" / "kernel")
    (tmp_path / "rec" / "perf.data").write_bytes(b"")      # what the side band stands for
    lines = program.side_band(binary)
    reads = [] if reads is None else reads
    monkeypatch.setattr(perf_maps, "read_perf_maps",
                        lambda data, started=None: reads.append(data) or _maps(lines))
    return api.run(rules or _rules(tmp_path), [tmp_path / "rec" / "kernel"], cache=False)


def _text(result) -> list[str]:
    out = io.StringIO()
    api.write(result, "text", stream=out)
    return [line.rstrip() for line in out.getvalue().splitlines()]


def _titles(result, tmp_path) -> list[str]:
    from bs4 import BeautifulSoup
    path = tmp_path / "report.html"
    api.write(result, str(path))
    page = BeautifulSoup(path.read_text(), "html.parser")
    return [t.get_text() for t in page.select_one("figure.flame svg").find_all("title")]


def test_the_line_shows_in_json_text_and_html_not_in_folded(program, tmp_path, monkeypatch):
    result = _run(tmp_path, program, monkeypatch)
    frame, line = program.frame(), f"prog.c:{line_of(program.source, 'the call')}"
    assert _json_rule(result)["intervals"][0]["stack"] == {
        "kernel": [], "user": [frame], "user_lines": [line]}
    text = _text(result)
    at = text.index("    blocked in")
    assert text[at + 1] == f"      {frame} {line}"
    assert _titles(result, tmp_path) == ["waiter (101): 2.000 ms (100.0%)",
                                         f"{frame} {line}: 2.000 ms (100.0%)"]
    assert _folded(result) == [f"offcpu;waiter (101);{frame} 2000000"]


def test_a_run_without_debug_info_is_as_before(program, tmp_path, monkeypatch):
    stripped = tmp_path / "stripped"
    subprocess.run(["objcopy", "--strip-debug", str(program.binary), str(stripped)], check=True)
    result = _run(tmp_path, program, monkeypatch, stripped)
    frame = program.frame(stripped)
    assert _json_rule(result)["intervals"][0]["stack"] == {"kernel": [], "user": [frame]}
    text = _text(result)
    assert text[text.index("    blocked in") + 1] == f"      {frame}"
    assert _folded(result) == [f"offcpu;waiter (101);{frame} 2000000"]


def test_two_rules_with_stacks_read_the_maps_once(program, tmp_path, monkeypatch):
    text = _rules(tmp_path).read_text()
    rule = text[text.index("  - name: offcpu"):]
    rules = tmp_path / "two.yaml"
    rules.write_text(text + rule.replace("name: offcpu", "name: offcpu2"))
    reads: list = []
    result = _run(tmp_path, program, monkeypatch, rules=rules, reads=reads)
    assert len(reads) == 1
    line = f"prog.c:{line_of(program.source, 'the call')}"
    out = io.StringIO()
    api.write(result, "json", stream=out)
    for rule in json.loads(out.getvalue())["rules"]:
        assert rule["intervals"][0]["stack"]["user_lines"] == [line]
        assert [s for s in rule["blame"]["stack_sources"] if s.startswith("perf.data")] == [
            f"perf.data maps of {tmp_path / 'rec' / 'perf.data'}"]


def test_an_error_looking_up_lines_is_raised_where_they_are_read(program, tmp_path,
                                                                 monkeypatch):
    """Lines are looked up in a thread while the output starts: what fails there is
    raised where a frame's line is first read, not lost or printed by the thread."""
    def broken(self, found):
        raise RuntimeError("addr2line failed its way")
    monkeypatch.setattr(perf_maps.PerfMaps, "lines", broken)
    result = _run(tmp_path, program, monkeypatch)
    with pytest.raises(RuntimeError, match="addr2line failed its way"):
        _json_rule(result)
    with pytest.raises(RuntimeError, match="addr2line failed its way"):   # not lines lost
        _json_rule(result)


HOSTILE = "<b>x\x1b[2J;&.c"       # a source file's name is anyone's: #line sets it


def test_a_hostile_source_file_name_is_escaped_per_output(tmp_path, monkeypatch):
    _need_tools()
    source = PROGRAM.replace("    g();                    /* MARK: the call */",
                             '#line 42 "<b>x\\x1b[2J;&.c"\n    g();')
    program = Program(tmp_path, source)
    result = _run(tmp_path, program, monkeypatch)
    frame = program.frame()
    assert _json_rule(result)["intervals"][0]["stack"]["user_lines"] == [f"{HOSTILE}:42"]
    text = _text(result)
    assert text[text.index("    blocked in") + 1] == f"      {frame} <b>x\\x1b[2J;&.c:42"
    assert f"{frame} <b>x\\x1b[2J;&.c:42: 2.000 ms (100.0%)" in _titles(result, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "<b>x" not in html and "\x1b" not in html
    assert _folded(result) == [f"offcpu;waiter (101);{frame} 2000000"]
