"""Capturing a live stream: one thread a job reads packets, decodes only the keyframe
that crosses each interval mark of the stream's own clock, and hands the JPEG on.
When the stream goes away it reconnects with backoff."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from stillframe.errors import StillframeError, StreamNotFound, TransientNetworkError
from stillframe.jpeg import encode_jpeg

log = logging.getLogger("stillframe.live")

# Keep stream opening short: a live stream's codec parameters come with its first
# keyframe, so a second of analysis is plenty (FFmpeg's default is 5 s).
_OPEN_OPTIONS = {"analyzeduration": "1000000", "probesize": "1000000"}
_EPS = 1e-6


@dataclass
class Shot:
    """One snapshot: the JPEG and where in the stream it came from."""

    jpeg: bytes
    stream_time: float  # seconds, the stream's own clock
    width: int
    height: int


def open_stream(url: str, timeout: float) -> av.container.InputContainer:
    """Open a live stream with a video track, or raise StreamNotFound (nothing is
    published there) / TransientNetworkError (no answer in time)."""
    options = dict(_OPEN_OPTIONS)
    if url.startswith(("http://", "https://")):
        options.update(reconnect="1", reconnect_streamed="1")
    try:
        container = av.open(url, "r", options=options, timeout=(timeout, timeout))
    except av.error.ExitError as exc:
        raise TransientNetworkError(f"{url}: no answer within {timeout} s") from exc
    except Exception as exc:  # PyAV's family of errors, all meaning "not live here"
        raise StreamNotFound(f"{url}: the stream is not live ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise StreamNotFound(f"{url}: the stream has no video")
    return container


def stream_is_live(url: str, timeout: float) -> bool:
    """Whether the stream at `url` opens within `timeout` seconds (it is being published)."""
    try:
        open_stream(url, timeout).close()
    except StillframeError:
        return False
    return True


class Capture:
    """Snapshots of `url` every `interval` seconds of stream time, taken from the first
    keyframe at or after each mark (marks are anchored at the first keyframe seen
    after each connection, so spacing does not drift with the GOP length).

    `on_shot(shot)` gets each snapshot; `on_state("started" | "paused", reason)` is
    told when the stream comes and goes. Both run on the capture thread.
    """

    def __init__(
        self,
        url: str,
        interval: float,
        on_shot: Callable[[Shot], None],
        on_state: Callable[[str, str | None], None],
        *,
        quality: int = 85,
        open_timeout: float = 5.0,
        read_timeout: float = 10.0,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        name: str = "stillframe-live",
    ) -> None:
        self.url = url
        self.interval = float(interval)
        self.on_shot = on_shot
        self.on_state = on_state
        self.quality = quality
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start capturing on a thread of its own."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the capture to stop; join() waits for it."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds for the capture to stop; whether it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        delay = self.min_backoff
        while not self._stop.is_set():
            try:
                container = open_stream(self.url, self.open_timeout)
            except StillframeError as exc:
                self._state("paused", str(exc))
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            delay = self.min_backoff
            self._state("started", None)
            try:
                self._read(container)
                reason = "the stream ended"
            except Exception as exc:  # a read error is the stream going away
                reason = f"the stream broke off: {exc}"
            finally:
                container.close()
            if not self._stop.is_set():
                self._state("paused", f"{reason}; reconnecting")
                self._stop.wait(delay)

    def _state(self, status: str, reason: str | None) -> None:
        try:
            self.on_state(status, reason)
        except Exception:  # the store was busy for a moment; the next change reports again
            log.exception("live state update failed for %s", self.url)

    def _read(self, container: av.container.InputContainer) -> None:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.thread_count = 1  # one keyframe now and then: threads would only cost
        base = stream.time_base or Fraction(1, 1000)  # FLV and most live formats count milliseconds
        anchor: float | None = None
        mark = last = 0.0
        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            if packet.pts is None or not packet.is_keyframe:
                continue
            t = float(packet.pts * base)
            if anchor is None or t < last - self.interval:  # first keyframe, or the clock restarted
                anchor = mark = t
            last = t
            if t + _EPS < mark:
                continue
            shot = self._decode(ctx, packet, t)
            if shot is None:
                continue
            mark = anchor + (math.floor((t - anchor) / self.interval + _EPS) + 1) * self.interval
            if self._stop.is_set():
                return
            try:
                self.on_shot(shot)
            except Exception:  # storage or store trouble loses this snapshot, not the stream
                log.exception("%s: the snapshot at %.3f s could not be kept", self.url, t)

    def _decode(self, ctx: Any, packet: av.Packet, t: float) -> Shot | None:
        try:
            frames = ctx.decode(packet)
            if not frames:
                # Reordering decoders hold frames back; a keyframe needs nothing after
                # it, so drain it out and reset for the next one.
                frames = ctx.decode(None)
                ctx.flush_buffers()
        except av.error.FFmpegError as exc:
            log.warning("%s: keyframe at %.3f s did not decode: %s", self.url, t, exc)
            ctx.flush_buffers()
            return None
        if not frames:
            return None
        frame = frames[-1]
        return Shot(encode_jpeg(frame, quality=self.quality), t, frame.width, frame.height)
