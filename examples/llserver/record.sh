#!/usr/bin/env bash
# record.sh OUTDIR [llserver args...]
#
# Build llserver if needed, then record one run of it (examples/record-ust.sh):
#   - user space: LTTng-UST events 'llserver:*' with contexts vtid, vpid and
#     procname, through an lttng-sessiond started here (and stopped here)
#     with its own LTTNG_HOME; lands in OUTDIR/ust/uid/0/64-bit/;
#   - kernel: perf on CLOCK_MONOTONIC, system-wide sched_switch / waking /
#     wakeup / wakeup_new / process_fork / process_exit, plus
#     raw_syscalls:sys_enter / sys_exit of llserver's threads only (tracepoint
#     filter on comm), converted to CTF in OUTDIR/kernel/.
# Also writes OUTDIR/recording.txt (command line, versions, llserver output).
# llserver's log files go to the scratch folder on disk (fdatasync must
# really block). LLSERVER_BIN names a ready binary, LLSERVER_TIMEOUT bounds
# the run.
#
# Needs root (system-wide perf tracepoints; tracefs is mounted if it is
# not), lttng-tools, perf, babeltrace2, gcc and liblttng-ust-dev. Exits
# non-zero with a message on any failure, and never leaves a daemon or perf
# behind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../record-common.sh
. "$here/../record-common.sh"
# shellcheck source=../record-ust.sh
. "$here/../record-ust.sh"

UST_NAME=llserver
UST_EXAMPLE="/tmp/llsrv --duration-ms 1000"
UST_EVENTS=('llserver:*')
UST_CONTEXTS=(vtid vpid procname)
UST_COMMS=(llserver producer consumer logger monitor cpuhog)
UST_ARGS=(--log-file @DIR@/llserver.log)
record_ust "$@"
