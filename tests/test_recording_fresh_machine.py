"""A recording on a fresh machine, whose tracefs is not mounted.

The record.sh scripts mount tracefs themselves when they run as root.  The
test unmounts tracefs and debugfs in a mount namespace of its own
(``unshare --mount``: the host's mounts are untouched), checks there that
the tracepoints are gone, records ``examples/pingpong`` there, and checks
that record.sh mounted tracefs and that the trace holds sched events.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import babeltrace2_counts, record_example

pytestmark = pytest.mark.recording

# sh -c FRESH fresh RECORD.SH ARGS...: unmount every tracefs and debugfs (the
# deepest first), fail unless the tracepoints are gone, record, fail unless
# the recording mounted tracefs.
FRESH = r"""
grep -E ' (tracefs|debugfs) ' /proc/self/mounts | cut -d' ' -f2 | sort -r |
    while read -r m; do umount "$m"; done
if grep -qE ' (tracefs|debugfs) ' /proc/self/mounts || [ -e /sys/kernel/tracing/events ] \
        || [ -e /sys/kernel/debug/tracing/events ]; then
    echo "tracefs is still mounted in the new namespace" >&2; exit 3
fi
"$@" || exit
grep -q ' tracefs ' /proc/self/mounts || { echo "the recording did not mount tracefs" >&2; exit 4; }
"""


def test_a_recording_mounts_tracefs_itself(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    out = tmp_path / "rec"
    text = record_example("pingpong", out, "--rounds", 200, "--ping-cpu", 0, "--pong-cpu", 0,
                          wrap=["unshare", "--mount", "sh", "-c", FRESH, "fresh"])
    assert "pingpong: pid" in text
    counts, rc = babeltrace2_counts(out / "kernel")
    assert rc == 0
    assert counts["sched:sched_switch"] >= 200 and counts["sched:sched_waking"] >= 200, counts
