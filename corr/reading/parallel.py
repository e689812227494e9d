"""Decoding a trace in worker processes: one per group of stream files, or one for all.

Each worker is forked (after every import: nothing is re-imported) and
runs the serial decode (:func:`graph.decode`) over its group's stream
files (:mod:`groups`): the output ports of the trace's source, parsed
once before the fork (:mod:`prepared`), that carry its files; or, when
the ports cannot be told apart, a temporary trace folder holding them.  It ships its batches
over a pipe (:mod:`wire`); the parent maps the worker's class ids to its
own registry, merges the workers' streams by timestamp
(:func:`merge.merge_groups`) and hands out plain-list batches: the same
events in the same order as the serial decode.  Class ids may be
numbered differently (the registry learns classes in another order); a
class is the same (name, trace, fields) either way.

The muxer's order at equal timestamps (stream class id, then stream id)
is rebuilt from a stream tag per event, which the worker's sink records.

A trace too small to split is decoded by one worker over all its
streams: babeltrace2 never runs in the corr process itself, so its
aborts and hangs cannot take corr down (:mod:`containment`).  The parent
watches each worker's progress: a worker killed by a signal or making no
progress for ``CORR_DECODE_STALL_S`` ends the decode with a
:class:`~corr.errors.TraceDecodeError` after the events it delivered.

Failures: when one of several workers reports an error (or exits), the
parent stops every worker and replays the trace serially from the start
(in one worker over all the streams), skipping the events it already
delivered, so the events, the error and its counts are exactly the
serial decode's.  A worker killed by a signal or stalled is not replayed:
the decode stops there.  Workers are killed and reaped, and their
folders removed, when the consumer stops early, on errors and at exit.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import gc
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from queue import Queue
from typing import NamedTuple

from . import native_sink, prepared, wire
from .batch import EventBatch, Interned
from .containment import (ChildLog, DecoderDied, DecoderStalled, Progress, Watchdog,
                          describe_files, fork_watched, kill, stall_seconds, trace_error)
from .graph import choose_sink, decode
from .groups import (auto_stream_ids, bt2_path, make_group_dir, port_groups,
                     remove_stale_group_dirs, stream_files)
from .merge import Part, drop_events, merge_groups
from .projection import Projection
from .sink_common import BatchBuilder, ClassRegistry
from .traceinfo import StreamInfo, TraceInfo

# Batches a worker may encode ahead of what the parent has read.
_AHEAD = 4
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031            # Linux fcntl: a pipe's buffer size
_PR_SET_PDEATHSIG = 1           # Linux prctl: a signal for when the parent dies
_LIVE: set["_Workers"] = set()      # closed at exit if a consumer never was
# babeltrace2 parses a trace's metadata in the workers only: a prepared source (made
# by the resident server, after a child parsed it safely) is shared by them, but the
# corr process never parses untrusted metadata itself to share it.
PARSE_BEFORE_FORK = False


_EXITED = "a worker exited without finishing"


class WorkerFailed(Exception):
    """A worker reported an error or exited: the parent falls back to the serial decode.

    ``error``: the exception the worker reported, when it reported one.
    """

    def __init__(self, message: str, error: BaseException | None = None):
        super().__init__(message)
        self.error = error


def start_workers(trace: TraceInfo, projection: Projection, batch_size: int, reader: str,
                  groups: list[list[str]] | None) -> "_Workers | None":
    """Fork the workers now (they decode ahead, into their pipes); None if they cannot be.

    ``groups`` None: one worker decodes the whole trace (the serial decode)."""
    try:
        return _Workers(trace, projection, batch_size, reader, groups)
    except OSError:
        return None


def read_parallel(trace: TraceInfo, registry: ClassRegistry, projection: Projection,
                  batch_size: int, reader: str, groups: list[list[str]] | None,
                  workers: "_Workers | None" = None) -> Iterator[EventBatch]:
    """One trace's batches, decoded by one worker per group of stream files
    (``groups`` None: by one worker over the whole trace, the serial decode).

    ``workers``: the same trace's workers, already started (:func:`start_workers`).
    """
    events = discards = 0
    last_ts = None
    if workers is None and groups is None and decoded_whole_before(trace):
        yield from decode(BatchBuilder(trace, registry, projection, batch_size), reader,
                          prepared.source_for(trace.path))
        prepared.note_read(trace.path)
        return
    if workers is None:
        workers = start_workers(trace, projection, batch_size, reader, groups)
    if workers is None:
        if groups is None:
            raise OSError("cannot start a process to decode the trace in")
        yield from replay(trace, registry, projection, batch_size, reader, 0, 0)
        return
    import numpy  # noqa: F401  (the merge needs it: imported while the workers start)
    try:
        try:
            for batch in merge_groups([workers.parts(i, registry)
                                       for i in range(len(workers.works))]):
                events += len(batch.ts)
                discards += len(batch.discards)
                if len(batch.ts):
                    last_ts = batch.ts[-1]
                yield batch
            if workers.failure is None:
                prepared.note_read(trace.path)
                return
            raise workers.failure
        except WorkerFailed as failed:
            if workers.whole:
                raise _whole_trace_error(trace, failed, events, last_ts) from None
        except (DecoderDied, DecoderStalled) as exc:
            prepared.note_unsafe(trace.path)
            raise trace_error(exc, trace.path, workers.describe(exc), events, last_ts) from None
    finally:
        workers.close()
    yield from replay(trace, registry, projection, batch_size, reader, events, discards)


def decoded_whole_before(trace: TraceInfo) -> bool:
    """Whether this trace, as its files are now, was decoded to its end by a command that
    succeeded: the resident server keeps a source of such traces only (made in a child
    first, :mod:`prepared`), and a served command runs in a process of its own, whose
    death by a signal the server reports.  A served command decodes such a trace in its
    own process, without a worker: a fork and a pipe cost a small trace 0.1 s."""
    return prepared.source_for(trace.path) is not None


def _whole_trace_error(trace: TraceInfo, failed: WorkerFailed, events: int,
                       last_ts: int | None) -> Exception:
    """The error of a serial decode, as its worker reported it: a corr error as it is,
    a worker gone without a word as a decode error, anything else as the bug it is."""
    from ..errors import CorrError, TraceDecodeError
    if isinstance(failed.error, CorrError):
        return failed.error
    if failed.error is None and str(failed) == _EXITED:
        return TraceDecodeError(trace.path, "the decoding process exited without finishing",
                                stopped_at_ns=last_ts, events_before=events)
    return RuntimeError(f"the decoding process failed: {failed}")


def replay(trace, registry, projection, batch_size, reader, events: int,
           discards: int) -> Iterator[EventBatch]:
    """The serial decode (in one worker), without its first ``events`` events and
    ``discards`` discards."""
    for batch in read_parallel(trace, registry, projection, batch_size, reader, None):
        if discards:
            n = min(discards, len(batch.discards))
            batch.discards = batch.discards[n:]
            discards -= n
        if events >= len(batch.ts):
            events -= len(batch.ts)
            if batch.discards:
                yield EventBatch(discards=batch.discards)
            continue
        if events:
            batch, events = drop_events(batch, events), 0
        yield batch


# -- the parent's side ---------------------------------------------------------------------

class _Workers:
    """The forked workers of one trace, their pipes, watchdogs and folders."""

    def __init__(self, trace, projection, batch_size, reader, groups):
        self.trace = trace
        self.groups = groups
        self.whole = groups is None                # one worker, the serial decode
        self.works: list[_Work] = []
        self.group_dirs: list[str | None] = []     # each worker's folder (None: ports)
        self.pids: list[int] = []
        self.receivers: list[wire.Receiver] = []
        self.watchdogs: list[Watchdog] = []
        self.failure: Exception | None = None      # how the whole-trace worker ended early
        self.stall_s = stall_seconds()
        self.streams = _TraceStreams(trace, None if self.whole else auto_stream_ids(trace.path))
        _LIVE.add(self)
        try:
            if self.whole:
                source = prepared.source_for(trace.path)
                self.group_dirs.append(None)
                self._fork(_Work(None, source, None, None), projection, batch_size, reader)
                if source is not None:
                    source.claim()                 # the worker runs it: this process never
                return
            source = prepared.source_for(trace.path, make=PARSE_BEFORE_FORK)
            ports = source and port_groups(source.port_names, trace.path, groups)
            if not ports:
                remove_stale_group_dirs()
            for i, files in enumerate(groups):
                if ports:
                    work = _Work(None, source, ports[i], frozenset(files))
                else:
                    work = _Work(make_group_dir(trace.path, files), None, None, None)
                self.group_dirs.append(work.group_dir)
                self._fork(work, projection, batch_size, reader)
        except BaseException:
            self.close()
            raise

    def _fork(self, work: "_Work", projection, batch_size, reader) -> None:
        pid, read_fd, write_fd, progress, log = fork_watched()
        if pid == 0:                    # the child never returns
            _child(write_fd, self.trace, work, projection, batch_size, reader, progress, log)
        os.close(write_fd)
        self.works.append(work)
        self.pids.append(pid)
        self.receivers.append(wire.Receiver(read_fd))
        self.watchdogs.append(Watchdog(pid, progress, log, self.stall_s))

    def parts(self, i: int, registry: ClassRegistry) -> Iterator[Part]:
        """Worker ``i``'s batches as Parts, its classes and streams learned on the way.

        The whole-trace worker's failure ends its stream (every event it sent is
        merged) and is kept in :attr:`failure`; one of several workers' is raised.
        """
        try:
            yield from self._parts(i, registry)
        except (WorkerFailed, DecoderDied, DecoderStalled) as exc:
            exc.group = i
            if not self.whole:
                raise
            self.failure = exc

    def _parts(self, i: int, registry: ClassRegistry) -> Iterator[Part]:
        receiver, watch = self.receivers[i], self.watchdogs[i]
        decoder = _PartDecoder(self.trace, registry, self.streams, self.group_dirs[i])
        while True:
            msg = receiver.recv(watch.wait_readable)
            if msg is None:
                watch.ended()               # DecoderDied if a signal killed it
                raise WorkerFailed(_EXITED)
            kind, body = msg
            if kind == "error":
                error = body if isinstance(body, BaseException) else None
                raise WorkerFailed(str(body), error)
            decoder.learn(body)
            if kind == "end":
                return
            if kind == "batch":
                yield decoder.part(body)

    def describe(self, exc) -> str:
        """The stream files the worker that failed with ``exc`` was decoding."""
        i = getattr(exc, "group", 0)
        if self.whole:
            try:
                return describe_files(stream_files(self.trace.path))
            except OSError:
                return "its streams"
        return describe_files(self.groups[i])

    def close(self) -> None:
        """Kill and reap every worker, close the pipes, remove the folders (idempotent)."""
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in self.pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.pids = []
        for r in self.receivers:
            os.close(r.fd)
        self.receivers = []
        for w in self.watchdogs:
            w.log.close()
        self.watchdogs = []
        for d in self.group_dirs:
            if d is not None:
                shutil.rmtree(d, ignore_errors=True)
        self.group_dirs = []
        _LIVE.discard(self)


@atexit.register
def _close_all() -> None:
    for workers in list(_LIVE):
        workers.close()


class _TraceStreams:
    """The parent's trace.streams, learned from every worker, in the serial order.

    The muxer hands out stream beginnings by (stream class id, stream id),
    so the serial decode inserts streams in that order.
    """

    def __init__(self, trace: TraceInfo, auto_ids: dict[str, int] | None):
        self.trace = trace
        self.auto_ids = auto_ids
        self.keys: dict[str, tuple] = {}

    def key(self, name: str, class_id: int, stream_id: int) -> tuple:
        """A stream's muxing key in the whole trace: (stream class id, stream id)."""
        if self.auto_ids is not None:
            stream_id = self.auto_ids.get(name.rsplit("/", 1)[-1], stream_id)
        return class_id, stream_id

    def add(self, name: str, key: tuple, packet_context: tuple) -> None:
        self.keys[name] = key
        streams = self.trace.streams
        if name in streams:
            return
        streams[name] = StreamInfo(name=name, packet_context=packet_context)
        ordered = sorted(streams.items(), key=lambda kv: (kv[0] not in self.keys,
                                                          self.keys.get(kv[0], ())))
        streams.clear()
        streams.update(ordered)


