"""Event layouts of lttng-modules 2.13 and lttng-ust 2.13, as babeltrace2 sees them.

A layout is a tuple of ``(field_name, type_code)`` pairs in payload order.
Type codes are short strings so that tables stay readable:

``s8``..``s64`` / ``u8``..``u64``
    signed / unsigned integers of that many bits (as LTTng declares them:
    ``int``/``pid_t`` are ``s32``, ``long`` is ``s64``, pointers and
    ``size_t`` are ``u64`` on x86-64).
``x32`` / ``x64``
    unsigned integers that LTTng declares with ``ctf_integer_hex`` (shown in
    base 16).
``str``
    a string.  LTTng writes ``comm``-like fields as ``char[16]`` text arrays,
    which babeltrace2 decodes as strings: in trace IR they are strings, so we
    write them as strings.
``f32`` / ``f64``
    floating point numbers (UST only).
:class:`Seq`
    a sequence whose length is a separate, preceding unsigned member, like
    ``ctf_sequence`` (``vtids`` with its ``_vtids_length`` in
    ``sched_process_fork``).

The tables were checked against lttng-modules v2.13.0
(``include/instrumentation/events/*.h`` and the x86-64 syscall headers) and
against the metadata of the real 2.8/2.10 traces in ``shared/traces``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Seq", "INTEGER_BITS", "KERNEL_EVENTS", "SYSCALLS", "KERNEL_CONTEXTS",
    "UST_CONTEXTS", "TASK_STATES", "SOFTIRQ_VECTORS", "RWBS_FLAGS",
    "encode_prev_state", "encode_softirq", "encode_rwbs", "infer_type", "context_layout",
    "default_value", "check_value", "syscall_layouts",
]


@dataclass(frozen=True)
class Seq:
    """A ``ctf_sequence``: elements of ``element`` type, counted by ``length_field``."""

    element: str
    length_field: str


INTEGER_BITS = {
    f"{kind}{bits}": bits for kind in ("s", "u", "x") for bits in (8, 16, 32, 64)
}

COMM = "str"  # ctf_array_text(char, ..., TASK_COMM_LEN): decoded as a string

_WAKEUP = (("comm", COMM), ("tid", "s32"), ("prio", "s32"), ("target_cpu", "s32"))
_PROCESS = (("comm", COMM), ("tid", "s32"), ("prio", "s32"))
_SOFTIRQ = (("vec", "u32"),)
_BLOCK_RQ = (
    ("dev", "u32"), ("sector", "u64"), ("nr_sector", "u32"), ("bytes", "u32"),
    ("tid", "s32"), ("rwbs", "u32"), ("comm", COMM),
)

# Events that carry perf's ``common_flags`` in a scenario with ``irq_flags``.
FLAGGED_EVENTS = frozenset({"sched_waking", "sched_wakeup", "sched_wakeup_new"})
# The kernel's TRACE_FLAG_* bits of a tracepoint fired in each interrupt context
# (IRQs are off in a hard IRQ handler, and hrtimer callbacks run in one).
CONTEXT_FLAGS = {"irq": 0x08 | 0x01, "hrtimer": 0x08 | 0x01, "softirq": 0x10}

KERNEL_EVENTS: dict[str, tuple] = {
    # sched.h, kernel >= 4.4 variant (prev_state is a plain long).
    "sched_switch": (
        ("prev_comm", COMM), ("prev_tid", "s32"), ("prev_prio", "s32"),
        ("prev_state", "s64"),
        ("next_comm", COMM), ("next_tid", "s32"), ("next_prio", "s32"),
    ),
    "sched_waking": _WAKEUP,
    "sched_wakeup": _WAKEUP,
    "sched_wakeup_new": _WAKEUP,
    "sched_migrate_task": (
        ("comm", COMM), ("tid", "s32"), ("prio", "s32"),
        ("orig_cpu", "s32"), ("dest_cpu", "s32"),
    ),
    "sched_process_free": _PROCESS,
    "sched_process_exit": _PROCESS,
    "sched_process_wait": _PROCESS,
    "sched_process_fork": (
        ("parent_comm", COMM), ("parent_tid", "s32"), ("parent_pid", "s32"),
        ("parent_ns_inum", "u32"),
        ("child_comm", COMM), ("child_tid", "s32"),
        ("_vtids_length", "u8"), ("vtids", Seq("s32", "_vtids_length")),
        ("child_pid", "s32"), ("child_ns_inum", "u32"),
    ),
    "sched_process_exec": (("filename", "str"), ("tid", "s32"), ("old_tid", "s32")),
    # irq.h
    "irq_handler_entry": (("irq", "s32"), ("name", "str")),
    "irq_handler_exit": (("irq", "s32"), ("ret", "s32")),
    "irq_softirq_raise": _SOFTIRQ,
    "irq_softirq_entry": _SOFTIRQ,
    "irq_softirq_exit": _SOFTIRQ,
    # timer.h
    "timer_hrtimer_expire_entry": (("hrtimer", "x64"), ("now", "s64"), ("function", "x64")),
    "timer_hrtimer_expire_exit": (("hrtimer", "x64"),),
    # block.h, kernel >= 5.11 variant (dev_t is u32, sector_t u64).
    "block_rq_insert": _BLOCK_RQ,
    "block_rq_issue": _BLOCK_RQ,
    "block_rq_complete": (
        ("dev", "u32"), ("sector", "u64"), ("nr_sector", "u32"),
        ("error", "s32"), ("rwbs", "u32"),
    ),
    # lttng-statedump.h: since 2.11 the v* ids moved to
    # lttng_statedump_process_pid_ns.
    "lttng_statedump_start": (),
    "lttng_statedump_end": (),
    "lttng_statedump_process_state": (
        ("tid", "s32"), ("pid", "s32"), ("ppid", "s32"), ("name", COMM),
        ("type", "s32"), ("mode", "s32"), ("submode", "s32"), ("status", "s32"),
        ("cpu", "u32"), ("file_table_address", "x64"),
    ),
}

# x86-64 syscalls: name -> (entry fields, exit fields after ``ret``).
# sc_in fields go to the entry, sc_out to the exit, sc_inout to both.
_NO_ARGS = ((), ())
SYSCALLS: dict[str, tuple[tuple, tuple]] = {
    "getpid": _NO_ARGS, "gettid": _NO_ARGS, "getppid": _NO_ARGS,
    "getuid": _NO_ARGS, "sched_yield": _NO_ARGS, "pause": _NO_ARGS,
    "sync": _NO_ARGS, "setsid": _NO_ARGS,
    "read": ((("fd", "u32"), ("count", "u64")), (("buf", "u64"),)),
    "write": ((("fd", "u32"), ("buf", "u64"), ("count", "u64")), ()),
    "pread64": ((("fd", "u32"), ("count", "u64"), ("pos", "s64")), (("buf", "u64"),)),
    "pwrite64": ((("fd", "u32"), ("buf", "u64"), ("count", "u64"), ("pos", "s64")), ()),
    "readv": ((("fd", "u64"), ("vec", "u64"), ("vlen", "u64")), (("vec", "u64"),)),
    "writev": ((("fd", "u64"), ("vec", "u64"), ("vlen", "u64")), (("vec", "u64"),)),
    "open": ((("filename", "str"), ("flags", "s32"), ("mode", "u16")), ()),
    "openat": ((("dfd", "s32"), ("filename", "str"), ("flags", "s32"), ("mode", "u16")), ()),
    "close": ((("fd", "u32"),), ()),
    "lseek": ((("fd", "u32"), ("offset", "s64"), ("whence", "u32")), ()),
    "fsync": ((("fd", "u32"),), ()),
    "fdatasync": ((("fd", "u32"),), ()),
    "newfstat": ((("fd", "u32"),), (("statbuf", "u64"),)),
    "ioctl": ((("fd", "u32"), ("cmd", "u32"), ("arg", "u64")), (("arg", "u64"),)),
    "futex": (
        (("uaddr", "u64"), ("op", "s32"), ("val", "u32"), ("utime", "u64"),
         ("uaddr2", "u64"), ("val3", "u32")),
        (("uaddr", "u64"), ("uaddr2", "u64")),
    ),
    "nanosleep": ((("rqtp", "u64"),), (("rmtp", "u64"),)),
    "clock_nanosleep": (
        (("which_clock", "s32"), ("flags", "s32"), ("rqtp", "u64")), (("rmtp", "u64"),)
    ),
    "clock_gettime": ((("which_clock", "s32"),), (("tp", "u64"),)),
    "sendto": (
        (("fd", "s32"), ("buff", "u64"), ("len", "u64"), ("flags", "u32"),
         ("addr", "u64"), ("addr_len", "s32")),
        (),
    ),
    "recvfrom": (
        (("fd", "s32"), ("size", "u64"), ("flags", "u32"), ("addr_len", "u64")),
        (("ubuf", "u64"), ("addr", "u64"), ("addr_len", "u64")),
    ),
    "sendmsg": ((("fd", "s32"), ("msg", "u64"), ("flags", "u32")), ()),
    "recvmsg": ((("fd", "s32"), ("msg", "u64"), ("flags", "u32")), (("msg", "u64"),)),
    "mmap": (
        (("addr", "x64"), ("len", "u64"), ("prot", "s32"), ("flags", "s32"),
         ("fd", "s32"), ("offset", "s64")),
        (),
    ),
    "munmap": ((("addr", "u64"), ("len", "u64")), ()),
    "brk": ((("brk", "u64"),), ()),
    "clone": (
        (("flags", "x64"), ("newsp", "x64"), ("parent_tid", "x64"), ("child_tid", "x64")),
        (),
    ),
    "execve": ((("filename", "str"), ("argv", "x64"), ("envp", "x64")), ()),
    "exit": ((("error_code", "s32"),), ()),
    "exit_group": ((("error_code", "s32"),), ()),
    "wait4": (
        (("upid", "s32"), ("options", "s32")), (("stat_addr", "u64"), ("ru", "u64"))
    ),
    "kill": ((("pid", "s32"), ("sig", "s32")), ()),
    "tgkill": ((("tgid", "s32"), ("pid", "s32"), ("sig", "s32")), ()),
}

# Special exit value types (mmap returns an address, shown in hex).
_SYSCALL_RET = {"mmap": "x64"}

# `lttng add-context -k -t NAME`: the kernel context types.
KERNEL_CONTEXTS = {
    "tid": "s32", "pid": "s32", "ppid": "s32", "vtid": "s32", "vpid": "s32",
    "vppid": "s32", "procname": "str", "prio": "s32", "nice": "s32",
    "hostname": "str",
    # lttng-modules 2.11+ `callstack-kernel` / `callstack-user`: return addresses,
    # innermost first, as a sequence counted by a length field written just before it.
    "callstack_kernel": Seq("x64", "_callstack_kernel_length"),
    "callstack_user": Seq("x64", "_callstack_user_length"),
}

# `lttng add-context -u -t NAME`: the user space context types.
UST_CONTEXTS = {
    "vtid": "s32", "vpid": "s32", "procname": "str", "pthread_id": "u64",
    "ip": "x64", "cpu_id": "s32",
}

# prev_state as lttng-modules 2.13 writes it on kernels >= 4.14:
# 1 << (task_state_index - 1), and TASK_REPORT_MAX (0x100) when preempted.
TASK_STATES = {
    "R": 0, "S": 1, "D": 2, "T": 4, "t": 8, "X": 16, "Z": 32, "P": 64, "I": 128,
    "R+": 256,
}

SOFTIRQ_VECTORS = {
    "HI": 0, "TIMER": 1, "NET_TX": 2, "NET_RX": 3, "BLOCK": 4, "IRQ_POLL": 5,
    "TASKLET": 6, "SCHED": 7, "HRTIMER": 8, "RCU": 9,
}

# RWBS_FLAG_* of lttng-modules' block.h, by the letter blktrace shows.
RWBS_FLAGS = {"W": 1, "D": 2, "R": 4, "A": 8, "S": 32, "M": 64, "F": 512}


def _encode(table: dict, value, what: str) -> int:
    """Map a symbolic name through ``table``; integers pass through."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"unknown {what} {value!r}; use an int or one of {sorted(table)}") from None


