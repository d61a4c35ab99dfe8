"""Running one snapshot job: fetch the input, call the engine, publish outputs.

A job's files stay in its buckets: a local input is resolved and checked when it is
opened (jobs.confine), and every file written is checked against the output's root
as it is written (stillframe._files.confined_to)."""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stillframe._files import confined_to
from stillframe._source import RangeSource
from stillframe.errors import InvalidParameter
from stillframe.jobs.config import SnapshotConfig
from stillframe.jobs.confine import local_input
from stillframe.jobs.storage import REMOTE, Storage
from stillframe.sampling import Interval, Sampling, Schedule
from stillframe.snapshot import SnapshotResult, snapshot


class Abandoned(Exception):
    """The service is stopping: the job was given up between two batches of frames
    (what it wrote is removed, as for any failed run) to be run again elsewhere."""


@dataclass(frozen=True)
class CappedInterval(Interval):
    """An interval with no count, whose number of snapshots is known only with the
    video's length: resolve() refuses one over `limit` before a single time is made."""

    limit: int = 0

    def resolve(self, duration: float) -> Schedule:
        if self.every > 0 and self.start < duration:
            n = math.floor((duration - self.start) / self.every - 1e-9) + 1
            if n > self.limit:
                raise InvalidParameter(
                    f"every {self.every:g} s over the video's {duration:.3f} s makes {n} snapshots; "
                    f"a job may make at most {self.limit}"
                )
        return super().resolve(duration)


def capped(sampling: Sampling, limit: int | None) -> Sampling:
    """`sampling`, bounded by `limit` where its count waits on the video's length."""
    if limit is not None and isinstance(sampling, Interval) and sampling.count is None and sampling.every > 0:
        return CappedInterval(sampling.every, sampling.start, None, limit=limit)
    return sampling


def output_plan(cfg: SnapshotConfig, output: str) -> dict[str, Any]:
    """Where each kind of file goes for a job's output name (a local path here)."""
    if cfg.type == "WebVtt":
        stem = output[: -len(".vtt")]
        plan: dict[str, Any] = {"output": stem + "-{Count}.jpg", "webvtt": output}
        if cfg.is_spt_frag and cfg.sprite is not None:
            plan["sprite"] = cfg.sprite
            plan["sprite_output"] = stem + "-sprite-{TileCount}.jpg"
        return plan
    if cfg.type == "Sprite":
        # Kept cells go beside the sheets: sprite-{TileCount}.jpg -> sprite-cell-{Count}.jpg.
        path = Path(output)
        stem = path.stem.replace("{TileCount}", "").rstrip("-_") or "sprite"
        singles = str(path.with_name(f"{stem}-cell-{{Count}}{path.suffix or '.jpg'}"))
        return {"output": singles, "sprite": cfg.sprite, "sprite_output": output}
    return {"output": output}


def _source(storage: Storage, url: str, root: str | None) -> str | RangeSource:
    local = url[len("file://") :] if url.startswith("file://") else url
    if root is not None and not url.startswith(REMOTE) and "://" not in local:
        return local_input(local, root, os.path.basename(local))
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
    `input_root` / `output_root`: folders the input and every output must resolve
    inside; `limit`: the most snapshots it may make; `stop`: once set, the run is
    abandoned (Abandoned) at its next batch of frames."""
    cfg = SnapshotConfig.from_dict(config)
    if stop is not None and stop.is_set():
        raise Abandoned("the service is stopping")
    source = _source(storage, input_url, input_root)
    local, remote = storage.staging(output)
    # Object-store outputs are staged in a private temporary folder: that is their bound.
    with confined_to(os.path.dirname(local) if remote is not None else output_root):
        result = _snapshot(source, cfg, local, timeout, limit, stop)
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
    }
    if remote is not None:
        staged_dir = os.path.dirname(local)
        everything = [*result.files, *result.sprites, *[p for p in (result.webvtt, result.cover) if p]]
        urls = storage.publish(everything, staged_dir, remote)
        made["files"] = [urls[f] for f in result.files]
        made["sprites"] = [urls[f] for f in result.sprites]
        made["webvtt"] = urls.get(result.webvtt) if result.webvtt else None
        made["cover"] = urls.get(result.cover) if result.cover else None
    made["count"] = result.count
    made["tile_count"] = len(result.sprites)
    return made


def _snapshot(source: str | RangeSource, cfg: SnapshotConfig, output: str, timeout: float | None,
              limit: int | None, stop: threading.Event | None) -> SnapshotResult:  # fmt: skip
    plan = output_plan(cfg, output)
    cover = None
    if cfg.cover_position is not None:
        cover = os.path.join(os.path.dirname(plan["output"]) or ".", "cover.jpg")

    def progress(done: int, total: int) -> None:
        if stop is not None and stop.is_set():
            raise Abandoned("the service is stopping")

    return snapshot(
        source,
        capped(cfg.sampling, limit),
        plan["output"],
        frame_type=cfg.frame_type,
        snap=cfg.snap,
        width=cfg.width,
        height=cfg.height,
        max_length=cfg.max_length,
        aspect_ratio=cfg.aspect_ratio,
        quality=cfg.quality,
        sprite=plan.get("sprite"),
        sprite_output=plan.get("sprite_output"),
        webvtt=plan.get("webvtt"),
        black_level=cfg.black_level,
        pixel_black_threshold=cfg.pixel_black_threshold,
        cover=cover,
        cover_position=cfg.cover_position,
        timeout=timeout,
        device=cfg.device,
        fallback=cfg.fallback,
        progress=progress,
    )
