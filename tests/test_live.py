"""Live sessions with real daemons: ``corr run RULES net://...`` over lttng-relayd.

A relay daemon on 127.0.0.1 ports and a private lttng-sessiond (its own
LTTNG_HOME), both started and stopped (by pid) here; examples/live/requests
serves requests of which every 3rd is slow (300 ms, over the rule's 100 ms)
and every 7th never ends (a timeout at 1 s).  While it runs, corr prints the
slow intervals and the timeouts, each timeout within a second of its
deadline by the wall clock; after ``lttng destroy`` the summary equals
``corr run`` over the relay daemon's copy of the session.  Needs root and
lttng-tools: run in CI (CI=true), where a daemon that cannot start fails the test.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from corr.record.session import _stop, descendants

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = os.path.join(ROOT, "rules", "requests.yaml")
APP_DIR = os.path.join(ROOT, "examples", "live")
# 20 requests 200 ms apart: 3, 6, ... 18 slow (300 ms); 7 and 14 never end, and requests
# after them pass their deadlines (so the recorded trace calls them timeouts too).
REQUESTS = ["20", "200", "3", "300", "7"]
LOST = {7, 14}
SLOW = {3, 6, 9, 12, 15, 18}

pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and (os.geteuid() != 0 or not shutil.which("lttng-relayd")),
    reason="live sessions need root and lttng-tools (CI runs them)")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Daemons:
    """A relay daemon and a session daemon of the test's own, and its sessions."""

    def __init__(self, work: str):
        self.work = work
        self.env = {**os.environ, "LTTNG_HOME": os.path.join(work, "home")}
        os.makedirs(self.env["LTTNG_HOME"])
        self.output = os.path.join(work, "relay")
        self.control, self.data, self.live = _free_ports(3)
        self.relayd = self.sessiond = None
        self.family: set[int] = set()

    def start(self) -> None:
        if subprocess.run(["pgrep", "-x", "lttng-sessiond"], capture_output=True).returncode == 0:
            pytest.fail("an lttng-sessiond is already running: as root it owns /var/run/lttng, "
                        "so this test cannot start its own")
        log = open(os.path.join(self.work, "relayd.log"), "wb")
        self.relayd = subprocess.Popen(
            ["lttng-relayd", "-C", f"tcp://127.0.0.1:{self.control}",
             "-D", f"tcp://127.0.0.1:{self.data}", "-L", f"tcp://127.0.0.1:{self.live}",
             "-o", self.output], env=self.env, stdout=log, stderr=log, start_new_session=True)
        log = open(os.path.join(self.work, "sessiond.log"), "wb")
        self.sessiond = subprocess.Popen(["lttng-sessiond", "--no-kernel"], env=self.env,
                                         stdout=log, stderr=log, start_new_session=True)
        for _ in range(150):
            if subprocess.run(["lttng", "list"], env=self.env, capture_output=True).returncode == 0:
                break
            if self.sessiond.poll() is not None or self.relayd.poll() is not None:
                break
            time.sleep(0.1)
        else:
            pytest.fail("lttng-sessiond did not answer")
        if self.sessiond.poll() is not None or self.relayd.poll() is not None:
            pytest.fail("a daemon exited: " + open(log.name, errors="replace").read()[-500:])

    def lttng(self, *args: str) -> None:
        proc = subprocess.run(["lttng", *args], env=self.env, capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"lttng {' '.join(args)}: {proc.stderr or proc.stdout}")

    def session(self, name: str) -> str:
        """Create and start a live session of the example's events: its URL."""
        self.lttng("create", name, "--live=100000",
                   f"--set-url=net://127.0.0.1:{self.control}:{self.data}")
        self.lttng("enable-event", "-u", "-s", name, "requests:*")
        self.lttng("add-context", "-u", "-s", name, "-t", "vtid", "-t", "vpid", "-t", "procname")
        self.lttng("start", name)
        return f"net://127.0.0.1:{self.live}/host/{socket.gethostname()}/{name}"

    def copy_of(self, name: str) -> str:
        """The relay daemon's on-disk copy of a session."""
        found = glob.glob(os.path.join(self.output, "*", f"{name}-*"))
        assert len(found) == 1, found
        return found[0]

    def stop(self) -> None:
        if self.sessiond is not None:
            self.family |= set(descendants(self.sessiond.pid))
        _stop(self.sessiond, signal.SIGTERM, self.family)
        _stop(self.relayd, signal.SIGTERM)