def encode_prev_state(state) -> int:
    """Task state as 2.13's sched_switch ``prev_state`` (``"D"`` -> 2, ``"R+"`` -> 256)."""
    return _encode(TASK_STATES, state, "task state")


def encode_softirq(vec) -> int:
    """Softirq vector number from its name (``"NET_RX"`` -> 3) or number."""
    return _encode(SOFTIRQ_VECTORS, vec, "softirq vector")


def encode_rwbs(rwbs) -> int:
    """Block request flags from blktrace letters (``"WS"`` -> 33) or an int."""
    if isinstance(rwbs, int) and not isinstance(rwbs, bool):
        return rwbs
    return sum(_encode(RWBS_FLAGS, letter, "rwbs letter") for letter in str(rwbs))


def syscall_layouts(name: str, args: dict | None = None, out: dict | None = None):
    """Entry and exit layouts of a syscall.

    Known syscalls use the lttng-modules x86-64 table; others get a layout
    inferred from the Python values given (first use decides).
    """
    entry, exit_fields = SYSCALLS.get(name) or (
        tuple((key, infer_type(value)) for key, value in (args or {}).items()),
        tuple((key, infer_type(value)) for key, value in (out or {}).items()),
    )
    return entry, (("ret", _SYSCALL_RET.get(name, "s64")),) + tuple(exit_fields)


