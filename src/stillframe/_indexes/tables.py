"""The container's own index: MP4/MOV sample tables and Matroska/WebM cues. Opening
reads the header, the first frame and the packets at the end; a request reads only
the regions its times need (see _regions). What these tables cannot answer (a
tolerance, keyframes from cues, requests that would read most of the file) is
handed to a scan of every packet, made once, on first need."""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Sequence

import av

from stillframe._index import PacketIndex, build_index, time_base_of, video_stream
from stillframe._indexes import Borrow, FrameIndex, Probe, Region, Unit, Unsuitable
from stillframe._indexes.scan import ScanIndex, first_frame, shown_times
from stillframe._regions import RegionError, RegionReader, Span
from stillframe._source import av_words
from stillframe._table import CueTable, SampleTable
from stillframe.errors import ResourceContentBad
from stillframe.info import info_from_table
from stillframe.options import FrameOptions

__all__ = ["CueIndex", "RegionIndex", "SampleTableIndex"]

# A request whose regions would read more than this share of the file is served
# by one scan of every packet instead (sprites, one frame a second).
DENSE = 0.5


class RegionIndex(FrameIndex):
    """Regions read through a container table (the kinds below say which table
    and what it knows); a scan for what the table cannot answer."""

    kind = "container"
    TABLE: type[SampleTable] | type[CueTable]

    def __init__(self, probe: Probe, reader: RegionReader, first_key: av.Packet) -> None:
        self.input = probe.input
        self.stream_index = probe.stream.index
        self.reader = reader
        self.first_key = first_key
        self.size = probe.container.size or 0
        self._scan: ScanIndex | None = None
        self._scan_lock = threading.Lock()

    @classmethod
    def open(cls, probe: Probe) -> RegionIndex:
        table, note = cls.TABLE.check(probe.container, probe.stream)
        if table is None:
            raise Unsuitable(note)
        cls.refuse(probe)
        container, stream = probe.container, probe.stream
        try:
            return cls._from_table(probe, table)
        except Unsuitable:
            # The table disagreed with the data: back to the start for the scan.
            container.seek(table.ts(0), stream=stream, backward=True, any_frame=True)
            stream.codec_context.flush_buffers()
            raise

    @classmethod
    def refuse(cls, probe: Probe) -> None:
        """Raise Unsuitable when this source cannot be served this way."""

    @classmethod
    def _from_table(cls, probe: Probe, table: SampleTable | CueTable) -> RegionIndex:
        """Facts from the table, the first frame and the packets at the end; Unsuitable
        when the packets disagree with the table."""
        container, stream = probe.container, probe.stream
        first, key = first_frame(container, stream, probe.input.name)
        if key.pts is None:
            raise Unsuitable("the first keyframe has no presentation time")
        start = int(stream.start_time if stream.start_time is not None else key.pts)
        shift = int(key.pts) - int(key.dts) if key.dts is not None else 0
        reader = RegionReader(table, time_base_of(stream), start, shift)
        try:
            tail, complete = reader.tail(container, stream)
        except av.error.FFmpegError as exc:
            raise Unsuitable(f"the packets at the end cannot be read ({av_words(exc)})") from exc
        if not complete or tail.count == 0:
            raise Unsuitable("the packets at the end are not where the index says (the file may be cut off)")
        index = cls(probe, reader, key)
        count, keyframe_pts = index.deferred(probe)
        index.info = info_from_table(
            container, stream, first, count=count, start_pts=start, end_pts=tail.end_pts(), keyframe_pts=keyframe_pts
        )
        return index

    def deferred(self, probe: Probe) -> tuple[int | Callable[[], int], Callable[[], list[int]]]:
        """The frame count and every keyframe's pts, or how to work them out when read."""
        raise NotImplementedError

    # -- planning and reading ---------------------------------------------------------

    def serves(self, options: FrameOptions) -> bool:
        """Whether regions can answer requests with these options exactly."""
        if options.deinterlace == "auto" and self.info.interlaced:
            return False  # bwdif takes each frame's neighbours, which a region may stop short of
        return options.tolerance == 0  # a tolerance may pick a keyframe in another region

    def plan(self, times: Sequence[tuple[int, float]], options: FrameOptions, borrow: Borrow) -> list[Unit]:
        if not times:
            return []
        spans = self.reader.plan([t for _, t in times]) if self.serves(options) else None
        if spans is not None and self.size > 0 and sum(s.estimate for s in spans) > DENSE * self.size:
            spans = None  # most of the file: one scan costs less
        if spans is None:
            return self.scan(borrow).plan(times, options, borrow)
        return [Unit(self, [(times[i][0], t) for i, t in s.requests], s.key, s.estimate) for s in spans]

    def read(self, unit: Unit, options: FrameOptions, borrow: Borrow) -> Region:
        name = self.input.name
        span = Span(unit.key, unit.requests, unit.estimate)
        with borrow() as dec:
            try:
                if options.frame_type == "intra":
                    region = self.reader.read_keys(dec.container, dec.stream, span, dec.check_deadline)
                else:
                    region = self.reader.read(dec.container, dec.stream, span, options.snap, dec.check_deadline)
            except RegionError as exc:
                raise ResourceContentBad(f"{name}: the container's index does not match the data ({exc})") from exc
            except av.error.FFmpegError as exc:
                raise ResourceContentBad(f"{name}: the stream cannot be read ({av_words(exc)})") from exc
        return Region(region.index, region.packets, region.bytes)

    def keyframe_groups(self, times: Sequence[float]) -> tuple[list[list[int]], list[int]]:
        if not times:
            return [], []
        spans = self.reader.plan(times)
        return [[i for i, _ in s.requests] for s in spans], [max(1, s.estimate) for s in spans]

    def frame_times(self, start: float, end: float, borrow: Borrow) -> list[float]:
        with borrow() as dec:
            key = self.reader.table.key_at_or_before(math.floor(self.reader.pts(start)))
            span = Span(key, [(0, start), (1, end)])
            try:
                idx = self.reader.read(dec.container, dec.stream, span, "displayed", dec.check_deadline).index
            except RegionError as exc:
                raise ResourceContentBad(
                    f"{self.input.name}: the container's index does not match the data ({exc})"
                ) from exc
        return shown_times(idx, start, end)

    # -- the scan, for what the table cannot answer ------------------------------------

    def scan(self, borrow: Borrow) -> ScanIndex:
        """Every packet, demuxed once on a borrowed decoder, on first need."""
        with self._scan_lock:
            if self._scan is None:
                with borrow() as dec:
                    dec.container.seek(self.reader.table.ts(0), stream=dec.stream, backward=True, any_frame=True)
                    index = build_index(dec.container, dec.stream)
                self._scan = ScanIndex(index, self.info, self.first_key)
            return self._scan

    def packets(self, borrow: Borrow) -> PacketIndex:
        return self.scan(borrow).index

    def scan_copy(self) -> PacketIndex:
        """Every packet, on a container of its own (works after the video is closed)."""
        if self._scan is not None:
            return self._scan.index
        with self.input.opened() as container:
            return build_index(container, video_stream(container, self.stream_index))


