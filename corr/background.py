"""Work started in a thread and read later: its result, or what it raised, where read."""

from __future__ import annotations

import threading
from concurrent.futures import Future


def in_background(work, name: str) -> Future:
    """``work()`` in a daemon thread: ``.result()`` waits for it and returns its value
    or raises its exception there, never in the thread (a run's threads print nothing)."""
    future: Future = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(work())
            except BaseException as exc:       # raised by .result(), in the caller
                future.set_exception(exc)
    try:
        threading.Thread(target=run, name=name, daemon=True).start()
    except RuntimeError:               # no thread to be had: done here, now
        run()
    return future
