"""The cache keeps the analysis: a re-run of ``blame:`` rules makes no pass.

A first run stores its intervals, the scheduling model (timeline columns,
thread names over time) and each blame rule's totals; a re-run with the
same rules neither decodes, reads the columns back, matches, builds the
model nor adds the totals up again, and writes the same bytes as the first
run and as a run without the cache.  A threshold re-run adds up only its
new totals, over the kept model.  A model or analysis that is damaged or
gone is a miss: the same result, at most a CacheWarning.
"""

from __future__ import annotations

import io
import json
import shutil
import warnings
from pathlib import Path

import pytest

from corr import api
from corr.analyses import bulk
from corr.cache import CacheWarning
from corr.cache.replay import Replay
from corr.cache.store import Entry
from corr.engine import runner
from corr.engine.filters import ThreadFilter
from corr.normalise import Canonical
from corr.sched.log import SchedLog
from corr.sched.store import TimelineStore
from corr.testing.generate import generate_kernel_trace

from conftest import EXAMPLE_TRACE, ROOT, run_corr, shared_trace

OFFCPU = ROOT / "rules" / "offcpu.yaml"
WAKEUP = ROOT / "rules" / "wakeup.yaml"
TRACES = ["llserver", "many-threads", "wget-k-20180802-115043"]
LOWER = {OFFCPU: "offcpu.threshold=200us", WAKEUP: "wakeup.threshold=50us"}


def trace_path(name: str) -> Path:
    return EXAMPLE_TRACE if name == "llserver" else shared_trace(name)


def written(result, fmt: str = "json") -> bytes:
    """What ``corr run --format FMT`` writes of the result."""
    out = io.BytesIO()
    api.write(result, fmt, stream=out)
    return out.getvalue()


def same(out: bytes, expected: bytes) -> None:
    """Byte identity, and where it fails, a short message (pytest's own diff of two
    documents of megabytes takes minutes)."""
    if out != expected:
        at = next((i for i, (x, y) in enumerate(zip(out, expected)) if x != y),
                  min(len(out), len(expected)))
        raise AssertionError(f"outputs differ at byte {at} (of {len(out)} and "
                             f"{len(expected)}): {out[at - 60:at + 60]!r} "
                             f"!= {expected[at - 60:at + 60]!r}")


def quiet(found: tuple, expected: bytes) -> None:
    """A run's (output, CacheWarnings): the expected bytes, no warning."""
    out, notes = found
    same(out, expected)
    assert notes == []


def run(rules, trace, cache, overrides=(), **kwargs):
    """A run and the CacheWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CacheWarning)
        result = api.run(rules, [trace], overrides=overrides, cache=cache, **kwargs)
        out = written(result)
    return out, [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


def forbid_pass(monkeypatch, totals: bool = True) -> None:
    """Every step of a pass raises from now on: decoding, the cached columns read back,
    matching, collecting and building the scheduling model; with ``totals``, adding
    up a rule's blame too."""
    def refuse(what):
        def call(*args, **kwargs):
            raise AssertionError(f"the re-run {what}")
        return call
    monkeypatch.setattr(Canonical, "batches", refuse("decoded"))
    monkeypatch.setattr(Replay, "batches", refuse("read the decoded columns back"))
    monkeypatch.setattr(runner.Engine, "__init__", refuse("matched"))
    monkeypatch.setattr(SchedLog, "add_batch", refuse("collected scheduling events"))
    monkeypatch.setattr(TimelineStore, "__init__", refuse("built the scheduling model"))
    if totals:
        monkeypatch.setattr(bulk, "totals", refuse("added the blame totals up again"))


