"""From requested times to frames: the times in bounded windows, each planned by
the index into units, the units read and decoded on the pool's decoders in
parallel, the frames yielded as they come. Nothing holds more than a window of
times, and the units in flight, whatever the count asked for."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from stillframe._cost import Job
from stillframe._decoders import DecoderPool
from stillframe._deinterlace import deinterlace, neighbours
from stillframe._gpu.picture import DevicePicture
from stillframe._indexes import FrameIndex, Unit
from stillframe.decode import GroupResult, missing_error
from stillframe.frame import Frame
from stillframe.geometry import OutputGeometry, display_size, plan_geometry, scale
from stillframe.info import VideoInfo
from stillframe.options import FrameOptions
from stillframe.plan import Group, Pick, group_targets, pick_frames
from stillframe.records import Stats

__all__ = ["WINDOW", "FrameRun", "Pictures", "windows"]

# Times planned at once. Requests in one window that share a GOP decode it once;
# a GOP cut by a window's edge is decoded by both sides (once a window at most).
WINDOW = 4096


def windows(
    times: Sequence[float], check: Callable[[Sequence[float]], list[float]], lazy: bool
) -> Iterator[list[tuple[int, float]]]:
    """(position, seconds) pairs, WINDOW at a time. A lazy schedule is read (and
    each window checked) as it is worked through; a list is checked whole first,
    so a bad time raises before any work, and a long one is taken in time order."""
    if lazy:
        it = iter(times)
        for start in itertools.count(0, WINDOW):
            chunk = list(itertools.islice(it, WINDOW))
            if not chunk:
                return
            yield list(zip(range(start, start + len(chunk)), check(chunk)))
        return
    checked = check(times)
    if len(checked) <= WINDOW:
        if checked:
            yield list(enumerate(checked))
        return
    order = np.argsort(np.asarray(checked, dtype=np.float64), kind="stable")
    for start in range(0, len(order), WINDOW):
        yield [(int(i), checked[i]) for i in order[start : start + WINDOW]]


class Pictures:
    """What a Frame holds, made from a decoded frame at the request's geometry: on
    the CPU, swscale's (the format kept when no scaling is needed, converted on
    first use); for frames kept on a device, an RGB picture made there. Each comes
    with its geometry: a frame of another stored size or sample aspect than the
    stream's (the picture changed mid-stream) is sized from its own display size.

    `raw`: frames are kept as decoded, with their sample aspect ratio, and made
    into pictures by `finish` once their neighbours are in (deinterlacing)."""

    def __init__(self, options: FrameOptions, info: VideoInfo, geometry: OutputGeometry, raw: bool = False) -> None:
        self.options = options
        self.geometry = geometry
        self.stored = (info.coded_width, info.coded_height)
        self.rotation = info.rotation
        self.raw = raw
        self.others: dict[tuple[int, int, Fraction | None], OutputGeometry] = {}

    def geometry_of(self, frame: av.VideoFrame, sar: Fraction | None) -> OutputGeometry:
        """The geometry for this frame: the request's, or one from the frame's own size."""
        if (frame.width, frame.height) == self.stored:
            return self.geometry
        key = (frame.width, frame.height, sar)
        geo = self.others.get(key)
        if geo is None:
            w, h = display_size(frame.width, frame.height, sar)
            if self.rotation % 180:
                w, h = h, w
            o = self.options
            geo = plan_geometry(
                w,
                h,
                self.rotation,
                width=o.width,
                height=o.height,
                max_length=o.max_length,
                aspect_ratio=o.aspect_ratio,
            )
            self.others[key] = geo
        return geo

    def __call__(self, frame: av.VideoFrame, sar: Fraction | None = None) -> Any:
        if self.raw:
            return frame, sar
        return self.convert(frame, sar)

    def convert(self, frame: av.VideoFrame, sar: Fraction | None) -> tuple[av.VideoFrame, OutputGeometry]:
        geo = self.geometry_of(frame, sar)
        return scale(frame, geo, keep_format=True), geo

    def on_device(self, frame: av.VideoFrame, sar: Fraction | None = None) -> tuple[DevicePicture, OutputGeometry]:
        from stillframe._gpu.pixels import picture

        geo = self.geometry_of(frame, sar)
        return picture(frame, geo), geo

    def finish(self, frames: dict[int, Any], d: int, around: tuple[int | None, int | None]) -> Any:
        """Frame `d` of a raw decode as a picture, deinterlaced with the neighbours
        (`around`: decode indices before and after it) that were decoded."""
        frame, sar = frames[d]
        before, after = (frames[x][0] if x is not None and x in frames else None for x in around)
        seq = [f for f in (before, frame, after) if f is not None]
        return self.convert(deinterlace(seq, 0 if before is None else 1), sar)


@dataclass
class Done:
    """One unit's answers (sorted by time) and what they cost."""

    answers: list[tuple[Pick, Frame]]
    stats: Stats
    read: bool  # a region was read for it


