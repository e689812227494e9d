# record-ust.sh: sourced by the LTTng-UST examples' record.sh (llserver,
# valkey, calcjob, monkey), not run.  Needs record-common.sh sourced first.
#
# record_ust OUTDIR [program args...] records one run of $here/$UST_NAME:
#   - user space: LTTng-UST events UST_EVENTS with the contexts UST_CONTEXTS
#     (none: as the program's own documentation records), through an
#     lttng-sessiond started here (and stopped here) with its own LTTNG_HOME;
#     lands in OUTDIR/ust/uid/0/64-bit/;
#   - kernel: perf on CLOCK_MONOTONIC, system-wide SCHED_EVENTS plus
#     raw_syscalls:sys_enter / sys_exit of the program's threads only (a
#     tracepoint filter on the thread names UST_COMMS), converted to CTF in
#     OUTDIR/kernel/.
# Also writes OUTDIR/recording.txt (command line, versions, the program's
# output).  The caller sets, before calling:
#
#   UST_NAME      the program: $here/NAME.c, its providers in $here/*.h
#   UST_EXAMPLE   an example command line for the usage text
#   UST_EVENTS    array of `lttng enable-event -u` patterns
#   UST_CONTEXTS  array of `lttng add-context -u -t` types (may be empty)
#   UST_COMMS     array of the program's thread names (15 chars at most)
#   UST_ARGS      array of arguments given before the user's (may be empty);
#                 "@DIR@" in one is replaced by the scratch folder on disk
#
# The program runs in that scratch folder, under /var/tmp (a real disk: an
# fsync there really waits), removed at the end.  NAME_BIN (upper case) names
# a ready binary; NAME_TIMEOUT bounds the run (default 300 s).
#
# The two halves use different clock classes (LTTng "monotonic" with an
# epoch offset, perf "perf_clock" with offset 0) over the same
# CLOCK_MONOTONIC, so babeltrace2 reads each one but will not mux them.
# Needs root, lttng-tools, perf, babeltrace2, gcc and liblttng-ust-dev.  Exits
# non-zero with a message on any failure, and never leaves a daemon or perf
# behind.

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

