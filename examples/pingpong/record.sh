#!/usr/bin/env bash
# record.sh OUTDIR [pingpong args...]
#
# Build pingpong if needed, then record one run of it with perf, system-wide,
# on CLOCK_MONOTONIC: sched_switch / waking / wakeup / wakeup_new /
# process_fork / process_exit (what `perf sched timehist` reads: it needs
# sched_switch, and takes wakeup times from sched_waking when recorded, else
# from sched_wakeup, plus sched_wakeup_new), and the interrupt contexts
# (irq handlers, softirqs, hrtimer callbacks), so that a wakeup from a timer
# is not blamed on the thread the interrupt happened to interrupt.
#
# Writes OUTDIR/perf.data (kept, for perf's own tools), OUTDIR/kernel/ (the
# same events converted to CTF) and OUTDIR/recording.txt (command, versions,
# pingpong's output line "pingpong: pid P ping T1 pong T2 ...").
#
# Needs root (system-wide tracepoints; tracefs is mounted if it is not), perf
# built with CTF conversion, and gcc. Exits non-zero with a message on
# failure, removing what it wrote, and never leaves perf running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../record-common.sh
. "$here/../record-common.sh"

record_example pingpong "/tmp/pp --rounds 2000 --sleep-every 50 --sleep-us 1000" \
    "${SCHED_EVENTS[@]}" \
    -e irq:irq_handler_entry -e irq:irq_handler_exit -e irq:softirq_entry -e irq:softirq_exit \
    -e timer:hrtimer_expire_entry -e timer:hrtimer_expire_exit \
    -- "$@"
