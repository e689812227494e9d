"""Options shared by several commands, parsed into typed values."""

from __future__ import annotations

import argparse
import os
from contextlib import contextmanager

from ..errors import OverrideError, UsageError
from ..paths import display


def add_trace_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("traces", nargs="+", metavar="TRACE",
                        help="CTF trace folder, LTTng session folder, or a folder holding traces")
    parser.add_argument("--clock-offset", action="append", default=[], metavar="TRACE=NS",
                        help="shift every timestamp of TRACE (a path) by NS nanoseconds, "
                             "instead of the automatic alignment (repeatable)")
    parser.add_argument("--reader", choices=("auto", "c", "native", "public"), default="auto",
                        help="decoding path: c (C accelerator, fastest), native (bt2's "
                             "native functions from Python), public (bt2's documented API); "
                             "auto takes the fastest available")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (it is off anyway when stderr is not a terminal)")


# A shift beyond ±2^62 ns (146 years) would take a trace's timestamps out of
# the signed 64 bits they are kept in.
MAX_CLOCK_OFFSET_NS = 1 << 62


def clock_offsets(values: list[str]) -> dict[str, int]:
    out = {}
    for value in values:
        path, sep, ns = value.rpartition("=")
        shown = display(value)
        if not sep or not path:
            raise UsageError(f"--clock-offset {shown!r}: expected TRACE=NS")
        try:
            offset = int(ns.replace("_", ""))
        except ValueError:
            raise UsageError(f"--clock-offset {shown!r}: {ns!r} is not a whole number of "
                             f"ns") from None
        if abs(offset) > MAX_CLOCK_OFFSET_NS:
            raise UsageError(f"--clock-offset {shown!r}: out of range (at most "
                             f"±{MAX_CLOCK_OFFSET_NS:,} ns, 146 years)")
        if not os.path.exists(path):
            raise UsageError(f"--clock-offset {shown!r}: {display(path)}: no such file or "
                             f"directory")
        out[path] = offset
    return out


# More than any table, report or analysis can use; an int beyond C's.
MAX_COUNT = 1_000_000_000


def check_count(option: str, value: int | None) -> None:
    """A count option's value (--top, --groups, --blame-limit): 0 to MAX_COUNT."""
    if value is None:
        return
    if value < 0:
        raise UsageError(f"{option} {value}: must be 0 or more")
    if value > MAX_COUNT:
        raise UsageError(f"{option} {value}: at most {MAX_COUNT:,}")


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    """-p/--pid, -t/--tid, --comm: which threads' intervals to report, as bcc's tools filter."""
    group = parser.add_argument_group(
        "thread filters",
        "Report only the intervals whose explained thread matches: the rule's blame: thread "
        "when it has one, else the entry event's thread; statistics, groups, the accounting "
        "and the blame analysis cover those intervals only.  Each option is repeatable: "
        "values of one option OR together, different options AND together.")
    group.add_argument("-p", "--pid", action="append", default=[], type=_id_of("pid"),
                       metavar="PID", dest="pids",
                       help="threads of process PID (learned from sched_process_fork, "
                            "LTTng's state dump and pid/vpid contexts (perf's perf_pid); a "
                            "thread whose process the trace never tells matches only as its "
                            "process's main thread, tid = PID)")
    group.add_argument("-t", "--tid", action="append", default=[], type=_id_of("tid"),
                       metavar="TID", dest="tids", help="the thread TID")
    group.add_argument("--comm", action="append", default=[], type=_comm, metavar="NAME",
                       dest="comms",
                       help="threads named NAME at the interval's start or end (a "
                            "case-sensitive shell glob: 'java*', 'kworker/?:*')")


def _id_of(kind: str):
    def parse(text: str) -> int:
        from ..engine.filters import parse_id
        try:
            return parse_id(text, kind)
        except UsageError as exc:          # argparse names the option itself
            raise argparse.ArgumentTypeError(str(exc).split(" ", 1)[1]) from None
    return parse


def _comm(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("'': a thread name or a glob ('java*') is needed")
    return text


def thread_filter(args):
    """The ``filter`` argument of corr.api.run and corr.api.tune: a ThreadFilter, or None."""
    if not (args.pids or args.tids or args.comms):
        return None
    from ..engine.filters import ThreadFilter
    return ThreadFilter(pids=tuple(args.pids), tids=tuple(args.tids), comms=tuple(args.comms))


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", metavar="DIR", action=_CacheOption,
                        help="decode cache folder (default: $CORR_CACHE_DIR, else "
                             "$XDG_CACHE_HOME/corr, i.e. ~/.cache/corr)")
    parser.add_argument("--no-cache", action="store_true",
                        help="decode the traces without reading or writing the decode cache")
    parser.add_argument("--cache-size", metavar="SIZE", action=_CacheOption,
                        help="size limit of the decode cache's entries together: beyond it, "
                             "the least recently used are removed (500M, 4G, 4GiB, bytes; "
                             "default: $CORR_CACHE_SIZE, else 4G)")


class _CacheOption(argparse.Action):
    """--cache-dir and --cache-size, in either order, as one ``args.cache_dir``: the
    folder, or with a size a corr.cache.CacheSettings (``cache_choice`` hands it
    to corr.api as its ``cache`` argument).  A bad size: one ``corr:`` line."""

    def __call__(self, parser, namespace, values, option_string=None):
        from ..cache.settings import CacheSettings, parse_size
        chosen = namespace.cache_dir
        folder = chosen.directory if isinstance(chosen, CacheSettings) else chosen
        if self.dest == "cache_size":
            try:
                namespace.cache_size = parse_size(values)
            except ValueError as exc:
                raise argparse.ArgumentError(self, str(exc)) from None
        else:
            folder = values
        size = namespace.cache_size
        namespace.cache_dir = folder if size is None else CacheSettings(folder, size)


@contextmanager
def overrides_as_set():
    """The library's override errors (``overrides: ...``) said of the ``--set`` they came from."""
    try:
        yield
    except OverrideError as exc:
        raise exc.worded("--set") from None


@contextmanager
def reporting_cache_warnings(ui):
    """Cache problems are warnings: said on stderr once the run is over, never fatal."""
    import warnings

    from ..cache.settings import CacheWarning
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", CacheWarning)
        yield
    for note in notes:
        ui.error(f"warning: {note.message}")


def cache_choice(args):
    """The ``cache`` argument of corr.api.run: False, a folder, or None (the default)."""
    if args.no_cache:
        return False
    return args.cache_dir
