"""Damage a copy of a CTF trace the ways disks, copies and buggy tracers do.

Each mutator is ``mutator(root, rng, params) -> params``: with ``params`` None it
chooses them with ``rng`` (offsets, values, files, relative to ``root``), then
applies them; given ``params`` (a stored regression recipe) it only applies
them.  Files are rewritten whole, never edited through a shared inode.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

STREAM_MAGIC = 0xC1FC1FC1
METADATA_MAGIC = 0x75D11D57
METADATA_HEADER = 37       # magic, uuid, checksum, content_size, packet_size, 5 one-byte fields
SIGNATURE = b"/* CTF 1.8"


def files(root: Path) -> dict[str, list[str]]:
    """The trace's files by role, as paths relative to ``root`` (sorted: seeds reproduce)."""
    out = {"metadata": [], "index": [], "stream": []}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = str(path.relative_to(root))
        if path.name == "metadata":
            out["metadata"].append(rel)
        elif path.suffix == ".idx":
            out["index"].append(rel)
        elif path.name != "recording.txt":
            out["stream"].append(rel)
    return out


def _pick_file(root, rng, weights=(("stream", 5), ("metadata", 4), ("index", 1))) -> str:
    found = files(root)
    roles = [role for role, _ in weights if found[role]]
    role = rng.choices(roles, [w for r, w in weights if r in roles])[0]
    return rng.choice(found[role])


