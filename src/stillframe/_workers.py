"""Decoders held in pools, and the windowed thread fan-out that keeps results in
order."""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from stillframe.decode import GroupDecoder

T = TypeVar("T")
R = TypeVar("R")


class Pool:
    """Decoders of one kind, each on a container of its own, made on demand up to
    `limit`; the caller holds one while it reads or decodes. Safe to share between
    threads: a decoder is opened (maybe over the network) outside the lock, so
    several open at once."""

    def __init__(
        self, make: Callable[[], GroupDecoder], limit: int, close: Callable[[GroupDecoder], None] | None = None
    ) -> None:
        self._make = make
        self._close = close or (lambda dec: dec.container.close())
        self.limit = limit
        self._idle: queue.SimpleQueue[GroupDecoder] = queue.SimpleQueue()
        self.all: list[GroupDecoder] = []
        self._opening = 0  # decoders being made, counted against the limit
        self._aside: list[GroupDecoder] = []  # no longer lent, closed with the rest
        self._lock = threading.Lock()

    def add(self, dec: GroupDecoder) -> None:
        """Hold `dec` (made elsewhere) as one of the pool's decoders, idle."""
        with self._lock:
            self.all.append(dec)
        self._idle.put(dec)

    def acquire(self) -> GroupDecoder:
        """An idle decoder, a new one while under the limit, else the next released."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            grow = len(self.all) + self._opening < self.limit
            if grow:
                self._opening += 1
        if not grow:
            return self._idle.get()
        try:
            dec = self._make()
        except BaseException:
            with self._lock:
                self._opening -= 1
            raise
        with self._lock:
            self._opening -= 1
            self.all.append(dec)
        return dec

    def set_aside(self, unfit: Callable[[GroupDecoder], bool]) -> None:
        """Stop lending the idle decoders `unfit` says no longer suit (busy ones are
        left be). They are not closed, only counted out of the limit: an index may
        read its container's own entries (an MP4's sample table) while the video
        is open. close() closes them with the rest."""
        kept, aside = [], []
        while True:
            try:
                dec = self._idle.get_nowait()
            except queue.Empty:
                break
            (aside if unfit(dec) else kept).append(dec)
        with self._lock:
            self.all = [d for d in self.all if d not in aside]
            self._aside.extend(aside)
        for dec in kept:
            self._idle.put(dec)

    def release(self, dec: GroupDecoder) -> None:
        """Give back a decoder acquire() gave."""
        self._idle.put(dec)

    @contextlib.contextmanager
    def borrow(self) -> Iterator[GroupDecoder]:
        """A decoder for the block."""
        dec = self.acquire()
        try:
            yield dec
        finally:
            self.release(dec)

    def close(self) -> None:
        """Close every decoder's container."""
        with self._lock:
            held, self.all, self._aside = self.all + self._aside, [], []
        for dec in held:
            with contextlib.suppress(Exception):
                self._close(dec)


def in_order(
    items: Iterable[T], work: Callable[[T], R], lanes: int, executor: Callable[[], ThreadPoolExecutor]
) -> Iterator[tuple[T, R]]:
    """(item, work(item)) in the items' order, with up to 2 * lanes in flight on
    the executor's threads (PyAV releases the GIL while it demuxes, decodes and
    scales, so they run in parallel). Items are drawn as the window moves, so a
    generator of items is planned no further ahead than that. One lane or one
    item: on this thread."""
    it = iter(items)
    head = list(itertools.islice(it, 2))
    if lanes <= 1 or len(head) <= 1:
        for item in itertools.chain(head, it):
            yield item, work(item)
        return
    pool = executor()
    pending: deque[tuple[T, Future[R]]] = deque()
    source = itertools.chain(head, it)
    try:
        for item in source:
            pending.append((item, pool.submit(work, item)))
            if len(pending) >= 2 * lanes:
                break
        while pending:
            item, fut = pending.popleft()
            nxt = next(source, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(work, nxt)))
            yield item, fut.result()
    finally:
        for _, fut in pending:
            fut.cancel()
        for _, fut in pending:
            if not fut.cancelled():
                fut.exception()  # let running work finish before the caller moves on
