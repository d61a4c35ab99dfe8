"""Opening a video: probe(), open() and the Video object that returns exact frames."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import av
import numpy as np

from stillframe import _source, devices
from stillframe._index import PacketIndex, build_index
from stillframe._native import cpu_count
from stillframe.decode import DecodeStats, GroupDecoder, GroupResult, configure, missing_error
from stillframe.errors import HardwareUnavailable, InvalidParameter, ResourceContentBad, StillframeError
from stillframe.frame import Frame
from stillframe.geometry import OutputGeometry, plan_geometry, scale
from stillframe.plan import Group, Pick, check_choices, group_targets, pick_frames

__all__ = ["Decoding", "Video", "VideoInfo", "open", "probe"]


@dataclass(frozen=True)
class VideoInfo:
    """What a video is, read from a packet index rather than trusted from the header.

    Times are seconds; `duration` runs from the stream's start (`start_time`, an
    absolute timestamp) to the end of its last frame. `width`/`height` are the
    displayed size (rotation applied); `rotation` is the counter-clockwise turn, in
    degrees, that display applies to the stored picture (FFmpeg's display-matrix
    convention); `keyframe_times` are seconds from the start.
    """

    duration: float
    width: int
    height: int
    rotation: int
    fps: float
    codec: str
    pixel_format: str
    frame_count: int
    start_time: float
    keyframe_times: list[float]
    stream_index: int
    coded_width: int
    coded_height: int
    bit_depth: int
    full_range: bool
    header_duration: float | None = None  # what the container claims, when it does
    truncated: bool = False  # the data ends well before the header says it should

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pick_stream(container: av.container.InputContainer, stream: int | None, name: str):
    videos = list(container.streams.video)
    if not videos:
        raise ResourceContentBad(f"{name}: has no video stream")
    if stream is None:
        try:
            return container.streams.best("video")
        except Exception:  # an old PyAV without best(): first video stream
            return videos[0]
    for s in videos:
        if s.index == stream:
            return s
    raise InvalidParameter(
        f"{name}: stream {stream} is not a video stream (video streams: {[s.index for s in videos]})"
    )


def _first_frame(container, stream, name: str) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise ResourceContentBad(f"{name}: the video does not decode ({exc})") from exc
    raise ResourceContentBad(f"{name}: no frame of the video stream decodes")


def _info(container, stream, index: PacketIndex, first: av.VideoFrame) -> VideoInfo:
    rotation = int(round((getattr(first, "rotation", 0) or 0) / 90.0)) * 90 % 360
    w, h = first.width, first.height
    tb = float(index.time_base)
    duration = (index.end_pts() - index.start_pts) * tb
    header = None
    if stream.duration:
        header = stream.duration * tb
    elif container.duration:
        header = container.duration / 1e6
    # A header a tenth longer than the packets that exist means the file was cut off.
    truncated = header is not None and header > duration * 1.1 + 0.5
    keys = index.pts[index.key & index.shown]
    fmt = first.format
    depth = max((c.bits for c in fmt.components), default=8) if fmt.components else 8
    return VideoInfo(
        duration=duration,
        width=h if rotation % 180 else w,
        height=w if rotation % 180 else h,
        rotation=rotation,
        fps=float(stream.average_rate) if stream.average_rate else (index.count / duration if duration else 0.0),
        codec=stream.codec_context.name,
        pixel_format=fmt.name,
        frame_count=index.count,
        start_time=index.start_pts * tb,
        keyframe_times=sorted(float(x) for x in np.asarray(index.seconds(keys))),
        stream_index=stream.index,
        coded_width=w,
        coded_height=h,
        bit_depth=depth,
        full_range=fmt.name.startswith("yuvj") or first.color_range == 2,
        header_duration=header,
        truncated=bool(truncated),
    )


def probe(source: _source.Source, stream: int | None = None) -> VideoInfo:
    """Describe a video (see VideoInfo). Demuxes the stream once; decodes one frame."""
    with open(source, stream=stream) as video:
        return video.info


@dataclass
class Stats:
    frames_decoded: int = 0
    packets_sent: int = 0
    packets_skipped: int = 0
    seeks: int = 0
    decode_errors: int = 0
    seconds: float = 0.0
    workers: int = 1

    def add(self, d: DecodeStats) -> None:
        self.frames_decoded += d.decoded
        self.packets_sent += d.packets
        self.packets_skipped += d.skipped
        self.seeks += d.seeks
        self.decode_errors += d.errors


class _Pool:
    """Decoders of one kind, each on a container of its own, made on demand up to
    `limit`; the caller holds one while it decodes a group."""

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


@dataclass(frozen=True)
class Decoding:
    """How a Video decodes: `device` as asked, `decoder` the backend in use
    ("h264 (cuda)", "h264_qsv", or the software decoder's name), and `fallback`,
    when a device was asked for but the CPU decodes, saying why."""

    device: str
    decoder: str
    hardware: bool
    fallback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Hardware decoders at once by default: each holds a device context, and the
# device, not the cores, does the decoding.
_HW_WORKERS = 4


class Video:
    """An open video. Use as a context manager, or call close().

    `device` ("cpu", "auto", "cuda", "cuda:1", "vaapi", "qsv", "videotoolbox",
    "d3d11va"): where frames decode. "auto" uses the first device that works and
    falls back to the CPU; a named device that cannot decode this video raises
    HardwareUnavailable unless `fallback=True`. `decoding` says what runs and why.
    """

    def __init__(
        self,
        source: _source.Source,
        stream: int | None = None,
        *,
        workers: int | None = None,
        timeout: float | None = None,
        device: str | devices.DeviceSpec | None = None,
        fallback: bool = False,
    ) -> None:
        self._source = source
        self._name = _source.describe(source)
        self.device = devices.parse_device(device)
        self._may_fall_back = fallback or self.device.kind == "auto"
        cores = cpu_count()
        self.workers = max(1, workers if workers is not None else cores)
        if not _source.reopenable(source):
            self.workers = 1  # one file object, one reader
        self._threads_per_decoder = max(1, cores // self.workers)
        self._container = _source.open_input(source, timeout=timeout)
        try:
            self._stream = _pick_stream(self._container, stream, self._name)
            try:
                self.index = build_index(self._container, self._stream)
            except av.error.FFmpegError as exc:
                raise ResourceContentBad(f"{self._name}: the stream cannot be read ({exc})") from exc
            if self.index.count == 0:
                raise ResourceContentBad(f"{self._name}: the video stream holds no frames")
            self._container.seek(self.index.start_pts, stream=self._stream, backward=True)
            configure(self._stream.codec_context, self._threads_per_decoder)
            first = _first_frame(self._container, self._stream, self._name)
            self.info = _info(self._container, self._stream, self.index, first)
        except BaseException:
            self._container.close()
            raise
        self.stats = Stats(workers=self.workers)
        # Software decoders; the probed container is the first.
        self._cpu = _Pool(lambda: self._open_decoder(None), self.workers)
        self._cpu.add(GroupDecoder(self._container, self._stream, self.index))
        self._hw: _Pool | None = None
        self.decoding = Decoding(str(self.device), self.info.codec, False)
        self._pool: ThreadPoolExecutor | None = None
        if self.device.hardware:
            try:
                self._start_hardware(workers)
            except BaseException:
                self.close()
                raise

    def _open_decoder(self, backend: devices.Backend | None) -> GroupDecoder:
        """A decoder on a container of its own (hwaccel attaches when it opens)."""
        hwaccel = backend.hwaccel() if backend is not None and backend.method == "hwaccel" else None
        container = _source.open_input(self._source, hwaccel=hwaccel)
        try:
            stream = container.streams[self._stream.index]
            dec = GroupDecoder(container, stream, self.index, backend=backend)
            configure(dec.cc, self._threads_per_decoder, backend)
            return dec
        except BaseException:
            container.close()
            raise

    def _start_hardware(self, workers: int | None) -> None:
        """Pick the backend and prove it by decoding the first keyframe on it; on
        failure fall back (recording why) or raise HardwareUnavailable."""
        codec = self.info.codec
        if not _source.reopenable(self._source):
            return self._fall_back("a hardware decoder opens the input again, which a file object cannot do")
        chosen = devices.select(self.device, codec)
        if chosen.backend is None:
            return self._fall_back(chosen.reason or "no device")
        backend = chosen.backend
        try:
            dec = self._open_decoder(backend)
        except (StillframeError, av.error.FFmpegError, RuntimeError, OSError) as exc:
            return self._fall_back(f"{backend.label} could not be set up: {exc}")
        first_key = int(np.flatnonzero(self.index.key & self.index.shown)[0])
        trial = dec.run(Group(first_key, [first_key], intra=True), lambda f: f)
        if trial.missing:
            dec.container.close()
            return self._fall_back(
                f"{backend.label} opened but did not decode this {codec} stream "
                f"({self.info.coded_width}x{self.info.coded_height} {self.info.pixel_format})"
            )
        limit = max(1, workers if workers is not None else min(_HW_WORKERS, cpu_count()))
        self._hw = _Pool(lambda: self._open_decoder(backend), limit)
        self._hw.add(dec)
        self.stats.workers = limit
        self.decoding = Decoding(str(self.device), backend.label, True)

    def _fall_back(self, reason: str) -> None:
        if not self._may_fall_back:
            raise HardwareUnavailable(f"{self._name}: device {self.device} cannot decode this video: {reason}")
        self.decoding = Decoding(str(self.device), self.info.codec, False, reason)

    # -- life cycle ------------------------------------------------------------------

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for pool in (self._cpu, self._hw):
            if pool is not None:
                pool.close()

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- frames ------------------------------------------------------------------------

    def geometry(
        self,
        width: int | None = None,
        height: int | None = None,
        max_length: int | None = None,
        aspect_ratio: str = "keep",
    ) -> OutputGeometry:
        i = self.info
        return plan_geometry(
            i.width, i.height, i.rotation, width=width, height=height, max_length=max_length, aspect_ratio=aspect_ratio
        )

    def check_times(self, times: Iterable[float]) -> list[float]:
        out = []
        for t in times:
            try:
                x = float(t)
            except (TypeError, ValueError):
                raise InvalidParameter(f"time {t!r} is not a number") from None
            if math.isnan(x) or x < 0 or math.isinf(x):
                raise InvalidParameter(f"time {t!r} must be a number of seconds >= 0")
            if x >= self.info.duration:
                header = self.info.header_duration
                if self.info.truncated and header is not None and x < header:
                    raise ResourceContentBad(
                        f"{self._name}: time {x:.3f} s is past where the data ends ({self.info.duration:.3f} s); "
                        f"the header says {header:.3f} s, so the file is cut off"
                    )
                raise InvalidParameter(
                    f"time {x:.3f} s is at or past the end of the video ({self.info.duration:.3f} s)"
                )
            out.append(x)
        return out

    def frames_at(self, times: Sequence[float], **options: Any) -> list[Frame]:
        """One Frame per requested time, in the order asked (repeated times are
        decoded once). Options: frame_type ("normal" | "intra"), snap ("displayed" |
        "next"), tolerance (seconds), width, height, max_length, aspect_ratio.
        Raises InvalidParameter for negative, NaN or past-the-end times."""
        picks, frames = self._run(times, **options)
        return [frames[p.request] for p in picks]

    def iter_frames_at(self, times: Sequence[float], **options: Any) -> Iterator[Frame]:
        """The same frames, yielded in time order as they are decoded; memory stays
        bounded by the workers' window, not by how many times are asked."""
        yield from self._stream_frames(times, **options)

    def _run(self, times: Sequence[float], **options: Any) -> tuple[list[Pick], dict[int, Frame]]:
        frames: dict[int, Frame] = {}
        picks: list[Pick] = []
        for pick, frame in self._stream_frames(times, _picks_out=picks, ordered=False, **options):
            frames[pick.request] = frame
        return picks, frames

    def _stream_frames(
        self,
        times: Sequence[float],
        *,
        frame_type: str = "normal",
        snap: str = "displayed",
        tolerance: float = 0.0,
        width: int | None = None,
        height: int | None = None,
        max_length: int | None = None,
        aspect_ratio: str = "keep",
        deadline: float | None = None,
        ordered: bool = True,
        _picks_out: list[Pick] | None = None,
    ) -> Iterator[Any]:
        check_choices(frame_type, snap, tolerance)
        checked = self.check_times(times)
        geo = self.geometry(width, height, max_length, aspect_ratio)
        picks = pick_frames(self.index, checked, frame_type=frame_type, snap=snap, tolerance=tolerance)
        groups = group_targets(self.index, picks)
        by_target: dict[int, list[Pick]] = {}
        for p in picks:
            by_target.setdefault(p.target, []).append(p)
        emit_pairs = _picks_out is not None
        if _picks_out is not None:
            _picks_out.extend(picks)
        started = time.perf_counter()
        try:
            if not ordered:
                # Longest groups first, so no worker is left with a long one at the end.
                groups.sort(key=lambda g: g.targets[-1] - g.key, reverse=True)
            for group, result in self._decode_groups(groups, geo, deadline):
                self.stats.add(result.stats)
                if result.missing:
                    raise missing_error(self.index, result.missing)
                for d in group.targets:
                    for pick in sorted(by_target.get(d, []), key=lambda p: p.time):
                        frame = self._frame(pick, result, d, geo)
                        yield (pick, frame) if emit_pairs else frame
        finally:
            self.stats.seconds += time.perf_counter() - started

    def _frame(self, pick: Pick, result: GroupResult, d: int, geo: OutputGeometry) -> Frame:
        idx = self.index
        return Frame(
            requested_time=pick.time,
            time=float(idx.seconds(idx.pts[pick.target])),
            pts=int(idx.pts[pick.target]),
            is_keyframe=bool(idx.key[pick.target]),
            rule=pick.rule,
            decoder=result.decoder,
            _picture=result.frames[d],
            _geometry=geo,
            fallback=result.fallback or self.decoding.fallback,
        )

    # -- workers -----------------------------------------------------------------------

    def _run_on(self, pool: _Pool, group: Group, convert: Callable[[av.VideoFrame], av.VideoFrame],
                deadline: float | None) -> tuple[GroupResult, GroupDecoder]:  # fmt: skip
        dec = pool.acquire()
        try:
            dec.deadline = deadline
            return dec.run(group, convert), dec
        finally:
            pool.release(dec)

    def _decode_group(self, group: Group, convert: Callable[[av.VideoFrame], av.VideoFrame],
                      deadline: float | None) -> GroupResult:  # fmt: skip
        """On the device when there is one; a group it fails on is decoded again on
        the CPU (its frames then say why), or raises when no fallback is allowed."""
        fallback = None
        if self._hw is not None:
            result, dec = self._run_on(self._hw, group, convert, deadline)
            if not result.missing:
                return result
            self.stats.add(result.stats)
            at = float(self.index.seconds(self.index.pts[group.key]))
            fallback = f"{dec.label} failed on {len(result.missing)} frame(s) of the group at {at:.3f} s"
            if not self._may_fall_back:
                raise HardwareUnavailable(f"{self._name}: {fallback}")
        result, _ = self._run_on(self._cpu, group, convert, deadline)
        result.fallback = fallback
        return result

    def _decode_groups(
        self, groups: list[Group], geo: OutputGeometry, deadline: float | None
    ) -> Iterator[tuple[Group, GroupResult]]:
        lanes = (self._hw or self._cpu).limit  # decoders of the pool that decodes first
        workers = min(lanes, len(groups))

        def convert(frame: av.VideoFrame) -> av.VideoFrame:
            return scale(frame, geo)

        def work(group: Group) -> GroupResult:
            return self._decode_group(group, convert, deadline)

        if workers <= 1:
            for g in groups:
                yield g, work(g)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(lanes, thread_name_prefix="stillframe-decode")
        # In time order, with a bounded window of groups in flight. PyAV releases
        # the GIL while it demuxes, decodes and scales, so threads run in parallel.
        pending: deque[tuple[Group, Future[GroupResult]]] = deque()
        it = iter(groups)
        try:
            for g in it:
                pending.append((g, self._pool.submit(work, g)))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                g, fut = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt, self._pool.submit(work, nxt)))
                yield g, fut.result()
        finally:
            for _, fut in pending:
                fut.cancel()
            for _, fut in pending:
                if not fut.cancelled():
                    fut.exception()  # let running groups finish before the caller moves on


def open(source: _source.Source, stream: int | None = None, **options: Any) -> Video:  # noqa: A001
    """Open `source` (a path, a pathlib.Path, a binary file object, or a URL PyAV
    opens) and index its video stream (`stream=None`: the best one). Options:
    workers (parallel decoders; default every CPU, or 4 on a hardware device),
    timeout (seconds, network), device and fallback (see Video)."""
    return Video(source, stream, **options)
