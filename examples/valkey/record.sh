#!/usr/bin/env bash
# record.sh OUTDIR [valkey args...]
#
# Build the valkey stand-in if needed, then record one run of it
# (examples/record-ust.sh): user space with LTTng-UST, the session Valkey's
# documentation (shared/seeds/001_*) creates, every event of its providers
# (valkey_*) and no context; the kernel with perf (scheduling, system-wide,
# and the program's system calls) on CLOCK_MONOTONIC.  The program runs in a scratch
# folder on disk, so that its fdatasync() waits for the disk.
#
# Writes OUTDIR/ust/, OUTDIR/kernel/ and OUTDIR/recording.txt (with the
# program's "valkey: inject ..." and "valkey: pid ..." lines).  Needs root,
# lttng-tools, perf, babeltrace2, gcc and liblttng-ust-dev.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../record-common.sh
. "$here/../record-common.sh"
# shellcheck source=../record-ust.sh
. "$here/../record-ust.sh"

UST_NAME=valkey
UST_EXAMPLE="/tmp/vk --cycles 300"
UST_EVENTS=('valkey_*')
UST_CONTEXTS=()
UST_COMMS=(valkey valkey-server cpuhog)
UST_ARGS=()
record_ust "$@"
