"""Opening a video: probe(), open() and the Video object that returns exact frames."""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import av
import numpy as np

from stillframe import _source, devices
from stillframe._index import PacketIndex, Rows, build_index, time_base_of
from stillframe._native import cpu_count
from stillframe._regions import Region, RegionError, RegionReader, Unit
from stillframe._table import ContainerIndex, SampleTable
from stillframe._workers import Pool, Stats, in_order
from stillframe.decode import GroupDecoder, GroupResult, configure, missing_error
from stillframe.errors import HardwareUnavailable, InvalidParameter, ResourceContentBad, StillframeError
from stillframe.frame import Frame
from stillframe.geometry import OutputGeometry, plan_geometry, scale
from stillframe.info import VideoInfo, info_from_scan, info_from_table
from stillframe.plan import Group, Pick, check_choices, group_targets, pick_frames

__all__ = ["Decoding", "Video", "VideoInfo", "open", "probe"]

# A request whose regions would read more than this share of the file is served
# by one scan of every packet instead (sprites, one frame a second).
_DENSE = 0.5


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


def _first_frame(container, stream, name: str) -> tuple[av.VideoFrame, av.Packet]:
    """The first frame that decodes, and the first packet (the first keyframe)."""
    first: av.Packet | None = None
    try:
        for packet in container.demux(stream):
            if first is None and packet.size:
                first = packet
            for frame in packet.decode():
                return frame, first or packet
    except av.error.FFmpegError as exc:
        raise ResourceContentBad(f"{name}: the video does not decode ({_source.av_words(exc)})") from exc
    raise ResourceContentBad(f"{name}: no frame of the video stream decodes")


def _keyframe_pts(container, stream, start_pts: int, key_shift: int) -> list[int]:
    """Every shown keyframe's pts: found through the sample table, each read from its
    own packet (composition offsets vary with B-frames and VFR)."""
    table = SampleTable(stream)
    reader = RegionReader(table, time_base_of(stream), start_pts, key_shift)
    hidden = table.hidden_at_start()
    return [int(reader.key_packet(container, stream, k).pts or 0) for k in table.keys() if k >= hidden]


