"""Strings, hex(), str(), format(), errors counted instead of silent nulls, and readable
composite groups, end to end on a written scenario: exact intervals, groups and outcomes,
the same from the C core and the Python matcher."""

from __future__ import annotations

import csv
import json

import pytest

import corr.api
from conftest import run_corr
from corr.testing import Scenario

FILTERED = "filtered out by the rule's where"

RULES = """\
version: 1
rules:
  - name: by_label
    entry:
      event: conn:open
      key: {conn: 'format("{}#{}", $tid, fd)'}
      fields: [addr]
    exit:
      event: conn:close
      key: {conn: 'str($tid) + "#" + str(fd)'}
    group_by: ['hex(entry.addr)', exit.reason]
  - name: concat_of_a_number
    entry: {event: conn:open, key: {conn: '"fd" + fd'}}
    exit: {event: conn:close, key: {conn: fd}}
  - name: divided_by_zero
    entry: {event: conn:open, key: {conn: 'format("{}#{}", $tid, fd)'}}
    exit: {event: conn:close, key: {conn: 'format("{}#{}", $tid, fd)'}}
    where: "exit.fd / (exit.fd - 5) > 0"
"""

# (tid, fd, addr, open at, close at, close reason): fd 5 open on two workers at once.
CONNECTIONS = [(601, 5, 134549777, 100, 400, "FORCED CLOSE"),
               (602, 5, 134549777, 200, 900, ""),
               (601, 6, 255, 500, 600, "DELETE_CLIENT")]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("expressions")
    s = Scenario(cpus=2)
    workers = {601: s.thread(tid=601, pid=600, comm="w1"),
               602: s.thread(tid=602, pid=600, comm="w2")}
    s.run(cpu=0, thread=workers[601], at=0)
    s.run(cpu=1, thread=workers[602], at=0)
    events = []
    for tid, fd, addr, opened, closed, reason in CONNECTIONS:
        events.append((opened, tid, "conn:open", {"fd": fd, "addr": addr}))
        events.append((closed, tid, "conn:close", {"fd": fd, "reason": reason}))
    for at, tid, name, values in sorted(events, key=lambda e: e[0]):
        s.ust(workers[tid], name, at=at, **values)
    trace = s.write(tmp / "trace").root
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    return s, rules, trace


@pytest.fixture(params=["core", "python"])
def result(request, recorded, monkeypatch):
    if request.param == "python":
        monkeypatch.setenv("CORR_ENGINE", "python")
    s, rules, trace = recorded
    return s, corr.api.run(rules, [trace], cache=False).to_dict(all_intervals=True)


def rule_of(doc, name):
    (rule,) = [r for r in doc["rules"] if r["name"] == name]
    return rule


def test_keys_and_groups_built_from_strings(result):
    s, doc = result
    rule = rule_of(doc, "by_label")
    got = sorted((iv["start_ns"], iv["end_ns"], iv["key"], iv["group"]) for iv in rule["intervals"])
    assert got == [
        (s.ns_from_origin(100), s.ns_from_origin(400), "601#5", ["0x8051111", "FORCED CLOSE"]),
        (s.ns_from_origin(200), s.ns_from_origin(900), "602#5", ["0x8051111", ""]),
        (s.ns_from_origin(500), s.ns_from_origin(600), "601#6", ["0xff", "DELETE_CLIENT"])]
    assert rule["outcomes"]["complete"] == 3 and rule["outcomes"]["expression_errors"] == {}


def test_a_string_plus_a_number_is_counted_not_silent(result):
    _, doc = result
    outcomes = rule_of(doc, "concat_of_a_number")["outcomes"]
    # Every entry keyed by null: none pairs with an exit keyed by its fd.
    assert outcomes == {"entries": 3, "complete": 0, "late": 0, "timeouts": 0, "incomplete": 3,
                        "dropped": 0, "dropped_reasons": {}, "exits_without_entry": 3,
                        "expression_errors": {
                            """'"fd" + fd': '+' of a string and a number""": 3}}