@pytest.fixture
def daemons(tmp_path):
    d = Daemons(str(tmp_path))
    try:
        d.start()
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def app():
    subprocess.run(["make", "-s", "-C", APP_DIR], check=True)
    return os.path.join(APP_DIR, "requests")


class Lines:
    """A process's stdout lines, each with the wall time it arrived."""

    def __init__(self, proc):
        self.got: list[tuple[float, str]] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc) -> None:
        for line in proc.stdout:
            self.got.append((time.time(), line))


def _corr(*args: str, **more_env: str):
    env = {**os.environ, "CORR_NO_CACHE": "1", **more_env}
    return subprocess.Popen([sys.executable, "-m", "corr", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_attached(daemons: Daemons, proc) -> None:
    """Until corr's reader is connected to the relay daemon's live port."""
    _wait_connected(daemons, lambda: proc.poll() is None, lambda: proc.stderr.read())


def _wait_connected(daemons: Daemons, alive, why) -> None:
    for _ in range(200):
        out = subprocess.run(["ss", "-tnH", "state", "established",
                              f"( dport = :{daemons.live} )"], capture_output=True, text=True)
        if out.stdout.strip():
            return
        if not alive():
            pytest.fail("corr's reader ended: " + why())
        time.sleep(0.05)
    pytest.fail("corr never connected to the relay daemon")


def _offline(path: str) -> list[dict]:
    env = {**os.environ, "CORR_NO_CACHE": "1"}
    out = subprocess.run([sys.executable, "-m", "corr", "run", RULES, path, "--format", "jsonl"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_intervals_and_timeouts_as_they_happen_then_the_offline_summary(daemons, app):
    url = daemons.session("live-test")
    corr = _corr("run", RULES, url, "--format", "jsonl")
    lines = Lines(corr)
    _wait_attached(daemons, corr)
    served = subprocess.run([app, *REQUESTS], env=daemons.env, capture_output=True, text=True)
    assert served.returncode == 0, served.stderr
    during = list(lines.got)             # what corr printed while the program ran
    daemons.lttng("destroy", "live-test")
    corr.wait(60)
    lines.thread.join(10)
    assert corr.returncode == 0, corr.stderr.read()

    records = [(at, json.loads(line)) for at, line in lines.got]
    live = [r for _, r in records if r.get("live")]
    summary = [r for _, r in records if not r.get("live")]
    # Slow intervals and timeouts came while the program ran.
    during_live = [json.loads(line) for _, line in during]
    assert {r["key"] for r in during_live if r["status"] == "complete"} >= {3, 6, 9, 12}
    assert {r["key"] for r in during_live if r["status"] == "timeout"} >= {7, 14}
    # Each slow interval once, each lost request's timeout once, in decision order.
    assert sorted(r["key"] for r in live if r["status"] == "complete") == sorted(SLOW)
    assert sorted(r["key"] for r in live if r["status"] == "timeout") == sorted(LOST)
    ends = [r["end_ns"] for r in live]
    assert ends == sorted(ends)
    # A timeout within its timeout plus one second of wall time.
    for at, r in records:
        if r.get("live") and r["status"] == "timeout":
            assert r["duration_ns"] == 1_000_000_000
            assert at - r["end_ns"] / 1e9 <= 1.0, (r["key"], at - r["end_ns"] / 1e9)
    # The summary is the offline run's over the relay daemon's copy.
    assert summary == _offline(daemons.copy_of("live-test"))
    assert {r["key"] for r in summary if r["status"] == "complete"} == SLOW


def test_ctrl_c_prints_the_summary_so_far(daemons, app):
    url = daemons.session("live-int")
    # The watchdog's limit far under the quiet spell below: a quiet session is not a stall.
    corr = _corr("run", RULES, url, CORR_DECODE_STALL_S="0.3")
    lines = Lines(corr)
    _wait_attached(daemons, corr)
    served = subprocess.run([app, "6", "200", "3", "300", "0"], env=daemons.env,
                            capture_output=True, text=True)
    assert served.returncode == 0, served.stderr
    time.sleep(1.5)                      # the session stays quiet
    assert corr.poll() is None, corr.stderr.read()
    corr.send_signal(signal.SIGINT)
    corr.wait(60)
    lines.thread.join(10)
    err = corr.stderr.read()
    assert corr.returncode == 0, err
    text = "".join(line for _, line in lines.got)
    assert f"warning: {url}: interrupted (Ctrl-C): the results cover the session until then" in text
    assert "entries 6 = complete 6 + late 0 + timeouts 0 + incomplete 0 + dropped 0" in text
    daemons.lttng("destroy", "live-int")


def test_the_library_streams_a_live_session(daemons, app):
    import corr
    url = daemons.session("live-lib")
    got, failed = [], []

    def consume():                      # corr.stream waits for the session's first stream
        try:
            with corr.stream(RULES, url, cache=False, timeouts=True) as intervals:
                got.extend((i.rule, i.status, i.key) for i in intervals)
        except BaseException as exc:    # noqa: BLE001 (reported by the test)
            failed.append(exc)

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    _wait_connected(daemons, reader.is_alive, lambda: repr(failed))
    served = subprocess.run([app, "9", "100", "4", "300", "9"], env=daemons.env,
                            capture_output=True, text=True)
    assert served.returncode == 0, served.stderr
    daemons.lttng("destroy", "live-lib")
    reader.join(60)
    assert not failed and not reader.is_alive()
    # 4 and 8 slow; 9 never ends, the last event: incomplete, 0 ns long (under the
    # threshold), and the session is destroyed before its deadline.
    assert got == [("request", "complete", 4), ("request", "complete", 8)]
    offline = corr.run(RULES, daemons.copy_of("live-lib"), cache=False)
    assert sorted((i.key, i.status) for i in offline.interval_objects("request")) == \
        [(4, "complete"), (8, "complete")]
    assert [(i.key, i.status) for i in offline.interval_objects("request", all_intervals=True)
            if i.status != "complete"] == [(9, "incomplete")]


def test_a_late_reader_misses_the_first_events(daemons, app):
    url = daemons.session("live-late")
    # The program records for a while before corr attaches: babeltrace2 starts at each
    # stream's last packet (a packet every 100 ms: the live timer's), so the first
    # requests are missed (docs/live.md: why corr cannot say so yet).
    served = subprocess.Popen([app, "30", "100", "0", "0", "0"], env=daemons.env,
                              stdout=subprocess.DEVNULL, stdin=subprocess.PIPE)
    try:
        time.sleep(1.5)
        corr = _corr("run", RULES, url)
        lines = Lines(corr)
        _wait_attached(daemons, corr)
        assert served.wait(60) == 0
    finally:
        served.kill()
        served.wait()
    daemons.lttng("destroy", "live-late")
    corr.wait(60)
    lines.thread.join(10)
    assert corr.returncode == 0, corr.stderr.read()
    text = "".join(line for _, line in lines.got)
    entries = int(text.split("entries ")[1].split()[0])
    assert entries < 30                 # the first requests were missed indeed


def test_inspect_reads_a_live_session(daemons, app):
    url = daemons.session("live-inspect")
    inspect = _corr("inspect", url)
    lines = Lines(inspect)
    _wait_attached(daemons, inspect)
    served = subprocess.run([app, "5", "50", "0", "0", "0"], env=daemons.env,
                            capture_output=True, text=True)
    assert served.returncode == 0, served.stderr
    daemons.lttng("destroy", "live-inspect")
    inspect.wait(60)
    lines.thread.join(10)
    assert inspect.returncode == 0, inspect.stderr.read()
    text = "".join(line for _, line in lines.got)
    assert "dialect    lttng-ust" in text
    counts = {line.split()[2]: int(line.split()[0]) for line in text.splitlines()
              if line.strip().endswith("ctx.procname") and "requests:" in line}
    assert counts == {"requests:begin": 5, "requests:end": 5}


def test_a_session_that_does_not_exist_is_one_corr_line(daemons):
    url = f"net://127.0.0.1:{daemons.live}/host/{socket.gethostname()}/no-such-session"
    proc = subprocess.run([sys.executable, "-m", "corr", "run", RULES, url], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"corr: {url}: the relay daemon has no live session 'no-such-session' of host "
        f"'{socket.gethostname()}' (a session created with lttng create --live, sending to "
        f"this relay daemon)")


def test_a_relay_daemon_that_is_not_there_is_one_corr_line():
    with socket.socket() as s:           # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"net://127.0.0.1:{port}/host/h/s"
    proc = subprocess.run([sys.executable, "-m", "corr", "run", RULES, url], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"corr: {url}: cannot read the live session: Connection "
                                   f"failed: Connection refused")


def test_a_bad_url_is_one_corr_line():
    proc = subprocess.run([sys.executable, "-m", "corr", "run", RULES, "net://localhost/nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("corr: net://localhost/nope: not a live session URL: expected "
                                   "net://HOST[:PORT]/host/HOSTNAME/SESSION (lttng list --host, "
                                   "or lttng-relayd's -L)")
