"""Return addresses to ``function+0xoffset (dso)``: the symbol sources of code stacks.

A CTF trace holds addresses only.  Where the names come from, first found first:

1. the ``perf.data`` beside a perf trace (in the folder holding the trace's):
   ``perf script`` prints every sample's chain symbolised, which perf does
   from the recording's own mmap events and the ELF files they name; each
   address is learned per process (``pid``, address), kernel ones once; a user
   frame's source line (``file.c:42``) too, where the file has DWARF line info;
2. symbol files: a ``kallsyms`` file beside the trace (``/proc/kallsyms``
   captured at record time), and any ``--symbols FILE``, in either format
   docs/stacks.md describes (kallsyms lines ``ADDR TYPE NAME [MODULE]``, or
   perf map lines ``START SIZE NAME``, hex), or an ELF file (``FILE@0xBASE``
   for one loaded at BASE), read with binutils' ``nm``;
3. nothing: the frame stays its address, ``0x7fa548d79619`` -- never dropped.
"""

from __future__ import annotations

import bisect
import os
import re
import shutil
import subprocess
import threading
from concurrent.futures import wait
from pathlib import Path

from ..background import in_background
from ..errors import UsageError

KERNEL_DSO = "[kernel.kallsyms]"
KERNEL_CODE = frozenset("TtWw")         # kallsyms's types of code symbols
# A sample's first line in ``perf script -F pid,tid,time,...``: pid/tid and seconds.ns.
_SAMPLE = re.compile(r"^\s*(-?\d+)/(-?\d+)\s+(\d+)\.(\d+):")
KERNEL_START = 1 << 63          # x86-64 and arm64: kernel addresses have the top bit set
PERF_SCRIPT_TIMEOUT_S = 600
MAX_SYMBOL_LINES = 50_000_000   # a symbol file past this is not one


def address(value: int) -> str:
    """An unknown frame: its address."""
    return f"{value:#x}"


class SymbolTable:
    """Sorted address ranges -> (name, dso): kallsyms's symbols end where the next begins.

    Of symbols at one address (aliases: ``memcpy``, ``__memcpy``, ``__pi_memcpy``),
    the one that names it is the last of those with the largest size, in the order
    they were added: for kallsyms, the file's last, as perf chooses (it gives the
    last a length, the next symbol's start, and prefers a symbol with one).
    """

    def __init__(self) -> None:
        self._rows: list[tuple] = []      # start, end (0: open), name, dso
        self._starts: list[int] | None = None
        self._shift = 0                   # what every address was moved by (adopt)

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, start: int, size: int, name: str, dso: str) -> None:
        self._rows.append((start, start + size if size else 0, name, dso))
        self._starts = None

    def adopt(self, rows: list, shift: int) -> None:
        """Take ``rows`` (sorted, as kept: names and dsos may be bytes, decoded when
        shown), every address moved by ``shift``; of an empty table."""
        self._rows, self._starts, self._shift = rows, [r[0] for r in rows], shift

    @staticmethod
    def order(row: tuple) -> tuple:
        """The rows' order (a stable sort): by start, then end (0: open)."""
        return row[0], row[1]

    def lookup(self, value: int) -> str | None:
        if self._starts is None:
            self._rows.sort(key=self.order)
            self._starts = [r[0] for r in self._rows]
        value -= self._shift
        k = bisect.bisect_right(self._starts, value) - 1
        if k < 0:
            return None
        start, end, name, dso = self._rows[k]
        if end and value >= end:
            return None
        if not end and k + 1 == len(self._rows) and value - start > 1 << 24:
            return None                      # far past the last symbol: not its code
        if isinstance(name, bytes):
            name = name.decode("utf-8", "backslashreplace")
        if isinstance(dso, bytes):
            dso = dso.decode("utf-8", "backslashreplace")
        return f"{name}+{value - start:#x} ({dso})"


ELF_MAGIC = b"\x7fELF"
TEXT_TYPES = frozenset("TtWwi")          # nm's types of code symbols
NM_TIMEOUT_S = 120


def split_base(path) -> tuple[str, int]:
    """``FILE@0xBASE`` -> (FILE, BASE): where a position-independent ELF file was
    loaded (the start of its mapping at file offset 0); a plain path -> (path, 0)."""
    text = os.fspath(path)
    name, at, base = text.rpartition("@")
    if at and name and not os.path.exists(text):
        try:
            return name, int(base, 16)
        except ValueError:
            pass
    return text, 0


