"""The output formats of ``corr run``: one line per format, naming its module.

Each module in ``corr/render/`` named here declares what it is and writes it:

    NAME = "json"                  # --format NAME
    DESCRIPTION = "JSON"           # what "wrote FILE (...)" says it holds
    NEEDS_BLAME = False            # only rules with blame: have something to write
    FILE_ONLY = False              # never to stdout (binary, or a whole document)
    def write(result, destination, options) -> str | None

``destination`` is a :class:`corr.render.output.Destination`, ``options``
an :class:`corr.render.output.Options`; ``write`` may return what it wrote
("4,043 intervals") instead of ``DESCRIPTION``.  A new format is one
module and one line below: its module's name and the extensions ``-o FILE``
picks it from.

The registry names modules without importing them: every command's parser
is built at start-up, and a format's module (pyarrow, networkx, Jinja2 behind
it) is imported only by a run that writes it.  Its extensions are here, not
in the module, so that telling the format of ``-o out.json`` imports
nothing (importing every format's module to ask took 0.2 s of every run).
"""

from __future__ import annotations

import importlib
import os

from ..errors import UsageError

REGISTRY = {                   # name: (module, extensions)
    "text": ("run_text", (".txt",)),
    "json": ("run_json", (".json",)),
    "jsonl": ("jsonl", (".jsonl",)),
    "csv": ("csv_table", (".csv",)),
    "parquet": ("parquet_table", (".parquet",)),
    "folded": ("folded", (".folded",)),
    "dot": ("dot", (".dot",)),
    "graphml": ("graphml", (".graphml",)),
    "chrome": ("chrome_trace", (".trace.json", ".perfetto.json")),
    "html": ("html_report", (".html", ".htm")),
}

DECLARATIONS = ("NAME", "DESCRIPTION", "NEEDS_BLAME", "FILE_ONLY", "write")


def names() -> tuple[str, ...]:
    """Every format's name, in the registry's order (``--format``'s choices)."""
    return tuple(REGISTRY)


def module(name: str):
    """The module of format ``name``, imported now."""
    if name not in REGISTRY:
        raise UsageError(f"unknown output format {name!r} (one of {', '.join(REGISTRY)})")
    found = importlib.import_module(f"{__package__}.{REGISTRY[name][0]}")
    missing = [d for d in DECLARATIONS if not hasattr(found, d)]
    if missing or found.NAME != name:
        raise RuntimeError(f"{found.__name__} is not the format {name!r} (lacks {missing})")
    return found


def extensions_of(name: str) -> tuple[str, ...]:
    """The extensions of format ``name``, the first its usual one."""
    return REGISTRY[name][1]


def extensions() -> dict[str, str]:
    """Every extension -o knows and its format."""
    return {ext: name for name, (_, exts) in REGISTRY.items() for ext in exts}


def from_path(path) -> str:
    """The format of an output path, from its extension (the longest that matches:
    ``x.trace.json`` is a Chrome trace, ``x.json`` JSON), case aside."""
    lower = os.fspath(path).lower()
    known = extensions()
    matches = [ext for ext in known if lower.endswith(ext)]
    if not matches:
        ext = os.path.splitext(lower)[1]
        raise UsageError(f"-o {os.fspath(path)}: cannot tell the format from "
                         f"{ext or 'no extension'!r}; use --format ({', '.join(REGISTRY)})")
    return known[max(matches, key=len)]


def extensions_help() -> str:
    """``.json (JSON), .csv (...)``: for -o's help."""
    parts = []
    for name in REGISTRY:
        m = module(name)
        note = ", rules with blame: only" if m.NEEDS_BLAME else ""
        parts.append(f"{', '.join(extensions_of(name))} ({m.DESCRIPTION}{note})")
    return "; ".join(parts)
