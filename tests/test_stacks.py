"""Code stacks (docs/stacks.md) over scenarios whose stacks are known.

The scenario writer records LTTng's ``callstack_kernel`` / ``callstack_user``
contexts; the symbols come from a kallsyms file and a perf map file written
here, so every folded line, weight and JSON frame is known exactly.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import ROOT, run_corr
from corr import api
from corr.engine.plan import run_projection
from corr.errors import UsageError
from corr.reading import Projection, open_traces
from corr.rules import load_rules
from corr.sched import stacks as stack_log
from corr.testing.scenario import Scenario, ScenarioError

from test_reader_differential import assert_readers_agree

OFFCPU = ROOT / "rules" / "offcpu.yaml"
CALLSTACKS = ("callstack_kernel", "callstack_user")

KALLSYMS = """\
ffffffff81000000 T __schedule
ffffffff81000100 T futex_wait
ffffffff81000200 T entry_SYSCALL_64
ffffffff81000300 t try_to_wake_up
ffffffff81000400 T io_schedule
ffffffff81000500 T blk_mq_end_request
ffffffff81000600 T _etext
"""
USER_MAP = """\
401000 100 wait_for_lock
401100 100 main
401200 100 hold_lock
401300 80 write_and_sync
"""
# The waiter blocks in the kernel's futex wait, from wait_for_lock; an address
# no symbol covers (in libc) stays an address.
WAITER_KERNEL = (0xFFFFFFFF81000010, 0xFFFFFFFF81000120, 0xFFFFFFFF81000230)
WAITER_USER = (0x7F0000001234, 0x401020, 0x401110)
HOLDER_KERNEL = (0xFFFFFFFF81000310, 0xFFFFFFFF81000230)
HOLDER_USER = (0x401230, 0x401120)

WAITER_LINE = ("offcpu;waiter (101);main+0x10 (user.map);wait_for_lock+0x20 (user.map);"
               "0x7f0000001234;entry_SYSCALL_64+0x30 ([kernel.kallsyms]);"
               "futex_wait+0x20 ([kernel.kallsyms]);__schedule+0x10 ([kernel.kallsyms])")
HOLDER_STACK = ("try_to_wake_up+0x10 ([kernel.kallsyms]);entry_SYSCALL_64+0x30 "
                "([kernel.kallsyms]);hold_lock+0x30 (user.map);main+0x20 (user.map)")


def _rules(tmp_path, stacks: bool = True) -> Path:
    text = OFFCPU.read_text()
    if stacks:
        text = text.replace("blame: entry", "blame: entry\n    stacks: true")
    path = tmp_path / "offcpu.yaml"
    path.write_text(text)
    return path


def _symbols(tmp_path) -> list[str]:
    """Symbol files, away from the trace (one beside it would be read anyway)."""
    folder = tmp_path / "symbols"
    folder.mkdir(exist_ok=True)
    (folder / "kallsyms").write_text(KALLSYMS)
    (folder / "user.map").write_text(USER_MAP)
    return [str(folder / "kallsyms"), str(folder / "user.map")]


def _mutex_scenario(tmp_path, holder_stack: bool = True) -> Path:
    """waiter (101) blocks at 1 µs from wait_for_lock; holder (102) wakes it from
    hold_lock at 3 ms (without ``holder_stack``, with no chain recorded); it runs
    again at 3.1 ms: 3,099,000 ns off the CPU."""
    s = Scenario(cpus=2, kernel_context=CALLSTACKS)
    a = s.thread(tid=101, pid=100, comm="waiter")
    b = s.thread(tid=102, pid=100, comm="holder")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=b, at=0)
    s.stack(a, at=500, kernel=WAITER_KERNEL, user=WAITER_USER)
    s.block(a, at=1_000, state="S")
    if holder_stack:
        s.stack(b, at=1_500, kernel=HOLDER_KERNEL, user=HOLDER_USER)
    s.wakeup(a, by=b, at=3_000_000)
    s.run(cpu=0, thread=a, at=3_100_000)
    return _written(s, tmp_path)


def _written(s: Scenario, tmp_path) -> Path:
    s.write(tmp_path / "trace")
    return tmp_path / "trace"


def _folded(result, **options) -> list[str]:
    out = io.StringIO()
    api.write(result, "folded", stream=out, **options)
    return out.getvalue().splitlines()


def assert_stacks_read_alone_are_those_read_together(result) -> None:
    """Each analysed interval's stacks read alone are those ``values()`` makes together
    (names looked up in bulk), and read as a text report reads them (its own waker
    only) they are those of ``to_dict(own_wakeups=True)``."""
    for rule in result.rules:
        stacks = rule.analysis.stacks if rule.analysis is not None else None
        if stacks is None:
            continue
        together = list(stacks.values())
        assert len(together) == len(stacks) == len(list(stacks))
        for i, found in zip(stacks, together):
            alone = stacks[i]
            assert alone == found
            assert stacks.own(i).to_dict(own_wakeups=True) == alone.to_dict(own_wakeups=True)
            assert stacks.own(i).wakers == ((alone.own_waker(),) if alone.own_waker() else ())
            # What the renderers write: the same, made without the objects.
            assert stacks.dict_of(i) == alone.to_dict()
            assert stacks.dict_of(i, own_wakeups=True) == alone.to_dict(own_wakeups=True)
            assert stacks.own(i)._replace(wakers=()) == alone._replace(wakers=())
        if hasattr(stacks, "user_stacks"):     # the flame graph's source lines
            from corr.render.folded import code_frame_lines
            assert code_frame_lines(stacks) == code_frame_lines(dict(zip(stacks, together)))
        assert stacks.own(-1) is None and stacks.get(-1) is None and stacks.dict_of(-1) is None


def _json_rule(result) -> dict:
    out = io.StringIO()
    api.write(result, "json", stream=out)
    return json.loads(out.getvalue())["rules"][0]


def test_folded_code_stacks_of_a_known_scenario(tmp_path):
    trace = _mutex_scenario(tmp_path)
    result = api.run(_rules(tmp_path), [trace], symbols=_symbols(tmp_path), cache=False)
    assert _folded(result) == [f"{WAITER_LINE} 3099000"]
    # With the waker: offwaketime's layout, the waker's frames innermost first.
    assert _folded(result, wakers=True) == [f"{WAITER_LINE};--;{HOLDER_STACK};holder (102) 3099000"]


def test_json_intervals_carry_the_stack_and_each_waker_stack(tmp_path):
    trace = _mutex_scenario(tmp_path)
    result = api.run(_rules(tmp_path), [trace], symbols=_symbols(tmp_path), cache=False)
    rule = _json_rule(result)
    (interval,) = rule["intervals"]
    assert interval["stack"] == {
        "kernel": ["__schedule+0x10 ([kernel.kallsyms])", "futex_wait+0x20 ([kernel.kallsyms])",
                   "entry_SYSCALL_64+0x30 ([kernel.kallsyms])"],
        "user": ["0x7f0000001234", "wait_for_lock+0x20 (user.map)", "main+0x10 (user.map)"]}
    assert interval["off_cpu_ns"] == 3_099_000
    (wakeup,) = interval["wakeups"]
    assert wakeup["woken_tid"] == 101 and wakeup["waker_tid"] == 102
    assert wakeup["waker"] == "holder (102)"
    assert wakeup["at_ns"] == interval["start_ns"] - 1_000 + 3_000_000
    assert wakeup["waker_stack"] == {
        "kernel": ["try_to_wake_up+0x10 ([kernel.kallsyms])",
                   "entry_SYSCALL_64+0x30 ([kernel.kallsyms])"],
        "user": ["hold_lock+0x30 (user.map)", "main+0x20 (user.map)"]}
    assert rule["blame"]["stack_sources"] == [f"symbols {p}" for p in _symbols(tmp_path)]


def _three_threads():
    """A scenario of waiter (101), holder (102) and writer (103), each running on its
    own CPU from time 0."""
    s = Scenario(cpus=3, kernel_context=CALLSTACKS)
    a = s.thread(tid=101, pid=100, comm="waiter")
    b = s.thread(tid=102, pid=100, comm="holder")
    c = s.thread(tid=103, pid=100, comm="writer")
    for cpu, t in enumerate((a, b, c)):
        s.run(cpu=cpu, thread=t, at=0)
    return s, a, b, c


def test_every_wakeup_on_the_critical_path_has_its_waker_stack(tmp_path):
    """waiter waits for holder, which itself waits for a writer (a chain of two):
    both wakeups on the path are reported, the waiter's own first."""
    s, a, b, c = _three_threads()
    s.stack(a, at=10, kernel=WAITER_KERNEL, user=WAITER_USER)
    s.block(a, at=1_000, state="S")
    s.stack(b, at=10, kernel=(0xFFFFFFFF81000410,), user=(0x401310,))
    s.block(b, at=2_000, state="D")
    s.stack(c, at=10, kernel=(0xFFFFFFFF81000520,), user=())
    s.wakeup(b, by=c, at=2_000_000)
    s.run(cpu=1, thread=b, at=2_000_100)
    s.stack(b, at=2_000_200, kernel=HOLDER_KERNEL, user=HOLDER_USER)
    s.wakeup(a, by=b, at=3_000_000)
    s.run(cpu=0, thread=a, at=3_100_000)
    trace = _written(s, tmp_path)
    result = api.run(_rules(tmp_path), [trace], symbols=_symbols(tmp_path), cache=False)
    assert_stacks_read_alone_are_those_read_together(result)
    rule = _json_rule(result)
    waiter = [i for i in rule["intervals"] if i["tid"] == 101]
    (interval,) = waiter
    got = [(w["woken_tid"], w["waker"], w["waker_stack"]["kernel"], w["waker_stack"]["user"])
           for w in interval["wakeups"]]
    assert got == [
        (101, "holder (102)", ["try_to_wake_up+0x10 ([kernel.kallsyms])",
                               "entry_SYSCALL_64+0x30 ([kernel.kallsyms])"],
         ["hold_lock+0x30 (user.map)", "main+0x20 (user.map)"]),
        (102, "writer (103)", ["blk_mq_end_request+0x20 ([kernel.kallsyms])"], []),
    ]
    # The holder's own interval (D, in write_and_sync) is a slow interval with its stack.
    holder = [i for i in rule["intervals"] if i["tid"] == 102]
    assert holder[0]["stack"] == {"kernel": ["io_schedule+0x10 ([kernel.kallsyms])"],
                                  "user": ["write_and_sync+0x10 (user.map)"]}
    assert sorted(_folded(result)) == sorted([
        f"{WAITER_LINE} 3099000",
        "offcpu;holder (102);write_and_sync+0x10 (user.map);"
        "io_schedule+0x10 ([kernel.kallsyms]) 1998100"])


