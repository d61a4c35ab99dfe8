"""Blocks read once, shared: the views one video opens on its segments (a decoder's
first segment, each unit's span, a span read again one segment earlier) ask
for the same bytes more than once; the cache fetches each aligned block once,
and runs of missing blocks in one request."""

from __future__ import annotations

import threading
from collections import OrderedDict

from stillframe.streams._reader import MAX_READ, RangeReader, ReadStats

__all__ = ["CachedReader"]


class CachedReader:
    """A RangeReader keeping the last `keep` bytes of `block`-aligned blocks it
    read through `inner` (least recently used dropped first). Safe to share
    between threads; `stats` are the inner reader's (what was fetched)."""

    def __init__(self, inner: RangeReader, block: int = 64 << 10, keep: int = 96 << 20) -> None:
        self.inner, self.block, self.keep = inner, block, keep
        self._blocks: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    @property
    def stats(self) -> ReadStats:
        """What the inner reader has fetched."""
        return self.inner.stats

    def size(self, uri: str) -> int:
        """The length of `uri` in bytes."""
        return self.inner.size(uri)

    def read(self, uri: str, start: int, length: int) -> bytes:
        """At most `length` bytes of `uri` from `start`, from kept blocks where it can."""
        if length <= 0:
            return b""
        first, last = start // self.block, (start + length - 1) // self.block
        found: dict[int, bytes] = {}
        with self._lock:
            for i in range(first, last + 1):
                data = self._blocks.get((uri, i))
                if data is not None:
                    self._blocks.move_to_end((uri, i))
                    found[i] = data
        i = first
        while i <= last:  # each run of missing blocks in one request
            if i in found:
                i += 1
                continue
            j = i
            while j + 1 <= last and j + 1 not in found and (j + 2 - i) * self.block <= MAX_READ:
                j += 1
            data = self.inner.read(uri, i * self.block, (j - i + 1) * self.block)
            for k in range(i, j + 1):
                found[k] = data[(k - i) * self.block : (k - i + 1) * self.block]
            self._keep(uri, {k: found[k] for k in range(i, j + 1)})
            if len(data) < (j - i + 1) * self.block:
                last = min(last, j)  # the resource ends here
            i = j + 1
        out = b"".join(found[k] for k in range(first, last + 1))
        skip = start - first * self.block
        return out[skip : skip + length]

    def _keep(self, uri: str, blocks: dict[int, bytes]) -> None:
        with self._lock:
            for i, data in blocks.items():
                old = self._blocks.pop((uri, i), None)
                self._held -= len(old) if old is not None else 0
                self._blocks[(uri, i)] = data
                self._held += len(data)
            while self._held > self.keep and self._blocks:
                _, dropped = self._blocks.popitem(last=False)
                self._held -= len(dropped)
