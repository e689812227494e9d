"""The decode cache's size limit: least recently used entries go first, and a run
reading an entry another run removes gets the same result as without a cache."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from corr import api
from corr.cache import CacheSettings, CacheWarning, parse_size, resolve_size
from corr.cache import decoded
from corr.cache import intervals as cached_intervals
from corr.cache.limit import enforce, usage
from corr.cache.replay import Replay
from corr.cache.store import Entry
from corr.errors import UsageError
from corr.testing.generate import generate_kernel_trace

from conftest import ROOT, one_line_error, run_corr

SYSCALLS = ROOT / "rules" / "syscalls.yaml"          # no blame: interval tables kept too
WAKEUP = ROOT / "rules" / "wakeup.yaml"              # blame: the model and analysis too
BIG = CacheSettings(None, "1G")                      # a limit no test reaches


def as_json(result) -> str:
    """The whole result, every interval included, as comparable text."""
    return json.dumps(result.to_dict(all_intervals=True), sort_keys=True, default=repr)


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> dict[str, Path]:
    """Three copies of one small trace (a, b, c): entries of (nearly) one size."""
    root = tmp_path_factory.mktemp("limit")
    first = generate_kernel_trace(root / "gen", events=3_000, cpus=2, threads=10, seed=1).path
    out = {}
    for name in "abc":
        out[name] = root / name
        shutil.copytree(first, out[name])
    return out


@pytest.fixture(scope="module")
def plain(traces) -> dict:
    """No-cache results, per rule file (the copies give the same result but for paths)."""
    return {(rules, name): as_json(api.run(rules, [path], cache=False))
            for rules in (SYSCALLS, WAKEUP) for name, path in traces.items()}


def cached(cache: Path, size=None) -> CacheSettings:
    return CacheSettings(cache, size if size is not None else BIG.size)


def folders(cache: Path) -> dict[str, str]:
    """{trace name: entry folder name} of the entries with a manifest."""
    out = {}
    for manifest in (cache / "traces").glob("*/manifest.json"):
        body = json.loads(manifest.read_text())["body"]
        out[Path(body["traces"][0]).name] = manifest.parent.name
    return out


def entry_size(cache: Path) -> int:
    sizes = [u.size for u in usage(str(cache))]
    assert len(sizes) == 1
    return sizes[0]


def run_quietly(rules, trace, cache):
    """A run and the CacheWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CacheWarning)
        result = as_json(api.run(rules, [trace], cache=cache))
    return result, [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


# -- sizes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("123", 123), ("123B", 123), ("1K", 1024), ("10kB", 10_240), ("1.5K", 1536),
    ("500M", 500 * 2**20), ("500MiB", 500 * 2**20), ("4G", 4 * 2**30), ("4GiB", 4 * 2**30),
    ("4gb", 4 * 2**30), (" 2 T ", 2 * 2**40), ("0.5G", 2**29), (4096, 4096),
    ("8388607T", 2**63 - 2**40), (2**63 - 1, 2**63 - 1)])
def test_sizes_read(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "4X", "-1", "0", "0.1", "4 GiBs", "iB", "5iB",
                                  "1e9", "4G4", "8388608T", 2**63, "9" * 31, "9" * 5000,
                                  "1." + "9" * 5000])
def test_bad_sizes_are_refused(text):
    with pytest.raises(ValueError) as caught:
        parse_size(text)
    assert len(str(caught.value)) < 200 and "digits" not in str(caught.value)


def test_the_limit_from_settings_then_environment_then_default(monkeypatch):
    monkeypatch.delenv("CORR_CACHE_SIZE", raising=False)
    assert resolve_size(None) == resolve_size(True) == 4 * 2**30
    monkeypatch.setenv("CORR_CACHE_SIZE", "500M")
    assert resolve_size(None) == resolve_size("/some/folder") == 500 * 2**20
    assert resolve_size(CacheSettings("/some/folder", "2K")) == 2048
    assert resolve_size(CacheSettings("/some/folder")) == 500 * 2**20
    monkeypatch.setenv("CORR_CACHE_SIZE", "lots")
    with pytest.raises(UsageError, match="CORR_CACHE_SIZE: 'lots' is not a size"):
        resolve_size(None)
    with pytest.raises(UsageError, match="cache size: '4X' is not a size"):
        CacheSettings(None, "4X")


