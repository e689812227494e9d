"""``corr run --format json``: the RunResult as stable JSON (``format_version``).

Intervals are written one at a time: a rule can have hundreds of thousands
over its threshold, and a list of dicts for all of them would not fit the
memory target.
"""

from __future__ import annotations

import json


def write(result, out, all_intervals: bool = False) -> None:
    """Write the JSON document to the text stream ``out``."""
    doc = result.to_dict(all_intervals, with_intervals=False)
    rules = doc.pop("rules")
    head = json.dumps(doc, indent=2)
    out.write(head[:-2] + ',\n  "rules": [')
    for n, (rule_doc, rule) in enumerate(zip(rules, result.rules)):
        body = json.dumps(rule_doc, indent=2).replace("\n", "\n    ")
        out.write(("," if n else "") + "\n    " + body[:-6] + ',\n      "intervals": [')
        for k, interval in enumerate(rule.iter_intervals(all_intervals)):
            out.write(("," if k else "") + "\n        " + json.dumps(interval))
        out.write("\n      ]\n    }")
    out.write("\n  ]\n}\n")


def render(result, all_intervals: bool = False) -> str:
    import io
    buffer = io.StringIO()
    write(result, buffer, all_intervals)
    return buffer.getvalue()
