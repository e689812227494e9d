#!/usr/bin/env bash
# record.sh OUTDIR [timersleep args...]
#
# Build timersleep if needed, then record one run of it with perf,
# system-wide, on CLOCK_MONOTONIC: sched_switch / waking / wakeup /
# wakeup_new / process_fork / process_exit, and no interrupt events, as
# users record: only the tracepoints' common_flags tell that the sleeper's
# wakeups ran in the hrtimer interrupt, not in the busy process they
# interrupted.
#
# Writes OUTDIR/perf.data, OUTDIR/kernel/ (CTF) and OUTDIR/recording.txt
# (with timersleep's line "timersleep: pid P sleeper T busy B sleeps N").
#
# Needs root (system-wide tracepoints; tracefs is mounted if it is not), perf
# built with CTF conversion, and gcc. Exits non-zero with a message on
# failure, removing what it wrote, and never leaves perf running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../record-common.sh
. "$here/../record-common.sh"

record_example timersleep "/tmp/ts --sleeps 300 --sleep-us 2000 --cpu 0" "${SCHED_EVENTS[@]}" -- "$@"
