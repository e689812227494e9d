"""Clock alignment decisions, from the clocks each tracer declares."""

from __future__ import annotations

from corr.reading.clocks import align
from corr.reading.traceinfo import ClockInfo, TraceInfo

EPOCH_OFFSET = 1_700_000_000_123_456_789


def _lttng(i, domain, offset=EPOCH_OFFSET, path=None):
    return TraceInfo(index=i, path=path or f"/t/{domain}", env={
        "tracer_name": "lttng-modules" if domain == "kernel" else "lttng-ust", "domain": domain},
        clock=ClockInfo("monotonic", 1_000_000_000, offset // 10**9, offset % 10**9, True, "u"))


def _perf(i, path="/t/perf"):
    return TraceInfo(index=i, path=path, env={"tracer_name": "perf", "domain": "kernel"},
                     clock=ClockInfo("perf_clock", 1_000_000_000, 0, 0, False, None))


def test_single_trace_is_left_as_recorded():
    t = _lttng(0, "kernel")
    align([t])
    assert t.offset_ns == 0 and t.alignment == "as recorded"


def test_perf_is_put_on_lttng_epoch_offset():
    ust, perf = _lttng(0, "ust"), _perf(1)
    align([ust, perf])
    assert ust.offset_ns == 0
    assert perf.offset_ns == EPOCH_OFFSET
    assert "perf_clock" in perf.alignment and "CLOCK_MONOTONIC" in perf.alignment


def test_reference_is_the_first_lttng_trace_whatever_the_order():
    perf, ust = _perf(0), _lttng(1, "ust")
    align([perf, ust])
    assert perf.offset_ns == EPOCH_OFFSET and ust.offset_ns == 0


def test_lttng_kernel_and_ust_share_one_offset():
    """Each LTTng tracer samples its own epoch offset; raw monotonic is shared."""
    kernel, ust = _lttng(0, "kernel"), _lttng(1, "ust", offset=EPOCH_OFFSET + 3_210)
    align([kernel, ust])
    assert kernel.offset_ns == 0
    assert ust.offset_ns == -3_210


def test_explicit_offset_wins():
    ust, perf = _lttng(0, "ust"), _perf(1, path="/t/perf")
    align([ust, perf], {"/t/perf": 42})
    assert perf.offset_ns == 42 and "--clock-offset" in perf.alignment


def test_unknown_clock_is_not_aligned():
    ust = _lttng(0, "ust")
    other = TraceInfo(index=1, path="/t/x", env={"tracer_name": "barectf"},
                      clock=ClockInfo("cycles", 1_000_000_000, 5, 0, False, None))
    align([ust, other])
    assert other.offset_ns == 0 and "not aligned" in other.alignment