def test_an_interval_woken_twice_shows_its_last_waker_first_in_text(tmp_path):
    """A system call that sleeps twice, woken by holder then by writer: JSON lists both
    wakeups in time order; the text (and ``own``, what it reads) its last waker's."""
    s, a, b, c = _three_threads()
    s.stack(b, at=10, kernel=HOLDER_KERNEL, user=HOLDER_USER)
    s.stack(c, at=10, kernel=(0xFFFFFFFF81000520,), user=())
    s.syscall(a, "read", at=500, until=5_000_000)
    s.stack(a, at=600, kernel=WAITER_KERNEL, user=WAITER_USER)
    s.block(a, at=1_000, state="S")
    s.wakeup(a, by=b, at=2_000_000)
    s.run(cpu=0, thread=a, at=2_000_100)
    s.block(a, at=3_000_000, state="S")
    s.wakeup(a, by=c, at=4_000_000)
    s.run(cpu=0, thread=a, at=4_000_100)
    trace = _written(s, tmp_path)
    rules = tmp_path / "syscalls.yaml"
    rules.write_text((ROOT / "rules" / "syscalls.yaml").read_text().replace(
        "    timeout: 10s\n", "    timeout: 10s\n    blame: entry\n    stacks: true\n", 1))
    result = api.run(rules, [trace], symbols=_symbols(tmp_path), cache=False)
    assert_stacks_read_alone_are_those_read_together(result)
    (interval,) = _json_rule(result)["intervals"]
    assert [(w["woken_tid"], w["waker"]) for w in interval["wakeups"]] == [
        (101, "holder (102)"), (101, "writer (103)")]
    stacks = result.rules[0].analysis.stacks
    (index,) = list(stacks)
    assert [w.waker for w in stacks.own(index).wakers] == ["writer (103)"]
    text = run_corr("run", "--no-cache", "--symbols", _symbols(tmp_path)[0], "--symbols",
                    _symbols(tmp_path)[1], str(rules), str(trace)).stdout
    assert "writer (103)" in text and "hold_lock" not in text


def test_a_sleep_woken_before_its_switch_out_has_the_wakers_stack(tmp_path):
    """holder wakes waiter while it still runs (it had set itself asleep): waiter then
    switches out, and the sched_wakeup, done on writer's CPU once it has, ends the
    sleep.  The waker stack is holder's at its sched_waking, before the wait, not the
    code the sched_wakeup ran in (writer's); that chain is not even decoded."""
    s, a, b, c = _three_threads()
    s.stack(a, at=10, kernel=WAITER_KERNEL, user=WAITER_USER)
    s.stack(b, at=10, kernel=HOLDER_KERNEL, user=HOLDER_USER)
    s.stack(c, at=10, kernel=(0xFFFFFFFF81000520,), user=())
    s.wakeup(a, by=b, at=900, running=True, wakeup_at=3_000_000, wakeup_cpu=2)
    s.block(a, at=1_000, state="S")
    s.run(cpu=0, thread=a, at=3_100_000)
    trace = _written(s, tmp_path)
    result = api.run(_rules(tmp_path), [trace], symbols=_symbols(tmp_path), cache=False)
    assert_stacks_read_alone_are_those_read_together(result)
    (interval,) = [i for i in _json_rule(result)["intervals"] if i["tid"] == 101]
    assert [(w["at_ns"] - interval["start_ns"], w["waker"], w["waker_stack"])
            for w in interval["wakeups"]] == [
        (-100, "holder (102)", {
            "kernel": ["try_to_wake_up+0x10 ([kernel.kallsyms])",
                       "entry_SYSCALL_64+0x30 ([kernel.kallsyms])"],
            "user": ["hold_lock+0x30 (user.map)", "main+0x20 (user.map)"]})]
    assert _folded(result, wakers=True) == [
        f"{WAITER_LINE};--;{HOLDER_STACK};holder (102) 3099000"]


def test_a_wait_nothing_woke_has_no_waker_stack(tmp_path):
    """A sched_wakeup of waiter without its sched_waking (lost), in a trace that records
    sched_waking: the model says nothing woke it, and no waker stack is made up from
    the log (that sched_wakeup's chain is not even decoded)."""
    s, a, b, _ = _three_threads()
    s.stack(a, at=500, kernel=WAITER_KERNEL, user=WAITER_USER)
    s.block(a, at=1_000, state="S")
    s.stack(b, at=1_500, kernel=HOLDER_KERNEL, user=HOLDER_USER)
    s.event("sched_wakeup", cpu=1, at=2_000_000, comm="waiter", tid=101, prio=20,
            target_cpu=0)
    s.block(b, at=2_500_000, state="S")          # a sched_waking, so the class is recorded
    s.wakeup(b, cpu=1, at=2_800_000)
    s.run(cpu=1, thread=b, at=2_900_000)
    s.event("sched_switch", cpu=0, at=3_100_000, prev_comm="swapper/0", prev_tid=0,
            prev_prio=20, prev_state=0, next_comm="waiter", next_tid=101, next_prio=20)
    trace = _written(s, tmp_path)
    result = api.run(_rules(tmp_path), [trace], symbols=_symbols(tmp_path), cache=False)
    assert_stacks_read_alone_are_those_read_together(result)
    (interval,) = [i for i in _json_rule(result)["intervals"] if i["tid"] == 101]
    assert [(p["kind"], p["by"]) for p in interval["breakdown"]] == [
        ("blocked", "not woken in the trace")]
    assert interval["wakeups"] == []
    text = run_corr("run", "--no-cache", str(_rules(tmp_path)), str(trace)).stdout
    assert "blocked in" in text and "woken by" not in text


