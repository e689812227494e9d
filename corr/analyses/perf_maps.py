"""User and kernel addresses of a ``perf.data`` named as ``perf script`` names them,
without ``perf script`` printing every sample.

perf names a sample's frames from the recording's side-band events (each
process's executable mappings, its forks and execs) and the ELF files the
mappings name; printing every chain of a million-event recording costs ten
seconds.  Here perf prints the side-band events alone (samples filtered out
by time, a third of a second), and the few thousand addresses the stacks show
are looked up in those maps and in the files' symbol tables (read once each,
with numpy), and their source lines in the files' DWARF line tables (binutils'
``addr2line``, one process per file for all its addresses).  Kernel addresses
come from a kallsyms (beside the trace, else the running system's, moved by the
KASLR offset between the recording's ``_text`` and today's).
:class:`corr.analyses.symbols.PerfSymbols` (perf script's own output, paired
sample by sample) is the reference the tests hold this to.
"""

from __future__ import annotations

import bisect
import os
import re
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np

from .symbols import KERNEL_CODE, KERNEL_DSO

# perf script --show-mmap-events --show-task-events, after the "pid/tid time:" head.
_HEAD = re.compile(r"^\s*-?\d+/-?\d+\s+(\d+)\.(\d+):\s+(.*)$")
_MMAP = re.compile(r"^PERF_RECORD_MMAP2? (-?\d+)/(-?\d+): \[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) "
                   r"@ (0x[0-9a-f]+|0)[^\]]*\]: (\S+) (.*)$")
_FORK = re.compile(r"^PERF_RECORD_FORK\((-?\d+):(-?\d+)\):\((-?\d+):(-?\d+)\)")
_EXEC = re.compile(r"^PERF_RECORD_COMM exec: .*:(-?\d+)/(-?\d+)$")
# A time range no sample falls in: perf prints the side-band events only.
_NO_SAMPLES = "0.000000001,0.000000001"
PERF_TIMEOUT_S = 600
ADDR2LINE_TIMEOUT_S = 120


