"""Reading a trace's environment, clock and streams before decoding it.

Clock alignment across traces must be decided before the first event is
stamped, so we ask babeltrace2's ``src.ctf.fs`` for the metadata text
(``metadata-info`` query) and the stream time ranges (``trace-infos``
query), both cheap, and read the ``env`` and ``clock`` blocks from the TSDL.
"""

from __future__ import annotations

import re

import bt2

from ..errors import TraceError
from .errors_bt2 import describe
from .traceinfo import ClockInfo, TraceInfo

_BLOCK = re.compile(r"\b(env|clock)\s*\{(.*?)\}\s*;", re.S)
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^;]+?)\s*;")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_EVENT_NAME = re.compile(r"\bevent\s*\{[^{}]*?\bname\s*=\s*\"?([^\";]+)\"?\s*;")


def _ctf_fs():
    return bt2.find_plugin("ctf").source_component_classes["fs"]


def _value(text: str):
    text = text.strip()
    if text.startswith('"'):
        return bytes(text[1:-1], "utf-8").decode("unicode_escape")
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE"
    try:
        return int(text, 0)
    except ValueError:
        return text


def parse_tsdl_blocks(text: str) -> tuple[dict, list[dict]]:
    """The ``env`` entries and each ``clock`` block of a TSDL text."""
    text = _COMMENT.sub("", text)
    env: dict = {}
    clocks: list[dict] = []
    for kind, body in _BLOCK.findall(text):
        values = {k: _value(v) for k, v in _ASSIGN.findall(body)}
        if kind == "env":
            env.update(values)
        else:
            clocks.append(values)
    return env, clocks


def load(trace: TraceInfo) -> None:
    """Fill ``trace.env``, ``trace.clock`` and time range from its metadata."""
    try:
        info = bt2.QueryExecutor(_ctf_fs(), "metadata-info", {"path": trace.path}).query()
        text = str(info["text"])
    except bt2._Error as exc:
        raise TraceError(trace.path, "metadata cannot be read: " + describe(exc)) from None
    env, clocks = parse_tsdl_blocks(text)
    trace.env = env
    trace.class_names = sorted(set(_EVENT_NAME.findall(_COMMENT.sub("", text))))
    if clocks:
        c = clocks[0]
        lttng = str(env.get("tracer_name", "")).startswith("lttng")
        trace.clock = ClockInfo(
            name=str(c.get("name", "")), frequency=int(c.get("freq", 1_000_000_000)),
            offset_s=int(c.get("offset_s", 0)), offset_cycles=int(c.get("offset", 0)),
            # src.ctf.fs gives LTTng clocks a Unix-epoch origin.
            origin_is_unix_epoch=bool(c.get("absolute", False)) or lttng,
            uuid=str(c["uuid"]) if "uuid" in c else None)
    try:
        infos = bt2.QueryExecutor(_ctf_fs(), "babeltrace.trace-infos",
                                  {"inputs": [trace.path]}).query()
    except bt2._Error as exc:
        raise TraceError(trace.path, describe(exc)) from None
    ranges = [s["range-ns"] for t in infos for s in t["stream-infos"] if "range-ns" in s]
    if ranges:
        trace.range_ns = (min(int(r["begin"]) for r in ranges), max(int(r["end"]) for r in ranges))
    trace.stream_count = sum(len(t["stream-infos"]) for t in infos)
