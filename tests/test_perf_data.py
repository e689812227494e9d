"""A perf.data's side-band records read without perf (corr.analyses.perf_data).

The C walk over the data section (``_perfdata.records``) against its Python
reference on random record streams, whole or cut short, across the reads
of its buffer; made files, and files it must leave to perf (pipe mode, no
times, compressed records); and ``assert_maps_read_here_are_perf_scripts``,
which tests/test_stacks_recording.py runs on its real recording.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corr.analyses import perf_data, perf_maps

try:
    from corr.analyses import _perfdata
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("the perf.data reader (C) was not built", allow_module_level=True)

RECORDS = st.lists(st.tuples(st.sampled_from([1, 3, 4, 7, 9, 10, 68, 71, 81, 300]),
                             st.integers(0, 0xFFFF), st.integers(8, 200)), max_size=40)


def _records(rows) -> bytes:
    return b"".join(struct.pack("<IHH", kind, misc, size) + bytes([kind & 0xFF]) * (size - 8)
                    for kind, misc, size in rows)


def _walk(tmp_path: Path, data: bytes, lead: int = 24) -> object:
    """The C walk over ``data`` put ``lead`` bytes into a file."""
    path = tmp_path / "section"
    path.write_bytes(b"x" * lead + data)
    fd = os.open(path, os.O_RDONLY)
    try:
        return _perfdata.records(fd, lead, len(data), perf_data.SIDE_BAND, perf_data.STOPS)
    finally:
        os.close(fd)


@settings(max_examples=300, deadline=None)
@given(RECORDS, st.integers(0, 7), st.booleans())
def test_the_c_walk_keeps_what_its_reference_keeps(tmp_path_factory, rows, cut, bad):
    """Whole, cut short, with a record claiming fewer than 8 bytes, or stopped at a
    record it cannot walk past (AUXTRACE, compressed): the kept records, or those
    kept before it stopped, its cause and its offset in the file, are the
    reference's."""
    data = _records(rows)
    if bad and rows:
        data += struct.pack("<IHH", 1, 0, 4) + _records(rows[:1])
    if cut and data:
        data = data[:-cut]
    got = _walk(tmp_path_factory.mktemp("walk"), data)
    want = perf_data.scan_python(data, perf_data.SIDE_BAND, perf_data.STOPS)
    if isinstance(want, tuple):
        assert got == (want[0], want[1], want[2] + 24)
    else:
        assert got == want


def test_records_across_the_walks_buffer_are_kept_whole(tmp_path):
    """Records of up to 64 KiB, 12 MB of them: the walk reads its 4 MiB buffer again
    and again with a record cut at its end; what it keeps is the reference's."""
    rows = [(k % 11, k, 8 + (k * 7919) % 65_000) for k in range(400)]
    data = _records(rows)
    assert len(data) > 3 * (4 << 20)
    got = _walk(tmp_path, data, lead=4_093)
    assert got == perf_data.scan_python(data, perf_data.SIDE_BAND, perf_data.STOPS)
    assert got.count(b"\x03" * 8) and len(got) < len(data)


@pytest.mark.parametrize("ending", ["cut", "short record", "runs past", "stop"])
@pytest.mark.parametrize("room", [0, 3, 8, 20])
def test_the_walk_stops_alike_where_its_buffer_is_read_again(tmp_path, ending, room):
    """Where the 4 MiB buffer ends, ``room`` bytes of a record read so far: a cut, a
    record under 8 bytes, one past the section, or one it stops at are where the
    reference stops, with what it kept."""
    before = (4 << 20) - room                            # bytes before the edge's record
    whole = before // 65_000
    data = _records([(3 if k % 2 else 9, 0, 65_000) for k in range(whole)]
                    + [(1, 0, before - whole * 65_000)])
    assert len(data) == before
    edge = {"cut": _records([(1, 0, 200)])[:-50],
            "short record": struct.pack("<IHH", 1, 0, 5) + bytes(16),
            "runs past": struct.pack("<IHH", 1, 0, 400) + bytes(100),
            "stop": _records([(71, 0, 64)]) + _records([(1, 0, 64)])}[ending]
    data += edge
    got = _walk(tmp_path, data, lead=4_000)
    want = perf_data.scan_python(data, perf_data.SIDE_BAND, perf_data.STOPS)
    assert isinstance(want, tuple) and got == (want[0], want[1], want[2] + 4_000)


