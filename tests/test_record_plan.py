"""corr.record.plan: what a trace must hold for each shipped rule file, exactly.

The plan is what ``corr check RULES`` prints and what ``corr record`` records;
these lists are written out by hand from the rule files (their events, their
``blame:``) and the scheduling model's needs, not read back from the code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corr.record.plan import plan_for
from corr.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]

SCHED = ["sched_switch", "sched_waking", "sched_wakeup", "sched_wakeup_new",
         "sched_process_fork", "sched_process_exit"]
SCHED_PERF = ["sched:" + name for name in SCHED]
IRQ = ["irq_handler_entry", "irq_handler_exit", "irq_softirq_entry", "irq_softirq_exit",
       "timer_hrtimer_expire_entry", "timer_hrtimer_expire_exit"]
IRQ_PERF = ["irq:irq_handler_entry", "irq:irq_handler_exit", "irq:softirq_entry",
            "irq:softirq_exit", "timer:hrtimer_expire_entry", "timer:hrtimer_expire_exit"]
LLSERVER = ["llserver:backlog_trigger", "llserver:lock_hold", "llserver:lock_wait",
            "llserver:logging_io", "llserver:packet_received", "llserver:process_end",
            "llserver:process_start", "llserver:queue_snapshot"]
VALKEY = ["valkey_aof:*", "valkey_bgsave:fork", "valkey_bgsave:rdb_unlink_temp_file",
          "valkey_cluster:*", "valkey_commands:command_call", "valkey_db:*", "valkey_rdb:fork",
          "valkey_rdb:rdb_unlink_temp_file", "valkey_server:command",
          "valkey_server:command_unblocking", "valkey_server:eventloop",
          "valkey_server:eventloop_cron", "valkey_server:fast_command",
          "valkey_server:module_acquire_gil", "valkey_server:while_blocked_cron",
          "valkey_sys:fork", "valkey_sys:rdb_unlink_temp_file"]
CALCJOB = ["calcjob:job_end", "calcjob:job_start", "calcjob:job_submit", "calcjob:lock_acquired",
           "calcjob:lock_release", "calcjob:lock_request"]
MONKEY = ["monkey:epoll", "monkey:scheduler"]
UST_CONTEXTS = ["vtid", "vpid", "procname"]

# rule file -> (UST events, UST contexts, kernel events, perf tracepoints)
EXPECTED = {
    "offcpu.yaml": ([], [], SCHED + IRQ, SCHED_PERF + IRQ_PERF),
    "wakeup.yaml": ([], [], SCHED + IRQ, SCHED_PERF + IRQ_PERF),
    "syscalls.yaml": ([], [], SCHED + ["syscall_entry_*", "syscall_exit_*"],
                      SCHED_PERF + ["raw_syscalls:sys_enter", "raw_syscalls:sys_exit"]),
    "irq.yaml": ([], [], SCHED + ["irq_handler_entry", "irq_handler_exit", "irq_softirq_raise",
                                  "irq_softirq_entry", "irq_softirq_exit"],
                 SCHED_PERF + ["irq:irq_handler_entry", "irq:irq_handler_exit",
                               "irq:softirq_raise", "irq:softirq_entry", "irq:softirq_exit"]),
    "block.yaml": ([], [], SCHED + ["block_rq_issue", "block_rq_complete"],
                   SCHED_PERF + ["block:block_rq_issue", "block:block_rq_complete"]),
    "llserver.yaml": (LLSERVER, UST_CONTEXTS, SCHED + IRQ, SCHED_PERF + IRQ_PERF),
    "valkey.yaml": (VALKEY, UST_CONTEXTS, SCHED + IRQ, SCHED_PERF + IRQ_PERF),
    "calcjob.yaml": (CALCJOB, UST_CONTEXTS, SCHED + IRQ, SCHED_PERF + IRQ_PERF),
    "monkey.yaml": (MONKEY, UST_CONTEXTS, SCHED + IRQ, SCHED_PERF + IRQ_PERF),
    # user space only, no blame: no kernel event, no perf
    "requests.yaml": (["requests:begin", "requests:end"], UST_CONTEXTS, [], []),
}


def test_every_shipped_rule_file_has_an_expected_plan():
    assert sorted(EXPECTED) == sorted(p.name for p in (ROOT / "rules").glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_plan_of_a_shipped_rule_file(name):
    plan = plan_for(load_rules(ROOT / "rules" / name))
    ust, contexts, kernel, perf = EXPECTED[name]
    assert list(plan.ust_events) == ust
    assert list(plan.ust_contexts) == contexts
    assert list(plan.kernel_events) == kernel
    assert list(plan.perf_events) == perf
    assert plan.unrecordable == ()


def test_why_each_kernel_event_is_recorded():
    why = plan_for(load_rules(ROOT / "rules" / "offcpu.yaml")).why
    assert why["sched_switch"] == why["sched_process_exit"] == "named by the rules"
    assert why["sched_waking"] == "scheduling model (blame)"
    assert why["irq_softirq_entry"] == "wakeups done in interrupts (blame)"
    why = plan_for(load_rules(ROOT / "rules" / "syscalls.yaml")).why
    assert why["sched_switch"] == "names the rules' kernel threads"


def test_activity_records_system_calls_and_migrations(tmp_path):
    """``activity: true`` adds what it reads besides the model's events; without it
    offcpu.yaml records no system call."""
    text = (ROOT / "rules" / "offcpu.yaml").read_text()
    assert not plan_for(load_rules(ROOT / "rules" / "offcpu.yaml")).syscalls
    path = tmp_path / "offcpu.yaml"
    path.write_text(text.replace("blame: entry", "blame: entry\n    activity: true"))
    plan = plan_for(load_rules(path, cache=False))
    why = "kernel activity per interval (activity: true)"
    assert {name: plan.why[name] for name in plan.kernel_events if plan.why[name] == why} == {
        "syscall_entry_*": why, "syscall_exit_*": why, "sched_migrate_task": why}
    assert {"raw_syscalls:sys_enter", "raw_syscalls:sys_exit",
            "sched:sched_migrate_task"} <= set(plan.perf_events)


def test_fields_the_rules_read_from_user_space_events():
    fields = plan_for(load_rules(ROOT / "rules" / "llserver.yaml")).ust_fields
    assert fields == {
        "llserver:backlog_trigger": ("queue_size", "reason_code"),
        "llserver:lock_hold": ("hold_ns", "mutex_name"),
        "llserver:lock_wait": ("mutex_name", "wait_ns"),
        "llserver:logging_io": ("bytes", "io_ns", "op"),
        "llserver:packet_received": ("queue_size", "seqno"),
        "llserver:process_end": ("seqno", "success"),
        "llserver:process_start": ("seqno",),
        "llserver:queue_snapshot": ("queue_size",),
    }


def _rules(tmp_path, text):
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nrules:\n" + text)
    return plan_for(load_rules(path, cache=False))


def test_user_space_rules_without_blame_record_no_kernel(tmp_path):
    plan = _rules(tmp_path, """\
  - name: req
    entry: {event: app:start, key: [id]}
    exit: {event: app:end, key: [id]}
