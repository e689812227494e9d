"""A perf.data file's side-band records, read without perf: where each process
mapped its files, which thread is in which process, when each exec'd.

What ``perf script --show-mmap-events --show-task-events`` prints of them
(perf_maps.read_perf_maps, the reference), read straight from the file:
perf maps the whole file to print them (a 400 MB recording cost 380 MB of
memory and a third of a second of CPU), where the records are found here a
few megabytes at a time by ``_perfdata.records`` (C; :func:`scan_python` is
its reference), and the few thousand side-band ones parsed in Python.

Only what the layout of linux/perf_event.h and tools/perf/util/header.h says
is read: a little-endian file (``PERFILE2``) whose events carry
``sample_id_all`` fields with the time (which give each record its time):
all the same fields, or each event's told by the identifier that ends them
(perf adds it where the events differ).  Anything else (a pipe-mode or
compressed recording, AUX area data, a file cut short) is not read, and the
caller asks perf; but a recording whose perf record was killed (its data size
never written, its last record maybe cut) is read up to the cut, where perf
refuses it.
"""

from __future__ import annotations

import os
import struct
from typing import NamedTuple

MAGIC = b"PERFILE2"
RECORD_MMAP, RECORD_COMM, RECORD_FORK, RECORD_MMAP2 = 1, 3, 7, 10
SIDE_BAND = bytes((RECORD_MMAP, RECORD_COMM, RECORD_FORK, RECORD_MMAP2))
# Records the walk cannot go past or read: AUXTRACE's data (intel_pt, arm_spe...)
# follows it, uncounted in its size; a compressed one (perf record -z) holds the
# others.  The walk stops at them and perf script reads the file.
RECORD_AUXTRACE, RECORD_COMPRESSED = 71, 81
STOPS = bytes((RECORD_AUXTRACE, RECORD_COMPRESSED))
NOT_READ_HERE = "a record of a type not read here"
MISC_MMAP_DATA = MISC_COMM_EXEC = 1 << 13
PROT_EXEC = 4
# perf_event_attr.sample_type bits that a record's sample_id_all fields hold, in
# the order they are written (each one u64).
SAMPLE_TID, SAMPLE_TIME, SAMPLE_ID, SAMPLE_CPU = 1 << 1, 1 << 2, 1 << 6, 1 << 7
SAMPLE_STREAM_ID, SAMPLE_IDENTIFIER = 1 << 9, 1 << 16
ID_FIELDS = (SAMPLE_TID, SAMPLE_TIME, SAMPLE_ID, SAMPLE_STREAM_ID, SAMPLE_CPU, SAMPLE_IDENTIFIER)
SAMPLE_ID_ALL = 1 << 18               # in perf_event_attr's flags word


class Layout(NamedTuple):
    """Where a perf.data's records are, and where a record's time is."""

    data_offset: int
    data_size: int
    # A record's (time: this many bytes before its end, the bytes of its sample_id_all
    # fields); by the event id its fields end with (None: every record's).
    trailers: dict
    unfinished: bool = False          # perf record did not end: the data runs to the end

    def trailer(self, record: bytes, end: int) -> tuple[int, int]:
        """(time from the end, trailer bytes) of the record ending at ``end``
        (struct.error for an id no event has)."""
        found = self.trailers.get(None)
        if found is None:
            ident, = struct.unpack_from("<Q", record, end - 8)
            found = self.trailers.get(ident)
            if found is None:
                raise struct.error(f"a record of no event (id {ident})")
        return found


def layout(path) -> Layout | None:
    """The layout of the perf.data at ``path``; None where it is not one read here."""
    try:
        with open(path, "rb") as f:
            file_size = os.fstat(f.fileno()).st_size
            head = f.read(104)
            if len(head) < 104 or head[:8] != MAGIC:
                return None
            size, attr_size, attrs_at, attrs_size, data_at, data_size = struct.unpack_from(
                "<QQQQQQ", head, 8)
            if size != 104 or attr_size < 48 or attrs_size % attr_size or not attrs_size:
                return None
            f.seek(attrs_at)
            attrs = f.read(attrs_size)
    except OSError:
        return None
    if len(attrs) != attrs_size or data_at < 104 or data_at + data_size > file_size:
        return None
    events = []                                     # (its trailer, its ids' section)
    for at in range(0, attrs_size, attr_size):
        sample_type, = struct.unpack_from("<Q", attrs, at + 24)
        flags, = struct.unpack_from("<Q", attrs, at + 40)
        fields = sample_type & sum(ID_FIELDS)
        if not flags & SAMPLE_ID_ALL or not fields & SAMPLE_TIME:
            return None
        after_time = sum(1 for bit in ID_FIELDS[ID_FIELDS.index(SAMPLE_TIME) + 1:]
                         if fields & bit)
        events.append(((8 * (after_time + 1), 8 * sum(1 for bit in ID_FIELDS if fields & bit)),
                       struct.unpack_from("<QQ", attrs, at + attr_size - 16), fields))
    if len({trailer for trailer, _, _ in events}) == 1:
        trailers = {None: events[0][0]}
    elif all(fields & SAMPLE_IDENTIFIER for _, _, fields in events):
        trailers = _by_id(path, events, file_size)
        if trailers is None:
            return None
    else:
        return None
    if data_size == 0:
        # perf record killed before it wrote the size: its records run to the end of
        # the file, the last maybe cut short.
        return Layout(data_at, file_size - data_at, trailers, True)
    return Layout(data_at, data_size, trailers)


