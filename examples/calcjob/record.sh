#!/usr/bin/env bash
# record.sh OUTDIR [calcjob args...]
#
# Build calcjob if needed, then record one run of it (examples/record-ust.sh)
# as the calcjob lesson (shared/seeds/003_*) records it: the kernel's
# scheduling and system calls (perf, on CLOCK_MONOTONIC: sched_switch,
# sched_waking, sched_wakeup, ..., raw_syscalls of the program's threads)
# and the program's own tracepoints (LTTng-UST my_namespace:* and calcjob:*,
# with the vtid and procname contexts).  The program runs in a scratch
# folder on disk, so that its fdatasync() waits for the disk.
#
# Writes OUTDIR/ust/, OUTDIR/kernel/ and OUTDIR/recording.txt (with the
# program's "calcjob: section ..." lines).  Needs root, lttng-tools, perf,
# babeltrace2, gcc and liblttng-ust-dev.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../record-common.sh
. "$here/../record-common.sh"
# shellcheck source=../record-ust.sh
. "$here/../record-ust.sh"

UST_NAME=calcjob
UST_EXAMPLE="/tmp/cj --rounds 20"
UST_EVENTS=('my_namespace:*' 'calcjob:*')
UST_CONTEXTS=(vtid procname)
UST_COMMS=(calcjob manager worker-0 worker-1 worker-2 worker-3 worker-4 worker-5 worker-6 worker-7)
UST_ARGS=()
record_ust "$@"
