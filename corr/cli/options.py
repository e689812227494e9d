"""Options shared by several commands, parsed into typed values."""

from __future__ import annotations

import argparse
from contextlib import contextmanager

from ..errors import UsageError


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


def clock_offsets(values: list[str]) -> dict[str, int]:
    out = {}
    for value in values:
        path, sep, ns = value.rpartition("=")
        if not sep or not path:
            raise UsageError(f"--clock-offset {value!r}: expected TRACE=NS")
        try:
            out[path] = int(ns.replace("_", ""))
        except ValueError:
            raise UsageError(f"--clock-offset {value!r}: {ns!r} is not a whole number of ns") from None
    return out


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="decode cache folder (default: $CORR_CACHE_DIR, else "
                             "$XDG_CACHE_HOME/corr, i.e. ~/.cache/corr)")
    parser.add_argument("--no-cache", action="store_true",
                        help="decode the traces without reading or writing the decode cache")


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
