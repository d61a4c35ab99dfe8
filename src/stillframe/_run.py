"""One snapshot run, whichever way its frames are decoded (here, sf.snapshot; or on
many workers, snapshot_split): the schedule, the names, the writers and the ledger,
made and checked before the first frame is decoded; frames fed in batches; the
result once every writer has finished and the ledger has committed.

    plan = RunPlan(video, sampling, output, outputs, frame_options, storage_options=...)
    plan.check()                  # every destination, before any decoding (existing files refused
                                  # unless overwrite; what a killed run kept aside put back)
    plan.avoid_black(video)       # MPS: a black first snapshot swapped for the next frame that is not
    plan.feed(video.stream(plan.times, ...))    # or plan.add(...) batch by batch
    result = plan.finish(video)   # the writers finish, the ledger commits, an earlier
                                  # run's files are named or cleaned; plan.rollback() on failure

Nothing here holds the schedule: names and times are worked out when read, so a run
holds what it has written (its records), not what it was asked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from stillframe import _overwrite
from stillframe.covers import SEARCH_SECONDS, BlackTest
from stillframe.errors import InternalError, InvalidParameter, SnapshotTimeOut
from stillframe.frame import Frame
from stillframe.info import VideoInfo
from stillframe.options import FrameOptions
from stillframe.outputs import Batch, Finished, Ledger, Writer, names_for, plan_writers
from stillframe.records import Provenance, Snapshot, SnapshotResult
from stillframe.sampling import Dots, Sampling, Schedule
from stillframe.sprites import Sprite, parse_color
from stillframe.video import Video

__all__ = ["BATCH", "Outputs", "RunPlan", "resolve"]

# Frames handed to the writers at once (their JPEGs are encoded in one native batch).
BATCH = 16


@dataclass(frozen=True)
class Outputs:
    """What a run writes besides the single snapshots, and how (sf.snapshot's
    output options: see there). Checked when made. `vtt_base_url` and `base_url`
    are one option (two spellings); `base_url` holds it once made."""

    quality: int = 85
    sprite: Sprite | None = None
    sprite_output: str | os.PathLike[str] | None = None
    webvtt: str | os.PathLike[str] | None = None
    storyboard: str | os.PathLike[str] | None = None
    base_url: str | None = None
    black_level: int | None = None
    pixel_black_threshold: int | None = None
    cover: str | os.PathLike[str] | None = None
    cover_position: int | str | None = None
    vtt_base_url: str | None = None
    overwrite: bool = False
    clean: bool = False

    def __post_init__(self) -> None:
        if not 1 <= int(self.quality) <= 100:
            raise InvalidParameter(f"quality must be in 1..100, not {self.quality}")
        if self.storyboard is not None and self.sprite is None:
            raise InvalidParameter("a storyboard describes sprite sheets: give sprite= too")
        vtt, base = self.vtt_base_url, self.base_url
        if vtt is not None and base is not None and vtt != base:
            raise InvalidParameter("vtt_base_url and base_url are one option: give one")
        object.__setattr__(self, "base_url", vtt if vtt is not None else base)
        object.__setattr__(self, "vtt_base_url", None)
        cover, position = self.cover, self.cover_position
        if cover is not None and os.fspath(cover) == "auto":  # cover.jpg beside the snapshots
            cover, position = None, "auto" if position is None else position
        if position is not None and position != "auto":
            if not isinstance(position, int) or position < 1:
                raise InvalidParameter(f"cover_position must be a 1-based index or 'auto', not {position!r}")
        if cover is not None and position is None:
            position = 1
        object.__setattr__(self, "cover", cover)
        object.__setattr__(self, "cover_position", position)
        if self.sprite is not None:
            parse_color(self.sprite.color)
        self.black  # noqa: B018 (checks the black test's ranges)

    @property
    def black(self) -> BlackTest | None:
        """The black-frame test asked for, if any."""
        if self.black_level or self.pixel_black_threshold is not None:
            return BlackTest(self.black_level, self.pixel_black_threshold)
        return None


def resolve(sampling: Sampling, info: VideoInfo) -> tuple[Schedule, int, str]:
    """The times to take, and how many asked for cannot be taken and why. A file
    cut off short of its header's length says so, also for an interval with no count."""
    schedule = sampling.resolve(info.duration)
    reason, dropped = schedule.reason, schedule.dropped
    header = info.header_duration
    if info.truncated and header is not None:
        lost = max(dropped, len(sampling.resolve(header).times) - len(schedule.times))
        if lost:
            cut = f"the file's data ends at {info.duration:.3f} s but its header says {header:.3f} s (cut off)"
            reason = f"{reason}; {cut}" if reason else f"{lost} snapshot(s) past where {cut}"
            dropped = lost
    # A still image opened as a video: say so (frame_count may need a scan: only
    # looked at when the whole video is under a second).
    if dropped and info.duration < 1.0 and info.frame_count == 1:
        reason = f"{reason}; the input is a single picture, its one frame at {info.start_time:.3f} s"
    if not schedule.times:
        raise InvalidParameter(f"no snapshot can be taken: {reason}")
    return schedule, dropped, reason