@pytest.mark.parametrize("command", ["run", "tune", "cache"])
def test_a_bad_cache_size_is_one_line_and_exit_2(tmp_path, traces, command):
    args = {"run": ("run", SYSCALLS, traces["a"]), "tune": ("tune", SYSCALLS, traces["a"]),
            "cache": ("cache", "list")}[command]
    proc = run_corr(*args, "--cache-dir", tmp_path, "--cache-size", "4X")
    one_line_error(proc, "--cache-size", "'4X' is not a size")
    assert not (tmp_path / "traces").exists()


def test_a_bad_cache_size_in_the_environment_is_one_line_and_exit_2(tmp_path, traces):
    proc = run_corr("run", SYSCALLS, traces["a"], "--cache-dir", tmp_path,
                    env={"CORR_CACHE_SIZE": "0"})
    one_line_error(proc, "CORR_CACHE_SIZE: '0'")
    # --no-cache needs no size: the variable is not read.
    proc = run_corr("run", SYSCALLS, traces["a"], "--no-cache", env={"CORR_CACHE_SIZE": "0"})
    assert proc.returncode == 0, proc.stderr


# -- least recently used first --------------------------------------------------------------

def test_a_store_over_the_limit_evicts_the_least_recently_used_entry(tmp_path, traces, plain):
    probe = tmp_path / "probe"
    api.run(SYSCALLS, [traces["a"]], cache=cached(probe))
    fits_two = entry_size(probe) * 5 // 2
    cache = tmp_path / "cache"
    for name in "ab":                                # stored: a, then b
        api.run(SYSCALLS, [traces[name]], cache=cached(cache))
    assert as_json(api.run(SYSCALLS, [traces["a"]], cache=cached(cache))) == \
        plain[SYSCALLS, "a"]                          # a read again: b is now the oldest use
    before = folders(cache)
    result, notes = run_quietly(SYSCALLS, traces["c"], cached(cache, fits_two))
    assert result == plain[SYSCALLS, "c"] and notes == []
    after = folders(cache)
    assert sorted(after) == ["a", "c"] and after["a"] == before["a"]
    assert sorted(p.name for p in (cache / "traces").iterdir()) == sorted(after.values())
    assert sum(u.size for u in usage(str(cache))) <= fits_two


