"""SegmentIndex: frames found through a streaming format's own index of segments
(stillframe.streams): an HLS playlist, a DASH manifest, a fragmented MP4's
`sidx`, `mfra` or `moof` headers, or the Cluster headers of a Matroska file
without cues. Opening reads the index, the first segment's head (what the
stream is) and, for HLS, the last one's (where it ends); a request reads the
segments its times fall in, from the keyframe before each time to where the
answer is known, by range reads through one cache the video shares. Nothing
else of the stream is read.

Each unit is demuxed from its own small container: PyAV opens the chosen
segments as one file (streams.SegmentStream: concatenated for HLS and DASH, in
place for one file), and the packets go to a decoder as a region's do. Times
are the stream's own: the timestamps the packets carry, from the first
segment's first frame, so a frame at t is the progressive file's frame at t.
Where timestamps restart (an HLS discontinuity, a DASH Period), the packets
after it are moved onto the playlist's timeline.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import os
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from stillframe._index import PacketIndex, Rows, time_base_of
from stillframe._indexes import Borrow, FrameIndex, Probe, Region, Unit, Unsuitable
from stillframe._indexes.scan import first_frame, shown_times
from stillframe._indexes.sources import path_of
from stillframe._source import Input, RangeSource, describe, is_url, map_av_error
from stillframe.errors import InvalidParameter, ResourceContentBad, StillframeError
from stillframe.info import Deferred, VideoInfo, frame_facts
from stillframe.options import FrameOptions
from stillframe.plan import EPSILON

if TYPE_CHECKING:
    from stillframe.streams import RangeReader, ReadStats, StreamIndex

__all__ = ["SegmentIndex", "SegmentInput", "Segments", "cue_check", "segment_index", "source_reader"]

BLOCK = 128 << 10  # a view's first read of a segment; reading on grows it, to 8 times (SegmentStream)
LIGHT = {"probesize": "32", "analyzeduration": "0"}  # the streams from the headers alone
NO_CUES = "the file has no Cues (written to a pipe or by a live recorder)"


def source_reader(source: Any, timeout: float | None = None) -> RangeReader | None:
    """A range reader on `source` and what it names (segments beside a playlist),
    or None for a source read only by FFmpeg (a file object, rtmp://...)."""
    from stillframe.streams import AnyReader, FileReader, FsspecReader, HttpReader

    if isinstance(source, RangeSource):
        scheme = source.name.partition("://")[0].lower()
        reader = AnyReader()
        reader.use(scheme, _Counted(FsspecReader.on(source.fs, scheme), source))
        return reader
    if not isinstance(source, (str, os.PathLike)):
        return None
    name = os.fspath(source)
    scheme = name.partition("://")[0].lower() if "://" in name else ""
    if scheme not in ("", "file", "http", "https"):
        return None
    reader = AnyReader()
    reader.use("http", HttpReader(timeout=min(timeout, 30.0) if timeout else 30.0))
    reader.use("file", FileReader())
    return reader


class _Counted:
    """An object store's reader whose bytes the RangeSource counts (bytes_read)."""

    def __init__(self, inner: RangeReader, source: RangeSource) -> None:
        self.inner, self.source = inner, source

    @property
    def stats(self) -> ReadStats:
        """What the store's reader has fetched."""
        return self.inner.stats

    def read(self, uri: str, start: int, length: int) -> bytes:
        """The store's bytes, counted in the RangeSource."""
        data = self.inner.read(uri, start, length)
        self.source.record(len(data))
        return data

    def size(self, uri: str) -> int:
        """The object's length in bytes."""
        return self.inner.size(uri)


class Segments:
    """One stream's segments as the engine reads them: the format's index, one
    cached reader every view shares, and how segments are laid out (`fill`:
    "mp4" or "matroska" for one file read in place, None to concatenate)."""

    def __init__(
        self,
        index: StreamIndex,
        reader: RangeReader,
        name: str,
        fill: str | None = None,
        kind: str = "container",
        note: str = "",
    ) -> None:
        from stillframe.streams._cache import CachedReader

        self.index = index
        self.reader = reader if isinstance(reader, CachedReader) else CachedReader(reader)
        self.name = name
        self.fill = fill
        self.kind = kind  # VideoInfo.index: "container", or "scan" for clusters found by their headers
        self.note = note or _how(index)
        self.keys: dict[str, bytes] = {}  # AES-128 keys, fetched once

    @classmethod
    def of_manifest(cls, source: Any, kind: str, timeout: float | None, variant: str | int | None) -> Segments:
        """The segments an HLS playlist or a DASH manifest lists (the variant chosen)."""
        from stillframe import streams

        reader = source_reader(source, timeout)
        name = describe(source)
        if reader is None:
            raise InvalidParameter(f"{name}: a playlist or manifest is read from a path, a URL or a RangeSource")
        read = getattr(streams, f"read_{kind}")  # loads that parser's module alone
        index = read(reader, path_of(name), variant=variant)
        return cls(index, reader, name)

    @classmethod
    def of_file(cls, source: str | os.PathLike[str], kind: str, timeout: float | None) -> Segments | None:
        """A local file's segments, `kind` told by its head (sources.stream_input): a
        fragmented MP4's fragments ("mp4"), or a Matroska file's clusters when it has
        no cues ("matroska"), from their headers, before FFmpeg opens the file. None
        for Matroska with cues, or a file whose headers cannot be read (FFmpeg then
        opens it and says what is wrong). A remote file is opened by FFmpeg first
        (told apart by its index: `segment_index`), so that a progressive MP4 over
        HTTP pays for no look of its own."""
        from stillframe.streams import cues_listed, read_fmp4, read_matroska

        uri = path_of(os.fspath(source))
        reader = source_reader(source, timeout)
        if reader is None:
            return None
        try:
            if kind == "matroska":
                if cues_listed(reader, uri):
                    return None
                note = f"{NO_CUES}; its clusters are found by their headers"
                return cls(read_matroska(reader, uri), reader, os.fspath(source), "matroska", "scan", note)
            index = read_fmp4(reader, uri)
            return cls(index, reader, os.fspath(source), "mp4", note=f"fragmented MP4: fragments from its {index.how}")
        except StillframeError:
            return None

    @property
    def segments(self) -> tuple:
        return self.index.segments

    def container(self, first: int, last: int, hwaccel: Any = None, light: bool = False) -> av.container.InputContainer:
        """Segments `first`..`last` opened by PyAV as one file. A concatenated view
        is read straight on (no look at its end), one laid out in place may seek.
        `light`: for packets only (not a decoder's parameters), FFmpeg reads no
        packets ahead to work out the streams (what would be a third of a
        segment read before the first packet)."""
        from stillframe.streams import SegmentStream

        view = SegmentStream(
            self.reader,
            self.segments[first : last + 1],
            BLOCK,
            fill=self.fill,
            seekable=self.fill is not None,
            keys=self.keys,
        )
        try:
            return av.open(view, "r", options=LIGHT if light else None, hwaccel=hwaccel)
        except StillframeError:
            raise
        except Exception as exc:  # PyAV raises a wide family; map every one
            raise map_av_error(exc, view, f"{self.name} (segment {first})") from exc


class SegmentInput(Input):
    """A source read by its segments: a decoder's container is opened on the
    first one (its bytes cached: decoders share them), and every unit reads its
    own segments."""

    def __init__(self, source: Any, segments: Segments, timeout: float | None = None) -> None:
        super().__init__(source, timeout)
        self.segments = segments

    def open(self, hwaccel: Any = None) -> av.container.InputContainer:
        return self.segments.container(0, 0, hwaccel)


def segment_index(probe: Probe, note: str) -> SegmentIndex | None:
    """For a file its container's index could not serve: a fragmented MP4's own
    index of fragments, or a Matroska file's clusters by their headers; None
    (a scan then) when neither can be read."""
    names = probe.container.format.name.split(",")
    reader = probe_reader(probe)
    if reader is None:
        return None
    from stillframe.streams import read_fmp4, read_matroska

    try:
        if "mov" in names:
            index = read_fmp4(reader, path_of(probe.input.name))
            kind, why = "container", f"fragmented MP4: fragments from its {index.how}"
        else:
            index = read_matroska(reader, path_of(probe.input.name))
            kind, why = "scan", f"{note}; its clusters are found by their headers"
    except StillframeError:
        return None
    segments = Segments(index, reader, probe.input.name, "mp4" if "mov" in names else "matroska", kind, why)
    try:
        found = SegmentIndex.build(probe, segments)
    except StillframeError:
        return None  # its first fragment or cluster does not decode alone: the scan says what is wrong
    found.decoder_input = SegmentInput(probe.input.source, segments, probe.input.timeout)
    return found


def probe_reader(probe: Probe) -> RangeReader | None:
    """One range reader (one connection) for a probe's own checks, cue_check then
    segment_index; None for a source only FFmpeg reads (a file object, rtmp://...).
    Not a cache: the index reads small headers far apart, which whole blocks would
    turn into the whole file."""
    if probe.ranges is None and probe.input.reopenable:
        probe.ranges = source_reader(probe.input.source, probe.input.timeout)
    return probe.ranges


def cue_check(probe: Probe) -> str | None:
    """Why a remote Matroska file's cues cannot serve (it has none), or None (a
    local one without cues is read by its clusters before FFmpeg opens it)."""
    source = probe.input.source
    reader = probe_reader(probe) if isinstance(source, RangeSource) or is_url(source) else None
    if reader is None:
        return None
    from stillframe.streams import cues_listed

    try:
        listed = cues_listed(reader, path_of(probe.input.name))
    except StillframeError:
        return None
    return None if listed else f"{NO_CUES}: FFmpeg knows only the keyframes it saw while probing"


class SegmentIndex(FrameIndex):
    """Segments of a stream's own index; a unit is the requests in one segment."""

    kind = "container"

    def __init__(self, probe: Probe, segments: Segments, kind: str) -> None:
        self.kind = kind  # type: ignore[misc]
        self.source = segments
        self.segs = segments.segments
        self.stream_index = probe.stream.index
        self.time_base = time_base_of(probe.stream)
        self._tb = float(self.time_base)
        self.size = sum(s.byte_range.length for s in self.segs if s.byte_range) if segments.fill else 0
        self.start_pts = 0
        self.est: list[float] = []  # each segment's start, seconds on the video's timeline, as the index says
        self._shifts: dict[int, int] = {0: 0}  # ticks added to each discontinuity's timestamps
        self._lock = threading.Lock()
        self._all: PacketIndex | None = None

    @classmethod
    def open(cls, probe: Probe) -> SegmentIndex:
        if not isinstance(probe.input, SegmentInput):
            raise Unsuitable("not a source read by its segments")
        return cls.build(probe, probe.input.segments, on_first=True)

    @classmethod
    def build(cls, probe: Probe, segments: Segments, scan: bool = False, on_first: bool = False) -> SegmentIndex:
        """The index, its first frame and VideoInfo: the first segment's head, and
        for HLS the last one's (EXTINF durations are rounded; its timestamps are
        not). `scan`: every segment is read now (index="scan"). `on_first`: the
        probe's container is open on the first segment (the source is read by its
        segments), and the first frame is decoded there, as a container table's
        is, not in a second container opened on the same bytes."""
        kind, note = ("scan", "asked") if scan else (segments.kind, segments.note)
        index = cls(probe, segments, kind)
        name = segments.name
        opened = contextlib.nullcontext(probe.container) if on_first else contextlib.closing(segments.container(0, 0))
        with opened as c:
            stream = c.streams[index.stream_index]
            first, key = first_frame(c, stream, name)
            if key.pts is None:
                raise ResourceContentBad(f"{name}: the first keyframe has no presentation time")
            index.start_pts = int(stream.start_time if stream.start_time is not None else key.pts)
            facts = frame_facts(c, stream, first)
            fps = float(stream.average_rate) if stream.average_rate else 0.0
        index.first_key = key
        index._timeline(int(key.pts))
        end = index.segs[-1].end - index.segs[-1].start + index.est[-1]
        if segments.index.kind == "hls" and len(index.segs) > 1:
            last = len(index.segs) - 1
            end = index.video_time(index.first_pts(last), index.segs[last].discontinuity) + index.segs[last].duration
        if scan:
            index._all = index.walk()
        facts["header_duration"] = segments.index.duration or None
        fps_: Any = fps or Deferred(lambda: index.packets(_no_borrow).count / end if end else 0.0)
        count: Any = Deferred(lambda: index.packets(_no_borrow).count)
        index.info = VideoInfo(
            duration=end,
            fps=fps_,
            frame_count=index._all.count if index._all is not None else count,
            start_time=index.start_pts * index._tb,
            keyframe_times=index.keyframe_times() if scan else Deferred(index.keyframe_times),  # type: ignore[arg-type]
            index=kind,
            index_note=note,
            **facts,
        )
        return index

    # -- the timeline ---------------------------------------------------------------------

    def _timeline(self, first_pts: int) -> None:
        """Each segment's start by the index, on the video's timeline: a
        discontinuity's segments continue from where the one before ended."""
        segs = self.segs
        origin = (first_pts - self.start_pts) * self._tb
        base, est = origin - segs[0].start, list[float]()
        for k, seg in enumerate(segs):
            if k and seg.discontinuity != segs[k - 1].discontinuity:
                base = est[-1] + segs[k - 1].duration - seg.start
            est.append(base + seg.start)
        self.est = est

    def video_time(self, pts: int, discontinuity: int) -> float:
        """Seconds on the video's timeline of a timestamp of `discontinuity`."""
        return (pts + self.shift(discontinuity) - self.start_pts) * self._tb

    def shift(self, discontinuity: int) -> int:
        """Ticks that move `discontinuity`'s timestamps onto the video's timeline
        (read from the head of its first segment, once)."""
        with self._lock:
            if discontinuity in self._shifts:
                return self._shifts[discontinuity]
        k = next(i for i, s in enumerate(self.segs) if s.discontinuity == discontinuity)
        value = self.start_pts + round(self.est[k] / self._tb) - self.first_pts(k)
        with self._lock:
            self._shifts[discontinuity] = value
        return value

    def first_pts(self, k: int) -> int:
        """The first video timestamp in segment `k` (its own, not shifted)."""
        with contextlib.closing(self.source.container(k, k, light=True)) as c:
            stream = c.streams[self.stream_index]
            try:
                for p in c.demux(stream):
                    stamp = p.pts if p.pts is not None else p.dts
                    if p.size and stamp is not None:
                        return int(stamp)
            except av.error.FFmpegError as exc:
                raise map_av_error(exc, None, f"{self.source.name} (segment {k})") from exc
        raise ResourceContentBad(f"{self.source.name}: segment {k} holds no video packet")

    def locate(self, t: float) -> int:
        """The segment whose start by the index is the last at or before `t`."""
        return max(0, bisect.bisect_right(self.est, t + EPSILON) - 1)

    def weight(self, k: int) -> int:
        r = self.segs[k].byte_range
        return r.length if r is not None else max(1, round(self.segs[k].duration * 1000))

    # -- planning -------------------------------------------------------------------------

    def plan(self, times: Sequence[tuple[int, float]], options: FrameOptions, borrow: Borrow) -> list[Unit]:
        """One unit a segment holding requested times."""
        units: dict[int, Unit] = {}
        for pos, t in times:
            k = self.locate(t)
            units.setdefault(k, Unit(self, [], k, self.weight(k))).requests.append((pos, t))
        return [units[k] for k in sorted(units)]

    def keyframe_groups(self, times: Sequence[float]) -> tuple[list[list[int]], list[int]]:
        groups: dict[int, list[int]] = {}
        for i, t in enumerate(times):
            groups.setdefault(self.locate(t), []).append(i)
        order = sorted(groups)
        return [groups[k] for k in order], [self.weight(k) for k in order]

    # -- reading --------------------------------------------------------------------------

    def read(self, unit: Unit, options: FrameOptions, borrow: Borrow) -> Region:
        times = [t for _, t in unit.requests]
        wide = options.frame_type == "intra" or options.tolerance > 0
        return self._region(unit.key, min(times), max(times), options.snap, wide)

    def _region(self, k: int, lo: float, hi: float, snap: str, wide: bool) -> Region:
        """The packets from the keyframe shown at or before `lo` to where the frame
        for `hi` is known (`wide`: and the first keyframe after it), read from
        segment `k` on: one segment earlier while the keyframe is not in it, one
        more while the answer is not."""
        lo_p = self.start_pts + lo / self._tb
        stop = _stop(self.start_pts + hi / self._tb, EPSILON / self._tb, snap, wide)
        # A file laid out in place ends with the segments asked for: on a seekable
        # file, FFmpeg's mov demuxer reads every moof it can reach before the first packet.
        first, last = k, min(len(self.segs) - 1, self.locate(hi) + (0 if self.source.fill else 1))
        while True:
            packets, done = self._demux(first, last, stop())
            key = next((i for i, p in enumerate(packets) if p.is_keyframe), None)
            if first > 0 and (key is None or _pts(packets[key]) > lo_p + EPSILON / self._tb):
                first -= 1  # the keyframe shown before `lo` is in an earlier segment
                continue
            if not done and last < len(self.segs) - 1:
                last = min(len(self.segs) - 1, last + 2)
                continue
            break
        rows = Rows()
        kept = [p for p in packets[key or 0 :] if rows.add(p)]
        if not kept:
            raise ResourceContentBad(f"{self.source.name}: segment {k} holds no video packet")
        return Region(rows.index(self.time_base, self.start_pts), kept, int(sum(p.size for p in kept)))

    def _demux(self, first: int, last: int, stop: Callable[[av.Packet], bool]) -> tuple[list[av.Packet], bool]:
        """Packets of segments `first`..`last` in decode order, on the video's
        timeline, until `stop` says (then True); one container a discontinuity."""
        out: list[av.Packet] = []
        for a, b in self._runs(first, last):
            shift = self.shift(self.segs[a].discontinuity)
            with contextlib.closing(self._packets(a, b)) as packets:
                for p in packets:
                    if shift:
                        p.pts = p.pts + shift if p.pts is not None else None
                        p.dts = p.dts + shift if p.dts is not None else None
                    out.append(p)
                    if stop(p):
                        return out, True
        return out, False

    def _runs(self, first: int, last: int) -> Iterator[tuple[int, int]]:
        a = first
        for k in range(first, last + 1):
            if k == last or self.segs[k + 1].discontinuity != self.segs[a].discontinuity:
                yield a, k
                a = k + 1

    def _packets(self, a: int, b: int) -> Generator[av.Packet, None, None]:
        with contextlib.closing(self.source.container(a, b, light=True)) as c:
            stream = c.streams[self.stream_index]
            try:
                for p in c.demux(stream):
                    if p.size:
                        yield p
            except av.error.FFmpegError as exc:
                raise map_av_error(exc, None, f"{self.source.name} (segments {a}-{b})") from exc

    def frame_times(self, start: float, end: float, borrow: Borrow) -> list[float]:
        return shown_times(self._region(self.locate(start), start, end, "displayed", False).index, start, end)

    # -- every packet ---------------------------------------------------------------------

    def walk(self) -> PacketIndex:
        """Every packet of every segment, on the video's timeline."""
        rows = Rows()
        for p in self._demux(0, len(self.segs) - 1, lambda p: False)[0]:
            rows.add(p)
        return rows.index(self.time_base, self.start_pts)

    def packets(self, borrow: Borrow) -> PacketIndex:
        with self._lock:
            have = self._all
        if have is None:
            have = self.walk()
            with self._lock:
                self._all = self._all or have
        return have

    def keyframe_times(self) -> list[float]:
        idx = self.packets(_no_borrow)
        keys = idx.pts[idx.key & idx.shown]
        return sorted(float(x) for x in np.asarray(idx.seconds(keys)))


def _no_borrow() -> contextlib.AbstractContextManager:
    raise AssertionError("a segment index reads through its own containers")


def _how(index: StreamIndex) -> str:
    names = {"hls": "HLS playlist", "dash": "DASH manifest"}
    return f"{names.get(index.kind, index.kind)}: segments from its {index.how}"


def _pts(packet: av.Packet) -> int:
    return int(packet.pts if packet.pts is not None else packet.dts or 0)


def _stop(hi: float, eps: float, snap: str, wide: bool) -> Callable[[], Callable[[av.Packet], bool]]:
    """A rule, made afresh for each read, saying when the packets read answer `hi`:
    "displayed" once a packet decodes after it (no later one is shown before),
    "next" once one decodes after the first frame at or after it; `wide` also
    waits for a keyframe shown after it (the nearest keyframe may be that one)."""

    def make() -> Callable[[av.Packet], bool]:
        found = [math.inf]
        keyed = [not wide]

        def stop(p: av.Packet) -> bool:
            if p.is_keyframe and p.pts is not None and p.pts > hi + eps:
                keyed[0] = True
            if snap == "displayed":
                answered = p.dts is not None and p.dts > hi + eps
            else:
                answered = p.dts is not None and p.dts > found[0]
                if not p.is_discard and p.pts is not None and p.pts >= hi - eps:
                    found[0] = min(found[0], p.pts)
            return answered and keyed[0]

        return stop

    return make
