"""``corr tune RULES TRACE...``: each rule's latency distribution, and thresholds to try."""

from __future__ import annotations

from .options import (add_cache_options, add_filter_options, add_trace_options, cache_choice,
                      check_count, clock_offsets, overrides_as_set, reporting_cache_warnings,
                      thread_filter)


def add_parser(sub) -> None:
    p = sub.add_parser("tune", help="look at latency distributions and choose thresholds",
                       description="Per rule (and per group) of RULES: the latency histogram, "
                                   "its percentiles and how many intervals each candidate "
                                   "threshold flags, with a suggested threshold.  See "
                                   "docs/tuning.md.")
    p.add_argument("rules", metavar="RULES", help="a rule file (YAML); see docs/rules.md")
    add_trace_options(p)
    add_cache_options(p)
    add_filter_options(p)
    p.add_argument("--set", action="append", default=[], metavar="RULE.threshold=VALUE",
                   dest="overrides",
                   help="try another threshold (or timeout), e.g. syscalls.threshold=2ms "
                        "(repeatable)")
    p.add_argument("--write", metavar="FILE",
                   help="save the rule file with the thresholds set, comments and layout kept")
    p.add_argument("--groups", type=int, default=5, metavar="N",
                   help="show the N most frequent groups of rules with group_by (default 5)")
    p.add_argument("--interactive", "-i", action="store_true",
                   help="a terminal session: move a threshold with the arrow keys, see what "
                        "it flags, w writes the rule file")


def run(args, ui) -> int:
    from .. import api
    check_count("--groups", args.groups)
    offsets = clock_offsets(args.clock_offset)
    with reporting_cache_warnings(ui), overrides_as_set(), \
            ui.progress("matching", enabled=not args.no_progress and not args.interactive) as progress:
        session = api.tune(args.rules, args.traces, overrides=args.overrides,
                           clock_offsets=offsets, progress=progress, reader=args.reader,
                           cache=cache_choice(args),
                           filter=thread_filter(args))
    if args.interactive:
        from .tune_interactive import TuneApp
        TuneApp(session, write_path=args.write, group_limit=args.groups).run()
    else:
        from ..render import histogram
        histogram.render(session, ui.console, group_limit=args.groups)
        if args.write:
            changes = session.write(args.write)
            ui.error_console_note(f"wrote {args.write} ({_describe(changes)})")
    if session.run.stopped:
        s = session.run.stopped
        ui.error(f"{s['path']}: {s['cause']} (decoding stopped part-way; the results above "
                 f"cover what was read before)")
        return 2
    return 0


def _describe(changes: dict) -> str:
    from ..rules.units import format_duration
    if not changes:
        return "no value changed"
    return ", ".join(f"{rule}.{key}={format_duration(ns)}"
                     for rule, values in changes.items() for key, ns in values.items())
