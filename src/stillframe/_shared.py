"""Decoders kept for the life of the process, by what they decode: a device decoder
opened for one Video serves the next request and the next Video of the same codec,
size and parameter sets, so NVDEC's open (0.1-0.3 s) is paid once, not a request.

    DecoderKey      what a decoder can decode: its backend, the stream's codec, coded
                    size, pixel format and parameter sets (extradata)
    SharedDecoders  idle codec contexts by key, handed out and back, counted
    SHARED          the process's own

A context is lent to one Video's decoder at a time; the Video feeds it packets from
its own container and gives it back, flushed, when it closes.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from av.video.codeccontext import VideoCodecContext

from stillframe.devices import Backend

__all__ = ["SHARED", "DecoderKey", "SharedDecoders"]

# Idle contexts kept in all, the least recently used key dropped first.
KEEP = 32


@dataclass(frozen=True)
class DecoderKey:
    """What one pooled decoder decodes; `resident`: its frames stay on the device.
    Parameter sets are part of it: a decoder opened with one stream's is not fed
    another's."""

    backend: Backend
    resident: bool
    codec: str
    width: int
    height: int
    pix_fmt: str
    extradata: bytes


class SharedDecoders:
    """Idle codec contexts by key (at most `keep` in all), and what was opened.
    Safe to share between threads; a context is opened outside the lock."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._idle: OrderedDict[DecoderKey, list[VideoCodecContext]] = OrderedDict()
        self._proven: set[DecoderKey] = set()
        self.opened: Counter[DecoderKey] = Counter()
        self._lock = threading.Lock()

    def take(self, key: DecoderKey, make: Callable[[], VideoCodecContext]) -> tuple[VideoCodecContext, bool]:
        """An idle context for `key`, else a new one from `make()`; and whether it was reused."""
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                cc = idle.pop()
                if not idle:
                    del self._idle[key]
                return cc, True
        cc = make()
        with self._lock:
            self.opened[key] += 1
        return cc, False

    def give(self, key: DecoderKey, cc: VideoCodecContext) -> None:
        """Keep `cc` for the next taker of `key`, flushed (frames it held let go)."""
        try:
            cc.flush_buffers()
        except Exception:
            return  # a context in a bad state is not lent again
        with self._lock:
            self._idle.setdefault(key, []).append(cc)
            self._idle.move_to_end(key)
            while sum(len(v) for v in self._idle.values()) > self.keep:
                oldest = next(iter(self._idle))
                self._idle[oldest].pop(0)
                if not self._idle[oldest]:
                    del self._idle[oldest]

    def idle(self, key: DecoderKey) -> int:
        """Contexts ready for `key` now."""
        with self._lock:
            return len(self._idle.get(key, ()))

    def proven(self, key: DecoderKey) -> bool:
        """Whether a decoder of `key` has decoded a frame in this process."""
        with self._lock:
            return key in self._proven

    def prove(self, key: DecoderKey) -> None:
        """Record that a decoder of `key` decoded a frame."""
        with self._lock:
            self._proven.add(key)

    def clear(self) -> None:
        """Drop every idle context (they close as they are freed)."""
        with self._lock:
            self._idle.clear()
            self._proven.clear()


SHARED = SharedDecoders()
