"""Splitting one trace's stream files into groups decoded by parallel workers.

babeltrace2 decodes a trace's streams one after the other in one thread;
two halves of a trace's stream files, each a trace folder of its own
(symlinks to ``metadata``, the stream files and their ``index/`` files),
decode in half the time on two cores.  The files of one CPU stay
together: LTTng's rotated files of a stream (``channel0_3_0``,
``channel0_3_1``) are one stream to babeltrace2 and must not be split.
"""

from __future__ import annotations

import os
import re

from ..errors import UsageError

# Below this much stream data a trace decodes about as fast in one process:
# each worker parses the metadata again and the parent merges what they
# send.  Measured (corr run rules/syscalls.yaml, best of 5, serial against
# two workers): 0.7-1 MB 0.28-0.32 s either way, 3.35 MB (hello-lost) 0.211
# against 0.229 s, 7.7 MB (many-threads) 0.56 against 0.49 s.
MIN_PARALLEL_BYTES = 6 << 20
# Smaller batches cost a message each between worker and parent.
MIN_PARALLEL_BATCH = 1024

_CPU_SUFFIX = re.compile(r"_(\d+)(?:_\d+)?$")


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def requested_jobs(jobs) -> int | None:
    """The number of workers asked for: an int, or None for "decide from the trace".

    ``jobs`` None or "auto" defers to ``CORR_JOBS`` (unset or "auto": decide).
    """
    what = "jobs"
    if jobs is None or jobs == "auto":
        what, jobs = "CORR_JOBS", os.environ.get("CORR_JOBS", "auto").strip() or "auto"
        if jobs == "auto":
            return None
    try:
        value = int(jobs)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise UsageError(f"{what} must be a positive integer or 'auto', not {jobs!r}")
    return value


def stream_files(path: str) -> list[str]:
    """A trace folder's data stream files (as ``metadata.load`` counts them)."""
    return sorted(f for f in os.listdir(path)
                  if f != "metadata" and not f.startswith(".")
                  and os.path.isfile(os.path.join(path, f)))


def cpu_key(name: str):
    """Which files must share a group: LTTng's ``channelX_N[_K]`` by CPU N, else the file."""
    m = _CPU_SUFFIX.search(name)
    return int(m.group(1)) if m else name


def plan(path: str, jobs=None, batch_size: int = 32_768) -> list[list[str]] | None:
    """The stream files of each worker, or None to decode in one process.

    Workers: ``min(CPUs, CPU groups of files, jobs)``.  With ``jobs`` left
    to "auto" small traces and small batches stay serial; an explicit
    ``jobs`` >= 2 splits any trace that can be split.
    """
    wanted = requested_jobs(jobs)
    if wanted == 1:
        return None
    try:
        files = stream_files(path)
    except OSError:
        return None
    sizes = {f: os.path.getsize(os.path.join(path, f)) for f in files}
    buckets: dict[object, list[str]] = {}
    for f in files:
        buckets.setdefault(cpu_key(f), []).append(f)
    k = min(usable_cpus(), len(buckets), wanted or len(buckets))
    if k < 2:
        return None
    if wanted is None and (sum(sizes.values()) < MIN_PARALLEL_BYTES
                           or batch_size < MIN_PARALLEL_BATCH):
        return None
    return balance(list(buckets.values()), sizes, k)


def balance(buckets: list[list[str]], sizes: dict[str, int], k: int) -> list[list[str]]:
    """``k`` groups of buckets with near-equal bytes: largest bucket first to the lightest."""
    groups: list[list[str]] = [[] for _ in range(k)]
    loads = [0] * k
    for bucket in sorted(buckets, key=lambda b: (-sum(sizes[f] for f in b), b)):
        i = loads.index(min(loads))
        groups[i].extend(bucket)
        loads[i] += sum(sizes[f] for f in bucket)
    return [sorted(g) for g in groups if g]


def auto_stream_ids(path: str) -> dict[str, int] | None:
    """The stream ids ``src.ctf.fs`` gives a trace's files when its packets name none.

    Without ``stream_instance_id`` in the packet header, babeltrace2 2.0
    numbers the streams 0, 1, ... in file-name order (empty files skipped),
    so a group folder's numbers are not the whole trace's; the muxer breaks
    timestamp ties by these ids.  None: the packets carry their ids.
    """
    from .metadata import _COMMENT, metadata_text
    text = metadata_text(path)
    if text is None or "stream_instance_id" in _COMMENT.sub("", text):
        return None
    files = [f for f in stream_files(path) if os.path.getsize(os.path.join(path, f)) > 0]
    return {f: i for i, f in enumerate(sorted(files, key=os.fsencode))}


