"""rules/llserver.yaml finds the backlog spikes the example was recorded with.

The recording's program printed when it caused each spike (recording.txt):
three lock, three slow-I/O and three CPU-hog spikes of ~30 ms.  corr must
find exactly one backlog episode per spike, put every slow queue delay
inside a spike, and see the consumer's long lock waits in the lock spikes.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import EXAMPLE_TRACE, ROOT, run_corr

RULES = ROOT / "rules" / "llserver.yaml"
# A spike backs the queue up; it drains within ~60 ms of the spike's end.
DRAIN_NS = 60_000_000


def _spikes():
    """(cause, begin ns, end ns) on the UST trace's time base."""
    text = (EXAMPLE_TRACE / "recording.txt").read_text()
    t0 = int(re.search(r"t0_monotonic_ns=(\d+)", text).group(1))
    info = json.loads(run_corr("inspect", "--json", EXAMPLE_TRACE).stdout)
    ust = next(t for t in info["traces"] if t["domain"] == "ust")
    base = t0 + ust["clock_offset_ns"]
    out = []
    for cause in ("lock", "io", "hog"):
        line = re.search(rf"{cause}\s+spikes: (.*) \(ms\)", text).group(1)
        for b, e in re.findall(r"\+([\d.]+)\.\.\+([\d.]+)", line):
            out.append((cause, base + int(float(b) * 1e6), base + int(float(e) * 1e6)))
    assert len(out) == 9
    return sorted(out, key=lambda s: s[1])


@pytest.fixture(scope="module")
def result():
    proc = run_corr("run", "--format", "json", "--all-intervals", RULES, EXAMPLE_TRACE)
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)["rules"]}


def _spike_of(ts, spikes):
    for cause, begin, end in spikes:
        if begin <= ts <= end + DRAIN_NS:
            return cause, begin
    return None


def test_one_backlog_episode_per_spike(result):
    spikes = _spikes()
    backlog = result["backlog"]
    assert backlog["stats"]["count"] == 9
    assert backlog["outcomes"]["complete"] == 9
    found = [_spike_of(iv["start_ns"], spikes) for iv in backlog["intervals"]]
    assert None not in found
    assert sorted(found, key=lambda s: s[1]) == [(c, b) for c, b, _ in spikes]


def test_slow_queue_delays_fall_in_spikes(result):
    spikes = _spikes()
    queue = result["queue_delay"]
    assert queue["stats"]["count"] == 901 and queue["outcomes"]["entries"] == 901
    slow = [iv for iv in queue["intervals"] if iv["duration_ns"] > queue["threshold_ns"]]
    assert len(slow) == queue["stats"]["over_threshold"] >= 9 * 10
    causes = {_spike_of(iv["start_ns"], spikes) for iv in slow}
    assert None not in causes
    assert {c for c, _ in causes} == {"lock", "io", "hog"}
    # Cross-thread: enqueued by the producer, dequeued by the consumer.
    assert {iv["comm"] for iv in slow} == {"producer"}
    assert {iv["exit_comm"] for iv in slow} == {"consumer"}


def test_long_lock_waits_are_the_lock_spikes(result):
    spikes = _spikes()
    waits = [iv for iv in result["lock_wait"]["intervals"] if iv["duration_ns"] > 1_000_000]
    assert len(waits) == 3
    assert [_spike_of(iv["end_ns"], spikes)[0] for iv in waits] == ["lock"] * 3
    assert {iv["comm"] for iv in waits} == {"consumer"}
    groups = {g["key"]: g["stats"]["count"] for g in result["lock_wait"]["groups"]}
    assert groups == {"log_mutex": 1043}
