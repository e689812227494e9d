"""``corr run RULES TRACE...``: pair entries and exits, report latencies."""

from __future__ import annotations

import argparse

from ..errors import OutputError
from ..paths import display
from ..render.formats import names as format_names
from .options import (add_cache_options, add_filter_options, add_trace_options, cache_choice,
                      check_count, clock_offsets, overrides_as_set, reporting_cache_warnings,
                      thread_filter)


class _Help(argparse.HelpFormatter):
    """Fills in -o's list of extensions from the format registry, only when help is
    shown (the formats' modules are not imported to build the parser)."""

    def _expand_help(self, action):
        text = super()._expand_help(action)
        if "{extensions}" in text:
            from ..render.formats import extensions_help
            text = text.replace("{extensions}", extensions_help())
        return text


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="pair entry/exit events by rules and report latencies",
                       description="Pair the entry and exit events of each rule of RULES over "
                                   "the traces; print statistics per rule and group and the "
                                   "slowest intervals over the threshold.",
                       formatter_class=_Help)
    p.add_argument("rules", metavar="RULES", help="a rule file (YAML); see docs/rules.md")
    add_trace_options(p)
    add_cache_options(p)
    add_filter_options(p)
    p.add_argument("--format", choices=format_names(), help="output format (default: from -o's "
                   "extension, else text)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE (replaced whole once written, never left half-written; "
                        "a device or a named pipe is written into), in the format of its "
                        "extension: {extensions}.  The HTML report "
                        "is described in docs/report.md")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="show the N slowest intervals over threshold per rule (default 10)")
    p.add_argument("--all-intervals", action="store_true",
                   help="JSON, JSON Lines, Chrome trace: include the intervals under the "
                        "threshold too (CSV and Parquet always have every interval)")
    p.add_argument("--blame-limit", type=int, default=None, metavar="N",
                   help="rules with blame: explain only their N slowest intervals (default "
                        "0: every one over the threshold)")
    p.add_argument("--all-edges", action="store_true",
                   help="DOT: keep every blame edge (default: edges under 1%% of their rule's "
                        "total blame are left out, so the graph is readable)")
    p.add_argument("--symbols", action="append", default=[], metavar="FILE",
                   help="rules with stacks: true: a symbol file naming their frames "
                        "(kallsyms or perf map format, or an ELF file, FILE@0xBASE when loaded at "
                        "BASE; repeatable), besides the perf.data and "
                        "kallsyms found beside the traces; see docs/stacks.md")
    p.add_argument("--wakers", action="store_true",
                   help="folded: after each blocked stack, '--' and the stack of the code that "
                        "woke it (flamegraph.pl's separator), for rules with stacks: true")
    p.add_argument("--set", action="append", default=[], metavar="RULE.ATTR=VALUE", dest="overrides",
                   help="override a rule's threshold or timeout, e.g. syscalls.threshold=2ms "
                        "(repeatable)")


def output_format(args) -> str:
    """The format's name: --format, else -o's extension, else text."""
    from ..render.formats import from_path
    if args.format:
        return args.format
    if args.output:
        return from_path(args.output)
    return "text"


def run(args, ui) -> int:
    from .. import api
    from ..collector import collector_paused
    # Not a live session: the collector would only scan what the run builds.
    with collector_paused(not any(api.is_live(trace) for trace in args.traces)):
        return _run(args, ui)


def _run(args, ui) -> int:
    # Imported here, and each renderer only for its format: start-up is part
    # of every run's time, and a text run needs neither pyarrow nor orjson.
    from .. import api
    from ..render import output
    fmt = output_format(args)
    check_count("--top", args.top)
    check_count("--blame-limit", args.blame_limit)
    output.check(fmt, to_file=bool(args.output))
    offsets = clock_offsets(args.clock_offset)
    # A live session: each decided interval printed as it comes, the summary after.
    live = any(api.is_live(trace) for trace in args.traces)
    callbacks = {}
    if live:
        if thread_filter(args) is not None:
            from ..errors import UsageError
            raise UsageError("-p/-t/--comm: not with a live session (its intervals are "
                             "printed as they are decided; the filter is decided after)")
        from ..render.live_lines import LivePrinter
        printer = LivePrinter(ui.stdout, fmt if fmt == "jsonl" else "text")
        callbacks = dict(on_interval=printer, on_timeout=printer)
    with reporting_cache_warnings(ui), overrides_as_set(), \
            ui.progress("matching", enabled=not args.no_progress and not live) as progress:
        result = api.run(args.rules, args.traces, overrides=args.overrides,
                         clock_offsets=offsets, progress=progress, reader=args.reader,
                         blame_limit=args.blame_limit, cache=cache_choice(args),
                         filter=thread_filter(args), symbols=args.symbols,
                         stacks=fmt == "folded", **callbacks)
    options = dict(top=args.top, all_intervals=args.all_intervals, all_edges=args.all_edges,
                   wakers=args.wakers)
    stopped = result.stopped
    if args.output and stopped:
        # A file is whole or not written: an existing one stays as it was.
        ui.error(f"{stopped['path']}: {stopped['cause']} (decoding stopped part-way; "
                 f"{display(args.output)} not written)")
        return 2
    try:
        if args.output:
            written = api.write(result, args.output, format=fmt, **options)
        else:
            api.write(result, fmt, stream=ui.stdout, **options)
    except BrokenPipeError:
        raise                  # stdout's reader left (| head): main() ends quietly
    except OSError as exc:
        raise OutputError(display(args.output) if args.output else "stdout",
                          f"cannot write: {exc.strerror or exc}") from None
    if args.output:
        ui.error_console_note(f"wrote {display(args.output)} ({written})")
    if stopped:
        ui.error(f"{stopped['path']}: {stopped['cause']} (decoding stopped part-way; the "
                 f"results above cover what was read before)")
        return 2
    return 0