def test_text_says_when_the_waker_recorded_no_chain(tmp_path):
    """holder wakes waiter with no call chain recorded at its waking: the text says so
    rather than listing no frames under "from"."""
    trace = _mutex_scenario(tmp_path, holder_stack=False)
    text = run_corr("run", "--no-cache", str(_rules(tmp_path)), str(trace)).stdout
    assert "woken by holder (102): no call chain recorded" in text
    assert "woken by holder (102) from" not in text


def test_a_row_changed_by_its_reader_leaves_the_others_and_the_outputs_as_they_were(tmp_path):
    """Rows read through the library are the reader's: changing one's stack in place
    changes no other row, no later read and no output (stacks are shared between
    rows only on the way to an encoder)."""
    result = api.run(_rules(tmp_path), [_mutex_scenario(tmp_path)],
                     symbols=_symbols(tmp_path), cache=False)
    rule = result.rules[0]
    before = _json_rule(result)
    (row,) = [r for r in rule.selected_intervals() if r["tid"] == 101]
    row["stack"]["kernel"].reverse()
    row["wakeups"][0]["waker_stack"]["user"].clear()
    (again,) = [r for r in rule.selected_intervals() if r["tid"] == 101]
    assert again["stack"]["kernel"][0] == "__schedule+0x10 ([kernel.kallsyms])"
    assert again["wakeups"][0]["waker_stack"]["user"] == ["hold_lock+0x30 (user.map)",
                                                          "main+0x20 (user.map)"]
    assert _json_rule(result) == before


def test_without_symbols_frames_stay_addresses(tmp_path):
    trace = _mutex_scenario(tmp_path)
    result = api.run(_rules(tmp_path), [trace], cache=False)
    frames = [f"{v:#x}" for v in reversed(WAITER_USER)] + [f"{v:#x}" for v in reversed(WAITER_KERNEL)]
    assert _folded(result) == [f"offcpu;waiter (101);{';'.join(frames)} 3099000"]


def test_a_kallsyms_file_beside_the_trace_names_kernel_frames(tmp_path):
    trace = _mutex_scenario(tmp_path)
    (trace.parent / "kallsyms").write_text(KALLSYMS)
    result = api.run(_rules(tmp_path), [trace], cache=False)
    (line,) = _folded(result)
    assert line.endswith(";entry_SYSCALL_64+0x30 ([kernel.kallsyms]);futex_wait+0x20 "
                         "([kernel.kallsyms]);__schedule+0x10 ([kernel.kallsyms]) 3099000")
    assert ";0x401020;" in line                  # no user symbols: the address


def test_aliases_at_one_address_are_named_as_perf_names_them(tmp_path):
    """Symbols at one address (``memcpy``, ``__memcpy``, ``__pi_memcpy`` in a 6.x
    kernel) name it by the last in the kallsyms file, as perf script does (it gives
    the last a length, the next symbol's start, and prefers a symbol with one),
    whatever their names' order: in a kallsyms file beside the trace, and in the
    running system's."""
    from corr.analyses.perf_maps import kallsyms_rows
    from corr.analyses.symbols import SymbolTable, read_symbol_file
    for aliases in (["memcpy", "__memcpy", "__pi_memcpy"], ["__pi_memcpy", "memcpy", "__memcpy"]):
        text = "ffffffff81000000 T _text\n" + "".join(
            f"ffffffff82244ea0 T {name}\n" for name in aliases) + "ffffffff82245000 T next\n"
        path = tmp_path / "kallsyms"
        path.write_text(text)
        table = SymbolTable()
        read_symbol_file(path, table)
        assert table.lookup(0xffffffff82244eaa) == f"{aliases[-1]}+0xa ([kernel.kallsyms])"
        rows, text_at = kallsyms_rows(str(path))
        running = SymbolTable()
        running.adopt(rows, 0)
        assert text_at == 0xffffffff81000000
        assert running.lookup(0xffffffff82244eaa) == f"{aliases[-1]}+0xa ([kernel.kallsyms])"
    # A data symbol at a code address names nothing, in either reader.
    path.write_text("ffffffff81000000 T foo\nffffffff81000000 r __ksymtab_foo\n"
                    "ffffffff81000100 T next\n")
    table = SymbolTable()
    read_symbol_file(path, table)
    running = SymbolTable()
    running.adopt(kallsyms_rows(str(path))[0], 0)
    assert table.lookup(0xffffffff81000010) == running.lookup(0xffffffff81000010) == \
        "foo+0x10 ([kernel.kallsyms])"


def test_nm_lists_an_elf_files_symbols_in_the_c_locale(tmp_path, monkeypatch):
    """Symbols at one address are listed by nm in its locale's collation, and the last
    names the address: nm runs in the C locale, whatever the user's, so that the
    name does not change with LANG."""
    import subprocess

    from corr.analyses import symbols
    seen = []
    run = subprocess.run

    def recorded(cmd, **kwargs):
        seen.append(kwargs.get("env", {}).get("LC_ALL"))
        return run(cmd, **kwargs)
    monkeypatch.setattr(symbols.subprocess, "run", recorded)
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")
    table = symbols.SymbolTable()
    symbols.read_elf(os.path.realpath(sys.executable), 0, table)
    assert seen and set(seen) == {"C"} and len(table)


def test_rules_without_stacks_keep_the_thread_chain_folded_lines(tmp_path):
    trace = _mutex_scenario(tmp_path)
    result = api.run(_rules(tmp_path, stacks=False), [trace], cache=False)
    assert _folded(result) == ["offcpu;waiter (101);PREEMPTED 100000",
                               "offcpu;waiter (101);holder (102);RUNNING 2999000"]
    assert "stack" not in _json_rule(result)["intervals"][0]


def test_the_folded_output_turns_stacks_on_for_traces_with_chains(tmp_path):
    """A rule without ``stacks: true`` written as folded (``--format folded``, ``-o
    x.folded``; API ``stacks=True``) has code stacks when its traces record chains."""
    trace = _mutex_scenario(tmp_path)
    rules = _rules(tmp_path, stacks=False)
    symbols = _symbols(tmp_path)
    result = api.run(rules, [trace], symbols=symbols, cache=False, stacks=True)
    assert _folded(result) == [f"{WAITER_LINE} 3099000"]
    done = run_corr("run", str(rules), str(trace), "--symbols", symbols[0], "--symbols",
                    symbols[1], "--format", "folded")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{WAITER_LINE} 3099000"]
    out = tmp_path / "x.folded"
    done = run_corr("run", str(rules), str(trace), "--symbols", symbols[0], "--symbols",
                    symbols[1], "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines() == [f"{WAITER_LINE} 3099000"]
    # Other formats keep to the rule.
    done = run_corr("run", str(rules), str(trace), "--format", "json")
    assert "waker_stack" not in done.stdout


def test_the_folded_output_keeps_thread_chains_of_traces_without_chains(tmp_path):
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=100, comm="waiter")
    b = s.thread(tid=102, pid=100, comm="holder")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=b, at=0)
    s.block(a, at=1_000, state="S")
    s.wakeup(a, by=b, at=3_000_000)
    s.run(cpu=0, thread=a, at=3_100_000)
    trace = _written(s, tmp_path)
    done = run_corr("run", str(_rules(tmp_path, stacks=False)), str(trace), "--format", "folded")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["offcpu;waiter (101);PREEMPTED 100000",
                                        "offcpu;waiter (101);holder (102);RUNNING 2999000"]
    assert "no trace records call chains" not in done.stderr


