"""The output formats of ``corr run``: one registry, one write path, the same bytes
from the library as from the command, files replaced whole or not at all, JSON
version 2 against version 1's writer, JSON Lines, typed fields in CSV and Parquet."""

from __future__ import annotations

import csv
import errno
import io
import json
import random
import re
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

import corr.api as api
from corr.errors import UsageError
from corr.engine import interval_columns as intervals_table
from corr.render import chrome_trace, folded, formats, output, run_json

from conftest import EXAMPLE_TRACE, ROOT, one_line_error, run_corr, shared_trace

OFFCPU = ROOT / "rules" / "offcpu.yaml"          # blame: entry, fields prev_comm, prev_state
LLSERVER = ROOT / "rules" / "llserver.yaml"      # no blame:, several rules with fields


@pytest.fixture(scope="module")
def offcpu():
    """offcpu.yaml over the example trace: every format has something to write."""
    return api.run(str(OFFCPU), [str(EXAMPLE_TRACE)], cache=False)


@pytest.fixture(scope="module")
def wget():
    """offcpu.yaml (blame:) over a real kernel trace: 1,359 intervals, 380 explained."""
    return api.run(str(OFFCPU), [str(shared_trace("wget-k-20180802-115043"))], cache=False)


def extension(fmt: str) -> str:
    return formats.extensions_of(fmt)[0]


# -- one registry ----------------------------------------------------------------------------

def test_every_format_corr_run_lists_is_registered():
    text = " ".join(run_corr("run", "--help").stdout.split())
    listed = re.search(r"--format \{([a-z,]+)\}", text).group(1).split(",")
    assert listed == list(formats.REGISTRY)
    seen = {}
    for name in listed:
        module = formats.module(name)                  # declares all it must
        assert module.NAME == name and module.DESCRIPTION
        for ext in formats.extensions_of(name):
            assert ext.startswith(".") and ext not in seen, (name, ext, seen.get(ext))
            seen[ext] = name
            assert ext in text                         # -o's help lists it
    assert {n for n in listed if formats.module(n).NEEDS_BLAME} == {"folded", "dot", "graphml",
                                                                    "chrome"}
    assert {n for n in listed if formats.module(n).FILE_ONLY} == {"csv", "parquet", "graphml",
                                                                  "html"}


def test_extensions_pick_the_longest_match():
    assert formats.from_path("a/b.trace.json") == "chrome"
    assert formats.from_path("B.PERFETTO.JSON") == "chrome"
    assert formats.from_path("x.json") == "json"
    assert formats.from_path("x.jsonl") == "jsonl"
    assert formats.from_path("x.htm") == "html"
    with pytest.raises(UsageError, match=r"cannot tell the format from '\.xlsx'; use --format"):
        formats.from_path("x.xlsx")


# -- one write path: files replaced whole or not at all ----------------------------------------

