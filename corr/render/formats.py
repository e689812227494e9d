"""The output formats of ``corr run``: one line per format, naming its module.

Each module in ``corr/render/`` named here declares what it is and writes it:

    NAME = "json"                  # --format NAME
    EXTENSIONS = (".json",)        # -o FILE picks the format from these
    DESCRIPTION = "JSON"           # what "wrote FILE (...)" says it holds
    NEEDS_BLAME = False            # only rules with blame: have something to write
    FILE_ONLY = False              # never to stdout (binary, or a whole document)
    def write(result, destination, options) -> str | None

``destination`` is a :class:`corr.render.output.Destination`, ``options``
an :class:`corr.render.output.Options`; ``write`` may return what it wrote
("4,043 intervals") instead of ``DESCRIPTION``.  A new format is one
module and one line below.

The registry names modules without importing them: every command's parser
is built at start-up, and a format's module (pyarrow, networkx, Jinja2 behind
it) is imported only by a run that writes it or asks for its extension.
"""

from __future__ import annotations

import importlib
import os

from ..errors import UsageError

REGISTRY = {
    "text": "run_text",
    "json": "run_json",
    "jsonl": "jsonl",
    "csv": "csv_table",
    "parquet": "parquet_table",
    "folded": "folded",
    "dot": "dot",
    "graphml": "graphml",
    "chrome": "chrome_trace",
    "html": "html_report",
}

DECLARATIONS = ("NAME", "EXTENSIONS", "DESCRIPTION", "NEEDS_BLAME", "FILE_ONLY", "write")


def names() -> tuple[str, ...]:
    """Every format's name, in the registry's order (``--format``'s choices)."""
    return tuple(REGISTRY)


def module(name: str):
    """The module of format ``name``, imported now."""
    if name not in REGISTRY:
        raise UsageError(f"unknown output format {name!r} (one of {', '.join(REGISTRY)})")
    found = importlib.import_module(f"{__package__}.{REGISTRY[name]}")
    missing = [d for d in DECLARATIONS if not hasattr(found, d)]
    if missing or found.NAME != name:
        raise RuntimeError(f"{found.__name__} is not the format {name!r} (lacks {missing})")
    return found


def extensions() -> dict[str, str]:
    """Every extension -o knows and its format (imports every format's module)."""
    return {ext: name for name in REGISTRY for ext in module(name).EXTENSIONS}


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
        parts.append(f"{', '.join(m.EXTENSIONS)} ({m.DESCRIPTION}{note})")
    return "; ".join(parts)
