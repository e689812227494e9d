"""``corr check RULES`` (what a trace must hold) and ``corr record``'s command
line: its usage errors, missing tools, ``--print``.  Nothing here records; the
real recordings are in tests/test_record_recordings.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import one_line_error, run_corr

ROOT = Path(__file__).resolve().parents[1]
LLSERVER = ROOT / "rules" / "llserver.yaml"
OFFCPU = ROOT / "rules" / "offcpu.yaml"


def test_check_without_traces_says_what_a_trace_must_hold():
    proc = run_corr("check", LLSERVER)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.splitlines() == [
        f"{LLSERVER}: 6 rule(s) ok",
        "a trace for these rules must hold:",
        "  user space (LTTng-UST), each event with the contexts vtid, vpid, procname:",
        "    llserver:backlog_trigger  fields queue_size, reason_code",
        "    llserver:lock_hold        fields hold_ns, mutex_name",
        "    llserver:lock_wait        fields mutex_name, wait_ns",
        "    llserver:logging_io       fields bytes, io_ns, op",
        "    llserver:packet_received  fields queue_size, seqno",
        "    llserver:process_end      fields seqno, success",
        "    llserver:process_start    fields seqno",
        "    llserver:queue_snapshot   fields queue_size",
        "  kernel (lttng-modules name, perf tracepoint, why):",
        "    sched_switch                sched:sched_switch          scheduling model (blame)",
        "    sched_waking                sched:sched_waking          scheduling model (blame)",
        "    sched_wakeup                sched:sched_wakeup          scheduling model (blame)",
        "    sched_wakeup_new            sched:sched_wakeup_new      scheduling model (blame)",
        "    sched_process_fork          sched:sched_process_fork    scheduling model (blame)",
        "    sched_process_exit          sched:sched_process_exit    scheduling model (blame)",
        "    irq_handler_entry           irq:irq_handler_entry       wakeups done in interrupts "
        "(blame)",
        "    irq_handler_exit            irq:irq_handler_exit        wakeups done in interrupts "
        "(blame)",
        "    irq_softirq_entry           irq:softirq_entry           wakeups done in interrupts "
        "(blame)",
        "    irq_softirq_exit            irq:softirq_exit            wakeups done in interrupts "
        "(blame)",
        "    timer_hrtimer_expire_entry  timer:hrtimer_expire_entry  wakeups done in interrupts "
        "(blame)",
        "    timer_hrtimer_expire_exit   timer:hrtimer_expire_exit   wakeups done in interrupts "
        "(blame)",
        f"record it with: corr record {LLSERVER} -- COMMAND [ARGS...]  "
        "(--print: the lttng and perf commands)",
    ]


def test_check_of_a_rule_perf_cannot_record(tmp_path):
    rules = tmp_path / "kmem.yaml"
    rules.write_text("version: 1\nrules:\n  - name: alloc\n"
                     "    entry: {event: kmem_kmalloc, key: {p: ptr}}\n"
                     "    exit: {event: kmem_kfree, key: {p: ptr}}\n")
    lines = run_corr("check", rules).stdout.splitlines()
    assert "    kmem_kmalloc        -                         named by the rules; no perf " \
           "tracepoint corr knows: record it with lttng-modules" in lines
    assert not any("user space" in line for line in lines)


def test_check_with_traces_prints_no_requirements():
    trace = ROOT / "examples" / "llserver" / "trace"
    proc = run_corr("check", LLSERVER, trace)
    assert proc.returncode == 0 and proc.stdout == f"{LLSERVER}: 6 rule(s) ok\n", proc.stderr


def test_print_gives_the_lttng_and_perf_commands(tmp_path):
    out = tmp_path / "rec"
    proc = run_corr("record", LLSERVER, "--print", "-o", out, "--", "./llserver", "-d", "500")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    session = [line for line in lines if line.startswith("lttng ")]
    assert session == [
        f"lttng create corr --output={out}",
        "lttng enable-event -u -s corr llserver:backlog_trigger,llserver:lock_hold,"
        "llserver:lock_wait,llserver:logging_io,llserver:packet_received,llserver:process_end,"
        "llserver:process_start,llserver:queue_snapshot",
        "lttng add-context -u -s corr -t vtid -t vpid -t procname",
        "lttng start corr", "lttng stop corr", "lttng destroy corr"]
    perf = [line for line in lines if line.startswith("perf record")]
    assert perf == [
        f"perf record -a -k CLOCK_MONOTONIC -B -N -m 8M -o {out}/perf.data "
        "-e sched:sched_switch -e sched:sched_waking -e sched:sched_wakeup "
        "-e sched:sched_wakeup_new -e sched:sched_process_fork -e sched:sched_process_exit "
        "-e irq:irq_handler_entry -e irq:irq_handler_exit -e irq:softirq_entry "
        "-e irq:softirq_exit -e timer:hrtimer_expire_entry -e timer:hrtimer_expire_exit "
        "-- ./llserver -d 500"]
    assert f"perf data convert -i {out}/perf.data --to-ctf {out}/kernel" in lines
    assert lines[-1] == f"# then: corr run {LLSERVER} {out}"
    assert not out.exists()                       # --print records nothing


def test_print_of_kernel_rules_starts_no_session_daemon(tmp_path):
    proc = run_corr("record", ROOT / "rules" / "syscalls.yaml", "--print", "--system-wide",
                    "-o", tmp_path / "rec")
    assert proc.returncode == 0, proc.stderr
    assert "lttng" not in proc.stdout
    perf = next(line for line in proc.stdout.splitlines() if line.startswith("perf record"))
    # System calls without perf's own (it writes the data it records).
    assert perf.endswith("-e raw_syscalls:sys_enter --exclude-perf -e raw_syscalls:sys_exit "
                         "--exclude-perf    # Ctrl-C to stop")


@pytest.mark.parametrize("args, needle", [
    ([], "give one of -- COMMAND, -p PID or --system-wide"),
    (["--system-wide", "--", "true"], "give one of -- COMMAND, -p PID or --system-wide"),
    (["-p", "1", "--system-wide"], "give one of -- COMMAND, -p PID or --system-wide"),
    (["--duration", "1", "--", "true"], "--duration takes a positive number of seconds"),
    (["--system-wide", "--duration", "0"], "--duration takes a positive number of seconds"),
    (["-p", "0"], "-p 0: not a process id"),
    (["true"], "unrecognized arguments: true"),
])
def test_record_usage_errors_are_one_line(args, needle):
    one_line_error(run_corr("record", OFFCPU, *args), needle)


def test_a_command_that_does_not_exist_is_one_line_before_any_tracer(tmp_path):
    if shutil.which("perf") is None:
        pytest.skip("perf is not installed (the missing tool is said first)")
    one_line_error(run_corr("record", OFFCPU, "-o", tmp_path / "r", "--", "/nonexistent/cmd"),
                   "record: /nonexistent/cmd: command not found")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("rules, missing", [
    (OFFCPU, "perf not found in PATH: install linux-perf"),
    (LLSERVER, "lttng and lttng-sessiond and perf not found in PATH: install linux-perf "
               "lttng-tools"),
])
def test_missing_tools_are_one_line_naming_what_to_install(tmp_path, rules, missing):
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = run_corr("record", rules, "-o", tmp_path / "r", "--", "/bin/true",
                    env={"PATH": str(empty)})
    one_line_error(proc, f"record: {missing} (Debian packages)")
    assert not (tmp_path / "r").exists()


def test_an_output_folder_holding_a_trace_is_refused(tmp_path):
    if os.geteuid() != 0 or shutil.which("perf") is None:
        pytest.skip("the tools are checked first: needs perf")
    (tmp_path / "kernel").mkdir()
    one_line_error(run_corr("record", OFFCPU, "-o", tmp_path, "--", "/bin/true"),
                   "already holds kernel/")