class _PartDecoder:
    """Turns one worker's messages into Parts: its class ids and stream names mapped."""

    def __init__(self, trace, registry, streams: _TraceStreams, group_dir: str | None):
        self.trace = trace
        self.registry = registry
        self.streams = streams
        self.cid_map: list[int] = []            # worker class id -> parent class id
        self.stream_keys: list[tuple] = []      # tag -> (stream class id, stream id)
        self.rename = _Renamer(group_dir, trace.path)
        self._np_map = None

    def learn(self, body: dict) -> None:
        """New classes and streams, stream CPUs, the trace's env and clock, the first and
        last event the worker saw."""
        for name, trace_index, fields in body["classes"]:
            self.cid_map.append(self.registry.intern(name, trace_index, fields).id)
            self._np_map = None
        for sc_id, stream_id, name, packet_context in body["streams"]:
            name = self.rename(name)
            key = self.streams.key(name, sc_id, stream_id)
            self.stream_keys.append(key)
            self.streams.add(name, key, packet_context)
        for name, cpu in body["cpus"]:
            info = self.trace.streams.get(self.rename(name))
            if info is not None:
                info.cpu = cpu
        if body.get("env") and not self.trace.env:
            self.trace.env = body["env"]
        if body.get("clock") is not None and self.trace.clock is None:
            self.trace.clock = body["clock"]
        if body.get("events_ns") is not None:     # the trace's: min of firsts, max of lasts
            self.trace.saw_events(*body["events_ns"])

    def part(self, body: dict) -> Part:
        import numpy as np
        if self._np_map is None:
            self._np_map = np.asarray(self.cid_map, dtype=np.int64)
        classes = {}
        for local, cpu, fields in body["columns"]:
            cid = self.cid_map[local]
            classes[cid] = [self.registry.classes[cid], _unpacked(cpu),
                            {name: _unpacked(col) for name, col in fields}]
        discards = [(ts, self.stream_keys[tag] if tag is not None else (),
                     d._replace(stream=self.rename(d.stream)))
                    for ts, tag, d in body["discards"]]
        return Part(ts=_unpacked(body["ts"]), cids=self._np_map[_unpacked(body["cids"])],
                    tags=_unpacked(body["tags"]), stream_keys=self.stream_keys,
                    classes=classes, discards=discards)


