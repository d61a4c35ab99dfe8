"""The snapshot engine against the ffmpeg CLI and a plain PyAV loop, on the same
jobs, in one run: whole-process wall time (median of several runs), CPU seconds,
peak RSS, and which frame each tool returned.

    python -m benchmarks.engine            # the 5-minute 1080p30 clip, 3 runs
    python -m benchmarks.engine --quick    # a 20 s clip, 1 run

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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.compare.measure import images, launch
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


def pyav_loop_cmd(video: Path, out: Path, times: list[float]) -> list[str]:
    """What people write by hand: seek, decode forward to the time, save."""
    return python(
        f"""
        import av
        times = {times!r}
        with av.open({str(video)!r}) as c:
            s = c.streams.video[0]
            for i, t in enumerate(times):
                c.seek(int(t / s.time_base), stream=s, backward=True)
                for f in c.decode(s):
                    if f.time >= t - 1e-6:
                        img = f.reformat(width={WIDTH}, height=int(round(f.height * {WIDTH} / f.width / 2)) * 2).to_image()
                        img.save({str(out)!r} + f"/{{i + 1:05d}}.jpg", quality={QUALITY})
                        break
        """
    )


def ffmpeg_seek_cmds(video: Path, out: Path, times: list[float]) -> list[list[str]]:
    q = ["-q:v", "3"]
    return [
        [
            "ffmpeg",
            "-v",
            "error",
            "-ss",
            f"{t}",
            "-i",
            str(video),
            "-frames:v",
            "1",
            "-vf",
            f"scale={WIDTH}:-2",
            *q,
            str(out / f"{i + 1:05d}.jpg"),
        ]
        for i, t in enumerate(times)
    ]


def ffmpeg_fps_cmd(video: Path, out: Path, every: float) -> list[str]:
    return [
        "ffmpeg",
        "-v",
        "error",
        "-i",
        str(video),
        "-vf",
        f"fps=1/{every},scale={WIDTH}:-2",
        "-q:v",
        "3",
        str(out / "%05d.jpg"),
    ]


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


def ffmpeg_tile_cmd(video: Path, out: Path, every: float, width: int) -> list[str]:
    return [
        "ffmpeg",
        "-v",
        "error",
        "-i",
        str(video),
        "-vf",
        f"fps=1/{every},scale={width}:-2,tile=10x10",
        "-q:v",
        "3",
        str(out / "sprite-%05d.jpg"),
    ]


def run_row(row: Row, make, runs: int, tile: tuple[int, int] | None = None) -> Row:
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            cmds = make(out)
            row.runs.append(measure_many(cmds) if isinstance(cmds[0], list) else measure(cmds))
            row.frames = read_indices(out, tile)
    print(f"  {row.task:<34} {row.tool:<34} {row.wall:7.2f} s  exact {row.exact}", file=sys.stderr, flush=True)
    return row


def on_device(row: Row, make, runs: int, tile: tuple[int, int] | None = None) -> Row | None:
    """The same job on a hardware device; None (with the reason printed) when the
    device cannot decode here, since a named device does not fall back."""
    try:
        return run_row(row, make, runs, tile)
    except RuntimeError as exc:
        print(f"{row.tool}: not run ({str(exc).strip().splitlines()[-1]})", file=sys.stderr)
        return None


def suite(seconds: int, runs: int, device: str | None = None) -> list[Row]:
    video = clip(seconds)
    fps = 30
    every = 10 if seconds >= 60 else 2
    times = [float(t) for t in range(0, seconds, every)]
    per_second = [float(t) for t in range(seconds)]
    have_ffmpeg = shutil.which("ffmpeg") is not None
    rows: list[Row | None] = []

    task = f"{len(times)} exact, every {every} s"
    want = [int(t * fps) for t in times]
    rows.append(
        run_row(
            Row(task, "stillframe", expected=want), lambda o: stillframe_cmd(video, o, f"sf.Interval({every})"), runs
        )
    )
    if device:
        rows.append(on_device(Row(task, f"stillframe device={device}", expected=want),
                              lambda o: stillframe_cmd(video, o, f"sf.Interval({every})", device=device), runs))  # fmt: skip
    if have_ffmpeg:
        rows.append(
            run_row(
                Row(task, "ffmpeg -ss T (one process each)", expected=want),
                lambda o: ffmpeg_seek_cmds(video, o, times),
                runs,
            )
        )
    rows.append(
        run_row(Row(task, "PyAV seek + decode loop", expected=want), lambda o: pyav_loop_cmd(video, o, times), runs)
    )

    task = f"{len(times)} intra (nearest keyframe)"
    key_every = 250
    want_k = [int(round(t * fps / key_every)) * key_every for t in times]
    want_k = [min(k, (seconds * fps - 1) // key_every * key_every) for k in want_k]
    rows.append(
        run_row(
            Row(task, "stillframe intra", expected=want_k),
            lambda o: stillframe_cmd(video, o, f"sf.Interval({every})", frame_type="intra"),
            runs,
        )
    )
    if device:
        rows.append(on_device(Row(task, f"stillframe intra device={device}", expected=want_k),
                              lambda o: stillframe_cmd(video, o, f"sf.Interval({every})", frame_type="intra",
                                                       device=device), runs))  # fmt: skip
    if have_ffmpeg:
        rows.append(
            run_row(
                Row(task, "ffmpeg -skip_frame nokey (all keyframes)", note="approximate"),
                lambda o: ffmpeg_keyframes_cmd(video, o),
                runs,
            )
        )

    every_s = 3 if seconds >= 60 else 1
    thumbs = [float(t) for t in range(0, seconds, every_s)]
    task = f"{len(thumbs)} thumbs every {every_s} s, 160 px, 10x10 sprite"
    want_t = [int(t * fps) for t in thumbs]
    rows.append(run_row(
        Row(task, "stillframe sprite + VTT", expected=want_t),
        lambda o: stillframe_sprite_cmd(video, o, every_s), runs, tile=(10, 10),
    ))  # fmt: skip
    if device:
        rows.append(on_device(Row(task, f"stillframe sprite + VTT device={device}", expected=want_t),
                              lambda o: stillframe_sprite_cmd(video, o, every_s, device=device), runs,
                              tile=(10, 10)))  # fmt: skip
    if have_ffmpeg:
        rows.append(run_row(
            Row(task, "ffmpeg fps,scale,tile (no VTT)", expected=want_t, note="fps filter rounds to the nearest tick"),
            lambda o: ffmpeg_tile_cmd(video, o, every_s, 160), runs, tile=(10, 10),
        ))  # fmt: skip

    task = f"{len(per_second)} exact, every 1 s"
    want_s = [int(t * fps) for t in per_second]
    rows.append(
        run_row(Row(task, "stillframe", expected=want_s), lambda o: stillframe_cmd(video, o, "sf.Interval(1)"), runs)
    )
    if device:
        rows.append(on_device(Row(task, f"stillframe device={device}", expected=want_s),
                              lambda o: stillframe_cmd(video, o, "sf.Interval(1)", device=device), runs))  # fmt: skip
    if have_ffmpeg:
        rows.append(
            run_row(
                Row(task, "ffmpeg fps=1 (one pass)", expected=want_s, note="fps filter rounds to the nearest tick"),
                lambda o: ffmpeg_fps_cmd(video, o, 1),
                runs,
            )
        )
    return [r for r in rows if r is not None]


def table(rows: list[Row]) -> str:
    lines = [
        "| task | tool | wall s (median) | vs stillframe | CPU s | peak RSS MB | frames right |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    base: dict[str, float] = {}
    for r in rows:
        if r.tool.startswith("stillframe"):
            base[r.task] = r.wall
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
    args = ap.parse_args()
    seconds, runs = (20, 1) if args.quick else (300, args.runs)
    rows = suite(seconds, runs, args.device)
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