def _rewrite(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def is_packetized(data: bytes) -> bool:
    return len(data) >= 4 and struct.unpack("<I", data[:4])[0] == METADATA_MAGIC


def packet_starts(data: bytes, magic: int) -> list[int]:
    """Offsets where a packet with that (little-endian) magic starts."""
    needle = struct.pack("<I", magic)
    return [m.start() for m in re.finditer(re.escape(needle), data)]


def metadata_text(data: bytes) -> bytes:
    """The TSDL text of a metadata file, packetized or plain."""
    if not is_packetized(data):
        return data
    text, pos = bytearray(), 0
    while pos + METADATA_HEADER <= len(data):
        content_bits, packet_bits = struct.unpack_from("<II", data, pos + 24)
        if packet_bits < 8 * METADATA_HEADER or content_bits > packet_bits:
            break
        text += data[pos + METADATA_HEADER: pos + content_bits // 8]
        pos += packet_bits // 8
    return bytes(text)


# -- byte-level damage -----------------------------------------------------------------

def bit_flip(root, rng, params):
    p = params
    if p is None:
        name = _pick_file(root, rng)
        size = (root / name).stat().st_size
        p = {"file": name, "flips": [[rng.randrange(max(size, 1)), rng.randrange(8)]
                                     for _ in range(rng.choice([1, 1, 2, 4, 16]))]}
    data = bytearray((root / p["file"]).read_bytes())
    for offset, bit in p["flips"]:
        if offset < len(data):
            data[offset] ^= 1 << bit
    _rewrite(root / p["file"], bytes(data))
    return p


def overwrite(root, rng, params):
    p = params
    if p is None:
        name = _pick_file(root, rng)
        size = (root / name).stat().st_size
        length = rng.choice([1, 2, 4, 8, 16, 64])
        fill = rng.choice(["zero", "ones", "random"])
        value = {"zero": b"\0" * length, "ones": b"\xff" * length,
                 "random": bytes(rng.randrange(256) for _ in range(length))}[fill]
        p = {"file": name, "offset": rng.randrange(max(size, 1)), "bytes": value.hex()}
    data = bytearray((root / p["file"]).read_bytes())
    value = bytes.fromhex(p["bytes"])
    data[p["offset"]:p["offset"] + len(value)] = value
    _rewrite(root / p["file"], bytes(data))
    return p


def truncate_stream(root, rng, params):
    p = params
    if p is None:
        name = rng.choice(files(root)["stream"])
        size = (root / name).stat().st_size
        if rng.random() < 0.4 and size > 4096:     # at or near a packet boundary
            cut = rng.randrange(1, size // 4096 + 1) * 4096 + rng.choice([-8, -1, 0, 1, 24, 40])
        else:
            cut = rng.randrange(size + 1)
        p = {"file": name, "size": max(0, min(cut, size))}
    data = (root / p["file"]).read_bytes()
    _rewrite(root / p["file"], data[:p["size"]])
    return p


def truncate_metadata(root, rng, params):
    p = params
    if p is None:
        name = rng.choice(files(root)["metadata"])
        data = (root / name).read_bytes()
        starts = packet_starts(data, METADATA_MAGIC) if is_packetized(data) else []
        if starts and rng.random() < 0.5:          # inside or just after a packet header
            cut = rng.choice(starts) + rng.choice([0, 2, 4, 20, 28, 36, 37, 38, 100])
        else:
            cut = rng.randrange(len(data) + 1)
        p = {"file": name, "size": min(cut, len(data))}
    data = (root / p["file"]).read_bytes()
    _rewrite(root / p["file"], data[:p["size"]])
    return p


def delete_file(root, rng, params):
    p = params
    if p is None:
        found = files(root)
        choices = found["metadata"] + found["stream"] + found["index"]
        indexes = sorted({str(Path(i).parent) for i in found["index"]})
        p = {"path": rng.choice(choices + indexes)}
    target = root / p["path"]
    if target.is_dir():
        for child in sorted(target.rglob("*"), reverse=True):
            child.unlink() if child.is_file() else child.rmdir()
        target.rmdir()
    elif target.exists():
        target.unlink()
    return p


def swap_files(root, rng, params):
    p = params
    if p is None:
        found = files(root)
        pairs = []
        if len(found["metadata"]) > 1:
            pairs.append(found["metadata"][:2])                  # kernel and UST metadata
        if found["stream"]:
            pairs.append([found["metadata"][0], rng.choice(found["stream"])])
        if len(found["stream"]) > 1:
            pairs.append(rng.sample(found["stream"], 2))
        if len(found["index"]) > 1:
            pairs.append(rng.sample(found["index"], 2))
        p = {"files": rng.choice(pairs)}
    a, b = (root / name for name in p["files"])
    data_a, data_b = a.read_bytes(), b.read_bytes()
    _rewrite(a, data_b)
    _rewrite(b, data_a)
    return p


# -- structure-aware damage --------------------------------------------------------------

# (offset from the packet's start, width) of the fields of LTTng's and perf's packet
# header and context: magic, uuid, stream_id, then 8-byte words (stream_instance_id or
# timestamp_begin, timestamp_end, content_size, packet_size, packet_seq_num,
# events_discarded, cpu_id: where each falls depends on the tracer version).
PACKET_FIELDS = [(0, 4), (4, 16), (20, 4), (24, 8), (32, 8), (40, 8), (48, 8), (56, 8),
                 (64, 8), (72, 8), (80, 4)]
VALUE_KINDS = ["zero", "ones", "small", "random", "plus_one", "minus_one", "high_bit"]


def _field_value(kind, old: bytes, rng) -> bytes:
    width = len(old)
    number = int.from_bytes(old, "little")
    top = (1 << (8 * width)) - 1
    value = {"zero": 0, "ones": top, "small": rng.choice([1, 7, 8, 31, 32]),
             "random": rng.getrandbits(8 * width), "plus_one": (number + 1) & top,
             "minus_one": (number - 1) & top, "high_bit": number | (1 << (8 * width - 1))}[kind]
    return value.to_bytes(width, "little")


def packet_header(root, rng, params):
    p = params
    if p is None:
        candidates = [n for n in files(root)["stream"]
                      if packet_starts((root / n).read_bytes()[:8], STREAM_MAGIC)]
        name = rng.choice(candidates or files(root)["stream"])
        data = (root / name).read_bytes()
        starts = packet_starts(data, STREAM_MAGIC) or [0]
        offset, width = rng.choice(PACKET_FIELDS)
        start = rng.choice(starts)
        old = data[start + offset:start + offset + width].ljust(width, b"\0")
        value = _field_value(rng.choice(VALUE_KINDS), old, rng)
        p = {"file": name, "offset": start + offset, "bytes": value.hex()}
    return overwrite(root, rng, p)


def magic(root, rng, params):
    """A changed magic number: a stream packet's, a metadata packet's, or the text signature."""
    p = params
    if p is None:
        found = files(root)
        name = rng.choice(found["metadata"] + found["stream"])
        data = (root / name).read_bytes()
        if name in found["metadata"] and not is_packetized(data):
            starts, width = [0], len(SIGNATURE)
        else:
            starts = packet_starts(data, METADATA_MAGIC if name in found["metadata"]
                                   else STREAM_MAGIC) or [0]
            width = 4
        old = data[:width].ljust(width, b"\0")
        choice = rng.choice(["swapped", "random", "zero", "other"])
        value = {"swapped": old[::-1], "random": bytes(rng.randrange(256) for _ in old),
                 "zero": b"\0" * width,
                 "other": (struct.pack("<I", STREAM_MAGIC if old[:4] != struct.pack(
                     "<I", STREAM_MAGIC) else METADATA_MAGIC) + b"/* CTF 2.0")[:width]}[choice]
        p = {"file": name, "offset": rng.choice(starts), "bytes": value.hex()}
    return overwrite(root, rng, p)


def metadata_packet_header(root, rng, params):
    """A packetized metadata's header fields: sizes, compression, version."""
    p = params
    if p is None:
        names = [n for n in files(root)["metadata"] if is_packetized((root / n).read_bytes())]
        if not names:
            return {"fallback": truncate_metadata(root, rng, None)}
        name = rng.choice(names)
        data = (root / name).read_bytes()
        start = rng.choice(packet_starts(data, METADATA_MAGIC))
        field, (offset, width) = rng.choice(list({
            "uuid": (4, 16), "checksum": (20, 4), "content_size": (24, 4),
            "packet_size": (28, 4), "compression": (32, 1), "encryption": (33, 1),
            "checksum_scheme": (34, 1), "major": (35, 1), "minor": (36, 1)}.items()))
        old = data[start + offset:start + offset + width].ljust(width, b"\0")
        value = _field_value(rng.choice(VALUE_KINDS), old, rng)
        p = {"file": name, "field": field, "offset": start + offset, "bytes": value.hex()}
    if "fallback" in p:
        return {"fallback": truncate_metadata(root, rng, p["fallback"])}
    return overwrite(root, rng, p)


# TSDL edits on the metadata text; the metadata is then written plain ("/* CTF 1.8 */").
TSDL_EDITS = ["delete_line", "duplicate_line", "swap_lines", "number", "swap_range",
              "drop_char", "truncate", "junk"]
NUMBERS = ["0", "-1", "1", "7", "65", "4294967296", "18446744073709551616",
           "99999999999999999999999999999999", "0x", "1<5", "-9223372036854775809"]


def metadata_text_edit(root, rng, params):
    p = params
    if p is None:
        name = rng.choice(files(root)["metadata"])
        text = metadata_text((root / name).read_bytes()).decode("latin-1")
        lines = text.split("\n")
        edit = rng.choice(TSDL_EDITS)
        p = {"file": name, "edit": edit}
        # Lines inside declarations (those with ';'), where damage matters most.
        body = [i for i, line in enumerate(lines) if ";" in line] or list(range(len(lines)))
        if edit in ("delete_line", "duplicate_line"):
            p["line"] = rng.choice(body)
        elif edit == "swap_lines":
            i = rng.choice(body)
            p["lines"] = [i, min(i + rng.choice([1, 2, 5]), len(lines) - 1)]
        elif edit == "number":
            spots = [m.start() for m in re.finditer(r"\b\d+\b", text)]
            p["at"] = rng.choice(spots) if spots else 0
            p["value"] = rng.choice(NUMBERS)
        elif edit == "swap_range":
            spots = [m.start() for m in re.finditer(r"-?\d+\s*\.\.\.\s*-?\d+", text)]
            p["at"] = rng.choice(spots) if spots else -1
        elif edit == "drop_char":
            spots = [m.start() for m in re.finditer(r"[;{}=\[\]<>:]", text)]
            p["at"] = rng.choice(spots) if spots else 0
        elif edit == "truncate":
            p["size"] = rng.randrange(len(text) + 1)
        else:
            p["at"] = rng.randrange(len(text) + 1)
            p["junk"] = rng.choice(["}", "{", ";", "struct {", "enum : x {", "\0", "\xff\xfe",
                                    "typealias integer { size = 0; } := t;", "/*", '"'])
    text = metadata_text((root / p["file"]).read_bytes()).decode("latin-1")
    lines = text.split("\n")
    edit = p["edit"]
    if edit == "delete_line":
        del lines[p["line"]]
    elif edit == "duplicate_line":
        lines.insert(p["line"], lines[p["line"]])
    elif edit == "swap_lines":
        i, j = p["lines"]
        lines[i], lines[j] = lines[j], lines[i]
    text = "\n".join(lines)
    if edit == "number":
        m = re.compile(r"\d+").match(text, p["at"])
        end = m.end() if m else p["at"]
        text = text[:p["at"]] + p["value"] + text[end:]
    elif edit == "swap_range" and p["at"] >= 0:
        m = re.compile(r"(-?\d+)(\s*\.\.\.\s*)(-?\d+)").match(text, p["at"])
        if m:
            text = text[:m.start()] + m[3] + m[2] + m[1] + text[m.end():]
    elif edit == "drop_char":
        text = text[:p["at"]] + text[p["at"] + 1:]
    elif edit == "truncate":
        text = text[:p["size"]]
    elif edit == "junk":
        text = text[:p["at"]] + p["junk"] + text[p["at"]:]
    if not text.startswith("/* CTF 1.8"):
        text = "/* CTF 1.8 */\n" + text
    _rewrite(root / p["file"], text.encode("latin-1"))
    return p


MUTATORS = {
    "bit_flip": bit_flip, "overwrite": overwrite, "truncate_stream": truncate_stream,
    "truncate_metadata": truncate_metadata, "delete_file": delete_file,
    "swap_files": swap_files, "packet_header": packet_header, "magic": magic,
    "metadata_packet_header": metadata_packet_header, "metadata_text": metadata_text_edit,
}