def model_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("traces/*/model-*.arrow"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    return generate_kernel_trace(tmp_path_factory.mktemp("gen") / "t", events=20_000, cpus=2,
                                 threads=12, seed=5).path


# -- a re-run makes no pass ------------------------------------------------------------------

@pytest.mark.parametrize("rules", [OFFCPU, WAKEUP], ids=["offcpu", "wakeup"])
@pytest.mark.parametrize("name", TRACES)
def test_a_rerun_makes_no_pass_and_writes_the_same_bytes(tmp_path, monkeypatch, name, rules):
    trace = trace_path(name)
    plain = written(api.run(rules, [trace], cache=False))
    quiet(run(rules, trace, tmp_path), plain)
    assert len(model_files(tmp_path)) == 1
    forbid_pass(monkeypatch)
    quiet(run(rules, trace, tmp_path), plain)
    text = written(api.run(rules, [trace], cache=tmp_path), "text")   # another format
    monkeypatch.undo()
    same(text, written(api.run(rules, [trace], cache=False), "text"))


def test_a_model_on_disk_is_kept_a_slice_at_a_time_and_served_the_same(tmp_path, monkeypatch,
                                                                      generated):
    """A model whose store went to disk (laid out by time, in blocks of a few segments)
    is written to the cache a slice at a time, its pages handed back after each, and a
    re-run served from it writes the bytes the run wrote."""
    from corr.cache import packed
    from corr.sched import store
    from corr.spill import SPILL_ROWS_ENV
    for name, value in ((SPILL_ROWS_ENV, "500"), (store.MODEL_EVENTS_ENV, "2000"),
                        (store.BLOCK_ENV, "4")):
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(packed._Sliced, "SLICE", 4096)
    released = []
    monkeypatch.setattr(store.TimelineStore, "release_pages",
                        lambda self, _orig=store.TimelineStore.release_pages:
                        (released.append(self.mapped), _orig(self))[1])
    plain = written(api.run(OFFCPU, [generated], cache=False))
    quiet(run(OFFCPU, generated, tmp_path), plain)
    assert len(model_files(tmp_path)) == 1 and released.count(True) > 10
    forbid_pass(monkeypatch)
    quiet(run(OFFCPU, generated, tmp_path), plain)


def test_the_command_line_rerun_writes_the_same_json(tmp_path):
    args = ("run", OFFCPU, EXAMPLE_TRACE, "--format", "json")
    plain = run_corr(*args, "--no-cache")
    first = run_corr(*args, "--cache-dir", tmp_path)
    again = run_corr(*args, "--cache-dir", tmp_path)
    assert plain.returncode == 0 and plain.stdout
    same(first.stdout.encode(), plain.stdout.encode())
    same(again.stdout.encode(), plain.stdout.encode())
    assert first.stderr == again.stderr == ""
    assert model_files(tmp_path)


# -- another threshold: the kept model, new totals ------------------------------------------

@pytest.mark.parametrize("rules", [OFFCPU, WAKEUP], ids=["offcpu", "wakeup"])
@pytest.mark.parametrize("name", ["llserver", "many-threads"])
def test_a_threshold_rerun_adds_up_over_the_kept_model(tmp_path, monkeypatch, name, rules):
    trace = trace_path(name)
    lower = (LOWER[rules],)
    plain = written(api.run(rules, [trace], overrides=lower, cache=False))
    default = written(api.run(rules, [trace], cache=False))
    assert plain != default                                        # the threshold tells
    quiet(run(rules, trace, tmp_path), default)
    forbid_pass(monkeypatch, totals=False)
    calls = []
    real = bulk.totals
    monkeypatch.setattr(bulk, "totals", lambda *a, **k: calls.append(1) or real(*a, **k))
    quiet(run(rules, trace, tmp_path, lower), plain)
    assert calls                                                   # added up, no pass
    forbid_pass(monkeypatch)                                       # then kept, as the first
    quiet(run(rules, trace, tmp_path, lower), plain)
    quiet(run(rules, trace, tmp_path), default)


def test_a_blame_limit_and_a_name_filter_are_served_too(tmp_path, monkeypatch):
    trace = trace_path("many-threads")
    flt = ThreadFilter(comms=("lttng*",))
    expected = {limit: written(api.run(WAKEUP, [trace], cache=False, blame_limit=limit,
                                       filter=flt)) for limit in (0, 5)}
    run(WAKEUP, trace, tmp_path)                                  # no filter, no limit
    forbid_pass(monkeypatch, totals=False)
    for limit in (0, 5, 0, 5):
        quiet(run(WAKEUP, trace, tmp_path, blame_limit=limit, filter=flt), expected[limit])


def test_a_pid_filter_makes_its_pass(tmp_path, monkeypatch):
    """Process ids are learned by a pass: such a run is not served from what is kept."""
    trace = trace_path("llserver")
    flt = ThreadFilter(pids=(1,))
    plain = written(api.run(OFFCPU, [trace], cache=False, filter=flt))
    run(OFFCPU, trace, tmp_path)
    passes = []
    real = runner.Engine.__init__
    monkeypatch.setattr(runner.Engine, "__init__",
                        lambda self, *a, **k: passes.append(1) or real(self, *a, **k))
    quiet(run(OFFCPU, trace, tmp_path, filter=flt), plain)
    assert passes


def test_the_python_model_makes_its_pass(tmp_path, monkeypatch):
    """CORR_SCHED=python explains from the log's events, which are not kept."""
    plain = written(api.run(OFFCPU, [EXAMPLE_TRACE], cache=False))
    run(OFFCPU, EXAMPLE_TRACE, tmp_path)
    monkeypatch.setenv("CORR_SCHED", "python")
    passes = []
    real = runner.Engine.__init__
    monkeypatch.setattr(runner.Engine, "__init__",
                        lambda self, *a, **k: passes.append(1) or real(self, *a, **k))
    quiet(run(OFFCPU, EXAMPLE_TRACE, tmp_path), plain)
    assert passes


# -- damaged, gone, evicted: a miss -----------------------------------------------------------

@pytest.mark.parametrize("kind", ["model", "analysis"])
@pytest.mark.parametrize("damage", ["flipped", "truncated", "gone"])
def test_a_damaged_or_vanished_model_is_a_miss(tmp_path, generated, kind, damage):
    plain = written(api.run(OFFCPU, [generated], cache=False))
    run(OFFCPU, generated, tmp_path)
    (path,) = tmp_path.glob(f"traces/*/{kind}-*.arrow")
    data = path.read_bytes()
    if damage == "flipped":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0x55]) + data[middle + 1:])
    elif damage == "truncated":
        path.write_bytes(data[:-64])
    else:
        path.unlink()
    out, notes = run(OFFCPU, generated, tmp_path)
    same(out, plain)
    assert len(notes) <= 1 and all(kind in n or "decoding again" in n for n in notes), notes
    assert len(model_files(tmp_path)) == 1                       # kept anew by that run
    quiet(run(OFFCPU, generated, tmp_path), plain)


