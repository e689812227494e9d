"""How a run hands memory back to the system (corr/engine/memory.py)."""

from __future__ import annotations


def test_the_heap_is_changed_only_in_a_process_the_command_line_owns(monkeypatch):
    """map_large_blocks sets glibc's mmap threshold (1 MB) only after own_the_heap (the
    command line, the server's runs): the library leaves a host program's malloc alone."""
    import ctypes

    from corr.engine import memory
    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1
    monkeypatch.setattr(ctypes, "CDLL", lambda name: Libc())
    monkeypatch.setattr(memory, "_owned", False)
    memory.map_large_blocks()
    assert calls == []
    memory.own_the_heap()
    memory.map_large_blocks()
    assert calls == [(-3, 1 << 20)]
