#!/usr/bin/env bash
# record.sh OUTDIR [workers args...]
#
# Build workers if needed, then record one run of it with perf, system-wide,
# on CLOCK_MONOTONIC: scheduling (sched_switch / waking / wakeup /
# wakeup_new / process_fork / process_exit) and the system calls of the
# program's threads (raw_syscalls, filtered on their names: a system-wide
# record is flooded by perf's own writes), and no interrupt events, as users
# record.  The program runs in a scratch folder under /var/tmp, so that its
# fdatasync() waits for a disk.
#
# Writes OUTDIR/perf.data, OUTDIR/kernel/ (CTF) and OUTDIR/recording.txt
# (with workers' lines "workers: manager T", "workers: worker W tid T
# wrote K" and "workers: pid P rounds R writes R").
#
# Needs root (system-wide tracepoints; tracefs is mounted if it is not), perf
# built with CTF conversion, and gcc. Exits non-zero with a message on
# failure, removing what it wrote, and never leaves perf running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../record-common.sh
. "$here/../record-common.sh"

threads='comm == "workers" || comm == "manager" || comm ~ "worker-*"'
record_example workers "/tmp/wk --workers 3 --rounds 30" \
    "${SCHED_EVENTS[@]}" \
    -e raw_syscalls:sys_enter --filter "$threads" -e raw_syscalls:sys_exit --filter "$threads" \
    -- "$@"