def _by_id(path, events, file_size: int) -> dict | None:
    """Each event id -> its event's (time from the end, trailer bytes), from the ids'
    sections of the events (perf_file_attr.ids), and id 0 (records perf made up, as
    the maps of processes running when it started) the first event's, as perf reads
    them; None where a section cannot be read."""
    found: dict = {}
    try:
        with open(path, "rb") as f:
            for trailer, (at, size), _ in events:
                if size % 8 or at + size > file_size:
                    return None
                f.seek(at)
                data = f.read(size)
                if len(data) != size:
                    return None
                for ident in struct.unpack(f"<{size // 8}Q", data):
                    found[ident] = trailer
    except OSError:
        return None
    found[0] = events[0][0]          # what perf synthesized at the start: the first event's
    return found


def scan_python(data: bytes, wanted: bytes, stops: bytes = b"") -> bytes | tuple[bytes, str, int]:
    """The reference of ``_perfdata.records`` over a data section held in memory
    (offsets where it stopped counted from its start)."""
    kinds, stop = set(wanted), set(stops)
    out, at = [], 0
    while at < len(data):
        if at + 8 > len(data):
            return (b"".join(out), "the data section ends inside a record", at)
        kind, _, size = struct.unpack_from("<IHH", data, at)
        if size < 8:
            return (b"".join(out), "a record of fewer than 8 bytes", at)
        if at + size > len(data):
            return (b"".join(out), "a record runs past the data section", at)
        if kind in stop:
            return (b"".join(out), NOT_READ_HERE, at)
        if kind in kinds:
            out.append(data[at:at + size])
        at += size
    return b"".join(out)


def side_band_records(path, found: Layout) -> bytes | None:
    """The side-band records of the perf.data at ``path``, end to end (None when the C
    reader is not built, or the file is not whole)."""
    try:
        from . import _perfdata
    except ImportError:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        kept = _perfdata.records(fd, found.data_offset, found.data_size, SIDE_BAND, STOPS)
    except (OSError, OverflowError):
        return None
    finally:
        os.close(fd)
    if isinstance(kept, bytes):
        return kept
    # Cut short: the records before the cut where perf record never ended (its last
    # write may be partial), else not a whole file.
    return kept[0] if found.unfinished and kept[1] != NOT_READ_HERE else None


def read_maps(path, into) -> bool:
    """Give ``into`` (a PerfMaps) what the side-band records of the perf.data at
    ``path`` say, in time order (as perf script prints them), then finish it;
    whether they could be read here."""
    found = layout(path)
    records = side_band_records(path, found) if found is not None else None
    if not records:
        return False
    try:
        events = _events(records, found)
    except struct.error:                    # a record shorter than its layout
        return False
    for ns, _, kind, misc, body in events:
        if kind in (RECORD_MMAP, RECORD_MMAP2):
            pid, _, start, length, pgoff = struct.unpack_from("<iiQQQ", body)
            if kind == RECORD_MMAP:
                executable, name_at = not misc & MISC_MMAP_DATA, 32
            else:
                prot, = struct.unpack_from("<I", body, 56)
                executable, name_at = bool(prot & PROT_EXEC), 64
            into.mapped(pid, ns, start, length, pgoff, executable, _text(body, name_at))
        elif kind == RECORD_FORK:
            pid, ppid, tid, _ = struct.unpack_from("<iiii", body)
            into.forked(pid, tid, ppid, ns)
        elif kind == RECORD_COMM and misc & MISC_COMM_EXEC:
            pid, = struct.unpack_from("<i", body)
            into.executed(pid, ns)
    into.finish()
    return True


def _events(records: bytes, found: Layout) -> list:
    """(time, place, type, misc, body without the sample_id_all fields) of each record,
    in time order (struct.error for a record too short for its layout)."""
    events = []
    at = 0
    while at < len(records):
        kind, misc, size = struct.unpack_from("<IHH", records, at)
        time_from_end, trailer = found.trailer(records, at + size)
        if size < 8 + trailer + _SMALLEST[kind]:
            raise struct.error(f"a record of type {kind} of {size} bytes")
        ns, = struct.unpack_from("<Q", records, at + size - time_from_end)
        events.append((ns, len(events), kind, misc, records[at + 8:at + size - trailer]))
        at += size
    events.sort()
    return events


# The fewest bytes of a record's body (its name at least a NUL).
_SMALLEST = {RECORD_MMAP: 33, RECORD_MMAP2: 65, RECORD_COMM: 9, RECORD_FORK: 24}


def _text(body: bytes, at: int) -> str:
    """A NUL-ended name, as perf prints it."""
    end = body.find(b"\0", at)
    return body[at:end if end >= 0 else len(body)].decode("utf-8", "backslashreplace")
