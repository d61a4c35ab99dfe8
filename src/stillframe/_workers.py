"""Decoders held in pools, and the windowed thread fan-out that keeps results in
order."""

from __future__ import annotations

import contextlib
import itertools
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
    several open at once.

    `threads`, when set, is the most frame threads a decoder lent now may have: a
    decoder with more (the first one, opened with every core for a one-frame
    request) waits idle, out of the limit, while requests of several decoders run,
    so their threads never outnumber the cores; of those that fit, the one with
    the most threads is lent."""

    def __init__(
        self, make: Callable[[], GroupDecoder], limit: int, close: Callable[[GroupDecoder], None] | None = None
    ) -> None:
        self._make = make
        self._close = close or (lambda dec: dec.container.close())
        self.limit = limit
        self.threads: int | None = None
        self._idle: list[GroupDecoder] = []
        self.all: list[GroupDecoder] = []
        self._opening = 0  # decoders being made, counted against the limit
        self._changed = threading.Condition()

    def _fits(self, dec: GroupDecoder) -> bool:
        return self.threads is None or dec.cc.thread_count <= self.threads

    def add(self, dec: GroupDecoder) -> None:
        """Hold `dec` (made elsewhere) as one of the pool's decoders, idle."""
        with self._changed:
            self.all.append(dec)
            self._idle.append(dec)
            self._changed.notify_all()

    def acquire(self) -> GroupDecoder:
        """An idle decoder that fits, a new one while those that fit are under the
        limit, else the next one released that fits."""
        with self._changed:
            while True:
                fitting = [d for d in self._idle if self._fits(d)]
                if fitting:
                    dec = max(fitting, key=lambda d: d.cc.thread_count)
                    self._idle.remove(dec)
                    return dec
                if sum(map(self._fits, self.all)) + self._opening < self.limit:
                    self._opening += 1
                    break
                self._changed.wait()
        try:
            dec = self._make()
        except BaseException:
            with self._changed:
                self._opening -= 1
                self._changed.notify_all()
            raise
        with self._changed:
            self._opening -= 1
            self.all.append(dec)
        return dec

    def release(self, dec: GroupDecoder) -> None:
        """Give back a decoder acquire() gave."""
        with self._changed:
            self._idle.append(dec)
            self._changed.notify_all()  # the one that fits a waiter may not be the one woken first

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
        with self._changed:
            held, self.all, self._idle = self.all, [], []
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
