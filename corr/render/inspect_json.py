"""``corr inspect --json``: the Inspection as stable JSON (UTF-8: a name's bytes that
were not UTF-8 as ``\\xff`` text, as :mod:`corr.render.run_json` writes them)."""

from __future__ import annotations

import json

from ..analyses.inspection import Inspection
from .run_json import _finite


def render(result: Inspection) -> str:
    return json.dumps(_finite(result.to_dict()), indent=2, sort_keys=False)
