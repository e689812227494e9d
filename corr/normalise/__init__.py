"""Normalising: every dialect's events in corr's canonical vocabulary.

``canonical_batches`` is the reading -> normalising part of the pipeline:
per trace, the raw projection its dialect needs, the native (or public)
reader, the normaliser; then the traces merged in time order.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..reading import TraceSet
from ..reading.batch import EventBatch
from ..reading.graph import DEFAULT_BATCH, read_trace, start_workers
from ..reading.merge import merge
from ..reading.projection import Projection
from ..reading.sink_common import ClassRegistry
from .dialects import Dialect, detect
from .normaliser import TraceNormaliser, normalise

__all__ = ["canonical_batches", "Canonical", "Dialect", "detect"]


class Canonical:
    """The canonical event stream of a trace set, and its class registry."""

    def __init__(self, traceset: TraceSet, projection: Projection | None = None,
                 batch_size: int | None = DEFAULT_BATCH, reader: str = "auto"):
        self.traceset = traceset
        self.projection = projection or Projection.all()
        self.registry = ClassRegistry()
        self.normalisers = [TraceNormaliser(t, self.projection, self.registry, traceset.registry)
                            for t in traceset.traces]
        self.batch_size = batch_size or DEFAULT_BATCH      # None: the default
        self.reader = reader
        self._workers: dict[int, object] = {}      # trace index -> its started workers

    def start(self) -> bool:
        """Fork the decode workers of the large traces now; whether any started.

        They decode ahead (into their pipes) while the caller does other
        things, such as importing what the run needs; :meth:`batches`
        reads from them.  Unread workers are stopped at exit.
        """
        for i, n in enumerate(self.normalisers):
            if i not in self._workers:
                workers = start_workers(n.trace, n.raw_projection(), self.batch_size, self.reader)
                if workers is not None:
                    self._workers[i] = workers
        return bool(self._workers)

    def close(self) -> None:
        """Stop the started workers that :meth:`batches` did not take (a run that failed first)."""
        for workers in self._workers.values():
            workers.close()
        self._workers.clear()

    def batches(self) -> Iterator[EventBatch]:
        streams = [normalise(n.trace, read_trace(n.trace, self.traceset.registry,
                                                 n.raw_projection(), self.batch_size,
                                                 self.reader, workers=self._workers.pop(i, None)),
                             n)
                   for i, n in enumerate(self.normalisers)]
        return merge(streams)


def canonical_batches(traceset: TraceSet, projection: Projection | None = None,
                      **kwargs) -> Iterator[EventBatch]:
    return Canonical(traceset, projection, **kwargs).batches()