_ust_cleanup() {
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

_ust_build() { # -> the binary's path
    local var bin
    var=$(echo "${UST_NAME}_BIN" | tr '[:lower:]' '[:upper:]')
    bin=${!var:-$here/$UST_NAME}
    if [ -z "${!var:-}" ]; then
        if [ ! -x "$bin" ] || [ "$here/$UST_NAME.c" -nt "$bin" ] || [ -n "$(find "$here" -maxdepth 1 -name "*.h" -newer "$bin")" ] \
                || [ "$here/../example.h" -nt "$bin" ]; then
            command -v gcc >/dev/null 2>&1 || die "'gcc' not found in PATH (needed to build $UST_NAME)"
            note "building $bin" >&2
            gcc -O2 -g -Wall -I"$here" -o "$bin" "$here/$UST_NAME.c" -llttng-ust -ldl -lpthread >&2 \
                || die "building $UST_NAME failed (is liblttng-ust-dev installed?)"
        fi
    fi
    [ -x "$bin" ] || die "$UST_NAME binary $bin is not executable"
    echo "$bin"
}

_ust_start_sessiond() {
    if pgrep -x lttng-sessiond >/dev/null; then
        die "an lttng-sessiond is already running (pid $(pgrep -d, -x lttng-sessiond)); as root it owns /var/run/lttng, so this script cannot start its own: stop it first"
    fi
    note "starting lttng-sessiond (LTTNG_HOME=$LTTNG_HOME)"
    lttng-sessiond --daemonize --no-kernel >"$work/sessiond.log" 2>&1 \
        || die "lttng-sessiond failed to start: $(tr '\n' ' ' <"$work/sessiond.log")"
    # --daemonize returns once the daemon is ready; find it and check it is ours.
    local pidfile
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
}

_ust_session() {
    local pattern ctx=()
    lttng create "$session" --output="$outdir" >"$work/lttng.log" 2>&1 \
        || die "lttng create failed: $(cat "$work/lttng.log")"
    for pattern in "${UST_EVENTS[@]}"; do
        lttng enable-event -u "$pattern" >>"$work/lttng.log" 2>&1 \
            || die "lttng enable-event failed: $(cat "$work/lttng.log")"
    done
    for pattern in "${UST_CONTEXTS[@]}"; do ctx+=(-t "$pattern"); done
    if [ ${#ctx[@]} -gt 0 ]; then
        lttng add-context -u "${ctx[@]}" >>"$work/lttng.log" 2>&1 \
            || die "lttng add-context failed: $(cat "$work/lttng.log")"
    fi
    lttng start >>"$work/lttng.log" 2>&1 || die "lttng start failed: $(cat "$work/lttng.log")"
    sessiond_family="$sessiond_family $(descendants "$sessiond_pid" | tr '\n' ' ')"
}

# Syscalls only of the program's threads (they name themselves): a plain
# system-wide raw_syscalls record is flooded by perf's own writes.  perf starts
# disabled and is enabled through its control FIFO: the program only starts
# once the kernel is being recorded.
_ust_start_perf() {
    local c ack=""
    comm_filter=""
    for c in "${UST_COMMS[@]}"; do comm_filter="${comm_filter:+$comm_filter || }comm == \"$c\""; done
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
    for _ in $(seq 150); do   # up to 30 s, but stop as soon as perf dies
        if read -r -t 0.2 -u "$ack_fd" ack; then break; fi
        kill -0 "$perf_pid" 2>/dev/null || break
    done
    [ "$ack" = "ack" ] || die "perf record did not start: $(tr '\n' ' ' <"$work/perf.log")"
    note "perf record running (pid $perf_pid), lttng session '$session' started"
}

_ust_run() { # BIN ARGS...
    local bin=$1 tvar timeout_s app_rc=0 args=() a
    shift
    tvar=$(echo "${UST_NAME}_TIMEOUT" | tr '[:lower:]' '[:upper:]')
    timeout_s=${!tvar:-300}
    for a in "${UST_ARGS[@]}"; do args+=("${a//@DIR@/$logdir}"); done
    note "running: $bin $*"
    (cd "$logdir" && exec timeout -k 5 "$timeout_s" "$bin" "${args[@]}" "$@") \
        >"$work/program.out" 2>&1 {ctl_fd}>&- {ack_fd}>&- &
    app_pid=$!
    wait "$app_pid" || app_rc=$?
    app_pid=""
    sed 's/^/  | /' "$work/program.out"
    [ $app_rc -ne 124 ] || die "$UST_NAME did not finish within $timeout_s s ($tvar)"
    [ $app_rc -eq 0 ] || die "$UST_NAME exited with status $app_rc"
}

_ust_stop() {
    local perf_rc=0
    kill -INT "$perf_pid"
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
}

_ust_count_events() { # DIR -> "count name" lines; fails if babeltrace2 fails
    local out
    out=$(babeltrace2 "$1" 2>"$work/bt.err") \
        || { echo "$prog: babeltrace2 cannot read $1: $(head -c 2000 "$work/bt.err")" >&2; return 1; }
    # "[ts] (+delta) host name: { ..." or, without a hostname, "[ts] (+delta) name: {"
    awk '{ for (i = 3; i <= 5 && i <= NF; i++) if ($i ~ /:$/ && $(i+1) == "{") { sub(/:$/, "", $i); n[$i]++; break } }
         END { for (k in n) printf "%8d %s\n", n[k], k }' <<<"$out" | sort -k2
}

_ust_report() { # BIN ARGS...
    local bin=$1 ust="$outdir/ust/uid/0/64-bit" ust_counts kernel_counts
    shift
    [ -f "$ust/metadata" ] || die "no LTTng-UST trace in $ust (did $UST_NAME register with the session daemon?)"
    [ -f "$outdir/kernel/metadata" ] || die "no perf CTF trace in $outdir/kernel"
    {
        echo "# recorded by examples/$UST_NAME/record.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "command: $(basename "$bin") $*"
        echo "kernel: $(uname -r), $(nproc) CPUs"
        echo "lttng: $(lttng --version | head -1)"
        echo "perf: $(perf --version)"
        echo "perf syscall filter: $comm_filter"
        echo "$UST_NAME output:"
        sed 's/^/  /' "$work/program.out"
        echo "perf record output:"
        sed 's/^/  /' "$work/perf.log"
        echo "perf data convert output:"
        sed 's/^/  /' "$work/convert.log"
    } >"$outdir/recording.txt"
    # lttng and perf write root-only files (0660/0640): an example trace is
    # meant to be read by anyone, as a git checkout of it would be.
    chmod -R a+rX "$outdir"
    note "recorded in $outdir:"
    echo "  ust ($ust): $(du -sh "$outdir/ust" | cut -f1)"
    ust_counts=$(_ust_count_events "$ust") || die "UST trace does not decode"
    echo "$ust_counts"
    echo "  kernel ($outdir/kernel): $(du -sh "$outdir/kernel" | cut -f1)"
    kernel_counts=$(_ust_count_events "$outdir/kernel") || die "kernel trace does not decode"
    echo "$kernel_counts"
    [ -n "$ust_counts" ] || die "the UST trace holds no event"
    grep -q 'sched:sched_switch' <<<"$kernel_counts" || die "the kernel trace holds no sched_switch"
    grep -q 'raw_syscalls:sys_enter' <<<"$kernel_counts" || die "the kernel trace holds no $UST_NAME syscall"
    note "done: $(du -sh "$outdir" | cut -f1) in $outdir"
}

record_ust() {
    record_usage "$UST_NAME" "$UST_EXAMPLE" \
        "Record $UST_NAME (LTTng-UST) and the kernel (perf) into OUTDIR/ust and OUTDIR/kernel." "$@"
    outdir=$1
    shift
    work="" logdir="" session="$UST_NAME-$$" sessiond_pid="" sessiond_family=""
    perf_pid="" app_pid="" made_outdir="" started="" comm_filter=""
    trap _ust_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local bin
    check_recorder lttng lttng-sessiond perf babeltrace2
    make_outdir
    if [ -e "$outdir/kernel" ] || [ -e "$outdir/ust" ]; then
        die "$outdir already holds a trace (kernel/ or ust/); remove it or pick another OUTDIR"
    fi
    bin=$(_ust_build) || exit 1
    # Validate the arguments before starting any daemon (--help exits 0 too).
    "$bin" "$@" --dry-run || die "$UST_NAME rejected its arguments: $*"

    work=$(mktemp -d "/tmp/$UST_NAME-record.XXXXXX")
    logdir=$(mktemp -d "/var/tmp/$UST_NAME-record.XXXXXX")
    export LTTNG_HOME="$work/lttng-home"   # every lttng / lttng-sessiond call
    mkdir -p "$LTTNG_HOME"
    _ust_start_sessiond
    started=1
    _ust_session
    _ust_start_perf
    _ust_run "$bin" "$@"
    _ust_stop
    _ust_report "$bin" "$@"
}
