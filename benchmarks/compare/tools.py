"""The tools: what each can do, which frame it means by "at t", and the commands
that run it."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.compare.adapters import IMPORTS
from benchmarks.compare.tasks import Task


@dataclass(frozen=True)
class Tool:
    name: str
    key: str  # adapter name for Python tools, or an ffmpeg recipe
    rule: str  # the frame it returns for "t": displayed | next | keyframe
    modes: tuple[str, ...] = ("exact", "keyframe")
    intervals_only: bool = False  # one-pass filters: interval tasks only
    sprites: bool = False

    def supports(self, task: Task) -> bool:
        if task.sprite:
            return self.sprites
        if self.sprites and not task.sprite:
            return False
        if task.mode not in self.modes:
            return False
        return not self.intervals_only or task.every is not None

    def unavailable(self) -> str | None:
        """Why this tool cannot run here, or None."""
        if self.key.startswith("ffmpeg"):
            return None if shutil.which("ffmpeg") else "the ffmpeg CLI is not installed"
        modules = IMPORTS[self.key]
        if importlib.util.find_spec(modules[0].split(".")[0]) is None:
            return f"{modules[0]} is not installed (pip install '.[bench]')"
        probe = subprocess.run([sys.executable, "-c", f"import {', '.join(modules)}"], capture_output=True, text=True)
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
            return f"import {modules[0]} fails here: {last[:160]}"
        return None


TOOLS = [
    Tool("stillframe", "stillframe", "displayed"),
    Tool("stillframe sprite + VTT", "stillframe", "displayed", modes=("exact",), sprites=True),
    Tool("ffmpeg -ss T (a process each)", "ffmpeg-seek", "next"),
    Tool("ffmpeg fps filter (one pass)", "ffmpeg-fps", "fps-rounding", intervals_only=True),
    Tool("ffmpeg fps,scale,tile (no VTT)", "ffmpeg-tile", "fps-rounding", modes=("exact",), sprites=True),
    Tool("PyAV seek + decode loop", "pyav_loop", "next"),
    Tool("decord get_batch", "decord", "displayed"),
    Tool("OpenCV POS_MSEC + read", "opencv", "next", modes=("exact",)),
    Tool("torchcodec get_frames_played_at", "torchcodec", "displayed"),
]


def commands(
    tool: Tool, task: Task, video: Path, out: Path, size: tuple[int, int], stored: tuple[int, int], quality: int
) -> list[list[str]]:
    """The processes that do the task (several for the ffmpeg -ss loop). `size` is
    the output size as displayed, `stored` the coded picture's."""
    width, height = size
    if not tool.key.startswith("ffmpeg"):
        args = out.parent / f"{out.name}.args.json"
        args.write_text(
            json.dumps(
                {
                    "tool": tool.key,
                    "video": str(video),
                    "times": list(task.times),
                    "out": str(out),
                    "width": width,
                    "height": height,
                    "quality": quality,
                    "mode": task.mode,
                    "sprite": task.sprite,
                    "every": task.every,
                    "stored_width": stored[0],
                    "stored_height": stored[1],
                    "result": str(out.parent / f"{out.name}.result.json"),
                }
            )
        )
        return [[sys.executable, "-m", "benchmarks.compare.harness", str(args)]]
    q = ["-q:v", str(ffmpeg_q(quality))]
    base = ["ffmpeg", "-nostdin", "-v", "error"]
    scale = f"scale={width}:{height}"
    if tool.key == "ffmpeg-seek":
        key = ["-skip_frame", "nokey", "-noaccurate_seek"] if task.mode == "keyframe" else []
        return [
            [
                *base,
                *key,
                "-ss",
                f"{t:.6f}",
                "-i",
                str(video),
                "-frames:v",
                "1",
                "-vf",
                scale,
                *q,
                str(out / f"{i + 1:05d}.jpg"),
            ]
            for i, t in enumerate(task.times)
        ]
    if tool.key == "ffmpeg-fps":
        key = ["-skip_frame", "nokey"] if task.mode == "keyframe" else []
        return [[*base, *key, "-i", str(video), "-vf", f"fps=1/{task.every},{scale}", *q, str(out / "%05d.jpg")]]
    if tool.key == "ffmpeg-tile":
        return [
            [
                *base,
                "-i",
                str(video),
                "-vf",
                f"fps=1/{task.every},scale=160:-2,tile=10x10",
                *q,
                str(out / "sprite-%05d.jpg"),
            ]
        ]
    raise ValueError(tool.key)


def ffmpeg_q(quality: int) -> int:
    """ffmpeg's mjpeg -q:v closest to a libjpeg quality (q:v 2 ~ 95, 3 ~ 85-90, 5 ~ 75)."""
    return 2 if quality >= 93 else 3 if quality >= 80 else 5 if quality >= 70 else 8
