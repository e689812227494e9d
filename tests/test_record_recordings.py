"""``corr record`` end to end: real recordings (root, perf, lttng), the rules run on
them, and what is left behind (nothing but the trace).

- ``rules/offcpu.yaml`` over ``examples/pingpong``: pong sleeps in nanosleep
  every k rounds (pingpong prints how many times); each of those sleeps is an
  off-CPU interval over 1 ms woken by a timer (the hrtimer events the plan
  records for blame), every other one is woken by ping: the count blocked by
  the timer equals pingpong's, however busy the host.
- ``rules/llserver.yaml`` over ``examples/llserver``: the UST half holds
  every event with the vtid/vpid/procname contexts of the threads llserver
  names (tests/test_recording.py's checks), every packet is one queue_delay
  and one processing interval, every backlog_trigger a backlog episode,
  and each lock spike one slow lock_wait of the consumer blocked by the logger.
- A failing command, Ctrl-C (the recording kept) and SIGTERM (removed):
  no perf, lttng-sessiond or
  lttng-consumerd of the recording survives it, nor its scratch folder.
- ``--print``'s commands, run by bash, give a trace with the same event
  classes and contexts as ``corr record``'s.

A recording made while the host is busy may fall short of an exact count
(lost events, a thread preempted long enough to make one more slow
interval): it is made again, up to three times, and the last one is checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import lttng_daemons, run_corr
from test_recording import CORE_EVENTS, UST_SUBDIR, _check_ust, _workload_ids

pytestmark = pytest.mark.recording

ROOT = Path(__file__).resolve().parents[1]
CORR = Path(os.sys.executable).parent / "corr"
OFFCPU = ROOT / "rules" / "offcpu.yaml"
LLSERVER_RULES = ROOT / "rules" / "llserver.yaml"
PINGPONG = ROOT / "examples" / "pingpong" / "pingpong"
LLSERVER = ROOT / "examples" / "llserver" / "llserver"
ATTEMPTS = 3


@pytest.fixture(scope="module", autouse=True)
def tools():
    if os.geteuid() != 0:
        pytest.skip("recording system-wide kernel tracepoints needs root")
    missing = [t for t in ("lttng", "lttng-sessiond", "perf", "babeltrace2")
               if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    if lttng_daemons():
        pytest.skip("an lttng-sessiond already runs (as root it owns /var/run/lttng)")
    for example in (PINGPONG, LLSERVER):
        subprocess.run(["make", "-s", "-C", str(example.parent)], check=True,
                       capture_output=True)


def _ours(scratch: Path) -> list[str]:
    """Processes whose command line or working folder is in ``scratch`` (perf
    records into it, the session daemon's LTTNG_HOME is in it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(scratch) in cmdline or f"LTTNG_HOME={scratch}" in environ:
            found.append(f"{entry.name}: {cmdline}")
    return found


def _env(tmp_path: Path) -> dict:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(scratch), "CORR_SERVER": "off"}


def _left_behind(tmp_path: Path, before: dict) -> None:
    scratch = tmp_path / "scratch"
    assert _ours(scratch) == [], "processes of the recording still run"
    assert set(lttng_daemons()) <= set(before), f"lttng daemons left: {lttng_daemons()}"
    assert list(scratch.iterdir()) == [], "scratch files left"


def record(tmp_path: Path, rules: Path, *args, name="rec") -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / name
    before = lttng_daemons()
    proc = subprocess.run([str(CORR), "record", str(rules), "-o", str(out), *map(str, args)],
                          capture_output=True, text=True, errors="replace", timeout=300,
                          env=_env(tmp_path))
    _left_behind(tmp_path, before)
    return proc, out


def run_json(rules: Path, trace: Path) -> dict:
    proc = run_corr("run", rules, trace, "--format", "json", "--all-intervals")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def rule(result: dict, name: str) -> dict:
    return next(r for r in result["rules"] if r["name"] == name)


# -- offcpu over pingpong ----------------------------------------------------------------

