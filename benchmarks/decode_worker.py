"""One decode, in its own process so that wall time and peak RSS are its own.

    python benchmarks/decode_worker.py full|sched|canonical-sched TRACE

Prints the number of events decoded.
"""

from __future__ import annotations

import sys

SCHED = {"sched_*": "*"}


def main(mode: str, path: str) -> int:
    import corr
    from corr.reading import Projection, open_traces

    if mode == "full":
        batches = open_traces(path).batches(Projection.all())
    elif mode == "sched":
        batches = open_traces(path).batches(Projection.of(SCHED))
    elif mode == "canonical-sched":
        batches = corr.events(path, {"sched_*": "*"})
    else:
        raise SystemExit(f"unknown mode {mode}")
    n = 0
    for batch in batches:
        n += len(batch)
    print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
