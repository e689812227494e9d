"""``corr cache list|clear``: the decode cache's entries."""

from __future__ import annotations

import argparse

from ..errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("cache", help="list or clear the decode cache",
                       description="The decode cache keeps what runs decoded (and matched) "
                                   "per trace set, so that a re-run reads it back instead. "
                                   "Beyond its size limit, the least recently used entries "
                                   "are removed.")
    p.add_argument("action", choices=("list", "clear"),
                   help="list: entries (traces, projection, size, age, last use; those "
                        "beyond the size limit removed first); clear: remove them")
    p.add_argument("traces", nargs="*", metavar="TRACE",
                   help="clear: only the entries of these traces (default: all)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="the cache folder (default: $CORR_CACHE_DIR, else $XDG_CACHE_HOME/corr)")
    p.add_argument("--cache-size", metavar="SIZE", type=_cache_size,
                   help="the size limit of all entries (500M, 4G, 4GiB, bytes; default: "
                        "$CORR_CACHE_SIZE, else 4G)")


def _cache_size(text: str) -> int:
    from ..cache.settings import parse_size
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args, ui) -> int:
    from ..cache import CacheSettings, clear_entries, list_entries, resolve_size
    cache = CacheSettings(args.cache_dir or True, args.cache_size)
    if args.action == "list":
        if args.traces:
            raise UsageError("corr cache list takes no TRACE")
        limit = resolve_size(cache)
        entries = list_entries(cache)
        if not entries:
            ui.write(f"no cache entries (size limit {_size(limit)})")
            return 0
        for e in entries:
            ui.write(f"{', '.join(e.traces) or '?'}\n  {e.projection}; {e.rules} rule table(s); "
                     f"{_size(e.size)}; stored {_age(e.age_s)} ago, used {_age(e.used_s)} ago"
                     f"  [{e.folder}]")
        total = sum(e.size for e in entries)
        ui.write(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {_size(total)} of "
                 f"the {_size(limit)} size limit (least recently used last: removed first)")
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