def _unpacked(spec):
    """A numpy view of an array column; an interned one as :class:`Interned`; an
    object column as sent."""
    if spec[0] == wire.ARRAY:
        import numpy as np
        return np.frombuffer(spec[2], dtype=np.dtype(spec[1]))
    if spec[0] == wire.INTERNED:
        import numpy as np
        return Interned(spec[1], np.frombuffer(spec[2], dtype=np.int64))
    return spec[1]


class _Renamer:
    """A worker's stream names (under its folder) as the serial decode names them
    (a worker reading the trace's own source names them so already: ``group_dir`` None)."""

    def __init__(self, group_dir: str | None, trace_path: str):
        self.worker = bt2_path(group_dir) + "/" if group_dir else None
        self.serial = bt2_path(trace_path) + "/"

    def __call__(self, name: str) -> str:
        if self.worker is not None and name.startswith(self.worker):
            return self.serial + name[len(self.worker):]
        return name


# -- the worker's side ---------------------------------------------------------------------

class _Work(NamedTuple):
    """What one worker decodes: a group folder, or ports of the trace's prepared source."""
    group_dir: str | None
    source: "prepared.PreparedSource | None"
    ports: list[int] | None
    files: frozenset[str] | None         # the group's stream files, to check the ports by


class WrongStream(Exception):
    """A port carried a stream file of another group: the port guess was wrong."""


