"""Running a cell (one tool, one task, one video) several times and scoring what
it wrote against the full-decode reference."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.compare.tasks import Task
from benchmarks.compare.tools import Tool, commands
from benchmarks.compare.videos import Reference, frame_errors
from stillframe import testsrc

LAUNCH = Path(__file__).resolve().parents[1] / "_launch.py"


@dataclass
class Cell:
    video: str
    task: str
    mode: str
    tool: str
    rule: str
    requested: int
    walls: list[float] = field(default_factory=list)  # whole process, per run
    cpus: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    inproc: list[float] = field(default_factory=list)  # the work alone, Python tools
    decoded: int | None = None
    got: int = 0
    displayed: int = 0  # outputs that are the frame shown at t
    next: int = 0  # outputs that are the first frame at or after t
    keyframes: int = 0  # outputs that are keyframes
    mean_error: float | None = None  # mean |frame time - t|, seconds
    upright: int | None = None  # outputs in the displayed orientation (rotated videos)
    error: str | None = None
    cutoff: float | None = None  # seconds it was stopped at, when it ran out of time

    @property
    def wall(self) -> float | None:
        return statistics.median(self.walls) if self.walls else None

    @property
    def right(self) -> int:
        """Outputs that are right: the tool's own rule for exact tasks (either rule
        for a tool that has none), a keyframe for keyframe tasks."""
        if self.mode == "keyframe":
            return self.keyframes
        if self.rule == "displayed":
            return self.displayed
        if self.rule == "next":
            return self.next
        return max(self.displayed, self.next)


def launch(cmd: list[str], timeout: float | None = None) -> dict:
    """Run one command from the small launcher (so its peak RSS is its own); returns
    {wall, cpu, rss_mb}. RuntimeError when it fails, TimeoutExpired past `timeout`."""
    with tempfile.NamedTemporaryFile(suffix=".json") as res:
        proc = subprocess.Popen(
            [sys.executable, str(LAUNCH), res.name, *cmd], stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        data = json.loads(Path(res.name).read_text() or "{}")
    if proc.returncode != 0 or data.get("code") != 0:
        raise RuntimeError((err or b"").decode(errors="replace").strip()[-300:] or f"exit {data.get('code')}")
    return data


def run_cell(
    cell: Cell,
    tool: Tool,
    task: Task,
    video: Path,
    ref: Reference,
    size: tuple[int, int],
    stored: tuple[int, int],
    rotation: int,
    barcode: bool,
    quality: int,
    runs: int,
    timeout: float,
) -> Cell:
    for k in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            out.mkdir()
            cmds = commands(tool, task, video, out, size, stored, quality)
            wall = cpu = rss = 0.0
            try:
                for cmd in cmds:
                    if wall >= timeout:  # a job of many processes (the ffmpeg -ss loop) ran out of time
                        raise subprocess.TimeoutExpired(cmd, timeout)
                    d = launch(cmd, timeout - wall)
                    wall, cpu, rss = wall + d["wall"], cpu + d["cpu"], max(rss, d["rss_mb"])
            except subprocess.TimeoutExpired:
                cell.error = f"over {timeout:.1f} s"
                cell.cutoff = timeout
                return cell
            except RuntimeError as exc:
                cell.error = str(exc).splitlines()[-1][:200] if str(exc) else "failed"
                return cell
            cell.walls.append(wall)
            cell.cpus.append(cpu)
            cell.rss_mb = max(cell.rss_mb, rss)
            result = Path(tmp) / "out.result.json"
            if result.exists():
                r = json.loads(result.read_text())
                cell.inproc.append(r["inproc"])
                cell.decoded = r["decoded"]
            if k == 0:
                score(cell, task, out, ref, rotation, barcode)
        if k == 0 and cell.walls[0] > 5.0:
            break  # slow cells run once: the suite must fit its time
    return cell


def _clean_band(img: np.ndarray) -> float:
    band = img[: max(8, img.shape[0] // 6) // 2]
    return float(np.minimum(abs(band - 16.0), abs(band - 235.0)).mean())


def _upright(img: np.ndarray, rotation: int) -> tuple[np.ndarray, bool]:
    """The stored orientation of an output, and whether the output was displayed
    the right way up (rotated as the video asks)."""
    if rotation not in (90, 270):
        return img, True
    if img.shape[0] > img.shape[1]:
        turned = [np.rot90(img, k) for k in (1, -1)]
        return min(turned, key=_clean_band), True
    return img, False


def images(out: Path, sheets: bool = False) -> list[np.ndarray]:
    """The grey pictures a tool wrote, in name order; with `sheets`, the cells of its
    10-column sprite sheets instead."""
    files = sorted(out.glob("*.jpg"))
    imgs = [np.asarray(Image.open(p).convert("L"), dtype=np.float32) for p in files]
    if not sheets:
        return imgs
    cells = []
    for sheet in imgs:
        cw = sheet.shape[1] // 10
        ch = cw * 9 // 16 // 2 * 2  # the suite's sprite clip is 16:9
        for r in range(sheet.shape[0] // ch):
            for c in range(10):
                tile = sheet[r * ch : (r + 1) * ch, c * cw : (c + 1) * cw]
                if tile.mean() > 1:  # an unfilled last sheet is padded with black
                    cells.append(tile)
    return cells


def score(cell: Cell, task: Task, out: Path, ref: Reference, rotation: int, barcode: bool) -> None:
    imgs = images(out, task.sprite)
    cell.got = min(len(imgs), len(task.times))
    errors, upright = [], 0
    for t, img in zip(task.times, imgs):
        img, ok = _upright(img, rotation)
        upright += ok
        want = {ref.displayed(t), ref.next(t)}
        if barcode:
            i = testsrc.read_index(img)
            same = {i}
        else:
            # Real footage has runs of near-identical frames: an output is taken to be
            # a frame when that frame matches it as well as the best match does.
            err = frame_errors(ref, img)
            i = int(np.argmin(err))
            same = {int(k) for k in np.flatnonzero(err <= err.min() * 1.25 + 2.0)}
        if not 0 <= i < len(ref.times):  # not a frame of this video at all
            errors.append(float("inf"))
            continue
        cell.displayed += ref.displayed(t) in same
        cell.next += ref.next(t) in same
        hit = want & same
        i = min(hit) if hit else i
        cell.keyframes += any(ref.keyframes[j] for j in same)
        errors.append(abs(ref.times[i] - t))
    cell.mean_error = float(np.mean(errors)) if errors and np.isfinite(errors).all() else None
    cell.upright = upright if rotation in (90, 270) else None