class SampleTableIndex(RegionIndex):
    """MP4/MOV: every sample in the table (decode order, decode times, positions),
    so the frame count is known and keyframes are found without a scan."""

    TABLE = SampleTable

    @classmethod
    def accepts(cls, container: av.container.InputContainer) -> bool:
        return "mov" in container.format.name.split(",")

    def deferred(self, probe: Probe) -> tuple[int | Callable[[], int], Callable[[], list[int]]]:
        table = self.reader.table
        assert isinstance(table, SampleTable)
        count = table.size - table.hidden_at_start()
        if not self.input.reopenable:  # one file object: read them now, while it is ours
            known = keyframe_pts(probe.container, probe.stream, self.reader)
            return count, lambda: known
        return count, self.keyframe_pts

    def keyframe_pts(self) -> list[int]:
        """Every shown keyframe's pts, on a container of its own, so it works after
        the video is closed (sf.probe)."""
        with self.input.opened() as container:
            return keyframe_pts(container, video_stream(container, self.stream_index), self.reader)


class CueIndex(RegionIndex):
    """Matroska/WebM cues: some keyframes by presentation time, no frame count.
    The count, every keyframe, and keyframes-only requests need a scan."""

    TABLE = CueTable

    @classmethod
    def accepts(cls, container: av.container.InputContainer) -> bool:
        return "matroska" in container.format.name.split(",")

    @classmethod
    def refuse(cls, probe: Probe) -> None:
        from stillframe._indexes.segments import cue_check

        if not probe.input.reopenable:
            raise Unsuitable("a file object is read once, in full, for a Matroska frame count")
        why = cue_check(probe)  # without cues, FFmpeg takes the keyframes it saw while probing for them
        if why is not None:
            raise Unsuitable(why)

    def serves(self, options: FrameOptions) -> bool:
        # Cues need not name every keyframe: the nearest keyframe needs them all.
        return super().serves(options) and options.frame_type != "intra"

    def deferred(self, probe: Probe) -> tuple[int | Callable[[], int], Callable[[], list[int]]]:
        scan = functools.cache(self.scan_copy)
        return (lambda: scan().count), lambda: [int(p) for p in scan().pts[scan().key & scan().shown]]


def keyframe_pts(container, stream, reader: RegionReader) -> list[int]:
    """Every shown keyframe's pts: found through `stream`'s own sample table (read
    with `reader`'s timing), each read from its own packet (composition offsets vary
    with B-frames and VFR)."""
    table = SampleTable(stream)
    own = RegionReader(table, reader.time_base, reader.start_pts, reader.key_shift)
    hidden = table.hidden_at_start()
    return [int(own.key_packet(container, stream, k).pts or 0) for k in table.keys() if k >= hidden]
