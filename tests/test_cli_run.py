"""`corr run` and `corr check` as a user meets them: formats, files, errors."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest

from conftest import EXAMPLE_TRACE, ROOT, one_line_error, run_corr, shared_trace

RULES = ROOT / "rules" / "llserver.yaml"
GOOD = """\
version: 1
rules:
  - name: processing
    entry: {event: "llserver:process_start", key: [seqno]}
    exit: {event: "llserver:process_end", key: [seqno]}
    threshold: 2ms
"""



@pytest.mark.parametrize("text, line, col, needle", [
    ("version: 1\nrules:\n  - name: r\n    entry: {event: a, key: [x]\n", 5, 1, "yaml:"),
    (GOOD.replace("threshold: 2ms", "threshhold: 2ms"), 6, 5, "unknown key 'threshhold'"),
    (GOOD.replace("threshold: 2ms", "threshold: [2ms]"), 6, 16, "threshold: expected a duration"),
    (GOOD.replace("threshold: 2ms", "threshold: 2"), 6, 16, "has no unit"),
    (GOOD.replace("threshold: 2ms", "threshold: 2 fortnights"), 6, 16, "unknown unit"),
    (GOOD.replace("key: [seqno]}\n    exit", "key: [seqno], where: \"seqno >\"}\n    exit"), 4, 75,
     "incomplete expression"),
    (GOOD.replace("threshold: 2ms", "match: lifo"), 6, 12, "'lifo' is not one of"),
    (GOOD.replace("exit: {event: \"llserver:process_end\", key: [seqno]}",
                  "exit: {event: \"llserver:process_end\", key: [other]}"), 5, 48, "differ from entry.key"),
    (GOOD.replace("version: 1", "version: 7"), 1, 10, "unsupported version 7"),
])
@pytest.mark.parametrize("command", ["check", "run"])
def test_bad_rule_file_gives_file_line_column(tmp_path, text, line, col, needle, command):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    args = [command, path] + ([EXAMPLE_TRACE] if command == "run" else [])
    message = one_line_error(run_corr(*args), needle)
    assert message.startswith(f"corr: {path}:{line}:{col}: "), message


def test_missing_rule_file():
    one_line_error(run_corr("check", "/nonexistent/rules.yaml"), "/nonexistent/rules.yaml",
                    "cannot read")


@pytest.mark.parametrize("value, needle", [
    ("processing.threshold=abc", "'abc' is not a duration"),
    ("nope.threshold=1ms", "no rule 'nope'"),
    ("processing.match=fifo", "cannot set 'match'"),
    ("processing.timeout=0s", "greater than 0"),
    ("processing", "expected RULE.threshold=VALUE"),
])
def test_bad_set_values(tmp_path, value, needle):
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    one_line_error(run_corr("run", "--set", value, path, EXAMPLE_TRACE), "--set", needle)


def test_set_changes_the_threshold(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    base = json.loads(run_corr("run", "--format", "json", path, EXAMPLE_TRACE).stdout)
    tight = json.loads(run_corr("run", "--format", "json", "--set", "processing.threshold=250us",
                                path, EXAMPLE_TRACE).stdout)
    assert base["rules"][0]["threshold_ns"] == 2_000_000
    assert tight["rules"][0]["threshold_ns"] == 250_000
    assert tight["rules"][0]["stats"]["over_threshold"] > base["rules"][0]["stats"]["over_threshold"]
    assert len(tight["rules"][0]["intervals"]) == tight["rules"][0]["stats"]["over_threshold"]


def test_json_format_is_stable(tmp_path):
    out = json.loads(run_corr("run", "--format", "json", RULES, EXAMPLE_TRACE).stdout)
    assert out["format_version"] == 2
    rule = out["rules"][0]
    assert set(rule["stats"]) >= {"count", "min_ns", "max_ns", "mean_ns", "stdev_ns", "p50_ns",
                                  "p90_ns", "p99_ns", "over_threshold", "timeouts", "late",
                                  "incomplete", "dropped"}
    assert {"name", "stats", "groups", "intervals"} <= set(rule)
    for iv in rule["intervals"]:
        assert {"start_ns", "end_ns", "duration_ns", "status", "key", "tid", "comm"} <= set(iv)
        assert iv["duration_ns"] > rule["threshold_ns"]


def test_json_says_its_thread_filter():
    plain = json.loads(run_corr("run", "--format", "json", RULES, EXAMPLE_TRACE).stdout)
    assert plain["thread_filter"] is None
    consumer = json.loads(run_corr("run", "--format", "json", RULES, EXAMPLE_TRACE,
                                   "--comm", "consumer").stdout)
    assert consumer["thread_filter"] == {"pids": [], "tids": [], "comms": ["consumer"]}
    processing = [r for r in consumer["rules"] if r["name"] == "processing"][0]
    assert {iv["comm"] for iv in processing["intervals"]} == {"consumer"}


@pytest.mark.parametrize("command", ["run", "tune"])
def test_help_documents_the_thread_filters(command):
    out = run_corr(command, "--help").stdout
    for option in ("-p PID, --pid PID", "-t TID, --tid TID", "--comm NAME", "OR together",
                   "AND together", "tid = PID"):
        assert option in " ".join(out.split()), option


@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_output_file_format_from_extension(tmp_path, suffix):
    out = tmp_path / f"result{suffix}"
    proc = run_corr("run", "-o", out, RULES, EXAMPLE_TRACE)
    assert proc.returncode == 0, proc.stderr
    if suffix == ".json":
        assert json.loads(out.read_text())["format_version"] == 2
        return
    if suffix == ".csv":
        with open(out) as f:
            rows = list(csv.DictReader(f))
    else:
        rows = pq.read_table(out).to_pylist()
    # Every interval of every rule, under-threshold ones included.
    by_rule = {}
    for row in rows:
        by_rule[row["rule"]] = by_rule.get(row["rule"], 0) + 1
    assert by_rule["queue_delay"] == 901 and by_rule["backlog"] == 9
    assert {"start_ns", "end_ns", "duration_ns", "status", "tid", "comm", "key.seqno"} <= set(rows[0])


# Every extension -o knows, and what "wrote FILE (...)" says it holds.
WROTE = {".json": "JSON", ".jsonl": "JSON Lines", ".csv": "4,043 intervals", ".parquet": "4,043 intervals", ".txt": "text",
         ".folded": "folded stacks", ".dot": "blame graph, DOT",
         ".graphml": "blame graph, GraphML", ".trace.json": "Chrome trace events",
         ".perfetto.json": "Chrome trace events", ".html": "HTML report", ".htm": "HTML report"}


def test_every_output_extension_says_what_it_wrote(tmp_path):
    from corr.render.formats import extensions
    assert set(WROTE) == set(extensions())
    for suffix, what in WROTE.items():
        out = tmp_path / f"result{suffix}"
        proc = run_corr("run", "-o", out, RULES, EXAMPLE_TRACE)
        assert proc.returncode == 0, proc.stderr
        assert (proc.stdout, proc.stderr) == ("", f"wrote {out} ({what})\n"), suffix
        assert out.stat().st_size > 0
    # Written to stdout, nothing is said.
    proc = run_corr("run", "--format", "folded", RULES, EXAMPLE_TRACE)
    assert proc.returncode == 0 and proc.stdout and proc.stderr == ""


def test_unknown_extension_and_missing_output(tmp_path):
    one_line_error(run_corr("run", "-o", tmp_path / "x.xlsx", RULES, EXAMPLE_TRACE), "--format")
    one_line_error(run_corr("run", "--format", "csv", RULES, EXAMPLE_TRACE), "-o FILE")


def test_failed_run_leaves_an_existing_output_untouched(tmp_path):
    out = tmp_path / "result.csv"
    out.write_text("previous results\n")
    one_line_error(run_corr("run", "-o", out, RULES, tmp_path / "no-such-trace"), "no such file")
    assert out.read_text() == "previous results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]


def test_unwritable_output_is_one_line(tmp_path):
    one_line_error(run_corr("run", "-o", tmp_path / "no-dir" / "r.json", RULES, EXAMPLE_TRACE),
                    "cannot write")


def test_check_warns_about_unknown_events_with_near_matches(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD.replace("llserver:process_end", "llserver:proces_end"))
    proc = run_corr("check", path, EXAMPLE_TRACE)
    assert proc.returncode == 0
    assert "no trace has exit event 'llserver:proces_end'" in proc.stderr
    assert "did you mean llserver:process_end" in proc.stderr


def test_check_warns_about_missing_fields(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD.replace("key: [seqno]}\n    exit", "key: [seqno], fields: [nope]}\n    exit"))
    proc = run_corr("check", path, EXAMPLE_TRACE)
    assert proc.returncode == 0
    assert "have no field 'nope'" in proc.stderr


def test_shipped_rules_check_clean_against_their_traces():
    for rules, trace in [("llserver.yaml", EXAMPLE_TRACE),
                         ("syscalls.yaml", shared_trace("many-threads")),
                         ("wakeup.yaml", shared_trace("wget-k-20180802-115043")),
                         ("irq.yaml", shared_trace("many-threads"))]:
        proc = run_corr("check", ROOT / "rules" / rules, trace)
        assert proc.returncode == 0 and proc.stderr == "", (rules, proc.stderr)
    proc = run_corr("check", ROOT / "rules" / "valkey.yaml")
    assert proc.returncode == 0 and "8 rule(s) ok" in proc.stdout
    proc = run_corr("check", ROOT / "rules" / "block.yaml")
    assert proc.returncode == 0


def test_run_on_a_trace_that_stops_part_way_keeps_its_results(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("""\
version: 1
rules:
  - name: hello
    span:
      event: "ust_tests_hello:tptest"
      duration: 0
    threshold: 1ns
""")
    proc = run_corr("run", "--format", "json", path, shared_trace("hello-lost"))
    message = one_line_error(proc, "timestamps go backwards", "the results above cover")
    assert "hello-lost" in message
    result = json.loads(proc.stdout)
    assert result["stopped"]["cause"].startswith("timestamps go backwards")
    # The events decoded before the failure were matched and counted.
    assert result["rules"][0]["outcomes"]["entries"] > 0


def test_the_reader_option_reaches_the_decode(tmp_path):
    """--reader picks the bt2 reader of corr run's decode (the same events either way)."""
    from corr import api
    from corr.errors import UsageError
    rules = str(ROOT / "rules" / "llserver.yaml")
    with pytest.raises(UsageError, match="unknown reader 'bogus'"):
        api.run(rules, [EXAMPLE_TRACE], reader="bogus", cache=False)
    outputs = [run_corr("run", rules, str(EXAMPLE_TRACE), "--format", "json", "--no-cache",
                        "--reader", reader) for reader in ("public", "auto")]
    assert all(p.returncode == 0 for p in outputs), outputs[0].stderr
    assert outputs[0].stdout == outputs[1].stdout
