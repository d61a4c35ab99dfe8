"""snapshot(): plan the times, stream the frames, hand them to the writers (single
snapshots, sprite sheets, a WebVTT track, a storyboard, a cover: see outputs), with
the provenance of every frame."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Union

from stillframe import _source
from stillframe._run import Outputs, RunPlan, one_snapshot
from stillframe.errors import InvalidParameter
from stillframe.options import FrameKeywords, FrameOptions, VideoOptions
from stillframe.outputs import output_names
from stillframe.records import Snapshot, SnapshotResult
from stillframe.sampling import Dots, Sampling, sampling_from_dict
from stillframe.sprites import Sprite
from stillframe.video import Video

__all__ = ["Snapshot", "SnapshotOptions", "SnapshotResult", "as_sampling", "output_names", "snapshot"]

SamplingLike = Union[Sampling, Mapping[str, Any], Sequence[float], float, None]


def as_sampling(sampling: SamplingLike) -> Sampling:
    """`sampling` as a Sampling: None is one snapshot at 0 s, a number or a list are
    times in seconds, a dict is one of the services' (see sampling_from_dict)."""
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


class SnapshotOptions(VideoOptions, FrameKeywords, total=False):
    """sf.snapshot's keyword options, as snapshot_many, snapshot_split and the Ray
    stage pass them on (their own `progress` and `storage_options` apart): a type
    checker sees a misspelt or mistyped option there as it does on sf.snapshot."""

    quality: int
    sprite: Sprite | None
    sprite_output: str | os.PathLike[str] | None
    webvtt: str | os.PathLike[str] | None
    storyboard: str | os.PathLike[str] | None
    vtt_base_url: str | None
    base_url: str | None
    black_level: int | None
    pixel_black_threshold: int | None
    cover: str | os.PathLike[str] | None
    cover_position: int | str | None
    overwrite: bool
    clean: bool


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
    deinterlace: bool | str = False,
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
    variant: str | int | None = None,
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
    `result.stats["index"]` says which way the frames were found. `variant`
    chooses the rendition of an HLS master playlist or a DASH manifest (see Video).

    (Long for its options alone: what runs is one RunPlan, as in snapshot_split.)
    """
    frame = FrameOptions(frame_type, snap, tolerance, width, height, max_length, aspect_ratio, deinterlace)
    outputs = Outputs(
        quality,
        sprite,
        sprite_output,
        webvtt,
        storyboard,
        base_url,
        black_level,
        pixel_black_threshold,
        cover,
        cover_position,
        vtt_base_url,
        overwrite,
        clean,
    )
    plan = as_sampling(sampling)
    started = time.monotonic()
    deadline = started + timeout if timeout else None
    if workers is None and one_snapshot(plan) and outputs.black is None:
        workers = 1  # one decoder for one frame: frame threads on every core

    run: RunPlan | None = None
    try:
        with Video(
            source,
            stream,
            workers=workers,
            timeout=timeout,
            device=device,
            fallback=fallback,
            index=index,
            variant=variant,
        ) as video:
            run = RunPlan(
                video,
                plan,
                output,
                outputs,
                frame,
                deadline=deadline,
                timeout=timeout,
                progress=progress,
                storage_options=storage_options,
            )
            run.check()
            run.avoid_black(video)
            run.feed(video.stream(run.times, frame, ordered=run.ordered, deadline=deadline))
            result = run.finish(video)
            result.stats = replace(video.stats, seconds=round(time.monotonic() - started, 4))
            return result
    except BaseException:
        if run is not None:
            run.rollback()
        raise