def _header(attrs: list[tuple[int, int]], data: bytes, magic: bytes = perf_data.MAGIC,
            ids: list[list[int]] | None = None) -> bytes:
    """A perf.data: header, attrs (sample_type, flags; 64-byte attrs and their ids'
    sections: ``ids``, each event's), the ids, data."""
    ids = ids or [[] for _ in attrs]
    attr_size = 64 + 16
    attrs_at = 104
    ids_at = attrs_at + attr_size * len(attrs)
    data_at = ids_at + 8 * sum(map(len, ids))
    head = magic + struct.pack("<QQQQQQQQ", 104, attr_size, attrs_at, attr_size * len(attrs),
                               data_at, len(data), 0, 0) + bytes(32)
    body, at = [], ids_at
    for (sample_type, flags), mine in zip(attrs, ids):
        body.append(struct.pack("<IIQQQQQ", 2, 64, 0, 1, sample_type, 0, flags) + bytes(16)
                    + struct.pack("<QQ", at if mine else 0, 8 * len(mine)))
        at += 8 * len(mine)
    return head + b"".join(body) + b"".join(struct.pack(f"<{len(m)}Q", *m) for m in ids) + data


TRAILER = perf_data.SAMPLE_TID | perf_data.SAMPLE_TIME | perf_data.SAMPLE_CPU


def _side(kind: int, misc: int, body: bytes, pid: int, ns: int,
          trailer: bytes | None = None) -> bytes:
    """A side-band record with its sample_id_all trailer (``trailer``, else tid, time,
    cpu)."""
    if trailer is None:
        trailer = struct.pack("<iiQII", pid, pid, ns, 0, 0)
    payload = body + bytes(-len(body) % 8) + trailer
    return struct.pack("<IHH", kind, misc, 8 + len(payload)) + payload


def _mmap2(pid: int, ns: int, start: int, size: int, pgoff: int, prot: int, path: str,
           trailer: bytes | None = None) -> bytes:
    body = struct.pack("<iiQQQ", pid, pid, start, size, pgoff) + bytes(24) \
        + struct.pack("<II", prot, 2) + path.encode() + b"\0"
    return _side(perf_data.RECORD_MMAP2, 0, body, pid, ns, trailer)


def test_a_made_perf_data_gives_its_maps_forks_and_execs(tmp_path):
    """Records out of time order (as a perf.data's CPUs' buffers are written): read
    in time order, each mapping in the image of its time; the kernel's reference
    symbol; a data mapping (an old MMAP record) left out; a sample skipped."""
    sample = struct.pack("<IHH", 9, 0, 40) + bytes(32)
    exec_comm = _side(perf_data.RECORD_COMM, perf_data.MISC_COMM_EXEC,
                      struct.pack("<ii", 50, 50) + b"prog\0", 50, 2_000)
    fork = _side(perf_data.RECORD_FORK, 0, struct.pack("<iiiiQ", 50, 40, 51, 40, 1_500), 50,
                 1_500)
    kernel = _side(perf_data.RECORD_MMAP, 0, struct.pack("<iiQQQ", -1, 0, 0xFFFF_FFFF_8100_0000,
                                                         1 << 24, 0xFFFF_FFFF_8100_0000)
                   + b"[kernel.kallsyms]_text\0", -1, 0)
    data_map = _side(perf_data.RECORD_MMAP, perf_data.MISC_MMAP_DATA,
                     struct.pack("<iiQQQ", 50, 50, 0x9000, 0x1000, 0) + b"/data\0", 50, 2_600)
    data = b"".join([_mmap2(50, 3_000, 0x4000, 0x2000, 0x1000, 5, "/bin/new"), sample,
                     exec_comm, kernel, fork, data_map,
                     _mmap2(50, 1_000, 0x4000, 0x1000, 0, 5, "/bin/old"),
                     _mmap2(50, 2_500, 0x7000, 0x1000, 0, 3, "/not/code")])
    path = tmp_path / "perf.data"
    path.write_bytes(_header([(TRAILER | 1 << 5, perf_data.SAMPLE_ID_ALL)] * 2, data))
    found = perf_maps.PerfMaps()
    assert perf_data.read_maps(path, found)
    assert found.kernel_text == 0xFFFF_FFFF_8100_0000
    assert found.execs == {50: [2_000]} and found.parent == {50: (40, 1_500)}
    assert found.pid_of == {51: 50}
    assert found.maps == {(50, 0): [(0x4000, 0x5000, 0, "/bin/old", 1_000)],
                          (50, 1): [(0x4000, 0x6000, 0x1000, "/bin/new", 3_000)]}


