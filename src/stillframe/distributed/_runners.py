"""Where batch tasks run: worker processes on this machine, or a Dask cluster.

Both runners take a plain module-level function and argument tuples and yield
(position, value) as tasks finish; a task that raised, or whose process died,
yields the exception as its value, so one task never takes the others down.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from stillframe._native import cpu_count
from stillframe.distributed._gcguard import collections_held
from stillframe.distributed._guard import check_main_guard
from stillframe.errors import InvalidParameter

DASK_EXTRA = "pip install 'stillframe[dask]'"


def default_processes() -> int:
    """One process a core. Videos are independent, so spreading them over processes
    scales with no shared state and no GIL between them, while one snapshot's own
    decoder threads are bounded by how many keyframe regions it reads and by the
    serial parts of a run (opening, planning, writing): a process a core keeps every
    core busy through those. More processes than cores would only contend."""
    return max(1, cpu_count())


def _context() -> Any:
    # Never fork a process that may hold threads (decoders, a Dask client, tqdm):
    # forkserver where there is one, else spawn.
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


class LocalRunner:
    """A ProcessPoolExecutor with a bounded window of tasks in flight. A process
    that dies (a crash in a decoder) breaks the pool: the tasks that were in flight
    run again one at a time in a fresh process, so only the culprit fails."""

    def __init__(self, processes: int | None = None) -> None:
        if processes is not None and processes < 1:
            raise InvalidParameter(f"processes must be >= 1, not {processes}")
        check_main_guard()
        self.processes = processes or default_processes()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def map_unordered(self, fn: Callable[..., Any], arglist: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]:
        size = max(1, min(self.processes, len(arglist)))
        pending = deque(enumerate(arglist))
        inflight: dict[Future[Any], int] = {}
        pool = ProcessPoolExecutor(size, mp_context=_context())
        try:
            while pending or inflight:
                while pending and len(inflight) < 2 * size:
                    i, args = pending[0]
                    try:
                        inflight[pool.submit(fn, *args)] = i
                    except BrokenProcessPool:  # it broke since the last wait: the tasks in flight say more
                        break
                    pending.popleft()
                if not inflight:  # broken with none of ours in it
                    pool.shutdown(wait=True)
                    pool = ProcessPoolExecutor(size, mp_context=_context())
                    continue
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                suspects = []
                for fut in done:
                    i = inflight.pop(fut)
                    exc = fut.exception()
                    if isinstance(exc, BrokenProcessPool):
                        suspects.append(i)
                    else:
                        yield i, exc if exc is not None else fut.result()
                if not suspects:
                    continue
                # Every task in flight fails with the pool: wait for them all, then
                # give each a process of its own.
                for fut, i in list(inflight.items()):
                    exc = fut.exception()
                    if isinstance(exc, BrokenProcessPool):
                        suspects.append(i)
                    else:
                        yield i, exc if exc is not None else fut.result()
                inflight.clear()
                pool.shutdown(wait=True)
                for i in sorted(suspects):
                    yield i, _alone(fn, arglist[i])
                pool = ProcessPoolExecutor(size, mp_context=_context())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _alone(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    with ProcessPoolExecutor(1, mp_context=_context()) as solo:
        try:
            return solo.submit(fn, *args).result()
        except BrokenProcessPool:
            return BrokenProcessPool("the worker process running it died")
        except Exception as exc:
            return exc


def _held(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` as a Dask task: collections held off while it runs (_gcguard)."""
    with collections_held():
        return fn(*args)


class DaskRunner:
    """One Dask task a call, results streamed back as they finish (as_completed)."""

    def __init__(self, client: Any) -> None:
        try:
            import distributed
        except ImportError:
            raise InvalidParameter(f"a Dask client needs dask.distributed: {DASK_EXTRA}") from None
        if not isinstance(client, distributed.Client):
            raise InvalidParameter(f"client must be a dask.distributed.Client, not {type(client).__name__}")
        self.client = client
        self._as_completed = distributed.as_completed

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run on a worker: what the workers see is what counts (their file system)."""
        return self.client.submit(_held, fn, *args, pure=False).result()

    def map_unordered(self, fn: Callable[..., Any], arglist: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]:
        futures = [self.client.submit(_held, fn, *args, pure=False) for args in arglist]
        where = {fut.key: i for i, fut in enumerate(futures)}
        try:
            for fut in self._as_completed(futures):
                try:
                    value = fut.result()
                except Exception as exc:  # the task raised, or its worker died (KilledWorker)
                    value = exc
                yield where[fut.key], value
                fut.release()
        finally:
            left = [f for f in futures if not f.done()]
            if left:  # an early exit or an interrupt: nothing keeps running for nobody
                self.client.cancel(left)


def runner_for(client: Any, processes: int | None) -> LocalRunner | DaskRunner:
    if client is None:
        return LocalRunner(processes)
    if processes is not None:
        raise InvalidParameter("processes applies to the local pool; a Dask cluster has its own workers")
    return DaskRunner(client)


class Progress:
    """A tqdm bar on a terminal (or when asked), nothing otherwise."""

    def __init__(self, total: int, unit: str, enabled: bool | None) -> None:
        self.bar: Any = None
        if enabled is False or (enabled is None and not sys.stderr.isatty()):
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, unit=unit, file=sys.stderr)

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
