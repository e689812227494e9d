"""The decode cache: results identical with and without it, and never trusted blindly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import corr.cache.decoded as decoded
from corr import api
from corr.cache import CacheWarning
from corr.normalise import Canonical
from corr.render import run_json
from corr.testing.generate import generate_kernel_trace

from conftest import EXAMPLE_TRACE, ROOT, run_corr, shared_trace

SYSCALLS = ROOT / "rules" / "syscalls.yaml"
WAKEUP = ROOT / "rules" / "wakeup.yaml"


def as_json(result) -> str:
    return run_json.render(result, all_intervals=True)


def entry_files(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "traces").glob("*/*") if p.name != ".lock")


@pytest.fixture
def decodes(monkeypatch):
    """What the cache asked the normaliser to decode: (projection, events per class name)."""
    seen = []

    class Counting(Canonical):
        def batches(self):
            counts = {}
            seen.append((self.projection, counts))
            for batch in super().batches():
                for cols in batch.classes.values():
                    counts[cols.info.name] = counts.get(cols.info.name, 0) + len(cols)
                yield batch
    monkeypatch.setattr(decoded, "Canonical", Counting)
    return seen


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    return generate_kernel_trace(tmp_path_factory.mktemp("gen") / "t", events=60_000, cpus=2,
                                 threads=20, seed=3).path


def fresh_copy(trace: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "trace"
    shutil.copytree(trace, copy)
    return copy


# -- same results --------------------------------------------------------------------------

@pytest.mark.shared
@pytest.mark.parametrize("name,rules", [("many-threads", SYSCALLS), ("many-threads", WAKEUP),
                                        ("wget-k-20180802-115043", SYSCALLS),
                                        ("bug446190", SYSCALLS)])
def test_cli_json_is_the_same_with_and_without_the_cache(tmp_path, name, rules):
    trace = shared_trace(name)
    env = {"CORR_CACHE_DIR": str(tmp_path / "cache")}
    args = ("run", rules, trace, "--format", "json", "--all-intervals")
    plain = run_corr(*args, "--no-cache", env=env)
    first, again = run_corr(*args, env=env), run_corr(*args, env=env)
    tuned = run_corr(*args, "--set", "syscalls.threshold=5us" if rules == SYSCALLS
                     else "wakeup.threshold=5us", env=env)
    tuned_plain = run_corr(*args, "--no-cache", "--set", "syscalls.threshold=5us"
                           if rules == SYSCALLS else "wakeup.threshold=5us", env=env)
    assert plain.returncode == first.returncode == again.returncode == 0, first.stderr
    assert first.stdout == plain.stdout and again.stdout == plain.stdout
    assert tuned.stdout == tuned_plain.stdout and tuned.stdout != plain.stdout
    assert first.stderr == again.stderr == ""


@pytest.mark.parametrize("rules", ["offcpu.yaml", "llserver.yaml"])
def test_example_recording_with_blame_rules(tmp_path, rules, decodes):
    """Rules with blame: read the decoded columns back (their scheduling log is not kept)."""
    path = ROOT / "rules" / rules
    plain = as_json(api.run(path, [EXAMPLE_TRACE], cache=False))
    first = as_json(api.run(path, [EXAMPLE_TRACE], cache=tmp_path))
    decoded_first = len(decodes)
    again = as_json(api.run(path, [EXAMPLE_TRACE], cache=tmp_path))
    assert first == plain and again == plain
    assert decoded_first == 1 and len(decodes) == 1        # the re-run decoded nothing


def test_a_threshold_rerun_neither_decodes_nor_matches(tmp_path, generated, decodes, monkeypatch):
    api.run(SYSCALLS, [generated], cache=tmp_path)
    import corr.engine as engine

    def no_matching(*args, **kwargs):
        raise AssertionError("matched again")
    monkeypatch.setattr(engine, "Engine", no_matching)
    tuned = as_json(api.run(SYSCALLS, [generated], ["syscalls.threshold=20us"], cache=tmp_path))
    monkeypatch.undo()
    assert tuned == as_json(api.run(SYSCALLS, [generated], ["syscalls.threshold=20us"], cache=False))
    assert len(decodes) == 1


PHP_RULES = {
    "execute": ("ust_php:execute_entry", "ust_php:execute_exit"),
    # LTTng-UST's state dump: the trace's first event, 33 ms before the first execute.
    "statedump": ("lttng_ust_statedump:start", "lttng_ust_statedump:end"),
}


def php_rules(folder: Path, *names: str) -> Path:
    path = folder / ("-".join(names) + ".yaml")
    path.write_text("version: 1\nrules:\n" + "".join(
        f"  - name: {name}\n    entry: {{event: \"{PHP_RULES[name][0]}\", key: {{tid: $tid}}}}\n"
        f"    exit: {{event: \"{PHP_RULES[name][1]}\", key: {{tid: $tid}}}}\n"
        "    threshold: 1ms\n" for name in names))
    return path


@pytest.mark.shared
def test_a_run_from_the_cache_begins_and_ends_where_corr_inspect_says(tmp_path, decodes):
    """The entry keeps each trace's first and last event of any class: a run that decodes
    nothing (columns or interval tables read back), or only what the entry lacks, counts
    from them, not from the first event its rules decode."""
    import corr
    trace = shared_trace("php-u-20180813-150550")
    inspected = corr.inspect([trace])
    span = (inspected.begin_ns, inspected.end_ns)
    cache = tmp_path / "cache"

    def run(rules):
        result = api.run(rules, [trace], cache=cache)
        if "statedump" not in rules.name:             # the trace's first event
            assert result.begin_ns > span[0]          # is not the first these decode
        return result.trace_begin_ns, result.trace_end_ns
    execute = php_rules(tmp_path, "execute")
    both = php_rules(tmp_path, "execute", "statedump")
    assert run(execute) == span                       # recorded
    assert run(both) == span                          # grown
    grown = len(decodes)
    assert run(php_rules(tmp_path, "statedump")) == span     # the columns read back
    assert run(execute) == span                       # the interval tables read back
    assert run(both) == span
    assert len(decodes) == grown == 2


@pytest.mark.shared
@pytest.mark.parametrize("name", ["php-u-20180813-150550", "wget-k-20180802-115043"])
def test_an_entry_from_before_first_and_last_events_were_kept_is_rebuilt(tmp_path, decodes,
                                                                         name):
    """Format 1 entries hold no first and last events: decoded again, never a start
    counted from elsewhere (interval tables for php's rules, columns for wakeup.yaml's)."""
    import corr
    from corr.cache import store
    trace = shared_trace(name)
    rules = php_rules(tmp_path, "execute") if name.startswith("php") else WAKEUP
    cache = tmp_path / "cache"
    api.run(rules, [trace], cache=cache)
    (manifest,) = (cache / "traces").glob("*/manifest.json")
    body = json.loads(manifest.read_text())["body"]
    del body["events_ns"]
    body["identity"]["format"] = 1
    key = store.read_key(str(manifest.parent.parent.parent))
    manifest.write_text(json.dumps({"body": body, "seal": store.seal(body, key)}))
    result = api.run(rules, [trace], cache=cache)
    assert result.trace_begin_ns == corr.inspect([trace]).begin_ns
    assert len(decodes) == 2
    assert "events_ns" in json.loads(manifest.read_text())["body"]


# -- rebuilt, never trusted ----------------------------------------------------------------

def test_a_touched_trace_is_decoded_again(tmp_path, generated, decodes):
    trace = fresh_copy(generated, tmp_path)
    cache = tmp_path / "cache"
    before = as_json(api.run(WAKEUP, [trace], cache=cache))
    stream = next(p for p in sorted(trace.iterdir()) if p.name.startswith("channel"))
    st = stream.stat()
    os.utime(stream, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    after = as_json(api.run(WAKEUP, [trace], cache=cache))
    assert len(decodes) == 2 and after == before
    manifest = json.loads(next((cache / "traces").glob("*/manifest.json")).read_text())
    files = dict((f[0], f[2]) for f in manifest["body"]["identity"]["traces"][0]["files"])
    assert files[stream.name] == st.st_mtime_ns + 1_000_000_000
    as_json(api.run(WAKEUP, [trace], cache=cache))
    assert len(decodes) == 2                                # and then read back


def test_a_grown_projection_decodes_only_what_is_missing(tmp_path, generated, decodes):
    cache = tmp_path / "cache"
    api.run(WAKEUP, [generated], cache=cache)
    wakeup_classes = set(decodes[0][1])
    grown = as_json(api.run(SYSCALLS, [generated], cache=cache))
    assert grown == as_json(api.run(SYSCALLS, [generated], cache=False))
    assert len(decodes) == 2
    projection, counts = decodes[1]
    # sched_wakeup (wakeup's alone) was not decoded again; the syscalls were.
    assert "sched_wakeup" in wakeup_classes and "sched_wakeup" not in counts
    assert projection.fields_for("sched_wakeup") is None
    assert any(name.startswith("syscall_entry_") for name in counts)
    # Both projections are now read back without decoding.
    assert as_json(api.run(WAKEUP, [generated], cache=cache)) == \
        as_json(api.run(WAKEUP, [generated], cache=False))
    assert len(decodes) == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest", "no-manifest"])
@pytest.mark.parametrize("rules", [WAKEUP, SYSCALLS], ids=["with-blame", "without-blame"])
def test_corrupt_or_partial_entries_are_rebuilt(tmp_path, generated, decodes, damage, rules):
    """With blame: the run reads the columns back; without, the interval tables too."""
    cache = tmp_path / "cache"
    plain = as_json(api.run(rules, [generated], cache=False))
    api.run(rules, [generated], cache=cache)
    files = entry_files(cache)
    data = max((p for p in files if p.suffix == ".arrow"), key=lambda p: p.stat().st_size)
    manifest = data.parent / "manifest.json"
    if damage == "flip":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0x40
        data.write_bytes(bytes(raw))
    elif damage == "truncate":
        data.write_bytes(data.read_bytes()[:-100])
    elif damage == "manifest":
        manifest.write_text(manifest.read_text().replace('"rows": ', '"rows": 1', 1))
    else:   # a writer that died half-way: its temporary files, no manifest
        manifest.unlink()
        (data.parent / ".tmp-999999999-dead.arrow").write_bytes(b"half")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = as_json(api.run(rules, [generated], cache=cache))
    assert again == plain
    assert len(decodes) == 2                                 # decoded again, not trusted
    notes = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert bool(notes) == (damage != "no-manifest"), notes
    assert not list(data.parent.glob(".tmp-*"))
    assert as_json(api.run(rules, [generated], cache=cache)) == plain
    assert len(decodes) == 2                                 # the rebuilt entry is read back


def test_two_runs_at_once_on_an_empty_cache(tmp_path, generated):
    env = {**os.environ, "CORR_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "corr", "run", str(SYSCALLS), str(generated), "--format", "json"]
    plain = subprocess.run([*cmd, "--no-cache"], capture_output=True, text=True, env=env)
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert all(out == plain.stdout and err == "" for out, err in outs)
    after = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert after.stdout == plain.stdout and after.stderr == ""
    body = json.loads(next((tmp_path / "cache" / "traces").glob("*/manifest.json")).read_text())
    assert body["body"]["rules"]                             # valid, and complete


# -- the command line ----------------------------------------------------------------------

def test_cache_list_and_clear(tmp_path, generated):
    cache = tmp_path / "cache"
    other = fresh_copy(generated, tmp_path)
    for trace in (generated, other):
        assert run_corr("run", WAKEUP, trace, "--cache-dir", cache).returncode == 0
    listed = run_corr("cache", "list", "--cache-dir", cache)
    assert listed.returncode == 0
    assert str(generated) in listed.stdout and str(other) in listed.stdout
    assert "irq_handler_entry" in listed.stdout and ("MB" in listed.stdout or "kB" in listed.stdout)
    cleared = run_corr("cache", "clear", other, "--cache-dir", cache)
    assert cleared.stdout.strip() == "removed 1 cache entry"
    listed = run_corr("cache", "list", "--cache-dir", cache)
    assert str(generated) in listed.stdout and str(other) not in listed.stdout
    assert run_corr("cache", "clear", "--cache-dir", cache).stdout.strip() == "removed 1 cache entry"
    assert run_corr("cache", "list", "--cache-dir", cache, env={"CORR_CACHE_SIZE": ""}) \
        .stdout.strip() == "no cache entries (size limit 4.0 GB)"


def test_no_cache_writes_nothing(tmp_path, generated):
    cache = tmp_path / "cache"
    proc = run_corr("run", WAKEUP, generated, "--no-cache", env={"CORR_CACHE_DIR": str(cache)})
    assert proc.returncode == 0 and not cache.exists()
    proc = run_corr("run", WAKEUP, generated, env={"CORR_CACHE_DIR": str(cache), "CORR_NO_CACHE": "1"})
    assert proc.returncode == 0 and not cache.exists()


def test_an_unwritable_cache_folder_is_a_warning(tmp_path, generated):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    plain = run_corr("run", WAKEUP, generated, "--format", "json", "--no-cache")
    proc = run_corr("run", WAKEUP, generated, "--format", "json", "--cache-dir", blocked)
    assert proc.returncode == 0 and proc.stdout == plain.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corr: warning: cache folder")
    assert "not writable" in lines[0]


def test_cached_columns_read_lazily_give_the_same_values():
    """A re-run's name, key and field columns: Python values on demand, the same as a list."""
    import pyarrow as pa

    from corr.cache.lazy import ArrowList
    values = ["sshd", None, "kworker/0:1", "sshd"] * 50
    lazy = ArrowList(pa.chunked_array([pa.array(values[:7]), pa.array(values[7:])]))
    assert len(lazy) == 200 and lazy[0] == "sshd" and lazy[1] is None and lazy[-2] == "kworker/0:1"
    assert lazy._values is None                       # single reads convert nothing
    with pytest.raises(IndexError):
        lazy[200]
    for i in range(len(lazy)):                        # read row by row: converted once, whole
        assert lazy[i] == values[i]
    assert lazy._values == values
    assert list(lazy) == values and lazy[3:6] == values[3:6] and lazy == values
