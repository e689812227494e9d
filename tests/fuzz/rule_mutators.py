"""Rule files that must end in one ``corr: FILE:LINE:COL: ...`` line or a clean run.

Two sources: mutations of the shipped ``rules/*.yaml`` (a value of the parsed
tree replaced by a hostile YAML snippet, a key dropped, lines damaged), and
:data:`HANDMADE`, nasty files written by hand (alias bombs, deep nesting, a
5000-term ``or``, huge integers, NaN durations, control characters, non-UTF-8,
``!!omap``, ``group_by`` lists, a FIFO).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .recipes import ROOT

RULE_BASES = sorted(p.name for p in (ROOT / "rules").glob("*.yaml"))
PLACEHOLDER = "FUZZ_PLACEHOLDER_7f3a"

# Raw YAML put where a value was: out-of-range numbers and durations, wrong types,
# tags, control characters, expressions that are too deep or broken.
SNIPPETS = [
    "-1", "0", "99999999999999999999999", "1" + "0" * 5000, ".nan", ".inf", "-.inf",
    "nanms", "NaN ms", "infs", "99999999999s", "99999999999999999999999999999s", "1e309s",
    "-5ms", "0s", "0.0000001ns", "1.5", "''", "~", "[]", "{}", "[[]]", "['[]']", "[{}]",
    "!!omap [ {a: 1}, {b: 2} ]", "!!binary aGVsbG8=", "!!set {a, b}", "2001-12-14",
    "yes", "0x7fffffffffffffffffffff", "1_000", '"\\x1b[2J\\x1b]0;pwned\\x07"', '"a\\0b"',
    '"\\u202egnp.exe"', '"prev_tid =="', '"((((((("', '"not " * 3"', '"x in []"', '"*"',
    '"**"', '"["', '"$duration > 99999999999999999999999999s"', '"prev_tid // 0"',
    '"prev_tid % 0 == 1"', '"entry.nope.nope"', '"1 < 2 < 3 < 4"',
    '"' + " or ".join(f"prev_tid == {i}" for i in range(300)) + '"',
    '"' + "(" * 300 + "prev_tid" + ")" * 300 + '"', '"' + "-" * 400 + '1"',
    "&x [*x]", "*undefined", "!!python/object/apply:os.getcwd []", "!!str", "|\n  a\n  b",
]

TEXT_EDITS = ["delete_line", "duplicate_line", "swap_lines", "indent", "truncate",
              "bit_flip", "control_char"]


def _walk(node, path=()):
    """Every (path, value) of the parsed tree, the root excepted."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        yield path + (key,), value
        yield from _walk(value, path + (key,))


def _set(tree, path, value):
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _delete(tree, path):
    node = tree
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


def value_mutation(text: str, rng, params):
    """Replace (or drop) one value of the parsed rule file; the rest stays as shipped."""
    tree = yaml.safe_load(text)
    paths = [list(path) for path, _ in _walk(tree)]
    p = params or {"path": rng.choice(paths),
                   "action": rng.choices(["snippet", "drop", "to_list"], [8, 1, 1])[0],
                   "snippet": rng.choice(SNIPPETS)}
    path = tuple(p["path"])
    if p["action"] == "drop":
        _delete(tree, path)
        return yaml.safe_dump(tree, sort_keys=False).encode(), p
    if p["action"] == "to_list":
        node = tree
        for key in path:
            node = node[key]
        _set(tree, path, [node, node])
        return yaml.safe_dump(tree, sort_keys=False).encode(), p
    _set(tree, path, PLACEHOLDER)
    out = yaml.safe_dump(tree, sort_keys=False, width=10**9)
    snippet = p["snippet"]
    if "\n" in snippet:                       # a block scalar: indent under its key
        snippet = snippet.replace("\n", "\n" + " " * 8)
    return out.replace(PLACEHOLDER, snippet, 1).encode(), p


