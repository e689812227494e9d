"""Strings from a trace are escaped in every output (corr.render.escape).

A trace written by the scenario writer names its threads like an attack:
an escape sequence that clears the screen, HTML, a spreadsheet formula,
bytes that are not UTF-8, a newline, a right-to-left override, rich markup,
``;`` and a trailing number (folded stacks' separators); a UST string field
retitles the terminal.  Every format ``corr run`` writes shows them exactly
as said below, in-process and served alike.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pyarrow.parquet as pq
import pytest
from bs4 import BeautifulSoup

from corr.render import escape, formats
from corr.testing import Scenario

# -- the escaping functions, value by value -------------------------------------------------------


@pytest.mark.parametrize("raw, shown", [
    ("plain name", "plain name"),
    ("\x1b[2J", "\\x1b[2J"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    ("a\nb\rc\td", "a\\nb\\rc\\td"),
    ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),
    ("abc\u202edef\u2066\u200b\u2028\ufeff", "abc\\u202edef\\u2066\\u200b\\u2028\\ufeff"),
    ("bad\udcff\udc80", "bad\\xff\\x80"),            # bytes that were not UTF-8
    ("[bold]x[/] é 日本 \\x1b", "[bold]x[/] é 日本 \\x1b"),   # markup, text, a backslash: as is
    (42, "42"),
])
def test_terminal(raw, shown):
    assert escape.terminal(raw) == shown


@pytest.mark.parametrize("raw, cell", [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("a=b", "a=b"), ("", ""), (" =1", " =1"),
    ("bad\udcff", "bad\\xff"),
    (-21, -21), (1.5, 1.5), (None, None), (True, True),    # numbers stay numbers
])
def test_csv_cell(raw, cell):
    assert escape.csv_cell(raw) == cell


def test_xml_keeps_what_xml_allows():
    assert escape.xml("a\x00b\x1bc\td\ne\rf\ufffeg\udcffh\u202e") == (
        "a\\x00b\\x1bc\td\ne\rf\\ufffeg\\xffh\u202e")
    assert escape.xml(7) == 7


def test_dot_quoted():
    assert escape.dot_quoted('a"b\\c\nd\x1b') == '"a\\"b\\\\c\\\\nd\\\\x1b"'


def test_folded_frame():
    assert escape.folded_frame("a;b\nc 12 ") == "a\\x3bb\\nc 12"
    assert escape.folded_frame("") == "?"


def test_undecoded():
    assert escape.undecoded("ab\udcffc\ud800") == "ab\\xffc\\ud800"
    assert escape.undecoded("é") == "é"


# -- a hostile trace through every format -------------------------------------------------------

SCREEN = "\x1b[2J<script>=cmd|' /C calc'!A0"              # tid 101
# tid 102: written with "ÿ" (c3 bf), whose two bytes then become ff fe (not UTF-8).
BYTES_WRITTEN = "b\u00ffd\nx\u202e[bold]x[/];y 12"
BYTES = "b\\xff\\xfed\nx\u202e[bold]x[/];y 12"           # as corr decodes it
FORMULA = "=cmd|' /C calc'!A0"                            # tid 103, priority -21
TITLE = "@SUM(1+1)*cmd|' /C calc'!A0\x1b]0;pwned\x07"     # a UST string field
HOST = "h\x1b[31m[bold]é\u202e"                          # the trace's hostname

SCREEN_SHOWN = "\\x1b[2J<script>=cmd|' /C calc'!A0"
BYTES_SHOWN = "b\\xff\\xfed\\nx\\u202e[bold]x[/];y 12"
TITLE_SHOWN = "@SUM(1+1)*cmd|' /C calc'!A0\\x1b]0;pwned\\x07"
COMMS = {101: SCREEN, 102: BYTES, 103: FORMULA}

RULES = """\
version: 1
rules:
  - name: offcpu
    entry:
      event: sched_switch
      key: {tid: prev_tid}
      where: prev_tid != 0 and prev_state % 256 != 0
      fields: [prev_comm, prev_prio]
    exit:
      event: sched_switch
      key: {tid: next_tid}
    group_by: [entry.prev_comm]
    threshold: 1us
    blame: entry
  - name: request
    entry: {event: "app:begin", key: [vtid], fields: [name]}
    exit: {event: "app:end", key: [vtid]}
    group_by: [entry.name]
    threshold: 1ns
