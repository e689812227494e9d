"""``corr inspect TRACE...``: what a trace holds."""

from __future__ import annotations

from .options import add_trace_options, clock_offsets


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="show dialects, clocks, time range, event classes and losses",
                       description="Show what the traces hold: dialect and tracer, clock "
                                   "alignment, time range, CPUs and streams, every event class "
                                   "with its count and fields, and discarded events.")
    add_trace_options(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run(args, ui) -> int:
    from .. import api
    from ..render import inspect_json, inspect_text
    offsets = clock_offsets(args.clock_offset)
    with ui.progress("reading", enabled=not args.no_progress) as progress:
        result = api.inspect(args.traces, clock_offsets=offsets, progress=progress,
                             reader=args.reader)
    if args.json:
        ui.write(inspect_json.render(result))
    else:
        inspect_text.render(result, ui.console)
    if result.stopped:
        s = result.stopped
        ui.error(f"{s.path}: {s.cause} (decoding stopped after {s.events_before:,} events; "
                 f"those are reported above)")
        return 2
    return 0
