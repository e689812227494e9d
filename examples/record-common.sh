# record-common.sh: sourced by examples/*/record.sh, not run.
#
# What every recording script needs: its messages, kernel tracepoints that
# perf can see (tracefs mounted), and, for the perf-only examples, the whole
# recording (`record_example`): build the example, run it as perf's workload
# system-wide on CLOCK_MONOTONIC, convert perf.data to CTF, and write
# recording.txt.

prog=$(basename "$0")
# The scheduling events every recording takes (what `perf sched timehist`
# and corr's scheduling model read).
SCHED_EVENTS=(-e sched:sched_switch -e sched:sched_waking -e sched:sched_wakeup
              -e sched:sched_wakeup_new -e sched:sched_process_fork -e sched:sched_process_exit)
die() { echo "$prog: error: $*" >&2; exit 1; }
note() { echo "$prog: $*"; }

have_tracepoints() {
    [ -d /sys/kernel/tracing/events/sched ] || [ -d /sys/kernel/debug/tracing/events/sched ]
}

# A fresh machine may have neither tracefs nor debugfs mounted; perf reads
# the tracepoints' formats from either.  Mounted here (as root) and left
# mounted: it is the system's usual state, and other recordings want it.
ensure_tracepoints() {
    have_tracepoints && return 0
    [ "$(id -u)" -eq 0 ] || die "kernel tracepoints not available (tracefs not mounted, and mounting it needs root)"
    note "mounting tracefs on /sys/kernel/tracing"
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null \
        || mount -t debugfs nodev /sys/kernel/debug 2>/dev/null || true
    have_tracepoints || die "kernel tracepoints not available (tracefs not mounted, and mounting it failed)"
}