_ROTATED = re.compile(r"^(.*_\d+)_(\d+)$")


def port_groups(port_names: list[str], path: str,
                groups: list[list[str]]) -> list[list[int]] | None:
    """The output ports of the trace's ``src.ctf.fs`` that carry each group's files,
    or None when that cannot be told.

    A port is one stream.  Its name ends with the stream's file path when the
    packets name no stream instance; otherwise with the instance id, and
    babeltrace2 creates the ports in the order of each stream's first file
    (``compare_ds_file_groups_by_first_path``), a stream being one file or
    LTTng's rotated files of one channel and CPU (``channel0_3_0``,
    ``channel0_3_1``).  A worker checks that the streams it reads are its
    group's files (:mod:`parallel`): a wrong guess costs a serial decode,
    never a wrong result.
    """
    owner = {f: i for i, files in enumerate(groups) for f in files}
    tails = [name.rsplit(" | ", 1)[-1] for name in port_names]
    out: list[list[int]] = [[] for _ in groups]
    if all(t.startswith("/") for t in tails):
        for port, tail in enumerate(tails):
            group = owner.get(os.path.basename(tail))
            if group is None:
                return None
            out[group].append(port)
        return out
    streams: dict[str, list[str]] = {}
    for f in stream_files(path):
        if os.path.getsize(os.path.join(path, f)) > 0:
            m = _ROTATED.match(f)
            streams.setdefault(m.group(1) if m else f, []).append(f)
    firsts = []
    for files in streams.values():
        files.sort(key=lambda f: (int(m.group(2)) if (m := _ROTATED.match(f)) else 0))
        if len({owner.get(f) for f in files}) != 1 or owner.get(files[0]) is None:
            return None
        firsts.append(files[0])
    if len(firsts) != len(port_names):
        return None
    for port, first in enumerate(sorted(firsts, key=os.fsencode)):
        out[owner[first]].append(port)
    return out


_GROUP_PREFIX = "corr-group-"


def make_group_dir(path: str, files: list[str]) -> str:
    """A temporary trace folder: symlinks to the metadata, ``files`` and their indexes.

    Named after this process, so that a later run can remove the folders
    of one that was killed before it could (:func:`remove_stale_group_dirs`).
    """
    import shutil
    import tempfile     # both only when a trace is split: start-up matters more

    src = os.path.abspath(path)
    group = tempfile.mkdtemp(prefix=f"{_GROUP_PREFIX}{os.getpid()}-")
    try:
        os.symlink(os.path.join(src, "metadata"), os.path.join(group, "metadata"))
        index = os.path.join(src, "index")
        for f in files:
            os.symlink(os.path.join(src, f), os.path.join(group, f))
            idx = os.path.join(index, f + ".idx")
            if os.path.isfile(idx):
                os.makedirs(os.path.join(group, "index"), exist_ok=True)
                os.symlink(idx, os.path.join(group, "index", f + ".idx"))
    except OSError:
        shutil.rmtree(group, ignore_errors=True)
        raise
    return group


def remove_stale_group_dirs(older_than: float = 600) -> None:
    """Remove the group folders of processes gone without cleaning up (killed outright).

    Only folders older than ``older_than`` seconds: a process of another
    PID namespace sharing this temporary folder would look gone.
    """
    import shutil
    import tempfile
    import time

    tmp = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(tmp) if n.startswith(_GROUP_PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name[len(_GROUP_PREFIX):].split("-", 1)[0]
        path = os.path.join(tmp, name)
        try:
            old = time.time() - os.lstat(path).st_mtime > older_than
        except OSError:
            continue
        if old and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(path, ignore_errors=True)


def bt2_path(path: str) -> str:
    """``path`` as babeltrace2 names it in stream names (absolute, ``.``/``..`` resolved).

    Like ``bt_common_normalize_path``: lexical, from glib's current
    directory (``$PWD`` when it is the working directory), no symlink resolved.
    """
    if not os.path.isabs(path):
        cwd = os.getcwd()
        pwd = os.environ.get("PWD")
        if pwd and os.path.isabs(pwd):
            try:
                if os.path.samefile(pwd, "."):
                    cwd = pwd
            except OSError:
                pass
        path = os.path.join(cwd, path)
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)