def test_events_of_different_fields_are_told_apart_by_their_identifier(tmp_path):
    """Events whose sample_id_all fields differ (a tracepoint and a sampling event,
    say) end each record with its event's id (PERF_SAMPLE_IDENTIFIER): each record's
    time is found by its event's fields (id 0, a record perf made up, by the first
    event's, as perf reads it); an id no event has leaves the file to perf."""
    first = TRAILER | perf_data.SAMPLE_IDENTIFIER                 # tid, time, cpu, id
    second = perf_data.SAMPLE_TIME | perf_data.SAMPLE_ID | perf_data.SAMPLE_IDENTIFIER

    def mmap2(ident, fields, ns, start, path):
        trailer = (struct.pack("<iiQII", 50, 50, ns, 0, 0) if fields == first
                   else struct.pack("<QQ", ns, ident)) + struct.pack("<Q", ident)
        return _mmap2(50, ns, start, 0x1000, 0, 5, path, trailer)
    # The second record perf made up when it started (id 0): the first event's fields.
    records = mmap2(7, second, 3_000, 0x8000, "/bin/b") + mmap2(0, first, 1_000, 0x4000,
                                                                 "/bin/a")
    attrs = [(first, perf_data.SAMPLE_ID_ALL), (second, perf_data.SAMPLE_ID_ALL)]
    path = tmp_path / "perf.data"
    path.write_bytes(_header(attrs, records, ids=[[3, 4], [7]]))
    found = perf_maps.PerfMaps()
    assert perf_data.read_maps(path, found)
    assert found.maps == {(50, 0): [(0x4000, 0x5000, 0, "/bin/a", 1_000),
                                    (0x8000, 0x9000, 0, "/bin/b", 3_000)]}
    unknown = mmap2(5, first, 2_000, 0x6000, "/bin/c")
    path.write_bytes(_header(attrs, records + unknown, ids=[[3, 4], [7]]))
    assert not perf_data.read_maps(path, perf_maps.PerfMaps())


@pytest.mark.parametrize("change", ["magic", "no sample_id_all", "no time", "two trailers",
                                    "compressed", "auxtrace", "cut short", "short record",
                                    "huge size", "no records"])
def test_a_perf_data_not_read_here_is_left_to_perf(tmp_path, change):
    """A file this reader does not read whole says so (read_maps is False): perf
    script reads its maps then."""
    records = _mmap2(50, 1_000, 0x4000, 0x1000, 0, 5, "/bin/x")
    attrs = [(TRAILER, perf_data.SAMPLE_ID_ALL)]
    magic = perf_data.MAGIC
    if change == "magic":
        magic = b"PERFILE1"
    elif change == "no sample_id_all":
        attrs = [(TRAILER, 0)]
    elif change == "no time":
        attrs = [(TRAILER & ~perf_data.SAMPLE_TIME, perf_data.SAMPLE_ID_ALL)]
    elif change == "two trailers":
        attrs = attrs + [(TRAILER | perf_data.SAMPLE_IDENTIFIER, perf_data.SAMPLE_ID_ALL)]
    elif change == "compressed":
        records += _side(perf_data.RECORD_COMPRESSED, 0, bytes(16), 50, 2_000)
    elif change == "auxtrace":          # its data (uncounted) looks like an mmap
        records += _side(perf_data.RECORD_AUXTRACE, 0, bytes(16), 50, 2_000) \
            + _mmap2(50, 3_000, 0x7000, 0x1000, 0, 5, "/not/a/map")
    elif change == "short record":     # an mmap too short for its fields
        records += _side(perf_data.RECORD_MMAP, 0, bytes(8), 50, 2_000)
    elif change == "no records":
        records = b""
    path = tmp_path / "perf.data"
    written = bytearray(_header(attrs, records, magic))
    if change == "huge size":
        written[48:56] = struct.pack("<Q", 1 << 63)
    path.write_bytes(bytes(written[:-3] if change == "cut short" else written))
    assert not perf_data.read_maps(path, perf_maps.PerfMaps())
    # Read beside the model's building, in a thread: nothing raised, perf asked.
    started = perf_maps.start_perf_maps(path)
    started.thread.join()
    assert started.done == [False]


def assert_maps_read_here_are_perf_scripts(path: Path) -> None:
    """What ``perf script`` prints of a perf.data's side-band events, and what is read
    of them here, make the same maps."""
    here = perf_maps.PerfMaps()
    assert perf_data.read_maps(path, here)
    perf = perf_maps.read_perf_maps(path, perf_maps.start_perf_script(path))
    assert perf is not None
    for attribute in ("maps", "execs", "parent", "pid_of", "kernel_text"):
        assert getattr(here, attribute) == getattr(perf, attribute), attribute
    assert here.maps and here.pid_of and here.kernel_text


def test_a_recording_whose_perf_record_never_ended_gives_the_maps_before_its_cut(tmp_path):
    """perf record killed: the header's data size still 0, the last record cut short.
    The records up to the cut are read (perf itself refuses such a file)."""
    whole = _mmap2(50, 1_000, 0x4000, 0x1000, 0, 5, "/bin/x")
    cut = _mmap2(50, 2_000, 0x8000, 0x1000, 0, 5, "/bin/y")
    written = bytearray(_header([(TRAILER, perf_data.SAMPLE_ID_ALL)], whole + cut))
    written[48:56] = bytes(8)                       # data.size
    path = tmp_path / "perf.data"
    path.write_bytes(bytes(written[:-5]))
    found = perf_maps.PerfMaps()
    assert perf_data.read_maps(path, found)
    assert found.maps == {(50, 0): [(0x4000, 0x5000, 0, "/bin/x", 1_000)]}
    # Its size written, the same file is cut short: not read here.
    written[48:56] = struct.pack("<Q", len(whole + cut))
    path.write_bytes(bytes(written[:-5]))
    assert not perf_data.read_maps(path, perf_maps.PerfMaps())