"""


def hostile_scenario() -> Scenario:
    """101 waits on 102, which waits on the disk; 103 waits on 102 too."""
    s = Scenario(cpus=3, comm_bytes=64, hostname=HOST)
    a = s.thread(tid=101, pid=101, comm=SCREEN)
    b = s.thread(tid=102, pid=102, comm=BYTES_WRITTEN)
    c = s.thread(tid=103, pid=103, comm=FORMULA, prio=-21)
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=b, at=0)
    s.run(cpu=2, thread=c, at=0)
    s.ust(a, "app:begin", at=200, name=TITLE)
    s.ust(a, "app:end", at=900, name=TITLE)
    s.block(a, at=1_000, state="S")
    s.block(c, at=1_500, state="S")
    s.block(b, at=2_000, state="D")
    s.wakeup(b, by=s.softirq(cpu=1, vec="BLOCK", at=5_000, until=5_500), at=5_200)
    s.run(cpu=1, thread=b, at=6_000)
    s.wakeup(a, by=b, at=7_000)
    s.wakeup(c, by=b, at=7_500)
    s.run(cpu=0, thread=a, at=8_000)
    s.run(cpu=2, thread=c, at=8_500)
    return s


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(rules, trace): the scenario's trace, its "ÿ" bytes made invalid UTF-8."""
    tmp = tmp_path_factory.mktemp("hostile")
    trace = tmp / "trace"
    hostile_scenario().write(trace, end=10_000)
    written = BYTES_WRITTEN.encode()[:3]
    patched = 0
    for f in trace.rglob("*"):
        if f.is_file() and f.name != "metadata" and written in f.read_bytes():
            f.write_bytes(f.read_bytes().replace(written, b"b\xff\xfe"))
            patched += 1
    assert patched == 1
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    return rules, trace


CORR = str(Path(sys.executable).parent / "corr")


def modes(served_env) -> dict[str, dict]:
    return {"in-process": {**os.environ, "CORR_SERVER": "off"}, "served": served_env}


def corr(env, *args) -> subprocess.CompletedProcess:
    """A command's bytes (stdout as written: no decoding on the way)."""
    proc = subprocess.run([CORR, *map(str, args)], capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stderr == b"" or re.fullmatch(rb"wrote \S+ \([^\n]*\)\n", proc.stderr), proc.stderr
    return proc


# Characters that never reach a terminal raw (escape._TERMINAL, newline aside).
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e"
                 "\u2060-\u2069\ufeff\ufff9-\ufffb]")


def terminal_text(stdout: bytes) -> str:
    """stdout as UTF-8 with nothing a terminal would act on."""
    text = stdout.decode("utf-8")                       # strict: no raw invalid bytes
    assert not RAW.findall(text), sorted(set(RAW.findall(text)))
    return text


def outputs(hostile, env, tmp_path) -> dict[str, bytes]:
    """Every format of ``corr run --help``: stdout, or the file a FILE_ONLY one writes."""
    rules, trace = hostile
    written = {}
    for fmt in formats.names():
        if formats.module(fmt).FILE_ONLY:
            path = tmp_path / f"out{formats.extensions_of(fmt)[0]}"
            corr(env, "run", "--no-cache", rules, trace, "--format", fmt, "-o", path)
            written[fmt] = path.read_bytes()
        else:
            written[fmt] = corr(env, "run", "--no-cache", rules, trace, "--format", fmt).stdout
    return written


@pytest.fixture(scope="module")
def every_output(hostile, served_env, tmp_path_factory):
    """{mode: {format: bytes}}, in-process and served."""
    return {mode: outputs(hostile, env, tmp_path_factory.mktemp(mode))
            for mode, env in modes(served_env).items()}


def test_every_format_is_covered(every_output):
    assert set(every_output["in-process"]) == set(formats.names()) == {
        "text", "json", "jsonl", "csv", "parquet", "folded", "dot", "graphml", "chrome", "html"}


@pytest.mark.parametrize("fmt", formats.names())
def test_served_writes_what_in_process_writes(every_output, fmt):
    assert every_output["served"][fmt] == every_output["in-process"][fmt]


