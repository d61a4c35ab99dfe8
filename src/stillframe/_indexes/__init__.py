"""How the frames of a video stream are found: one interface, one class a kind of
index.

    FrameIndex        the interface: open (or refuse, saying why), plan requested
                      times into units of work, read a unit's packets, group times
                      by keyframe, list frame times, give every packet
    SampleTableIndex  MP4/MOV sample tables (tables.py)
    CueIndex          Matroska/WebM cues (tables.py)
    ScanIndex         every packet demuxed once (scan.py): any container, and
                      what the others hand over (a tolerance, dense requests)

A video opens with the first index in INDEXES that accepts its container and
does not refuse it; failing that, with a scan (its note says why). A new kind of
index (a playlist, a manifest, fragments walked by their headers) is a class here
and an entry in INDEXES; nothing above this package changes.

Reading runs on a decoder's own container (`Reader`, which GroupDecoder is), lent
by the decoder pool through `borrow()`, so units are read in parallel.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import av

from stillframe._index import PacketIndex
from stillframe._source import Input
from stillframe.info import VideoInfo
from stillframe.options import FrameOptions
from stillframe.plan import Group, Pick

__all__ = ["Borrow", "FrameIndex", "Probe", "Reader", "Region", "Unit", "Unsuitable", "open_index"]


class Reader(Protocol):
    """What reading needs of a decoder: its own open container and stream, and
    a check that raises SnapshotTimeOut past the run's deadline."""

    container: av.container.InputContainer
    stream: av.video.stream.VideoStream

    def check_deadline(self) -> None: ...


Borrow = Callable[[], contextlib.AbstractContextManager[Reader]]


@dataclass
class Probe:
    """The opened video an index is built from: the source, the container the
    Video keeps (its first decoder's) and the chosen stream."""

    input: Input
    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    ranges: Any = None  # the range reader its checks share (segments.probe_reader), made on first use


class Unsuitable(Exception):
    """This index cannot serve this video; the message says why (VideoInfo.index_note)."""


@dataclass
class Unit:
    """Requests answered from one read: (position in the caller's times, seconds).

    `index` reads it; `key` is that index's own start (a sample-table entry, a
    scan's keyframe); `estimate` weighs it against others (bytes to read, frames to
    decode). A scan chooses the frames (`picks`, in one `group`) when it plans; a
    region index chooses them once the region is read."""

    index: FrameIndex
    requests: list[tuple[int, float]] = field(default_factory=list)
    key: int = 0
    estimate: int = 0
    picks: list[Pick] | None = None
    group: Group | None = None


@dataclass
class Region:
    """What a unit's reading gave: the packets' index in decode order and, when
    they were read for the unit, the packets themselves (a decoder then decodes
    them as they are; None: it seeks its own container). `bytes` were read."""

    index: PacketIndex
    packets: list[av.Packet] | None = None
    bytes: int = 0


class FrameIndex(ABC):
    """One way of finding a stream's frames. Made by `open` (or refused with
    Unsuitable) on the Video's first container; then used from many threads at
    once: planning is pure, reading happens on the borrowed decoder's container."""

    # VideoInfo.index and Stats.index: "container" (the file's own index) or "scan".
    kind: ClassVar[str]
    info: VideoInfo
    first_key: av.Packet  # the first keyframe's packet: a device decoder is proven on it
    # Where more decoders open their containers, when not on the source as FFmpeg
    # reads it (an index that reads segments opens them on its cached first one).
    decoder_input: Input | None = None

    @classmethod
    def accepts(cls, container: av.container.InputContainer) -> bool:
        """Whether this kind of index can exist in `container` (by its format)."""
        return False

    @classmethod
    @abstractmethod
    def open(cls, probe: Probe) -> FrameIndex:
        """Read what the index needs and what VideoInfo says; raise Unsuitable, with
        the container where it was found, when the file cannot be served this way."""

    @abstractmethod
    def plan(self, times: Sequence[tuple[int, float]], options: FrameOptions, borrow: Borrow) -> list[Unit]:
        """Units for (position, seconds) requests, in time order; every position in
        exactly one unit. Units may come from another index (a scan) when that
        serves the request better."""

    @abstractmethod
    def read(self, unit: Unit, options: FrameOptions, borrow: Borrow) -> Region:
        """The packets `unit` needs, read on a borrowed decoder when there is
        reading to do. Raises ResourceContentBad when the data is not what the
        index says."""

    @abstractmethod
    def keyframe_groups(self, times: Sequence[float]) -> tuple[list[list[int]], list[int]]:
        """Positions in `times` grouped by the keyframe decoding starts from, in time
        order, and each group's weight (bytes, or a count of times)."""

    @abstractmethod
    def frame_times(self, start: float, end: float, borrow: Borrow) -> list[float]:
        """The exact times (seconds) of the frames shown from `start` to `end`."""

    @abstractmethod
    def packets(self, borrow: Borrow) -> PacketIndex:
        """Every packet of the stream (a scan, made once, when the index has none)."""


def indexes() -> tuple[type[FrameIndex], ...]:
    """The container indexes a video may open with, in the order they are tried."""
    from stillframe._indexes.tables import CueIndex, SampleTableIndex

    return (SampleTableIndex, CueIndex)


def open_index(probe: Probe, mode: str) -> FrameIndex:
    """The index for `probe`'s video: `mode` "auto" tries each container index that
    accepts the format, "scan" goes straight to a scan. The scan's note says why."""
    from stillframe._indexes.scan import ScanIndex

    segments = getattr(probe.input, "segments", None)
    if segments is not None:  # a SegmentInput (a playlist, a manifest...): its segments, whatever the mode
        from stillframe._indexes.segments import SegmentIndex

        return SegmentIndex.build(probe, segments, scan=mode == "scan", on_first=True)
    note = "asked"
    if mode == "auto":
        kinds = [cls for cls in indexes() if cls.accepts(probe.container)]
        note = f"{probe.container.format.name} carries no index of its own"
        for cls in kinds:
            try:
                return cls.open(probe)
            except Unsuitable as why:
                note = str(why)
                break  # the container was read as this kind: the scan starts from where it was left
        if {"mov", "matroska"} & set(probe.container.format.name.split(",")):
            from stillframe._indexes.segments import segment_index

            found = segment_index(probe, note)  # a fragmented MP4, or Matroska without cues
            if found is not None:
                return found
    return ScanIndex.open(probe, note)
