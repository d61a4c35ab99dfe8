"""Regions: the packets that requested times need, found through the container's
sample table instead of a scan of the whole file.

A region starts at a keyframe and is read in decode order only as far as the
answers need. Every packet of a stream has dts <= pts, so once a packet with
dts > t is read, no later packet can be shown at or before t: "displayed" reading
stops there. "next" stops once a packet's dts passes the first frame found at or
after t. A region whose first keyframe is shown after a requested time (the time
lies in the previous GOP, or on a leading picture of an open GOP that needs the
previous GOP's references) takes in the previous GOP too. The packets read are
kept and handed to the decoder, so no byte is read twice.

This relies on one property every codec's GOP structure has: the frames of a GOP
(in decode order, leading pictures included) are all shown after those of the
GOP before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

import av
import numpy as np

from stillframe._index import PacketIndex, Rows, decode_time, jump
from stillframe._table import ContainerIndex
from stillframe.errors import ResourceContentBad
from stillframe.plan import EPSILON

# Packets at the end read to find where the last frame stops: the last frame shown
# is among the last 17 in decode order (H.264/HEVC reorder at most 16).
TAIL = 17


class RegionError(ResourceContentBad):
    """The demuxer did not land where the table said (the index does not match the
    data); in the error tree, so that none escapes as a bare exception."""


@dataclass
class Span:
    """Requests answered from one region: (position in the caller's list, seconds)."""

    key: int  # table entry of the keyframe the region starts at
    requests: list[tuple[int, float]] = field(default_factory=list)
    estimate: int = 0  # bytes the region is expected to read


@dataclass
class Region:
    packets: list[av.Packet]  # decode order; position = decode index in `index`
    index: PacketIndex

    @property
    def bytes(self) -> int:
        return int(self.index.size.sum())


class RegionReader:
    """Plans and reads regions of one stream; the reading runs on whichever open
    container (each decoder has its own) the caller passes."""

    def __init__(self, table: ContainerIndex, time_base: Fraction, start_pts: int, key_shift: int = 0) -> None:
        self.table = table
        # Seeks land by presentation time: an MP4 keyframe's is its dts plus this
        # (pts - dts of the first keyframe); cues give presentation times already.
        self.key_shift = 0 if table.by_pts else key_shift
        self.time_base = time_base
        self.start_pts = start_pts
        self._tb = float(time_base)
        self._eps = EPSILON / self._tb

    def pts(self, seconds: float) -> float:
        return self.start_pts + seconds / self._tb

    def plan(self, times: Sequence[float]) -> list[Span]:
        """One unit per starting keyframe, in time order."""
        units: dict[int, Span] = {}
        for i, t in enumerate(times):
            k = self.table.key_at_or_before(math.floor(self.pts(t) + self._eps))
            units.setdefault(k, Span(k)).requests.append((i, t))
        out = [units[k] for k in sorted(units)]
        for u in out:
            u.estimate = self.table.bytes_to(u.key, math.floor(self.pts(max(t for _, t in u.requests)) + self._eps))
        return out

    def stamp(self, packet: av.Packet) -> int | None:
        """The packet's time in the index's terms."""
        return packet.pts if self.table.by_pts else packet.dts

    # -- reading -------------------------------------------------------------------------

    def _read(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        key: int,
        stop: Callable[[av.Packet], bool],
        check: Callable[[], None],
    ) -> list[av.Packet]:
        """Packets from table entry `key` (a keyframe) until `stop` says so, or the end.

        FFmpeg's MP4 seek compares presentation times, so the keyframe's dts plus the
        composition offset lands on it; where offsets vary, its dts lands on it or
        before (the packets before are passed over)."""
        want = self.table.ts(key)
        for target in dict.fromkeys((want + self.key_shift, want)):
            out = self._read_from(container, stream, target, want, stop, check)
            if out is not None:
                return out
        raise RegionError(f"no seek landed on the keyframe at dts {want}")

    def _read_from(self, container, stream, target: int, want: int, stop, check) -> list[av.Packet] | None:
        container.seek(target, stream=stream, backward=True, any_frame=False)
        out: list[av.Packet] = []
        for packet in container.demux(stream):
            check()
            if packet.size == 0:
                break  # end of the stream
            if not out:
                stamp = self.stamp(packet)
                if stamp is None:
                    raise RegionError("a packet without a timestamp")
                if stamp > want:
                    return None  # landed past it
                if stamp < want or not packet.is_keyframe:
                    continue
                stop(packet)  # seen by the rule, but the keyframe always belongs
            elif stop(packet):
                break
            out.append(packet)
        return out or None

    def _extend_back(self, container, stream, key: int, packets: list[av.Packet], check) -> tuple[int, list[av.Packet]]:
        prev = self.table.previous_key(key)
        if prev is None:
            return key, packets
        until = self.table.ts(key)

        def stop(p: av.Packet) -> bool:
            stamp = self.stamp(p)
            return p.is_keyframe and stamp is not None and stamp >= until

        return prev, self._read(container, stream, prev, stop, check) + packets

    def read(self, container, stream, unit: Span, snap: str, check: Callable[[], None]) -> Region:
        """The region that answers `unit`'s times exactly by the `snap` rule."""
        ts = [self.pts(t) for _, t in unit.requests]
        lo, hi = min(ts), max(ts)
        if snap == "displayed":
            bound = hi + self._eps

            def stop(p: av.Packet) -> bool:
                dts = decode_time(p)
                return dts is not None and dts > bound
        else:
            found = [math.inf]  # the first frame at or after the latest time, once read

            def stop(p: av.Packet) -> bool:
                dts = decode_time(p)
                if dts is not None and dts > found[0]:
                    return True
                if not p.is_discard and p.pts is not None and p.pts >= hi - self._eps:
                    found[0] = min(found[0], p.pts)
                return False

        key = unit.key
        packets = self._read(container, stream, key, stop, check)
        while lo < _pts(packets[0]) - self._eps:
            before = key
            key, packets = self._extend_back(container, stream, key, packets, check)
            if key == before:
                break
        return self._region(packets)

    def read_keys(self, container, stream, unit: Span, check: Callable[[], None]) -> Region:
        """For intra requests: the keyframes that can be nearest to the unit's times:
        its own, the next, and earlier ones while they are shown after a time."""
        lo = min(self.pts(t) for _, t in unit.requests)

        def one(k: int) -> av.Packet:
            return self.key_packet(container, stream, k, check)

        chosen = {unit.key: one(unit.key)}
        k = unit.key
        while _pts(chosen[k]) > lo:
            prev = self.table.previous_key(k)
            if prev is None:
                break
            k = prev
            chosen[k] = one(k)
        nxt = self.table.next_key(unit.key)
        if nxt is not None:
            chosen[nxt] = one(nxt)
        return self._region([chosen[k] for k in sorted(chosen)])

    def key_packet(self, container, stream, key: int, check: Callable[[], None] = lambda: None) -> av.Packet:
        """The packet of keyframe entry `key` alone."""
        return self._read(container, stream, key, lambda p: True, check)[0]

    def _region(self, packets: list[av.Packet]) -> Region:
        rows = Rows()
        kept = [p for p in packets if rows.add(p)]
        return Region(kept, rows.index(self.time_base, self.start_pts))

    def tail(self, container, stream, entries: int = TAIL) -> tuple[PacketIndex, bool]:
        """The packets at the end: the last `entries` samples of a sample table
        (more than any reorder window), or everything from the last cue. Returns
        their index and whether every packet the index promises was there."""
        if self.table.count is not None:
            first = max(0, self.table.count - entries)
            want = self.table.ts(first)
            container.seek(want, stream=stream, backward=True, any_frame=True)
            expected: int | None = self.table.count - first
        else:
            want = self.table.ts(self.table.size - 1)
            container.seek(want, stream=stream, backward=True)
            expected = None
        rows = Rows()
        for packet in container.demux(stream):
            if packet.size == 0:
                break
            stamp = self.stamp(packet)
            if rows.pts or (stamp is not None and stamp >= want):
                rows.add(packet)
        got = len(rows.pts)
        index = rows.index(self.time_base, self.start_pts)
        if got:
            # The tail starts at the index's entry `want`: a packet far past where this
            # many frames could reach from there is damage (a wild timestamp), not the end.
            stamps = index.pts if self.table.by_pts else index.dts
            steps = np.diff(index.dts)
            step = int(np.median(steps[steps > 0])) if (steps > 0).any() else 0
            reach = jump(index.dts, self.time_base) + got * step
            index = replace(index, shown=index.shown & (np.abs(stamps - want) <= reach))
        return index, got > 0 and (expected is None or got == expected)


def _pts(packet: av.Packet) -> int:
    """A packet's presentation time (its decode time when it has none)."""
    return int(packet.pts if packet.pts is not None else packet.dts or 0)
