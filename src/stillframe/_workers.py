"""Decoder pools, run statistics, and the windowed thread fan-out that keeps
results in order."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from stillframe.decode import DecodeStats, GroupDecoder

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Stats:
    """What a Video did (Video.stats, and SnapshotResult.stats for one snapshot
    run, where `seconds` is the whole run's): read as attributes or by key."""

    frames_decoded: int = 0
    packets_sent: int = 0
    packets_skipped: int = 0
    seeks: int = 0
    decode_errors: int = 0
    seconds: float = 0.0
    workers: int = 1
    index: str = "scan"  # how frames were found: "container" (sample table) or "scan"
    regions: int = 0  # regions read through the sample table
    bytes_demuxed: int = 0  # packet bytes those regions read

    def __getitem__(self, name: str) -> Any:  # stats["frames_decoded"] reads as stats.frames_decoded
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default) if name in self.__dataclass_fields__ else default

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add(self, d: DecodeStats) -> None:
        self.frames_decoded += d.decoded
        self.packets_sent += d.packets
        self.packets_skipped += d.skipped
        self.seeks += d.seeks
        self.decode_errors += d.errors


class Pool:
    """Decoders of one kind, each on a container of its own, made on demand up to
    `limit`; the caller holds one while it reads or decodes."""

    def __init__(self, make: Callable[[], GroupDecoder], limit: int) -> None:
        self._make = make
        self.limit = limit
        self._idle: queue.SimpleQueue[GroupDecoder] = queue.SimpleQueue()
        self.all: list[GroupDecoder] = []
        self._lock = threading.Lock()

    def add(self, dec: GroupDecoder) -> None:
        self.all.append(dec)
        self._idle.put(dec)

    def acquire(self) -> GroupDecoder:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self.all) < self.limit:
                dec = self._make()
                self.all.append(dec)
                return dec
        return self._idle.get()

    def release(self, dec: GroupDecoder) -> None:
        self._idle.put(dec)

    def close(self) -> None:
        for dec in self.all:
            try:
                dec.container.close()
            except Exception:
                pass
        self.all.clear()


def in_order(
    items: Sequence[T], work: Callable[[T], R], lanes: int, executor: Callable[[], ThreadPoolExecutor]
) -> Iterator[tuple[T, R]]:
    """(item, work(item)) in the items' order, with up to 2 * lanes in flight on
    the executor's threads (PyAV releases the GIL while it demuxes, decodes and
    scales, so they run in parallel). One lane or one item: on this thread."""
    workers = min(lanes, len(items))
    if workers <= 1:
        for item in items:
            yield item, work(item)
        return
    pool = executor()
    pending: deque[tuple[T, Future[R]]] = deque()
    it = iter(items)
    try:
        for item in it:
            pending.append((item, pool.submit(work, item)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            item, fut = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(work, nxt)))
            yield item, fut.result()
    finally:
        for _, fut in pending:
            fut.cancel()
        for _, fut in pending:
            if not fut.cancelled():
                fut.exception()  # let running work finish before the caller moves on
