"""One frame through the command line, whole process, against `ffmpeg -ss`: what a
user pays to get one thumbnail out of a long file.

    python -m benchmarks.oneframe                          # the 1-hour file of benchmarks.longfile, 1875.3 s
    python -m benchmarks.oneframe --video V.mp4 --time 12.5 --runs 7
    python -m benchmarks.oneframe --http                   # the same file served by nginx on loopback
    python -m benchmarks.oneframe --stillframe other/venv/bin/stillframe --stillframe .venv/bin/stillframe

Each run is `stillframe snapshot V -o one.jpg --dots T --width 480 --snap next` against
`ffmpeg -ss T -i V -frames:v 1 -vf scale=480:-2` (the same frame: the first at or after
T), the commands taken in turn so that a busy machine slows each alike; the table gives
each one's median wall time and its ratio to ffmpeg's. "PyAV alone"
(`benchmarks/pyav_oneframe.py`) is the same frame from a script that imports PyAV and
nothing else: what any Python tool on PyAV pays before its own work. `--stillframe` (repeatable)
compares builds side by side. Make the 1-hour file first with
`python -m benchmarks.longfile --lengths 1,12` (2.4 GB in benchmarks/.cache).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(__file__).parent / ".cache"
DEFAULT = CACHE / "long-base-1080p30-gop250-300s-x12.mp4"
PYAV_ONEFRAME = Path(__file__).parent / "pyav_oneframe.py"


def commands(video: str, t: str, out: Path, stillframes: list[str]) -> dict[str, list[str]]:
    """The commands to time, by name."""
    cmds = {
        "ffmpeg -ss": [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-ss",
            t,
            "-i",
            video,
            "-frames:v",
            "1",
            "-vf",
            "scale=480:-2",
            str(out / "ff.jpg"),
        ],
        # The floor of any Python tool on PyAV: the interpreter, PyAV and the decode alone.
        "PyAV alone": [sys.executable, str(PYAV_ONEFRAME), video, t, str(out / "pyav.jpg")],
    }
    for k, exe in enumerate(stillframes):
        name = "stillframe" if len(stillframes) == 1 else f"stillframe ({exe})"
        # Each run replaces the last one's file, as ffmpeg -y does.
        cmds[name] = [
            exe,
            "snapshot",
            video,
            "-o",
            str(out / f"sf{k}.jpg"),
            "--dots",
            t,
            "--width",
            "480",
            "--snap",
            "next",
            "--overwrite",
        ]
    return cmds


def measure(cmds: dict[str, list[str]], runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall seconds and CPU seconds (user + system, every thread) of each command,
    `runs` times, in turn."""
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    cpus: dict[str, list[float]] = {name: [] for name in cmds}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: bytecode cached
    for name, cmd in list(cmds.items()):  # a first run, not timed: files in the page cache, bytecode written
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        if done.returncode and name == "PyAV alone":  # PyAV's FFmpeg may lack a demuxer (DASH)
            print(f"PyAV alone cannot: {done.stderr.strip().splitlines()[-1]}", file=sys.stderr)
            del cmds[name], walls[name], cpus[name]
        elif done.returncode:
            sys.exit(f"{name} failed: {done.stderr.strip()}")
    for _ in range(runs):
        for name, cmd in cmds.items():
            before = os.times()
            started = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
            walls[name].append(time.perf_counter() - started)
            after = os.times()
            used = after.children_user - before.children_user + after.children_system - before.children_system
            cpus[name].append(used)
    return walls, cpus


def table(walls: dict[str, list[float]], cpus: dict[str, list[float]], title: str) -> str:
    """Median wall and CPU seconds of each command, and their ratios to ffmpeg's. On a
    machine shared with other work the wall times spread; the CPU seconds much less."""
    base, base_cpu = statistics.median(walls["ffmpeg -ss"]), statistics.median(cpus["ffmpeg -ss"])
    head = "| command | median s | vs ffmpeg -ss | CPU s | CPU vs ffmpeg | runs (wall s) |"
    lines = [title, "", head, "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name, w in walls.items():
        m, c = statistics.median(w), statistics.median(cpus[name])
        runs = " ".join(f"{x:.2f}" for x in w)
        lines.append(f"| {name} | {m:.3f} | {m / base:.2f}x | {c:.3f} | {c / base_cpu:.2f}x | {runs} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT)
    ap.add_argument("--time", default="1875.3", help="seconds (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--http", action="store_true", help="read the video from nginx on loopback")
    ap.add_argument("--stillframe", action="append", help="a stillframe executable (repeatable)")
    args = ap.parse_args()
    if not args.video.exists():
        sys.exit(f"{args.video}: not there; make it with python -m benchmarks.longfile --lengths 1,12")
    stillframes = args.stillframe or [shutil.which("stillframe") or "stillframe"]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        video = str(args.video)
        if args.http:
            from tests import livesrc

            server = stack.enter_context(livesrc.http_server(args.video.parent, Path(tmp) / "nginx"))
            video = f"{server.url}/{args.video.name}"
        walls, cpus = measure(commands(video, args.time, Path(tmp), stillframes), args.runs)
    where = "over HTTP (nginx, loopback)" if args.http else "local"
    title = f"One frame at {args.time} s of {args.video.name}, {where}, 480 px JPEG; median of {args.runs}"
    print(table(walls, cpus, title))


if __name__ == "__main__":
    main()