class ElfSymbols:
    """One ELF file's code symbols and its loadable segments: a file offset to
    ``name+0xoff``, as perf names it.  The symbols are those of the file's debug
    file when one is installed (``/usr/lib/debug/.build-id/..``, found by the
    file's build id, as perf finds it), else its own ``.symtab``, else ``.dynsym``.
    ``line_file``: the file whose DWARF line table has the source lines (the debug
    file, else the file itself), None when neither has one."""

    def __init__(self, path: str):
        self.loads: list[tuple[int, int, int]] = []        # file offset, size, vaddr
        self.starts = np.zeros(0, dtype=np.uint64)
        self.ends = np.zeros(0, dtype=np.uint64)
        self.syms = None
        self.strings = b""
        self.line_file: str | None = None
        data = _read(path)
        if data is None:
            return
        try:
            self.loads = _loads(data)
            debug_path = _debug_path(data)
            debug = _read(debug_path) if debug_path else None
            if debug is None or not self._symbols(debug):
                self._symbols(data)
        except (ValueError, IndexError):
            self.loads = []
            return
        try:
            self.line_file = (debug_path if debug is not None and _has_lines(debug)
                              else path if _has_lines(data) else None)
        except (ValueError, IndexError):          # damaged section names: no lines, names stay
            pass

    def _symbols(self, data: bytes) -> bool:
        sections = _sections(data)
        for kind in (2, 11):                                          # SHT_SYMTAB, SHT_DYNSYM
            table = next((s for s in sections if s[0] == kind), None)
            if table is None:
                continue
            _, offset, size, link = table
            syms = np.frombuffer(data, dtype=_SYM, count=size // 24, offset=offset)
            kind_of = syms["info"] & 0xF
            # Functions (FUNC, GNU_IFUNC), and as perf takes them, labels (NOTYPE with a
            # name) in code: ld.so's ``_start``, where a process's first instant is.
            label = (kind_of == 0) & (syms["name"] != 0) & np.isin(
                syms["shndx"], _executable_sections(data))
            code = ((kind_of == 2) | (kind_of == 10) | label) \
                & (syms["shndx"] != 0) & (syms["value"] != 0)          # defined
            if not code.any():
                continue
            syms = syms[code]
            syms = syms[np.argsort(syms["value"], kind="stable")]
            self.starts = syms["value"].astype(np.uint64)
            sizes = syms["size"].astype(np.uint64)
            # A symbol without a size ends where the next one begins (as perf ends it).
            nxt = np.append(self.starts[1:], np.uint64(0))
            self.ends = np.where(sizes > 0, self.starts + sizes, nxt)
            self.syms = syms
            _, str_offset, str_size, _ = sections[link]
            self.strings = data[str_offset:str_offset + str_size]
            return True
        return False

    def _name(self, k: int) -> str:
        start = int(self.syms["name"][k])
        return self.strings[start:self.strings.index(b"\0", start)].decode("utf-8",
                                                                           "backslashreplace")

    def vaddr(self, offset: int) -> int | None:
        """The virtual address of a file offset (by the PT_LOAD holding it), None outside."""
        return next((offset - o + v for o, size, v in self.loads if o <= offset < o + size), None)

    def name(self, offset: int) -> str | None:
        """``symbol+0xoff`` at a file offset, None outside every symbol."""
        vaddr = self.vaddr(offset)
        if vaddr is None or not len(self.starts):
            return None
        k = int(np.searchsorted(self.starts, np.uint64(vaddr), "right")) - 1
        if k < 0:
            return None
        first = k
        while first > 0 and self.starts[first - 1] == self.starts[k]:
            first -= 1
        best = min(range(first, k + 1), key=self._rank)    # aliases: the one perf keeps
        if self.ends[best] and vaddr >= int(self.ends[best]):
            return None
        return f"{self._name(best)}+{vaddr - int(self.starts[best]):#x}"

    def _rank(self, k: int) -> tuple:
        """perf's choice among symbols at one address (choose_best_symbol): one with a
        size, not weak, global, fewer leading underscores, longer name; then first."""
        sym = self.syms[k]
        binding = int(sym["info"]) >> 4
        name = self._name(k)
        return (int(sym["size"]) == 0, binding == 2, binding != 1,
                len(name) - len(name.lstrip("_")), -len(name), k)


def _read(path: str) -> bytes | None:
    """An ELF64 little-endian file's bytes (x86-64, arm64), else None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data[:4] != b"\x7fELF" or len(data) < 64 or data[4] != 2 or data[5] != 1:
        return None
    return data


def _loads(data: bytes) -> list[tuple[int, int, int]]:
    """PT_LOAD segments: (file offset, size in the file, virtual address)."""
    phoff = int.from_bytes(data[32:40], "little")
    phentsize, phnum = int.from_bytes(data[54:56], "little"), int.from_bytes(data[56:58], "little")
    out = []
    for k in range(phnum):
        at = phoff + k * phentsize
        if int.from_bytes(data[at:at + 4], "little") == 1:
            out.append((int.from_bytes(data[at + 8:at + 16], "little"),
                        int.from_bytes(data[at + 32:at + 40], "little"),
                        int.from_bytes(data[at + 16:at + 24], "little")))
    return out


def _section_headers(data: bytes) -> list[int]:
    """Where each section header is in the file, in section index order."""
    shoff = int.from_bytes(data[40:48], "little")
    shentsize, shnum = int.from_bytes(data[58:60], "little"), int.from_bytes(data[60:62], "little")
    return [shoff + k * shentsize for k in range(shnum)]


def _section_names(data: bytes) -> list[bytes]:
    """Section names, in section index order (from the ``e_shstrndx`` string table)."""
    headers = _section_headers(data)
    strings = headers[int.from_bytes(data[62:64], "little")]
    base = int.from_bytes(data[strings + 24:strings + 32], "little")
    names = []
    for at in headers:
        start = base + int.from_bytes(data[at:at + 4], "little")
        names.append(data[start:data.index(b"\0", start)])
    return names


_LINE_TABLES = frozenset((b".debug_line", b".zdebug_line"))     # DWARF line tables


def _has_lines(data: bytes) -> bool:
    """Whether an ELF file holds a DWARF line table (``.debug_line``, maybe compressed)."""
    return not _LINE_TABLES.isdisjoint(_section_names(data))


def _sections(data: bytes) -> list[tuple[int, int, int, int]]:
    """Section headers: (type, offset, size, link)."""
    return [(int.from_bytes(data[at + 4:at + 8], "little"),
             int.from_bytes(data[at + 24:at + 32], "little"),
             int.from_bytes(data[at + 32:at + 40], "little"),
             int.from_bytes(data[at + 40:at + 44], "little")) for at in _section_headers(data)]


def _executable_sections(data: bytes) -> list[int]:
    """The indexes of the sections that hold code (SHF_EXECINSTR)."""
    return [k for k, at in enumerate(_section_headers(data))
            if int.from_bytes(data[at + 8:at + 16], "little") & 0x4]


DEBUG_DIR = "/usr/lib/debug/.build-id"


def _debug_path(data: bytes) -> str | None:
    """The path of the installed debug file of an ELF file (by its GNU build id note),
    if there is one."""
    for kind, offset, size, _ in _sections(data):
        if kind != 7:                                                  # SHT_NOTE
            continue
        at, end = offset, offset + size
        while at + 12 <= end:
            namesz, descsz, note = (int.from_bytes(data[at + i:at + i + 4], "little")
                                    for i in (0, 4, 8))
            name_at = at + 12
            desc_at = name_at + (namesz + 3) // 4 * 4
            if note == 3 and data[name_at:name_at + namesz] == b"GNU\0":   # NT_GNU_BUILD_ID
                build_id = data[desc_at:desc_at + descsz].hex()
                found = os.path.join(DEBUG_DIR, build_id[:2], build_id[2:] + ".debug")
                return found if os.path.isfile(found) else None
            at = desc_at + (descsz + 3) // 4 * 4
    return None


_SYM = np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"),
                 ("value", "<u8"), ("size", "<u8")])


class PerfMaps:
    """The executable mappings of a perf.data's processes over time: per process and
    exec, (start, end, file offset, path); which process each thread is in."""

    def __init__(self) -> None:
        self.maps: dict[tuple[int, int], list] = {}      # (pid, exec number) -> sorted maps
        self.execs: dict[int, list[int]] = {}             # pid -> times of its execs
        self.parent: dict[int, tuple[int, int]] = {}      # pid -> (parent pid, fork time)
        self.pid_of: dict[int, int] = {}                  # tid -> pid
        self.kernel_text: int | None = None               # _text when recorded
        self._files: dict[str, ElfSymbols] = {}
        self._reach: dict[tuple[int, int], list[int]] = {}
        self._named: dict[tuple[str, int], str | None] = {}
        self._lines: dict[tuple[str, int], str | None] = {}
        self._pending: list = []                          # mmaps until finish()
        self._sorted = False

    def read(self, lines) -> None:
        """``perf script --show-mmap-events --show-task-events`` output."""
        for line in lines:
            head = _HEAD.match(line)
            if head is None:
                continue
            ns = int(head.group(1)) * 1_000_000_000 + int(head.group(2).ljust(9, "0")[:9])
            event = head.group(3)
            if event.startswith("PERF_RECORD_MMAP"):
                m = _MMAP.match(event)
                if m is not None:
                    self.mapped(int(m.group(1)), ns, int(m.group(3), 16), int(m.group(4), 16),
                                int(m.group(5), 16), "x" in m.group(6), m.group(7))
            elif event.startswith("PERF_RECORD_FORK"):
                m = _FORK.match(event)
                if m is not None:
                    self.forked(int(m.group(1)), int(m.group(2)), int(m.group(3)), ns)
            elif event.startswith("PERF_RECORD_COMM exec"):
                m = _EXEC.match(event)
                if m is not None:
                    self.executed(int(m.group(1)), ns)
        self.finish()

    # What a perf.data's side-band records say, in time order (read, or
    # perf_data.read_maps), then finish().
    def mapped(self, pid: int, ns: int, start: int, size: int, pgoff: int, executable: bool,
               path: str) -> None:
        """An mmap: the kernel's (pid -1, ``[kernel.kallsyms]...``: its pgoff is the
        reference symbol's address), or a process's."""
        if path.startswith(KERNEL_DSO):
            if pid == -1 and self.kernel_text is None:
                self.kernel_text = pgoff
            return
        if executable:
            self._pending.append((pid, ns, start, start + size, pgoff, path))

    def forked(self, pid: int, tid: int, ppid: int, ns: int) -> None:
        self.pid_of[tid] = pid
        if pid != ppid and pid not in self.parent:
            self.parent[pid] = (ppid, ns)

    def executed(self, pid: int, ns: int) -> None:
        self.execs.setdefault(pid, []).append(ns)

    def finish(self) -> None:
        """Each mapping into its process's image of the time, sorted."""
        for pid, ns, start, end, pgoff, path in self._pending:
            generation = bisect.bisect_right(self.execs.get(pid, ()), ns)
            self.maps.setdefault((pid, generation), []).append((start, end, pgoff, path, ns))
        self._pending = []
        for key, found in self.maps.items():
            found.sort()
            # The furthest end of the maps up to each one: a backward scan from the
            # last map starting at or below an address stops where none reach it.
            reach, furthest = [], 0
            for start, end, *_ in found:
                furthest = max(furthest, end)
                reach.append(furthest)
            self._reach[key] = reach

    def locate(self, pid: int, value: int, ns: int, depth: int = 0,
               generation: int | None = None):
        """(path, file offset) of a user address of process ``pid`` at ``ns``: the last
        mapping holding it, in the process's image at that time, else in the image
        before its last exec (a sample taken while the kernel loads the new image has
        the old one's ``execve`` call: perf keeps the old maps until new ones cover
        them), else (a child that did not exec) in its parent's at the fork."""
        if generation is None:
            generation = bisect.bisect_right(self.execs.get(pid, ()), ns)
        found = self.maps.get((pid, generation), ())
        reach = self._reach.get((pid, generation), ())
        k = bisect.bisect_right(found, (value, float("inf"))) - 1
        best = None
        while k >= 0 and reach[k] > value:
            start, end, pgoff, path, at = found[k]
            # The last mapping before the sample; else (a mapping perf stamped after a
            # sample of the program's first instructions) the first one after it.
            if start <= value < end and (best is None or (
                    at > best[4] if at <= ns and best[4] <= ns else at < best[4] if
                    at > ns and best[4] > ns else at <= ns)):
                best = found[k]
            k -= 1
        if best is not None:
            return best[3], value - best[0] + best[2]
        if generation > 0 and depth < 16:
            return self.locate(pid, value, ns, depth + 1, generation - 1)
        if generation == 0 and pid in self.parent and depth < 16:
            ppid, at = self.parent[pid]
            return self.locate(ppid, value, at, depth + 1)
        return None

    def user_frame(self, tid: int, value: int, ns: int) -> str | None:
        """``name+0xoff (path)``, or None where perf prints ``[unknown]``."""
        found = self.locate(self.pid_of.get(tid, tid), value, ns)
        return None if found is None else self.name(found)

    def name(self, found: tuple[str, int]) -> str | None:
        """``name+0xoff (path)`` of a (path, file offset), None outside every symbol."""
        text = self._named.get(found, self)
        if text is self:                 # processes share their libraries: once a file offset
            path, offset = found
            name = self._elf(path).name(offset)
            text = self._named[found] = f"{name} ({path})" if name else None
        return text

    def _elf(self, path: str) -> ElfSymbols:
        elf = self._files.get(path)
        if elf is None:
            elf = self._files[path] = ElfSymbols(path)
        return elf

    def lines(self, found) -> dict[tuple[str, int], str]:
        """``file:line`` of each return address ``found`` ((path, file offset)...) that
        debug info covers: the line of the call, the instruction before the address
        (docs/stacks.md), as :func:`source_lines` finds it; one ``addr2line`` per file
        for all its addresses not looked up before."""
        found = list(found)
        by_file: dict[str, dict[int, tuple[str, int]]] = {}
        for key in found:
            if key in self._lines:
                continue
            self._lines[key] = None
            path, offset = key
            elf = self._elf(path)
            line_file = elf.line_file
            vaddr = elf.vaddr(offset) if line_file is not None else None
            if line_file is not None and vaddr:
                by_file.setdefault(line_file, {})[vaddr - 1] = key
        # Each file's addr2line at once (reading a file's DWARF is most of one's time).
        with ThreadPoolExecutor(max_workers=max(1, min(len(by_file), os.cpu_count() or 1))
                                ) as pool:
            looked_up = list(pool.map(lambda item: source_lines(item[0], list(item[1])),
                                      by_file.items()))
        for keys, lines in zip(by_file.values(), looked_up):
            for address, text in lines.items():
                self._lines[keys[address]] = text
        return {key: line for key in found if (line := self._lines.get(key))}


def source_lines(path: str, addresses: list[int]) -> dict[int, str]:
    """``file:line`` (the file's base name, as perf prints a srcline) at each address
    of an ELF file with DWARF line info, by binutils' ``addr2line`` (one process, the
    addresses on its input); an address it finds no line for is left out, and so are
    all without addr2line, or when it fails or runs past its time."""
    tool = shutil.which("addr2line")
    if tool is None or not addresses:
        return {}
    try:
        done = subprocess.run([tool, "-a", "-e", path], capture_output=True, check=False,
                              input="".join(f"{a:#x}\n" for a in addresses).encode(),
                              timeout=ADDR2LINE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if done.returncode != 0:
        return {}
    # Each address echoed (-a: 0x and 16 digits), then its location: the lines up to
    # the next address (a file name may hold a newline).
    out = done.stdout.decode("utf-8", "backslashreplace").split("\n")
    if out[-1] == "":
        out.pop()
    marks = [f"0x{a:016x}" for a in addresses]
    found: dict[int, str] = {}
    at = 0
    for k, address in enumerate(addresses):
        if at >= len(out) or out[at] != marks[k]:
            break                                 # not addr2line's usual answer: stop here
        try:
            end = out.index(marks[k + 1], at + 1) if k + 1 < len(marks) else len(out)
        except ValueError:
            break
        text = _srcline("\n".join(out[at + 1:end]))
        if text:
            found[address] = text
        at = end
    return found


def _srcline(location: str) -> str | None:
    """``addr2line``'s ``/dir/file.c:42 (discriminator 2)`` as perf prints it:
    ``file.c:42``; None for an unknown one (``??:0``, ``??:?``, line 0)."""
    location = _DISCRIMINATOR.sub("", location)
    path, sep, line = location.rpartition(":")
    if not sep or not line.isdigit() or int(line) == 0 or path in ("", "??"):
        return None
    return f"{os.path.basename(path)}:{line}"


_DISCRIMINATOR = re.compile(r" \(discriminator \d+\)$")


def demangle(texts: dict) -> None:
    """C++ and Rust names of ``texts``' values (``name+0xoff (path)``) demangled as
    perf demangles them, by binutils' c++filt, all at once; left as they are
    without it."""
    keys = [k for k, text in texts.items() if text and text.startswith(("_Z", "_R"))]
    tool = shutil.which("c++filt")
    if not keys or tool is None:
        return
    names, rests = zip(*(texts[k].split("+0x", 1) for k in keys))
    try:
        done = subprocess.run([tool, "--no-params"], input="\n".join(names).encode(),
                              capture_output=True, timeout=PERF_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return
    found = done.stdout.decode("utf-8", "backslashreplace").split("\n")
    if done.returncode != 0 or len(found) < len(keys):
        return
    for key, name, rest in zip(keys, found, rests):
        texts[key] = f"{_RUST_HASH.sub('', name)}+0x{rest}"


# A legacy Rust symbol's hash, which perf leaves out.
_RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")


class StartedPerf(NamedTuple):
    """A ``perf script`` started by :func:`start_perf_script`, and the file it writes."""

    process: subprocess.Popen
    out: IO[bytes]


class StartedRead(NamedTuple):
    """The maps of a perf.data being read from the file, in a thread."""

    thread: threading.Thread
    maps: PerfMaps
    done: list                        # [whether perf_data.read_maps could], once done


def start_perf_maps(perf_data: Path) -> StartedRead:
    """The maps of ``perf_data`` being read, in a thread (its C walk lets go of the
    GIL: it runs beside the building of the scheduling model), from the file
    itself (:func:`perf_data.read_maps`)."""
    from .perf_data import read_maps
    found, done = PerfMaps(), []

    def read() -> None:
        try:
            done.append(read_maps(perf_data, found))
        except Exception:           # not a file read here after all: perf script reads it
            done.append(False)
    thread = threading.Thread(target=read, name="corr-perf-maps", daemon=True)
    thread.start()
    return StartedRead(thread, found, done)


def start_perf_script(perf_data: Path) -> StartedPerf | None:
    """``perf script`` printing the side-band events of ``perf_data``, started, its
    output into an unlinked file (a pipe nobody reads yet would stop it at 64 KiB);
    None without perf.  perf maps the whole file to read it (as much memory as the
    file is large): what reads the maps when the file cannot be read here."""
    perf = shutil.which("perf")
    if perf is None:
        return None
    out = tempfile.TemporaryFile()
    try:
        process = subprocess.Popen(
            [perf, "script", "-i", os.fspath(perf_data), "--ns", "--show-mmap-events",
             "--show-task-events", "-F", "pid,tid,time", "--time", _NO_SAMPLES],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL)
    except OSError:
        out.close()
        return None
    return StartedPerf(process, out)


def read_perf_maps(perf_data: Path, started: StartedRead | StartedPerf | None = None
                   ) -> PerfMaps | None:
    """The maps of ``perf_data``: from the file (``started`` by :func:`start_perf_maps`,
    or read now), else from perf script (``started`` by :func:`start_perf_script`, or
    started now); None when neither can (no perf, or perf fails).  perf is stopped
    if this is interrupted."""
    if started is None or isinstance(started, StartedRead):
        started = started if started is not None else start_perf_maps(perf_data)
        started.thread.join()
        if started.done and started.done[0]:
            return started.maps
        started = None
    started = started if started is not None else start_perf_script(perf_data)
    if started is None:
        return None
    try:
        started.process.wait(timeout=PERF_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stop(started)
        return None
    except BaseException:               # an interrupt: perf goes with it
        stop(started)
        raise
    with started.out as out:
        if started.process.returncode != 0:
            return None
        out.seek(0)
        text = out.read().decode("utf-8", "backslashreplace")
    found = PerfMaps()
    found.read(text.splitlines())
    return found


def stop(started: StartedRead | StartedPerf) -> None:
    """Kill a started perf script and let its output file go; wait for a read."""
    if isinstance(started, StartedRead):
        started.thread.join()
        return
    started.process.kill()
    started.process.wait()
    started.out.close()


def kallsyms_rows(path: str = "/proc/kallsyms") -> tuple[list, int | None] | None:
    """The running system's kernel code symbols as a SymbolTable keeps them: (start,
    0, name, module) each, bytes (a lookup decodes what it shows; a symbol of the
    kernel itself has KERNEL_DSO for module), sorted as the table sorts its rows
    (by address, aliases in the file's order: the table names an address by the
    last, as perf does); and its ``_text``.  None when they cannot be read or their
    addresses are hidden (kptr_restrict)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    rows = []
    text_now = None
    for line in data.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] not in _KERNEL_CODE:
            continue
        start = int(parts[0], 16)
        if not start:
            return None
        if parts[2] == b"_text":
            text_now = start
        rows.append((start, 0, parts[2], parts[3] if len(parts) > 3 else _KERNEL_DSO))
    rows.sort(key=lambda row: row[0])         # stable: aliases stay in the file's order
    return (rows, text_now) if rows else None


def running_kallsyms(recorded_text: int | None, table, read=kallsyms_rows) -> bool:
    """Make ``table`` (an empty SymbolTable) the running system's kernel code symbols,
    moved to where they were when the recording's ``_text`` was ``recorded_text``
    (KASLR); whether it could.  ``read``: what gives :func:`kallsyms_rows`' result
    (read beside the pass: :meth:`Symbolizer.prefetch_kernel`)."""
    found = read()
    if found is None:
        return False
    rows, text_now = found
    table.adopt(rows, recorded_text - text_now if recorded_text and text_now else 0)
    return True


_KERNEL_DSO = KERNEL_DSO.encode()
_KERNEL_CODE = frozenset(kind.encode() for kind in KERNEL_CODE)