def test_text(every_output):
    lines = terminal_text(every_output["in-process"]["text"]).splitlines()
    stats = "│     1 │ {0} │  {0} │ {0} │ {0} │ {0} │ {0} │     - │     1"
    # Each group one row (no newline splits it), markup as it was written.
    assert lines[8:11] == [f"{SCREEN_SHOWN}  " + stats.format("7us"),
                           f"{FORMULA}                 " + stats.format("7us"),
                           f"{BYTES_SHOWN} " + stats.format("4us")]
    assert lines[16] == (f"+0.000002 s │ 4.000 us │ complete │ 102 │ 102 │ {BYTES_SHOWN} │ "
                         f"{BYTES_SHOWN}")
    assert lines[18:20] == [f"  +0.000001 s  7.000 us  {SCREEN_SHOWN} (101)",
                            f"     85.7%    6.000 us  blocked: {BYTES_SHOWN} (102)"]
    assert lines[65].startswith(f"{TITLE_SHOWN} │     1 │ 700ns │")


def _intervals(doc) -> list[dict]:
    return [iv for rule in doc["rules"] for iv in rule["intervals"]]


def test_json_and_json_lines(every_output):
    out = every_output["in-process"]
    for fmt, records in (("json", _intervals(json.loads(out["json"].decode("utf-8")))),
                         ("jsonl", [json.loads(line) for line in
                                    out["jsonl"].decode("utf-8").splitlines()])):
        assert b"\x1b" not in out[fmt] and b"\xff" not in out[fmt], fmt
        comms = {iv["tid"]: iv["comm"] for iv in records if iv["tid"] in COMMS}
        assert comms == COMMS, fmt
        assert [iv["fields"]["name"] for iv in records if "name" in iv.get("fields", {})] == [
            TITLE], fmt


def test_csv_cells_are_neutralised(every_output):
    text = every_output["in-process"]["csv"].decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    offcpu = {int(r["tid"]): r for r in rows if r["rule"] == "offcpu"}
    assert {tid: r["comm"] for tid, r in offcpu.items()} == {
        101: SCREEN, 102: BYTES, 103: "'" + FORMULA}
    assert {tid: r["group"] for tid, r in offcpu.items()} == {
        101: SCREEN, 102: BYTES, 103: "'" + FORMULA}
    assert offcpu[103]["fields.prev_comm"] == "'" + FORMULA
    assert offcpu[103]["fields.prev_prio"] == "-21"            # a number, not text
    assert ",-21," in text and "'-21" not in text
    (request,) = [r for r in rows if r["rule"] == "request"]
    assert request["fields.name"] == request["group"] == "'" + TITLE


def test_parquet(every_output, tmp_path):
    path = tmp_path / "out.parquet"
    path.write_bytes(every_output["in-process"]["parquet"])
    rows = pq.read_table(path).to_pylist()
    assert {r["tid"]: r["comm"] for r in rows if r["rule"] == "offcpu"} == COMMS
    assert [r["fields"]["name"] for r in rows if r["rule"] == "request"] == [TITLE]


FOLDED_SCREEN = f"{SCREEN_SHOWN} (101)"
FOLDED_BYTES = "b\\xff\\xfed\\nx\\u202e[bold]x[/]\\x3by 12 (102)"


def test_folded(every_output):
    text = terminal_text(every_output["in-process"]["folded"])
    assert text.splitlines() == [
        f"offcpu;{FORMULA} (103);PREEMPTED 1000",
        f"offcpu;{FORMULA} (103);{FOLDED_BYTES};BLOCK_DEVICE 3200",
        f"offcpu;{FORMULA} (103);{FOLDED_BYTES};PREEMPTED 800",
        f"offcpu;{FORMULA} (103);{FOLDED_BYTES};RUNNING 2000",
        f"offcpu;{FOLDED_SCREEN};PREEMPTED 1000",
        f"offcpu;{FOLDED_SCREEN};{FOLDED_BYTES};BLOCK_DEVICE 3200",
        f"offcpu;{FOLDED_SCREEN};{FOLDED_BYTES};PREEMPTED 800",
        f"offcpu;{FOLDED_SCREEN};{FOLDED_BYTES};RUNNING 2000",
        f"offcpu;{FOLDED_BYTES};BLOCK_DEVICE 3200",
        f"offcpu;{FOLDED_BYTES};PREEMPTED 800",
    ]


def _labels_of_svg(svg: bytes) -> set[str]:
    root = ET.fromstring(svg)
    return {t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text}


