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
    (``mallopt(M_MMAP_THRESHOLD)``; glibc only, else nothing), from the end of the
    pass on, in a process the command line owns (:func:`own_the_heap`).

    glibc moves that threshold up to the largest block freed so far (32 MB at
    most), so that after the first arrays of the analysis are freed, the next
    ones of up to 32 MB come from the heap and stay counted there once freed:
    offcpu at 50M events peaked at 347 MB with the moving threshold, 311 MB
    with it fixed.  Not during the pass: its batches' arrays, mapped and
    unmapped each time, made syscalls at 20M events slower (15.3 s against
    13.7 s, the means of seven runs each, which spread from 11.6 to 18.9 s).
    A host program using the library keeps its own settings.
    """
    if not _owned:
        return
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


_owned = False


def own_the_heap() -> None:
    """Say that this process is corr's own (the command line, the server's runs):
    :func:`map_large_blocks` may change how it allocates."""
    global _owned
    _owned = True