def test_corr_record_g_prints_chained_sched_events_and_keeps_perf_data(tmp_path):
    rules = str(_rules(tmp_path, stacks=False))
    done = run_corr("record", rules, "-g", "--print", "-o", "/tmp/rec", "--", "./app")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    (perf,) = [line for line in lines if line.startswith("perf record")]
    for event in ("sched_switch", "sched_waking", "sched_wakeup", "sched_wakeup_new"):
        assert f" -e sched:{event}/call-graph=fp/ " in perf
    assert " -e irq:irq_handler_entry " in perf and " -g " not in perf
    assert "cp /proc/kallsyms /tmp/rec/kallsyms" in lines
    assert not any(line.startswith("rm -f") for line in lines)
    # Without -g: no chains, perf.data removed; a rule with stacks: true implies -g.
    plain = run_corr("record", rules, "--print", "-o", "/tmp/rec", "--", "./app").stdout
    assert "call-graph" not in plain and "rm -f /tmp/rec/perf.data" in plain
    implied = run_corr("record", str(_rules(tmp_path)), "--print", "-o", "/tmp/rec", "--",
                       "./app").stdout
    assert "sched:sched_switch/call-graph=fp/" in implied


def test_stacks_are_decoded_only_when_a_rule_asks(tmp_path):
    trace = _mutex_scenario(tmp_path)
    traces = open_traces([trace])
    plain = run_projection(load_rules(_rules(tmp_path, stacks=False)), True, traces)
    asked = run_projection(load_rules(_rules(tmp_path)), True, traces)
    stack_fields = {"callchain", "ctx.callstack_kernel", "ctx.callstack_user"}
    assert not stack_fields & set(plain.fields_for("sched_switch"))
    assert not stack_fields & set(plain.fields_for("sched_waking"))
    assert stack_fields <= set(asked.fields_for("sched_switch"))
    assert stack_fields <= set(asked.fields_for("sched_waking"))
    # Beside its sched_waking, a sched_wakeup's chain is not decoded.
    assert not stack_fields & set(asked.fields_for("sched_wakeup") or ())
    from corr.engine.runner import Engine
    assert Engine(traces, load_rules(_rules(tmp_path, stacks=False)), scheduling=True).stack_log is None


def test_the_readers_agree_on_callstack_contexts(tmp_path):
    """The C reader and its Python references decode the sequences alike, whole
    (every field) and projected to the stacks alone."""
    trace = _mutex_scenario(tmp_path)
    events = assert_readers_agree(trace)
    switches = [f for _, name, _, f in events if name == "sched_switch"]
    assert any(f["ctx.callstack_kernel"] == list(WAITER_KERNEL) for f in switches)
    projection = Projection.of({"sched_switch": {"ctx.callstack_kernel", "ctx.callstack_user"}})
    seen = {}
    for reader in ("public", "native", "c"):
        seen[reader] = [e for batch in open_traces([trace]).batches(projection, reader=reader)
                        for e in batch.events()]
    assert seen["c"] == seen["native"] == seen["public"]
    assert [f["ctx.callstack_user"] for _, _, _, f in seen["c"]
            if f["ctx.callstack_user"]] == [list(WAITER_USER)]


def test_perf_chains_split_at_their_context_markers():
    k, u = stack_log.PERF_CONTEXT_KERNEL, stack_log.PERF_CONTEXT_USER
    chain = stack_log.from_perf([k, 0xFFFFFFFF81000010, 0xFFFFFFFF81000120, u, 0x7F01, 0x401020])
    assert chain == stack_log.Chain((0xFFFFFFFF81000010, 0xFFFFFFFF81000120), (0x7F01, 0x401020))
    # The same bits read as signed 64-bit integers.
    signed = [v - (1 << 64) if v >= 1 << 63 else v for v in (k, 0xFFFFFFFF81000010, u, 0x7F01)]
    assert stack_log.from_perf(signed) == stack_log.Chain((0xFFFFFFFF81000010,), (0x7F01,))
    # A user-only chain; a guest marker ends the section it opens (nothing kept).
    assert stack_log.from_perf([u, 0x401000]) == stack_log.Chain((), (0x401000,))
    guest = 0xFFFFFFFFFFFFF800
    assert stack_log.from_perf([u, 0x401000, guest, 0x1234]) == stack_log.Chain((), (0x401000,))
    assert not stack_log.from_perf([])
    # LTTng's user stack ends with ULONG_MAX when the walk could not finish.
    assert stack_log.from_lttng([1, 2], [3, (1 << 64) - 1]) == stack_log.Chain((1, 2), (3,))


def test_symbol_names_are_escaped_in_folded_lines(tmp_path):
    trace = _mutex_scenario(tmp_path)
    hostile = tmp_path / "hostile.map"
    hostile.write_text("401000 100 a;b\x1b[2J\n401100 100 --\n")
    result = api.run(_rules(tmp_path), [trace], symbols=[str(hostile)], cache=False)
    (line,) = _folded(result)
    assert ";--+0x10 (hostile.map);a\\x3bb\\x1b[2J+0x20 (hostile.map);" in line
    assert "\x1b" not in line
    # A frame that would read as flamegraph.pl's separator never does.
    from corr.render.escape import code_frame
    assert code_frame("--") == "\\x2d\\x2d" and code_frame("a--") == "a--"


def test_a_bad_symbol_file_is_one_corr_line(tmp_path):
    trace = _mutex_scenario(tmp_path)
    bad = tmp_path / "bad.syms"
    bad.write_text("ffffffff81000000 T ok\nthis is not a symbol\n")
    with pytest.raises(UsageError, match=r"bad.syms:2: not a symbol line"):
        api.run(_rules(tmp_path), [trace], symbols=[str(bad)], cache=False)
    done = run_corr("run", str(_rules(tmp_path)), str(trace), "--symbols", str(bad),
                    "--format", "folded")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"corr: {bad}:2: not a symbol line (kallsyms 'ADDR TYPE NAME [MODULE]' or perf map "
        "'START SIZE NAME', hex; docs/stacks.md)"]


def test_stacks_need_blame(tmp_path):
    text = OFFCPU.read_text().replace("    blame: entry\n", "    stacks: true\n")
    path = tmp_path / "r.yaml"
    path.write_text(text)
    from corr.errors import RuleError
    with pytest.raises(RuleError, match="stacks: true needs blame:"):
        load_rules(path)


def test_the_scenario_refuses_stacks_without_their_contexts():
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="a")
    with pytest.raises(ScenarioError, match="callstack_kernel"):
        s.stack(a, at=0, kernel=(1,))


def test_text_shows_the_top_frames_of_the_blocked_and_the_waker(tmp_path):
    trace = _mutex_scenario(tmp_path)
    result = api.run(_rules(tmp_path), [trace], symbols=_symbols(tmp_path), cache=False)
    out = io.StringIO()
    api.write(result, "text", stream=out)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    at = lines.index("    blocked in")
    assert lines[at:at + 12] == [
        "    blocked in",
        "      __schedule+0x10 ([kernel.kallsyms])",
        "      futex_wait+0x20 ([kernel.kallsyms])",
        "      entry_SYSCALL_64+0x30 ([kernel.kallsyms])",
        "      0x7f0000001234",
        "      wait_for_lock+0x20 (user.map)",
        "      main+0x10 (user.map)",
        "    woken by holder (102) from",
        "      try_to_wake_up+0x10 ([kernel.kallsyms])",
        "      entry_SYSCALL_64+0x30 ([kernel.kallsyms])",
        "      hold_lock+0x30 (user.map)",
        "      main+0x20 (user.map)"]


def test_text_folded_and_html_read_only_the_intervals_own_stacks(tmp_path):
    """Text, folded stacks and the HTML flame graph show each interval's own stack and
    waker: writing them attributes no whole critical path (JSON then does, and writes
    every wakeup on it)."""
    from corr.analyses.stacks import StackTable
    result = api.run(_rules(tmp_path), [_mutex_scenario(tmp_path)],
                     symbols=_symbols(tmp_path), cache=False)
    stacks = result.rules[0].analysis.stacks
    for fmt in ("text", "folded"):
        api.write(result, fmt, stream=io.StringIO())
    api.write(result, str(tmp_path / "report.html"))
    assert not isinstance(stacks._whole, StackTable)       # noqa: SLF001
    bare = result.rules[0].selected_intervals(stacks=False)
    assert bare and not any({"stack", "off_cpu_ns", "wakeups"} & set(r) for r in bare)
    assert not isinstance(stacks._whole, StackTable)       # noqa: SLF001
    rows = _json_rule(result)["intervals"]
    assert isinstance(stacks._whole, StackTable)           # noqa: SLF001
    assert [w["waker"] for r in rows for w in r.get("wakeups", [])]