def test_dot_parses_and_draws_the_names(every_output, tmp_path):
    """Graphviz's own parser: ``dot -Tsvg`` (Debian's graphviz)."""
    source = every_output["in-process"]["dot"]
    terminal_text(source)
    exe = shutil.which("dot")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("dot is missing in CI (scripts/install-system-deps.sh installs graphviz)")
        pytest.skip("dot not installed (scripts/install-system-deps.sh installs graphviz)")
    proc = subprocess.run([exe, "-Tsvg"], input=source, capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    labels = _labels_of_svg(proc.stdout)
    assert {f"{SCREEN_SHOWN} (101)", f"{BYTES_SHOWN} (102)", f"{FORMULA} (103)"} <= labels


def test_graphml_is_well_formed(every_output, tmp_path):
    path = tmp_path / "out.graphml"
    path.write_bytes(every_output["in-process"]["graphml"])
    ET.parse(path)                                   # an XML parser takes it whole
    labels = {d["label"] for _, d in nx.read_graphml(path).nodes(data=True)}
    assert {f"{SCREEN_SHOWN} (101)", f"{BYTES} (102)", f"{FORMULA} (103)"} <= labels


def test_chrome_trace_names_its_threads(every_output):
    """JSON for Perfetto: the names as the trace has them (JSON escapes the controls)."""
    raw = every_output["in-process"]["chrome"]
    assert b"\x1b" not in raw and b"\xff" not in raw
    events = json.loads(raw.decode("utf-8"))
    events = events["traceEvents"] if isinstance(events, dict) else events
    names = [(e["pid"], e["tid"], e["args"]["name"]) for e in events
             if e.get("name") == "thread_name" and e["pid"] in (1, 3)]
    assert names == [(1, tid, f"{COMMS[tid]} ({tid})") for tid in (101, 103, 102)] + [
        (3, 101, f"{SCREEN} (101)")]


def test_html_keeps_the_names_inert(every_output):
    html = every_output["in-process"]["html"].decode("utf-8")
    assert "<script>=cmd" not in html and "\x1b" not in html
    page = BeautifulSoup(html, "html.parser")
    assert not page.find_all("script")
    assert f"{SCREEN_SHOWN} (101)" in page.get_text(" ")


def test_chromium_runs_nothing_from_the_names(every_output, tmp_path):
    """The page in headless Chromium, without its CSP (as test_html_report does)."""
    from test_html_report import CSP, PROBE, _browse, _console
    html = every_output["in-process"]["html"].decode("utf-8")
    head = html.index(CSP)
    html = html[:head] + html[html.index(">", head) + 1:]
    page = tmp_path / "hostile.html"
    page.write_text(html.replace("<head>", "<head>" + PROBE, 1))
    proc = _browse(page, tmp_path, "--dump-dom")
    assert _console(proc) == []
    dom = BeautifulSoup(proc.stdout, "html.parser")
    assert not dom.html.has_attr("data-dialog") and not dom.html.has_attr("data-error")
    assert len(dom.find_all("script")) == 1                  # the probe only


# -- corr inspect and corr tune -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["in-process", "served"])
def test_tune_text(hostile, served_env, mode):
    rules, trace = hostile
    env = modes(served_env)[mode]
    text = terminal_text(corr(env, "tune", "--no-progress", rules, trace).stdout)
    lines = text.splitlines()
    for shown in (SCREEN_SHOWN, FORMULA, BYTES_SHOWN):
        assert f"rule offcpu  group {shown} — 1 intervals, threshold 1us" in lines, shown
    assert f"rule request  group {TITLE_SHOWN} — 1 intervals, threshold 1ns" in lines


@pytest.mark.parametrize("mode", ["in-process", "served"])
def test_inspect_text_and_json(hostile, served_env, mode):
    _, trace = hostile
    env = modes(served_env)[mode]
    lines = terminal_text(corr(env, "inspect", trace).stdout).splitlines()
    assert [line.rstrip() for line in lines if line.startswith("tracer")] == [
        "tracer     lttng-modules 2.13.0, domain kernel, host h\\x1b[31m[bold]é\\u202e",
        "tracer     lttng-ust 2.13, domain ust, host h\\x1b[31m[bold]é\\u202e"]
    doc = json.loads(corr(env, "inspect", "--json", trace).stdout.decode("utf-8"))
    assert [t["hostname"] for t in doc["traces"]] == [HOST, HOST]


def test_every_reader_decodes_bytes_that_are_not_utf8_alike(hostile):
    """The C, native-Python and public readers: ``\\xff`` text, never surrogates."""
    from test_reader_differential import assert_readers_agree
    events = assert_readers_agree(hostile[1])
    names = {fields["prev_comm"] for _, name, _, fields in events if name == "sched_switch"}
    assert names == {"swapper/0", "swapper/1", "swapper/2", SCREEN, BYTES, FORMULA}


# -- the corr: line of an error ------------------------------------------------------------------


def test_an_error_line_escapes_what_it_quotes():
    from corr.cli.ui import UI
    err = io.StringIO()
    UI(stderr=err).error("no trace at x\x1b[2J\ny")
    assert err.getvalue() == "corr: no trace at x\\x1b[2J\\ny\n"


@pytest.mark.parametrize("mode", ["in-process", "served"])
def test_an_error_about_a_hostile_path_is_one_line(hostile, served_env, tmp_path, mode):
    rules, _ = hostile
    missing = tmp_path / "x\x1b[2J\ny"
    proc = subprocess.run([CORR, "run", str(rules), str(missing)], capture_output=True,
                          env=modes(served_env)[mode], timeout=120)
    assert proc.returncode == 2 and proc.stdout == b""
    line = proc.stderr.decode("utf-8")
    assert line.startswith("corr: ") and line.count("\n") == 1 and "\x1b" not in line, line
    assert "x\\x1b[2J\\ny" in line


def test_on_a_terminal_only_corr_s_own_colours_are_escape_sequences(hostile):
    """With colours on (a terminal), every escape sequence is an SGR colour of rich's:
    none comes from the trace, and no C1 or bidi character is written raw."""
    from rich.console import Console

    import corr.api as api
    from corr.render import histogram, inspect_text, run_text
    rules, trace = hostile
    result = api.run(str(rules), [trace], cache=False)
    pages = []
    for draw in (lambda c: run_text.render(result, c),
                 lambda c: inspect_text.render(api.inspect([trace]), c),
                 lambda c: histogram.render(api.tune(str(rules), [trace], cache=False), c)):
        console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor",
                          width=200, highlight=False, emoji=False)
        draw(console)
        pages.append(console.file.getvalue())
    for page in pages:
        plain = re.sub("\x1b\\[[0-9;]*m", "", page)
        assert not RAW.findall(plain), sorted(set(RAW.findall(plain)))
    assert SCREEN_SHOWN in re.sub("\x1b\\[[0-9;]*m", "", pages[0])
    assert TITLE_SHOWN in re.sub("\x1b\\[[0-9;]*m", "", pages[2])


