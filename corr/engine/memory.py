"""Handing freed heap memory back to the system between a run's phases.

Decoding and matching leave glibc's heap full of freed small blocks (the
batches' Python objects): tens of megabytes it keeps for reuse.  The
scheduling model then allocates its arrays elsewhere (numpy's large
arrays are mmapped), so the freed blocks would only add to the run's peak
resident size; ``malloc_trim`` returns them (offcpu on a 5M-event trace:
39 MB returned, peak 287 -> 274 MB).
"""

from __future__ import annotations


def release_freed_memory() -> None:
    """``malloc_trim(0)`` where the C library has it (glibc); else nothing."""
    try:
        import ctypes
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


M_MMAP_THRESHOLD = -3          # mallopt's parameter (glibc's malloc.h)
MMAP_THRESHOLD = 1 << 20


def map_large_blocks() -> None:
    """Have every block of 1 MB or more mapped on its own, and unmapped when freed
    (``mallopt(M_MMAP_THRESHOLD)``; glibc only, else nothing).

    glibc moves that threshold up to the largest block freed so far (32 MB at
    most), so that after the first arrays of a large run are freed, the next
    ones of up to 32 MB come from the heap and stay counted there once freed:
    offcpu at 50M events peaked at 347 MB with the moving threshold, 311 MB
    with it fixed, in the same time.  Set by the command line (and so by the
    server's runs), not by the library: a host program keeps its own.
    """
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