def test_html_report_has_a_self_contained_flame_graph(tmp_path):
    from bs4 import BeautifulSoup
    trace = _mutex_scenario(tmp_path)
    hostile = tmp_path / "symbols" / "hostile.map"
    _symbols(tmp_path)
    hostile.write_text(USER_MAP.replace("wait_for_lock", "<script>alert(1)</script>"))
    result = api.run(_rules(tmp_path), [trace], cache=False,
                     symbols=[str(tmp_path / "symbols" / "kallsyms"), str(hostile)])
    path = tmp_path / "report.html"
    api.write(result, str(path))
    html = path.read_text()
    page = BeautifulSoup(html, "html.parser")
    assert not page.find_all(["script", "link", "iframe", "object", "embed", "img"])
    assert "http://" not in html and "https://" not in html
    svg = page.select_one("figure.flame svg")
    titles = [t.get_text() for t in svg.find_all("title")]
    frames = ["waiter (101)", "main+0x10 (hostile.map)",
              "<script>alert(1)</script>+0x20 (hostile.map)", "0x7f0000001234",
              "entry_SYSCALL_64+0x30 ([kernel.kallsyms])", "futex_wait+0x20 ([kernel.kallsyms])",
              "__schedule+0x10 ([kernel.kallsyms])"]
    assert titles == [f"{f}: 3.099 ms (100.0%)" for f in frames]
    # Bottom to top: the thread lowest, the scheduler highest.
    ys = [float(r["y"]) for r in svg.find_all("rect")]
    assert ys == sorted(ys, reverse=True)
    assert "<script>alert" not in html


def test_perf_script_samples_are_read_whatever_the_pid_width():
    from corr.analyses.symbols import PerfSymbols
    found = PerfSymbols()
    found.read([
        " 6751/6758  62110.149577341: ",
        "\tffffffff82248208 __schedule+0x628 ([kernel.kallsyms])",
        "\t            1307 wait_for_lock+0x9 (/tmp/blocker)",
        "\t    555a744422b0 [unknown] ([unknown])",
        "",
        "16353/16357 60946.324102372: ",
        "\tffffffff82248b73 schedule+0x23 ([kernel.kallsyms])",
    ])
    assert found.samples == {
        (6758, 62110_149577341): (6751, ["__schedule+0x628 ([kernel.kallsyms])",
                                         "wait_for_lock+0x9 (/tmp/blocker)", None]),
        (16357, 60946_324102372): (16353, ["schedule+0x23 ([kernel.kallsyms])"]),
    }


def _readelf_value(binary: Path, function: str) -> int:
    """The symbol's value as readelf (not nm, which corr uses) reads it."""
    import subprocess
    text = subprocess.run(["readelf", "-sW", str(binary)], capture_output=True, text=True,
                          check=True).stdout
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[7] == function and parts[3] == "FUNC":
            return int(parts[1], 16)
    raise AssertionError(f"{function} not in {binary}")


@pytest.mark.parametrize("pie", [False, True])
def test_an_elf_file_names_user_frames(tmp_path, pie):
    """tests/programs/blocker.c built here; a frame 4 bytes into wait_for_lock, at the
    program's link address, or at a load base given as FILE@0xBASE for a PIE."""
    import os
    import shutil
    import subprocess
    if not (shutil.which("gcc") and shutil.which("readelf") and shutil.which("nm")):
        if os.environ.get("CI"):
            pytest.fail("gcc and binutils are installed in CI")
        pytest.skip("gcc or binutils missing")
    binary = tmp_path / "blocker"
    subprocess.run(["gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-pie" if pie else "-no-pie",
                    *(["-fPIE"] if pie else ["-fno-pie"]), "-o", str(binary),
                    str(ROOT / "tests" / "programs" / "blocker.c"), "-lpthread"],
                   check=True, capture_output=True)
    base = 0x555555554000 if pie else 0
    frame = base + _readelf_value(binary, "wait_for_lock") + 4
    s = Scenario(cpus=1, kernel_context=CALLSTACKS)
    a = s.thread(tid=101, pid=100, comm="waiter")
    s.run(cpu=0, thread=a, at=0)
    s.stack(a, at=10, kernel=(), user=(frame,))
    s.block(a, at=1_000, state="S")
    s.wakeup(a, cpu=0, at=2_000_000)
    s.run(cpu=0, thread=a, at=2_001_000)
    trace = _written(s, tmp_path)
    given = f"{binary}@{base:#x}" if pie else str(binary)
    result = api.run(_rules(tmp_path), [trace], symbols=[given], cache=False)
    assert _folded(result) == ["offcpu;waiter (101);wait_for_lock+0x4 (blocker) 2000000"]


def test_every_format_writes_a_run_with_stacks(tmp_path):
    """JSON Lines carries the stacks as JSON does; the table formats and the graph
    exports write the run as they would without them."""
    trace = _mutex_scenario(tmp_path)
    result = api.run(_rules(tmp_path), [trace], symbols=_symbols(tmp_path), cache=False)
    for name in ("o.jsonl", "o.csv", "o.parquet", "o.trace.json", "o.dot", "o.graphml",
                 "o.txt", "o.html"):
        api.write(result, str(tmp_path / name))
    (line,) = (tmp_path / "o.jsonl").read_text().splitlines()
    row = json.loads(line)
    assert row["stack"] == _json_rule(result)["intervals"][0]["stack"]
    assert row["wakeups"][0]["waker_stack"]["user"] == ["hold_lock+0x30 (user.map)",
                                                        "main+0x20 (user.map)"]


def test_a_run_with_stacks_is_never_answered_from_the_cache(tmp_path):
    """The cache keeps no chains: with one, a run with stacks decodes and has them,
    the second time as the first."""
    trace = _mutex_scenario(tmp_path)
    cache = tmp_path / "cache"
    plain = api.run(_rules(tmp_path, stacks=False), [trace], cache=str(cache))
    assert _folded(plain) == ["offcpu;waiter (101);PREEMPTED 100000",
                              "offcpu;waiter (101);holder (102);RUNNING 2999000"]
    for _ in range(2):
        result = api.run(_rules(tmp_path), [trace], symbols=_symbols(tmp_path), cache=str(cache))
        assert _folded(result) == [f"{WAITER_LINE} 3099000"]


def test_stacks_asked_of_traces_without_chains_are_said_to_be_empty(tmp_path):
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="waiter")
    s.run(cpu=0, thread=a, at=0)
    s.block(a, at=1_000, state="S")
    s.wakeup(a, cpu=0, at=2_000_000)
    s.run(cpu=0, thread=a, at=2_001_000)
    trace = _written(s, tmp_path)
    result = api.run(_rules(tmp_path), [trace], cache=False)
    assert [w for w in result.warnings if "stacks:" in w] == [
        "rule offcpu: stacks: true, but no trace records call chains on its switches and "
        "wakeups (perf record -g, or LTTng's callstack-kernel / callstack-user contexts: "
        "docs/stacks.md); its stacks are empty"]
    assert _folded(result) == ["offcpu;waiter (101) 2000000"]
    assert _json_rule(result)["intervals"][0]["stack"] == {"kernel": [], "user": []}


def test_a_damaged_perf_data_beside_the_trace_leaves_addresses(tmp_path):
    trace = _mutex_scenario(tmp_path)
    (trace.parent / "perf.data").write_bytes(b"PERFILE2" + bytes(range(256)) * 4)
    result = api.run(_rules(tmp_path), [trace], cache=False)
    frames = [f"{v:#x}" for v in reversed(WAITER_USER)] + [f"{v:#x}" for v in reversed(WAITER_KERNEL)]
    assert _folded(result) == [f"offcpu;waiter (101);{';'.join(frames)} 3099000"]
    assert _json_rule(result)["blame"]["stack_sources"] == []