def test_cache_list_evicts_beyond_the_limit_and_shows_last_use(tmp_path, traces):
    cache = tmp_path / "cache"
    for name in "abc":
        api.run(WAKEUP, [traces[name]], cache=cached(cache))
    size = max(u.size for u in usage(str(cache)))
    for name in "cab":                               # used last: c, then a, then b
        api.run(WAKEUP, [traces[name]], cache=cached(cache))
    names = folders(cache)
    listed = run_corr("cache", "list", "--cache-dir", cache, "--cache-size", size * 5 // 2)
    assert listed.returncode == 0, listed.stderr
    assert sorted(folders(cache)) == ["a", "b"]       # c, used least recently, went
    assert not (cache / "traces" / names["c"]).exists()
    lines = listed.stdout.splitlines()
    # The most recently used first: b, then a; then the total against the limit.
    assert [line for line in lines if not line.startswith(" ")][:2] == \
        [str(traces["b"]), str(traces["a"])]
    assert all(", used " in line and line.endswith("]") for line in lines if line.startswith(" "))
    assert lines[-1].startswith("2 entries, ") and lines[-1].endswith(
        "size limit (least recently used last: removed first)")
    assert f"of the {size * 5 // 2 / 1024:.1f} kB size limit" in lines[-1]


def test_use_is_stamped_without_atime(tmp_path, traces):
    """Each read or write sets the entry's last-used stamp (its mtime, set explicitly)."""
    cache = tmp_path / "cache"
    api.run(SYSCALLS, [traces["a"]], cache=cached(cache))
    stamp = cache / "traces" / folders(cache)["a"] / "last-used"
    os.utime(stamp, ns=(0, 0))
    api.run(SYSCALLS, [traces["a"]], cache=cached(cache))          # intervals read back
    assert stamp.stat().st_mtime_ns > 0
    os.utime(stamp, ns=(0, 0))
    api.run(WAKEUP, [traces["a"]], cache=cached(cache))            # columns grown, then read
    assert stamp.stat().st_mtime_ns > 0


@pytest.mark.parametrize("protected", ["in use", "locked by another process"])
def test_the_entry_in_use_or_locked_is_never_evicted(tmp_path, traces, protected):
    cache = tmp_path / "cache"
    for name in "abc":
        api.run(WAKEUP, [traces[name]], cache=cached(cache))
    names = folders(cache)
    a = str(cache / "traces" / names["a"])
    os.utime(Path(a) / "last-used", ns=(1, 1))       # a: the least recently used
    if protected == "in use":
        evicted = enforce(str(cache), 1, keep=[a])
    else:
        holder = subprocess.Popen(
            [sys.executable, "-c", "import fcntl, os, sys\n"
             "fd = os.open(sys.argv[1], os.O_RDWR)\n"
             "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\nsys.stdin.read()",
             os.path.join(a, ".lock")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline() == "locked\n"
            evicted = enforce(str(cache), 1)
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
    assert sorted(evicted) == sorted(str(cache / "traces" / names[n]) for n in "bc")
    assert folders(cache) == {"a": names["a"]}
    if protected != "in use":                        # the writer gone, it may go
        assert enforce(str(cache), 1) == [a] and folders(cache) == {}


@pytest.mark.parametrize("when", ["at the end", "while recording"])
def test_an_entry_larger_than_the_limit_alone_is_not_stored(tmp_path, traces, plain,
                                                           monkeypatch, when):
    """Found when the manifest is written, or (large decodes) while the files grow."""
    cache = tmp_path / "cache"
    api.run(WAKEUP, [traces["b"]], cache=cached(cache))
    if when == "while recording":
        monkeypatch.setattr(decoded, "SIZE_CHECK", 1)   # the files' size after every batch
    result, notes = run_quietly(SYSCALLS, traces["a"], cached(cache, "1K"))
    assert result == plain[SYSCALLS, "a"]
    assert len(notes) == 1, notes
    assert ("not stored: it would take" in notes[0]) == (when == "at the end")
    assert "more than the cache's size limit of 1.0 KiB (--cache-size, CORR_CACHE_SIZE)" in notes[0]
    assert sorted(folders(cache)) == ["b"]            # b is not evicted for an entry never stored
    assert not list((cache / "traces").glob("*/.tmp-*"))


def test_a_grown_entry_larger_than_the_limit_is_not_stored(tmp_path, traces, plain):
    """The entry stays as it was (and is still read back); the run decodes."""
    cache = tmp_path / "cache"
    api.run(WAKEUP, [traces["a"]], cache=cached(cache))
    limit = entry_size(cache) * 3 // 2
    before = {p.name: p.stat().st_size for p in (cache / "traces").glob("*/*.*")}
    result, notes = run_quietly(SYSCALLS, traces["a"], cached(cache, limit))
    assert result == plain[SYSCALLS, "a"]
    assert [n.split(": ", 1)[1].split(" not stored:")[0] for n in notes] == ["entry", "intervals"]
    assert all("more than the cache's size limit" in n for n in notes)
    assert {p.name: p.stat().st_size for p in (cache / "traces").glob("*/*.*")} == before
    assert run_quietly(WAKEUP, traces["a"], cached(cache, limit)) == (plain[WAKEUP, "a"], [])


# -- an entry removed while read --------------------------------------------------------------

def evict_from_another_run(cache: Path, trace: Path, limit: int) -> None:
    """`corr run` of another trace, in another process, storing with a limit that
    leaves room for its own entry only."""
    proc = run_corr("run", WAKEUP, trace, "--cache-dir", cache, "--cache-size", limit,
                    "--format", "json")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@pytest.mark.parametrize("rules", [SYSCALLS, WAKEUP], ids=["intervals", "columns"])
@pytest.mark.parametrize("damage", ["evicted", "file-gone", "truncated"])
def test_an_entry_removed_between_manifest_and_files_is_a_miss(tmp_path, traces, plain,
                                                              monkeypatch, rules, damage):
    """The reader has the manifest; before it opens a data file, another run evicts
    the entry (or a file goes, or is cut): it decodes, and gives the same result."""
    cache = tmp_path / "cache"
    api.run(rules, [traces["a"]], cache=cached(cache))
    folder = cache / "traces" / folders(cache)["a"]
    api.run(WAKEUP, [traces["b"]], cache=cached(tmp_path / "probe"))
    only_one = entry_size(tmp_path / "probe") * 3 // 2
    real, done = Entry.manifest, []

    def manifest_then_damage(self):
        body = real(self)
        if body is not None and not done and self.folder == str(folder):
            done.append(self.folder)
            if damage == "evicted":
                evict_from_another_run(cache, traces["b"], only_one)
                assert not folder.exists()
            else:
                data = max(folder.glob("*.arrow"), key=lambda p: p.stat().st_size)
                if damage == "file-gone":
                    data.unlink()
                else:
                    data.write_bytes(data.read_bytes()[:-100])
        return body
    monkeypatch.setattr(Entry, "manifest", manifest_then_damage)
    result, notes = run_quietly(rules, traces["a"], cached(cache))
    assert done and result == plain[rules, "a"]
    if damage == "evicted":
        assert notes == []                            # a miss, nothing to warn about
    else:
        assert len(notes) == 1 and re.search(r"decoding (it )?again$", notes[0]), notes
    monkeypatch.undo()
    assert "a" in folders(cache)                      # stored again by the reader
    assert run_quietly(rules, traces["a"], cached(cache)) == (plain[rules, "a"], [])


@pytest.mark.parametrize("rules", [SYSCALLS, WAKEUP], ids=["intervals", "columns"])
def test_an_entry_removed_after_its_files_were_mapped_is_still_read(tmp_path, traces, plain,
                                                                   monkeypatch, rules):
    """Another process clears the entry once the reader has mapped its files: the
    reader goes on from the mappings, without a warning."""
    cache = tmp_path / "cache"
    api.run(rules, [traces["a"]], cache=cached(cache))
    cleared = []

    def clear():
        proc = run_corr("cache", "clear", "--cache-dir", cache)
        assert proc.stdout.strip() == "removed 1 cache entry", proc.stderr
        cleared.append(True)
    if rules == WAKEUP:
        real = Replay.batches

        def batches(self):
            clear()
            yield from real(self)
        monkeypatch.setattr(Replay, "batches", batches)
        # The columns read back: not the run's kept intervals, model and analysis.
        monkeypatch.setattr(cached_intervals, "cached_run", lambda *args: None)
    else:
        real = cached_intervals.cached_run

        def cached_run(*args):
            hit = real(*args)
            assert hit is not None
            clear()
            return hit
        monkeypatch.setattr(cached_intervals, "cached_run", cached_run)
    result, notes = run_quietly(rules, traces["a"], cached(cache))
    assert cleared and result == plain[rules, "a"] and notes == []
    assert folders(cache) == {}


def test_an_entry_evicted_before_its_intervals_are_added_is_left_alone(tmp_path, traces, plain,
                                                                       monkeypatch):
    """The run stored the columns; another run evicts the entry before this one adds
    its interval tables: they are not stored, without a warning, nor a new folder."""
    cache = tmp_path / "cache"
    real, cleared = cached_intervals._write, []

    def clear_then_write(entry, matcher):
        if not cleared:
            proc = run_corr("cache", "clear", "--cache-dir", cache)
            assert proc.stdout.strip() == "removed 1 cache entry", proc.stderr
            cleared.append(True)
        return real(entry, matcher)
    monkeypatch.setattr(cached_intervals, "_write", clear_then_write)
    result, notes = run_quietly(SYSCALLS, traces["a"], cached(cache))
    assert cleared and result == plain[SYSCALLS, "a"] and notes == []
    assert list((cache / "traces").iterdir()) == []