def read_elf(path: str, base: int, table: SymbolTable) -> None:
    """The code symbols of an ELF file (binutils' ``nm``, its dynamic symbols when it
    is stripped), each at ``base`` + its value; the dso shown is the file's name."""
    nm = shutil.which("nm")
    if nm is None:
        raise UsageError(f"--symbols {path}: an ELF file needs binutils' nm, not found")
    found = 0
    for extra in ([], ["--dynamic"]):
        try:
            # The C locale: nm orders symbols at one address by name, byte by byte (in
            # another it collates, and the table names an address by the last).
            done = subprocess.run([nm, "--defined-only", "-n", "-S", *extra, path],
                                  stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=NM_TIMEOUT_S, check=False,
                                  env={**os.environ, "LC_ALL": "C"})
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UsageError(f"--symbols {path}: nm failed ({exc})") from None
        for line in done.stdout.decode("utf-8", "backslashreplace").splitlines():
            parts = line.split(None, 3)
            if len(parts) == 4 and len(parts[2]) == 1:          # value size type name
                value, size, kind, name = parts
            elif len(parts) == 3 and len(parts[1]) == 1:        # value type name
                (value, kind, name), size = parts, "0"
            else:
                continue
            if kind in TEXT_TYPES:
                table.add(base + int(value, 16), int(size, 16), name, os.path.basename(path))
                found += 1
        if found:
            return
    raise UsageError(f"--symbols {path}: an ELF file without code symbols (nm found none)")


