"""snapshot(): plan the times, stream the frames, hand them to the writers (single
snapshots, sprite sheets, a WebVTT track, a storyboard, a cover: see outputs), with
the provenance of every frame."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Union

from stillframe import _overwrite, _source
from stillframe._workers import Stats
from stillframe.covers import SEARCH_SECONDS, BlackTest
from stillframe.errors import InvalidParameter, SnapshotTimeOut
from stillframe.frame import Frame
from stillframe.info import rounded, rounded_repr
from stillframe.outputs import Batch, Finished, Ledger, Writer, output_names, plan_writers
from stillframe.plan import Pick
from stillframe.sampling import Dots, Sampling, Schedule, sampling_from_dict
from stillframe.sprites import Sprite, parse_color
from stillframe.video import Video, VideoInfo

__all__ = ["Snapshot", "SnapshotResult", "output_names", "snapshot"]

SamplingLike = Union[Sampling, Mapping[str, Any], Sequence[float], float, None]
_BATCH = 16


@dataclass(frozen=True, repr=False)
class Snapshot:
    """Where one output came from. `file` is empty when single pictures were not
    kept (a sprite with keep_cell_pic=False)."""

    index: int  # 1-based, the {Count} of its file
    requested_time: float
    time: float
    pts: int
    is_keyframe: bool
    rule: str
    decoder: str
    file: str
    fallback: str | None = None  # why the CPU decoded it when a device was asked for

    __repr__ = rounded_repr

    @classmethod
    def of(cls, frame: Frame, index: int, file: str) -> Snapshot:
        return cls(
            index,
            frame.requested_time,
            frame.time,
            frame.pts,
            frame.is_keyframe,
            frame.rule,
            frame.decoder,
            file,
            frame.fallback,
        )


@dataclass
class SnapshotResult:
    files: list[str]
    frames: list[Snapshot]
    requested: int  # how many the sampling asked for on this video: count + dropped
    dropped: int  # asked for but past the end of the video
    reason: str  # why they were dropped
    info: VideoInfo
    stats: Stats = field(default_factory=Stats)  # Video.stats of the run; `seconds` the whole run
    sprites: list[str] = field(default_factory=list)
    webvtt: str | None = None
    storyboard: str | None = None
    cover: str | None = None
    cover_index: int | None = None  # 1-based snapshot chosen as the cover
    replaced: list[dict[str, Any]] = field(default_factory=list)  # black snapshots swapped out
    decoding: dict[str, Any] = field(default_factory=dict)  # Video.decoding: device, decoder, fallback
    writes: dict[str, Any] = field(default_factory=dict)  # Ledger.report: files, objects, bytes, retries
    stale: list[str] = field(default_factory=list)  # earlier files the output names match, left as they were
    removed: list[str] = field(default_factory=list)  # earlier files removed (clean=True)

    @property
    def count(self) -> int:
        return len(self.frames)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON; times to the microsecond (no float noise)."""
        out = asdict(self)
        out["count"] = self.count
        return rounded(out)


def as_sampling(sampling: SamplingLike) -> Sampling:
    if sampling is None:
        return Dots([0.0])
    if isinstance(sampling, Mapping):
        return sampling_from_dict(sampling)
    if isinstance(sampling, (int, float)):
        return Dots([float(sampling)])
    if isinstance(sampling, Sequence) and not isinstance(sampling, str):
        return Dots(list(sampling))
    if hasattr(sampling, "resolve"):
        return sampling  # type: ignore[return-value]
    raise InvalidParameter(f"cannot use a {type(sampling).__name__} as a sampling")


def _one_snapshot(plan: Sampling) -> bool:
    """Whether `plan` asks for a single snapshot, whatever the video's length."""
    if isinstance(plan, Dots):
        return len(plan.times) == 1
    return getattr(plan, "count", None) == 1


def _avoid_black(video: Video, times: list[float], test: BlackTest, options: dict[str, Any]) -> dict[str, Any] | None:
    """MPS: a black first snapshot becomes the first non-black frame of the next
    5 s (or stays, when there is none). Returns what was done, or None."""
    t0 = times[0]
    first = video.frames_at([t0], **options)[0]
    if not test(first.planes()):
        return None
    frame_times = video.frame_times(first.time, first.time + SEARCH_SECONDS)
    window = [t for t in frame_times if first.time < t < video.info.duration]
    for k in range(0, len(window), 30):
        chunk = window[k : k + 30]
        for frame in video.frames_at(chunk, **{**options, "snap": "displayed"}):
            if not test(frame.planes()):
                times[0] = frame.time
                return {"index": 1, "requested_time": t0, "black_time": first.time, "time": frame.time}
    return {
        "index": 1,
        "requested_time": t0,
        "black_time": first.time,
        "time": first.time,
        "kept": "no non-black frame within 5 s",
    }