def probe(source: _source.Source, stream: int | None = None, index: str = "auto") -> VideoInfo:
    """Describe a video (see VideoInfo). An MP4/MOV or a Matroska/WebM file with
    cues is described from its own index and the packets at its two ends (facts
    that need more are worked out when first read); other containers, or
    `index="scan"`, are demuxed once. Decodes one frame."""
    with open(source, stream=stream, index=index) as video:
        return video.info


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

    `index="auto"` finds frames through the container's own index where it has one
    (MP4/MOV sample tables, Matroska/WebM cues), reading only what each request
    needs; `index="scan"` demuxes every packet when the video opens. Both give the
    same frames.

    `workers` decoders run groups in parallel, each with cores / workers threads;
    `workers=1` gives one decoder frame threads on every core, the fastest way to
    one frame (frame threads on decoders already running side by side would only
    contend for the cores).
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
    ) -> None:
        if index not in ("auto", "scan"):
            raise InvalidParameter(f"index must be 'auto' or 'scan', not {index!r}")
        self._source = source
        self._name = _source.describe(source)
        self.device = devices.parse_device(device)
        self._may_fall_back = fallback or self.device.kind == "auto"
        cores = cpu_count()
        self.workers = max(1, workers if workers is not None else cores)
        if not _source.reopenable(source):
            self.workers = 1  # one file object, one reader
        self._threads_per_decoder = max(1, cores // self.workers)
        self._index: PacketIndex | None = None
        self._reader: RegionReader | None = None
        self._scan_lock = threading.Lock()
        self._closed = False
        self._container = _source.open_input(source, timeout=timeout)
        try:
            self._stream = _pick_stream(self._container, stream, self._name)
            if self._stream.codec_context is None:
                raise ResourceContentBad(f"{self._name}: no decoder can be opened for its video stream")
            configure(self._stream.codec_context, self._threads_per_decoder)
            table, note = ContainerIndex.of(self._container, self._stream) if index == "auto" else (None, "asked")
            if table is not None and table.by_pts and not _source.reopenable(source):
                table, note = None, "a file object is read once, in full, for a Matroska frame count"
            info = self._open_from_table(table) if table is not None else None
            if info is None:
                if table is not None:  # the table disagreed with the data: back to the start
                    self._container.seek(table.ts(0), stream=self._stream, backward=True, any_frame=True)
                    self._stream.codec_context.flush_buffers()
                    note = self._scan_note
                info = self._open_by_scan(note)
            self.info: VideoInfo = info
        except StillframeError as exc:
            self._container.close()
            raise _source.explained(exc, source) from exc.__cause__
        except (av.error.FFmpegError, IndexError, AttributeError) as exc:
            # A damaged file can fail anywhere in PyAV while it opens (a seek refused
            # with EPERM, a stream without a decoder, a stream list cut short).
            self._container.close()
            said = _source.av_words(exc) if isinstance(exc, av.error.FFmpegError) else f"{type(exc).__name__}: {exc}"
            bad = ResourceContentBad(f"{self._name}: the file is damaged ({said})")
            raise _source.explained(bad, source) from exc
        except BaseException:
            self._container.close()
            raise
        self.stats = Stats(workers=self.workers, index=self.info.index)
        # Software decoders; the probed container is the first.
        self._cpu = Pool(lambda: self._open_decoder(None), self.workers)
        self._cpu.add(GroupDecoder(self._container, self._stream))
        self._hw: Pool | None = None
        self.decoding = Decoding(str(self.device), self.info.decoder, False)
        self._pool: ThreadPoolExecutor | None = None
        if self.device.hardware:
            try:
                self._start_hardware(workers)
            except BaseException:
                self.close()
                raise

    def _open_by_scan(self, note: str) -> VideoInfo:
        try:
            self._index = build_index(self._container, self._stream)
        except av.error.FFmpegError as exc:
            raise ResourceContentBad(f"{self._name}: the stream cannot be read ({_source.av_words(exc)})") from exc
        if self._index.count == 0:
            raise ResourceContentBad(f"{self._name}: the video stream holds no frames")
        self._container.seek(self._index.start_pts, stream=self._stream, backward=True)
        first, self._first_key = _first_frame(self._container, self._stream, self._name)
        return info_from_scan(self._container, self._stream, self._index, first, note)

    def _open_from_table(self, table: ContainerIndex) -> VideoInfo | None:
        """Facts from the container's index, the first frame and the packets at the
        end; None (with `_scan_note`) when the packets disagree with the index."""
        container, stream = self._container, self._stream
        first, key = _first_frame(container, stream, self._name)
        self._first_key = key
        if key.pts is None:
            self._scan_note = "the first keyframe has no presentation time"
            return None
        start = int(stream.start_time if stream.start_time is not None else key.pts)
        shift = int(key.pts) - int(key.dts) if key.dts is not None else 0
        reader = RegionReader(table, time_base_of(stream), start, shift)
        try:
            tail, complete = reader.tail(container, stream)
        except av.error.FFmpegError as exc:
            self._scan_note = f"the packets at the end cannot be read ({_source.av_words(exc)})"
            return None
        if not complete or tail.count == 0:
            self._scan_note = "the packets at the end are not where the index says (the file may be cut off)"
            return None
        self._reader = reader
        if isinstance(table, SampleTable):
            count: int | Callable[[], int] = table.size - table.hidden_at_start()
            keyframe_pts: Callable[[], list[int]] = self._keyframe_pts
            if not _source.reopenable(self._source):  # one file object: read them now, while it is ours
                known = _keyframe_pts(container, stream, start, reader.key_shift)
                keyframe_pts = lambda: known  # noqa: E731
        else:  # cues name some keyframes, and no frame count: a scan, when asked
            scan = functools.cache(self._scan_copy)
            count = lambda: scan().count  # noqa: E731
            keyframe_pts = lambda: [int(p) for p in scan().pts[scan().key & scan().shown]]  # noqa: E731
        return info_from_table(container, stream, first, count=count, start_pts=start, end_pts=tail.end_pts(),
                               keyframe_pts=keyframe_pts)  # fmt: skip

    def _keyframe_pts(self) -> list[int]:
        """Every shown keyframe's pts, on a container of its own, so it works after
        the video is closed (sf.probe)."""
        assert self._reader is not None
        with _source.open_input(self._source) as container:
            return _keyframe_pts(
                container, container.streams[self.info.stream_index], self._reader.start_pts, self._reader.key_shift
            )

    def _scan_copy(self) -> PacketIndex:
        """A scan of every packet on a container of its own (works after close)."""
        if self._index is not None:
            return self._index
        with _source.open_input(self._source) as container:
            return build_index(container, container.streams[self.info.stream_index])

    @property
    def index(self) -> PacketIndex:
        """Every packet of the stream. Opened from a sample table, the video is
        scanned for it on first use."""
        self._check_open()
        with self._scan_lock:
            if self._index is None:
                dec = self._cpu.acquire()
                try:
                    assert self._reader is not None
                    table = self._reader.table
                    dec.container.seek(table.ts(0), stream=dec.stream, backward=True, any_frame=True)
                    self._index = build_index(dec.container, dec.stream)
                finally:
                    self._cpu.release(dec)
            return self._index

    def _open_decoder(self, backend: devices.Backend | None) -> GroupDecoder:
        """A decoder on a container of its own (hwaccel attaches when it opens)."""
        hwaccel = backend.hwaccel() if backend is not None and backend.method == "hwaccel" else None
        container = _source.open_input(self._source, hwaccel=hwaccel)
        try:
            stream = container.streams[self._stream.index]
            dec = GroupDecoder(container, stream, backend=backend)
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
        rows = Rows()
        rows.add(self._first_key)
        trial = dec.run(
            Group(0, [0], intra=True), lambda f: f, rows.index(time_base_of(self._stream)), [self._first_key]
        )
        if trial.missing:
            dec.container.close()
            return self._fall_back(
                f"{backend.label} opened but did not decode this {codec} stream "
                f"({self.info.coded_width}x{self.info.coded_height} {self.info.pixel_format})"
            )
        limit = max(1, workers if workers is not None else min(_HW_WORKERS, cpu_count()))
        self._hw = Pool(lambda: self._open_decoder(backend), limit)
        self._hw.add(dec)
        self.stats.workers = limit
        self.decoding = Decoding(str(self.device), backend.label, True)

    def _fall_back(self, reason: str) -> None:
        if not self._may_fall_back:
            raise HardwareUnavailable(f"{self._name}: device {self.device} cannot decode this video: {reason}")
        self.decoding = Decoding(str(self.device), self.info.decoder, False, reason)

    # -- life cycle ------------------------------------------------------------------

    def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for pool in (self._cpu, getattr(self, "_hw", None)):
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

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidParameter(f"{self._name}: the video is closed (use it inside its with block)")

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
        frames = self._run(times, **options)
        return [frames[i] for i in range(len(frames))]

    def frame_at(self, time: float, **options: Any) -> Frame:
        """The frame for one time (seconds); options as frames_at."""
        return self.frames_at([time], **options)[0]

    def iter_frames_at(self, times: Sequence[float], **options: Any) -> Iterator[Frame]:
        """The same frames, yielded in time order as they are decoded; memory stays
        bounded by the workers' window, not by how many times are asked."""
        yield from self._stream_frames(times, **options)

    def _run(self, times: Sequence[float], **options: Any) -> dict[int, Frame]:
        """Frames by position in `times`, decoded in whatever order is fastest."""
        frames: dict[int, Frame] = {}
        for pick, frame in self._stream_frames(times, pairs=True, ordered=False, **options):
            frames[pick.request] = frame
        return frames

    def frame_times(self, start: float, end: float) -> list[float]:
        """The exact times (seconds) of the frames shown from `start` to `end`."""
        self._check_open()
        if self._reader is None:
            idx = self.index
        else:
            dec = self._cpu.acquire()
            try:
                key = self._reader.table.key_at_or_before(math.floor(self._reader.pts(start)))
                unit = Unit(key, [(0, start), (1, end)])
                idx = self._reader.read(dec.container, dec.stream, unit, "displayed", dec.check_deadline).index
            finally:
                self._cpu.release(dec)
        times = np.sort(np.asarray(idx.seconds(idx.pts[idx.shown]), dtype=np.float64))
        return [float(t) for t in times if start <= t <= end]

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
        pairs: bool = False,  # yield (pick, frame): which request each frame answers
    ) -> Iterator[Any]:
        self._check_open()
        check_choices(frame_type, snap, tolerance)
        checked = self.check_times(times)
        geo = self.geometry(width, height, max_length, aspect_ratio)

        def convert(frame: av.VideoFrame) -> av.VideoFrame:
            return scale(frame, geo, keep_format=True)

        units = self._sparse_units(checked, frame_type, tolerance)
        started = time.perf_counter()
        try:
            if units is not None:
                work = self._region_work(frame_type, snap, convert, geo, deadline)
                if not ordered:
                    units.sort(key=lambda u: u.estimate, reverse=True)
                self.stats.index = "container"
                results = in_order(units, work, self._lanes(), self._executor)
            else:
                self.stats.index = "scan"
                results = self._scan_work(checked, frame_type, snap, tolerance, convert, geo, deadline, ordered)
            for _, (answers, region) in results:
                if region is not None:
                    self.stats.regions += 1
                    self.stats.bytes_demuxed += region.bytes
                for pick, frame in answers:
                    yield (pick, frame) if pairs else frame
        except ResourceContentBad as exc:
            raise _source.explained(exc, self._source) from exc.__cause__
        finally:
            self.stats.seconds += time.perf_counter() - started

    def _sparse_units(self, times: list[float], frame_type: str, tolerance: float) -> list[Unit] | None:
        """The regions to read for `times`, or None when a scan serves better: no
        index of the container's own, a tolerance (it may pick a keyframe in another
        region), keyframes from cues (which need not name every keyframe), or
        regions that would read most of the file."""
        if self._reader is None or tolerance > 0 or not times:
            return None
        if frame_type == "intra" and self._reader.table.by_pts:
            return None
        units = self._reader.plan(times)
        size = self._container.size or 0
        if size > 0 and sum(u.estimate for u in units) > _DENSE * size:
            return None
        return units

    def _lanes(self) -> int:
        return (self._hw or self._cpu).limit  # decoders of the pool that decodes first

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._lanes(), thread_name_prefix="stillframe-decode")
        return self._pool

    def _region_work(self, frame_type, snap, convert, geo, deadline):
        """What one worker does with a unit: read its region (on a decoder's own
        container), pick the frames, decode them from the packets read."""
        reader = self._reader
        assert reader is not None

        def work(unit: Unit) -> tuple[list[tuple[Pick, Frame]], Region]:
            dec = self._cpu.acquire()
            try:
                dec.deadline = deadline
                if frame_type == "intra":
                    region = reader.read_keys(dec.container, dec.stream, unit, dec.check_deadline)
                else:
                    region = reader.read(dec.container, dec.stream, unit, snap, dec.check_deadline)
            except RegionError as exc:
                raise ResourceContentBad(f"{self._name}: the sample table does not match the data ({exc})") from exc
            except av.error.FFmpegError as exc:
                raise ResourceContentBad(f"{self._name}: the stream cannot be read ({_source.av_words(exc)})") from exc
            finally:
                self._cpu.release(dec)
            picks = pick_frames(region.index, [t for _, t in unit.requests], frame_type=frame_type, snap=snap)
            picks = [replace(p, request=unit.requests[p.request][0]) for p in picks]
            pairs = self._decode_picks(region.index, region.packets, picks, convert, geo, deadline)
            return sorted(pairs, key=lambda pf: pf[0].time), region

        return work

    def _scan_work(self, times, frame_type, snap, tolerance, convert, geo, deadline, ordered):
        idx = self.index
        picks = pick_frames(idx, times, frame_type=frame_type, snap=snap, tolerance=tolerance)
        groups = group_targets(idx, picks)
        if not ordered:
            # Longest groups first, so no worker is left with a long one at the end.
            groups.sort(key=lambda g: g.targets[-1] - g.key, reverse=True)
        by_target: dict[int, list[Pick]] = {}
        for p in picks:
            by_target.setdefault(p.target, []).append(p)

        def work(group: Group) -> tuple[list[tuple[Pick, Frame]], None]:
            mine = [p for d in group.targets for p in by_target.get(d, [])]
            return self._decode_picks(idx, None, mine, convert, geo, deadline, [group]), None

        return in_order(groups, work, self._lanes(), self._executor)

    def _decode_picks(self, idx, packets, picks, convert, geo, deadline, groups=None) -> list[tuple[Pick, Frame]]:
        by_target: dict[int, list[Pick]] = {}
        for p in picks:
            by_target.setdefault(p.target, []).append(p)
        out = []
        for group in groups if groups is not None else group_targets(idx, picks):
            result = self._decode_group(group, convert, deadline, idx, packets)
            self.stats.add(result.stats)
            if result.missing:
                raise missing_error(idx, result.missing)
            for d in group.targets:
                for pick in sorted(by_target.get(d, []), key=lambda p: p.time):
                    out.append((pick, self._frame(pick, result, d, idx, geo)))
        return out

    def _frame(self, pick: Pick, result: GroupResult, d: int, idx: PacketIndex, geo: OutputGeometry) -> Frame:
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

    def _run_on(self, pool: Pool, group: Group, convert, deadline, idx, packets) -> tuple[GroupResult, GroupDecoder]:
        dec = pool.acquire()
        try:
            dec.deadline = deadline
            return dec.run(group, convert, idx, packets), dec
        finally:
            pool.release(dec)

    def _decode_group(self, group: Group, convert, deadline, idx: PacketIndex, packets) -> GroupResult:
        """On the device when there is one; a group it fails on is decoded again on
        the CPU (its frames then say why), or raises when no fallback is allowed."""
        fallback = None
        if self._hw is not None:
            result, dec = self._run_on(self._hw, group, convert, deadline, idx, packets)
            if not result.missing:
                return result
            self.stats.add(result.stats)
            at = float(idx.seconds(idx.pts[group.key]))
            fallback = f"{dec.label} failed on {len(result.missing)} frame(s) of the group at {at:.3f} s"
            if not self._may_fall_back:
                raise HardwareUnavailable(f"{self._name}: {fallback}")
        result, _ = self._run_on(self._cpu, group, convert, deadline, idx, packets)
        result.fallback = fallback
        return result


def open(source: _source.Source, stream: int | None = None, **options: Any) -> Video:  # noqa: A001
    """Open `source` (a path, a pathlib.Path, a binary file object, or a URL PyAV
    opens) and index its video stream (`stream=None`: the best one). Options:
    workers (parallel decoders; default every CPU, or 4 on a hardware device),
    timeout (seconds, network), device and fallback, index ("auto" or "scan";
    see Video)."""
    return Video(source, stream, **options)
