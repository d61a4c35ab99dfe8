"""Job throughput and the store's own cost per job.

    python -m benchmarks.jobs             # 500 jobs
    python -m benchmarks.jobs --jobs 100  # quicker

1. Throughput: N one-snapshot async jobs on tiny generated clips, run by a
   JobService with 2 worker threads on an SQLite store: jobs per second from the
   first submit to the last finish.
2. Bookkeeping: N jobs submitted, then run by one worker with the snapshot itself
   replaced by a no-op, so what is timed is the store's work: submit, claim,
   lease, finish and notify queueing, in ms per job.
3. By kind: what one worker thread gets through of each kind of job on a 30 s
   640x360 clip (GOP 2 s, B-frames), queued, then run by a JobService with one
   worker thread: one exact frame; ten exact frames; ten keyframes (MPS's
   default); a 10x10 sprite sheet of 100 thumbnails; a WebVTT track of 100 cues
   on its sheets. jobs/s a thread; a host runs about one thread a core.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock

from stillframe import testsrc
from stillframe.jobs import JobService
from stillframe.jobs.config import SnapshotConfig
from stillframe.sampling import Interval, Quantity
from stillframe.sprites import Sprite

ONE_ASYNC = {"Interval": 1, "Num": 1, "FrameType": "normal"}


def throughput(n: int, root: Path, clips: list[str]) -> float:
    with JobService(root / "real.db", workers=2) as svc:
        started = time.perf_counter()
        ids = [
            svc.submit_snapshot_job(clips[i % len(clips)], str(root / f"out/{i}/{{Count}}.jpg"), ONE_ASYNC).id
            for i in range(n)
        ]
        for job_id in ids:
            job = svc.wait(job_id, timeout=600, poll=0.01)
            assert job.status == "Success", job.message
        return time.perf_counter() - started


def bookkeeping(n: int, root: Path, clips: list[str]) -> tuple[float, float]:
    """(submit, claim + run + finish) seconds for n jobs whose snapshot is a no-op."""
    noop = mock.patch("stillframe.jobs.worker.run_job", lambda *a, **k: {"count": 1, "tile_count": 0, "files": []})
    store = root / "noop.db"
    with JobService(store, workers=0) as svc:
        started = time.perf_counter()
        for i in range(n):
            svc.submit_snapshot_job(clips[i % len(clips)], str(root / f"o/{i}/{{Count}}.jpg"), ONE_ASYNC)
        submit = time.perf_counter() - started
    with noop, JobService(store, workers=0) as svc:
        started = time.perf_counter()
        while svc.runner.run_once():
            pass
        drain = time.perf_counter() - started
    return submit, drain


KINDS = {
    "Normal, 1 exact frame": (SnapshotConfig(Interval(1, start=12, count=1), width=480), "{Count}.jpg"),
    "Normal, 10 exact frames": (SnapshotConfig(Interval(3, count=10), width=480), "{Count}.jpg"),
    "Normal, 10 keyframes": (SnapshotConfig(Interval(3, count=10), frame_type="intra", width=480), "{Count}.jpg"),
    "Sprite, 10x10 of 100": (
        SnapshotConfig(Quantity(100), type="Sprite", sprite=Sprite(10, 10), width=160),
        "sprite-{TileCount}.jpg",
    ),
    "WebVtt, 100 cues on sheets": (
        SnapshotConfig(Quantity(100), type="WebVtt", sprite=Sprite(10, 10), is_spt_frag=True, width=160),
        "thumbs.vtt",
    ),
}


def by_kind(n: int, root: Path) -> dict[str, float]:
    """jobs/s of one worker thread for each kind: n jobs queued, then released."""
    clip = str(testsrc.make_video(root / "kinds.mp4", frames=900, size=(640, 360), gop=60, bframes=2))
    rates = {}
    for k, (name, (config, out)) in enumerate(KINDS.items()):
        store = root / f"kind{k}.db"
        with JobService(store, workers=0) as svc:
            ids = [svc.submit_snapshot_job(clip, str(root / f"k{k}/{i}/{out}"), config).id for i in range(n)]
        with JobService(store, workers=1) as svc:
            started = time.perf_counter()
            for job_id in ids:
                job = svc.wait(job_id, timeout=600, poll=0.01)
                assert job.status == "Success", job.message
            rates[name] = n / (time.perf_counter() - started)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clips = [
            str(testsrc.make_video(root / f"tiny{i}.mp4", frames=30, size=(160, 90), gop=10, bframes=2))
            for i in range(5)
        ]
        real = throughput(args.jobs, root, clips)
        submit, drain = bookkeeping(args.jobs, root, clips)
        kinds = by_kind(max(3, args.jobs // 25), root)
    print("| measure | value |")
    print("| --- | ---: |")
    print(f"| {args.jobs} one-snapshot jobs, 2 workers, wall | {real:.2f} s |")
    print(f"| jobs per second | {args.jobs / real:.1f} |")
    print(f"| store: submit, per job | {submit / args.jobs * 1000:.2f} ms |")
    print(f"| store: claim + lease + finish + notify, per job (no-op snapshot) | {drain / args.jobs * 1000:.2f} ms |")
    print(f"| store bookkeeping per job, total | {(submit + drain) / args.jobs * 1000:.2f} ms |")
    print()
    print("| job kind (30 s 640x360 clip), one worker thread | jobs/s |")
    print("| --- | ---: |")
    for name, rate in kinds.items():
        print(f"| {name} | {rate:.2f} |")


if __name__ == "__main__":
    main()
