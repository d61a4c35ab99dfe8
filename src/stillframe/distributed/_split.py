"""One long video over many workers: planned once here, decoded in keyframe-aligned
parts on the workers, written here by the normal writers (sheets, a VTT track,
a cover), so the sprites of one long video use the whole cluster.

Every frame is still chosen by the packet index of the worker's own open video, so
where the parts are cut changes the cost, never the frames: each part starts on
the keyframe its first time decodes from, and no GOP is decoded by two parts.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from stillframe import _overwrite
from stillframe.covers import BlackTest
from stillframe.distributed._batch import check_options, open_source
from stillframe.distributed._runners import Progress, runner_for
from stillframe.errors import InternalError, InvalidParameter, SnapshotTimeOut, StillframeError
from stillframe.jpeg import YUV420Planes, encode_jpegs
from stillframe.outputs import Batch, Ledger, output_names, plan_writers
from stillframe.plan import EPSILON
from stillframe.snapshot import (
    SamplingLike,
    Snapshot,
    SnapshotResult,
    _avoid_black,
    _base_url,
    _schedule,
    as_sampling,
    finish_run,
)
from stillframe.video import Video

__all__ = ["Part", "PartFrame", "balance", "decode_part", "keyframe_groups", "snapshot_split"]

FRAME_OPTIONS = ("frame_type", "snap", "tolerance", "width", "height", "max_length", "aspect_ratio")
VIDEO_OPTIONS = ("stream", "workers", "timeout", "device", "fallback", "index")
_BATCH = 16  # frames handed to the writers at once, as sf.snapshot does


@dataclass
class PartFrame:
    """A frame as it comes back from a worker: its provenance (Frame's fields), its
    planes at the output size, and its JPEG when single files are kept."""

    requested_time: float
    time: float
    pts: int
    is_keyframe: bool
    rule: str
    decoder: str
    fallback: str | None
    picture: YUV420Planes
    jpeg: bytes | None = None

    def planes(self) -> YUV420Planes:
        return self.picture


@dataclass
class Part:
    frames: list[PartFrame]  # in the order of the part's times
    stats: dict[str, Any] = field(default_factory=dict)
    decoding: dict[str, Any] = field(default_factory=dict)


def keyframe_groups(video: Video, times: Sequence[float]) -> tuple[list[list[int]], list[int]]:
    """Positions in `times` grouped by the keyframe decoding starts from, in time
    order, and each group's weight (bytes to read where the container's index says,
    else its count of times)."""
    if not times:
        return [], []
    reader = video._reader
    if reader is not None:
        units = reader.plan(times)
        return [[i for i, _ in u.requests] for u in units], [max(1, u.estimate) for u in units]
    keys = video.info.keyframe_times  # a scanned video has them already
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(times):
        groups.setdefault(max(0, bisect.bisect_right(keys, t + EPSILON) - 1), []).append(i)
    order = sorted(groups)
    return [groups[k] for k in order], [len(groups[k]) for k in order]


def balance(groups: Sequence[Sequence[int]], weights: Sequence[int], parts: int) -> list[list[int]]:
    """Consecutive groups into at most `parts` parts of about equal weight; a group is
    never cut."""
    total = float(sum(weights))
    out: list[list[int]] = []
    current: list[int] = []
    done = 0.0
    for k, (group, weight) in enumerate(zip(groups, weights)):
        current.extend(group)
        done += weight
        # Close the part once it reaches its share, keeping a group for each part left.
        if len(out) < parts - 1 and done >= total * (len(out) + 1) / parts and k < len(groups) - 1:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def decode_part(
    source: str,
    times: Sequence[float],
    frame_options: Mapping[str, Any],
    video_options: Mapping[str, Any],
    quality: int,
    encode: bool,
    storage_options: Mapping[str, Any] | None = None,
) -> Part:
    """The frames of `times` from one worker's own open video, with their planes
    (and JPEGs when `encode`): the task of snapshot_split, plain and picklable."""
    try:
        with Video(open_source(source, storage_options), **video_options) as video:
            frames = video.frames_at(list(times), **frame_options)
            planes = [f.planes() for f in frames]
            jpegs: list[bytes | None] = list(encode_jpegs(planes, quality=quality)) if encode else [None] * len(planes)
            out = [
                PartFrame(f.requested_time, f.time, f.pts, f.is_keyframe, f.rule, f.decoder, f.fallback, p, j)
                for f, p, j in zip(frames, planes, jpegs)
            ]
            return Part(out, video.stats.to_dict(), video.decoding.to_dict())
    except StillframeError:
        raise
    except Exception as exc:
        raise InternalError(f"{source}: {type(exc).__name__}: {exc}") from exc


_COUNTED = ("frames_decoded", "packets_sent", "packets_skipped", "seeks", "decode_errors", "regions", "bytes_demuxed")


def snapshot_split(
    source: str | os.PathLike[str],
    sampling: SamplingLike = None,
    output: str | os.PathLike[str] = "out/{Count}.jpg",
    *,
    client: Any = None,
    parts: int | None = None,
    processes: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    **options: Any,
) -> SnapshotResult:
    """sf.snapshot of one video with its frames decoded on many workers: the times
    are planned here, cut into `parts` keyframe-aligned parts (default: one a worker
    thread or local process), decoded where they are sent, and the frames written here, in
    order, by the same writers as sf.snapshot (so sprite sheets, the VTT track and
    the cover are those of one process, byte for byte). The source must be readable
    both here and on the workers; outputs are written here (paths, or object-store
    URLs). Options are sf.snapshot's; `client`, `processes`, `storage_options` (the
    source's and the outputs') and `progress` as snapshot_many.
    """
    src = os.fspath(source)
    check_options(sampling, os.fspath(output), options)
    runner = runner_for(client, processes)
    if parts is None:
        parts = sum(client.nthreads().values()) if client is not None else getattr(runner, "processes", 1)
    if parts < 1:
        raise InvalidParameter(f"parts must be >= 1, not {parts}")
    opts = {k: options.pop(k) for k in list(options) if k in FRAME_OPTIONS}
    video_opts = {k: options.pop(k) for k in list(options) if k in VIDEO_OPTIONS}
    quality = int(options.pop("quality", 85))
    sprite = options.pop("sprite", None)
    black_level, threshold = options.pop("black_level", None), options.pop("pixel_black_threshold", None)
    cover, cover_position = options.pop("cover", None), options.pop("cover_position", None)
    overwrite, clean = bool(options.pop("overwrite", False)), bool(options.pop("clean", False))
    if cover is not None and os.fspath(cover) == "auto":
        cover, cover_position = None, "auto" if cover_position is None else cover_position
    if cover is not None and cover_position is None:
        cover_position = 1
    black = BlackTest(black_level, threshold) if (black_level or threshold is not None) else None
    plan = as_sampling(sampling)
    started = time.monotonic()
    timeout = video_opts.get("timeout")
    deadline = started + timeout if timeout else None
    # Here the video is only planned (and a black first frame looked past): no device.
    here = {k: v for k, v in video_opts.items() if k in ("stream", "timeout", "index")}

    ledger = Ledger(storage_options)
    try:
        with Video(open_source(src, storage_options), workers=1, **here) as video:
            schedule, dropped, reason = _schedule(plan, video.info)
            times = list(schedule.times)
            names = output_names(output, len(times))
            if cover_position is not None and cover is None:
                cover = os.path.join(os.path.dirname(names[0]) or ".", "cover.jpg")
            geo = video.geometry(opts.get("width"), opts.get("height"), opts.get("max_length"),
                                 opts.get("aspect_ratio", "keep"))  # fmt: skip
            keep_singles = sprite is None or sprite.keep_cell_pic
            writers = plan_writers(names, (geo.width, geo.height), keep_singles=keep_singles, sprite=sprite,
                                   sprite_output=options.get("sprite_output"), webvtt=options.get("webvtt"),
                                   storyboard=options.get("storyboard"),
                                   base_url=_base_url(options.get("vtt_base_url"), options.get("base_url")),
                                   cover=cover, cover_position=cover_position, black=black)  # fmt: skip
            paths = [p for writer in writers for p in writer.destinations()]
            _overwrite.refuse_existing(paths, overwrite)
            ledger.check(paths, overwrite)  # written here, checked here

            replaced = []
            if black is not None and (len(times) == 1 or times[0] == 0.0):
                swap = _avoid_black(video, times, black, opts)
                if swap is not None:
                    replaced.append(swap)

            groups, weights = keyframe_groups(video, times)
            chunks = balance(groups, weights, parts)
            args = [(src, [times[i] for i in c], opts, video_opts, quality, keep_singles, storage_options)
                    for c in chunks]  # fmt: skip
            records: list[Snapshot | None] = [None] * len(times)
            stats = dict.fromkeys(_COUNTED, 0)
            decoding: dict[str, Any] = {}
            held: dict[int, Part] = {}
            fed = 0
            bar = Progress(len(times), "frame", progress)
            try:
                for k, value in runner.map_unordered(decode_part, args):
                    if isinstance(value, BaseException):
                        raise value if isinstance(value, StillframeError) else InternalError(f"{src}: {value}")
                    if deadline is not None and time.monotonic() > deadline:
                        raise SnapshotTimeOut(f"the snapshot took longer than {timeout} s")
                    held[k] = value
                    # In time order, so sheets fill page by page as in one process.
                    while fed in held:
                        part = held.pop(fed)
                        _feed(chunks[fed], part, writers, ledger, records, names if keep_singles else None, quality)
                        for name in _COUNTED:
                            stats[name] += int(part.stats.get(name, 0))
                        decoding = decoding or part.decoding
                        bar.update(len(part.frames))
                        fed += 1
            finally:
                bar.close()
            snapshots = [r for r in records if r is not None]
            result = finish_run(video, snapshots, schedule, dropped, reason, replaced, writers, ledger,
                                redecode=lambda t: video.frames_at([t], **opts)[0].to_jpeg(quality),
                                decoding=decoding)  # fmt: skip
            result.stats = replace(video.stats, seconds=round(time.monotonic() - started, 4), workers=len(chunks))
            for name in _COUNTED:
                setattr(result.stats, name, getattr(result.stats, name) + stats[name])
    except BaseException:
        ledger.rollback()
        raise
    if overwrite or clean:
        _overwrite.settle(result, output, options.get("sprite_output"), sprite is not None, ledger.written, clean)
    return result


def _feed(
    chunk: Sequence[int],
    part: Part,
    writers: list[Any],
    ledger: Ledger,
    records: list[Snapshot | None],
    names: list[str] | None,
    quality: int,
) -> None:
    """One part's frames to every writer, in batches as sf.snapshot streams them;
    JPEGs made on the workers are used as they are (the encoder gives the same
    bytes for the same planes anywhere)."""
    for start in range(0, len(chunk), _BATCH):
        requests = list(chunk[start : start + _BATCH])
        frames = part.frames[start : start + _BATCH]
        batch = Batch(requests, frames, quality)  # type: ignore[arg-type]  # PartFrame stands in for Frame
        jpegs = [f.jpeg for f in frames if f.jpeg is not None]
        if len(jpegs) == len(frames):
            batch.use_jpegs(jpegs)
        for writer in writers:
            writer.take(batch, ledger)
        for request, frame in zip(requests, frames):
            records[request] = Snapshot.of(frame, request + 1, names[request] if names else "")  # type: ignore[arg-type]
