"""Running one snapshot job: open the input, call the engine, whose writers put
each output where the job says (a path, or an object store: each object as soon
as it is complete)."""

from __future__ import annotations

import os
import posixpath
from typing import Any

from stillframe._source import RangeSource
from stillframe.jobs.config import SnapshotConfig
from stillframe.jobs.storage import Storage
from stillframe.snapshot import snapshot


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


def run_job(
    config: dict[str, Any], input_url: str, output: str, storage: Storage, timeout: float | None
) -> dict[str, Any]:
    """Run a job; returns what it made (URLs when the output is an object store)."""
    cfg = SnapshotConfig.from_dict(config)
    source = storage.source(input_url)
    plan = output_plan(cfg, storage.destination(output))
    cover = None
    if cfg.cover_position is not None:
        cover = os.path.join(os.path.dirname(plan["output"]) or ".", "cover.jpg")
    frame = cfg.frame_options()
    result = snapshot(
        source,
        cfg.sampling,
        plan["output"],
        frame_type=frame.frame_type,
        snap=frame.snap,
        tolerance=frame.tolerance,
        width=frame.width,
        height=frame.height,
        max_length=frame.max_length,
        aspect_ratio=frame.aspect_ratio,
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
    )
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
