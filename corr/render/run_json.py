"""``corr run --format json``: the RunResult as stable JSON (``format_version``)."""

from __future__ import annotations

import json


def render(result, all_intervals: bool = False) -> str:
    return json.dumps(result.to_dict(all_intervals), indent=2)