def text_mutation(text: str, rng, params):
    """Damage the file's lines or bytes as an editor or a bad copy would."""
    data = text.encode()
    lines = text.split("\n")
    p = params
    if p is None:
        edit = rng.choice(TEXT_EDITS)
        p = {"edit": edit}
        if edit in ("delete_line", "duplicate_line", "indent"):
            p["line"] = rng.randrange(len(lines))
            p["by"] = rng.choice([-2, -1, 1, 2, 3])
        elif edit == "swap_lines":
            p["lines"] = sorted(rng.sample(range(len(lines)), 2))
        elif edit == "truncate":
            p["size"] = rng.randrange(len(data) + 1)
        elif edit == "bit_flip":
            p["flips"] = [[rng.randrange(len(data)), rng.randrange(8)]
                          for _ in range(rng.choice([1, 2, 3]))]
        else:
            p["at"] = rng.randrange(len(data) + 1)
            p["char"] = rng.choice(["\x00", "\x1b", "\x07", "\x0c", "\x7f", "\x85", "\ufeff",
                                    "\t", "\r", "\u2028", "\ud800"])
    edit = p["edit"]
    if edit == "delete_line":
        del lines[p["line"]]
    elif edit == "duplicate_line":
        lines.insert(p["line"], lines[p["line"]])
    elif edit == "indent":
        line = lines[p["line"]]
        lines[p["line"]] = (" " * p["by"] + line) if p["by"] > 0 else line[-p["by"]:]
    elif edit == "swap_lines":
        i, j = p["lines"]
        lines[i], lines[j] = lines[j], lines[i]
    data = "\n".join(lines).encode()
    if edit == "truncate":
        data = data[:p["size"]]
    elif edit == "bit_flip":
        buf = bytearray(data)
        for offset, bit in p["flips"]:
            if offset < len(buf):
                buf[offset] ^= 1 << bit
        data = bytes(buf)
    elif edit == "control_char":
        data = data[:p["at"]] + p["char"].encode("utf-8", "surrogatepass") + data[p["at"]:]
    return data, p


# -- hand-made nasty rule files -------------------------------------------------------

def _rule(where="prev_tid != 0", *, threshold="1ms", timeout="10s", extra="", name="r",
          event="sched_switch") -> str:
    return (f"version: 1\nrules:\n  - name: {name}\n    entry:\n      event: {event}\n"
            f"      key: {{tid: prev_tid}}\n      where: {where}\n    exit:\n"
            f"      event: sched_switch\n      key: {{tid: next_tid}}\n"
            f"    threshold: {threshold}\n    timeout: {timeout}\n{extra}")


