"""The TSDL reading of env, clock and event names, against plain regexes.

``corr.reading.metadata`` searches literal-first patterns and checks word
boundaries itself (for speed); what it finds must be what the obvious
``\\b``-anchored regexes find, on every real trace and on made-up texts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import READABLE, shared_trace
from corr.reading import metadata

REFERENCE_BLOCK = re.compile(r"\b(env|clock)\s*\{(.*?)\}\s*;", re.S)
REFERENCE_NAME = re.compile(r"\bevent\s*\{[^{}]*?\bname\s*=\s*\"?([^\";]+)\"?\s*;")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "llserver" / "trace"


def reference(text: str):
    env, clocks = {}, []
    for kind, body in REFERENCE_BLOCK.findall(text):
        values = {k: metadata._value(v) for k, v in metadata._ASSIGN.findall(body)}
        if kind == "env":
            env.update(values)
        else:
            clocks.append(values)
    return env, clocks, REFERENCE_NAME.findall(text)


def ours(text: str):
    env, clocks = metadata.parse_tsdl_blocks(text)
    return env, clocks, metadata._event_names(text)


def metadata_texts():
    paths = [shared_trace(name) for name in READABLE + ["hello-lost"]]
    paths += sorted(p.parent for p in EXAMPLE.rglob("metadata"))
    for path in paths:
        text = metadata.metadata_text(str(path))
        if text is not None:
            yield str(path), metadata._COMMENT.sub("", text)


@pytest.mark.parametrize("path, text", list(metadata_texts()))
def test_real_metadata_reads_as_the_reference_reads_it(path, text):
    env, clocks, names = ours(text)
    assert (env, clocks, names) == reference(text)
    assert names and clocks


@st.composite
def tsdl_texts(draw):
    """Blocks like TSDL's, some keywords glued to a word before them (not blocks then),
    with assignments, names and the ``clock.monotonic`` references fields make."""
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        glue = draw(st.sampled_from(["", "", "my", "x_", "9", "a.", " ", "\n", "{"]))
        kind = draw(st.sampled_from(["env", "clock", "event", "stream", "clock.monotonic"]))
        body = "".join(draw(st.lists(st.sampled_from(
            ['name = "a";', "name = b_c;", 'x = 2;', "freq = 1000;", "y = \"q;\";", " ", "\n",
             "map = clock.monotonic.value;", "{ z = 1; };"]), max_size=5)))
        close = draw(st.sampled_from(["};", "} ;", "}\n;", "}"]))
        parts.append(f"{glue}{kind}{draw(st.sampled_from(['', ' ', chr(10)]))}{{{body}{close}")
    return draw(st.sampled_from(["", " ", "\n"])).join(parts)


@settings(max_examples=1000, deadline=None)
@given(tsdl_texts())
def test_made_up_texts_read_as_the_reference_reads_them(text):
    assert ours(text) == reference(text)


def test_a_trace_read_again_is_not_scanned_again_until_it_changes(tmp_path, monkeypatch):
    import os
    import shutil

    from corr.reading.traceinfo import TraceInfo
    path = tmp_path / "trace"
    shutil.copytree(shared_trace("many-threads"), path)
    monkeypatch.setattr(metadata, "_loaded", {})
    scans = []
    real = metadata._load
    monkeypatch.setattr(metadata, "_load", lambda t: (scans.append(t.path), real(t)))
    first, again = TraceInfo(0, str(path)), TraceInfo(0, str(path))
    metadata.load(first)
    metadata.load(again)
    assert len(scans) == 1
    for name in ("env", "class_names", "clock", "stream_count", "packets", "range_ns"):
        assert getattr(again, name) == getattr(first, name), name
    again.env["mine"] = 1                           # a trace's env is its own
    assert "mine" not in first.env
    os.utime(path / "channel0_0", ns=(1, 1))         # touched: scanned again
    changed = TraceInfo(0, str(path))
    metadata.load(changed)
    assert len(scans) == 2 and changed.range_ns == first.range_ns
