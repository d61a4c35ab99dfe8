"""`python -m benchmarks.compare`: generate the videos, run every tool on every
task, write results.md, results.json and results.png."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from benchmarks.compare import videos
from benchmarks.compare.measure import Cell, run_cell
from benchmarks.compare.report import chart, markdown, write_json
from benchmarks.compare.tasks import tasks_for
from benchmarks.compare.tools import TOOLS

WIDTH, QUALITY = 480, 85


def _versions() -> str:
    out = []
    for dist in ("stillframe", "av", "numpy", "eva-decord", "opencv-python-headless", "torchcodec"):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    try:
        import av

        out.append(f"FFmpeg (PyAV) {av.library_versions['libavcodec']}")
    except Exception:
        pass
    return ", ".join(out)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small videos, fewer tasks, one run: seconds")
    ap.add_argument("--runs", type=int, default=3, help="runs per cell (cells over 5 s run once)")
    ap.add_argument(
        "--timeout", type=float, default=None, help="seconds before a cell is cut off (default 60; quick 30)"
    )
    ap.add_argument(
        "--cap",
        type=float,
        default=4.0,
        help="also cut a peer off at this many times stillframe's wall on the task (at least 10 s; 0: no such cap)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the results (default: a new temporary folder; benchmarks/results holds the published ones)",
    )
    ap.add_argument("--only", default=None, help="run only tools whose name contains this")
    ap.add_argument("--video", default=None, help="run only videos whose name contains this")
    args = ap.parse_args()
    if args.out is None:  # never the tracked results unless asked: a run would rewrite them
        args.out = Path(tempfile.mkdtemp(prefix="stillframe-compare-"))
    runs = 1 if args.quick else args.runs
    timeout = args.timeout or (30.0 if args.quick else 60.0)
    specs = videos.quick_specs() if args.quick else videos.full_specs()
    tools = [t for t in TOOLS if not args.only or args.only in t.name or t.name.startswith("stillframe")]
    unavailable = {t.name: why for t in tools if (why := t.unavailable())}
    started = time.monotonic()
    cells: list[Cell] = []
    main_name = next((s.name for s in specs if s.main and (not args.video or args.video in s.name)), None)
    for spec in specs:
        if args.video and args.video not in spec.name:
            continue
        path = videos.make(spec)
        if path is None:
            unavailable[spec.name] = f"{spec.path} is absent"
            continue
        ref = videos.reference(spec, path)
        info = __import__("stillframe").probe(str(path))
        width = min(WIDTH, info.width) // 2 * 2
        size = (width, round(width * info.height / info.width / 2) * 2)
        stored = (info.coded_width, info.coded_height)
        for task in tasks_for(ref.duration, spec.main, args.quick):
            limit = timeout
            for tool in tools:
                if tool.name in unavailable or not tool.supports(task):
                    continue
                cell = Cell(spec.name, task.name, task.mode, tool.name, tool.rule, len(task.times))
                run_cell(
                    cell, tool, task, path, ref, size, stored, info.rotation, not spec.shared, QUALITY, runs, limit
                )
                if tool.name.startswith("stillframe") and cell.wall and args.cap:
                    # How much slower a peer is past a few times stillframe's time is
                    # shown as "> Nx": the suite spends its minutes on the close calls.
                    limit = min(timeout, max(10.0, args.cap * cell.wall))
                cells.append(cell)
                shown = cell.error or f"{cell.wall:.2f} s, right {cell.right}/{cell.requested}"
                print(
                    f"  {spec.name[:28]:28} {task.name[:26]:26} {task.mode:8} {tool.name[:32]:32} {shown}",
                    file=sys.stderr,
                    flush=True,
                )
    elapsed = time.monotonic() - started
    header = (
        f"Run {time.strftime('%Y-%m-%d')} on {_cpu()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; {_versions()}. "
        f"Output {WIDTH} px wide (the video's width if smaller), JPEG quality {QUALITY} (ffmpeg -q:v 3); "
        f"wall = whole process, median of {runs} run(s) (cells over 5 s run once); peers cut off at "
        f"{args.cap:g}x stillframe's wall (at least 10 s) or {timeout:.0f} s; suite took {elapsed / 60:.1f} min."
    )
    args.out.mkdir(parents=True, exist_ok=True)
    md = markdown(header, cells, unavailable, main_name)
    (args.out / "results.md").write_text(md)
    write_json(args.out / "results.json", header, cells, unavailable)
    if main_name:
        chart(args.out / "results.png", cells, main_name)
    print(md)
    print(f"wrote {args.out}/results.md, results.json, results.png", file=sys.stderr)


if __name__ == "__main__":
    main()
