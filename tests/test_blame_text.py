"""The text of one slow interval: its breakdown (largest parts, the rest summed) and
its critical path, exactly as printed."""

from __future__ import annotations

import io

from rich.console import Console

from corr.render.blame_text import PART_ROWS, PATH_ROWS, render_interval

MS = 1_000_000


def _interval(parts: int, segments: int) -> dict:
    # Parts of 20, 19, ... ms: they sum to the duration.
    sizes = [(20 - i) * MS for i in range(parts)]
    return {
        "start_ns": 5 * MS, "duration_ns": sum(sizes), "blamed_tid": 42, "blamed_comm": "app",
        "breakdown": [{"kind": "preempted", "by": f"t{i} ({100 + i})", "ns": ns}
                      for i, ns in enumerate(sizes)],
        "critical_path": [{"tid": 42, "comm": "app", "state": "RUNNING",
                           "start_ns": 5 * MS + k * MS, "end_ns": 5 * MS + (k + 1) * MS}
                          for k in range(segments)],
    }


def _printed(iv: dict, terminal: bool = False) -> str:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=terminal,
                      color_system="standard" if terminal else None,
                      highlight=False)
    render_interval(iv, 0, console)
    return out.getvalue()


def test_a_long_breakdown_shows_its_largest_parts_and_sums_the_rest():
    iv = _interval(parts=PART_ROWS + 3, segments=2)
    lines = _printed(iv).splitlines()
    total = iv["duration_ns"]                   # 20 + 19 + ... + 6 ms = 195 ms
    assert total == 195 * MS
    assert lines[0] == "  +0.005000 s  195.000 ms  app (42)"
    assert lines[1] == f"    {100 * 20 / 195:5.1f}%   20.000 ms  preempted by t0 (100)"
    assert lines[PART_ROWS] == f"    {100 * 9 / 195:5.1f}%    9.000 ms  preempted by t11 (111)"
    # The three smallest (8, 7 and 6 ms) in one line.
    assert lines[PART_ROWS + 1] == f"    {100 * 21 / 195:5.1f}%   21.000 ms  3 more parts (--format json)"
    assert lines[PART_ROWS + 2].strip() == "critical path"


def test_a_short_breakdown_is_shown_whole_and_a_long_path_is_cut():
    iv = _interval(parts=2, segments=PATH_ROWS + 8)
    lines = _printed(iv).splitlines()
    assert lines[1:3] == [f"    {100 * 20 / 39:5.1f}%   20.000 ms  preempted by t0 (100)",
                          f"    {100 * 19 / 39:5.1f}%   19.000 ms  preempted by t1 (101)"]
    assert "more parts" not in "".join(lines)
    rows = lines[5:5 + PATH_ROWS]               # after the title and the header
    assert rows[0].split() == ["+0.000", "ms", "1.000", "ms", "RUNNING", "app", "(42)"]
    assert rows[-1].split()[0] == f"+{PATH_ROWS - 1}.000"
    assert lines[5 + PATH_ROWS].strip() == "... 8 more segments (--format json)"


def test_only_the_heading_line_is_bold():
    lines = _printed(_interval(parts=PART_ROWS + 1, segments=1), terminal=True).splitlines()
    bold = "\x1b[1m"
    assert lines[0].startswith(bold)
    assert not any(bold in line for line in lines[1:PART_ROWS + 2])
    assert "\x1b[2m" in lines[PART_ROWS + 1]    # the summed rest, dim
