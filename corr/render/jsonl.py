"""``corr run --format jsonl``: one interval per line, for jq, pandas and DuckDB.

Each line is one whole JSON object: ``rule`` (the rule's name), then the
interval as the JSON document has it (its fields, and for analysed
intervals ``blamed_tid``, ``breakdown``, ``critical_path``, ``renamed``).
The intervals over each rule's threshold, slowest first, rule after rule;
``--all-intervals``: every interval.  Nothing else: the run's statistics
and blame graph are the JSON document's.  Encoded as
:mod:`corr.render.run_json` encodes intervals (orjson), written as read.
"""

from __future__ import annotations

NAME = "jsonl"
DESCRIPTION = "JSON Lines"
NEEDS_BLAME = False
FILE_ONLY = False

BATCH = 256


def lines(result, all_intervals: bool = False):
    """Every line, as bytes ending with a newline."""
    from .run_json import encoder
    encode = encoder(newline=True)
    for rule in result.rules:
        name = rule.name
        for interval in rule.iter_intervals(all_intervals, encoded=True):
            record = {"rule": name}
            record.update(interval)
            yield encode(record)


def write(result, destination, options) -> None:
    out = destination.binary
    batch = []
    for line in lines(result, options.all_intervals):
        batch.append(line)
        if len(batch) >= BATCH:
            out.write(b"".join(batch))
            batch.clear()
    out.write(b"".join(batch))
