"""Reading a trace's environment, clock and streams before decoding it.

Clock alignment across traces must be decided before the first event is
stamped, so we read the metadata text (ourselves; babeltrace2's
``metadata-info`` query for what we cannot unpack) and read the ``env``,
``clock`` and event names from the TSDL; the time range comes from LTTng's
packet index.  babeltrace2's queries run in a forked child
(:mod:`containment`): they abort or hang on some malformed traces.
"""

from __future__ import annotations

import codecs
import os
import re
import struct

import bt2

from ..errors import TraceError
from . import containment
from .errors_bt2 import captured_c_stderr, describe, metadata_syntax_error
from .traceinfo import ClockInfo, TraceInfo

# Each pattern starts with a literal, which the regex engine searches for
# fast; a word boundary before it is checked by hand (``_at_word_start``):
# a leading ``\b`` or alternation makes it try every position of a kernel
# trace's 300 kB of metadata (blocks and names: 6 ms -> 1.5 ms).
_BLOCKS = (("env", re.compile(r"env\s*\{(.*?)\}\s*;", re.S)),
           ("clock", re.compile(r"clock\s*\{(.*?)\}\s*;", re.S)))
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^;]+?)\s*;")
_INDEX_MAGIC = 0xC1F1DCC1
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_EVENT_NAME = re.compile(r"event\s*\{[^{}]*?\bname\s*=\s*\"?([^\";]+)\"?\s*;")


def _at_word_start(text: str, start: int) -> bool:
    return start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_")


def _search(pattern, text: str, pos: int):
    """The pattern's next match from ``pos`` that starts a word (as ``\b`` would)."""
    m = pattern.search(text, pos)
    while m is not None and not _at_word_start(text, m.start()):
        m = pattern.search(text, m.start() + 1)
    return m


def _scan(patterns, text: str) -> list[tuple[str, object]]:
    """Matches of ``(label, pattern)``s, left to right, none inside another: what one
    alternation of them would find, each pattern searched only past the last match."""
    found, pos = [], 0
    ahead = {label: _search(p, text, 0) for label, p in patterns}
    compiled = dict(patterns)
    while True:
        live = [(m.start(), label) for label, m in ahead.items() if m is not None]
        if not live:
            return found
        _, label = min(live)
        m = ahead[label]
        found.append((label, m))
        pos = m.end()
        for other, o in ahead.items():
            if o is not None and o.start() < pos:
                ahead[other] = _search(compiled[other], text, pos)


def _event_names(text: str) -> list[str]:
    matches = list(_EVENT_NAME.finditer(text))
    if all(_at_word_start(text, m.start()) for m in matches):
        return [m.group(1) for m in matches]    # then exactly what a \b-anchored scan finds
    return [m.group(1) for _, m in _scan((("event", _EVENT_NAME),), text)]


def _ctf_fs():
    return bt2.find_plugin("ctf").source_component_classes["fs"]


def _value(text: str):
    text = text.strip()
    if text.startswith('"'):
        # TSDL escapes (\n, \x1b) over the UTF-8 bytes, then UTF-8 again ("unicode_escape"
        # read the bytes as Latin-1: "é" became "Ã©"); bytes not UTF-8 as \xff text.
        try:
            raw = codecs.escape_decode(text[1:-1].encode("utf-8", "surrogateescape"))[0]
        except ValueError:                  # a malformed escape: the text as written
            return text[1:-1]
        return raw.decode("utf-8", "backslashreplace")
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE"
    try:
        return int(text, 0)
    except ValueError:
        return text


def parse_tsdl_blocks(text: str) -> tuple[dict, list[dict]]:
    """The ``env`` entries and each ``clock`` block of a TSDL text without comments."""
    env: dict = {}
    clocks: list[dict] = []
    for kind, m in _scan(_BLOCKS, text):
        body = m.group(1)
        values = {k: _value(v) for k, v in _ASSIGN.findall(body)}
        if kind == "env":
            env.update(values)
        else:
            clocks.append(values)
    return env, clocks


