"""The lines ``corr run`` prints over a live session (corr.render.live_lines):
exact text and JSON Lines for known intervals, flushed one by one."""

from __future__ import annotations

import io
import json
import time

import pytest

from corr.engine.interval import Interval
from corr.render.live_lines import LivePrinter

ROW = {"start_ns": 1_700_000_000_000_000_000, "end_ns": 1_700_000_000_300_123_456,
       "duration_ns": 300_123_456, "status": "complete", "key": 3, "tid": 42, "cpu": 1,
       "comm": "requests", "exit_tid": 42, "exit_cpu": 1, "exit_comm": "requests",
       "fields": {}, "lossy": False, "group": None}
TIMEOUT = {**ROW, "end_ns": 1_700_000_001_000_000_000, "duration_ns": 1_000_000_000,
           "status": "timeout", "key": {"pid": 7, "id": 9}, "exit_tid": None, "exit_cpu": None,
           "exit_comm": None}


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class Flushes(io.StringIO):
    """Counts flushes, and what was written at each."""

    def __init__(self):
        super().__init__()
        self.at_flush: list[str] = []

    def flush(self):
        self.at_flush.append(self.getvalue())


def test_text_lines(utc):
    out = Flushes()
    printer = LivePrinter(out)
    printer(Interval.of("request", ROW))
    printer(Interval.of("request", TIMEOUT))
    assert out.at_flush == [
        "22:13:20.300  request  complete  300.123 ms  key=3  tid=42 requests\n",
        "22:13:20.300  request  complete  300.123 ms  key=3  tid=42 requests\n"
        "22:13:21.000  request  timeout  1.000 s  pid=7 id=9  tid=42 requests\n"]
    assert printer.lines == 2


def test_jsonl_lines_are_the_interval_objects_marked_live():
    out = Flushes()
    LivePrinter(out, "jsonl")(Interval.of("request", TIMEOUT))
    assert len(out.at_flush) == 1
    assert json.loads(out.getvalue()) == {"rule": "request", "live": True,
                                         **Interval.of("request", TIMEOUT).to_dict()}
    assert out.getvalue().endswith("}\n") and out.getvalue().count("\n") == 1


def test_an_explained_interval_says_where_most_of_its_time_went(utc):
    explained = {**ROW, "breakdown": [
        {"kind": "on_cpu", "by": None, "tid": None, "ns": 100_000_000},
        {"kind": "blocked", "by": "worker-2 (43)", "tid": 43, "ns": 200_123_456}]}
    out = Flushes()
    LivePrinter(out)(Interval.of("request", explained))
    assert out.getvalue() == ("22:13:20.300  request  complete  300.123 ms  key=3  "
                              "tid=42 requests  blocked 200.123 ms by worker-2 (43)\n")


def test_what_comes_from_the_trace_is_escaped_in_a_line(utc):
    hostile = {**ROW, "comm": "evil\x1b[2Jname", "breakdown": [
        {"kind": "blocked", "by": "x\x1b]0;owned\x07 (7)", "tid": 7, "ns": 1}]}
    out = Flushes()
    LivePrinter(out)(Interval.of("re\x1bquest", hostile))
    line = out.getvalue()
    assert "\x1b" not in line and "\x07" not in line
    assert "evil" in line and "owned" in line
