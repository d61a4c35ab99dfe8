"""Collections held off while a task runs, on the CPython releases that deadlock
otherwise.

Dask's worker profiler calls sys._current_frames() every few milliseconds. Before
CPython 3.11.9 and 3.12.3 that call holds the interpreter's thread-list lock while
it allocates (gh-106883); a garbage collection started there may free PyAV packets,
which let go of the GIL, and a thread of the task starting or ending at that moment
(a decoder pool, an upload) waits for the lock while holding the GIL: the worker
hangs for good. So while a Dask task runs (DaskRunner wraps each), no collection
starts by itself; the last task to end collects in its own thread, which holds no
interpreter lock.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

AFFECTED = (3, 11) <= sys.version_info[:3] < (3, 11, 9) or (3, 12) <= sys.version_info[:3] < (3, 12, 3)

_lock = threading.Lock()
_running = 0  # tasks inside collections_held
_was_enabled = False  # whether collections were on when the first of them began


@contextmanager
def collections_held(affected: bool = AFFECTED) -> Iterator[None]:
    """Automatic collections off while the block runs (tasks may nest or overlap:
    the first turns them off, the last collects and turns them back on)."""
    global _running, _was_enabled
    if not affected:
        yield
        return
    with _lock:
        if _running == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                gc.collect()
                if _was_enabled:
                    gc.enable()
