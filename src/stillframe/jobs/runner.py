"""Running one snapshot job: open the input, call the engine, whose writers put
each output where the job says (a path, or an object store: each object as soon
as it is complete).

A job's files stay in its buckets: a local input is resolved and checked when it is
opened (jobs.confine), and every file the run writes, keeps aside or puts back is
checked against the output's root as it is done (stillframe._files.confined_to: a
folder for local outputs, a prefix for object-store ones)."""

from __future__ import annotations

import os
import posixpath
import threading
from dataclasses import dataclass
from typing import Any

from stillframe._files import check_inside, confined_to
from stillframe._source import RangeSource
from stillframe.errors import InvalidParameter
from stillframe.jobs.config import SnapshotConfig
from stillframe.jobs.confine import local_input
from stillframe.jobs.storage import REMOTE, Storage
from stillframe.records import SnapshotResult
from stillframe.sampling import Interval, Sampling, Schedule
from stillframe.snapshot import snapshot


class Abandoned(Exception):
    """The service is stopping: the job was given up between two batches of frames
    (what it wrote is rolled back, as for any failed run) to be run again elsewhere."""


@dataclass(frozen=True)
class CappedInterval(Interval):
    """An interval with no count, whose number of snapshots is known only with the
    video's length: resolve() refuses one over `limit`. The schedule is lazy (its
    times are worked out when read), so its length costs nothing and the refusal
    comes before the run checks a destination or writes a file."""

    limit: int = 0

    def resolve(self, duration: float) -> Schedule:
        """The schedule on a video of `duration` seconds; InvalidParameter when it
        holds more than `limit` snapshots."""
        schedule = super().resolve(duration)
        n = len(schedule.times)
        if n > self.limit:
            raise InvalidParameter(
                f"every {self.every:g} s over the video's {duration:.3f} s makes {n} snapshots; "
                f"a job may make at most {self.limit}"
            )
        return schedule


def capped(sampling: Sampling, limit: int | None) -> Sampling:
    """`sampling`, bounded by `limit` where its count waits on the video's length
    (a count known at submission is checked there: JobService)."""
    if limit is not None and isinstance(sampling, Interval) and sampling.count is None and sampling.every > 0:
        return CappedInterval(sampling.every, sampling.start, None, limit=limit)
    return sampling


def output_plan(cfg: SnapshotConfig, output: str) -> dict[str, Any]:
    """Where each kind of file goes for a job's output name (a path or a URL)."""
    if cfg.type == "WebVtt":
        stem = output[: -len(".vtt")]
        plan: dict[str, Any] = {"output": stem + "-{Count}.jpg", "webvtt": output}
        if cfg.is_spt_frag and cfg.sprite is not None:
            plan["sprite"] = cfg.sprite
            plan["sprite_output"] = stem + "-sprite-{TileCount}.jpg"
        return plan
    if cfg.type == "Sprite":
        # Kept cells go beside the sheets: sprite-{TileCount}.jpg -> sprite-cell-{Count}.jpg.
        paths = posixpath if "://" in output else os.path
        folder, name = paths.split(output)
        base, suffix = paths.splitext(name)
        stem = base.replace("{TileCount}", "").rstrip("-_") or "sprite"
        singles = paths.join(folder, f"{stem}-cell-{{Count}}{suffix or '.jpg'}")
        return {"output": singles, "sprite": cfg.sprite, "sprite_output": output}
    return {"output": output}


def _source(storage: Storage, url: str, root: str | None) -> str | RangeSource:
    """What the engine reads for a job's input `url`: a local one resolved inside
    `root` now (jobs.confine), an object under its bucket's prefix."""
    local = url[len("file://") :] if url.startswith("file://") else url
    if root is not None and not url.startswith(REMOTE) and "://" not in local:
        return local_input(local, root, os.path.basename(local))
    if root is not None and url.startswith(REMOTE):
        check_inside(url, root.rstrip("/"))
    return storage.source(url)


def run_job(
    config: dict[str, Any],
    input_url: str,
    output: str,
    storage: Storage,
    timeout: float | None,
    *,
    input_root: str | None = None,
    output_root: str | None = None,
    limit: int | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Run a job; returns what it made (URLs when the output is an object store).
    `input_root` / `output_root`: the folders (or object-store prefixes) the input
    and every output must lie inside; `limit`: the most snapshots it may make;
    `stop`: once set, the run is abandoned (Abandoned) at its next batch of frames,
    and rolled back."""
    cfg = SnapshotConfig.from_dict(config)
    if stop is not None and stop.is_set():
        raise Abandoned("the service is stopping")
    source = _source(storage, input_url, input_root)
    with confined_to(output_root):
        result = _snapshot(source, cfg, storage.destination(output), storage, timeout, limit, stop)
    made = {
        "files": result.files,
        "sprites": result.sprites,
        "webvtt": result.webvtt,
        "cover": result.cover,
        "times": [f.time for f in result.frames],
        "requested": result.requested,
        "dropped": result.dropped,
        "reason": result.reason,
        # MPS configs default to keyframes (FrameType intra): the result says which ran.
        "frame_type": cfg.frame_type,
        "snap": cfg.snap,
        "decoding": result.decoding,
        "index": result.stats.get("index"),
        # Bytes fetched from an object store (None where FFmpeg reads a path or URL itself).
        "bytes_read": source.bytes_read if isinstance(source, RangeSource) else None,
        "writes": result.writes,
    }
    made["count"] = result.count
    made["tile_count"] = len(result.sprites)
    return made


def _snapshot(
    source: str | RangeSource,
    cfg: SnapshotConfig,
    output: str,
    storage: Storage,
    timeout: float | None,
    limit: int | None,
    stop: threading.Event | None,
) -> SnapshotResult:
    plan = output_plan(cfg, output)
    cover = None
    if cfg.cover_position is not None:
        cover = os.path.join(os.path.dirname(plan["output"]) or ".", "cover.jpg")

    def progress(done: int, total: int) -> None:
        # Called after each batch of frames the writers took: a run given up here
        # rolls back like any failed one.
        if stop is not None and stop.is_set():
            raise Abandoned("the service is stopping")

    frame = cfg.frame_options()
    return snapshot(
        source,
        capped(cfg.sampling, limit),
        plan["output"],
        frame_type=frame.frame_type,
        snap=frame.snap,
        tolerance=frame.tolerance,
        width=frame.width,
        height=frame.height,
        max_length=frame.max_length,
        aspect_ratio=frame.aspect_ratio,
        deinterlace=frame.deinterlace,
        quality=cfg.quality,
        sprite=plan.get("sprite"),
        sprite_output=plan.get("sprite_output"),
        webvtt=plan.get("webvtt"),
        black_level=cfg.black_level,
        pixel_black_threshold=cfg.pixel_black_threshold,
        cover=cover,
        cover_position=cfg.cover_position,
        overwrite=True,  # jobs replace their outputs, as the services do
        timeout=timeout,
        device=cfg.device,
        fallback=cfg.fallback,
        storage_options=storage.options,
        progress=progress,
    )
