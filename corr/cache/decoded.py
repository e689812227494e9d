"""The decoded-columns cache in front of the normaliser: replay, record, or grow.

:class:`TraceCache` is one trace set's entry for one run.  Its
:meth:`~TraceCache.events` gives what :class:`corr.normalise.Canonical`
gives (``registry`` and ``batches()``):

- the entry covers the projection: its columns are read back (only the
  classes and fields needed);
- there is no valid entry: the decode is streamed to the run and recorded
  on the way, and stored when it ends (a decode that fails part-way is not);
- the entry holds less: only what is missing is decoded, merged into the
  cached order, stored, then read back.  The merge is exact when no
  timestamp of the new events is also one of the cached events: the
  events of one timestamp are then all on one side, each side keeps its own
  order, and the reader's order is the time order.  When a timestamp is on
  both sides, the muxer's order between them (by stream, then position in
  the stream file) cannot be known from the columns, so the whole union is
  decoded again instead.

Any problem with the cache (unwritable folder, corrupt entry) is a
:class:`CacheWarning` and the run decodes as without a cache.  An entry
removed while read (another run evicted it) is a plain miss.  Every read or
write stamps the entry's last use; after a store the cache is brought under
its size limit (:mod:`.limit`), and an entry larger than the limit alone
is not stored.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pyarrow as pa

from ..errors import TraceDecodeError
from ..normalise import Canonical
from . import identity as ident
from .columns import NotCacheable
from .recorder import ORDER_SCHEMA, Recorder
from .replay import Replay
from .settings import DEFAULT_SIZE, CacheWarning
from .store import Entry, EntryError, EntryGone, crc_of
from .universe import asks_raw_names, class_names


SIZE_CHECK = 64                  # batches recorded between checks of the files' size


def warn(message: str) -> None:
    warnings.warn(message, CacheWarning, stacklevel=3)


def _token() -> str:
    return os.urandom(4).hex()


class TraceCache:
    """One trace set's entry, as one run sees it."""

    def __init__(self, directory: str, traceset, limit: int = DEFAULT_SIZE):
        self.directory = directory
        self.traceset = traceset
        self.limit = limit               # bytes, of every entry together
        self.entry = Entry(ident.entry_folder(directory, traceset))
        self.identity = ident.identity(traceset)
        self._names = None
        self.last = None                 # how the last events() was served: for tests and notes

    @property
    def names(self) -> list[str]:
        if self._names is None:
            self._names = class_names(self.traceset)
        return self._names

    def manifest(self) -> dict | None:
        """The entry's manifest if it is valid for these traces; a bad one is removed."""
        try:
            body = self.entry.manifest()
        except EntryError as exc:
            warn(f"cache entry {self.entry.folder}: {exc}; decoding again")
            self._forget()
            return None
        if body is not None and body.get("identity") != self.identity:
            self._forget()               # the traces (or corr) changed: stale
            return None
        return body

    def _forget(self) -> None:
        """Remove an entry that cannot be trusted, if no other run is writing it."""
        try:
            if self.entry.try_lock():
                try:
                    self.entry.discard()
                finally:
                    self.entry.unlock()
        except OSError:
            pass                         # not writable: the entry is ignored all the same

    def events(self, projection, started=None, reader: str = "auto",
               batch_size: int | None = None) -> "CachedEvents":
        return CachedEvents(self, projection, started, reader, batch_size)

    def fits(self, body: dict, what: str = "entry") -> bool:
        """Would the entry with manifest ``body`` fit under the limit alone?  Warns if not."""
        size = sum(length for length, _ in body["files"].values()) + len(json.dumps(body))
        if size <= self.limit:
            return True
        warn(f"cache {self.entry.folder}: {what} not stored: it would take {_bytes(size)}, "
             f"more than the cache's size limit of {_bytes(self.limit)} "
             "(--cache-size, CORR_CACHE_SIZE)")
        return False

    def stored(self) -> None:
        """After a store: stamped as used, and the cache brought under its limit
        (least recently used entries evicted; never this one)."""
        from .limit import enforce
        self.entry.touch()
        enforce(self.directory, self.limit, keep=[self.entry.folder])


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class CachedEvents:
    """``registry`` and ``batches()``, as Canonical has them, served through the cache."""

    def __init__(self, cache: TraceCache, projection, started=None, reader: str = "auto",
                 batch_size: int | None = None):
        self.cache = cache
        self.projection = projection
        self.registry = None
        self.reader = reader              # which bt2 reader decodes what the entry lacks
        self.batch_size = batch_size      # events a decoded batch (None: the default)
        self._started = started           # a Canonical of projection, its decode begun

    def _canonical(self):
        """The decode of this projection: the one already started, else a new one."""
        started, self._started = self._started, None
        return started if started is not None else self._decode(self.projection)

    def _decode(self, projection):
        return Canonical(self.cache.traceset, projection, self.batch_size, reader=self.reader)

    def batches(self):
        try:
            source = self._source()
        except EntryGone:
            # Evicted, cleared or replaced by another run while read: look again.
            source = self._fallback()
        except EntryError as exc:
            # A damaged entry: removed, then decoded and stored anew.
            warn(f"cache {self.cache.entry.folder}: {exc}; decoding it again")
            self.cache._forget()
            source = self._fallback()
        except (TypeError, IndexError, AttributeError, RecursionError) as exc:
            # An entry that verified yet does not read (a writer's bug): rebuilt too.
            warn(f"cache {self.cache.entry.folder}: {exc!r}; decoding it again")
            self.cache._forget()
            source = self._fallback()
        except (OSError, NotCacheable, ValueError, KeyError, pa.ArrowException) as exc:
            warn(f"cache {self.cache.entry.folder}: {exc}; decoding without it")
            source = self._plain("off: " + str(exc))
        self.registry = source.registry if hasattr(source, "registry") else self.registry
        return source.batches()

    def _fallback(self):
        """After a damaged entry was removed: record a fresh one, else decode plainly."""
        try:
            return self._source()
        except (OSError, EntryError, NotCacheable, ValueError, KeyError, pa.ArrowException) as exc:
            warn(f"cache {self.cache.entry.folder}: {exc}; decoding without it")
            return self._plain("off: " + str(exc))

    # -- choosing ----------------------------------------------------------------------------
    def _source(self):
        cache, projection = self.cache, self.projection
        if asks_raw_names(cache.traceset, projection):
            return self._plain("raw class names asked for")
        manifest = cache.manifest()
        if manifest is not None and self._covered(manifest):
            return self._replay(manifest, "hit")
        try:
            locked = cache.entry.try_lock()
        except OSError as exc:
            warn(f"cache folder {cache.entry.folder} is not writable ({exc.strerror or exc}); "
                 "decoding without storing")
            return self._plain("unwritable")
        if not locked:
            return self._plain("entry busy")         # another run is writing it
        try:
            manifest = cache.manifest()              # it may have changed while we looked
            if manifest is not None and self._covered(manifest):
                cache.entry.unlock()
                return self._replay(manifest, "hit")
            if manifest is None:
                return _Recording(self, self._canonical(), None)
            return self._grow(manifest)
        except BaseException:
            cache.entry.unlock()
            raise

    def _covered(self, manifest: dict) -> bool:
        have = ident.projection_from_json(manifest["projection"])
        return ident.covers(have, self.projection, self.cache.names)

    def _replay(self, manifest: dict, how: str):
        self.cache.entry.touch()
        replay = Replay(self.cache.entry, manifest, self.projection)
        restore_event_spans(self.cache.traceset, manifest)
        self.cache.last = how
        return replay

    def _plain(self, why: str):
        self.cache.last = f"decoded: {why}"
        return self._canonical()

    # -- growing -----------------------------------------------------------------------------
    def _grow(self, manifest: dict):
        """Decode what the entry lacks, merge, store, read back (lock held; released here)."""
        cache, entry = self.cache, self.cache.entry
        have = ident.projection_from_json(manifest["projection"])
        union = ident.union(have, self.projection)
        missing = ident.missing(have, self.projection, cache.names)
        recorder = Recorder(entry)
        canonical = self._decode(missing)
        try:
            for batch in canonical.batches():
                recorder.add(batch)
            merged = _merge(entry, manifest, recorder, canonical, missing, union)
        except TraceDecodeError:
            recorder.abort()
            entry.unlock()
            return self._plain("the trace fails part-way")
        except BaseException:
            recorder.abort()
            entry.unlock()
            raise
        if merged is None:               # a timestamp on both sides: decode the union again
            cache.last = "decoded again: union (a timestamp shared with the cached events)"
            full = self._decode(union)
            _Recording(self, full, manifest, keep_open=False).drain()
        elif not cache.fits(merged[0]):
            _remove_temps(merged[1].values())
            entry.unlock()
            return self._plain("too large for the cache")
        else:
            try:
                entry.commit(*merged)
            finally:
                entry.unlock()
            cache.last = "grown"
            cache.stored()
        fresh = cache.manifest()
        if fresh is None or not self._covered(fresh):   # not stored after all
            return self._plain("grown entry not stored")
        return self._replay(fresh, cache.last)


