"""Traces whose thread names are attacks on the outputs, written with the scenario writer.

The scenario writer refuses a ``comm`` over 15 bytes (Linux's TASK_COMM_LEN), but
perf's and other tracers' names are not bounded and the issue's name is 31
bytes: :class:`_AnyComm` skips that one check.  The hostile thread sleeps 4 ms (over offcpu.yaml's 1 ms threshold) and is woken
by a worker, so its name reaches the slowest-interval tables, the blame graph
and every export.  The scenario writer takes Python strings and writes UTF-8:
invalid UTF-8 is made by writing a placeholder of the same length, then
replacing its bytes in the stream files (CTF strings carry no checksum).
"""

from __future__ import annotations

from pathlib import Path

# Same length as BAD_UTF8: the placeholder is swapped for it in the stream files.
PLACEHOLDER = "Zq8BADUTF8Zq8"
BAD_UTF8 = b"b\xffa\xfed\xc3(\xed\xa0\x80\xf8!!"
assert len(PLACEHOLDER.encode()) == len(BAD_UTF8)

NAMES = {
    "escape_formula": "\x1b[2J<script>=cmd|' /C calc'!A0",
    "osc_title": "\x1b]0;pwned\x07x\x1b[31mred",
    "newline": "top\nNLSPLIT\r\nrow",
    "invalid_utf8": PLACEHOLDER,
    "rtl_override": "evil\u202egnp.exe",
    "csv_plus": "+cmd|' /C calc'!A0",
    "csv_minus": "-2+3+cmd|' /C calc'!A0",
    "csv_at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "xml_controls": "a\x01b\x0bc\x1fd&<e>\"'",
    "rich_markup": "[bold red]x[/][link=file:///etc/passwd]y[/link]",
    "dot_quotes": 'a"b\\"c;d}{e -> f',
}
BASES = sorted(NAMES)


def hostile_name(base: str) -> str:
    return NAMES[base]


def write(recipe, trace: Path) -> dict:
    """Write the recipe's trace (``recipe.base`` names the hostile string); its params."""
    name = NAMES[recipe.base]
    from corr.testing.scenario import Scenario
    # comm_bytes: the names are longer than the kernel's 15 bytes.
    s = Scenario(cpus=2, kernel_context=("tid",), comm_bytes=64)
    victim = s.thread(tid=101, pid=101, comm=name)
    worker = s.thread(tid=102, pid=102, comm="worker")
    s.run(cpu=0, thread=victim, at=0)
    s.run(cpu=1, thread=worker, at=0)
    s.block(victim, at=1_000, state="S")
    s.wakeup(victim, by=worker, at=4_001_000, target_cpu=0)
    s.run(cpu=0, thread=victim, at=4_002_000)
    s.block(worker, at=4_500_000, state="D")
    s.wakeup(worker, by=victim, at=6_600_000, target_cpu=1)
    s.run(cpu=1, thread=worker, at=6_700_000)
    s.write(trace, end=7_000_000)
    if name == PLACEHOLDER:
        for path in trace.rglob("*"):
            if path.is_file() and path.name != "metadata":
                data = path.read_bytes()
                path.write_bytes(data.replace(PLACEHOLDER.encode(), BAD_UTF8))
    return {"comm": name}
