"""``corr cache list|clear``: the decode cache's entries."""

from __future__ import annotations

from ..errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("cache", help="list or clear the decode cache",
                       description="The decode cache keeps what runs decoded (and matched) "
                                   "per trace set, so that a re-run reads it back instead.")
    p.add_argument("action", choices=("list", "clear"),
                   help="list: entries (traces, projection, size, age); clear: remove them")
    p.add_argument("traces", nargs="*", metavar="TRACE",
                   help="clear: only the entries of these traces (default: all)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="the cache folder (default: $CORR_CACHE_DIR, else $XDG_CACHE_HOME/corr)")


def run(args, ui) -> int:
    from ..cache import clear_entries, list_entries
    cache = args.cache_dir or True
    if args.action == "list":
        if args.traces:
            raise UsageError("corr cache list takes no TRACE")
        entries = list_entries(cache)
        if not entries:
            ui.write("no cache entries")
        for e in entries:
            ui.write(f"{', '.join(e.traces) or '?'}\n  {e.projection}; {e.rules} rule table(s); "
                     f"{_size(e.size)}; {_age(e.age_s)} old  [{e.folder}]")
        return 0
    removed = clear_entries(cache, args.traces)
    ui.write(f"removed {len(removed)} cache entr{'y' if len(removed) == 1 else 'ies'}")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _age(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
