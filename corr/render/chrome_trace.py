"""Chrome trace-event JSON: slow intervals and their critical paths as tracks.

The Perfetto UI (ui.perfetto.dev) and chrome://tracing open it.  Each rule
is a process whose threads are the intervals' blamed threads (or keys);
the critical paths of analysed intervals are one more process per rule,
a track per interval (slowest first), a slice per segment named by its state.  Times are
microseconds from the traces' beginning (``RunResult.trace_begin_ns``), as
``corr run``'s ``start`` column counts them.

As the Trace Event Format asks (and the Perfetto UI needs: it keeps only
integer ids), pid and tid are integers: a thread's track is its tid, and
intervals whose entry had no thread (block requests, IRQs keyed by
CPU) get numbers after the rule's largest tid; every track is named by a
``thread_name`` metadata event ("comm (tid)", or "key ...").
``displayTimeUnit`` comes before the events, where the Perfetto UI looks
for it (it reads only the start of the file for it).

Events are written as they are made (a busy trace's paths have millions
of segments): the intervals' slices from the interval table's columns,
without explaining them, then each analysed interval's path, explained
once.  A path segment's event is formatted from a template, its thread's
name encoded once (orjson, as every other event).
"""

from __future__ import annotations

NAME = "chrome"
DESCRIPTION = "Chrome trace events"
NEEDS_BLAME = True
FILE_ONLY = False

HEAD = b'{"displayTimeUnit":"ns","traceEvents":['
BATCH = 512


def events(result, all_intervals: bool = False) -> list[dict]:
    """Every event, as dicts (the file holds the same, in this order)."""
    import orjson
    return [orjson.loads(e) for e in iter_encoded(result, all_intervals)]


def iter_encoded(result, all_intervals: bool = False):
    """Every event as JSON bytes, in the file's order."""
    from .run_json import encoder
    encode = encoder()
    begin = result.trace_begin_ns or 0
    for index, r in enumerate(result.rules):
        pid = 2 * index + 1
        yield encode({"ph": "M", "name": "process_name", "pid": pid,
                      "args": {"name": f"rule {r.name}"}})
        slices, largest = _slices(r, all_intervals)
        tracks: dict = {}             # tid, or ("key", key) for intervals without one
        spare = 1 + (largest if largest is not None else 0)
        # An interval's slice from a template: its name and category per status, its
        # values encoded (a name or a group once per value).
        heads = {}
        texts: dict = {}              # comm -> its JSON
        groups: dict = {}             # (type, group) -> its JSON
        rule_name = encode(r.name)
        for tid, comm, key, group, status, start, duration in slices:
            if tid is not None:
                ident = int(tid)
            else:
                ident = ("key", str(key))
            track = tracks.get(ident)
            if track is None:
                if isinstance(ident, int):
                    track = tracks[ident] = ident
                    label = f"{comm or 'tid'} ({ident})"
                else:
                    track = tracks[ident] = spare
                    spare += 1
                    label = f"key {key}"
                yield encode({"ph": "M", "name": "thread_name", "pid": pid, "tid": track,
                              "args": {"name": label}})
            head = heads.get(status)
            if head is None:
                head = heads[status] = b'{"ph":"X","name":%b,"cat":%b,"pid":%d,"tid":' % (
                    encode(f"{r.name} {status}"), rule_name, pid)
                heads[(status, 1)] = b',"status":%b}}' % encode(status)
            comm_text = texts.get(comm)
            if comm_text is None:
                comm_text = texts[comm] = encode(comm)
            plain = type(group) is not list       # a list (several values) is not hashable
            group_text = groups.get((type(group), group)) if plain else None
            if group_text is None:
                group_text = encode(group)
                if plain:
                    groups[(type(group), group)] = group_text
            yield b'%b%d,"ts":%r,"dur":%r,"args":{"key":%b,"comm":%b,"group":%b,"duration_ns":%d%b' % (
                head, track, (start - begin) / 1000.0, duration / 1000.0,
                b"%d" % key if type(key) is int else encode(key), comm_text, group_text,
                duration, heads[(status, 1)])
        analysis = r.analysis
        if analysis is None or not analysis.available:
            continue
        paths_pid = pid + 1
        yield encode({"ph": "M", "name": "process_name", "pid": paths_pid,
                      "args": {"name": f"rule {r.name}: critical paths"}})
        comms: dict = {}              # a thread's name, encoded
        head = b'{"ph":"X","name":%b,"cat":"critical_path","pid":%d,"tid":%d,"ts":'
        for n, (i, found) in enumerate(analysis.intervals.items()):
            yield encode({"ph": "M", "name": "thread_name", "pid": paths_pid, "tid": n,
                          "args": {"name": f"interval {i} ({found.tid})"}})
            prefixes: dict = {}
            for tid, comm, state, start, end, _ in found.critical_path:
                prefix = prefixes.get(state)
                if prefix is None:
                    prefix = prefixes[state] = head % (encode(state), paths_pid, n)
                text = comms.get(comm)
                if text is None:
                    text = comms[comm] = encode(comm)
                yield b'%b%r,"dur":%r,"args":{"tid":%d,"comm":%b}}' % (
                    prefix, (start - begin) / 1000.0, (end - start) / 1000.0, tid, text)


def _slices(r, all_intervals: bool):
    """``(slices, largest tid)``: each interval over the threshold (or all), slowest
    first, as ``(tid, comm, key, group, status, start_ns, duration_ns)``, threads named
    as ``RuleResult.interval`` names them, from the table's columns (nothing explained)."""
    if not hasattr(r, "intervals"):          # a result that only lists its intervals
        rows = list(r.iter_intervals(all_intervals))
        tids = [iv["tid"] for iv in rows if iv["tid"] is not None]
        return ([(iv["tid"], iv["comm"], iv["key"], iv["group"], iv["status"], iv["start_ns"],
                  iv["duration_ns"]) for iv in rows], max(tids, default=None))
    from ..engine.interval_columns import selected_rows
    return selected_rows(r, all_intervals)


def write(result, destination, options) -> None:
    from itertools import islice
    out = destination.binary
    out.write(HEAD)
    events = iter_encoded(result, options.all_intervals)
    separator = b""
    while True:
        batch = list(islice(events, BATCH))
        if not batch:
            break
        out.write(separator + b",".join(batch))
        separator = b","
    out.write(b"]}\n")
