"""``corr run RULES TRACE...``: pair entries and exits, report latencies."""

from __future__ import annotations

import os

from ..errors import CorrError, UsageError
from .options import (add_cache_options, add_filter_options, add_trace_options, cache_choice,
                      clock_offsets, reporting_cache_warnings, thread_filter)

FORMATS = ("text", "json", "csv", "parquet", "folded", "dot", "graphml", "chrome", "html")
EXTENSIONS = {".json": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text",
              ".folded": "folded", ".dot": "dot", ".graphml": "graphml",
              ".trace.json": "chrome", ".perfetto.json": "chrome", ".html": "html",
              ".htm": "html"}
# What a file of each format holds, as "wrote FILE (...)" says it on stderr.
FORMAT_NAMES = {"text": "text", "json": "JSON", "folded": "folded stacks",
                "dot": "blame graph, DOT", "graphml": "blame graph, GraphML",
                "chrome": "Chrome trace events", "html": "HTML report"}
# Formats of the scheduling join: only rules with blame: have something to write.
BLAME_FORMATS = ("folded", "dot", "graphml", "chrome")


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="pair entry/exit events by rules and report latencies",
                       description="Pair the entry and exit events of each rule of RULES over "
                                   "the traces; print statistics per rule and group and the "
                                   "slowest intervals over the threshold.")
    p.add_argument("rules", metavar="RULES", help="a rule file (YAML); see docs/rules.md")
    add_trace_options(p)
    add_cache_options(p)
    add_filter_options(p)
    p.add_argument("--format", choices=FORMATS, help="output format (default: from -o's "
                   "extension, else text)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE: .json, .csv, .parquet, .txt; with blame: rules also "
                        ".folded (flame graphs), .dot, .graphml (blame graph), "
                        ".trace.json (Chrome trace events, for the Perfetto UI); .html: a "
                        "report with histograms, timelines and critical paths (docs/report.md)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="show the N slowest intervals over threshold per rule (default 10)")
    p.add_argument("--all-intervals", action="store_true",
                   help="JSON: include the intervals under the threshold too")
    p.add_argument("--blame-limit", type=int, default=None, metavar="N",
                   help="rules with blame: explain only their N slowest intervals (default "
                        "0: every one over the threshold)")
    p.add_argument("--all-edges", action="store_true",
                   help="DOT: keep every blame edge (default: edges under 1%% of their rule's "
                        "total blame are left out, so the graph is readable)")
    p.add_argument("--set", action="append", default=[], metavar="RULE.ATTR=VALUE", dest="overrides",
                   help="override a rule's threshold or timeout, e.g. syscalls.threshold=2ms "
                        "(repeatable)")


def output_format(args) -> str:
    if args.format:
        return args.format
    if args.output:
        name = args.output.lower()
        for ext, fmt in EXTENSIONS.items():
            if ext.count(".") > 1 and name.endswith(ext):
                return fmt
        ext = os.path.splitext(name)[1]
        if ext not in EXTENSIONS:
            raise UsageError(f"-o {args.output}: cannot tell the format from {ext or 'no extension'!r}; "
                             f"use --format ({', '.join(FORMATS)})")
        return EXTENSIONS[ext]
    return "text"


def run(args, ui) -> int:
    # Imported here, and each renderer only for its format: start-up is part
    # of every run's time, and a text run needs neither pyarrow nor json.
    from .. import api
    fmt = output_format(args)
    if args.top < 0:
        raise UsageError(f"--top {args.top}: must be 0 or more")
    if args.blame_limit is not None and args.blame_limit < 0:
        raise UsageError(f"--blame-limit {args.blame_limit}: must be 0 or more")
    if fmt in ("csv", "parquet", "graphml", "html") and not args.output:
        raise UsageError(f"--format {fmt} writes a file: give it with -o FILE")
    offsets = clock_offsets(args.clock_offset)
    written = FORMAT_NAMES.get(fmt, fmt)           # what -o FILE holds, said once written
    with reporting_cache_warnings(ui), \
            ui.progress("matching", enabled=not args.no_progress) as progress:
        result = api.run(args.rules, args.traces, overrides=args.overrides,
                         clock_offsets=offsets, progress=progress, reader=args.reader,
                         blame_limit=args.blame_limit, cache=cache_choice(args),
                         filter=thread_filter(args))
    try:
        if fmt == "json" and args.output:
            from ..render import intervals_table
            intervals_table.atomic_write(args.output, lambda tmp: _write_json(tmp, result,
                                                                          args.all_intervals))
        elif fmt == "json":
            from ..render import run_json
            run_json.write(result, ui.stdout, args.all_intervals)
        elif fmt == "csv":
            from ..render import intervals_table
            n = intervals_table.write_csv(result, args.output)
            written = f"{n:,} intervals"
        elif fmt == "parquet":
            from ..render import intervals_table
            n = intervals_table.write_parquet(result, args.output)
            written = f"{n:,} intervals"
        elif fmt == "html":
            from ..render import html_report, intervals_table
            intervals_table.atomic_write(args.output,
                                         lambda tmp: html_report.write(result, tmp, args.top))
        elif fmt in BLAME_FORMATS:
            _write_blame(fmt, result, args, ui)
        elif args.output:
            from ..render import intervals_table
            intervals_table.atomic_write(args.output, lambda tmp: _write_rendered(tmp, result, args.top))
        else:
            from ..render import run_text
            run_text.render(result, ui.console, top=args.top)
    except BrokenPipeError:
        raise                  # stdout closed early (| head): main() ends quietly
    except OSError as exc:
        raise CorrError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    if args.output:
        ui.error_console_note(f"wrote {args.output} ({written})")
    if result.stopped:
        s = result.stopped
        ui.error(f"{s['path']}: {s['cause']} (decoding stopped part-way; the results above "
                 f"cover what was read before)")
        return 2
    return 0


def _write_blame(fmt: str, result, args, ui) -> None:
    """Folded stacks, the blame graph or Chrome trace events, to -o or stdout."""
    from ..render import blame_graph, chrome_trace, folded, intervals_table
    if not any(r.analysis is not None for r in result.rules):
        raise UsageError(f"--format {fmt}: no rule of {args.rules} has blame:, so there is no "
                         f"scheduling analysis to write")
    writers = {"folded": folded.write,
               "dot": lambda r, f: blame_graph.write_dot(r, f, 0 if args.all_edges else
                                                         blame_graph.DOT_MIN_SHARE),
               "chrome": lambda r, f: chrome_trace.write(r, f, args.all_intervals)}
    if fmt == "graphml":
        intervals_table.atomic_write(args.output, lambda tmp: blame_graph.write_graphml(result, tmp))
    elif args.output:
        def write(tmp):
            with open(tmp, "w") as f:
                writers[fmt](result, f)
        intervals_table.atomic_write(args.output, write)
    else:
        writers[fmt](result, ui.stdout)


def _write_json(path: str, result, all_intervals: bool) -> None:
    from ..render import run_json
    with open(path, "w") as f:
        run_json.write(result, f, all_intervals)


def _write_rendered(path: str, result, top: int) -> None:
    from rich.console import Console

    from ..render import run_text
    with open(path, "w") as f:
        run_text.render(result, Console(file=f, width=120, no_color=True, emoji=False), top=top)
