#!/usr/bin/env bash
# record.sh OUTDIR [llserver args...]
#
# Build llserver if needed, then record one run of it:
#   - user space: LTTng-UST events 'llserver:*' with contexts vtid, vpid and
#     procname, through an lttng-sessiond started here (and stopped here)
#     with its own LTTNG_HOME; lands in OUTDIR/ust/uid/0/64-bit/;
#   - kernel: perf on CLOCK_MONOTONIC, system-wide sched_switch / waking /
#     wakeup / wakeup_new / process_fork / process_exit, plus
#     raw_syscalls:sys_enter / sys_exit of llserver's threads only (tracepoint
#     filter on comm), converted to CTF in OUTDIR/kernel/.
# Also writes OUTDIR/recording.txt (command line, versions, llserver output).
#
# The two halves use different clock classes (LTTng "monotonic" with an
# epoch offset, perf "perf_clock" with offset 0) over the same
# CLOCK_MONOTONIC, so babeltrace2 reads each one but will not mux them.
#
# Needs root (system-wide perf tracepoints; tracefs is mounted if it is
# not), lttng-tools, perf, babeltrace2, gcc and liblttng-ust-dev. Exits
# non-zero with a message on any failure, and never leaves a daemon or perf
# behind.
set -euo pipefail

made_outdir=""
started=""
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../record-common.sh
. "$here/../record-common.sh"

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    cat <<EOF
usage: $prog OUTDIR [llserver args...]

Record llserver (LTTng-UST) and the kernel (perf) into OUTDIR/ust and
OUTDIR/kernel. OUTDIR must not already contain a trace. Run as root.
Environment: LLSERVER_BIN (use this binary instead of building one).
Example: $prog /tmp/llsrv --duration-ms 1000
EOF
    [ $# -lt 1 ] && exit 2 || exit 0
fi
outdir=$1
shift

# --------------------------------------------------------------- state
work=""
logdir=""
session="llserver-$$"
sessiond_pid=""
sessiond_family=""
perf_pid=""
app_pid=""

descendants() { # PID -> PID and all its descendants
    local p=$1 c
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null || true); do descendants "$c"; done
}

