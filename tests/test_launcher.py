"""The ``corr`` executable's own set-up, before any command runs."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = ("import corr.launcher as launcher; launcher.no_blas_threads(); import numpy, os; "
         "print(len(os.listdir('/proc/self/task')), os.environ['OPENBLAS_NUM_THREADS'])")


def _probe(**env) -> list[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env},
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_numpy_starts_no_blas_threads():
    """One thread: no OpenBLAS pool spinning on a core the decode workers need."""
    assert _probe() == ["1", "1"]


def test_a_blas_setting_of_the_user_is_kept():
    assert _probe(OPENBLAS_NUM_THREADS="3")[1] == "3"
