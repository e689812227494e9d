#!/usr/bin/env bash
# record.sh OUTDIR [monkey args...]
#
# Build the monkey stand-in if needed, then record one run of it
# (examples/record-ust.sh): user space with LTTng-UST as Monkey's
# documentation (shared/seeds/002_*) enables it (every event of provider
# monkey) plus the vtid and procname contexts (the rules key connections by
# worker thread and fd); the kernel with perf (scheduling, system-wide, and
# the program's system calls) on CLOCK_MONOTONIC.
#
# Writes OUTDIR/ust/, OUTDIR/kernel/ and OUTDIR/recording.txt (with the
# program's "monkey: conn ..." lines, one per connection).  Needs root,
# lttng-tools, perf, babeltrace2, gcc and liblttng-ust-dev.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../record-common.sh
. "$here/../record-common.sh"
# shellcheck source=../record-ust.sh
. "$here/../record-ust.sh"

UST_NAME=monkey
UST_EXAMPLE="/tmp/mk --conns 12"
UST_EVENTS=('monkey:*')
UST_CONTEXTS=(vtid procname)
UST_COMMS=(monkey client "monkey: wrk/0" "monkey: wrk/1")
UST_ARGS=()
record_ust "$@"
