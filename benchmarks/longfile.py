"""One frame, and 30, from a long file: what each tool pays as the file grows.

    python -m benchmarks.longfile                 # 5 min, 1 h and 10 h; local and over HTTP
    python -m benchmarks.longfile --lengths 1,12  # 5 min and 1 h only (copies of the 5 min clip)
    python -m benchmarks.longfile --quick         # a 10 s clip and 10 minutes of it, the 10 minutes as streams too: CI's form
    python -m benchmarks.longfile --lengths 12 --forms mp4,hls,dash,fmp4   # the 1 h file as streams too
    python -m benchmarks.longfile --quick --forms hls --tools ffmpeg-seek,pyav_loop   # some peers only
    python -m benchmarks.longfile --source long.mp4 --forms mp4,hls,dash,fmp4 --tools stillframe,ffmpeg-seek,pyav_loop
                                                  # one long clip of your own, as it is and as streams

The long files are copies of one clip joined by stream copy (seconds a gigabyte, as
`ffmpeg -f concat -c copy` does), faststart. The clip is FFmpeg's testsrc2 at
1080p30, GOP 250, 3 B-frames (x264 veryfast): 2.4 GB an hour. The 30 times are
spread at (i + 0.517) / 30 of the duration, which never falls on a copy's first
frame (a keyframe) however many copies there are. `--forms` adds the same long
file packaged as streaming services hold it, each by stream copy with the ffmpeg
CLI: HLS (8 s TS segments, a VOD playlist), DASH (8 s fMP4 segments,
SegmentTemplate with SegmentTimeline) and fragmented MP4 (`frag_keyframe+
empty_moov`, one fragment a GOP, an mfra at the end). `--source` takes one long
clip as it is instead of copies (its full decode is the reference). Over HTTP
the files are served by nginx on loopback (Range requests as a CDN answers them)
and the bytes each tool read are summed from nginx's log. Every output is checked
against a full decode of the clip: "right" counts outputs that are the frame the
tool's own rule names (the frame shown at t, or the first at or after t). With
streaming forms and `ffmpeg -ss` measured, the table ends with the streaming
goals: one frame over HTTP from HLS and DASH in at most 1.5x `ffmpeg -ss`'s bytes
and its time, from the fragmented MP4 in at most 64 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import stillframe as sf
from benchmarks.compare import videos
from benchmarks.compare.measure import images, launch
from benchmarks.compare.tasks import Task
from benchmarks.compare.tools import TOOLS, Tool, commands
from stillframe import testsrc
from tests import livesrc

CACHE = videos.CACHE
WIDTH, QUALITY = 480, 85
PEERS = ("stillframe", "ffmpeg-seek", "pyav_loop", "decord", "torchcodec")
FORMS = ("mp4", "hls", "dash", "fmp4")
STREAM_PEERS = ("stillframe", "ffmpeg-seek", "pyav_loop")  # the quick form's peers for one frame of a stream
SEGMENT_SECONDS = 8


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def base_clip(quick: bool) -> Path:
    """The clip the long files repeat."""
    path = CACHE / ("long-base-q-270p-10s.mp4" if quick else "long-base-1080p30-gop250-300s.mp4")
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"generating {path.name} ...", file=sys.stderr, flush=True)
    if quick:
        testsrc.make_video(
            path,
            frames=300,
            size=(480, 270),
            gop=60,
            bframes=3,
            grain=True,
            options={"crf": "28", "preset": "ultrafast"},
        )
    elif shutil.which("ffmpeg"):
        _ffmpeg(
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=30",
            "-t",
            "300",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "250",
            "-keyint_min",
            "250",
            "-sc_threshold",
            "0",
            "-bf",
            "3",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            str(path),
        )
    else:  # the pattern clip: a cartoon's bitrate, not a camera's
        testsrc.make_video(path, frames=9000, size=(1920, 1080), gop=250, bframes=3)
    return path


def long_file(base: Path, copies: int) -> Path:
    path = CACHE / f"{base.stem}-x{copies}.mp4"
    if not path.exists():
        print(f"joining {copies} copies -> {path.name} ...", file=sys.stderr, flush=True)
        testsrc.repeat(base, path, copies)
    return path


def stream_form(path: Path, form: str) -> Path:
    """`path` packaged as `form` ("hls", "dash" or "fmp4") by stream copy, made once
    beside it; the playlist, manifest or file to open."""
    if form == "mp4":
        return path
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("the ffmpeg CLI is not installed")
    if form == "fmp4":
        target = path.with_name(f"{path.stem}-frag.mp4")
        if not target.exists():
            part = target.with_name(f".{target.name}.part.mp4")
            print(f"packaging {target.name} ...", file=sys.stderr, flush=True)
            _ffmpeg(
                "-i",
                str(path),
                "-c",
                "copy",
                "-movflags",
                "frag_keyframe+empty_moov",
                str(part),
            )
            part.rename(target)
        return target
    folder = path.with_name(f"{path.stem}-{form}")
    name = "index.m3u8" if form == "hls" else "manifest.mpd"
    if not (folder / name).exists():
        print(f"packaging {folder.name} ...", file=sys.stderr, flush=True)
        part = folder.with_name(f".{folder.name}.part")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        if form == "hls":
            args = [
                "-f",
                "hls",
                "-hls_time",
                str(SEGMENT_SECONDS),
                "-hls_playlist_type",
                "vod",
                "-hls_segment_filename",
                str(part / "s%05d.ts"),
            ]
        else:
            args = ["-f", "dash", "-seg_duration", str(SEGMENT_SECONDS), "-use_template", "1", "-use_timeline", "1"]
        _ffmpeg(
            "-i",
            str(path),
            "-map",
            "0:v",
            "-c",
            "copy",
            *args,
            str(part / name),
        )
        shutil.rmtree(folder, ignore_errors=True)
        part.rename(folder)
    return folder / name


@dataclass
class Cell:
    length: str
    where: str
    form: str
    task: str
    tool: str
    rule: str
    requested: int
    walls: list[float] = field(default_factory=list)
    inproc: list[float] = field(default_factory=list)
    bytes_read: list[int] = field(default_factory=list)
    right: int = 0
    error: str | None = None

    @property
    def wall(self) -> float | None:
        return statistics.median(self.walls) if self.walls else None


def score(cell: Cell, task: Task, out: Path, ref: videos.Reference, span: float) -> None:
    """Outputs that are the frame the tool's rule names, by their pixels against
    the clip's full decode (times taken modulo the clip's length)."""
    for t, img in zip(task.times, images(out)):
        err = videos.frame_errors(ref, img)
        same = {int(k) for k in np.flatnonzero(err <= err.min() * 1.25 + 2.0)}
        base_t = t % span
        want = ref.displayed(base_t) if cell.rule == "displayed" else ref.next(base_t)
        cell.right += want in same


def run(
    cell: Cell, tool: Tool, task: Task, video: str, ref, span: float, size, server, runs: int, timeout: float
) -> Cell:
    for k in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            out.mkdir()
            before = server.bytes_sent() if server else 0
            wall = 0.0
            try:
                for cmd in commands(tool, task, video, out, size, size, QUALITY):  # type: ignore[arg-type]
                    if wall >= timeout:
                        raise subprocess.TimeoutExpired(cmd, timeout)
                    wall += launch(cmd, timeout - wall)["wall"]
            except subprocess.TimeoutExpired:
                cell.error = f"> {timeout:.0f} s"
                return cell
            except RuntimeError as exc:
                last = (str(exc).splitlines() or ["failed"])[-1].replace(video, "<input>")
                cell.error = last[:100]
                return cell
            cell.walls.append(wall)
            if server:
                cell.bytes_read.append(_settled(server) - before)
            result = Path(tmp) / "out.result.json"
            if result.exists():
                cell.inproc.append(json.loads(result.read_text())["inproc"])
            if k == 0:
                score(cell, task, out, ref, span)
        if wall > 10:
            break  # slow cells run once
    return cell


def _settled(server: livesrc.HttpServer) -> int:
    """nginx's byte count once the last connection's line is logged."""
    last = -1
    while (now := server.bytes_sent()) != last:
        last = now
        time.sleep(0.05)
    return now


def _fmt_bytes(n: list[int]) -> str:
    return f"{statistics.median(n) / 1e6:.1f} MB" if n else ""


def goals(cells: list[Cell]) -> list[str]:
    """The streaming goals, checked on every long file's one frame over HTTP:
    HLS and DASH within 1.5x `ffmpeg -ss`'s bytes and its time, fMP4 64 MB."""
    out = []
    for c in cells:
        if c.where != "HTTP" or c.form == "mp4" or not c.task.startswith("1 frame") or c.tool != "stillframe":
            continue
        peer = next(
            (
                p
                for p in cells
                if (p.length, p.where, p.form, p.task) == (c.length, c.where, c.form, c.task)
                and p.tool.startswith("ffmpeg -ss")
            ),
            None,
        )
        if c.error or not c.bytes_read:
            out.append(f"- {c.length} {c.form}: stillframe did not run ({c.error})")
            continue
        ours = statistics.median(c.bytes_read)
        if c.form == "fmp4":
            verdict = "met" if ours <= 64e6 else "missed"
            out.append(f"- {c.length} fmp4, one frame over HTTP: {ours / 1e6:.1f} MB (goal <= 64 MB): {verdict}")
            continue
        if peer is None or peer.error or not peer.bytes_read or not peer.wall:
            out.append(f"- {c.length} {c.form}: no ffmpeg -ss figure to compare with")
            continue
        theirs = statistics.median(peer.bytes_read)
        bytes_ok, time_ok = ours <= 1.5 * theirs, (c.wall or 0) <= peer.wall
        out.append(
            f"- {c.length} {c.form}, one frame over HTTP: {ours / theirs:.2f}x ffmpeg -ss's bytes (goal <= 1.5x): "
            f"{'met' if bytes_ok else 'missed'}; {c.wall:.2f} s against {peer.wall:.2f} s (goal <=): "
            f"{'met' if time_ok else 'missed'}"
        )
    return ["", "Goals:", *out] if out else []