class FrameRun:
    """One request for frames on one video: the index plans, the pool decodes,
    frames come out with their provenance. Used from the thread that iterates."""

    def __init__(
        self,
        index: FrameIndex,
        decoders: DecoderPool,
        options: FrameOptions,
        geometry: OutputGeometry,
        deadline: float | None,
    ) -> None:
        self.index = index
        self.decoders = decoders
        self.options = options
        self.geometry = geometry
        self.deadline = deadline
        info = index.info
        # Neighbours are decoded for bwdif only where the stream says it is interlaced.
        self.deinterlacing = options.deinterlace == "auto" and info.interlaced
        self.pictures = Pictures(options, info, geometry, raw=self.deinterlacing)
        self.on_device = decoders.hw is not None  # until the request is known
        self.lanes = decoders.lanes

    def units(self, windows: Iterable[list[tuple[int, float]]], ordered: bool, stats: Stats) -> Iterator[Unit]:
        """Each window's units, planned when the fan-out reaches it. Unordered:
        the heaviest first, so no decoder is left with a long one at the end. The
        first window says what the request is: the pool prepares for it (CPU
        decoders and threads, `auto`'s choice of device)."""
        first = True
        for window in windows:
            units = self.index.plan(window, self.options, self.decoders.borrow)
            if not units:
                continue
            if first:
                first = False
                job = self.job(units)
                self.on_device = self.decoders.prepare(job)
                if self.deinterlacing and self.decoders.resident:
                    self.on_device = False  # bwdif runs on the CPU: frames kept on a device would come back anyway
                hw = self.decoders.hw
                # A device lane holds a decoder an engine; a request keeps as many busy as it has groups.
                self.lanes = min(hw.limit, job.groups) if self.on_device and hw else self.decoders.cpu.limit
            stats.index = units[0].index.kind
            if not ordered:
                units.sort(key=lambda u: u.estimate, reverse=True)
            yield from units

    def job(self, units: list[Unit]) -> Job:
        """What the request is, from its first window's units: groups and the frames
        each decodes (a scan's count them; a container index's are read off the bytes
        to read, at the file's mean bytes a frame)."""
        info = self.index.info
        intra = self.options.frame_type == "intra"
        counts: list[float] = []
        for u in units:
            if u.group is not None:
                counts.append(len(u.group.targets) if u.group.intra else u.estimate + 1)
            elif intra:
                counts.append(len({t for _, t in u.requests}) and 1)
            else:
                size = getattr(u.index, "size", 0)
                frames = info.duration * info.fps
                counts.append(u.estimate * frames / size if size and frames else len(u.requests))
        targets = sum(len(u.requests) for u in units)
        g = self.geometry
        return Job.of(counts, targets, info.coded_width * info.coded_height, g.width * g.height, intra)

    def work(self, unit: Unit) -> Done:
        """Read `unit` (on a borrowed decoder), choose its frames, decode them."""
        opts = self.options
        region = unit.index.read(unit, opts, self.decoders.borrow)
        stats = Stats()
        if region.packets is not None:
            stats.regions, stats.bytes_demuxed = 1, region.bytes
        idx = region.index
        if unit.picks is not None and unit.group is not None:
            picks, groups = unit.picks, [unit.group]
        else:
            chosen = pick_frames(
                idx, [t for _, t in unit.requests], frame_type=opts.frame_type, snap=opts.snap, tolerance=opts.tolerance
            )
            picks = [Pick(unit.requests[p.request][0], p.time, p.target, p.rule) for p in chosen]
            groups = group_targets(idx, picks)
        by_target: dict[int, list[Pick]] = {}
        for p in picks:
            by_target.setdefault(p.target, []).append(p)
        answers = []
        for group in groups:
            around: dict[int, tuple[int | None, int | None]] = {}
            if self.deinterlacing:
                group = Group(group.key, list(group.targets), group.intra)
                around = neighbours(idx, group)
            result = self.decoders.decode(group, self.pictures, idx, region.packets, self.deadline, self.on_device)
            stats.merge(result.stats)
            missing = [d for d in result.missing if d in by_target]  # a neighbour missing: bwdif does without
            if missing:
                raise missing_error(idx, missing)
            for d in group.targets:
                if d not in by_target:
                    continue
                picture = self.pictures.finish(result.frames, d, around[d]) if around else result.frames[d]
                for pick in by_target[d]:
                    answers.append((pick, self.frame(pick, result, picture, idx)))
        answers.sort(key=lambda pf: pf[0].time)
        return Done(answers, stats, region.packets is not None)

    def frame(self, pick: Pick, result: GroupResult, made: tuple[Any, OutputGeometry], idx) -> Frame:
        picture, geometry = made
        return Frame(
            requested_time=pick.time,
            time=float(idx.seconds(idx.pts[pick.target])),
            pts=int(idx.pts[pick.target]),
            is_keyframe=bool(idx.key[pick.target]),
            rule=pick.rule,
            decoder=result.decoder,
            fallback=result.fallback or self.decoders.decoding.fallback,
            _picture=picture,
            _geometry=geometry,
        )