def read_symbol_file(path, table: SymbolTable) -> None:
    """Add the symbols of a kallsyms or perf map file, or of an ELF file
    (``FILE[@0xBASE]``), to ``table``; a line of no known format is a
    :class:`UsageError` naming the file and line."""
    path, base = split_base(path)
    try:
        with open(path, "rb") as head:
            magic = head.read(4)
    except OSError as exc:
        raise UsageError(f"--symbols {os.fspath(path)}: {exc.strerror}") from None
    if magic == ELF_MAGIC:
        read_elf(path, base, table)
        return
    try:
        handle = open(path, encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        raise UsageError(f"--symbols {os.fspath(path)}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if number > MAX_SYMBOL_LINES:
                raise UsageError(f"{os.fspath(path)}: more than {MAX_SYMBOL_LINES:,} lines")
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            try:
                start = int(parts[0], 16)
                if len(parts) >= 3 and len(parts[1]) == 1 and parts[1].isalpha():
                    if start == 0:                # kallsyms read without the right to see them
                        continue
                    if parts[1] not in KERNEL_CODE:   # data: as the running kallsyms is read
                        continue
                    dso = parts[3].strip("[]") if len(parts) > 3 else ""
                    table.add(start, 0, parts[2], f"[{dso}]" if dso else KERNEL_DSO)
                elif len(parts) >= 3:
                    name = line.split(None, 2)[2].rstrip("\n")
                    table.add(start, int(parts[1], 16), name, os.path.basename(path))
                else:
                    raise ValueError
            except ValueError:
                raise UsageError(f"{os.fspath(path)}:{number}: not a symbol line (kallsyms "
                                 "'ADDR TYPE NAME [MODULE]' or perf map 'START SIZE NAME', "
                                 "hex; docs/stacks.md)") from None


class PerfSymbols:
    """What ``perf script`` says of a perf.data's chains, per sample: (tid, ns) -> pid
    and the frames' text, innermost first, as the CTF's chain lists them.

    perf script prints a user frame's address relative to its file, not the one
    the CTF holds; the sample is found by its thread and time (equal in both: the
    conversion keeps perf's clock), and its frames are paired in order with the
    chain's addresses (:meth:`Symbolizer.learn`).
    """

    def __init__(self) -> None:
        self.samples: dict[tuple[int, int], tuple[int, list[str | None]]] = {}

    def read(self, lines, wanted=None) -> None:
        """``perf script -F pid,tid,time,ip,sym,symoff,dso --ns`` output: a
        ``pid/tid SEC.NS:`` line per sample, then one indented line per frame:
        ``ADDR SYM+0xOFF (DSO)``, or ``ADDR [unknown] (...)`` (None).  With
        ``wanted`` (a set of (tid, ns)), only those samples are kept."""
        frames: list | None = None
        for line in lines:
            if line.startswith("\t"):               # a frame: most lines
                if frames is not None:
                    parts = line.strip().split(None, 1)
                    text = parts[1] if len(parts) > 1 else "[unknown]"
                    frames.append(None if text.startswith("[unknown]") else text)
                continue
            if not line.strip():
                continue
            head = _SAMPLE.match(line)
            if head is not None:                # " 6751/6758 62110.149577341:" (pids aligned)
                pid, tid = int(head.group(1)), int(head.group(2))
                ns = int(head.group(3)) * 1_000_000_000 + int(head.group(4).ljust(9, "0")[:9])
                if wanted is not None and (tid, ns) not in wanted:
                    frames = None
                    continue
                frames = []
                self.samples[(tid, ns)] = (pid, frames)
                continue
            frames = None                       # not a sample we read: none of its frames


def run_perf_script(perf_data: Path, wanted=None) -> PerfSymbols | None:
    """The symbols ``perf script`` gives of ``perf_data`` (only the samples ``wanted``,
    read as perf prints them: a recording's million samples are not all kept); None
    without perf, or when it fails (its chains then stay addresses, as without a
    symbol source)."""
    perf = shutil.which("perf")
    if perf is None:
        return None
    found = PerfSymbols()
    try:
        with subprocess.Popen(
                [perf, "script", "-i", os.fspath(perf_data), "--ns",
                 "-F", "pid,tid,time,ip,sym,symoff,dso"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, encoding="utf-8", errors="backslashreplace") as proc:
            # A perf that stands still (a damaged perf.data) is killed: its output ends.
            watchdog = threading.Timer(PERF_SCRIPT_TIMEOUT_S, proc.kill)
            watchdog.daemon = True
            watchdog.start()
            try:
                found.read(proc.stdout, wanted)
            finally:
                proc.stdout.close()
                proc.wait()
                watchdog.cancel()
    except OSError:
        return None
    return found if proc.returncode == 0 else None


def beside(trace_path, name: str) -> Path | None:
    """A file named ``name`` beside the trace's folder (``perf.data`` beside the
    ``kernel/`` it was converted into; not inside: babeltrace2 would read it as a
    stream)."""
    candidate = Path(trace_path).parent / name
    return candidate if candidate.is_file() else None


class Symbolizer:
    """Frames of chains to text, from every source found for a run's traces."""

    def __init__(self, trace_paths=(), symbol_files=()) -> None:
        self.perf_data: list[Path] = []       # run through perf script by learn()
        self.table = SymbolTable()
        self.sources: list[str] = []          # what was used, for the notes
        self._kallsyms_beside = False
        seen: set[Path] = set()
        for trace in trace_paths:
            data = beside(trace, "perf.data")
            if data is not None and data.resolve() not in seen:
                seen.add(data.resolve())
                self.perf_data.append(data)
            kallsyms = beside(trace, "kallsyms")
            if kallsyms is not None and kallsyms.resolve() not in seen:
                seen.add(kallsyms.resolve())
                read_symbol_file(kallsyms, self.table)
                self.sources.append(f"kallsyms {kallsyms}")
                self._kallsyms_beside = True
        for path in symbol_files:
            if Path(path).resolve() in seen:          # found beside a trace already
                continue
            seen.add(Path(path).resolve())
            read_symbol_file(path, self.table)
            self.sources.append(f"symbols {os.fspath(path)}")
        self._memo: dict[tuple, str] = {}
        self._started: dict = {}                         # perf.data -> its perf script
        self._kallsyms = None                            # a Future of its rows
        self._kernel: dict[int, str] = {}                # learned from perf's samples
        self._user: dict[tuple[int, int], str] = {}      # (pid, address)
        self._lines: dict[tuple[int, int], str] = {}     # (pid, address) -> file:line
        self._lines_pending = None                       # a Future of more lines
        self._pid_of: dict[int, int] = {}
        self._maps: list = []                            # PerfMaps of each perf.data
        self._maps_read = False
        self._running = SymbolTable()                    # /proc/kallsyms, moved (KASLR)
        self._kernel_table_read = False

    def prefetch_kernel(self) -> None:
        """Start reading the running system's kallsyms :meth:`learn` will want, when
        none is beside the trace: in a thread beside the pass, whose own thread
        mostly waits for its decode workers."""
        from .perf_maps import kallsyms_rows
        if self.perf_data and not self._kallsyms_beside and self._kallsyms is None:
            self._kallsyms = in_background(kallsyms_rows, "corr-kallsyms")

    def prefetch_maps(self) -> None:
        """Start reading the perf.data maps :meth:`learn` will want: from the file, in
        a thread, once the pass is over (beside the building of the scheduling model,
        which leaves a core free)."""
        from .perf_maps import start_perf_maps
        for data in self.perf_data:
            if data not in self._started:
                self._started[data] = start_perf_maps(data)

    def _kallsyms_read(self):
        """What reads the running kallsyms for :func:`perf_maps.running_kallsyms`: the
        prefetched rows, or reading them now."""
        from .perf_maps import kallsyms_rows
        return kallsyms_rows if self._kallsyms is None else self._kallsyms.result

    def close(self) -> None:
        """Stop what the prefetches started and :meth:`learn` did not read (a pass
        that failed)."""
        from .perf_maps import stop
        for started in self._started.values():
            if started is not None:
                stop(started)
        self._started.clear()
        if self._kallsyms is not None:
            wait([self._kallsyms])              # read or not: what it raised is not news

    def learn(self, events) -> None:
        """Name the addresses of ``events`` (ns, tid, chain; the first of each chain in
        each thread is enough: ``StackLog.representatives``) from the perf.data beside
        the traces: user addresses from its processes' maps and the ELF files they
        name, once per process; kernel ones from the kallsyms beside the trace, else
        the running system's (:mod:`.perf_maps`)."""
        if not self.perf_data:
            return
        from .perf_maps import demangle, read_perf_maps, running_kallsyms
        for data in self.perf_data if not self._maps_read else ():
            maps = read_perf_maps(data, self._started.pop(data, None))
            if maps is None:
                continue
            self.sources.insert(len(self._maps), f"perf.data maps of {data}")
            self._maps.append(maps)
            if not self._kernel_table_read and not self._kallsyms_beside:
                self._kernel_table_read = running_kallsyms(maps.kernel_text, self._running,
                                                           self._kallsyms_read())
                if self._kernel_table_read:
                    self.sources.append("/proc/kallsyms")
        self._maps_read = True                # once: each rule with stacks learns its frames
        if not self._maps:
            return
        user = self._user
        located: dict[int, dict] = {}                    # maps -> (pid, address) -> where
        for ns, tid, chain in events:
            for k, maps in enumerate(self._maps):
                pid = maps.pid_of.get(tid)
                if pid is None:
                    continue
                self._pid_of[tid] = pid
                for value in chain.user:
                    if (pid, value) not in user:
                        found = maps.locate(pid, value, ns)
                        text = maps.name(found) if found is not None else None
                        if text is not None:
                            user[(pid, value)] = text
                            located.setdefault(k, {})[(pid, value)] = found
                break
        demangle(user)
        if located:                                  # the source lines of the frames named
            self._settle_lines()

            def look_up() -> list:
                found = []
                for k, where in located.items():
                    lines = self._maps[k].lines(where.values())
                    found.extend((key, lines[at]) for key, at in where.items() if at in lines)
                return found
            # addr2line reads DWARF while the output starts: read when first asked for.
            self._lines_pending = in_background(look_up, "corr-lines")
        self._memo.clear()

    def _settle_lines(self) -> None:
        """Wait for the source lines being looked up, and keep them."""
        if self._lines_pending is not None:
            self._lines.update(self._lines_pending.result())    # a failure raised at each read
            self._lines_pending = None

    def learn_from_perf_script(self, events) -> None:
        """The reference of :meth:`learn`: perf script's own names of ``events``'
        samples, paired frame by frame (each address of a chain whose sample perf
        printed with as many frames gets that frame's text); perf prints every sample
        of the recording, ten seconds for a million."""
        events = [e for e in events if e[2]]
        wanted = {(tid, ns) for ns, tid, _ in events}
        perfs = [found for found in (run_perf_script(d, wanted) for d in self.perf_data)
                 if found is not None]
        for ns, tid, chain in events:
            for perf in perfs:
                found = perf.samples.get((tid, ns))
                if found is None:
                    continue
                pid, texts = found
                values = chain.kernel + chain.user
                if len(texts) != len(values):
                    break                        # not the same chain: leave it to the rest
                self._pid_of[tid] = pid
                for k, (value, text) in enumerate(zip(values, texts)):
                    if text is None:
                        continue
                    if k < len(chain.kernel):
                        self._kernel.setdefault(value, text)
                    else:
                        self._user.setdefault((pid, value), text)
                break
        self._memo.clear()

    def frame(self, value: int, tid: int | None, kernel: bool) -> str:
        key = (value, None if kernel else tid)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._lookup(value, tid, kernel)
        return found

    def _lookup(self, value: int, tid, kernel: bool) -> str:
        text = (self._kernel.get(value) if kernel
                else self._user.get((self._pid_of.get(tid, tid), value)))
        return (text or self.table.lookup(value)
                or (self._running.lookup(value) if kernel else None) or address(value))

    def frames(self, chain, tid: int | None) -> tuple[list[str], list[str]]:
        """A chain's kernel and user frames as text, innermost first."""
        return ([self.frame(v, tid, True) for v in chain.kernel],
                [self.frame(v, tid, False) for v in chain.user])

    def user_lines(self, chain, tid: int) -> tuple:
        """The source line (``file.c:42``, or None) of each of a chain's user frames,
        innermost first; () when none has one (docs/stacks.md, *Source lines*)."""
        self._settle_lines()
        if not self._lines:
            return ()
        pid = self._pid_of.get(tid, tid)
        found = tuple(self._lines.get((pid, v)) for v in chain.user)
        return found if any(found) else ()