def test_inspect_says_whether_a_trace_records_call_chains(tmp_path):
    from corr.sched.events import STACKS_NOTE
    with_chains = _mutex_scenario(tmp_path / "a")
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="a")
    s.run(cpu=0, thread=a, at=0)
    s.block(a, at=1_000)
    without = _written(s, tmp_path / "b")
    notes = [t.dialect_notes for t in api.inspect([with_chains, without]).traces]
    assert [STACKS_NOTE in n for n in notes] == [True, False]


def test_a_code_label_is_named_as_perf_names_it(tmp_path):
    """A NOTYPE symbol in code (an assembly label, as ld.so's ``_start`` in its debug
    file) names the addresses up to the next symbol, as perf takes it; a data label
    names nothing."""
    import shutil
    import subprocess
    from corr.analyses.perf_maps import ElfSymbols
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    source = tmp_path / "label.c"
    source.write_text('__asm__(".text\\n.globl entry_label\\nentry_label:\\n nop\\n nop\\n"\n'
                      '        ".data\\n.globl data_label\\ndata_label:\\n .quad 0\\n");\n'
                      "int main(void) { return 0; }\n")
    binary = tmp_path / "label"
    subprocess.run(["gcc", "-O0", "-o", str(binary), str(source)], check=True)
    symbols = {line.split()[-1]: int(line.split()[0], 16) for line in subprocess.run(
        ["nm", str(binary)], capture_output=True, text=True, check=True).stdout.splitlines()
        if line.split()[-1] in ("entry_label", "data_label")}
    elf = ElfSymbols(str(binary))

    def offset(vaddr):          # the file offset of an address (PIE: loads at 0)
        return next(vaddr - v + o for o, size, v in elf.loads if v <= vaddr < v + size)

    assert elf.name(offset(symbols["entry_label"])) == "entry_label+0x0"
    assert elf.name(offset(symbols["entry_label"] + 1)) == "entry_label+0x1"
    assert not (elf.name(offset(symbols["data_label"])) or "").startswith("data_label")


def test_an_address_of_the_image_before_an_exec_is_found_in_its_maps():
    """A sample taken while the kernel loads a new image has the old image's ``execve``
    call as its user frame: found in the maps before the exec (as perf keeps them),
    unless a map of the new image holds the address."""
    from corr.analyses.perf_maps import PerfMaps
    maps = PerfMaps()
    maps.read([
        "    0/0         0.000000000: PERF_RECORD_FORK(200:200):(199:199)",
        "    0/0         0.000000000: PERF_RECORD_MMAP2 200/200: [0x7f0000000000(0x1000) "
        "@ 0x26000 fe:00 1 0]: r-xp /old/libc.so.6",
        "200/200 5.000000000: PERF_RECORD_COMM exec: blocker:200/200",
        "200/200 5.000000100: PERF_RECORD_MMAP2 200/200: [0x7f1000000000(0x1000) "
        "@ 0x1000 fe:00 2 0]: r-xp /new/blocker",
        "200/200 5.000000200: PERF_RECORD_MMAP2 200/200: [0x7f0000000000(0x800) "
        "@ 0 fe:00 3 0]: r-xp /new/covers"])
    after = 5_000_000_050
    assert maps.locate(200, 0x7F0000000A00, after) == ("/old/libc.so.6", 0x26A00)
    assert maps.locate(200, 0x7F0000000100, 5_000_000_300) == ("/new/covers", 0x100)
    assert maps.locate(200, 0x7F1000000010, 5_000_000_300) == ("/new/blocker", 0x1010)
    assert maps.locate(200, 0x7F0000000A00, 4_000_000_000) == ("/old/libc.so.6", 0x26A00)
    assert maps.locate(200, 0x7E0000000000, after) is None


FRAME = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                min_size=1, max_size=90)


@settings(max_examples=200, deadline=None)
@example({("0",): 1395084, ("00",): 30897543, ("0", "00::::<<<<)\\\\)it"): 2664875})
@given(st.dictionaries(st.lists(FRAME, min_size=1, max_size=6).map(tuple),
                       st.integers(1, 10**12), min_size=1, max_size=12))
def test_a_flame_graph_is_whole_svg_with_labels_inside_their_frames(stacks):
    """Any frames and weights (long names in narrow frames, markup, any script) draw
    a well-formed SVG whose labels fit their frames and name their frames' starts;
    every frame drawn has its whole name in its tooltip."""
    import xml.etree.ElementTree as ET
    from corr.render.flame_svg import SIZE, flame_graph
    from corr.render.html_charts import text_width
    svg = flame_graph(stacks, "<rule & co>")
    root = ET.fromstring(svg)
    ns = ""                                  # inline in HTML: no namespace
    rects = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert rects
    names = {frame for stack in stacks for frame in stack}
    for rect in rects:
        title = rect.find(f"{ns}title").text
        assert any(title.startswith(f"{name}: ") for name in names)
    for label in root.iter(f"{ns}text"):
        x = float(label.get("x")) - 3
        cell = next((r for r in rects if abs(float(r.get("x")) - x) < 0.06
                     and abs(float(r.get("y")) + 17 - 5 - float(label.get("y"))) < 0.06), None)
        if cell is None:                     # the title line
            continue
        width = float(cell.get("width")) + 0.5
        assert text_width(label.text, SIZE - 1) <= width - 6 + 0.01
        title = cell.find(f"{ns}title").text
        assert title.startswith(label.text.rstrip("…"))


def test_a_perf_script_started_early_never_outlives_its_reader(tmp_path, monkeypatch):
    """The perf script started before it is read is killed when reading it times out or
    is interrupted, and by Symbolizer.close when nothing read it (a pass that failed)."""
    import subprocess
    import tempfile
    from corr.analyses import perf_maps
    from corr.analyses.symbols import Symbolizer

    def started() -> perf_maps.StartedPerf:
        return perf_maps.StartedPerf(subprocess.Popen(["sleep", "30"]),
                                     tempfile.TemporaryFile())

    monkeypatch.setattr(perf_maps, "PERF_TIMEOUT_S", 0.2)
    slow = started()
    assert perf_maps.read_perf_maps(tmp_path / "perf.data", slow) is None
    assert slow.process.returncode is not None and slow.out.closed

    class Interrupted(subprocess.Popen):
        def wait(self, timeout=None):
            if timeout is not None:
                raise KeyboardInterrupt
            return super().wait()

    interrupted = perf_maps.StartedPerf(Interrupted(["sleep", "30"]), tempfile.TemporaryFile())
    with pytest.raises(KeyboardInterrupt):
        perf_maps.read_perf_maps(tmp_path / "perf.data", interrupted)
    assert interrupted.process.returncode is not None and interrupted.out.closed

    symbols = Symbolizer()
    symbols._started[tmp_path / "perf.data"] = left = started()
    symbols.close()
    assert left.process.returncode is not None and left.out.closed and not symbols._started


def _stack_log(switches, wakeups):
    """A StackLog of these rows (as its tables have them), chains 1 to 5 interned."""
    import numpy as np
    log = stack_log.StackLog()
    for chain in range(1, 6):
        log.intern(stack_log.Chain((1 << 63 | chain,), ()))
    shape = {stack_log.SWITCH_ROWS: switches, stack_log.WAKEUP_ROWS: wakeups}
    for width, rows in shape.items():
        if rows:
            log._pieces[width].append(np.asarray(rows, dtype=np.int64).reshape(-1, width))
    return log


@st.composite
def _logs(draw):
    """A stack log's switch-outs and wakeups (few threads, times that repeat, wakeups
    of both kinds, stored out of stream order as a batch stores them class by class),
    and asked windows of logged and unlogged threads; times far apart or not (the
    searches' two ways of keying them)."""
    scale = draw(st.sampled_from([1, 1 << 56]))
    times = st.integers(0, 40).map(lambda t: t * scale)
    n_switch, n_wake = draw(st.integers(0, 30)), draw(st.integers(0, 30))
    ts = sorted(draw(st.lists(times, min_size=n_switch + n_wake, max_size=n_switch + n_wake)))
    kinds = draw(st.permutations(["s"] * n_switch + ["w"] * n_wake))
    tids = st.integers(1, 4)
    switches, wakeups = [], []
    for seq, (t, kind) in enumerate(zip(ts, kinds)):
        if kind == "s":
            switches.append((t, seq, draw(tids), draw(st.integers(0, 5))))
        else:
            wakeups.append((t, seq, draw(tids), draw(tids), draw(st.integers(0, 5)),
                            draw(st.sampled_from(sorted(stack_log.WAKEUP_CLASSES.values())))))
    windows = []
    for _ in range(draw(st.integers(0, 20))):
        a = draw(st.integers(-2, 42))
        windows.append((draw(st.integers(0, 5)), a * scale,
                        (a + draw(st.integers(0, 12))) * scale))
    return _stack_log(switches, draw(st.permutations(wakeups))), windows