def infer_type(value) -> str:
    """A type code for a Python value, for events declared by example."""
    if isinstance(value, bool):
        return "u8"
    if isinstance(value, int):
        return "s64"
    if isinstance(value, float):
        return "f64"
    if isinstance(value, str):
        return "str"
    raise TypeError(f"cannot infer a CTF field type from {type(value).__name__} {value!r}")


def context_layout(names, table) -> tuple:
    """A common context's members: each sequence preceded by its length field."""
    out = []
    for name in names:
        type_code = table[name]
        if isinstance(type_code, Seq):
            out.append((type_code.length_field, "u32"))
        out.append((name, type_code))
    return tuple(out)


def default_value(type_code):
    """The value a field gets when a scenario does not give one."""
    if isinstance(type_code, Seq):
        return []
    if type_code == "str":
        return ""
    if type_code in ("f32", "f64"):
        return 0.0
    return 0


def check_value(name: str, type_code, value) -> None:
    """Refuse a value the field cannot hold, so traces stay exact."""
    if isinstance(type_code, Seq):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"field {name!r} is a sequence; got {value!r}")
        for element in value:
            check_value(name, type_code.element, element)
        return
    if type_code == "str":
        if not isinstance(value, str) or "\0" in value:
            raise TypeError(f"field {name!r} needs a string without NUL; got {value!r}")
        return
    if type_code in ("f32", "f64"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"field {name!r} needs a number; got {value!r}")
        return
    if not isinstance(value, int):
        raise TypeError(f"field {name!r} needs an integer; got {value!r}")
    bits = INTEGER_BITS[type_code]
    low, high = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if type_code[0] == "s"
                 else (0, (1 << bits) - 1))
    if not low <= value <= high:
        raise ValueError(f"field {name!r} ({type_code}) cannot hold {value}")