_PACKET_MAGIC = 0x75D11D57
_PACKET_HEADER = 37     # magic, uuid[16], checksum, content and packet size, 5 bytes of schemes


def metadata_text(path: str) -> str | None:
    """The TSDL text of a trace's metadata file, plain or packetized (CTF 1.8 §7.1).

    None when the file is neither: then babeltrace2 is asked, and explains.
    """
    try:
        with open(os.path.join(path, "metadata"), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data.startswith(b"/* CTF"):
        return data.decode("utf-8", "replace")
    for order in ("<", ">"):
        if len(data) >= 4 and struct.unpack_from(order + "I", data)[0] == _PACKET_MAGIC:
            break
    else:
        return None
    chunks, at = [], 0
    while at + _PACKET_HEADER <= len(data):
        magic, content_bits, packet_bits = struct.unpack_from(order + "I16xxxxxII", data, at)
        if magic != _PACKET_MAGIC or packet_bits == 0 or content_bits > packet_bits:
            return None
        chunks.append(data[at + _PACKET_HEADER: at + content_bits // 8])
        at += packet_bits // 8
    return b"".join(chunks).decode("utf-8", "replace")


def explain_failure(path: str, exc, log: str = "") -> TraceError:
    """The error for a trace babeltrace2 could not open: its metadata's line if it's that.

    ``log`` is what babeltrace2 wrote on fd 2 meanwhile (the TSDL parser
    logs its syntax errors there, with the line).
    """
    query = bt2.QueryExecutor(_ctf_fs(), "metadata-info", {"path": path})
    query.logging_level = bt2.LoggingLevel.ERROR
    with captured_c_stderr() as query_log:
        try:
            query.query()
            metadata_ok = True
        except bt2._Error as error:
            metadata_ok, exc = False, error
    if metadata_ok:
        return TraceError(path, describe(exc))
    return TraceError(*_metadata_error(path, exc, log + query_log["text"]))


# What load() found in the last few traces, with the files it was found in: a
# process that reads a trace again (the resident server's commands, a tuning
# session in one process) scans its metadata text once (many-threads: 8 ms).
KEPT = 8
_loaded: dict[str, tuple[list, tuple]] = {}


def load(trace: TraceInfo) -> None:
    """Fill ``trace.env``, ``trace.clock``, class names and time range."""
    from .sources import trace_files
    key = os.path.abspath(trace.path)
    try:
        files = trace_files(trace.path)
    except OSError:
        files = None
    hit = _loaded.get(key)
    if hit is not None and hit[0] == files:
        env, trace.class_names, trace.clock, trace.stream_count, trace.packets, \
            trace.range_ns = hit[1]
        trace.env = dict(env)
        return
    _load(trace)
    if files is not None:
        _loaded.pop(key, None)
        _loaded[key] = (files, (dict(trace.env), trace.class_names, trace.clock,
                                trace.stream_count, trace.packets, trace.range_ns))
        while len(_loaded) > KEPT:
            del _loaded[next(iter(_loaded))]


def remember(path: str) -> None:
    """Load the trace at ``path`` now, for a later :func:`load` (a server between commands)."""
    from ..errors import CorrError
    try:
        load(TraceInfo(index=0, path=path))
    except (CorrError, OSError):
        pass


def _queried_text(path: str) -> str:
    """The metadata text from babeltrace2's ``metadata-info`` query (run in a child)."""
    query = bt2.QueryExecutor(_ctf_fs(), "metadata-info", {"path": path})
    query.logging_level = bt2.LoggingLevel.NONE
    with captured_c_stderr() as log:
        try:
            return str(query.query()["text"])
        except bt2._Error as error:
            exc = error
    raise explain_failure(path, exc, log["text"]) from None


def _contained(fn, path: str, *args):
    """``fn(path, *args)`` in a child; its abort or stall as the trace's TraceError."""
    try:
        return containment.call(fn, path, *args)
    except (containment.DecoderDied, containment.DecoderStalled) as exc:
        raise containment.trace_error(exc, path, "its metadata") from None


# A clock's integer properties, with their ranges (CTF 1.8 §8: freq in Hz, offsets in
# s and cycles); what does not fit is a malformed trace, said so.
_CLOCK_INTS = (("freq", 1_000_000_000, 1, 1 << 63), ("offset_s", 0, -(1 << 63), 1 << 63),
               ("offset", 0, -(1 << 63), 1 << 63))


def _clock_ints(path: str, clock: dict) -> dict[str, int]:
    out = {}
    for name, default, low, high in _CLOCK_INTS:
        value = clock.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
            raise TraceError(os.path.join(path, "metadata"),
                             f"clock {name} = {str(value)[:40]!r} is not an integer in "
                             f"[{low}, {high})")
        out[name] = value
    return out


def _load(trace: TraceInfo) -> None:
    text = metadata_text(trace.path)
    if text is None:
        text = _contained(_queried_text, trace.path)
    text = _COMMENT.sub("", text)
    env, clocks = parse_tsdl_blocks(text)
    trace.env = env
    trace.class_names = sorted(set(_event_names(text)))
    if clocks:
        c = clocks[0]
        ints = _clock_ints(trace.path, c)
        lttng = str(env.get("tracer_name", "")).startswith("lttng")
        trace.clock = ClockInfo(
            name=str(c.get("name", "")), frequency=ints["freq"],
            offset_s=ints["offset_s"], offset_cycles=ints["offset"],
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
    trace.packets = read_index(trace)
    if trace.packets:
        trace.range_ns = (min(p[0] for p in trace.packets), max(p[1] for p in trace.packets))
    else:
        trace.range_ns = stream_range_in_child(trace.path)


def _metadata_error(path: str, exc, log: str) -> tuple[str, str]:
    """Where the metadata went wrong, from the parser's log when it said."""
    where = metadata_syntax_error(log)
    metadata_path = os.path.join(path, "metadata")
    if where and where[0] is not None:
        return f"{metadata_path}:{where[0]}", f"metadata does not parse: {where[1]}"
    if where:
        return metadata_path, where[1]
    return metadata_path, describe(exc)


def read_index(trace: TraceInfo) -> list[tuple[int, int, int]]:
    """``(begin_ns, end_ns, bytes)`` of every packet, from LTTng's ``index/*.idx``.

    babeltrace2's ``trace-infos`` query would give the time range, but on a
    corrupt stream bt2 2.0.4 aborts the whole process inside it; the index
    files are simple enough to read ourselves.  Empty when there is no
    index (perf traces have none).  Times are on the trace's own clock.
    """
    index_dir = os.path.join(trace.path, "index")
    if trace.clock is None or not os.path.isdir(index_dir):
        return []
    clock = trace.clock
    packets = []
    for name in sorted(os.listdir(index_dir)):
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
            _offset, _size, content_bits, ts_begin, ts_end = struct.unpack_from(">QQQQQ", data, off)
            if ts_end == 0:
                continue
            packets.append((clock.offset_ns + ts_begin * 1_000_000_000 // clock.frequency,
                            clock.offset_ns + ts_end * 1_000_000_000 // clock.frequency,
                            content_bits // 8))
    return packets


def stream_range_in_child(path: str) -> tuple[int, int] | None:
    """The trace's time range from babeltrace2's ``trace-infos`` query.

    Run in a forked child: on some corrupt streams bt2 2.0.4 aborts the
    process inside this query (or hangs), and a dead or stalled child only
    means "range unknown" (the decode then says what is wrong).
    """
    try:
        return containment.call(_stream_range, path)
    except Exception:                   # noqa: BLE001 (whatever failed there: range unknown)
        return None


def _stream_range(path: str) -> tuple[int, int] | None:
    query = bt2.QueryExecutor(_ctf_fs(), "babeltrace.trace-infos", {"inputs": [path]})
    query.logging_level = bt2.LoggingLevel.NONE
    ranges = [s["range-ns"] for t in query.query() for s in t["stream-infos"]
              if "range-ns" in s]
    if not ranges:
        return None
    return min(int(r["begin"]) for r in ranges), max(int(r["end"]) for r in ranges)
