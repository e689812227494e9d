"""One switch for corr's C accelerators.

Each stage with a C accelerator keeps its Python reference beside it
(the reader's ``_fastsink.c``, the matcher's ``_core.c``, the scheduling
model's ``_native.c``), and a differential test compares the two.
``CORR_NATIVE=off`` runs every reference at once; ``CORR_READER``,
``CORR_ENGINE=python`` and ``CORR_SCHED=python`` still pick one stage's
path, for the tests that compare a single stage.
"""

from __future__ import annotations

import os

STAGES = ("reader", "engine", "sched")
_STAGE_SWITCHES = {"engine": "CORR_ENGINE", "sched": "CORR_SCHED"}


def enabled(stage: str) -> bool:
    """Whether ``stage``'s C accelerator may run (if it was built)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: one of {', '.join(STAGES)}")
    if os.environ.get("CORR_NATIVE", "on").lower() in ("off", "0", "no", "python"):
        return False
    switch = _STAGE_SWITCHES.get(stage)
    return switch is None or os.environ.get(switch, "auto") != "python"