def _alias_bomb(levels: int, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return "version: 1\n" + "\n".join(lines) + f"\nrules: *a{levels - 1}\n"


def _or_terms(n: int) -> str:
    return '"' + " or ".join(f"prev_tid == {i}" for i in range(n)) + '"'


HANDMADE: dict[str, object] = {
    "alias_bomb": lambda: _alias_bomb(9),
    "alias_bomb_small": lambda: _alias_bomb(5),
    "alias_recursive": lambda: "version: 1\nrules: &r [*r]\n",
    "alias_in_where": lambda: _rule("&w prev_tid != 0", extra="    group_by: [*w]\n"),
    "deep_list": lambda: "version: 1\nrules: " + "[" * 20000 + "]" * 20000 + "\n",
    "deep_map": lambda: "version: 1\nrules: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
    "deep_parens": lambda: _rule('"' + "(" * 5000 + "prev_tid != 0" + ")" * 5000 + '"'),
    "deep_not": lambda: _rule('"' + "not " * 5000 + "prev_tid"'"'),
    "deep_minus": lambda: _rule('"prev_tid != ' + "-" * 5000 + '1"'),
    "or_500": lambda: _rule(_or_terms(500)),
    "or_5000": lambda: _rule(_or_terms(5000)),
    "and_5000": lambda: _rule('"' + " and ".join(["prev_tid != 0"] * 5000) + '"'),
    "plus_5000": lambda: _rule('"prev_tid == ' + " + ".join(["1"] * 5000) + '"'),
    "in_list_20000": lambda: _rule('"prev_tid in [' + ", ".join(map(str, range(20000))) + ']"'),
    "where_1mb": lambda: _rule('"' + " or ".join(["prev_tid == 1"] * 70000) + '"'),
    "event_globs_20000": lambda: _rule(event="[" + ", ".join(
        f"ev_{i}_*" for i in range(20000)) + "]"),
    "huge_int_where": lambda: _rule("prev_tid == 1" + "0" * 5000),
    "huge_int_4301": lambda: _rule("prev_tid == 1" + "0" * 4300),
    "huge_threshold": lambda: _rule(threshold="1" + "0" * 5000 + "ns"),
    "huge_timeout": lambda: _rule(timeout="99999999999s"),
    "huge_timeout_30": lambda: _rule(timeout="999999999999999999999999999999s"),
    "huge_threshold_float": lambda: _rule(threshold="1e308s"),
    "overflow_threshold_float": lambda: _rule(threshold="1e309s"),
    "nan_threshold": lambda: _rule(threshold="nanms"),
    "nan_threshold_yaml": lambda: _rule(threshold=".nan"),
    "nan_timeout": lambda: _rule(timeout="NaNs"),
    "inf_timeout": lambda: _rule(timeout="infs"),
    "negative_timeout": lambda: _rule(timeout="-1s"),
    "duration_in_where_huge": lambda: _rule('"$duration > 99999999999999999999999s"'),
    "duration_nan_in_where": lambda: _rule('"$duration > nanms"'),
    "group_by_list_string": lambda: _rule(extra="    group_by: ['[]']\n"),
    "group_by_nested_list": lambda: _rule(extra="    group_by: [[entry.prev_comm]]\n"),
    "group_by_map": lambda: _rule(extra="    group_by: [{a: b}]\n"),
    "group_by_5000": lambda: _rule(extra="    group_by: [" + ", ".join(
        ["entry.prev_comm"] * 5000) + "]\n"),
    "blame_huge_key": lambda: _rule(extra="    blame: " + "9" * 5000 + "\n"),
    "omap_rules": lambda: "version: 1\nrules: !!omap\n  - a: 1\n  - b: 2\n",
    "omap_rule": lambda: _rule().replace("  - name: r", "  - !!omap\n    - name: r"),
    "set_rules": lambda: "version: 1\nrules: !!set {a, b}\n",
    "binary_name": lambda: _rule(name="!!binary aGVsbG8="),
    "timestamp_name": lambda: _rule(name="2001-12-14"),
    "python_tag": lambda: "version: 1\nrules: !!python/object/apply:os.getcwd []\n",
    "control_char_raw": lambda: _rule(name="a\x1bb"),
    "control_char_nul": lambda: _rule(name="a\x00b"),
    "control_char_in_where": lambda: _rule('"prev_tid\x07 != 0"'),
    "escape_in_name": lambda: _rule(name='"\\x1b[2J\\x1b]0;pwned\\x07"'),
    "rtl_override_name": lambda: _rule(name='"\\u202egnp.exe"'),
    "non_utf8_comment": lambda: b"# \xff\xfe caf\xe9\n" + _rule().encode(),
    "non_utf8_name": lambda: _rule(name="caf\udce9").encode("utf-8", "surrogateescape"),
    "utf16_bom": lambda: _rule().encode("utf-16"),
    "utf8_bom": lambda: b"\xef\xbb\xbf" + _rule().encode(),
    "lone_surrogate": lambda: _rule(name='"\\ud800"'),
    "empty_file": lambda: "",
    "only_comment": lambda: "# nothing\n",
    "only_separator": lambda: "---\n",
    "two_documents": lambda: _rule() + "---\n" + _rule(),
    "null_document": lambda: "~\n",
    "list_document": lambda: "- 1\n- 2\n",
    "scalar_document": lambda: "hello\n",
    "version_huge": lambda: _rule().replace("version: 1", "version: " + "9" * 5000),
    "version_float": lambda: _rule().replace("version: 1", "version: 1.0"),
    "duplicate_keys": lambda: _rule(extra="    threshold: 2ms\n"),
    "complex_key": lambda: _rule(extra="    ? [a, b]\n    : c\n"),
    "long_line": lambda: _rule(name="n" * 1_000_000),
    "many_rules": lambda: "version: 1\nrules:\n" + "".join(
        _rule(name=f"r{i}").split("rules:\n", 1)[1] for i in range(2000)),
    "duplicate_rule_names": lambda: "version: 1\nrules:\n" + "".join(
        _rule().split("rules:\n", 1)[1] for _ in range(3)),
    "tabs": lambda: _rule().replace("    threshold", "\tthreshold"),
    "cr_only": lambda: _rule().replace("\n", "\r"),
    "binary_garbage": lambda: bytes(range(256)) * 64,
    "fifo": "fifo",
    "directory": "directory",
    "dangling_symlink": "dangling_symlink",
}

# Too slow to be useful in the short run inside `make test` (each is in the campaign).
SLOW_HANDMADE = {"alias_bomb", "where_1mb", "event_globs_20000", "many_rules", "long_line"}


def make(recipe, out: Path, rng) -> dict:
    """Write the recipe's rule file at ``out``; its params."""
    if recipe.mutator == "handmade":
        content = HANDMADE[recipe.base]
        if content == "fifo":
            os.mkfifo(out)
        elif content == "directory":
            out.mkdir()
        elif content == "dangling_symlink":
            out.symlink_to(out.with_name("nowhere.yaml"))
        else:
            data = content()
            out.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str)
                            else data)
        return {}
    text = (ROOT / "rules" / recipe.base).read_text()
    mutate = {"value": value_mutation, "text": text_mutation}[recipe.mutator]
    data, params = mutate(text, rng, recipe.params or None)
    out.write_bytes(data)
    return params