def test_a_division_by_zero_is_counted_with_what_it_dropped(result):
    _, doc = result
    rule = rule_of(doc, "divided_by_zero")
    assert [iv["key"] for iv in rule["intervals"]] == ["601#6"]
    assert rule["outcomes"] == {"entries": 3, "complete": 1, "late": 0, "timeouts": 0,
                                "incomplete": 0, "dropped": 2, "dropped_reasons": {FILTERED: 2},
                                "exits_without_entry": 0, "expression_errors": {
                                    "'exit.fd / (exit.fd - 5) > 0': division by zero": 2}}


def test_text_csv_and_html_show_groups_and_errors_readably(recorded, tmp_path):
    _, rules, trace = recorded
    out = tmp_path / "intervals.csv"
    html = tmp_path / "report.html"
    for written in (out, html):
        proc = run_corr("run", "--no-progress", "--no-cache", "-o", written, rules, trace)
        assert proc.returncode == 0, proc.stderr
    proc = run_corr("run", "--no-progress", "--no-cache", rules, trace, env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for label in ("0x8051111 / FORCED CLOSE", "0x8051111 / (empty)", "0xff / DELETE_CLIENT"):
        assert label in text
    assert "['" not in text
    squeezed = " ".join(text.split())
    assert ("""expressions that gave null (an error, not an absent field): '"fd" + fd': '+' of """
            "a string and a number (3 times)") in squeezed
    assert ("expressions that gave null (an error, not an absent field): "
            "'exit.fd / (exit.fd - 5) > 0': division by zero (2 times)") in squeezed
    with out.open(newline="") as f:
        groups = sorted(row["group"] for row in csv.DictReader(f) if row["rule"] == "by_label")
    assert groups == ["0x8051111 / (empty)", "0x8051111 / FORCED CLOSE", "0xff / DELETE_CLIENT"]
    page = html.read_text()
    assert "0x8051111 / (empty)" in page and "division by zero (2 times)" in page


def test_the_json_keeps_composite_groups_structured(recorded):
    _, rules, trace = recorded
    proc = run_corr("run", "--format", "json", "--no-progress", "--no-cache", rules, trace)
    assert proc.returncode == 0, proc.stderr
    groups = [g["key"] for g in rule_of(json.loads(proc.stdout), "by_label")["groups"]]
    assert sorted(groups) == [["0x8051111", ""], ["0x8051111", "FORCED CLOSE"],
                              ["0xff", "DELETE_CLIENT"]]


def test_check_refuses_an_expression_that_is_always_null(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace('"fd" + fd', '"fd" + $tid'))
    proc = run_corr("check", rules)
    assert proc.returncode == 2
    assert proc.stderr == (f"corr: {rules}:13:44: entry.key.conn: '+' of a string and a number "
                           "is always null\n")


def test_check_with_the_traces_finds_what_their_field_types_make_always_null(recorded, tmp_path):
    """``corr check RULES TRACE`` knows each field's type from the trace's metadata:
    an expression every evaluation of which is an error is a warning."""
    _, _, trace = recorded
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES + """\
  - name: by_reason
    entry: {event: conn:open, key: [fd]}
    exit: {event: conn:close, key: [fd]}
    where: exit.reason * 2 > 1
    group_by: ['hex(exit.reason)', 'hex(entry.addr)', 'exit.reason + "!"']
""")
    proc = run_corr("check", rules, trace)
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == [
        f"""corr: warning: {rules}:13:44: rule concat_of_a_number: '"fd" + fd': '+' of a string """
        "and a number is always null with these traces' fields (fd is a number)",
        f"corr: warning: {rules}:22:12: rule by_reason: 'exit.reason * 2 > 1': '*' of a string "
        "and a number is always null with these traces' fields (exit.reason is a string)",
        f"corr: warning: {rules}:23:17: rule by_reason: 'hex(exit.reason)': hex() of a string is "
        "always null with these traces' fields (exit.reason is a string)"]


def test_an_absent_group_reads_none_whether_it_has_one_part_or_several():
    from corr.text import group_label
    assert group_label(None) == "(none)"
    assert group_label([None, ""]) == "(none) / (empty)"
    assert group_label("FORCED CLOSE") == "FORCED CLOSE" and group_label(7) == "7"