def test_an_analysis_not_read_back_is_made_again_and_replaced(tmp_path, generated,
                                                              monkeypatch):
    """One that passes its CRC yet cannot be restored is explained again over the kept
    model (a warning), and the new one replaces it."""
    from corr.cache import analysis as kept_analysis
    plain = written(api.run(OFFCPU, [generated], cache=False))
    run(OFFCPU, generated, tmp_path)
    (before,) = tmp_path.glob("traces/*/analysis-*.arrow")

    def refuse(*args):
        raise ValueError("not this one")
    monkeypatch.setattr(kept_analysis, "restore", refuse)
    forbid_pass(monkeypatch, totals=False)
    out, notes = run(OFFCPU, generated, tmp_path)
    same(out, plain)
    assert len(notes) == 1 and "explaining again" in notes[0], notes
    monkeypatch.undo()
    (after,) = tmp_path.glob("traces/*/analysis-*.arrow")
    assert after != before
    forbid_pass(monkeypatch)
    quiet(run(OFFCPU, generated, tmp_path), plain)


def test_a_model_evicted_between_manifest_and_file_is_a_quiet_miss(tmp_path, generated,
                                                                   monkeypatch):
    """Another run evicts the entry once the reader has its manifest, before it maps
    the model: the run makes its pass, without a warning."""
    plain = written(api.run(WAKEUP, [generated], cache=False))
    run(WAKEUP, generated, tmp_path)
    real, done = Entry.manifest, []

    def manifest_then_evict(self):
        body = real(self)
        if body is not None and body.get("models") and not done:
            done.append(self.folder)
            run_corr("cache", "clear", "--cache-dir", tmp_path)
        return body
    monkeypatch.setattr(Entry, "manifest", manifest_then_evict)
    quiet(run(WAKEUP, generated, tmp_path), plain)
    assert done


def test_a_model_cleared_after_it_was_mapped_is_still_read(tmp_path, generated, monkeypatch):
    """The model's columns are memory-mapped views: an entry cleared under the reader
    leaves them readable, and the explanations read after that are the same."""
    from corr.cache import intervals as kept
    plain = written(api.run(OFFCPU, [generated], cache=False))
    run(OFFCPU, generated, tmp_path)
    real, cleared = kept.cached_run, []

    def read_then_clear(*args):
        found = real(*args)
        assert found is not None and found.model is not None
        proc = run_corr("cache", "clear", "--cache-dir", tmp_path)
        assert proc.stdout.strip() == "removed 1 cache entry", proc.stderr
        cleared.append(True)
        return found
    monkeypatch.setattr(kept, "cached_run", read_then_clear)
    forbid_pass(monkeypatch)
    quiet(run(OFFCPU, generated, tmp_path), plain)
    assert cleared
    assert not model_files(tmp_path)


def test_what_is_kept_is_bounded_and_listed(tmp_path, generated):
    """Thresholds tried one after another keep one model and at most KEEP_ANALYSES totals."""
    from corr.cache.analysis import KEEP_ANALYSES
    for us in range(100, 100 + 20 * (KEEP_ANALYSES + 2), 20):
        run(OFFCPU, generated, tmp_path, (f"offcpu.threshold={us}us",))
    (manifest,) = tmp_path.glob("traces/*/manifest.json")
    body = json.loads(manifest.read_text())["body"]
    assert len(body["models"]) == 1 and len(body["analyses"]) == KEEP_ANALYSES
    on_disk = {p.name for p in manifest.parent.iterdir() if p.name.startswith("analysis-")}
    assert on_disk == {r["file"] for r in body["analyses"].values()}
    assert not list(manifest.parent.glob(".tmp-*"))


def test_a_pass_without_the_scheduling_model_counts_its_own_events(tmp_path, generated):
    """tune (no explanation) decodes fewer classes than run: each is served its own counts."""
    tuned = api.tune(OFFCPU, [generated], cache=False).run.events
    run(OFFCPU, generated, tmp_path)                    # run first: keeps its pass' counts
    assert api.tune(OFFCPU, [generated], cache=tmp_path).run.events == tuned
    assert api.tune(OFFCPU, [generated], cache=tmp_path).run.events == tuned


def test_a_copied_trace_is_its_own_entry(tmp_path, generated):
    """The kept model belongs to its traces: a copy elsewhere is another entry."""
    copy = tmp_path / "copy"
    shutil.copytree(generated, copy)
    run(OFFCPU, generated, tmp_path / "cache")
    run(OFFCPU, copy, tmp_path / "cache")
    assert len(model_files(tmp_path / "cache")) == 2
