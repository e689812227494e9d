"""Test data for corr: exact synthetic LTTng traces written through babeltrace2.

- :class:`Scenario` describes a small system (threads, CPUs, syscalls,
  wakeups, interrupts, discarded events, UST events) and writes it as real
  lttng-modules 2.13 / lttng-ust 2.13 CTF traces, with every expected value
  known by construction.
- :func:`generate_kernel_trace` writes large, realistic kernel traces for
  benchmarks, with bounded memory.
"""

from .ctf_writer import fast_path_available
from .generate import GeneratedTrace, generate_kernel_trace
from .scenario import (
    ExpectedDiscard,
    ExpectedEvent,
    Interrupt,
    Scenario,
    ScenarioError,
    Thread,
    WrittenTrace,
)

__all__ = [
    "Scenario", "ScenarioError", "Thread", "Interrupt", "ExpectedEvent",
    "ExpectedDiscard", "WrittenTrace", "generate_kernel_trace", "GeneratedTrace",
    "fast_path_available",
]
