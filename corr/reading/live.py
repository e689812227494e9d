"""Reading an LTTng live session through ``lttng-relayd``: ``net://HOST[:PORT]/host/HOSTNAME/SESSION``.

babeltrace2's ``src.ctf.lttng-live`` runs in a forked, watched child, as
every babeltrace2 call on a trace does (:mod:`containment`): a relay daemon
is as untrusted as a trace folder.  The child starts when the trace is
opened: it waits for the session's first stream to learn what
:func:`metadata.load` learns of a folder (environment, clock, event
classes), sends that, then decodes every event (the rules' projection is
not known yet; a live session's rate is a person's, not a disk's) and
sends a batch each time the source goes quiet (babeltrace2's "try again"),
or has held events for :data:`MAX_HOLD_S`, so that what arrived is matched
at once, not when 32k events are there.

The live clock: while a stream has no data, the relay sends beacons and
babeltrace2 turns them into message-iterator-inactivity messages whose
clock snapshot says "nothing before this time will come".  Each batch
carries the latest as ``quiet_ns`` (on the common time base), also a batch
without events: the engine announces the timeouts due by then
(:mod:`corr.engine.decisions`) although no event came.  The beacons come
every live timer period (``lttng create --live=USEC``), so a timeout is
reported about a period (plus the relay's round trip) after its deadline.

The watchdog: the child ticks its progress counter on every poll of the
relay, also when there is nothing to read, so a quiet session is never
taken for a stalled decoder; a relay that stops answering is (after
``CORR_DECODE_STALL_S``).  The session's end (``lttng destroy``) ends the
stream; Ctrl-C in the parent ends it too, as if the session had ended there
(:attr:`LiveSource.interrupted`): while the stream is read, SIGINT stops the
child instead of raising KeyboardInterrupt, so the pass ends as at the end of
the session and its result is whole.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

from ..errors import TraceDecodeError, TraceError
from .batch import EventBatch
from .traceinfo import StreamInfo, TraceInfo

URL = re.compile(r"^net6?://(?P<host>\[[^\]]+\]|[^/:]+)(?::(?P<port>\d+))?"
                 r"/host/(?P<hostname>[^/]+)/(?P<session>[^/]+)/?$")
# How long the child sleeps when the relay has nothing (babeltrace2 asks again at once).
POLL_S = 0.05
# A session that is never quiet still has its events matched this often.
MAX_HOLD_S = 0.2


def is_live(path) -> bool:
    """Whether a trace argument names a live session (``net://...``) rather than a path."""
    return isinstance(path, str) and (path.startswith("net://") or path.startswith("net6://"))


def check_url(url: str) -> str:
    """``url`` if it is a live session's URL, else a TraceError saying what one looks like."""
    if URL.match(url) is None:
        raise TraceError(url, "not a live session URL: expected net://HOST[:PORT]/host/"
                              "HOSTNAME/SESSION (lttng list --host, or lttng-relayd's -L)")
    return url


class LiveSource:
    """One live session's child process: its pipe, watchdog and what it said so far."""

    def __init__(self, trace: TraceInfo):
        from . import wire
        from .containment import Watchdog, fork_watched, stall_seconds
        self.trace = trace
        self.interrupted = False          # Ctrl-C ended the stream
        self._cid_map: list[int] = []
        pid, read_fd, write_fd, progress, log = fork_watched()
        if pid == 0:
            _child(write_fd, trace.path, trace.index, progress, log)
        os.close(write_fd)
        self.pid = pid
        self.receiver = wire.Receiver(read_fd)
        self.watchdog = Watchdog(pid, progress, log, stall_seconds())
        self.events = 0
        self.last_ts: int | None = None

    def hello(self) -> None:
        """Wait for the session's first stream: fill the trace's env, clock and classes."""
        kind, body = self._next()
        if kind == "error":
            self.close()
            raise body
        if kind == "end":                 # the session ended before any stream
            self.trace.env = {}
            self._ended = True
            return
        self._ended = False
        self.trace.env = body["env"]
        self.trace.clock = body["clock"]
        self.trace.class_names = body["classes"]

    def interrupt(self) -> None:
        """End the stream here, as if the session had ended (Ctrl-C): the child is
        killed, which wakes the wait on its pipe.  Safe in a signal handler."""
        self.interrupted = True
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _next(self):
        from .containment import DecoderDied, DecoderStalled, trace_error
        try:
            msg = self.receiver.recv(self.watchdog.wait_readable)
            if self.interrupted:
                return "end", {}
            if msg is None:
                self.watchdog.ended()
                return "error", TraceDecodeError(self.trace.path, "the live reader exited "
                                                 "without finishing", self.last_ts, self.events)
            return msg
        except (DecoderDied, DecoderStalled) as exc:
            if self.interrupted:
                return "end", {}
            return "error", trace_error(exc, self.trace.path, "the live session", self.events,
                                        self.last_ts)

    def batches(self, registry):
        """The session's events as they come, a batch each time the source went quiet;
        a batch may hold no event and only ``quiet_ns``.  Ends with the session, or on
        Ctrl-C (:attr:`interrupted`)."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, lambda *_: self.interrupt())
        try:
            if getattr(self, "_ended", False):
                return
            while True:
                kind, body = self._next()
                if kind == "error":
                    raise body
                self._learn(body, registry)
                if kind == "end":
                    return
                batch = self._batch(body, registry)
                self.events += len(batch.ts)
                if batch.ts:
                    self.last_ts = batch.ts[-1]
                yield batch
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            self.close()

    def _learn(self, body: dict, registry) -> None:
        for name, trace_index, fields in body.get("new_classes", ()):
            self._cid_map.append(registry.intern(name, trace_index, fields).id)
        if body.get("events_ns") is not None:
            self.trace.saw_events(*body["events_ns"])
        for name, cpu, packet_context in body.get("streams", ()):
            self.trace.streams[name] = StreamInfo(name, cpu, packet_context)
        self.trace.stream_count = len(self.trace.streams)

    def _batch(self, body: dict, registry) -> EventBatch:
        from .batch import ClassColumns, Discard
        cid_map = self._cid_map
        classes = {}
        for local, (cpu, fields) in body["columns"].items():
            cid = cid_map[local]
            cols = ClassColumns(registry.classes[cid], list(fields))
            cols.cpu = cpu
            cols.fields = fields
            classes[cid] = cols
        batch = EventBatch(ts=body["ts"], class_ids=[cid_map[c] for c in body["cids"]],
                           classes=classes,
                           discards=[Discard(*d) for d in body["discards"]])
        batch.quiet_ns = body["quiet_ns"]
        return batch

    def close(self) -> None:
        from .containment import kill
        if self.pid is not None:
            kill(self.pid)
            self.pid = None
            os.close(self.receiver.fd)
            self.watchdog.log.close()


def open_live(url: str, index: int) -> TraceInfo:
    """A TraceInfo for a live session, its reader started and its first stream seen."""
    trace = TraceInfo(index=index, path=check_url(url))
    trace.live = LiveSource(trace)
    trace.live.hello()
    return trace


# -- the child ---------------------------------------------------------------------------------

def _child(fd: int, url: str, index: int, progress, log) -> None:
    """The live reader's whole life: connect, decode, send, exit (never returns)."""
    code = 1
    try:
        from . import wire
        from .parallel import detach_worker
        detach_worker(fd)
        log.attach()
        try:
            _read(fd, url, index, progress)
        except Exception as exc:            # noqa: BLE001 (sent to the parent)
            from .parallel import sendable
            error = sendable(exc)
            if not isinstance(error, BaseException):
                error = TraceError(url, f"live session: {error}")
            wire.send(fd, ("error", error))
        code = 0
    finally:
        os._exit(code)


def _read(fd: int, url: str, index: int, progress) -> None:
    import bt2

    from . import wire
    from .errors_bt2 import describe
    from .projection import Projection
    from .sink_common import BatchBuilder, ClassRegistry

    trace = TraceInfo(index=index, path=url)
    builder = BatchBuilder(trace, ClassRegistry(), Projection.all(), 1 << 15)
    builder.quiet_ns = None
    builder.stream_classes = {}
    graph = bt2.Graph()
    try:
        src = graph.add_component(bt2.find_plugin("ctf").source_component_classes["lttng-live"],
                                  "src", {"inputs": [url], "session-not-found-action": "fail"})
        mux = graph.add_component(bt2.find_plugin("utils").filter_component_classes["muxer"],
                                  "mux")
        sink = graph.add_component(_live_sink_class(), "sink", obj=builder)
        graph.connect_ports(src.output_ports["out"], mux.input_ports["in0"])
        graph.connect_ports(mux.output_ports["out"], sink.input_ports["in"])
    except bt2._Error as exc:
        raise TraceError(url, f"cannot read the live session: {describe(exc)}") from None
    progress.opened()
    sent_classes = 0
    said_hello = False
    sent_quiet = None
    sent_at = time.monotonic()

    def send(kind: str, batch: EventBatch | None) -> None:
        nonlocal sent_classes, sent_quiet
        classes = builder.registry.classes[sent_classes:]
        sent_classes += len(classes)
        body = {"new_classes": [(c.name, c.trace, c.fields) for c in classes],
                "events_ns": trace.events_ns,
                "streams": [(s.name, s.cpu, s.packet_context) for s in trace.streams.values()],
                "quiet_ns": builder.quiet_ns}
        sent_quiet = builder.quiet_ns
        if batch is not None:
            body.update(ts=list(batch.ts), cids=list(batch.class_ids),
                        columns={cid: (cols.cpu, cols.fields) for cid, cols in batch.classes.items()},
                        discards=[tuple(d) for d in batch.discards])
        wire.send(fd, (kind, body))

    while True:
        progress.tick()
        try:
            graph.run_once()
            quiet = False
        except bt2.Stop:
            break
        except bt2.TryAgain:
            quiet = True
        except bt2._Error as exc:
            raise _read_error(url, describe(exc)) from None
        if not said_hello and trace.streams:
            wire.send(fd, ("hello", {"env": trace.env, "clock": trace.clock,
                                     "classes": stream_class_names(builder)}))
            said_hello = True
        held = builder.batch.ts and time.monotonic() - sent_at >= MAX_HOLD_S
        if quiet or builder.ready or held:
            sent_at = time.monotonic()
            builder.flush()
            ready = builder.take()
            if said_hello:
                for batch in ready:
                    send("batch", batch)
                if not ready and builder.quiet_ns != sent_quiet:
                    send("batch", EventBatch())
            if quiet:
                time.sleep(POLL_S)
    builder.flush()
    if said_hello:
        for batch in builder.take():
            send("batch", batch)
    send("end", None)


def _read_error(url: str, text: str) -> TraceError:
    """babeltrace2's failure to read a session, in corr's words where they are known."""
    if "session-not-found-action" in text:
        match = URL.match(url)
        return TraceError(url, f"the relay daemon has no live session "
                               f"{match.group('session')!r} of host {match.group('hostname')!r} "
                               f"(a session created with lttng create --live, sending to this "
                               f"relay daemon)")
    return TraceError(url, f"cannot read the live session: {text}")


def stream_class_names(builder) -> list[str]:
    """The event class names of the stream classes the sink has seen."""
    names = []
    for stream_class in builder.stream_classes.values():
        names.extend(ec.name for ec in stream_class.values())
    return sorted(set(names))


_SINK = None


def _live_sink_class():
    """The public sink, plus the live clock (inactivity messages) and the stream classes."""
    global _SINK
    if _SINK is not None:
        return _SINK
    import bt2

    from .public_sink import PublicSink

    class LiveSink(PublicSink, bt2._UserSinkComponent):   # bt2 looks at the direct bases
        def __init__(self, config, params, builder):
            super().__init__(config, params, builder)

        def _user_consume(self):
            msg = next(self._iter)
            builder = self._builder
            if isinstance(msg, bt2._MessageIteratorInactivityMessageConst):
                ns = msg.clock_snapshot.ns_from_origin + builder.trace.offset_ns
                if builder.quiet_ns is None or ns > builder.quiet_ns:
                    builder.quiet_ns = ns
                return
            if isinstance(msg, bt2._StreamBeginningMessageConst):
                builder.stream_classes[msg.stream.cls.addr] = msg.stream.cls
            self._iter = _Replay(msg, self._iter)
            try:
                PublicSink._user_consume(self)
            finally:
                self._iter = self._iter.rest
            if isinstance(msg, bt2._EventMessageConst):
                ns = msg.default_clock_snapshot.ns_from_origin + builder.trace.offset_ns
                if builder.quiet_ns is None or ns > builder.quiet_ns:
                    builder.quiet_ns = ns

    _SINK = LiveSink
    return _SINK


class _Replay:
    """An iterator that gives one message already taken, then the rest."""

    def __init__(self, msg, rest):
        self.msg, self.rest = msg, rest

    def __next__(self):
        msg, self.msg = self.msg, None
        if msg is None:
            return next(self.rest)
        return msg