def _pingpong_check(tmp_path: Path, attempt: int) -> str | None:
    """One recording; None when it shows what it must, else why not."""
    proc, out = record(tmp_path, OFFCPU, "--", PINGPONG, "--rounds", 600, "--sleep-every", 20,
                       "--sleep-us", 1000, name=f"pp{attempt}")
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"^pingpong: pid (\d+) ping (\d+) pong (\d+) spin -1 rounds 600 sleeps (\d+)$",
                  proc.stdout, re.M)
    assert m, proc.stdout
    ping, pong, sleeps = int(m.group(2)), int(m.group(3)), int(m.group(4))
    assert sleeps == 30
    # What corr record printed: the command, then corr run's text report of it.
    lines = proc.stdout.splitlines()
    at = lines.index(f"corr run {OFFCPU} {out}")
    assert lines[at + 2].startswith("rule offcpu"), lines[at:at + 3]
    assert sorted(p.name for p in out.iterdir()) == ["kernel"]
    assert (out / "kernel" / "metadata").is_file()
    offcpu = rule(run_json(OFFCPU, out), "offcpu")
    slow = [i for i in offcpu["intervals"] if i["duration_ns"] >= offcpu["threshold_ns"]]
    by_timer = [i for i in slow if i["tid"] == pong
                and any(b["kind"] == "blocked" and b.get("by") == "timer" for b in i["breakdown"])]
    # Every slow sleep of ping is a wait for pong's answer.
    ping_blockers = {b.get("tid") for i in slow if i["tid"] == ping
                     for b in i["breakdown"] if b["kind"] == "blocked"}
    if len(by_timer) != sleeps or ping_blockers != {pong}:
        return (f"{len(by_timer)} of pong's off-CPU intervals blocked by a timer for {sleeps} "
                f"sleeps; ping blocked by {ping_blockers}; stderr: {proc.stderr}")
    return None


def until_it_holds(check, tmp_path: Path) -> None:
    """Record and check up to ATTEMPTS times (a busy host may fall short once); fail
    with the last attempt's reason."""
    for attempt in range(ATTEMPTS):
        why = check(tmp_path, attempt)
        if why is None:
            return
    pytest.fail(why)


def test_record_offcpu_over_pingpong(tmp_path):
    until_it_holds(_pingpong_check, tmp_path)


# -- llserver ----------------------------------------------------------------------------

