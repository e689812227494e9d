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
# Needs root (system-wide tracepoints), perf built with CTF conversion, and
# gcc or make. Exits non-zero with a message on failure, removing what it
# wrote, and never leaves perf running.
set -euo pipefail

prog=$(basename "$0")
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "$prog: error: $*" >&2; exit 1; }
note() { echo "$prog: $*"; }

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    cat <<EOF
usage: $prog OUTDIR [pingpong args...]

Record pingpong with perf into OUTDIR/perf.data and OUTDIR/kernel (CTF).
OUTDIR must not already hold a recording. Run as root.
Environment: PINGPONG_BIN (use this binary instead of building one).
Example: $prog /tmp/pp --rounds 2000 --sleep-every 50 --sleep-us 1000
EOF
    [ $# -lt 1 ] && exit 2 || exit 0
fi
outdir=$1
shift

work=""
perf_pid=""
started=""
made_outdir=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$perf_pid" ]; then
        # perf stops on SIGINT, and then sends SIGTERM to its workload.
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    [ -z "$work" ] || rm -rf "$work"
    if [ $rc -ne 0 ]; then
        if [ -n "$started" ]; then
            rm -rf "$outdir/perf.data" "$outdir/perf.data.old" "$outdir/kernel" "$outdir/recording.txt"
            echo "$prog: recording failed (exit $rc); partial output removed" >&2
        else
            echo "$prog: recording failed (exit $rc)" >&2
        fi
        if [ -n "$made_outdir" ]; then rmdir "$outdir" 2>/dev/null || true; fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------- checks
[ "$(id -u)" -eq 0 ] || die "must run as root (perf records system-wide sched tracepoints)"
command -v perf >/dev/null 2>&1 || die "'perf' not found in PATH"
[ -d /sys/kernel/tracing/events/sched ] || [ -d /sys/kernel/debug/tracing/events/sched ] \
    || die "kernel tracepoints not available (tracefs not mounted?)"

[ -d "$outdir" ] || made_outdir=1
mkdir -p "$outdir" || die "cannot create $outdir"
outdir=$(cd "$outdir" && pwd)
for f in perf.data kernel; do
    [ ! -e "$outdir/$f" ] || die "$outdir already holds $f; remove it or pick another OUTDIR"
done

# ---------------------------------------------------------------- build
bin=${PINGPONG_BIN:-$here/pingpong}
if [ -z "${PINGPONG_BIN:-}" ] && { [ ! -x "$bin" ] || [ "$here/pingpong.c" -nt "$bin" ]; }; then
    command -v gcc >/dev/null 2>&1 || die "'gcc' not found in PATH (needed to build pingpong)"
    note "building $bin"
    gcc -O2 -g -Wall -o "$bin" "$here/pingpong.c" -lpthread || die "building pingpong failed"
fi
[ -x "$bin" ] || die "pingpong binary $bin is not executable"
"$bin" "$@" --dry-run || die "pingpong rejected its arguments: $*"

# ----------------------------------------------------------------- run
work=$(mktemp -d /tmp/pingpong-record.XXXXXX)
started=1
note "recording: $bin $*"
# perf runs pingpong as its workload and stops when it exits; it runs in the
# background only so that a signal to this script reaches the trap at once.
perf record -a -k CLOCK_MONOTONIC -B -N -m 8M -o "$outdir/perf.data" \
    -e sched:sched_switch -e sched:sched_waking -e sched:sched_wakeup \
    -e sched:sched_wakeup_new -e sched:sched_process_fork -e sched:sched_process_exit \
    -e irq:irq_handler_entry -e irq:irq_handler_exit -e irq:softirq_entry -e irq:softirq_exit \
    -e timer:hrtimer_expire_entry -e timer:hrtimer_expire_exit \
    -- "$bin" "$@" >"$work/pingpong.out" 2>"$work/perf.log" &
perf_pid=$!
perf_rc=0
wait "$perf_pid" || perf_rc=$?
perf_pid=""
sed 's/^/  | /' "$work/pingpong.out"
[ $perf_rc -eq 0 ] || die "perf record (or pingpong) failed with status $perf_rc: $(tr '\n' ' ' <"$work/perf.log")"
grep -q '^pingpong: pid ' "$work/pingpong.out" || die "pingpong did not finish: $(tr '\n' ' ' <"$work/perf.log")"
[ -s "$outdir/perf.data" ] || die "perf record wrote no data: $(tr '\n' ' ' <"$work/perf.log")"

# -------------------------------------------------------------- convert
perf data convert -i "$outdir/perf.data" --to-ctf "$outdir/kernel" >"$work/convert.log" 2>&1 \
    || die "perf data convert failed: $(tr '\n' ' ' <"$work/convert.log")"
[ -f "$outdir/kernel/metadata" ] || die "no CTF trace in $outdir/kernel"
if grep -i -E 'lost|discard' "$work/perf.log" "$work/convert.log" >"$work/losses" 2>/dev/null; then
    echo "$prog: warning: perf reports lost events:" >&2
    sed 's/^/  /' "$work/losses" >&2
fi

{
    echo "# recorded by examples/pingpong/record.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command: $(basename "$bin") $*"
    echo "kernel: $(uname -r), $(nproc) CPUs"
    echo "perf: $(perf --version)"
    cat "$work/pingpong.out"
    echo "perf record output:"
    sed 's/^/  /' "$work/perf.log"
    echo "perf data convert output:"
    sed 's/^/  /' "$work/convert.log"
} >"$outdir/recording.txt"
chmod -R a+rX "$outdir"
note "done: $(du -sh "$outdir" | cut -f1) in $outdir"
