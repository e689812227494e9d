"""``corr inspect --json``: the Inspection as stable JSON."""

from __future__ import annotations

import json

from ..analyses.inspection import Inspection


def render(result: Inspection) -> str:
    return json.dumps(result.to_dict(), indent=2, sort_keys=False)