def _schedule(plan: Sampling, info: VideoInfo) -> tuple[Schedule, int, str]:
    """The times to take, and how many asked for cannot be taken and why. A file
    cut off short of its header's length says so, also for an interval with no count."""
    schedule = plan.resolve(info.duration)
    reason, dropped = schedule.reason, schedule.dropped
    header = info.header_duration
    if info.truncated and header is not None:
        lost = max(dropped, len(plan.resolve(header).times) - len(schedule.times))
        if lost:
            cut = f"the file's data ends at {info.duration:.3f} s but its header says {header:.3f} s (cut off)"
            reason = f"{reason}; {cut}" if reason else f"{lost} snapshot(s) past where {cut}"
            dropped = lost
    if not schedule.times:
        raise InvalidParameter(f"no snapshot can be taken: {reason}")
    return schedule, dropped, reason


def finish_run(
    video: Video,
    snapshots: list[Snapshot],
    schedule: Schedule,
    dropped: int,
    reason: str,
    replaced: list[dict[str, Any]],
    writers: list[Writer],
    ledger: Ledger,
    redecode: Callable[[float], bytes],
    decoding: dict[str, Any] | None = None,
) -> SnapshotResult:
    """The result of a run whose frames are all in, once every writer has finished
    and the ledger has committed (the last uploads are in; what the run replaced
    is let go)."""
    result = SnapshotResult(
        files=[s.file for s in snapshots if s.file],
        frames=snapshots,
        requested=len(schedule.times) + dropped,
        dropped=dropped,
        reason=reason,
        info=video.info,
        replaced=replaced,
        decoding=decoding or video.decoding.to_dict(),
    )
    run = Finished(result, snapshots, video.info.duration, ledger, redecode)
    for writer in writers:
        writer.finish(run)
    ledger.commit()
    result.writes = ledger.report()
    return result


def _base_url(vtt_base_url: str | None, base_url: str | None) -> str | None:
    if vtt_base_url is not None and base_url is not None and vtt_base_url != base_url:
        raise InvalidParameter("vtt_base_url and base_url are one option: give one")
    return vtt_base_url if vtt_base_url is not None else base_url


def _stream(
    video: Video,
    times: list[float],
    writers: list[Writer],
    ledger: Ledger,
    files: Callable[[int], str],
    *,
    quality: int,
    options: dict[str, Any],
    deadline: float | None,
    timeout: float | None,
    ordered: bool,
    progress: Callable[[int, int], None] | None,
) -> list[Snapshot]:
    """Frames in batches to every writer; each frame's provenance, in request order."""
    n = len(times)
    records: list[Snapshot | None] = [None] * n
    pending: list[tuple[Pick, Frame]] = []
    done = 0

    def flush() -> None:
        nonlocal done
        if deadline is not None and time.monotonic() > deadline:
            raise SnapshotTimeOut(f"the snapshot took longer than {timeout} s")
        batch = Batch([p.request for p, _ in pending], [f for _, f in pending], quality)
        for writer in writers:
            writer.take(batch, ledger)
        for pick, frame in pending:
            records[pick.request] = Snapshot.of(frame, pick.request + 1, files(pick.request))
        done += len(pending)
        pending.clear()
        if progress is not None:
            progress(done, n)

    for pair in video._stream_frames(times, **options, deadline=deadline, ordered=ordered, pairs=True):
        pending.append(pair)
        if len(pending) >= _BATCH:
            flush()
    if pending:
        flush()
    return [r for r in records if r is not None]