def _child(fd: int, trace: TraceInfo, work: _Work, projection: Projection,
           batch_size: int, reader: str, progress: Progress, log: ChildLog) -> None:
    """A worker's whole life: decode the group, send its batches, exit (never returns)."""
    code = 1
    try:
        detach_worker(fd)
        log.attach()
        sender = _Sender(fd)
        try:
            _decode_group(sender, trace, work, projection, batch_size, reader, progress)
        except Exception as exc:          # any failure: the parent replays serially
            sender.put(("error", sendable(exc)))
        sender.finish()
        code = 0
    finally:
        os._exit(code)


def sendable(exc: Exception):
    """A worker's failure as the parent gets it: a corr error whole, others as text."""
    from ..errors import CorrError
    if isinstance(exc, CorrError):
        try:
            import pickle
            pickle.dumps(exc)
            return exc
        except Exception:               # noqa: BLE001
            pass
    return f"{type(exc).__name__}: {exc}"


def detach_worker(fd: int) -> None:
    """Die with the parent, leave Ctrl-C to it, drop the other workers' pipes."""
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)
    for workers in _LIVE:
        for r in workers.receivers:
            try:
                os.close(r.fd)
            except OSError:
                pass                # closed at the fork (containment.close_inherited_pipes)
    gc.disable()        # the worker makes no cycles; collections would only touch shared pages
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_BYTES)
    except OSError:
        pass


