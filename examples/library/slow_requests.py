#!/usr/bin/env python3
"""A per-request latency monitor built on corr: each slow llserver request as the
pass finds it, with its top blamed thread, then a summary from the result.

    python examples/library/slow_requests.py [TRACE] [--threshold 5ms]

The callback prints a request the moment corr decides it (its exit, in trace
time), explained already: whose time the request waited on most.  The
returned result explains the same requests the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import corr

HERE = Path(__file__).resolve().parent
RULES = HERE.parent.parent / "rules" / "llserver.yaml"
TRACE = HERE.parent / "llserver" / "trace"
RULE = "processing"          # a request's time from dequeue to reply, blamed on its thread


def ms(ns: int) -> str:
    return f"{ns / 1e6:.3f} ms"


def top_blamed(interval: corr.Interval) -> str:
    """The thread (or state) the request's time went to most, from its breakdown."""
    if not interval.breakdown:
        return "(not explained)"
    part = max(interval.breakdown, key=lambda p: p["ns"])
    who = part["by"] if part["by"] is not None else "itself"
    return f"{part['kind']} {ms(part['ns'])}: {who}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", default=str(TRACE))
    parser.add_argument("--threshold", default="5ms", help="what counts as slow (default 5ms)")
    args = parser.parse_args(argv)

    def found(interval: corr.Interval) -> None:
        if interval.rule == RULE:
            print(f"slow request {interval.key}: {ms(interval.duration_ns)} "
                  f"({interval.status}, thread {interval.comm} {interval.tid}), "
                  f"{top_blamed(interval)}", flush=True)

    result = corr.run(RULES, [args.trace], overrides={f"{RULE}.threshold": args.threshold},
                      on_interval=found)
    slow = sorted(result.interval_objects(RULE), key=lambda iv: iv.start_ns)
    print(f"{len(slow)} slow requests of {result.rule(RULE).outcomes['entries']}; "
          f"where their time went:")
    for interval in slow:
        print(f"  request {interval.key}: {ms(interval.duration_ns)}, {top_blamed(interval)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