def markdown(header: str, cells: list[Cell], unavailable: dict[str, str]) -> str:
    tools = [t for t in dict.fromkeys(c.tool for c in cells)]
    lines = [
        header,
        "",
        "| file | where | task | " + " | ".join(tools) + " |",
        "| --- | --- | --- | " + " | ".join("---:" for _ in tools) + " |",
    ]
    rows: dict[tuple[str, str, str], dict[str, Cell]] = {}
    for c in cells:
        rows.setdefault((f"{c.length} {c.form}", c.where, c.task), {})[c.tool] = c
    for (length, where, task), by_tool in rows.items():
        ours = next((c for c in by_tool.values() if c.tool.startswith("stillframe")), None)
        out = []
        for tool in tools:
            c = by_tool.get(tool)
            if c is None:
                out.append("")
            elif c.error:
                out.append(c.error)
            else:
                ratio = "" if c is ours or not ours or not ours.wall else f" ({c.wall / ours.wall:.2f}x)"
                size = f", {_fmt_bytes(c.bytes_read)}" if c.bytes_read else ""
                inproc = f" [{statistics.median(c.inproc):.2f} in process]" if c.inproc else ""
                out.append(f"{c.wall:.2f} s{ratio}{inproc}{size}, right {c.right}/{c.requested}")
        lines.append(f"| {length} | {where} | {task} | " + " | ".join(out) + " |")
    lines += goals(cells)
    if unavailable:
        lines += ["", "Not run: " + "; ".join(f"{k}: {v}" for k, v in unavailable.items())]
    return "\n".join(lines) + "\n"