def _decode_group(sender, trace, work: _Work, projection, batch_size, reader,
                  progress: Progress | None = None) -> None:
    local = TraceInfo(index=trace.index, path=work.group_dir or trace.path, env=dict(trace.env),
                      clock=trace.clock, offset_ns=trace.offset_ns)
    raw = choose_sink(reader) is native_sink.NativeSink and native_sink.accelerated()
    builder = BatchBuilder(local, ClassRegistry(), projection, batch_size,
                           track_streams=True, raw_ints=raw)
    shipper = _Shipper(builder, work.files)
    try:
        for batch in decode(builder, reader, work.source, work.ports, progress):
            sender.put(("batch", shipper.body(batch)))
    except Exception:
        sender.put(("news", shipper.body(None)))    # what it learned since its last batch
        raise
    sender.put(("end", shipper.body(None)))


class _Sender:
    """Writes the worker's messages from a thread, so decoding goes on meanwhile."""

    def __init__(self, fd: int):
        self.fd = fd
        self.queue: Queue = Queue(maxsize=_AHEAD)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def put(self, msg) -> None:
        self.queue.put(wire.encode(msg))

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        while True:
            parts = self.queue.get()
            if parts is None:
                return
            try:
                wire.write(self.fd, parts)
            except OSError:             # the parent is gone or stopped reading
                os._exit(1)


class _Shipper:
    """Encodes a worker's batches, with what the parent has not been told yet."""

    def __init__(self, builder: BatchBuilder, files: frozenset[str] | None = None):
        self.builder = builder
        self.files = files
        self.classes_sent = 0
        self.streams_sent = 0
        self.cpus_sent: dict[str, int | None] = {}
        self.trace_sent = False

    def body(self, batch: EventBatch | None) -> dict:
        body = self._news()
        if batch is not None:
            body.update(self._events(batch))
        return body

    def _news(self) -> dict:
        builder, trace = self.builder, self.builder.trace
        classes = builder.registry.classes[self.classes_sent:]
        self.classes_sent += len(classes)
        table = builder.stream_table[self.streams_sent:]
        self.streams_sent += len(table)
        for _, _, name in table:
            if self.files is not None and name.rsplit("/", 1)[-1] not in self.files:
                raise WrongStream(f"{name}: not a file of this worker's group")
        cpus = [(name, s.cpu) for name, s in trace.streams.items()
                if self.cpus_sent.get(name, -1) != s.cpu]
        self.cpus_sent.update(cpus)
        body = {"classes": [(c.name, c.trace, c.fields) for c in classes],
                "streams": [(sc, sid, name, self._packet_context(name)) for sc, sid, name in table],
                "cpus": cpus, "events_ns": trace.events_ns}
        if not self.trace_sent and table:
            body["env"], body["clock"] = trace.env, trace.clock
            self.trace_sent = True
        return body

    def _packet_context(self, name: str) -> tuple:
        info = self.builder.trace.streams.get(name)
        return info.packet_context if info is not None else ()

    def _events(self, batch: EventBatch) -> dict:
        tag_of = {name: tag for tag, (_, _, name) in enumerate(self.builder.stream_table)}
        columns = []
        for cid, cols in batch.classes.items():
            types = {f.name: f.type for f in cols.info.fields}
            columns.append((cid, wire.int_column(cols.cpu),
                            [(name, wire.column(values, types.get(name)))
                             for name, values in cols.fields.items()]))
        return {"ts": wire.int_column(batch.ts, signed_only=True),
                "cids": wire.int_column(batch.class_ids, signed_only=True),
                "tags": wire.int_column(batch.mux.streams, signed_only=True),
                "columns": columns,
                "discards": [(ts, tag_of.get(d.stream), d)
                             for ts, d in zip(batch.mux.discards, batch.discards)]}