WAKEUP = stack_log.WAKEUP_CLASSES["sched_wakeup"]


@given(_logs())
@settings(max_examples=300, deadline=None)
# A sched_waking before the window, the sched_wakeup alone in it: the sched_waking.
@example((_stack_log([], [(1, 0, 2, 3, 1, stack_log.WAKING), (5, 1, 2, 3, 2, WAKEUP)]),
          [(2, 3, 6)]))
# Times at either end of int64, or both.
@example((_stack_log([(-(1 << 63), 0, 1, 1), ((1 << 63) - 1, 2, 1, 2)],
                     [((1 << 63) - 1, 1, 1, 2, 3, stack_log.WAKING)]),
          [(1, -(1 << 63), 0), (1, 0, (1 << 63) - 1), (1, -(1 << 63), (1 << 63) - 1)]))
@example((_stack_log([(-(1 << 63), 0, 1, 1)], [(-(1 << 63), 1, 1, 2, 3, WAKEUP)]),
          [(1, -(1 << 63), -(1 << 63) + 5)]))
@example((_stack_log([((1 << 63) - 1, 0, 1, 1)], [((1 << 63) - 1, 1, 1, 2, 3, WAKEUP)]),
          [(1, (1 << 63) - 6, (1 << 63) - 1)]))
def test_switch_outs_and_wakeups_many_at_once_are_the_one_by_one_ones(case):
    """``switch_outs`` and ``wakeups_of`` (the attribution's, all intervals at once) give
    what ``switch_out`` and ``wakeup``, their references, give of each; their lookups
    prepared in a thread (as a run does once the pass is over) or when first asked."""
    log, windows = case
    if len(windows) % 2:
        log.prepare_in_background()
    tids, starts, ends = (list(c) for c in zip(*windows)) if windows else ([], [], [])
    switches = log.switches
    for row, (tid, start, end) in zip(log.switch_outs(tids, starts, ends).tolist(), windows):
        found = log.switch_out(tid, start, end)
        if found is None:
            assert row == -1
        else:
            assert switches[row][2] == tid and log.chains[switches[row][3]] == found
    found = log.wakeups_of(tids, starts, ends).tolist()
    wakeups = log.wakeups
    for k, (tid, start, end) in enumerate(windows):
        one = log.wakeup(tid, start, end)
        if one is None:
            assert found[k] == -1
        else:
            ts, _, woken, by, chain, _ = wakeups[found[k]]
            assert (ts, by, log.chains[chain]) == one and woken == tid


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_the_log_is_ordered_by_thread_time_and_position_as_a_lexsort(data):
    """``thread_time_order`` (by thread and stream position, where times follow the
    stream) is the lexsort by thread, time and position, also where times go back,
    seqs repeat, or tids and seqs are past what the radix sort takes."""
    import numpy as np
    n = data.draw(st.integers(0, 60))
    tid = data.draw(st.sampled_from([st.integers(0, 5), st.integers(-(1 << 40), 1 << 40)]))
    tids = np.asarray(data.draw(st.lists(tid, min_size=n, max_size=n)), dtype=np.int64)
    seqs = np.asarray(data.draw(st.lists(st.integers(0, 2 ** 62), min_size=n, max_size=n,
                                         unique=data.draw(st.booleans()))), dtype=np.int64)
    times = np.asarray(data.draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n)),
                       dtype=np.int64)
    if data.draw(st.booleans()):        # times that follow the stream, as a log's do
        times = np.sort(times)[np.argsort(np.argsort(seqs, kind="stable"), kind="stable")]
    got = stack_log.thread_time_order(tids, times, seqs)
    assert got.tolist() == np.lexsort((seqs, times, tids)).tolist()


def test_a_failed_preparation_of_the_lookups_is_raised_where_they_are_read(monkeypatch):
    log = _stack_log([(1, 0, 2, 1)], [(2, 1, 2, 3, 1, WAKEUP)])

    def failing(switches, wakeups):
        raise MemoryError("no room for the lookups")
    monkeypatch.setattr(stack_log, "_sorted", failing)
    log.prepare_in_background()
    with pytest.raises(MemoryError, match="no room for the lookups"):
        log.switch_outs([2], [0], [5])
    monkeypatch.undo()
    assert log.switch_outs([2], [0], [5]).tolist() == [0]     # made again when asked


@given(_logs())
@settings(max_examples=100, deadline=None)
def test_representatives_are_each_chain_of_each_thread_first_event(case):
    """What names a log's frames: of its events, the first of each chain in each thread
    (a chain recorded, not the empty one), in time order."""
    log, _ = case
    first: dict = {}
    for ns, tid, chain in log.events():
        if chain and ((tid, chain) not in first or ns < first[(tid, chain)]):
            first[(tid, chain)] = ns
    got = log.representatives()
    assert sorted(got) == sorted((ns, tid, chain) for (tid, chain), ns in first.items())
    assert [ns for ns, _, _ in got] == sorted(ns for ns, _, _ in got)


@given(st.lists(st.tuples(st.integers(1, 400), st.sampled_from("TtWw"),
                          st.sampled_from(["a", "b", "_text", "ünï"]),
                          st.sampled_from([None, "mod", "ext4"])), min_size=1, max_size=40),
       st.integers(-1000, 1000), st.booleans())
@settings(max_examples=200, deadline=None)
def test_the_running_kallsyms_name_frames_as_a_kallsyms_file_does(tmp_path_factory, symbols,
                                                                  shift, text_moved):
    """The running system's kallsyms, read beside the pass into a table that decodes
    what it shows, names every address as the same file read as a symbol file does;
    moved by KASLR, at the moved address."""
    from corr.analyses.perf_maps import kallsyms_rows, running_kallsyms
    from corr.analyses.symbols import SymbolTable, read_symbol_file
    path = tmp_path_factory.mktemp("kallsyms") / "kallsyms"
    base = 0xFFFFFFFF81000000
    path.write_text("".join(f"{base + at * 16:016x} {kind} {name}" +
                            (f"\t[{module}]" if module else "") + "\n"
                            for at, kind, name, module in symbols), encoding="utf-8")
    as_file = SymbolTable()
    read_symbol_file(path, as_file)
    found = kallsyms_rows(str(path))
    text_now = found[1]
    recorded = text_now + shift * 16 if text_now is not None and text_moved else None
    running = SymbolTable()
    assert running_kallsyms(recorded, running, lambda: found)
    moved = recorded - text_now if recorded is not None else 0
    for at in range(0, 402 * 16, 5):
        assert running.lookup(base + at + moved) == as_file.lookup(base + at), at


def test_sched_wakeup_chains_are_read_only_from_traces_without_sched_waking():
    from corr.sched.events import STACK_PROJECTION, stack_projection
    both = {"sched_switch", "sched_waking", "sched_wakeup"}
    alone = {"sched_switch", "sched_wakeup"}
    assert "sched_wakeup" not in stack_projection([both])
    assert set(stack_projection([both])) == {"sched_switch", "sched_waking"}
    assert "sched_wakeup" not in stack_projection([both, {"lttng_ust_statedump:start"}])
    assert stack_projection([alone]) == STACK_PROJECTION
    assert stack_projection([both, alone]) == STACK_PROJECTION     # one trace needs them
    assert stack_projection(None) == STACK_PROJECTION


WAKING_ = stack_log.WAKING