class _DiskFull:
    """The temporary file's stream, failing part-way: the first ``limit`` bytes are
    written (and flushed, so they are on disk), then ENOSPC."""

    def __init__(self, real, limit: int):
        self.real, self.limit, self.written = real, limit, 0

    def write(self, data) -> int:
        data = bytes(data)
        room = self.limit - self.written
        if len(data) > room:
            self.real.write(data[:room])
            self.real.flush()
            self.written += room
            raise OSError(errno.ENOSPC, "No space left on device")
        self.real.write(data)
        self.written += len(data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def _fail_half_way(monkeypatch, size: int) -> list:
    streams = []
    real_open = output._open

    def failing(tmp):
        streams.append(_DiskFull(real_open(tmp), size // 2))
        return streams[-1]
    monkeypatch.setattr(output, "_open", failing)
    return streams


@pytest.mark.parametrize("fmt", list(formats.REGISTRY))
def test_a_failure_mid_write_keeps_the_previous_file(offcpu, tmp_path, monkeypatch, fmt):
    path = tmp_path / f"out{extension(fmt)}"
    api.write(offcpu, path)
    whole = path.read_bytes()
    assert len(whole) > 100
    path.write_bytes(b"previous results\n")
    streams = _fail_half_way(monkeypatch, len(whole))
    with pytest.raises(OSError, match="No space left"):
        api.write(offcpu, path)
    assert streams and 0 < streams[0].written < len(whole)       # it did fail part-way
    assert path.read_bytes() == b"previous results\n"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]   # no temporary file left


def test_a_failed_write_is_one_line_and_exit_2(tmp_path, monkeypatch):
    from corr.cli import main
    from corr.cli.ui import UI
    path = tmp_path / "out.json"
    path.write_text("previous\n")
    _fail_half_way(monkeypatch, 2000)
    ui = UI(stdout=io.StringIO(), stderr=io.StringIO())
    code = main(["run", "--no-cache", "--no-progress", str(OFFCPU), str(EXAMPLE_TRACE),
                 "-o", str(path)], ui=ui)
    assert code == 2
    assert ui.stderr.getvalue() == f"corr: {path}: cannot write: No space left on device\n"
    assert path.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_api_write_gives_the_bytes_of_corr_run_o(offcpu, tmp_path):
    for fmt in formats.REGISTRY:
        by_cli = tmp_path / f"cli{extension(fmt)}"
        proc = run_corr("run", "--no-cache", OFFCPU, EXAMPLE_TRACE, "-o", by_cli)
        assert proc.returncode == 0, proc.stderr
        said = api.write(offcpu, tmp_path / f"api{extension(fmt)}")
        assert proc.stderr == f"wrote {by_cli} ({said})\n"
        assert (tmp_path / f"api{extension(fmt)}").read_bytes() == by_cli.read_bytes(), fmt


def test_api_write_to_streams(offcpu):
    text = io.StringIO()
    api.write(offcpu, "json", stream=text)
    binary = io.BytesIO()
    assert api.write(offcpu, "json", stream=binary) == "JSON"
    assert binary.getvalue().decode() == text.getvalue() == run_json.render(offcpu)
    as_text, as_bytes = io.StringIO(), io.BytesIO()
    api.write(offcpu, "text", stream=as_text, top=3)
    api.write(offcpu, "text", stream=as_bytes, top=3)
    assert as_bytes.getvalue().decode() == as_text.getvalue()
    assert "slowest intervals over" in as_text.getvalue()
    lines = io.StringIO()
    api.write(offcpu, "jsonl", stream=lines, all_intervals=True)
    assert len(lines.getvalue().splitlines()) == len(offcpu.rules[0].intervals)
    with pytest.raises(UsageError, match="--format parquet writes a file: give it with -o FILE"):
        api.write(offcpu, "parquet", stream=io.BytesIO())
    with pytest.raises(TypeError, match="topp"):
        api.write(offcpu, "text", topp=3)


NO_BLAME = """\
version: 1
rules:
  - name: processing
    entry: {event: "llserver:process_start", key: [seqno]}
    exit: {event: "llserver:process_end", key: [seqno]}
    threshold: 2ms
"""


@pytest.mark.parametrize("fmt", [n for n in formats.REGISTRY if formats.module(n).NEEDS_BLAME])
def test_a_blame_format_on_rules_without_blame(tmp_path, fmt):
    rules = tmp_path / "rules.yaml"
    rules.write_text(NO_BLAME)
    message = (f"corr: --format {fmt}: no rule of {rules} has blame:, so there is no "
               f"scheduling analysis to write")
    args = ["-o", tmp_path / f"out{extension(fmt)}"] if formats.module(fmt).FILE_ONLY else []
    proc = run_corr("run", "--format", fmt, rules, EXAMPLE_TRACE, *args)
    assert one_line_error(proc) == message and proc.stdout == ""
    assert [p.name for p in tmp_path.iterdir()] == ["rules.yaml"]
    result = api.run(str(rules), [str(EXAMPLE_TRACE)])
    with pytest.raises(UsageError) as error:
        if formats.module(fmt).FILE_ONLY:
            api.write(result, tmp_path / f"api{extension(fmt)}")
        else:
            api.write(result, fmt, stream=io.StringIO())
    assert f"corr: {error.value}" == message
    assert [p.name for p in tmp_path.iterdir()] == ["rules.yaml"]


# -- JSON: version 2 parses to what version 1 wrote --------------------------------------------

def reference_json(result, all_intervals: bool = False) -> str:
    """The JSON as format version 1 wrote it (``json.dumps``): the reference."""
    out = io.StringIO()
    doc = result.to_dict(all_intervals, with_intervals=False)
    rules = doc.pop("rules")
    head = json.dumps(doc, indent=2)
    out.write(head[:-2] + ',\n  "rules": [')
    for n, (rule_doc, rule) in enumerate(zip(rules, result.rules)):
        body = json.dumps(rule_doc, indent=2).replace("\n", "\n    ")
        out.write(("," if n else "") + "\n    " + body[:-6] + ',\n      "intervals": [')
        for k, interval in enumerate(rule.iter_intervals(all_intervals)):
            out.write(("," if k else "") + "\n        " + json.dumps(interval))
        out.write("\n      ]\n    }")
    out.write("\n  ]\n}\n")
    return out.getvalue()


@pytest.mark.shared
@pytest.mark.parametrize("all_intervals", [False, True])
def test_json_parses_to_what_version_1_wrote(wget, all_intervals):
    new = run_json.render(wget, all_intervals)
    doc = json.loads(new)
    assert doc == json.loads(reference_json(wget, all_intervals))
    (rule,) = doc["rules"]
    explained = [iv for iv in rule["intervals"] if "critical_path" in iv]
    assert len(explained) == rule["blame"]["analysed"] == 380
    assert all(iv["breakdown"] for iv in explained)
    assert len(rule["intervals"]) == (1359 if all_intervals else rule["stats"]["over_threshold"])
    # The layout: indented by two, each interval one compact line.
    lines = new.splitlines()
    assert lines[:2] == ["{", '  "format_version": 2,']
    intervals = [line for line in lines if line.startswith('        {"start_ns":')]
    assert len(intervals) == len(rule["intervals"])
    assert all(json.loads(line.rstrip(",")) for line in intervals)


def test_json_of_what_orjson_refuses():
    """Strings that were not UTF-8 (kept as surrogate escapes), integers past 64 bits
    and NaN: what the stdlib writes, the bytes as \\xff text (a document any JSON
    parser reads: no lone surrogate), NaN as null."""
    value = {"comm": "ab\udcffc", "big": 2 ** 70, "nan": float("nan"), "list": (1, "é")}
    encoded = run_json.encoder()(value)
    assert json.loads(encoded) == {"comm": "ab\\xffc", "big": 2 ** 70, "nan": None,
                                   "list": [1, "é"]}
    assert b"udcff" not in encoded and b"\n" not in encoded
    encoded.decode("utf-8")
    assert json.loads(run_json.dumps(value, indent=True))["comm"] == "ab\\xffc"
    assert json.loads(run_json.encoder()({"plain": "é"})) == {"plain": "é"}


def test_text_from_traces_that_is_not_utf8_is_escaped_in_files():
    binary = io.BytesIO()
    with output.Destination(binary, path="x").text(newline="") as out:
        out.write("wget\udcff,1\n")
    assert binary.getvalue() == b"wget\\udcff,1\n"


# -- JSON Lines -------------------------------------------------------------------------------

@pytest.mark.shared
@pytest.mark.parametrize("all_intervals", [False, True])
def test_json_lines_are_the_json_intervals(wget, tmp_path, all_intervals):
    path = tmp_path / "offcpu.jsonl"
    extra = ["--all-intervals"] if all_intervals else []
    proc = run_corr("run", "--no-cache", OFFCPU, shared_trace("wget-k-20180802-115043"),
                    "-o", path, *extra)
    assert proc.returncode == 0, proc.stderr
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]           # every line whole
    doc = json.loads(run_json.render(wget, all_intervals))
    expected = [{"rule": r["name"], **iv} for r in doc["rules"] for iv in r["intervals"]]
    assert records == expected
    assert len(records) == (1359 if all_intervals else 380)
    try:
        import pandas
    except ImportError:
        return
    frame = pandas.read_json(path, lines=True)
    assert len(frame) == len(records)
    assert list(frame["start_ns"][:3]) == [r["start_ns"] for r in records[:3]]
    assert str(frame["duration_ns"].dtype) == "int64"
    assert set(frame["rule"]) == {"offcpu"}


# -- CSV and Parquet: captured fields typed ----------------------------------------------------

FIRST_ROWS = [  # wget, offcpu.yaml: the first two intervals of the table
    {"rule": "offcpu", "start_ns": 1533225044093167902, "end_ns": 1533225044093279792,
     "duration_ns": 111890, "status": "complete", "tid": 6854, "cpu": 0,
     "comm": "lttng-consumerd", "exit_tid": 0, "exit_cpu": 0, "exit_comm": "swapper/0",
     "group": "lttng-consumerd", "lossy": False, "key.tid": 6854,
     "fields": {"prev_comm": "lttng-consumerd", "prev_state": 2}},
    {"rule": "offcpu", "start_ns": 1533225044093271009, "end_ns": 1533225044093327421,
     "duration_ns": 56412, "status": "complete", "tid": 3915, "cpu": 0, "comm": "code",
     "exit_tid": 6854, "exit_cpu": 0, "exit_comm": "lttng-consumerd", "group": "code",
     "lossy": False, "key.tid": 3915, "fields": {"prev_comm": "code", "prev_state": 1}},
]


@pytest.mark.shared
def test_parquet_fields_are_a_typed_struct(wget, tmp_path):
    import pyarrow as pa
    path = tmp_path / "offcpu.parquet"
    assert api.write(wget, path) == "1,359 intervals"
    table = pq.read_table(path)
    assert table.schema.field("fields").type == pa.struct([("prev_comm", pa.string()),
                                                           ("prev_state", pa.int64())])
    for column in ("start_ns", "end_ns", "duration_ns", "tid", "cpu", "key.tid"):
        assert table.schema.field(column).type == pa.int64()
    assert table.schema.field("lossy").type == pa.bool_()
    rows = table.to_pylist()
    assert rows[:2] == FIRST_ROWS
    assert _as_interval_rows(wget) == rows


@pytest.mark.shared
def test_csv_has_a_column_per_field(wget, tmp_path):
    path = tmp_path / "offcpu.csv"
    assert api.write(wget, path) == "1,359 intervals"
    with open(path, newline="") as f:
        header = next(csv.reader(f))
        f.seek(0)
        rows = list(csv.DictReader(f))
    assert header[-2:] == ["fields.prev_comm", "fields.prev_state"] and "fields" not in header
    first = {k: str(v) for k, v in FIRST_ROWS[0].items() if k != "fields"}
    first.update({"fields.prev_comm": "lttng-consumerd", "fields.prev_state": "2"})
    assert rows[0] == first
    expected = _as_interval_rows(wget)
    assert [{k: v for k, v in r.items()} for r in rows] == [_csv_cells(r) for r in expected]


def _as_interval_rows(result) -> list[dict]:
    """Every interval as ``RuleResult.interval`` gives it (explained: threads named
    as the exports name them), in the table's columns."""
    key_parts, field_names = intervals_table.layout(result)
    out = []
    for r in result.rules:
        for i in range(len(r.intervals)):
            iv = r.interval(i)
            row = {"rule": r.name, **{c: iv[c] for c in intervals_table.COLUMNS[1:]}}
            keys = iv["key"] if isinstance(iv["key"], dict) else {r.intervals.key_names[0]: iv["key"]}
            row.update({f"key.{p}": keys.get(p) for p in key_parts})
            row["fields"] = {f: iv["fields"].get(f) for f in field_names}
            out.append(row)
    return out


@pytest.mark.shared
def test_tables_name_threads_as_the_intervals_do(tmp_path):
    """wakeup.yaml over wget: a few intervals' threads were renamed (exec) while they
    lasted; the tables call them as RuleResult.interval does, by their name at the
    interval's start."""
    result = api.run(str(ROOT / "rules" / "wakeup.yaml"),
                     [str(shared_trace("wget-k-20180802-115043"))], cache=False)
    expected = _as_interval_rows(result)
    renamed = [row for row, raw in zip(expected, (result.rules[0].intervals.row(i)
                                                   for i in range(len(expected))))
               if (row["comm"], row["exit_comm"]) != (raw["comm"], raw["exit_comm"])]
    assert len(renamed) == 4
    api.write(result, tmp_path / "w.parquet")
    assert pq.read_table(tmp_path / "w.parquet").to_pylist() == expected
    api.write(result, tmp_path / "w.csv")
    with open(tmp_path / "w.csv", newline="") as f:
        assert list(csv.DictReader(f)) == [_csv_cells(r) for r in expected]


def _csv_cells(row: dict) -> dict:
    cells = {k: "" if v is None else str(v) for k, v in row.items() if k != "fields"}
    cells.update({f"fields.{k}": "" if v is None else str(v) for k, v in row["fields"].items()})
    return cells


def test_fields_of_several_rules(tmp_path):
    """llserver.yaml: rules capture different fields; each has its own column, typed by
    its values, null in the rules that do not capture it."""
    import pyarrow as pa
    result = api.run(str(LLSERVER), [str(EXAMPLE_TRACE)], cache=False)
    api.write(result, tmp_path / "all.parquet")
    table = pq.read_table(tmp_path / "all.parquet")
    struct = table.schema.field("fields").type
    assert [f.name for f in struct] == ["queue_size", "success", "reason_code", "mutex_name",
                                        "op", "bytes"]
    assert struct.field("queue_size").type == pa.int64()
    assert struct.field("mutex_name").type == pa.string()
    rows = table.to_pylist()
    by_rule = {}
    for row in rows:
        by_rule.setdefault(row["rule"], []).append(row["fields"])
    for r in result.rules:
        mine = by_rule.get(r.name, [])
        assert len(mine) == len(r.intervals)
        for i, fields in enumerate(mine[:50]):
            want = {name: None for name in struct.names}
            want.update(r.intervals.row(i)["fields"])
            assert fields == want, (r.name, i)
    api.write(result, tmp_path / "all.csv")
    with open(tmp_path / "all.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header[-6:] == [f"fields.{n}" for n in struct.names]


# -- Chrome trace and folded stacks: fast paths, same answers ----------------------------------

@pytest.mark.shared
@pytest.mark.parametrize("rules", ["offcpu.yaml", "wakeup.yaml"])
def test_chrome_slices_read_from_columns_are_the_intervals(rules):
    result = api.run(str(ROOT / "rules" / rules), [str(shared_trace("wget-k-20180802-115043"))],
                     cache=False)
    r = result.rules[0]
    for all_intervals in (False, True):
        rows, largest = intervals_table.selected_rows(r, all_intervals)
        want = [(iv["tid"], iv["comm"], iv["key"], iv["group"], iv["status"], iv["start_ns"],
                 iv["duration_ns"]) for iv in r.iter_intervals(all_intervals)]
        assert list(rows) == want
        assert largest == max(w[0] for w in want if w[0] is not None)


def test_chrome_trace_is_one_json_document(offcpu):
    out = io.BytesIO()
    api.write(offcpu, "chrome", stream=out)
    doc = json.loads(out.getvalue())
    assert list(doc) == ["displayTimeUnit", "traceEvents"]
    assert doc["traceEvents"] == chrome_trace.events(offcpu)
    paths = [e for e in doc["traceEvents"] if e.get("cat") == "critical_path"]
    assert paths and all(e["dur"] >= 0 and isinstance(e["args"]["tid"], int) for e in paths)


def test_folded_unions_are_the_analyses_unions():
    from array import array

    from corr.analyses.blame import union_ns
    rng = random.Random(7)
    for n in (1, 2, 5, folded.SMALL, folded.SMALL + 1, 300):
        for _ in range(20):
            spans = []
            for _ in range(n):
                start = rng.randrange(10 ** 12, 10 ** 12 + 10 ** 6)
                spans.append((start, start + rng.randrange(0, 5000)))
            starts, ends = array("q", [s for s, _ in spans]), array("q", [e for _, e in spans])
            assert folded.union_ns(starts, ends) == union_ns(spans), spans


def test_a_fifo_or_a_link_is_written_through(offcpu, tmp_path):
    """-o a FIFO (or /dev/null, a terminal) writes into it, never replaces it with a
    file; -o a symbolic link replaces the file it names and keeps the link."""
    import os
    import stat
    import threading
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    api.write(offcpu, fifo)
    reader.join(timeout=60)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    out = io.BytesIO()
    api.write(offcpu, "jsonl", stream=out)
    assert got == [out.getvalue()]
    real = tmp_path / "real.folded"
    real.write_text("previous\n")
    link = tmp_path / "link.folded"
    link.symlink_to(real)
    api.write(offcpu, link)
    assert link.is_symlink() and real.read_text().startswith("offcpu;")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.folded", "pipe.jsonl",
                                                          "real.folded"]


def test_names_that_are_not_utf8_are_escaped(tmp_path, monkeypatch):
    """A thread name with bytes that were not UTF-8 (the reader keeps them as surrogate
    escapes) is written escaped, in a whole file, by every format."""
    import networkx as nx

    from corr.render import blame_graph, graphml
    rules = tmp_path / "rules.yaml"
    rules.write_text(NO_BLAME)
    result = api.run(str(rules), [str(EXAMPLE_TRACE)], cache=False)
    table = result.rules[0].intervals
    table.entry_comm[:] = ["bad\udcffname"] * len(table)
    assert table.row(0)["comm"] == "bad\udcffname"
    escaped = "bad\\xffname"                    # as the reader decodes such bytes
    for fmt in [n for n in formats.REGISTRY if not formats.module(n).NEEDS_BLAME]:
        path = tmp_path / f"out{extension(fmt)}"
        api.write(result, path, top=3)
        if fmt == "parquet":
            assert {row["comm"] for row in pq.read_table(path).to_pylist()} == {escaped}
        elif fmt in ("json", "jsonl"):           # UTF-8 JSON: no lone surrogate escape
            assert "udcff" not in path.read_text(encoding="utf-8")
            assert {iv["comm"] for iv in _intervals_of(fmt, path.read_text())} == {escaped}
        else:
            assert escaped in path.read_text(encoding="utf-8"), fmt
            assert "udcff" not in path.read_text(encoding="utf-8"), fmt
    g = nx.DiGraph()
    g.add_node("offcpu/tid:1", rule="offcpu", kind="thread", label="bad\udcffname (1)", tid=1)
    monkeypatch.setattr(blame_graph, "combined", lambda result: g)
    with open(tmp_path / "g.graphml", "wb") as out:
        graphml.write(result, output.Destination(out), output.Options())
    assert nx.read_graphml(tmp_path / "g.graphml").nodes["offcpu/tid:1"]["label"] == (
        escaped + " (1)")


def _intervals_of(fmt: str, text: str) -> list[dict]:
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return [iv for r in json.loads(text)["rules"] for iv in r["intervals"]]


@pytest.mark.shared
def test_spilled_tables_write_the_same_bytes(tmp_path, monkeypatch):
    """Interval tables past CORR_SPILL_ROWS rows keep them in a spill file; the formats
    that read the tables' columns read them a block at a time and write the same
    (Parquet the same table: its row groups are the blocks)."""
    from corr.engine import intervals
    trace = str(shared_trace("wget-k-20180802-115043"))
    outputs = {}
    for budget in (None, "97"):
        if budget:
            monkeypatch.setenv(intervals.SPILL_ROWS_ENV, budget)
            monkeypatch.setattr(intervals_table, "BLOCK", 100)     # many blocks, many chunks
        result = api.run(str(ROOT / "rules" / "wakeup.yaml"), [trace], cache=False)
        assert result.rules[0].intervals.spilled == bool(budget)
        for fmt in ("csv", "parquet", "chrome", "jsonl"):
            path = tmp_path / f"{budget}{extension(fmt)}"
            api.write(result, path, all_intervals=True)
            outputs[budget, fmt] = (pq.read_table(path) if fmt == "parquet"   # a row group
                                    else path.read_bytes())                   # per block
    for fmt in ("csv", "parquet", "chrome", "jsonl"):
        assert outputs["97", fmt] == outputs[None, fmt], fmt


def test_the_format_of_an_output_path_is_told_without_importing_any_format():
    """-o's extension names the format from the registry alone: asking imports no
    format's module (each pulls in rich, pyarrow, orjson or Jinja2)."""
    code = ("import sys; from corr.render.formats import from_path; "
            "print(from_path('a/x.TRACE.json'), from_path('x.json'), from_path('r.htm')); "
            "print(sorted(m for m in sys.modules if m.startswith('corr.render.')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.splitlines() == ["chrome json html", "['corr.render.formats']"]