class RunPlan:
    """A run's schedule, names, writers and ledger on one open video (the one that
    plans; frames may be decoded elsewhere), and the records of what was written."""

    def __init__(
        self,
        video: Video,
        sampling: Sampling,
        output: str | os.PathLike[str],
        outputs: Outputs,
        options: FrameOptions,
        *,
        deadline: float | None = None,
        timeout: float | None = None,
        progress: Callable[[int, int], None] | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.info = video.info
        self.output = output
        self.outputs, self.options = outputs, options
        self.deadline, self.timeout, self.progress = deadline, timeout, progress
        self.schedule, self.dropped, self.reason = resolve(sampling, video.info)
        self.names = names_for(output, len(self.schedule.times))
        cover = outputs.cover
        if outputs.cover_position is not None and cover is None:  # a position alone: cover.jpg beside them
            cover = os.path.join(os.path.dirname(self.names[0]) or ".", "cover.jpg")
        o = options
        geo = video.geometry(o.width, o.height, o.max_length, o.aspect_ratio)
        self.keep_singles = outputs.sprite is None or outputs.sprite.keep_cell_pic
        self.writers: list[Writer] = plan_writers(
            self.names,
            (geo.width, geo.height),
            keep_singles=self.keep_singles,
            sprite=outputs.sprite,
            sprite_output=outputs.sprite_output,
            webvtt=outputs.webvtt,
            storyboard=outputs.storyboard,
            base_url=outputs.base_url,
            cover=cover,
            cover_position=outputs.cover_position,
            black=outputs.black,
        )
        self.ledger = Ledger(storage_options)
        self.replaced: list[dict[str, Any]] = []
        self.records: list[Snapshot] = []
        self.in_order = True  # records arrived in request order

    @property
    def times(self) -> Sequence[float]:
        """The times to take, in snapshot order (worked out when read)."""
        return self.schedule.times

    @property
    def ordered(self) -> bool:
        """Whether frames should come in time order (sheets fill page by page)."""
        return self.outputs.sprite is not None

    def destinations(self) -> list[Sequence[str]]:
        """Every writer's destinations (names worked out when read stay so)."""
        return [writer.destinations() for writer in self.writers]

    def check(self) -> None:
        """Before any frame is decoded, where the files are written: unless
        `overwrite`, no destination holds a file already (OutputExists); then every
        one can be written, and what an earlier run killed outright kept aside is
        put back (see Ledger.check)."""
        overwrite = self.outputs.overwrite
        destinations = self.destinations()
        for paths in destinations:
            _overwrite.refuse_existing(paths, overwrite)
        for paths in destinations:
            self.ledger.check(paths, overwrite)

    def avoid_black(self, video: Video) -> None:
        """MPS: a black first snapshot becomes the first non-black frame of the next
        5 s (or stays, when there is none), when sampling starts at 0 or takes one."""
        test = self.outputs.black
        times = self.times
        if test is None or not (len(times) == 1 or times[0] == 0.0):
            return
        t0 = times[0]
        first = _one(video, t0, self.options)
        if not test(first.planes()):
            return
        frame_times = video.frame_times(first.time, first.time + SEARCH_SECONDS)
        window = [t for t in frame_times if first.time < t < video.info.duration]
        shown = replace(self.options, snap="displayed")
        swap = {"index": 1, "requested_time": t0, "black_time": first.time}
        for k in range(0, len(window), 30):
            for _, frame in video.stream(window[k : k + 30], shown):
                if not test(frame.planes()):
                    self.schedule = self.schedule.with_first(frame.time)
                    self.replaced.append({**swap, "time": frame.time})
                    return
        self.replaced.append({**swap, "time": first.time, "kept": "no non-black frame within 5 s"})

    # -- frames in -------------------------------------------------------------------------

    def feed(self, pairs: Iterable[tuple[int, Provenance]]) -> None:
        """(position, frame) pairs to every writer, BATCH at a time."""
        pending: list[tuple[int, Provenance]] = []
        for pair in pairs:
            pending.append(pair)
            if len(pending) >= BATCH:
                self.add([r for r, _ in pending], [f for _, f in pending])
                pending.clear()
        if pending:
            self.add([r for r, _ in pending], [f for _, f in pending])

    def add(self, requests: list[int], frames: Sequence[Provenance], jpegs: Sequence[bytes] | None = None) -> None:
        """One batch to every writer (`jpegs`: made elsewhere from these frames'
        planes at this run's quality, used as they are), and its records."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SnapshotTimeOut(f"the snapshot took longer than {self.timeout} s")
        batch = Batch(requests, frames, self.outputs.quality)  # type: ignore[arg-type]  # anything with planes()
        if jpegs is not None:
            batch.use_jpegs(jpegs)
        for writer in self.writers:
            writer.take(batch, self.ledger)
        for request, frame in zip(requests, frames):
            if self.records and request < self.records[-1].index - 1:
                self.in_order = False
            self.records.append(Snapshot.of(frame, request + 1, self.names[request] if self.keep_singles else ""))
        if self.progress is not None:
            self.progress(len(self.records), len(self.times))

    # -- the end ---------------------------------------------------------------------------

    def finish(self, video: Video, decoding: dict[str, Any] | None = None) -> SnapshotResult:
        """The result, once every writer has finished and the ledger has committed
        (the last uploads are in; what the run replaced is let go); then, with
        overwrite or clean, an earlier run's files beside the new ones are named
        (`stale`) or removed (`removed`). `decoding`: what decoded, when not `video`."""
        if not self.in_order:
            self.records.sort(key=lambda s: s.index)
        snapshots = self.records
        result = SnapshotResult(
            files=[s.file for s in snapshots if s.file],
            frames=snapshots,
            requested=len(self.times) + self.dropped,
            dropped=self.dropped,
            reason=self.reason,
            info=video.info,
            replaced=self.replaced,
            decoding=decoding or video.decoding.to_dict(),
        )
        quality = self.outputs.quality

        def redecode(t: float) -> bytes:
            return _one(video, t, self.options).to_jpeg(quality)

        run = Finished(result, snapshots, video.info.duration, self.ledger, redecode)
        for writer in self.writers:
            writer.finish(run)
        self.ledger.commit()
        result.writes = self.ledger.report()
        o = self.outputs
        if o.overwrite or o.clean:  # once committed: a failed run leaves every earlier file
            _overwrite.settle(result, self.output, o.sprite_output, o.sprite is not None, self.ledger.written, o.clean)
        return result

    def rollback(self) -> None:
        """Remove what the run put and put back what it replaced (a failed or
        interrupted run; nothing once committed)."""
        self.ledger.rollback()


def _one(video: Video, t: float, options: FrameOptions) -> Frame:
    """The frame for one time."""
    for _, frame in video.stream([t], options):
        return frame
    raise InternalError(f"no frame came back for {t:.3f} s")  # stream answers every time it is given


def one_snapshot(sampling: Sampling) -> bool:
    """Whether `sampling` asks for a single snapshot, whatever the video's length."""
    if isinstance(sampling, Dots):
        return len(sampling.times) == 1
    return getattr(sampling, "count", None) == 1
