"""Reading a trace's environment, clock and streams before decoding it.

Clock alignment across traces must be decided before the first event is
stamped, so we ask babeltrace2's ``src.ctf.fs`` for the metadata text
(``metadata-info`` query, cheap) and read the ``env``, ``clock`` and event
names from the TSDL; the time range comes from LTTng's packet index.
"""

from __future__ import annotations

import os
import re
import struct

import bt2

from ..errors import TraceError
from .errors_bt2 import captured_c_stderr, describe, metadata_syntax_error
from .traceinfo import ClockInfo, TraceInfo

_BLOCK = re.compile(r"\b(env|clock)\s*\{(.*?)\}\s*;", re.S)
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^;]+?)\s*;")
_INDEX_MAGIC = 0xC1F1DCC1
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
    """Fill ``trace.env``, ``trace.clock``, class names and time range."""
    query = bt2.QueryExecutor(_ctf_fs(), "metadata-info", {"path": trace.path})
    # The TSDL parser and decoder log their errors (with the line) on fd 2.
    query.logging_level = bt2.LoggingLevel.ERROR
    with captured_c_stderr() as log:
        try:
            text = str(query.query()["text"])
            exc = None
        except bt2._Error as error:
            exc = error
    if exc is not None:
        raise TraceError(*_metadata_error(trace.path, exc, log["text"])) from None
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
    if not trace.class_names and "event" not in text:
        raise TraceError(os.path.join(trace.path, "metadata"), "metadata declares no event class")
    streams = [f for f in os.listdir(trace.path)
               if f != "metadata" and not f.startswith(".")
               and os.path.isfile(os.path.join(trace.path, f))]
    trace.stream_count = len(streams)
    if not streams:
        raise TraceError(trace.path, "no stream files beside the metadata: the trace is empty")
    trace.range_ns = index_range(trace)


def _metadata_error(path: str, exc, log: str) -> tuple[str, str]:
    """Where the metadata went wrong, from the parser's log when it said."""
    where = metadata_syntax_error(log)
    metadata_path = os.path.join(path, "metadata")
    if where and where[0] is not None:
        return f"{metadata_path}:{where[0]}", f"metadata does not parse: {where[1]}"
    if where:
        return metadata_path, where[1]
    return metadata_path, describe(exc)


def index_range(trace: TraceInfo) -> tuple[int, int] | None:
    """First and last packet timestamps from LTTng's ``index/*.idx`` files.

    babeltrace2's ``trace-infos`` query would say the same, but on a corrupt
    stream bt2 2.0.4 aborts the whole process inside it; the index files are
    simple enough to read ourselves.  None when there is no index (perf).
    """
    index_dir = os.path.join(trace.path, "index")
    if trace.clock is None or not os.path.isdir(index_dir):
        return None
    begin = end = None
    for name in os.listdir(index_dir):
        if not name.endswith(".idx"):
            continue
        try:
            with open(os.path.join(index_dir, name), "rb") as f:
                header = f.read(16)
                if len(header) < 16:
                    continue
                magic, _major, _minor, entry_len = struct.unpack(">IIII", header)
                if magic != _INDEX_MAGIC or entry_len < 40:
                    continue
                data = f.read()
        except OSError:
            continue
        for off in range(0, len(data) - entry_len + 1, entry_len):
            ts_begin, ts_end = struct.unpack_from(">QQ", data, off + 24)
            if ts_end == 0:
                continue
            begin = ts_begin if begin is None else min(begin, ts_begin)
            end = ts_end if end is None else max(end, ts_end)
    if begin is None:
        return None
    clock = trace.clock
    to_ns = lambda cycles: clock.offset_ns + cycles * 1_000_000_000 // clock.frequency  # noqa: E731
    return to_ns(begin), to_ns(end)