alive_pid() { # PID -> 0 when it runs (a zombie waiting for init to reap it is gone)
    local state
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

wait_gone() { # TIMEOUT_S PID... -> 0 when none is alive
    local deadline=$((SECONDS + $1)) p alive
    shift
    while :; do
        alive=""
        for p in "$@"; do alive_pid "$p" && alive="$alive $p"; done
        [ -z "$alive" ] && return 0
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
}

stop_sessiond() {
    [ -n "$sessiond_pid" ] || return 0
    local family p
    family="$sessiond_family $(descendants "$sessiond_pid" | tr '\n' ' ')"
    lttng destroy "$session" >/dev/null 2>&1 || true
    kill -TERM "$sessiond_pid" 2>/dev/null || true
    # shellcheck disable=SC2086
    if ! wait_gone 10 $family; then
        for p in $family; do kill -KILL "$p" 2>/dev/null || true; done
        # shellcheck disable=SC2086
        wait_gone 5 $family || echo "$prog: warning: could not stop lttng daemons:$family" >&2
    fi
    sessiond_pid=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$app_pid" ]; then kill -TERM "$app_pid" 2>/dev/null || true; wait "$app_pid" 2>/dev/null || true; fi
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
    stop_sessiond
    [ -z "$work" ] || rm -rf "$work"
    [ -z "$logdir" ] || rm -rf "$logdir"
    if [ $rc -ne 0 ]; then
        if [ -n "$started" ]; then
            # Both did not exist at the start: they are ours, and incomplete.
            rm -rf "$outdir/ust" "$outdir/kernel" "$outdir/recording.txt"
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
for tool in lttng lttng-sessiond perf babeltrace2; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
done
ensure_tracepoints

[ -d "$outdir" ] || made_outdir=1
mkdir -p "$outdir" || die "cannot create $outdir"
outdir=$(cd "$outdir" && pwd)
if [ -e "$outdir/kernel" ] || [ -e "$outdir/ust" ]; then
    die "$outdir already holds a trace (kernel/ or ust/); remove it or pick another OUTDIR"
fi

# ---------------------------------------------------------------- build
bin=${LLSERVER_BIN:-$here/llserver}
if [ -z "${LLSERVER_BIN:-}" ]; then
    if [ ! -x "$bin" ] || [ "$here/llserver.c" -nt "$bin" ] || [ "$here/llserver_tp.h" -nt "$bin" ]; then
        command -v gcc >/dev/null 2>&1 || die "'gcc' not found in PATH (needed to build llserver)"
        note "building $bin"
        gcc -O2 -g -Wall -I"$here" -o "$bin" "$here/llserver.c" -llttng-ust -ldl -lpthread \
            || die "building llserver failed (is liblttng-ust-dev installed?)"
    fi
fi
[ -x "$bin" ] || die "llserver binary $bin is not executable"
# Validate the arguments before starting any daemon (--help exits 0 too).
"$bin" "$@" --dry-run || die "llserver rejected its arguments: $*"

# ------------------------------------------------------------ work dirs
work=$(mktemp -d /tmp/llserver-record.XXXXXX)
# llserver's log files go to disk (fdatasync must really block): /var/tmp.
logdir=$(mktemp -d /var/tmp/llserver-record.XXXXXX)
export LTTNG_HOME="$work/lttng-home"   # every lttng / lttng-sessiond call
mkdir -p "$LTTNG_HOME"

# ------------------------------------------------------------ sessiond
if pgrep -x lttng-sessiond >/dev/null; then
    die "an lttng-sessiond is already running (pid $(pgrep -d, -x lttng-sessiond)); as root it owns /var/run/lttng, so this script cannot start its own: stop it first"
fi
note "starting lttng-sessiond (LTTNG_HOME=$LTTNG_HOME)"
lttng-sessiond --daemonize --no-kernel >"$work/sessiond.log" 2>&1 \
    || die "lttng-sessiond failed to start: $(tr '\n' ' ' <"$work/sessiond.log")"
# --daemonize returns once the daemon is ready; find it and check it is ours.
for pidfile in /var/run/lttng/lttng-sessiond.pid "$LTTNG_HOME/.lttng/lttng-sessiond.pid"; do
    if [ -r "$pidfile" ]; then
        sessiond_pid=$(cat "$pidfile")
        break
    fi
done
[ -n "$sessiond_pid" ] || sessiond_pid=$(pgrep -n -x lttng-sessiond || true)
if [ -z "$sessiond_pid" ] || ! kill -0 "$sessiond_pid" 2>/dev/null; then
    sessiond_pid=""
    die "lttng-sessiond did not start (no running daemon found)"
fi
if ! tr '\0' '\n' <"/proc/$sessiond_pid/environ" | grep -qx "LTTNG_HOME=$LTTNG_HOME"; then
    sessiond_pid=""
    die "the running lttng-sessiond is not the one this script started"
fi
lttng version >/dev/null 2>&1 || die "lttng cannot talk to lttng-sessiond (pid $sessiond_pid)"
sessiond_family=$(descendants "$sessiond_pid" | tr '\n' ' ')
note "lttng-sessiond running (pid $sessiond_pid)"

# -------------------------------------------------------------- session
started=1
lttng create "$session" --output="$outdir" >"$work/lttng.log" 2>&1 \
    || die "lttng create failed: $(cat "$work/lttng.log")"
lttng enable-event -u 'llserver:*' >>"$work/lttng.log" 2>&1 \
    || die "lttng enable-event failed: $(cat "$work/lttng.log")"
lttng add-context -u -t vtid -t vpid -t procname >>"$work/lttng.log" 2>&1 \
    || die "lttng add-context failed: $(cat "$work/lttng.log")"
lttng start >>"$work/lttng.log" 2>&1 || die "lttng start failed: $(cat "$work/lttng.log")"
sessiond_family="$sessiond_family $(descendants "$sessiond_pid" | tr '\n' ' ')"

# ----------------------------------------------------------------- perf
# Syscalls only of llserver's threads (they are named, see llserver.c): a
# plain system-wide raw_syscalls record is flooded by perf's own writes.
comm_filter='comm == "llserver" || comm == "producer" || comm == "consumer" || comm == "logger" || comm == "monitor" || comm == "cpuhog"'
mkfifo "$work/perf.ctl" "$work/perf.ack"
exec {ctl_fd}<>"$work/perf.ctl" {ack_fd}<>"$work/perf.ack"
perf record -a -k CLOCK_MONOTONIC -B -N -m 4M \
    -o "$work/perf.data" --control "fifo:$work/perf.ctl,$work/perf.ack" -D -1 \
    "${SCHED_EVENTS[@]}" \
    -e raw_syscalls:sys_enter --filter "$comm_filter" \
    -e raw_syscalls:sys_exit --filter "$comm_filter" \
    >"$work/perf.log" 2>&1 &
perf_pid=$!
echo enable >&"$ctl_fd"
ack=""
for _ in $(seq 150); do   # up to 30 s, but stop as soon as perf dies
    if read -r -t 0.2 -u "$ack_fd" ack; then break; fi
    kill -0 "$perf_pid" 2>/dev/null || break
done
if [ "$ack" != "ack" ]; then
    die "perf record did not start: $(tr '\n' ' ' <"$work/perf.log")"
fi
note "perf record running (pid $perf_pid), lttng session '$session' started"

# ------------------------------------------------------------------ run
note "running: $bin $*"
timeout -k 5 "${LLSERVER_TIMEOUT:-300}" "$bin" --log-file "$logdir/llserver.log" "$@" >"$work/llserver.out" 2>&1 {ctl_fd}>&- {ack_fd}>&- &
app_pid=$!
app_rc=0
wait "$app_pid" || app_rc=$?
app_pid=""
sed 's/^/  | /' "$work/llserver.out"
[ $app_rc -ne 124 ] || die "llserver did not finish within ${LLSERVER_TIMEOUT:-300} s (LLSERVER_TIMEOUT)"
[ $app_rc -eq 0 ] || die "llserver exited with status $app_rc"

# ----------------------------------------------------------------- stop
kill -INT "$perf_pid"
perf_rc=0
wait "$perf_pid" || perf_rc=$?
perf_pid=""
exec {ctl_fd}>&- {ack_fd}>&-
[ -s "$work/perf.data" ] || die "perf record wrote no data (exit $perf_rc): $(tr '\n' ' ' <"$work/perf.log")"
lttng stop "$session" >>"$work/lttng.log" 2>&1 || die "lttng stop failed: $(cat "$work/lttng.log")"
lttng destroy "$session" >>"$work/lttng.log" 2>&1 || die "lttng destroy failed: $(cat "$work/lttng.log")"
stop_sessiond
note "lttng-sessiond stopped"

perf data convert -i "$work/perf.data" --to-ctf "$outdir/kernel" >"$work/convert.log" 2>&1 \
    || die "perf data convert failed: $(tr '\n' ' ' <"$work/convert.log")"
rm -f "$work/perf.data"
# Surface lost or discarded events: the trace reader must not trust them.
if grep -i -E 'lost|discard' "$work/perf.log" "$work/convert.log" "$work/lttng.log" >"$work/losses" 2>/dev/null; then
    echo "$prog: warning: the tracers report lost/discarded events:" >&2
    sed 's/^/  /' "$work/losses" >&2
fi

ust="$outdir/ust/uid/0/64-bit"
[ -f "$ust/metadata" ] || die "no LTTng-UST trace in $ust (did llserver register with the session daemon?)"
[ -f "$outdir/kernel/metadata" ] || die "no perf CTF trace in $outdir/kernel"

{
    echo "# recorded by examples/llserver/record.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command: $(basename "$bin") $*"
    echo "kernel: $(uname -r), $(nproc) CPUs"
    echo "lttng: $(lttng --version | head -1)"
    echo "perf: $(perf --version)"
    echo "perf syscall filter: $comm_filter"
    echo "llserver output:"
    sed 's/^/  /' "$work/llserver.out"
    echo "perf record output:"
    sed 's/^/  /' "$work/perf.log"
    echo "perf data convert output:"
    sed 's/^/  /' "$work/convert.log"
} >"$outdir/recording.txt"

# lttng and perf write root-only files (0660/0640): an example trace is
# meant to be read by anyone, as a git checkout of it would be.
chmod -R a+rX "$outdir"

# --------------------------------------------------------------- report
count_events() { # DIR -> "count name" lines; fails if babeltrace2 fails
    local out
    out=$(babeltrace2 "$1" 2>"$work/bt.err") \
        || { echo "$prog: babeltrace2 cannot read $1: $(head -c 2000 "$work/bt.err")" >&2; return 1; }
    # "[ts] (+delta) host name: { ..." or, without a hostname, "[ts] (+delta) name: {"
    awk '{ for (i = 3; i <= 5 && i <= NF; i++) if ($i ~ /:$/ && $(i+1) == "{") { sub(/:$/, "", $i); n[$i]++; break } }
         END { for (k in n) printf "%8d %s\n", n[k], k }' <<<"$out" | sort -k2
}
note "recorded in $outdir:"
echo "  ust ($ust): $(du -sh "$outdir/ust" | cut -f1)"
ust_counts=$(count_events "$ust") || die "UST trace does not decode"
echo "$ust_counts"
echo "  kernel ($outdir/kernel): $(du -sh "$outdir/kernel" | cut -f1)"
kernel_counts=$(count_events "$outdir/kernel") || die "kernel trace does not decode"
echo "$kernel_counts"
grep -q 'llserver:' <<<"$ust_counts" || die "the UST trace holds no llserver event"
grep -q 'sched:sched_switch' <<<"$kernel_counts" || die "the kernel trace holds no sched_switch"
grep -q 'raw_syscalls:sys_enter' <<<"$kernel_counts" || die "the kernel trace holds no llserver syscall"
note "done: $(du -sh "$outdir" | cut -f1) in $outdir"