""")
    assert plan.ust_events == ("app:end", "app:start")
    assert plan.ust_contexts == ("vtid", "vpid", "procname")
    assert plan.kernel_events == ()


def test_contexts_a_rule_reads_are_added(tmp_path):
    plan = _rules(tmp_path, """\
  - name: req
    entry: {event: app:start, key: {id: id, cpu: ctx.cpu_id}}
    exit: {event: app:end, key: {id: id, cpu: ctx.cpu_id}}
""")
    assert plan.ust_contexts == ("vtid", "vpid", "procname", "cpu_id")


def test_kernel_names_perf_spells_and_unknown_kernel_events(tmp_path):
    plan = _rules(tmp_path, """\
  - name: reads
    entry: {event: "sched:sched_switch", key: {tid: prev_tid}}
    exit: {event: syscall_exit_read, key: {tid: $tid}}
  - name: unknown
    entry: {event: "kmem_kmalloc|kmem_cache_alloc", key: {p: ptr}}
    exit: {event: kmem_kfree, key: {p: ptr}}
""")
    assert plan.kernel_events == tuple(SCHED) + ("syscall_exit_*",)
    assert plan.perf_events[-1] == "raw_syscalls:sys_exit"
    assert plan.unrecordable == ("kmem_kmalloc", "kmem_cache_alloc", "kmem_kfree")
    assert plan.ust_events == ()


def test_a_kernel_alternative_records_the_first_perf_can(tmp_path):
    plan = _rules(tmp_path, """\
  - name: w
    entry: {event: "kmem_kmalloc|block_rq_issue|block_rq_insert", key: {d: dev}}
    exit: {event: block_rq_complete, key: {d: dev}}
""")
    assert plan.kernel_events == tuple(SCHED) + ("block_rq_issue", "block_rq_complete")
    assert plan.unrecordable == ()


def test_kernel_rules_perf_cannot_record_still_get_thread_names(tmp_path):
    plan = _rules(tmp_path, """\
  - name: alloc
    entry: {event: kmem_kmalloc, key: {p: ptr}}
    exit: {event: kmem_kfree, key: {p: ptr}}
""")
    assert plan.kernel_events == tuple(SCHED)
    assert plan.unrecordable == ("kmem_kmalloc", "kmem_kfree")