def _llserver_check(tmp_path: Path, attempt: int) -> str | None:
    proc, out = record(tmp_path, LLSERVER_RULES, "--no-run", "--", LLSERVER, "--duration-ms", 800,
                       "--no-hog", name=f"ll{attempt}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == f"corr run {LLSERVER_RULES} {out}"
    assert sorted(p.name for p in out.iterdir()) == ["kernel", "ust"]
    summary = tmp_path / f"llserver{attempt}.txt"
    summary.write_text(proc.stdout)
    ids = _workload_ids(summary)
    names = _check_ust(out / UST_SUBDIR, ids)              # contexts, roles, vpid
    assert set(names) == set(CORE_EVENTS)                   # exactly the events the rules name
    counts = dict(re.findall(r"(produced|consumed|backlog_triggers)=(\d+)", proc.stdout))
    result = run_json(LLSERVER_RULES, out)
    assert result["warnings"] == [], result["warnings"]
    # Each packet's packet_received is recorded before the consumer can take it (inside
    # the queue's lock): none of its process_start events comes first.
    assert rule(result, "queue_delay")["outcomes"]["exits_without_entry"] == 0
    assert rule(result, "queue_delay")["outcomes"]["complete"] == int(counts["produced"])
    assert rule(result, "processing")["outcomes"]["complete"] == int(counts["consumed"])
    assert rule(result, "backlog")["outcomes"]["entries"] == int(counts["backlog_triggers"])
    spikes = re.search(r"^lock +spikes: (.*) \(ms\)$", proc.stdout, re.M)
    assert spikes, proc.stdout
    lock_spikes = len(spikes.group(1).split())
    waits = rule(result, "lock_wait")
    slow = [i for i in waits["intervals"] if i["duration_ns"] >= waits["threshold_ns"]]
    # Each lock spike: the consumer waits for the logger, who holds the lock.
    blamed = [i for i in slow if i["tid"] == ids["consumer"]
              and max(i["breakdown"], key=lambda b: b["ns"]).get("tid") == ids["logger"]]
    if len(slow) != lock_spikes or len(blamed) != lock_spikes:
        return (f"{len(slow)} slow lock waits, {len(blamed)} blamed on the logger, for "
                f"{lock_spikes} lock spikes; stderr: {proc.stderr}")
    return None


def test_record_llserver(tmp_path):
    until_it_holds(_llserver_check, tmp_path)


# -- nothing outlives it ------------------------------------------------------------------

def test_a_failing_command_keeps_its_recording_and_leaves_nothing(tmp_path):
    proc, out = record(tmp_path, LLSERVER_RULES, "--no-run", "--", "sh", "-c",
                       f"{LLSERVER} --duration-ms 200 --quiet; exit 3")
    assert proc.returncode == 3, proc.stderr
    assert "exited with status 3; its recording is kept" in proc.stderr
    assert (out / "kernel" / "metadata").is_file() and (out / UST_SUBDIR / "metadata").is_file()


def _started(tmp_path: Path, proc: subprocess.Popen) -> bool:
    """perf runs and the command (sleep) was started: the recording is under way."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        ours = _ours(tmp_path / "scratch")
        if any("perf record" in p for p in ours) and any(
                "sleep 600" in p for p in _children(proc.pid)):
            return True
        time.sleep(0.1)
    return False


def _children(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "args=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return out.splitlines()


def _record_sleep(tmp_path: Path, out: Path, sig: int) -> tuple[subprocess.Popen, str, str]:
    """``corr record -- sleep 600`` sent ``sig`` once it records."""
    proc = subprocess.Popen([str(CORR), "record", str(LLSERVER_RULES), "-o", str(out),
                             "--no-run", "--", "sleep", "600"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
    try:
        assert _started(tmp_path, proc), proc.communicate(timeout=60)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, stdout, stderr


def test_sigterm_stops_the_recording_and_leaves_nothing(tmp_path):
    out = tmp_path / "rec"
    before = lttng_daemons()
    proc, _, stderr = _record_sleep(tmp_path, out, signal.SIGTERM)
    assert proc.returncode == 143, stderr
    assert stderr.splitlines()[-1] == ("corr: record: interrupted (SIGTERM): "
                                       "the recording was stopped and removed")
    assert not out.exists()
    assert not any("sleep 600" in p for p in _children(proc.pid))
    _left_behind(tmp_path, before)


def test_ctrl_c_stops_the_command_and_keeps_its_recording(tmp_path):
    out = tmp_path / "rec"
    before = lttng_daemons()
    proc, stdout, stderr = _record_sleep(tmp_path, out, signal.SIGINT)
    assert proc.returncode == 0, stderr
    assert "warning: interrupted (SIGINT): sleep 600 was stopped; its recording is kept" in stderr
    assert stdout == f"corr run {LLSERVER_RULES} {out}\n"
    assert "sched:sched_switch" in _metadata(out / "kernel")[0]
    assert not any("sleep 600" in p for p in _children(proc.pid))
    _left_behind(tmp_path, before)


# -- --print -----------------------------------------------------------------------------

def _metadata(path: Path) -> tuple[set[str], set[str]]:
    """Event class names and the vtid/vpid/procname contexts a trace declares
    (babeltrace2's own reading of its metadata)."""
    proc = subprocess.run(["babeltrace2", "-o", "ctf-metadata", str(path)], capture_output=True,
                          text=True, errors="replace", timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = set(re.findall(r"event \{[^}]*?\bname = \"([^\"]+)\";", proc.stdout))
    assert names, proc.stdout[:2000]
    contexts = set(re.findall(r"\b_(vtid|vpid|procname)\b", proc.stdout))
    return names, contexts


def test_the_printed_commands_record_the_same_trace(tmp_path):
    args = ["--", LLSERVER, "--duration-ms", 300, "--quiet"]
    proc, by_corr = record(tmp_path, LLSERVER_RULES, "--no-run", *args)
    assert proc.returncode == 0, proc.stderr
    by_hand = tmp_path / "by-hand"
    script = run_corr("record", LLSERVER_RULES, "--print", "-o", by_hand, *args)
    assert script.returncode == 0, script.stderr
    before = lttng_daemons()
    try:
        done = subprocess.run(["bash", "-c", script.stdout], capture_output=True, text=True,
                              errors="replace", timeout=300, cwd=tmp_path)
    finally:
        # The script starts a session daemon when none runs and leaves it (a
        # production machine keeps its own): this one is the test's to stop.
        started = set(lttng_daemons()) - set(before)
        for pid in started:
            os.kill(pid, signal.SIGTERM)
    assert done.returncode == 0, done.stderr
    assert not (by_hand / "perf.data").exists()
    for part in ("kernel", UST_SUBDIR):
        assert _metadata(by_hand / part) == _metadata(by_corr / part), part
    kernel, _ = _metadata(by_corr / "kernel")
    assert {"sched:sched_switch", "irq:softirq_entry", "timer:hrtimer_expire_entry"} <= kernel
    names, contexts = _metadata(by_corr / UST_SUBDIR)
    assert names == set(CORE_EVENTS) and contexts == {"vtid", "vpid", "procname"}


def test_record_mounts_tracefs_on_a_fresh_machine(tmp_path):
    """In a mount namespace without tracefs (tests/test_recording_fresh_machine.py's
    FRESH script checks it is gone, then that the recording mounted it)."""
    from test_recording_fresh_machine import FRESH
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    out = tmp_path / "rec"
    proc = subprocess.run(["unshare", "--mount", "sh", "-c", FRESH, "fresh", str(CORR), "record",
                           str(OFFCPU), "-o", str(out), "--no-run", "--", str(PINGPONG),
                           "--rounds", "200"], capture_output=True, text=True, errors="replace",
                          timeout=300, env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    names, _ = _metadata(out / "kernel")
    assert "sched:sched_switch" in names
    assert list((tmp_path / "scratch").iterdir()) == []


# -- without a command ---------------------------------------------------------------------

def test_system_wide_until_sigint_keeps_the_recording(tmp_path):
    out = tmp_path / "rec"
    before = lttng_daemons()
    proc = subprocess.Popen([str(CORR), "record", str(OFFCPU), "-o", str(out), "--system-wide",
                             "--no-run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(tmp_path))
    try:
        deadline = time.monotonic() + 60
        while not any("perf record" in p for p in _ours(tmp_path / "scratch")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert stdout == f"corr run {OFFCPU} {out}\n"
    assert "sched:sched_switch" in _metadata(out / "kernel")[0]
    _left_behind(tmp_path, before)


def test_pid_records_until_the_process_exits(tmp_path):
    sleeper = subprocess.Popen(["sleep", "2"])
    try:
        proc, out = record(tmp_path, OFFCPU, "--no-run", "-p", sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert proc.returncode == 0, proc.stderr
    # The recording saw the process exit (it ended because it did).
    text = subprocess.run(["babeltrace2", str(out / "kernel")], capture_output=True, text=True,
                          errors="replace", timeout=300).stdout
    assert re.search(rf"sched:sched_process_exit: .*\bpid = {sleeper.pid},", text), \
        "no exit of the process in the recording"


def test_the_library_records_from_another_thread(tmp_path, monkeypatch):
    """corr.api.record in a thread (no signal handler can be set there): the
    session daemon's readiness is asked with lttng instead of its SIGUSR1."""
    import tempfile
    import threading

    from corr import api
    before = lttng_daemons()
    monkeypatch.setenv("TMPDIR", _env(tmp_path)["TMPDIR"])
    monkeypatch.setattr(tempfile, "tempdir", None)            # TMPDIR read again
    made, out = {}, tmp_path / "rec"
    thread = threading.Thread(target=lambda: made.setdefault("rec", api.record(
        LLSERVER_RULES, out, [str(LLSERVER), "--duration-ms", "300", "--quiet"])))
    thread.start()
    thread.join(300)
    assert made["rec"].status == 0 and made["rec"].notes == []
    names, contexts = _metadata(out / UST_SUBDIR)
    assert names == set(CORE_EVENTS) and contexts == {"vtid", "vpid", "procname"}
    _left_behind(tmp_path, before)