def event_spans(traceset) -> list:
    """Each trace's first and last event (any class), as a manifest keeps them: a run
    served from the entry decodes nothing, yet counts its times from the first."""
    return [None if t.events_ns is None else list(t.events_ns) for t in traceset.traces]


def restore_event_spans(traceset, manifest: dict) -> None:
    """The traces' first and last events from the manifest (see :func:`event_spans`)."""
    for trace, span in zip(traceset.traces, manifest["events_ns"]):
        if span is not None:
            trace.saw_events(*span)


def _merge(entry, manifest, recorder, canonical, missing, union):
    """The grown manifest and its renames; None when the merge would not be exact."""
    import pyarrow as pa
    new_classes, paths = recorder.finish()
    old_order = entry.open_arrow(manifest, manifest["order"]).read_all()
    kept = [c for c in manifest["classes"] if missing.fields_for(c["name"]) is None]
    kept_ids = np.array([c["id"] for c in kept], dtype=np.int32)
    old_cids = old_order.column("cid").to_numpy()
    keep = np.isin(old_cids, kept_ids)
    old_ts, old_cids = old_order.column("ts").to_numpy()[keep], old_cids[keep]
    new_order = pa.ipc.open_file(recorder.order_path).read_all()
    new_ts = new_order.column("ts").to_numpy()
    if len(np.intersect1d(old_ts, new_ts, assume_unique=False)):
        recorder.abort()
        return None
    first_id = max((c["id"] for c in manifest["classes"]), default=-1) + 1
    renumber = {c["id"]: first_id + i for i, c in enumerate(new_classes)}
    lut = np.zeros(max(renumber, default=0) + 1, dtype=np.int32)
    for old, new in renumber.items():
        lut[old] = new
    new_cids = lut[new_order.column("cid").to_numpy()]
    ts = np.concatenate([old_ts, new_ts])
    order = np.argsort(ts, kind="stable")        # no shared timestamp: each side keeps its order
    cids = np.concatenate([old_cids, new_cids])[order]
    order_path = entry.temp()
    with pa.ipc.new_file(order_path, ORDER_SCHEMA) as writer:
        writer.write_table(pa.table([pa.array(ts[order]), pa.array(cids)], schema=ORDER_SCHEMA))
    token = _token()
    renames = {f"order-{token}.arrow": order_path}
    classes = list(kept)
    for cached in new_classes:
        cached["file"] = f"class-{token}-{renumber[cached['id']]}.arrow"
        renames[cached["file"]] = paths[cached["id"]]
        cached["id"] = renumber[cached["id"]]
        classes.append(cached)
    os.unlink(recorder.order_path)
    body = dict(manifest, projection=ident.projection_to_json(union), classes=classes,
                order=f"order-{token}.arrow")
    body["files"] = _files(manifest, body, renames)
    return body, renames


