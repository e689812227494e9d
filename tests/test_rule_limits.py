"""Hostile rule files: each ends at once in a model or in one RuleError at file:line:col.

The hand-made cases below are the classes a fuzz campaign found (alias
bombs, deep nesting, huge integers and durations, NaN, tags, control
characters, bytes that are not UTF-8, FIFOs and devices, a 10 MB ``where``),
each with its exact location and cause; a property test then mutates the
shipped rules/*.yaml and asks the same of every mutant.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLE_TRACE, one_line_error, run_corr, shared_trace
from corr import paths
from test_rules_loading import BASE
from corr.errors import RuleError, UsageError
from corr.rules import apply_overrides, load_rules, parse_duration, parse_expression
from corr.rules.document import MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH
from corr.rules.loader import MAX_RULES
from corr.rules.expr import MAX_CHARS, MAX_NESTING
from corr.rules.model import Env, RuleSet
from corr.rules.units import MAX_DURATION_NS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "rules").glob("*.yaml"))

SPAN = """\
version: 1
rules:
  - name: s
    span: {event: a, duration: %s}
"""


def bomb(levels: int = 9) -> str:
    """The "billion laughs": each anchor a list of nine aliases of the one before."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n" + BASE


NASTY = [
    # YAML: aliases, nesting, tags, numbers
    ("alias-bomb", bomb(), 5, 10, f"yaml: aliases expand to more than {MAX_ALIAS_NODES:,} nodes"),
    ("alias-recursive", "a: &a [*a]\n" + BASE, 1, 8, "yaml: alias *a is inside the node it names"),
    ("alias-deep", "a: &a " + "[" * 20 + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20 + "\n",
     2, 24, f"yaml: nested more than {MAX_DEPTH} levels deep (with alias *a expanded)"),
    ("deep-flow", "version: 1\nrules: " + "[" * 5000 + "]" * 5000 + "\n", 2, 39,
     f"yaml: nested more than {MAX_DEPTH} levels deep"),
    ("deep-block", "version: 1\nrules:\n" + "".join("  " * i + "- \n" for i in range(40)), 34, 63,
     f"yaml: nested more than {MAX_DEPTH} levels deep"),
    ("tag-omap-where", BASE + "    where: !!omap [a: 1]\n", 6, 12, "yaml: tag '!!omap' is not allowed"),
    ("tag-omap-rule", "version: 1\nrules:\n  - !!omap\n    - name: r\n", 3, 5,
     "yaml: tag '!!omap' is not allowed"),
    ("tag-set", "version: !!set {1}\nrules: []\n", 1, 10, "yaml: tag '!!set' is not allowed"),
    ("tag-binary", BASE + "    description: !!binary aGVsbG8=\n", 6, 18, "yaml: tag '!!binary' is not allowed"),
    ("tag-python", "version: !!python/object:os.system 1\nrules: []\n", 1, 10,
     "yaml: tag '!!python/object:os.system' is not allowed"),
    ("tag-local", BASE + "    description: !mine x\n", 6, 18, "yaml: tag '!mine' is not allowed"),
    ("tag-str", BASE.replace("name: r", "name: !!str r"), 3, 11,
     "name: expected a string, got a value tagged !!str (write it without the tag)"),
    ("timestamp", BASE + "    description: 2001-12-14\n", 6, 18,
     "description: expected a string, got the date '2001-12-14' (quote it to make it a string)"),
    ("int-5000-digits", "version: " + "9" * 5000 + "\nrules: []\n", 1, 10,
     "yaml: integer of 5,000 characters (at most 30)"),
    ("int-threshold", BASE + "    threshold: " + "1" * 4301 + "\n", 6, 16, "yaml: integer of 4,301 characters"),
    # characters and bytes
    ("control-char", BASE + "    description: a\x07b\n", 6, 19,
     "yaml: character '\\x07' is not allowed in a YAML file"),
    ("control-char-quoted", BASE + '    description: "a\x01b"\n', 6, 20, "yaml: character '\\x01'"),
    ("nul", "version: 1\x00\n", 1, 11, "yaml: character '\\x00'"),
    ("not-utf8", BASE.encode() + b"    description: caf\xe9\n", 6, 21,
     "cannot read: not UTF-8 text (byte 0xe9)"),
    ("not-utf8-after-wide", b"version: 1\n# \xc3\xa9\xc3\xa9\xc3\xa9 \xff\n", 2, 7,
     "cannot read: not UTF-8 text (byte 0xff)"),
    # durations
    ("timeout-huge", BASE + "    timeout: 99999999999s\n", 6, 14,
     "timeout: '99999999999s' is too long: a duration is at most 1000000000s (about 31 years)"),
    ("threshold-huge", BASE + "    threshold: 99999999999999999999999999999s\n", 6, 16, "is too long"),
    ("threshold-nan", BASE + "    threshold: .nan\n", 6, 16, "threshold: 'nan' is not a duration"),
    ("threshold-inf", BASE + "    threshold: .inf\n", 6, 16, "threshold: 'inf' is not a duration"),
    ("threshold-long-digits", BASE + "    threshold: '" + "1" * 20000 + " x y'\n", 6, 16,
     "threshold: '1111111111111111111111111111111111111111...' is not a duration"),
    ("where-duration-huge", BASE + "    where: $duration > 99999999999s\n", 6, 24,
     "where: '99999999999s' is too long"),
    # span durations
    ("span-int-huge", SPAN % "99999999999999999999999", 4, 32,
     "span.duration: integer 99999999999999999999999 is out of range (at most 18446744073709551615"),
    ("span-nan", SPAN % "'1e999 - 1e999'", 4, 32, "span.duration: nan is not a duration in ns"),
    ("span-inf", SPAN % "'1e999'", 4, 32, "span.duration: inf is not a duration in ns"),
    ("span-negative", SPAN % "'-1'", 4, 32, "span.duration: -1 is not a duration in ns"),
    ("span-string", SPAN % "\"'x'\"", 4, 32, "span.duration: 'x' is not a duration in ns"),
    ("span-too-long", SPAN % "1000000000000000001", 4, 32, "(0 to 1,000,000,000,000,000,000)"),
    # expressions: integers, lists, length, depth
    ("where-int-4301", BASE + "    where: entry.x == " + "9" * 4301 + "\n", 6, 23,
     "where: integer " + "9" * 77 + "... is out of range (at most 18446744073709551615, 64 bits)"),
    ("key-int-huge", BASE.replace("key: [x]}", "key: {x: 18446744073709551616}}"), 4, 32,
     "entry.key.x: integer 18446744073709551616 is out of range"),
    ("hex-huge", BASE + "    where: entry.x == 0x1" + "0" * 16 + "\n", 6, 23, "integer 0x1000"),
    ("group-by-list", BASE + "    group_by: ['[]']\n", 6, 16,
     "group_by[0]: a list cannot be a key or a group (lists are for `in` and `not in`)"),
    ("key-list", BASE.replace("key: [x]}", "key: {x: '[x]'}}", 1), 4, 32,
     "entry.key.x: a list cannot be a key or a group"),
    ("where-not-deep", BASE + "    where: " + "not " * 3000 + "true\n", 6, 12 + 4 * MAX_NESTING,
     f"where: expression nested more than {MAX_NESTING} levels deep"),
    ("where-neg-deep", BASE + "    where: " + "-" * 3000 + "1 == 1\n", 6, 12 + MAX_NESTING - 1,
     f"where: expression nested more than {MAX_NESTING} levels deep"),
    ("where-list-deep", BASE + "    where: entry.x in " + "[" * 200 + "]" * 200 + "\n", 6, 23 + MAX_NESTING - 1,
     f"where: expression nested more than {MAX_NESTING} levels deep"),
    ("where-too-long", BASE + "    where: " + "entry.x == 1 or " * (MAX_CHARS // 16) + "true\n", 6, 12,
     f"where: expression of {MAX_CHARS // 16 * 16 + 4:,} characters (at most {MAX_CHARS:,})"),
    ("where-error-is-short", BASE + "    where: " + "entry.x == 1 or " * 1000 + "or\n", 6, 16012,
     "where: unexpected 'or' in 'entry.x == 1 or entry.x == 1 or entry.x == 1 or entry.x == 1 or entry.x == 1 ...'"),
    ("like-pattern-long", BASE + "    where: exit.comm like '" + "[a" * 20000 + "'\n", 6, 27,
     "where: like pattern of 40,000 characters (at most 1,000)"),
    # event lists
    ("event-glob-long", BASE.replace("event: a,", "event: '" + "[a" * 20000 + "',"), 4, 20,
     "entry.event: an event name or glob of more than 1,000 characters"),
    ("events-too-many", BASE.replace("event: a,", "event: [" + ", ".join(f"e{i}" for i in range(1001)) + "],"),
     4, 20, "entry.event: 1,001 event names and alternatives (at most 1,000: use globs)"),
    ("alternatives-too-many", BASE.replace("event: a,", "event: '" + "|".join(f"e{i}" for i in range(1001)) + "',"),
     4, 20, "entry.event: 1,001 event names and alternatives"),
    # rules: refused at the first one over the bound
    ("rules-too-many", "version: 1\nrules:\n" + "".join(
        f"  - name: r{i}\n    entry: {{event: a, key: [x]}}\n    exit: {{event: b, key: [x]}}\n"
        for i in range(MAX_RULES + 1)), 3 + 3 * MAX_RULES, 5,
     f"rules: {MAX_RULES + 1:,} rules (at most {MAX_RULES:,} a file"),
]


def write(tmp_path, content, name="rules.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize("content, line, column, needle",
                         [pytest.param(*case[1:], id=case[0]) for case in NASTY])
def test_nasty_rule_files_are_located(tmp_path, content, line, column, needle):
    path = write(tmp_path, content)
    with pytest.raises(RuleError) as caught:
        load_rules(path, cache=False)
    err = caught.value
    assert (err.line, err.column) == (line, column), str(err)[:300]
    assert needle in err.reason, str(err)[:300]
    assert str(err).startswith(f"{path}:{line}:{column}: ")
    assert "\n" not in str(err) and len(str(err)) < 400
    assert err.exit_code == 2


def test_a_file_of_exactly_the_most_rules_loads(tmp_path):
    path = write(tmp_path, "version: 1\nrules:\n" + "".join(
        f"  - name: r{i}\n    entry: {{event: a, key: [x]}}\n    exit: {{event: b, key: [x]}}\n"
        for i in range(MAX_RULES)))
    assert [r.name for r in load_rules(path, cache=False).rules] == [f"r{i}" for i in range(MAX_RULES)]


def test_shared_anchors_within_the_bound_load(tmp_path):
    """An alias is useful (one key for entry and exit): allowed, and expanded."""
    path = write(tmp_path, BASE.replace("key: [x]}", "key: &k {x: x, y: $tid}}", 1)
                 .replace("key: [x]}", "key: *k}"))
    ruleset = load_rules(path, cache=False)
    assert [p.name for p in ruleset.rules[0].exit.key] == ["x", "y"]


def test_the_bomb_is_refused_before_it_grows():
    """Nine levels of nine aliases would be 387 million nodes: refused as it is composed."""
    from corr.rules.loader import parse_rules
    with pytest.raises(RuleError, match="an alias bomb"):
        parse_rules(bomb(12), "bomb.yaml")


def test_depth_and_alias_bounds_are_exact(tmp_path):
    nested = "version: 1\nrules: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    with pytest.raises(RuleError, match="expected a mapping, got a list"):   # within the bound
        load_rules(write(tmp_path, nested), cache=False)
    deeper = "version: 1\nrules: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    with pytest.raises(RuleError, match="nested more than"):
        load_rules(write(tmp_path, deeper), cache=False)
    # MAX_ALIAS_NODES nodes added by aliases load (as far as the schema), one more does not.
    items = ", ".join(["x"] * 99)
    within = f"a: &a [{items}]\nb: [" + ", ".join(["*a"] * (MAX_ALIAS_NODES // 100)) + "]\n"
    with pytest.raises(RuleError, match="unknown key 'a'"):
        load_rules(write(tmp_path, within), cache=False)
    over = within.replace("b: [", "b: [*a, ")
    with pytest.raises(RuleError, match="alias bomb"):
        load_rules(write(tmp_path, over), cache=False)


# -- files that are not regular files --------------------------------------------------

def test_a_fifo_a_device_and_a_huge_file_are_refused_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "FIFO_PEER_WAIT_S", 0.1)
    fifo = tmp_path / "rules.fifo"
    os.mkfifo(fifo)
    huge = write(tmp_path, BASE + "#" * MAX_BYTES + "\n", "huge.yaml")
    for path, message in [(fifo, "a named pipe (FIFO) that nobody writes to (waited 0.1 s)"),
                          (Path("/dev/zero"), "a character device, not a rule file"),
                          (Path("/dev/null"), "a character device, not a rule file"),
                          (huge, f"longer than {MAX_BYTES:,} bytes: too large for a rule file")]:
        with pytest.raises(RuleError) as caught:
            load_rules(path, cache=False)
        assert str(caught.value) == f"{path}: {message}"


@pytest.mark.parametrize("mode", ["off", "auto"])
@pytest.mark.parametrize("command", ["check", "run", "tune"])
def test_every_command_refuses_them_in_one_line_in_process_and_served(tmp_path, mode, command):
    # A FIFO nobody writes to is waited on for a while first: tests/test_paths_and_options.py
    cases = [(Path("/dev/zero"), "corr: /dev/zero: a character device, not a rule file"),
             (write(tmp_path, bomb(), "bomb.yaml"), "bomb.yaml:5:10: yaml: aliases expand"),
             (write(tmp_path, BASE + "    where: " + " or ".join(["entry.x == 1"] * 500) + " or (\n",
                    "or.yaml"), "or.yaml:6:8013: where: incomplete expression"),
             (write(tmp_path, BASE + "    timeout: 99999999999s\n", "t.yaml"),
              "t.yaml:6:14: timeout: '99999999999s' is too long"),
             (write(tmp_path, BASE + "    group_by: ['[]']\n", "g.yaml"),
              "g.yaml:6:16: group_by[0]: a list cannot be a key or a group")]
    env = _env(tmp_path, mode)
    try:
        for path, needle in cases:
            args = [command, path] + ([] if command == "check" else [EXAMPLE_TRACE])
            one_line_error(run_corr(*args, env=env), needle)
    finally:
        _stop(env, mode)


def _env(tmp_path, mode) -> dict:
    env = {"CORR_SERVER": mode, "CORR_NO_RULE_CACHE": "1"}
    if mode != "off":
        runtime = tmp_path / "run"
        runtime.mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(runtime)
    return env


def _stop(env, mode):
    if mode != "off":
        run_corr("server", "stop", env=env)


# -- long and/or chains: legitimate, no recursion limit --------------------------------

def test_thousands_of_or_terms_parse_and_evaluate():
    terms = 20_000
    text = " or ".join(f"entry.x == {i}" for i in range(terms))
    expression = parse_expression(text, "pair")
    assert expression.tree.data == "or_" and len(expression.tree.children) == terms
    assert expression.evaluate(Env(entry={"x": terms - 1})) is True
    assert expression.evaluate(Env(entry={"x": terms})) is False
    conjunction = parse_expression(" and ".join(f"x != {i}" for i in range(terms)), "event")
    assert conjunction.evaluate(Env(event={"x": -1})) is True
    assert conjunction.evaluate(Env(event={"x": 7})) is False


def test_chains_are_flat_however_parenthesised_and_mixed_ones_nest():
    right = parse_expression("a or (b or (c or (d or e)))", "event")
    assert right.tree.data == "or_" and len(right.tree.children) == 5
    mixed = parse_expression("a or b and c or d", "event")
    assert [getattr(c, "data", None) for c in mixed.tree.children] == ["reference", "and_", "reference"]
    assert mixed.evaluate(Env(event={"b": 1, "c": 1})) is True
    assert mixed.evaluate(Env(event={"b": 1})) is False


def test_long_chains_in_a_rule_file_check_and_run_column_wise(tmp_path):
    from corr.rules.vector import event_mask
    text = " or ".join(f"x == {i}" for i in range(5000))
    expression = parse_expression(text, "event")
    mask = event_mask(expression, lambda scope, name: [0, 4999, 5000, None], 4)
    assert mask == bytes([1, 1, 0, 0])
    path = write(tmp_path, BASE.replace("key: [x]}", f"key: [x], where: {text}}}", 1))
    rule = load_rules(path, cache=False).rules[0]
    assert len(rule.entry.where.tree.children) == 5000
    # and through the rule cache (the tree is pickled): the same rule back
    assert len(load_rules(path).rules[0].entry.where.tree.children) == 5000
    assert len(load_rules(path).rules[0].entry.where.tree.children) == 5000


def test_integer_arithmetic_beyond_floats_is_absent():
    """Else a product of 256 literals (depth 8) would be 5,000 digits: no key, no output."""
    product = "x"
    for _ in range(8):
        product = f"({product} * {product})"
    assert parse_expression(product, "event").evaluate(Env(event={"x": 2**64 - 1})) is None
    assert parse_expression(product, "event").evaluate(Env(event={"x": 2})) == 2**256
    assert parse_expression(product, "event").evaluate(Env(event={"x": -1})) == 1
    for text, value in [("x + x", None), ("x + x - x", None), ("x - 1 + x", 2**1024 - 1),
                        ("-x - x", None), ("-x - x + 1", None), ("1e300 * 1e300", float("inf"))]:
        assert parse_expression(text, "event").evaluate(Env(event={"x": 2**1023})) == value, text


def test_a_long_pattern_read_from_the_trace_matches_nothing():
    like = parse_expression("comm like pattern", "event")
    assert like.evaluate(Env(event={"comm": "ab", "pattern": "a*"})) is True
    assert like.evaluate(Env(event={"comm": "ab", "pattern": "a" + "*" * 1000})) is False


def test_a_column_of_a_trace_s_arrays_falls_back_to_rows():
    """An array field (poll's fds) is a column of lists: not evaluated column-wise."""
    from corr.rules.vector import event_mask
    expression = parse_expression("fds == 1 or fds in [2]", "event")
    fds = [[1, 2], [3], [], None]
    assert event_mask(expression, lambda scope, name: fds, 4) is None
    assert [expression.evaluate(Env(event={"fds": v})) for v in fds] == [False] * 4


ARRAY_RULES = """\
version: 1
rules:
  - name: by_fds
    entry: {event: syscall_entry_poll, key: [fds]}
    exit: {event: syscall_exit_poll, key: [fds]}
  - name: grouped
    entry: {event: syscall_entry_poll, key: {tid: $tid}}
    exit: {event: syscall_exit_poll, key: {tid: $tid}, fields: [fds]}
    group_by: [exit.fds]
  - name: grouped_twice
    entry: {event: syscall_entry_poll, key: {tid: $tid}}
    exit: {event: syscall_exit_poll, key: {tid: $tid}}
    group_by: [exit.fds, entry.$tid]
"""


@pytest.mark.parametrize("engine", ["auto", "python"])
def test_keys_and_groups_on_a_trace_s_array_field_use_its_value(tmp_path, engine):
    """poll's fds (an array of structures) as a key or a group: its value, as nested
    lists in JSON, in the C core and the Python matcher alike; not an unhashable list."""
    import json
    path = write(tmp_path, ARRAY_RULES)
    proc = run_corr("run", path, shared_trace("wget-k-20180802-115406"), "--format", "json",
                    env={"CORR_SERVER": "off", "CORR_ENGINE": engine})
    assert proc.returncode == 0, proc.stderr
    rules = {r["name"]: r for r in json.loads(proc.stdout)["rules"]}
    by_fds, grouped, twice = rules["by_fds"], rules["grouped"], rules["grouped_twice"]
    assert (by_fds["outcomes"]["entries"], by_fds["outcomes"]["complete"]) == (102, 9)
    # Without a threshold the slowest are the reported statuses' (complete and late):
    # the incomplete polls on fd 18 are counted apart.
    assert by_fds["intervals"][0]["status"] == "complete"
    assert by_fds["intervals"][0]["key"]["fds"][:2] == [["fd", 3], ["raw_events", 1]]
    assert (grouped["outcomes"]["complete"], len(grouped["groups"])) == (98, 11)
    assert grouped["groups"][1]["key"][0][:2] == [["fd", 28], ["raw_events", 4]]
    assert (twice["outcomes"]["complete"], len(twice["groups"])) == (98, 17)
    assert twice["groups"][0]["key"] == [[], 8693]


def test_no_recursion_error_however_deep_the_text():
    for text in ["not " * 50_000 + "x", "-" * 50_000 + "1",
                 "[" * 50_000 + "]" * 50_000, "x in " + "[" * 50_000]:
        with pytest.raises(RuleError) as caught:
            parse_expression(text, "event")
        assert "nested more than" in caught.value.reason or "incomplete" in caught.value.reason, \
            caught.value.reason
    # Parentheses alone are no nesting: the tree is the one inside.
    assert parse_expression("(" * 5000 + "x" + ")" * 5000, "event").reference == ("event", "x")


# -- durations and --set ---------------------------------------------------------------

def test_duration_bounds():
    assert parse_duration("1000000000s") == MAX_DURATION_NS
    for text, needle in [("1000000000.000000001s", "is too long"), ("99999999999s", "is too long"),
                         ("1" * 100_000 + "s", "is not a duration"), ("nan", "is not a duration"),
                         ("inf s", "is not a duration"), ("1e400ms", "unknown unit 'e400ms'")]:
        with pytest.raises(ValueError, match=needle):
            parse_duration(text)


def test_overrides_get_the_same_checks(tmp_path):
    ruleset = load_rules(ROOT / "rules" / "syscalls.yaml", cache=False)
    with pytest.raises(UsageError) as caught:
        apply_overrides(ruleset, ["syscalls.timeout=99999999999999999999999999999s"])
    assert str(caught.value) == ("--set syscalls.timeout=99999999999999999999999999999s: "
                                 "'99999999999999999999999999999s' is too long: a duration is "
                                 "at most 1000000000s (about 31 years)")
    with pytest.raises(UsageError) as caught:
        apply_overrides(ruleset, ["syscalls.threshold=" + "9" * 5000 + "s"])
    assert len(str(caught.value)) < 200 and "is not a duration" in str(caught.value)


@pytest.mark.parametrize("mode", ["off", "auto"])
def test_set_out_of_range_is_one_line_in_process_and_served(tmp_path, mode):
    env = _env(tmp_path, mode)
    try:
        for command in ("run", "tune"):
            proc = run_corr(command, ROOT / "rules" / "llserver.yaml", EXAMPLE_TRACE,
                            "--set", "processing.timeout=99999999999999999999999999999s", env=env)
            one_line_error(proc, "corr: --set processing.timeout=99999999999999999999999999999s: "
                                 "'99999999999999999999999999999s' is too long")
    finally:
        _stop(env, mode)


# -- what check accepts, run runs --------------------------------------------------------

RUNTIME = """\
version: 1
rules:
  - name: huge_span
    span: {event: 'llserver:lock_wait', duration: wait_ns * 9999999999999999999}
  - name: float_span
    span: {event: 'llserver:lock_wait', duration: wait_ns * 1e300}
  - name: huge_blame
    entry: {event: 'llserver:process_start', key: {t: seqno * 9999999999999999999}}
    exit: {event: 'llserver:process_end', key: {t: seqno * 9999999999999999999}}
    blame: t
"""


@pytest.mark.parametrize("mode", ["off", "auto"])
def test_values_beyond_64_bits_at_run_time_are_dropped_not_an_internal_error(tmp_path, mode):
    path = write(tmp_path, RUNTIME)
    env = _env(tmp_path, mode)
    try:
        assert run_corr("check", path, env=env).returncode == 0
        proc = run_corr("run", path, EXAMPLE_TRACE, "--format", "json", env=env)
    finally:
        _stop(env, mode)
    assert proc.returncode == 0, proc.stderr
    import json
    rules = {r["name"]: r for r in json.loads(proc.stdout)["rules"]}
    for name in ("huge_span", "float_span"):
        assert rules[name]["outcomes"]["dropped_reasons"] == {
            "its duration is missing or negative": 1043}, rules[name]["outcomes"]
    assert rules["huge_blame"]["outcomes"]["complete"] == 901
    assert rules["huge_blame"]["blame"]["unattributed"] == 901     # no such thread


# -- property: mutants of the shipped rules load or fail cleanly --------------------------

NASTY_TOKENS = ["&a ", "*a", "*b", "!!omap ", "!!set ", "!!binary ", "!!python/object:x ", "!x ",
                "[" * 40, "]", "{", "}", "9" * 5000, "1e999", ".nan", "-.inf", "99999999999s",
                "\x00", "\x07", "\x1b", "\t", "\ufeff", "\ud7ff", " or ", " and ", "not ",
                "(" * 100, ")", "- ", ": ", "? ", "|", ">", "'", '"', "#", "\n", "\n  - ", "<<: *a",
                "'[]'", "$duration", "entry.", "0x" + "f" * 40, "%", "---\n", "...\n"]


def mutate(text: str, rng: random.Random, count: int) -> bytes:
    data = bytearray(text.encode("utf-8"))
    for _ in range(count):
        at = rng.randrange(len(data) + 1)
        kind = rng.randrange(6)
        if kind == 0 and data:                               # flip a bit
            data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 1 and data:                             # overwrite a byte
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif kind == 2:                                      # delete a slice
            del data[at:at + rng.randrange(1, 40)]
        elif kind == 3:                                      # duplicate a slice
            start = rng.randrange(len(data) + 1)
            data[at:at] = data[start:start + rng.randrange(1, 200)]
        else:                                                # insert a nasty token
            data[at:at] = rng.choice(NASTY_TOKENS).encode("utf-8", "surrogatepass")
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SHIPPED), st.integers(0, 2**32 - 1), st.integers(1, 8))
def test_mutated_shipped_rules_load_or_fail_with_one_rule_error(tmp_path_factory, source, seed,
                                                                 count):
    content = mutate(source.read_text("utf-8"), random.Random(seed), count)
    path = tmp_path_factory.mktemp("mutant") / "mutant.yaml"
    path.write_bytes(content)
    recursion = sys.getrecursionlimit()
    try:
        ruleset = load_rules(path, cache=False)
    except RuleError as err:
        assert err.path == str(path)
        assert "\n" not in str(err) and len(str(err)) < 1000, str(err)[:300]
        if err.line is not None:
            assert 1 <= err.line <= content.count(b"\n") + 1 and err.column >= 1, str(err)
    else:
        assert isinstance(ruleset, RuleSet)
        for rule in ruleset.rules:
            for ns in (rule.threshold_ns, rule.timeout_ns):
                assert ns is None or 0 <= ns <= MAX_DURATION_NS
    assert sys.getrecursionlimit() == recursion