def snapshot(
    source: _source.Source,
    sampling: SamplingLike = None,
    output: str | os.PathLike[str] = "out/{Count}.jpg",
    *,
    frame_type: str = "normal",
    snap: str = "displayed",
    tolerance: float = 0.0,
    width: int | None = None,
    height: int | None = None,
    max_length: int | None = None,
    aspect_ratio: str = "keep",
    quality: int = 85,
    sprite: Sprite | None = None,
    sprite_output: str | os.PathLike[str] | None = None,
    webvtt: str | os.PathLike[str] | None = None,
    storyboard: str | os.PathLike[str] | None = None,
    vtt_base_url: str | None = None,
    base_url: str | None = None,
    black_level: int | None = None,
    pixel_black_threshold: int | None = None,
    cover: str | os.PathLike[str] | None = None,
    cover_position: int | str | None = None,
    overwrite: bool = False,
    clean: bool = False,
    stream: int | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    device: str | None = None,
    fallback: bool = False,
    index: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> SnapshotResult:
    """Write snapshots of `source` at the times `sampling` gives (an Interval, Dots,
    Quantity, a service's dict, a list of seconds, or None for one at 0 s). A bare
    number is one time: `snapshot(v, 5, ...)` is one snapshot at 5 s (one every 5 s
    is `Interval(5)`).

    Times past the end are left out and the result says how many and why. Every
    file is written to a temporary name and renamed into place; every destination is
    checked before the first frame is decoded, and a run that fails or is
    interrupted removes what it wrote and puts back what it replaced. Outputs may
    be object-store URLs (s3://, oss://, anything fsspec writes; `storage_options`
    go to fsspec), each object put as soon as it is complete. `timeout` (seconds)
    raises SnapshotTimeOut. See Video.frames_at for the frame options.

    `sprite` adds sprite sheets (`sprite_output`, default `sprite-{TileCount}.jpg`
    beside the snapshots); `webvtt` writes a thumbnail track (cues into the sheets
    when there are sheets, else to the single files, by URLs relative to the track
    or under `vtt_base_url`, also called `base_url`);
    `storyboard` writes the sheets' JSON. `black_level` / `pixel_black_threshold`
    (MPS) replace a black first snapshot when sampling starts at 0 or takes one
    snapshot. `cover` is a path for the cover: snapshot `cover_position` (1-based,
    default 1) or, with `cover_position="auto"`, the most representative non-black
    one; `cover="auto"`, or a `cover_position` alone, writes cover.jpg beside the
    snapshots (`cover="auto"` picks the representative one unless a position is given).
    A file that exists stops the run before the first frame is decoded
    (OutputExists) unless `overwrite=True`; `result.stale` lists the files the
    output names ({Count}, {TileCount}) match that the run did not write (an earlier
    run's), and `clean=True` removes them once the run has finished
    (`result.removed`).
    `device`/`fallback` choose the decoder (see Video); `result.decoding` and each
    snapshot's `decoder`/`fallback` say what ran. `index="scan"` demuxes every
    packet first instead of reading the container's own index (see Video);
    `result.stats["index"]` says which way the frames were found.
    """
    if not 1 <= int(quality) <= 100:
        raise InvalidParameter(f"quality must be in 1..100, not {quality}")
    if storyboard is not None and sprite is None:
        raise InvalidParameter("a storyboard describes sprite sheets: give sprite= too")
    base_url = _base_url(vtt_base_url, base_url)
    auto_beside = cover is not None and os.fspath(cover) == "auto"
    if auto_beside:
        cover, cover_position = None, "auto" if cover_position is None else cover_position
    if cover_position is not None and cover_position != "auto":
        if not isinstance(cover_position, int) or cover_position < 1:
            raise InvalidParameter(f"cover_position must be a 1-based index or 'auto', not {cover_position!r}")
    if cover is not None and cover_position is None:
        cover_position = 1
    black = (
        BlackTest(black_level, pixel_black_threshold) if (black_level or pixel_black_threshold is not None) else None
    )
    if sprite is not None:
        parse_color(sprite.color)
    plan = as_sampling(sampling)
    started = time.monotonic()
    deadline = started + timeout if timeout else None
    options: dict[str, Any] = dict(frame_type=frame_type, snap=snap, tolerance=tolerance, width=width, height=height,
                   max_length=max_length, aspect_ratio=aspect_ratio)  # fmt: skip
    if workers is None and _one_snapshot(plan) and black is None:
        workers = 1  # one decoder for one frame: frame threads on every core

    ledger = Ledger(storage_options)
    try:
        with Video(
            source, stream, workers=workers, timeout=timeout, device=device, fallback=fallback, index=index
        ) as video:
            schedule, dropped, reason = _schedule(plan, video.info)
            times = list(schedule.times)
            names = output_names(output, len(times))
            if cover_position is not None and cover is None:
                cover = os.path.join(os.path.dirname(names[0]) or ".", "cover.jpg")
            geo = video.geometry(width, height, max_length, aspect_ratio)
            keep_singles = sprite is None or sprite.keep_cell_pic
            writers = plan_writers(names, (geo.width, geo.height), keep_singles=keep_singles, sprite=sprite,
                                   sprite_output=sprite_output, webvtt=webvtt, storyboard=storyboard,
                                   base_url=base_url, cover=cover, cover_position=cover_position, black=black)  # fmt: skip
            paths = [path for writer in writers for path in writer.destinations()]
            _overwrite.refuse_existing(paths, overwrite)
            ledger.check(paths, overwrite)

            replaced = []
            if black is not None and (len(times) == 1 or times[0] == 0.0):
                swap = _avoid_black(video, times, black, options)
                if swap is not None:
                    replaced.append(swap)

            snapshots = _stream(video, times, writers, ledger, (lambda r: names[r]) if keep_singles else (lambda r: ""),
                                quality=quality, options=options, deadline=deadline, timeout=timeout,
                                ordered=sprite is not None, progress=progress)  # fmt: skip
            result = finish_run(video, snapshots, schedule, dropped, reason, replaced, writers, ledger,
                                redecode=lambda t: video.frames_at([t], **options)[0].to_jpeg(quality))  # fmt: skip
            result.stats = replace(video.stats, seconds=round(time.monotonic() - started, 4))
    except BaseException:
        ledger.rollback()
        raise
    if overwrite or clean:  # after the run, so a failed one leaves every earlier file
        _overwrite.settle(result, output, sprite_output, sprite is not None, ledger.written, clean)
    return result
