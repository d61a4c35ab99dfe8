"""The snapshot engine against the ffmpeg CLI and a plain PyAV loop, on the same
jobs, in one run: whole-process wall time (median of several runs), CPU seconds,
peak RSS, and which frame each tool returned.

    python -m benchmarks.engine            # the 5-minute 1080p30 clip, 3 runs
    python -m benchmarks.engine --quick    # a 20 s clip, 1 run
    python -m benchmarks.engine --against old-venv/bin/python   # each stillframe row again with another build

The clip is generated once (PyAV, libx264 veryfast, GOP 250, 3 B-frames, frames
carrying their index as a barcode) and cached in benchmarks/.cache. The ffmpeg CLI
is a peer only (`apt-get install ffmpeg`); rows for it are skipped without it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.compare.measure import images, launch
from benchmarks.compare.tasks import Task
from benchmarks.compare.tools import TOOLS, commands
from stillframe import testsrc

CACHE = Path(__file__).parent / ".cache"
WIDTH = 480
QUALITY = 85


def clip(seconds: int) -> Path:
    path = CACHE / f"bench-1080p30-gop250-{seconds}s.mp4"
    if not path.exists():
        print(f"generating {path.name} ({seconds} s of 1080p30)...", file=sys.stderr, flush=True)
        testsrc.make_video(path, frames=30 * seconds, size=(1920, 1080), fps=30, gop=250, bframes=3)
    return path


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float


@dataclass
class Row:
    task: str
    tool: str
    runs: list[Run] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)  # frame index read from each output
    expected: list[int] = field(default_factory=list)
    note: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def exact(self) -> str:
        if not self.expected:
            return "-"
        hits = sum(a == b for a, b in zip(self.frames, self.expected))
        return f"{hits}/{len(self.expected)}"


def measure(cmd: list[str]) -> Run:
    d = launch(cmd)
    return Run(d["wall"], d["cpu"], d["rss_mb"])


def measure_many(cmds: list[list[str]]) -> Run:
    """A job that is several processes (the ffmpeg -ss loop): sums, max RSS."""
    runs = [measure(c) for c in cmds]
    return Run(sum(r.wall for r in runs), sum(r.cpu for r in runs), max(r.rss_mb for r in runs))


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def read_indices(folder: Path, tile: tuple[int, int] | None = None) -> list[int]:
    """The frame index of every JPEG, or of every cell of every 10x10 sheet."""
    return [testsrc.read_index(img) for img in images(folder, sheets=tile is not None)]


# ---- the tools ---------------------------------------------------------------------------


def stillframe_cmd(video: Path, out: Path, sampling: str, **opts: str) -> list[str]:
    extra = "".join(f", {k}={v!r}" for k, v in opts.items())
    return python(
        f"""
        import stillframe as sf
        sf.snapshot({str(video)!r}, {sampling}, {str(out / "{Count}.jpg")!r}, width={WIDTH}, quality={QUALITY}{extra})
        """
    )


def stillframe_sprite_cmd(video: Path, out: Path, every: float, **opts: str) -> list[str]:
    extra = "".join(f", {k}={v!r}" for k, v in opts.items())
    return python(
        f"""
        import stillframe as sf
        sf.snapshot({str(video)!r}, sf.Interval({every}), {str(out / "{Count}.jpg")!r}, width=160, quality={QUALITY},
                    sprite=sf.Sprite(10, 10, keep_cell_pic=False), webvtt={str(out / "thumbs.vtt")!r}{extra})
        """
    )


def peer_cmds(
    key: str, video: Path, out: Path, times: list[float], every: float | None = None, sprite: bool = False
) -> list[list[str]]:
    """The comparison suite's recipe for a peer (`benchmarks/compare/tools.py`): the
    ffmpeg -ss loop, the fps filter, fps+tile, or the PyAV seek-and-decode loop."""
    tool = next(t for t in TOOLS if t.key == key)
    task = Task(key, tuple(times), every=every, sprite=sprite)
    return commands(tool, task, video, out, (WIDTH, WIDTH * 9 // 16), (1920, 1080), QUALITY)


def ffmpeg_keyframes_cmd(video: Path, out: Path) -> list[str]:
    return [
        "ffmpeg",
        "-v",
        "error",
        "-skip_frame",
        "nokey",
        "-i",
        str(video),
        "-vf",
        f"scale={WIDTH}:-2",
        "-fps_mode",
        "passthrough",
        "-q:v",
        "3",
        str(out / "%05d.jpg"),
    ]


# ---- the suite ---------------------------------------------------------------------------


def run_row(row: Row, make, runs: int, tile: tuple[int, int] | None = None) -> Row:
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"  # the suite's Python peers leave their args beside it
            out.mkdir()
            cmds = make(out)
            row.runs.append(measure_many(cmds) if isinstance(cmds[0], list) else measure(cmds))
            row.frames = read_indices(out, tile)
    print(f"  {row.task:<34} {row.tool:<34} {row.wall:7.2f} s  exact {row.exact}", file=sys.stderr, flush=True)
    return row


def interpreter(cmd: list[str], python: str) -> list[str]:
    """`cmd` (a `python -c` command) run by another interpreter: another build of stillframe."""
    return [python, *cmd[1:]]


def suite(seconds: int, runs: int, device: str | None = None, against: Sequence[str] = ()) -> list[Row]:
    video = clip(seconds)
    fps = 30
    every = 10 if seconds >= 60 else 2
    times = [float(t) for t in range(0, seconds, every)]
    per_second = [float(t) for t in range(seconds)]
    have_ffmpeg = shutil.which("ffmpeg") is not None
    rows: list[Row] = []

    def ours(task: str, tool: str, expected: list[int], make, tile: tuple[int, int] | None = None) -> None:
        """A stillframe row, and with --device the same job on the device (a named
        device does not fall back: the row is left out, with the reason, if it cannot run)."""
        rows.append(run_row(Row(task, tool, expected=expected), make, runs, tile))
        for other in against:
            twin = Row(task, f"{tool} [{other}]", expected=expected)
            rows.append(run_row(twin, lambda o, other=other: interpreter(make(o), other), runs, tile))
        if device:
            try:
                twin = Row(task, f"{tool} device={device}", expected=expected)
                rows.append(run_row(twin, lambda o: make(o, device=device), runs, tile))
            except RuntimeError as exc:
                print(f"{tool} device={device}: not run ({str(exc).strip().splitlines()[-1]})", file=sys.stderr)

    def peer(
        task: str,
        tool: str,
        make,
        expected: list[int] | None = None,
        note: str = "",
        tile: tuple[int, int] | None = None,
    ) -> None:
        rows.append(run_row(Row(task, tool, expected=expected or [], note=note), make, runs, tile))

    task = f"{len(times)} exact, every {every} s"
    want = [int(t * fps) for t in times]
    ours(task, "stillframe", want, lambda o, **k: stillframe_cmd(video, o, f"sf.Interval({every})", **k))
    if have_ffmpeg:
        peer(task, "ffmpeg -ss T (one process each)", lambda o: peer_cmds("ffmpeg-seek", video, o, times), want)
    peer(task, "PyAV seek + decode loop", lambda o: peer_cmds("pyav_loop", video, o, times), want)

    task = f"{len(times)} intra (nearest keyframe)"
    key_every = 250
    want_k = [int(round(t * fps / key_every)) * key_every for t in times]
    want_k = [min(k, (seconds * fps - 1) // key_every * key_every) for k in want_k]
    ours(
        task,
        "stillframe intra",
        want_k,
        lambda o, **k: stillframe_cmd(video, o, f"sf.Interval({every})", frame_type="intra", **k),
    )
    if have_ffmpeg:
        peer(
            task,
            "ffmpeg -skip_frame nokey (all keyframes)",
            lambda o: ffmpeg_keyframes_cmd(video, o),
            note="approximate",
        )

    every_s = 3 if seconds >= 60 else 1
    thumbs = [float(t) for t in range(0, seconds, every_s)]
    task = f"{len(thumbs)} thumbs every {every_s} s, 160 px, 10x10 sprite"
    want_t = [int(t * fps) for t in thumbs]
    ours(
        task,
        "stillframe sprite + VTT",
        want_t,
        lambda o, **k: stillframe_sprite_cmd(video, o, every_s, **k),
        tile=(10, 10),
    )
    if have_ffmpeg:
        peer(
            task,
            "ffmpeg fps,scale,tile (no VTT)",
            lambda o: peer_cmds("ffmpeg-tile", video, o, thumbs, every=every_s, sprite=True),
            want_t,
            note="fps filter rounds to the nearest tick",
            tile=(10, 10),
        )

    task = f"{len(per_second)} exact, every 1 s"
    want_s = [int(t * fps) for t in per_second]
    ours(task, "stillframe", want_s, lambda o, **k: stillframe_cmd(video, o, "sf.Interval(1)", **k))
    if have_ffmpeg:
        peer(
            task,
            "ffmpeg fps=1 (one pass)",
            lambda o: peer_cmds("ffmpeg-fps", video, o, per_second, every=1),
            want_s,
            note="fps filter rounds to the nearest tick",
        )
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| task | tool | wall s (median) | vs stillframe | CPU s | peak RSS MB | frames right |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    base: dict[str, float] = {}
    for r in rows:
        if r.tool.startswith("stillframe"):
            base.setdefault(r.task, r.wall)  # the first: this build, on the CPU
    for r in rows:
        ratio = r.wall / base[r.task] if r.task in base else float("nan")
        cpu = statistics.median(x.cpu for x in r.runs)
        rss = max(x.rss_mb for x in r.runs)
        lines.append(f"| {r.task} | {r.tool} | {r.wall:.2f} | {ratio:.2f}x | {cpu:.2f} | {rss:.0f} | {r.exact} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20 s clip, one run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--device", default=None, help="also run the stillframe jobs on this device (cuda, cuda:1, qsv...)")
    ap.add_argument(
        "--against",
        action="append",
        default=[],
        help="a Python with another build of stillframe installed: its rows beside this one's (repeatable)",
    )
    args = ap.parse_args()
    seconds, runs = (20, 1) if args.quick else (300, args.runs)
    rows = suite(seconds, runs, args.device, args.against)
    header = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; clip {seconds} s 1920x1080 30 fps H.264 GOP 250 3 B-frames; {WIDTH} px JPEGs"
    )
    print(header + "\n\n" + table(rows))
    if args.json:
        args.json.write_text(
            json.dumps({"header": header, "rows": [asdict(r) | {"wall": r.wall} for r in rows]}, indent=2)
        )


if __name__ == "__main__":
    main()