# record_usage NAME EXAMPLE WHAT [the script's args...]: the usage text, then
# exit, when the script got no OUTDIR (status 2) or -h / --help (status 0).
record_usage() {
    local name=$1 example=$2 what=$3
    shift 3
    if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
        cat <<EOF
usage: $prog OUTDIR [$name args...]

$what
OUTDIR must not already hold a recording. Run as root.
Environment: $(echo "${name}_BIN" | tr '[:lower:]' '[:upper:]') (use this binary instead of building one).
Example: $prog $example
EOF
        [ $# -lt 1 ] && exit 2 || exit 0
    fi
}

# check_recorder TOOL...: root, the tools in PATH, kernel tracepoints visible.
check_recorder() {
    local tool
    [ "$(id -u)" -eq 0 ] || die "must run as root (perf records system-wide sched tracepoints)"
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
    done
    ensure_tracepoints
}

# make_outdir: $outdir made if missing (made_outdir=1 then: the clean-up
# removes it on failure), and made absolute.
make_outdir() {
    [ -d "$outdir" ] || made_outdir=1
    mkdir -p "$outdir" || die "cannot create $outdir"
    outdir=$(cd "$outdir" && pwd)
}

# build_example NAME [gcc flags...]: $here/NAME from $here/NAME.c when missing
# or older than its sources (example.h too); prints the binary's path.  NAME_BIN (upper case)
# names a ready binary instead.
build_example() {
    local name=$1 var bin
    shift
    var=$(echo "${name}_BIN" | tr '[:lower:]' '[:upper:]')
    bin=${!var:-$here/$name}
    if [ -z "${!var:-}" ] && { [ ! -x "$bin" ] || [ "$here/$name.c" -nt "$bin" ] \
                                || [ "$here/../example.h" -nt "$bin" ]; }; then
        command -v gcc >/dev/null 2>&1 || die "'gcc' not found in PATH (needed to build $name)"
        note "building $bin" >&2
        gcc -O2 -g -Wall -o "$bin" "$here/$name.c" "$@" >&2 || die "building $name failed"
    fi
    [ -x "$bin" ] || die "$name binary $bin is not executable"
    echo "$bin"
}

# record_example NAME USAGE_EXAMPLE PERF_EVENT_ARGS... -- OUTDIR [NAME args...]
#
# Records one run of $here/NAME (built from NAME.c, linked with -lpthread)
# with `perf record -a -k CLOCK_MONOTONIC PERF_EVENT_ARGS -- NAME args`.
# Writes OUTDIR/perf.data (kept, for perf's own tools), OUTDIR/kernel/ (the
# same events converted to CTF) and OUTDIR/recording.txt (command, versions,
# the program's output, whose last line starts with "NAME: pid ").
# On failure exits non-zero with a message, removes what it wrote, and never
# leaves perf running.
record_example() {
    rec_name=$1 rec_example=$2
    shift 2
    rec_events=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do rec_events+=("$1"); shift; done
    [ $# -gt 0 ] || die "record_example: no -- before OUTDIR"
    shift
    record_usage "$rec_name" "$rec_example" \
        "Record $rec_name with perf into OUTDIR/perf.data and OUTDIR/kernel (CTF)." "$@"
    outdir=$1
    shift
    work="" perf_pid="" started="" made_outdir=""
    trap _record_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    check_recorder perf
    make_outdir
    for f in perf.data kernel; do
        [ ! -e "$outdir/$f" ] || die "$outdir already holds $f; remove it or pick another OUTDIR"
    done

    local bin
    bin=$(build_example "$rec_name" -lpthread) || exit 1
    "$bin" "$@" --dry-run || die "$rec_name rejected its arguments: $*"

    # The program runs in a scratch folder on disk (a file it syncs must
    # really reach the disk: /tmp may be a tmpfs), removed at the end.
    work=$(mktemp -d "/var/tmp/$rec_name-record.XXXXXX")
    started=1
    note "recording: $bin $*"
    cd "$work"
    _perf_record "$bin" "$@"
    _convert
    _write_recording_txt "$bin" "$@"
    chmod -R a+rX "$outdir"
    note "done: $(du -sh "$outdir" | cut -f1) in $outdir"
}

_record_cleanup() {
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

# perf runs the program as its workload and stops when it exits; it runs in
# the background only so that a signal to the script reaches the trap at once.
_perf_record() {
    perf record -a -k CLOCK_MONOTONIC -B -N -m 8M -o "$outdir/perf.data" "${rec_events[@]}" \
        -- "$@" >"$work/program.out" 2>"$work/perf.log" &
    perf_pid=$!
    local perf_rc=0
    wait "$perf_pid" || perf_rc=$?
    perf_pid=""
    sed 's/^/  | /' "$work/program.out"
    [ $perf_rc -eq 0 ] || die "perf record (or $rec_name) failed with status $perf_rc: $(tr '\n' ' ' <"$work/perf.log")"
    grep -q "^$rec_name: pid " "$work/program.out" || die "$rec_name did not finish: $(tr '\n' ' ' <"$work/perf.log")"
    [ -s "$outdir/perf.data" ] || die "perf record wrote no data: $(tr '\n' ' ' <"$work/perf.log")"
}

_convert() {
    perf data convert -i "$outdir/perf.data" --to-ctf "$outdir/kernel" >"$work/convert.log" 2>&1 \
        || die "perf data convert failed: $(tr '\n' ' ' <"$work/convert.log")"
    [ -f "$outdir/kernel/metadata" ] || die "no CTF trace in $outdir/kernel"
    if grep -i -E 'lost|discard' "$work/perf.log" "$work/convert.log" >"$work/losses" 2>/dev/null; then
        echo "$prog: warning: perf reports lost events:" >&2
        sed 's/^/  /' "$work/losses" >&2
    fi
}

_write_recording_txt() {
    local bin=$1
    shift
    {
        echo "# recorded by examples/$rec_name/record.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "command: $(basename "$bin") $*"
        echo "kernel: $(uname -r), $(nproc) CPUs"
        echo "perf: $(perf --version)"
        echo "perf events: ${rec_events[*]}"
        cat "$work/program.out"
        echo "perf record output:"
        sed 's/^/  /' "$work/perf.log"
        echo "perf data convert output:"
        sed 's/^/  /' "$work/convert.log"
    } >"$outdir/recording.txt"
}