def test_the_interactive_tune_view_shows_names_escaped(hostile):
    """Each group's screen of ``corr tune --interactive`` (as prompt_toolkit gets it:
    ANSI text, here 250 columns wide), its slowest flagged intervals, and the message
    a group's suggestion leaves."""
    import corr.api as api
    from corr.cli.tune_interactive import TuneApp
    rules, trace = hostile
    app = TuneApp(api.tune(str(rules), [trace], cache=False))
    app._width = lambda: 250
    views, messages = {}, []
    for rule in range(2):
        app.rule_index, app.group_index = rule, 0
        for group in range(len(app.tuning.distributions(app.group_limit))):
            app.group_index = group
            app.tuning.threshold_ns = 1                 # every interval flagged
            views[rule, app.distribution.label] = app._ansi(app.view()).value
            app.use_suggestion()
            messages.append(app._status().value)
    assert len(views) == 6                          # each rule, and its groups
    plain = {label: re.sub("\x1b\\[[0-9;]*m", "", v) for label, v in views.items()}
    plain_messages = re.sub("\x1b\\[[0-9;]*m", "", "\n".join(messages))
    for text in [*plain.values(), plain_messages]:
        assert not RAW.findall(text), sorted(set(RAW.findall(text)))
    for label, shown, comm in (((0, SCREEN), SCREEN_SHOWN, SCREEN_SHOWN),
                               ((0, BYTES), BYTES_SHOWN, BYTES_SHOWN),
                               ((1, TITLE), TITLE_SHOWN, SCREEN_SHOWN)):
        slowest = plain[label].split("slowest flagged")[1].splitlines()
        assert len([line for line in slowest if f"  {comm}  " in line and line.rstrip().endswith(
            shown)]) == 1, slowest
        assert f"group {shown}'s suggestion set rule" in plain_messages, shown