def _files(manifest: dict, body: dict, renames: dict) -> dict:
    """``{name: [length, crc]}`` of every file the grown manifest lists."""
    files = {name: list(crc_of(path)) for name, path in renames.items()}
    from .intervals import derived_files
    for name in [c["file"] for c in body["classes"]] + derived_files(body):
        if name not in files:
            files[name] = manifest["files"][name]
    return files


class _Recording:
    """A decode streamed to the run and recorded on the way (lock held; released at the end)."""

    def __init__(self, events: CachedEvents, canonical, manifest, keep_open: bool = True):
        self.events, self.canonical, self.manifest = events, canonical, manifest
        self.registry = canonical.registry
        events.cache.last = events.cache.last or "recorded"

    def drain(self) -> None:
        for _ in self.batches():
            pass

    def batches(self):
        cache = self.events.cache
        entry = cache.entry
        try:
            recorder = Recorder(entry)
        except OSError as exc:
            entry.unlock()
            warn(f"cache {entry.folder}: cannot write ({exc.strerror or exc}); not storing")
            yield from self.canonical.batches()
            return
        complete = stored = False
        try:
            for count, batch in enumerate(self.canonical.batches()):
                if recorder is not None:
                    try:
                        recorder.add(batch)
                        if count % SIZE_CHECK == SIZE_CHECK - 1 and recorder.size() > cache.limit:
                            recorder.abort()
                            recorder = None
                            warn(f"cache {entry.folder}: not stored: more than the cache's "
                                 f"size limit of {_bytes(cache.limit)} "
                                 "(--cache-size, CORR_CACHE_SIZE)")
                    except (NotCacheable, OSError, pa.ArrowException) as exc:
                        recorder.abort()
                        recorder = None
                        if not isinstance(exc, NotCacheable):
                            warn(f"cache {entry.folder}: cannot write ({exc}); not storing")
                yield batch
            complete = True
        finally:
            try:
                if recorder is not None and complete:
                    stored = self._store(recorder)
                elif recorder is not None:
                    recorder.abort()
            except (OSError, NotCacheable, EntryError, pa.ArrowException) as exc:
                recorder.abort()
                warn(f"cache {entry.folder}: not stored ({exc})")
            finally:
                entry.unlock()
            if stored:
                cache.stored()           # evicting others: after the lock is released

    def _store(self, recorder) -> bool:
        entry = self.events.cache.entry
        classes, paths = recorder.finish()
        token = _token()
        renames = {f"order-{token}.arrow": recorder.order_path}
        for cached in classes:
            cached["file"] = f"class-{token}-{cached['id']}.arrow"
            renames[cached["file"]] = paths[cached["id"]]
        body = {"identity": self.events.cache.identity,
                "traces": [t.path for t in self.events.cache.traceset.traces],
                "projection": ident.projection_to_json(self.canonical.projection),
                "classes": classes, "order": f"order-{token}.arrow",
                "discards": [list(d) for d in recorder.discards],
                "events": recorder.events,
                "events_ns": event_spans(self.events.cache.traceset)}
        # What runs found (tables, models, analyses) holds for the same traces: kept.
        from .intervals import derived_files, derived_sections
        body.update(derived_sections(self.manifest or {}))
        body["files"] = {name: list(crc_of(path)) for name, path in renames.items()}
        for name in derived_files(body):
            body["files"][name] = self.manifest["files"][name]
        if not self.events.cache.fits(body):
            recorder.abort()
            return False
        entry.commit(body, renames)
        self.events.cache.last = self.events.cache.last if self.manifest else "recorded"
        return True


def _remove_temps(paths) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass

