"""Many short videos at once: a plain loop, the local process pool, a Dask cluster,
and Ray Data (stillframe's stage against Ray's own read_videos).

    python -m benchmarks.batch                      # 40 clips of 10 s, 30 snapshots each
    python -m benchmarks.batch --quick              # 8 clips of 4 s: CI's form, about a minute
    python -m benchmarks.batch --out benchmarks/results

The clips are generated (480x270 H.264, 30 fps, GOP 60, 2 B-frames, each frame
carrying its index as a barcode) and cached in benchmarks/.cache. Each video gets
30 snapshots spread evenly (sf.Quantity(30)), 320 px JPEGs at quality 85.

- loop: sf.snapshot one video after another, in this process.
- pool: snapshot_many on this machine's default pool (one process a core), pool
  start-up included; and the same with one decoder a snapshot (workers=1).
- dask: snapshot_many on a LocalCluster of 2 one-thread worker processes (start-up
  not included: a cluster outlives a batch). Dask's cost per video is measured
  twice: the same number of no-op tasks through the same submit/as_completed path,
  and a video's time in a worker outside sf.snapshot itself (wall x workers less
  the snapshots' own seconds, over the videos).
- split: one longer clip (120 s; 20 s quick) as a 10x10 sprite of one 160 px
  thumbnail a second plus a VTT track, by sf.snapshot and by snapshot_split over
  the 2 Dask workers: sheets and track must be byte-identical.
- Ray Data (ray.init(num_cpus=2), start-up not included), the frames as RGB arrays at
  full size: FrameExtractor (rows of (video, times) in, frames out, 2 actors), and
  ray.data.read_videos (decord: every frame decoded, then the wanted frame indices
  kept by a filter).

Every snapshot file must be byte-identical to the loop's; every frame returned
is checked by its barcode against the frame shown at its time ("right").
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

import stillframe as sf
from benchmarks.compare.videos import CACHE
from stillframe import testsrc
from stillframe.distributed import default_processes, snapshot_many, snapshot_split

WIDTH, QUALITY, COUNT, FPS = 320, 85, 30, 30
T = TypeVar("T")


@dataclass
class Row:
    run: str
    seconds: float
    videos: int
    frames: int
    right: str  # "identical" files, or frames right / frames
    note: str = ""

    @property
    def videos_per_s(self) -> float:
        return self.videos / self.seconds

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds


def make_clips(n: int, frames: int) -> list[Path]:
    folder = CACHE / "batch"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"clip{i:02d}-{frames}f.mp4"
        if not path.exists():
            print(f"generating {path.name} ...", file=sys.stderr, flush=True)
            testsrc.make_video(path, frames=frames, size=(480, 270), gop=60, bframes=2)
        out.append(path)
    return out


def files_of(items_or_results: list[Any]) -> dict[str, bytes]:
    out = {}
    for result in items_or_results:
        for f in result.files:
            out[os.path.join(Path(f).parent.name, Path(f).name)] = Path(f).read_bytes()
    return out


def identical(got: dict[str, bytes], ref: dict[str, bytes]) -> str:
    return "identical" if got == ref else f"{sum(got.get(k) == v for k, v in ref.items())}/{len(ref)} identical"


def expected_index(t: float) -> int:
    """The frame shown at t in a clip at FPS from 0 (the barcode's number)."""
    return math.floor(t * FPS + 1e-6)


def outside(wall: float, items: list[Any], workers: int) -> float:
    """Milliseconds a video spends in a worker slot but outside sf.snapshot itself
    (scheduling, transfer, start-up, a tail of idle slots), from the run's wall
    time and each snapshot's own seconds."""
    inside = sum(i.result.stats.seconds for i in items)
    return (wall * workers - inside) / len(items) * 1000


def timed(runs: int, fn: Callable[[], T]) -> tuple[float, T]:
    """The median wall time of `runs` calls, and the last call's value."""
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        value = fn()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls), value


def _noop(x: int) -> int:
    return x


def split_rows(client: Any, root: Path, workers: int, seconds: int, runs: int) -> list[Row]:
    """One longer clip as a 10x10 sprite of one thumbnail a second plus a VTT track:
    one process against its frames decoded over the cluster (snapshot_split)."""
    path = CACHE / "batch" / f"long-{seconds}s.mp4"
    if not path.exists():
        print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        testsrc.make_video(path, frames=seconds * FPS, size=(480, 270), gop=60, bframes=2)
    opts: dict[str, Any] = dict(width=160, sprite=sf.Sprite(10, 10, keep_cell_pic=False), overwrite=True)
    wall, one = timed(
        runs, lambda: sf.snapshot(path, sf.Interval(1), root / "one/{Count}.jpg", webvtt=root / "one/t.vtt", **opts)
    )
    rows = [Row(f"{seconds} s clip, sprite + VTT: sf.snapshot", wall, 1, one.count, "reference")]
    wall, got = timed(
        runs,
        lambda: snapshot_split(
            path,
            sf.Interval(1),
            root / "split/{Count}.jpg",
            webvtt=root / "split/t.vtt",
            client=client,
            parts=workers,
            progress=False,
            **opts,
        ),
    )
    same = [Path(f).read_bytes() for f in got.sprites] == [Path(f).read_bytes() for f in one.sprites]
    same = same and Path(got.webvtt or "").read_text() == Path(one.webvtt or "").read_text()
    rows.append(
        Row(
            f"{seconds} s clip, sprite + VTT: snapshot_split over {workers} Dask workers",
            wall,
            1,
            got.count,
            "identical" if same else "DIFFERENT",
        )
    )
    return rows


def snapshot_runs(
    clips: list[Path], root: Path, cluster_workers: int, long_seconds: int, runs: int
) -> tuple[list[Row], dict[str, float]]:
    plan = sf.Quantity(COUNT)
    template = str(root / "{run}/{{Name}}/{{Count}}.jpg")
    rows, extra = [], {}
    frames = len(clips) * COUNT

    wall, results = timed(
        runs,
        lambda: [
            sf.snapshot(c, plan, template.format(run="loop").replace("{Name}", c.stem), width=WIDTH, overwrite=True)
            for c in clips
        ],
    )
    rows.append(Row("loop of sf.snapshot", wall, len(clips), frames, "reference"))
    ref = files_of(results)

    variants: list[tuple[str, dict[str, Any]]] = [("", {}), (", workers=1 a snapshot", {"workers": 1})]
    for label, extra_opts in variants:
        out = template.format(run=f"pool{label}")
        wall, items = timed(
            runs, functools.partial(snapshot_many, clips, plan, out, width=WIDTH, overwrite=True, **extra_opts)
        )
        assert all(i.ok for i in items), [i.error for i in items if not i.ok]
        if not label:
            extra["pool_outside_snapshot_per_video_ms"] = outside(wall, items, default_processes())
        rows.append(
            Row(
                f"snapshot_many, local pool ({default_processes()} processes{label})",
                wall,
                len(clips),
                frames,
                identical(files_of([i.result for i in items]), ref),
                "pool start-up included",
            )
        )

    import distributed

    t0 = time.perf_counter()
    with (
        distributed.LocalCluster(
            n_workers=cluster_workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        extra["dask_cluster_start_s"] = time.perf_counter() - t0
        client.run(lambda: __import__("stillframe.distributed"))  # workers import once, as a running cluster has
        wall, items = timed(
            runs,
            lambda: snapshot_many(
                clips, plan, template.format(run="dask"), client=client, width=WIDTH, overwrite=True, progress=False
            ),
        )
        rows.append(
            Row(
                f"snapshot_many, Dask LocalCluster ({cluster_workers} workers x 1 thread)",
                wall,
                len(clips),
                frames,
                identical(files_of([i.result for i in items]), ref),
                "cluster start-up not included",
            )
        )
        rows += split_rows(client, root, cluster_workers, long_seconds, runs)
        started = time.perf_counter()
        futures = client.map(_noop, range(len(clips)), pure=False)
        for f in distributed.as_completed(futures):
            f.result()
        extra["dask_noop_task_ms"] = (time.perf_counter() - started) / len(clips) * 1000
    extra["dask_outside_snapshot_per_video_ms"] = outside(wall, items, cluster_workers)
    return rows, extra


def ray_runs(clips: list[Path], runs: int) -> tuple[list[Row], dict[str, float]]:
    import ray

    from stillframe.distributed.ray import FrameExtractor

    extra: dict[str, float] = {}
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    extra["ray_start_s"] = time.perf_counter() - t0
    ray.data.DataContext.get_current().enable_progress_bars = False
    rows = []
    try:
        with sf.open(clips[0]) as v:
            times = v.check_times(sf.Quantity(COUNT).resolve(v.info.duration).times)
        wanted = {expected_index(t) for t in times}
        n = len(clips) * len(times)

        ds = ray.data.from_items([{"video": str(c), "times": times} for c in clips], override_num_blocks=4)
        stage = ds.map_batches(FrameExtractor, compute=ray.data.ActorPoolStrategy(size=2), num_cpus=1, batch_size=2)
        wall, got = timed(runs, stage.take_all)
        ours = {(r["video"], r["requested_time"]): r["frame"] for r in got}
        right = sum(testsrc.read_index(f) == expected_index(t) for (_, t), f in ours.items())
        rows.append(
            Row(
                "Ray Data: stillframe FrameExtractor (2 actors), RGB frames", wall, len(clips), len(got), f"{right}/{n}"
            )
        )

        try:
            read = ray.data.read_videos([str(c) for c in clips], include_paths=True)
        except ImportError as exc:  # decord, from the bench extra
            rows.append(Row("Ray Data: ray.data.read_videos", math.nan, len(clips), 0, "-", f"unavailable: {exc}"))
            return rows, extra
        wall, kept = timed(runs, read.filter(lambda r: r["frame_index"] in wanted).take_all)
        theirs = {(r["path"], r["frame_index"]): r["frame"] for r in kept}
        right = sum(testsrc.read_index(f) == i for (_, i), f in theirs.items())
        diffs = [
            float(np.abs(ours[(str(c), t)].astype(np.int16) - theirs[(str(c), expected_index(t))]).mean())
            for c in clips
            for t in times
            if (str(c), expected_index(t)) in theirs
        ]
        rows.append(
            Row(
                "Ray Data: ray.data.read_videos + filter (decord), RGB frames",
                wall,
                len(clips),
                len(kept),
                f"{right}/{n}",
                f"mean abs diff from stillframe's frames {np.mean(diffs):.2f}",
            )
        )
    finally:
        ray.shutdown()
    return rows, extra


def markdown(header: str, rows: list[Row], extra: dict[str, float]) -> str:
    lines = [
        header,
        "",
        "| run | wall | videos/s | frames/s | right | note |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.run} | {r.seconds:.2f} s | {r.videos_per_s:.2f} | {r.frames_per_s:.1f} | {r.right} | {r.note} |"
        )
    lines += ["", "| measure | value |", "| --- | ---: |"]
    names = {
        "dask_noop_task_ms": "Dask: a no-op task through submit + as_completed, per task",
        "pool_outside_snapshot_per_video_ms": "local pool: a video's time in a process outside sf.snapshot "
        "(pool start-up shared out)",
        "dask_outside_snapshot_per_video_ms": "Dask: a video's time in a worker outside sf.snapshot",
        "dask_cluster_start_s": "Dask LocalCluster start (2 worker processes)",
        "ray_start_s": "ray.init(num_cpus=2)",
    }
    for key, label in names.items():
        if key in extra:
            unit = "ms" if key.endswith("_ms") else "s"
            lines.append(
                f"| {label} | {extra[key]:.1f} {unit} |" if unit == "ms" else f"| {label} | {extra[key]:.2f} s |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="8 clips of 4 s")
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--no-ray", action="store_true", help="leave out the Ray Data rows")
    ap.add_argument("--out", type=Path, default=None, help="write batch.md and batch.json here")
    ap.add_argument("--runs", type=int, default=3, help="median of this many runs a row (--quick: 1)")
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    n = args.clips or (8 if args.quick else 40)
    frames = 120 if args.quick else 300
    clips = make_clips(n, frames)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        rows, extra = snapshot_runs(clips, Path(tmp), 2, 20 if args.quick else 120, runs)
    if not args.no_ray:
        more, ray_extra = ray_runs(clips, runs)
        rows += more
        extra.update(ray_extra)
    header = (
        f"Run {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores: {n} clips of {frames / FPS:.0f} s (480x270 "
        f"H.264, GOP 60, 2 B-frames), {COUNT} snapshots each ({WIDTH} px JPEG q{QUALITY} for the snapshot runs; "
        f"full-size RGB arrays for Ray Data); median of {runs} run(s) a row; took {time.monotonic() - started:.0f} s."
    )
    md = markdown(header, rows, extra)
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        name = "batch-quick" if args.quick else "batch"
        (args.out / f"{name}.md").write_text(md)
        data = {
            "header": header,
            "rows": [{**asdict(r), "videos_per_s": r.videos_per_s, "frames_per_s": r.frames_per_s} for r in rows],
            "extra": extra,
        }
        (args.out / f"{name}.json").write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
