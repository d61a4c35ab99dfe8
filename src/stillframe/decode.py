"""Running a decode plan: seek to each group's keyframe, feed packets, skip the
non-reference frames that are not targets, and check every pts that comes out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import av
from av.video.codeccontext import VideoCodecContext

from stillframe._index import PacketIndex, decode_time
from stillframe._skipframe import skip_behaviour
from stillframe.devices import Backend
from stillframe.errors import ResourceContentBad, SnapshotTimeOut
from stillframe.plan import Group
from stillframe.records import Stats

# Packets fed past the last target before giving up on it: more than any decoder's
# reorder delay (H.264/HEVC allow 16).
_REORDER_SLACK = 32
_SEEK_TRIES = 3


@dataclass
class GroupResult:
    """What decoding one group gave: the targets' frames (by decode index), those
    that did not come out, and what it cost."""

    frames: dict[int, Any] = field(default_factory=dict)  # target decode index -> converted frame
    missing: list[int] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    decoder: str = ""  # the decoder that produced the frames
    fallback: str | None = None  # why they were not decoded on the device asked for


def configure(cc: VideoCodecContext, threads: int, backend: Backend | None = None) -> None:
    """Decoder threading: frame threads only when this decoder has cores to itself.
    A hardware decoder takes none: the device does the work, and frame threads
    would only add a reorder delay of a frame per thread."""
    if cc.is_open:
        return  # already decoding (the container that was probed): keep its setting
    if backend is not None:
        cc.thread_count = 1
        cc.thread_type = "SLICE"
    elif threads > 1:
        cc.thread_count = threads
        cc.thread_type = "AUTO"
    else:
        cc.thread_count = 1
        cc.thread_type = "SLICE"


def standalone_context(
    stream: av.video.stream.VideoStream, backend: Backend, resident: bool = False
) -> VideoCodecContext:
    """A decoder of `backend`'s own, fed the stream's packets by hand (a device
    decoder kept across Videos, or a dedicated one such as h264_qsv): it takes the
    stream's parameters as a demuxer gives them to its own. `resident`: frames stay
    on the device."""
    src = stream.codec_context
    hwaccel = backend.hwaccel(resident) if backend.kind != "cpu" else None
    cc = cast(VideoCodecContext, av.codec.CodecContext.create(backend.decoder, "r", hwaccel=hwaccel))
    if src.extradata:
        cc.extradata = src.extradata
    cc.width, cc.height = src.width, src.height
    if backend.method == "decoder" and src.format is not None:
        cc.pix_fmt = src.format.name
    # What the container says of colour, for a bitstream that does not (as its own decoder has it).
    for name in ("color_range", "colorspace", "color_primaries", "color_trc"):
        setattr(cc, name, getattr(src, name))
    configure(cc, 1, backend)
    return cc


class GroupDecoder:
    """Decodes groups on one open container, in software or on `backend`; `cc`, when
    given, is the codec context to decode with (fed this container's packets)."""

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        deadline: float | None = None,
        backend: Backend | None = None,
        cc: VideoCodecContext | None = None,
    ) -> None:
        self.container = container
        self.stream = stream
        self.cc: VideoCodecContext
        if cc is not None:
            self.cc = cc  # a context of its own, lent by the process's pool
        elif backend is not None and backend.method == "decoder":
            self.cc = standalone_context(stream, backend)
        else:
            self.cc = stream.codec_context
        self.label = backend.label if backend is not None else self.cc.name
        self.deadline = deadline
        # Whether this decoder may be told to skip frames packet by packet. One that
        # latches skip_frame when it opens (libdav1d) is only ever given DEFAULT, so
        # it can serve exact frames whatever it decoded first; one that ignores it
        # is not told at all.
        self.skip = skip_behaviour(self.cc.name)

    def check_deadline(self) -> None:
        """Raise SnapshotTimeOut once the run's deadline (time.monotonic()) has passed."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SnapshotTimeOut("the snapshot ran past its time limit")

    def _seek(self, pts: int, stats: Stats) -> None:
        self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        self.cc.flush_buffers()
        stats.seeks += 1

    def run(
        self,
        group: Group,
        convert: Callable[..., Any],
        idx: PacketIndex,
        packets: Sequence[av.Packet] | None = None,
    ) -> GroupResult:
        """Decode `group` of `idx`: from `packets` when the region was read already
        (decode index = position), else by seeking this decoder's container."""
        result = GroupResult(decoder=self.label)
        want = {int(idx.pts[d]): d for d in group.targets}
        key_pts = int(idx.pts[group.key])
        key_dts = int(idx.dts[group.key])
        last_dts = max(int(idx.dts[d]) for d in group.targets)
        if packets is not None:
            self.cc.flush_buffers()
            self._feed(group, want, key_pts, key_dts, last_dts, convert, result, packets[group.key :])
            result.missing = sorted(want.values())
            return result
        seek_pts = key_pts
        for attempt in range(_SEEK_TRIES + 1):
            self._seek(seek_pts if attempt < _SEEK_TRIES else idx.start_pts - 1, result.stats)
            if self._feed(group, want, key_pts, key_dts, last_dts, convert, result, self.container.demux(self.stream)):
                break
            # The demuxer landed after the keyframe: ask for an earlier point.
            seek_pts -= max(1, int(1 / float(idx.time_base)))
        result.missing = sorted(want.values())
        return result

    def _feed(
        self,
        group: Group,
        want: dict[int, int],
        key_pts: int,
        key_dts: int,
        last_dts: int,
        convert: Callable[..., Any],
        result: GroupResult,
        packets: Iterable[av.Packet],
    ) -> bool:
        """Feed `packets` (the demuxer's from the current position, or a region's);
        False if they start past the group's keyframe (nothing decoded then)."""
        cc = self.cc
        intra = group.intra
        skips = self.skip.per_packet
        # Only keyframes are fed to an intra group, so NONKEY is a saving only where
        # it is honoured packet by packet; never one a decoder could latch.
        cc.skip_frame = "NONKEY" if intra and self.skip.nonkey == "per_packet" else "DEFAULT"
        first = True
        past = 0
        for packet in packets:
            self.check_deadline()
            if packet.size == 0:
                break  # end of file: drain below
            pts = packet.pts if packet.pts is not None else packet.dts
            dts = decode_time(packet)
            if first:
                first = False
                if dts is not None and dts > key_dts and pts != key_pts:
                    return False  # the seek went past the keyframe: nothing sent yet
            if intra:
                if not packet.is_keyframe or pts != key_pts:
                    continue
            elif skips:
                cc.skip_frame = "DEFAULT" if pts in want else "NONREF"
            last = dts is not None and dts >= last_dts and pts in want
            self._decode(packet, want, convert, result)
            if not want:
                break
            if intra or last:
                # Every target is in the decoder now: drain it rather than feed more
                # packets, which could be reference frames decoded for nothing.
                break
            if dts is not None and dts > last_dts:
                past += 1
                if past > _REORDER_SLACK:
                    break
        if want:
            self._decode(None, want, convert, result)
            cc.flush_buffers()
        return True

    def _decode(
        self,
        packet: av.Packet | None,
        want: dict[int, int],
        convert: Callable[..., Any],
        result: GroupResult,
    ) -> None:
        stats = result.stats
        try:
            frames = self.cc.decode(packet)
        except av.error.FFmpegError:
            stats.decode_errors += 1
            return
        if packet is not None:
            stats.packets_sent += 1
            if not frames and self.cc.skip_frame != "DEFAULT":
                stats.packets_skipped += 1
        for frame in frames:
            stats.frames_decoded += 1
            d = want.pop(frame.pts, None) if frame.pts is not None else None
            if d is not None:
                # The decoder's aspect is the frame's own (a frame-threaded decoder's is
                # brought up to date as each frame comes out).
                result.frames[d] = convert(frame, self.cc.sample_aspect_ratio)


def missing_error(index: PacketIndex, missing: list[int]) -> ResourceContentBad:
    """The ResourceContentBad for targets that did not come out of the decoder, naming up to five of their times."""
    times = ", ".join(f"{index.seconds(index.pts[d]):.3f}" for d in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return ResourceContentBad(f"the frames at {times} s{more} could not be decoded (damaged or cut-off data)")