@pytest.mark.parametrize("wakeups, window, expected", [
    # A sched_waking in the window wins over the sched_wakeup after it.
    ([(4, 0, 2, 3, 1, WAKING_), (5, 1, 2, 3, 2, 1)], (3, 6), (4, 3, 1)),
    # A sched_wakeup alone in the window: the sched_waking just before it, before the window.
    ([(1, 0, 2, 3, 1, WAKING_), (5, 1, 2, 3, 0, 1)], (3, 6), (1, 3, 1)),
    # ... not when another sched_wakeup came between them: that waking was the other's.
    ([(1, 0, 2, 3, 1, WAKING_), (2, 1, 2, 3, 0, 1), (5, 2, 2, 4, 2, 1)], (3, 6), (5, 4, 2)),
    # ... not another thread's sched_waking.
    ([(1, 0, 9, 3, 1, WAKING_), (5, 1, 2, 4, 2, 1)], (3, 6), (5, 4, 2)),
    # ... not for a sched_wakeup_new (a new task has no sched_waking).
    ([(1, 0, 2, 3, 1, WAKING_), (5, 1, 2, 4, 2, 2)], (3, 6), (5, 4, 2)),
    # Nothing in the window: nothing, whatever came before.
    ([(1, 0, 2, 3, 1, WAKING_)], (3, 6), None),
])
def test_the_waking_of_a_wakeup_is_in_the_window_or_just_before_it(wakeups, window, expected):
    log = _stack_log([], wakeups)
    one = log.wakeup(2, *window)
    assert (None if one is None else (one[0], one[1], log.chains.index(one[2]))) == expected
    (row,) = log.wakeups_of([2], [window[0]], [window[1]]).tolist()
    found = log.wakeups[row] if row >= 0 else None
    assert (None if found is None else (found[0], found[3], found[4])) == expected


def _random_scenario(rng, folder: Path) -> tuple[list[int], int]:
    """Two to four threads that block, are woken by one another or by an interrupt
    (its stack the CPU's), with stacks recorded before each sleep and wakeup, times
    that may be equal; some woken early (the waking while they still run, the
    sched_wakeup after their switch-out), some remotely (the sched_wakeup later, on
    another CPU); written to ``folder``/trace.  The threads' tids and the end."""
    n = rng.randint(2, 4)
    s = Scenario(cpus=n + 1, kernel_context=CALLSTACKS)
    threads = [s.thread(tid=101 + i, pid=100, comm=f"t{i}") for i in range(n)]
    for i, t in enumerate(threads):
        s.run(cpu=i, thread=t, at=0)
    running = [True] * n

    def waker_stack(j: int, at: int) -> int:
        s.stack(threads[j], at=at, kernel=(0xFFFFFFFF81000100 + 16 * rng.randrange(4),),
                user=(0x402000,))
        return at + 1
    at = 1_000
    for _ in range(rng.randint(1, 12)):
        at += rng.choice([0, 1, 1_000, 5_000])
        i = rng.randrange(n)
        awake = [j for j in range(n) if running[j] and j != i]
        if running[i]:
            s.stack(threads[i], at=at, kernel=(0xFFFFFFFF81000000 + 16 * rng.randrange(4),),
                    user=(0x401000 + 16 * rng.randrange(4),))
            at += 1
            if awake and rng.random() < 0.3:          # woken before its switch-out
                j = rng.choice(awake)
                waking = at = waker_stack(j, at)
                at += rng.choice([1, 5])
                s.block(threads[i], at=at, state="S")
                at += rng.choice([1, 10, 100])
                s.wakeup(threads[i], by=threads[j], at=waking, running=True, wakeup_at=at,
                         wakeup_cpu=n)
                at += rng.choice([1, 100])
                s.run(cpu=i, thread=threads[i], at=at)
                continue
            s.block(threads[i], at=at, state="S")
            running[i] = False
            continue
        at += 1
        if rng.random() < 0.3 or not awake:
            irq = s.irq(n, 5, "eth0", at=at, until=at + 10)
            s.wakeup(threads[i], by=irq, at=at + 5, target_cpu=i)
            at += 20
        else:
            j = rng.choice(awake)
            at = waker_stack(j, at)
            remote = rng.random() < 0.5               # the sched_wakeup later, elsewhere
            s.wakeup(threads[i], by=threads[j], at=at, target_cpu=i,
                     **({"wakeup_at": at + rng.choice([1, 50]), "wakeup_cpu": n}
                        if remote else {}))
            at += 50 if remote else 0
        at += rng.choice([1, 100])
        s.run(cpu=i, thread=threads[i], at=at)
        running[i] = True
    s.write(folder / "trace")
    return [t.tid for t in threads], at + 100


@given(st.integers(0, 2 ** 32 - 1))
@settings(max_examples=60, deadline=None)
def test_stacks_attributed_together_are_the_references_one_by_one(seed):
    """Over random scenarios (threads woken by one another and by interrupts, windows
    of every thread and of none, equal times): each interval's stacks from
    ``attribute_many`` (the C walk, the log searched for all at once, read alone,
    together and as the text reads them) are ``attribute``'s over the Python model."""
    import random
    import tempfile

    import numpy as np
    from corr.analyses.stacks import IntervalStackMap, attribute, attribute_many
    from corr.analyses.symbols import Symbolizer
    from corr.render.folded import code_frame_lines
    from corr.engine.runner import Engine
    from corr.sched.model import SchedModel
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        tids, _ = _random_scenario(rng, folder)
        engine = Engine(open_traces([folder / "trace"]), load_rules(_rules(folder)),
                        scheduling=True).run()
        log = engine.stack_log
        symbols = Symbolizer([folder / "trace"])
        # Each process's copy of a frame with a line of its own (two builds of a file):
        # which one the flame graph keeps depends on the order the stacks are read in.
        symbols.user_lines = lambda chain, tid: tuple(f"build-of-{tid}.c:{n + 1}"
                                                      for n in range(len(chain.user)))
        base = log.switches[0][0]
        windows = [(rng.choice(tids + [999]), base + a,
                    base + a + rng.choice([0, 1, 500, 20_000, 100_000]))
                   for a in (rng.choice([0, 999, 1_000, 1_001, 5_000, 20_000])
                             for _ in range(12))]
        models = {native: SchedModel(engine.sched_log, engine.begin_ns, engine.end_ns,
                                     names=engine.thread_names.name_at, native=native)
                  for native in (False, True)}
        reference = [attribute(models[False], log, symbols, *w) for w in windows]
        table = attribute_many(models[True], log, symbols,
                               *(np.asarray(c) for c in zip(*windows)), engine.thread_names)
        # The blamed threads' own waits only (the walk following no waker): each
        # interval's own waker, as the whole paths' table gives it.
        own_table = attribute_many(models[True], log, symbols,
                                   *(np.asarray(c) for c in zip(*windows)),
                                   engine.thread_names, own_only=True)
        assert list(table.rows()) == reference
        for k, want in enumerate(reference):
            assert table.row(k) == want
            own = want.own_waker()
            assert table.row(k, own_only=True).wakers == ((own,) if own else ())
            assert own_table.row(k, own_only=True) == table.row(k, own_only=True)
            for own_only in (False, True):
                for shared in (False, True):
                    assert table.dict_of(k, own_only, shared) == want.to_dict(own_only)
                assert own_table.dict_of(k, True, own_only) == want.to_dict(True)
        # The whole paths attributed later, from the own table's switch-outs and
        # off-CPU times, the log's switch-outs let go: the same table.
        log.forget_switches()
        with pytest.raises(RuntimeError, match="let go"):
            log.switch_table()
        again = attribute_many(models[True], log, symbols,
                               *(np.asarray(c) for c in zip(*windows)), engine.thread_names,
                               own=own_table)
        assert list(again.rows()) == reference
        made = []
        mapped = IntervalStackMap(list(range(len(windows))), own_table,
                                  lambda: made.append(1) or table)
        assert [mapped.own(k) for k in range(len(windows))] == \
            [table.row(k, own_only=True) for k in range(len(windows))]
        assert not made                   # the whole paths not attributed for the own
        assert code_frame_lines(mapped) == code_frame_lines(reference)
        assert made == [1] and list(mapped.values()) == reference