def measure_form(
    label: str,
    form: str,
    path: Path,
    tasks: list[Task],
    tools: list[Tool],
    server: livesrc.HttpServer | None,
    scoring: tuple,
    runs: int,
    timeout: float,
    root: Path = CACHE,
) -> list[Cell]:
    """Every tool on every task for one form of one long file, local and over HTTP
    (`server` serves `root`). `scoring` is (reference, the clip's span, output size)."""
    ref, span, size = scoring
    cells = []
    places = [("local", str(path))] + (
        [("HTTP", f"{server.url}/{path.relative_to(root).as_posix()}")] if server else []
    )
    for where, video in places:
        for task in tasks:
            limit = timeout
            for tool in tools:
                cell = Cell(label, where, form, task.name, tool.name, tool.rule, len(task.times))
                run(cell, tool, task, video, ref, span, size, server if where == "HTTP" else None, runs, limit)
                if tool.key == "stillframe" and cell.wall:
                    limit = min(timeout, max(20.0, 20 * cell.wall))
                cells.append(cell)
                shown = cell.error or f"{cell.wall:.2f} s {_fmt_bytes(cell.bytes_read)} right {cell.right}"
                print(
                    f"  {label:7} {form:4} {where:5} {task.name:18} {tool.name[:30]:30} {shown}",
                    file=sys.stderr,
                    flush=True,
                )
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a 10 s clip and 10 minutes of it, one run")
    ap.add_argument("--lengths", default=None, help="copies of the clip, comma-separated (default 1,12,120)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before a cell is cut off")
    ap.add_argument("--out", type=Path, default=None, help="write longfile.md and longfile.json here")
    ap.add_argument(
        "--forms",
        default=None,
        help=f"comma-separated, of {', '.join(FORMS)} (default mp4; --quick: mp4, and every form of the "
        "10 minutes: one frame with stillframe, ffmpeg -ss and the PyAV loop, 30 with stillframe)",
    )
    ap.add_argument("--tools", default=",".join(PEERS), help="tool keys, comma-separated (default: all peers)")
    ap.add_argument("--source", type=Path, default=None, help="one long clip to measure as it is (no copies)")
    args = ap.parse_args()
    forms = [f for f in (args.forms or "mp4").split(",") if f]
    if unknown := set(forms) - set(FORMS):
        ap.error(f"unknown forms: {', '.join(sorted(unknown))}")
    # The quick form measures the streaming forms of its long file too, against the two peers that read them.
    quick_streams = args.quick and args.forms is None and args.source is None
    runs = 1 if args.quick else args.runs
    copies = [int(x) for x in (args.lengths or ("1,60" if args.quick else "1,12,120")).split(",")]
    if args.source is not None:
        if not args.source.is_file():
            ap.error(f"{args.source}: no such file")
        base, copies = args.source.resolve(), [1]
    else:
        base = base_clip(args.quick)
    spec = videos.VideoSpec("long-base", base.name, shared=True)  # shared: compare by pixels
    ref = videos.reference(spec, base)
    info = sf.probe(str(base))
    span = info.duration
    size = (WIDTH, round(WIDTH * info.height / info.width / 2) * 2)
    wanted = set(args.tools.split(","))
    tools = [t for t in TOOLS if t.key in PEERS and t.key in wanted and not t.sprites]
    unavailable = {t.name: why for t in tools if (why := t.unavailable())}
    tools = [t for t in tools if t.name not in unavailable]
    cells: list[Cell] = []
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        logs = stack.enter_context(tempfile.TemporaryDirectory())
        root = base.parent if args.source is not None else CACHE
        try:
            server: livesrc.HttpServer | None = stack.enter_context(livesrc.http_server(root, logs))
        except livesrc.NginxUnavailable as exc:
            server, unavailable["HTTP rows"] = None, str(exc)
        for n in copies:
            long = long_file(base, n) if n > 1 else base
            duration = span * n
            label = (
                f"{duration / 3600:.3g} h"
                if duration >= 3600
                else f"{duration / 60:.3g} min"
                if duration >= 60
                else f"{duration:.3g} s"
            )
            tasks = [
                Task("1 frame at 51.7 %", (round(duration * 0.517, 3),)),
                Task("30 spread evenly", tuple(round(duration * (i + 0.517) / 30, 3) for i in range(30))),
            ]
            here = forms + ([f for f in FORMS if f != "mp4"] if quick_streams and n == copies[-1] else [])
            for form in here:
                path = stream_form(long, form)
                if form == "mp4" or not quick_streams:
                    cells += measure_form(
                        label, form, path, tasks, tools, server, (ref, span, size), runs, args.timeout, root
                    )
                    continue
                # Quick: the goals' task with the peers that read streams, the 30 frames with stillframe alone.
                for task, peers in (
                    (tasks[0], [t for t in tools if t.key in STREAM_PEERS]),
                    (tasks[1], [t for t in tools if t.key == "stillframe"]),
                ):
                    cells += measure_form(
                        label, form, path, [task], peers, server, (ref, span, size), runs, args.timeout, root
                    )
    what = f"{base.name}, as it is" if args.source is not None else "copies of"
    header = (
        f"Run {time.strftime('%Y-%m-%d')}: one frame and 30 from long files ({what} a {span:.0f} s "
        f"{info.width}x{info.height} clip, {base.stat().st_size / span * 3600 / 1e9:.1f} GB an hour), {WIDTH} px "
        f"JPEG q{QUALITY}; wall = whole process, median of {runs}; [in process] = the work alone for Python tools; "
        f"bytes = what nginx sent over HTTP; took {(time.monotonic() - started) / 60:.1f} min."
    )
    md = markdown(header, cells, unavailable)
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "longfile.md").write_text(md)
        (args.out / "longfile.json").write_text(
            json.dumps({"header": header, "cells": [asdict(c) for c in cells], "unavailable": unavailable}, indent=1)
        )


if __name__ == "__main__":
    main()
