"""Opening a video: probe(), open() and the Video object that returns exact frames.

Video is a facade over four parts, each with one concern: the source (_source.Input:
opening paths, URLs, file objects and object-store sources), the index (_indexes:
the container's own table, or a scan), the planner (plan: pure), and the decoder
pool (_decoders: CPU and device lanes, fallback). _frames runs a request through
them. See ARCHITECTURE.md.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import av

from stillframe import _source, devices
from stillframe._decoders import DecoderPool, Decoding
from stillframe._frames import FrameRun, windows
from stillframe._index import PacketIndex
from stillframe._indexes import FrameIndex, Probe, open_index
from stillframe._indexes.sources import stream_input
from stillframe._native import cpu_count
from stillframe._workers import in_order
from stillframe.decode import GroupDecoder, configure
from stillframe.errors import InvalidParameter, ResourceContentBad, StillframeError
from stillframe.frame import Frame
from stillframe.geometry import OutputGeometry, plan_geometry
from stillframe.info import VideoInfo
from stillframe.options import FrameOptions
from stillframe.records import Stats
from stillframe.sampling import is_lazy

__all__ = ["Decoding", "Video", "VideoInfo", "open", "probe"]


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


def probe(
    source: _source.Source, stream: int | None = None, index: str = "auto", variant: str | int | None = None
) -> VideoInfo:
    """Describe a video (see VideoInfo). An MP4/MOV or a Matroska/WebM file with
    cues is described from its own index and the packets at its two ends, an HLS
    playlist or a DASH manifest from itself and its first segment's head (and, for
    HLS, its last one's), a fragmented MP4 from its fragments' index (facts that
    need more are worked out when first read); other containers, or
    `index="scan"`, are demuxed once. Decodes one frame. `variant`: see Video."""
    with open(source, stream=stream, index=index, variant=variant) as video:
        return video.info


class Video:
    """An open video. Use as a context manager, or call close().

    `device` ("cpu", "auto", "cuda", "cuda:1", "vaapi", "qsv", "videotoolbox",
    "d3d11va"): where frames decode. "auto" uses the first device that works and
    falls back to the CPU; a named device that cannot decode this video raises
    HardwareUnavailable unless `fallback=True`. `decoding` says what runs and why.

    `index="auto"` finds frames through the container's own index where it has one
    (MP4/MOV sample tables, Matroska/WebM cues; a fragmented MP4's sidx, mfra or
    fragment headers; a Matroska file without cues by its cluster headers), or
    the stream's (an HLS playlist, a DASH manifest), reading only what each
    request needs; `index="scan"` demuxes every packet when the video opens. Both
    give the same frames.

    An HLS playlist or a DASH manifest (named `.m3u8` or `.mpd`, a path, an
    http(s) URL or a RangeSource, its segments resolved beside it) is read
    segment by segment. `variant` chooses one rendition of a master playlist or a
    manifest: None or "highest" (bandwidth), "lowest", "720p", "1280x720", a
    bandwidth cap in bits a second (an int, or "<=N"), or the variant's URI or
    Representation id.

    `workers` decoders run groups in parallel, each with cores / workers threads;
    `workers=1` gives one decoder frame threads on every core, the fastest way to
    one frame (frame threads on decoders already running side by side would only
    contend for the cores). By default each request gets one decoder a keyframe
    group it needs, up to the cores, the cores shared among them as frame threads.
    On a GPU, `workers` is how many device decoders run at once (by default one an
    NVDEC engine).

    Threads: a Video may be shared; requests from several threads at once each get
    their own frames, decoded on the shared pool (each decoder serves one request
    at a time), and `stats` adds up all of them.
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
        index: str = "auto",
        variant: str | int | None = None,
    ) -> None:
        if index not in ("auto", "scan"):
            raise InvalidParameter(f"index must be 'auto' or 'scan', not {index!r}")
        self._input = stream_input(source, timeout, variant) or _source.Input(source, timeout)
        self._name = self._input.name
        spec = devices.parse_device(device)
        cores = cpu_count()
        self.workers = max(1, workers if workers is not None else cores)
        sized = workers is None  # the decoders and their threads follow each request
        if not self._input.reopenable:
            self.workers, sized = 1, False  # one file object, one reader
        self._closed = False
        self._executor_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        container = self._input.open()
        # Sized to each request, the first decoder takes every core: a request of one
        # group (one frame) runs on it alone; more groups open more decoders.
        threads = cores if sized else max(1, cores // self.workers)
        chosen, self._index = self._open_index(container, stream, index, threads)
        self._input = self._index.decoder_input or self._input  # an index reading segments opens its own
        self.info: VideoInfo = self._index.info
        self.stats = Stats(workers=self.workers, index=self.info.index)
        self._decoders = DecoderPool(
            self._input,
            GroupDecoder(container, chosen),
            workers=None if sized else self.workers,
            threads=max(1, cores // self.workers),
            device=spec,
            fallback=fallback,
            info=self.info,
            first_key=self._index.first_key,
            device_workers=workers,
        )
        self.stats.workers = self._decoders.lanes
        self.device = spec

    def _open_index(
        self, container: av.container.InputContainer, stream: int | None, index: str, threads: int
    ) -> tuple[av.video.stream.VideoStream, FrameIndex]:
        """The video stream, its decoder set to `threads`, and how its frames are found;
        any failure is one error of the tree, the container closed."""
        try:
            chosen = _pick_stream(container, stream, self._name)
            if chosen.codec_context is None:
                raise ResourceContentBad(f"{self._name}: no decoder can be opened for its video stream")
            configure(chosen.codec_context, threads)
            return chosen, open_index(Probe(self._input, container, chosen), index)
        except StillframeError as exc:
            self._input.close(container)
            raise self._input.explained(exc) from exc.__cause__
        except (av.error.FFmpegError, IndexError, AttributeError) as exc:
            # A damaged file can fail anywhere in PyAV while it opens (a seek refused
            # with EPERM, a stream without a decoder, a stream list cut short).
            self._input.close(container)
            said = _source.av_words(exc) if isinstance(exc, av.error.FFmpegError) else f"{type(exc).__name__}: {exc}"
            bad = ResourceContentBad(f"{self._name}: the file is damaged ({said})")
            raise self._input.explained(bad) from exc
        except BaseException:
            self._input.close(container)
            raise

    @property
    def decoding(self) -> Decoding:
        """What decodes: the device asked for, the decoder in use, any fallback."""
        return self._decoders.decoding

    # -- life cycle ------------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers and close every container (idempotent)."""
        self._closed = True
        with self._executor_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        decoders = getattr(self, "_decoders", None)
        if decoders is not None:
            decoders.close()

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidParameter(f"{self._name}: the video is closed (use it inside its with block)")

    def _executor(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            self._check_open()
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._decoders.most_lanes, thread_name_prefix="stillframe-decode")
            return self._pool

    # -- what the video is -------------------------------------------------------------

    @property
    def index(self) -> PacketIndex:
        """Every packet of the stream. Opened from the container's index, the video
        is scanned for it on first use."""
        self._check_open()
        return self._index.packets(self._decoders.borrow)

    def geometry(
        self,
        width: int | None = None,
        height: int | None = None,
        max_length: int | None = None,
        aspect_ratio: str = "keep",
    ) -> OutputGeometry:
        """The output size and orientation for these sizes (see FrameOptions)."""
        i = self.info
        return plan_geometry(
            i.width, i.height, i.rotation, width=width, height=height, max_length=max_length, aspect_ratio=aspect_ratio
        )

    def check_times(self, times: Iterable[float]) -> list[float]:
        """`times` as floats; InvalidParameter for one that is not a number of
        seconds in [0, duration), ResourceContentBad for one past where a cut-off
        file's data ends."""
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

    def frame_times(self, start: float, end: float) -> list[float]:
        """The exact times (seconds) of the frames shown from `start` to `end`."""
        self._check_open()
        return self._index.frame_times(start, end, self._decoders.borrow)

    def keyframe_groups(self, times: Sequence[float]) -> tuple[list[list[int]], list[int]]:
        """Positions in `times` grouped by the keyframe decoding starts from, in time
        order, and each group's weight (bytes to read where the container's index
        says, else its count of times): cut work between groups and no GOP is
        decoded twice."""
        self._check_open()
        return self._index.keyframe_groups(times)

    # -- frames ------------------------------------------------------------------------

    def stream(
        self,
        times: Sequence[float],
        options: FrameOptions | None = None,
        *,
        ordered: bool = True,
        deadline: float | None = None,
    ) -> Iterator[tuple[int, Frame]]:
        """(position in `times`, Frame) for every time, as frames are decoded: in
        time order (`ordered`), or in whatever order is fastest. The engine's one
        way in: frames_at, snapshot and the distributed runs read this.

        `times` may be a list (checked whole before any work: InvalidParameter for a
        negative, NaN or past-the-end time) or a schedule's lazy Times, read a
        window at a time: memory stays bounded by the window and the workers, not
        by how many times are asked. `deadline` (time.monotonic()) raises
        SnapshotTimeOut once passed."""
        self._check_open()
        options = options or FrameOptions()
        o = options
        run = FrameRun(
            self._index, self._decoders, o, self.geometry(o.width, o.height, o.max_length, o.aspect_ratio), deadline
        )
        planned = windows(times, self.check_times, is_lazy(times))
        started = time.perf_counter()
        try:
            units = run.units(planned, ordered, self.stats)
            head = list(itertools.islice(units, 1))  # the first window planned: the request is known
            self.stats.workers = run.lanes
            for _, done in in_order(itertools.chain(head, units), run.work, run.lanes, self._executor):
                self.stats.merge(done.stats)
                for pick, frame in done.answers:
                    yield pick.request, frame
        except ResourceContentBad as exc:
            raise self._input.explained(exc) from exc.__cause__
        finally:
            self.stats.seconds += time.perf_counter() - started

    def frames_at(
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
        deinterlace: bool | str = False,
    ) -> list[Frame]:
        """One Frame per requested time (seconds), in the order asked (repeated times
        are decoded once); options as FrameOptions. Raises InvalidParameter for
        negative, NaN or past-the-end times."""
        options = FrameOptions(frame_type, snap, tolerance, width, height, max_length, aspect_ratio, deinterlace)
        frames: dict[int, Frame] = dict(self.stream(times, options, ordered=False))
        return [frames[i] for i in range(len(frames))]

    def frame_at(
        self,
        time: float,
        *,
        frame_type: str = "normal",
        snap: str = "displayed",
        tolerance: float = 0.0,
        width: int | None = None,
        height: int | None = None,
        max_length: int | None = None,
        aspect_ratio: str = "keep",
        deinterlace: bool | str = False,
    ) -> Frame:
        """The frame for one time (seconds); options as FrameOptions."""
        return self.frames_at(
            [time],
            frame_type=frame_type,
            snap=snap,
            tolerance=tolerance,
            width=width,
            height=height,
            max_length=max_length,
            aspect_ratio=aspect_ratio,
            deinterlace=deinterlace,
        )[0]

    def iter_frames_at(
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
        deinterlace: bool | str = False,
    ) -> Iterator[Frame]:
        """The same frames, yielded in time order as they are decoded; memory stays
        bounded by the workers' window, not by how many times are asked."""
        options = FrameOptions(frame_type, snap, tolerance, width, height, max_length, aspect_ratio, deinterlace)
        for _, frame in self.stream(times, options):
            yield frame


def open(  # noqa: A001
    source: _source.Source,
    stream: int | None = None,
    *,
    workers: int | None = None,
    timeout: float | None = None,
    device: str | devices.DeviceSpec | None = None,
    fallback: bool = False,
    index: str = "auto",
    variant: str | int | None = None,
) -> Video:
    """Open `source` (a path, a pathlib.Path, a binary file object, a URL PyAV
    opens, an HLS playlist or a DASH manifest, or a RangeSource) and index its
    video stream (`stream=None`: the best one). `workers` parallel decoders
    (default every CPU, or 4 on a hardware device), `timeout` seconds (network),
    `device` and `fallback`, `index` ("auto" or "scan"), `variant`: see Video."""
    return Video(
        source, stream, workers=workers, timeout=timeout, device=device, fallback=fallback, index=index, variant=variant
    )
