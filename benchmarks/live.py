"""What a live snapshot job costs: CPU per job on one 1080p30 stream at a 5 s
interval, how many jobs one core holds, and the same job done by the ffmpeg CLI.

    python -m benchmarks.live                  # 60 s windows, 1 / 8 / 16 jobs
    python -m benchmarks.live --quick          # 15 s windows, 1 / 4 jobs

A local nginx-rtmp (Debian: nginx libnginx-mod-rtmp) carries a 1080p30 H.264 clip
(GOP 2 s, 2 B-frames, ~6 Mb/s) published in real time by a separate process, so
the publisher's CPU is not counted. stillframe's jobs run on one live supervisor in
this process; CPU is this process's user+system time over the window (every
thread: captures, store, notifier). nginx's own fan-out cost is shown apart. The
ffmpeg rows run one ffmpeg per job writing one JPEG every 5 s, the usual recipe
(`-vf fps=1/5 -update 1`), with and without `-skip_frame nokey` (the full-decode
row only up to 4 jobs: beyond that it saturates a small machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from stillframe import __version__, testsrc
from stillframe.jobs import JobService
from tests import livesrc

CACHE = Path(__file__).parent / ".cache"
INTERVAL = 5
TICK = os.sysconf("SC_CLK_TCK")


def clip(seconds: int) -> Path:
    path = CACHE / f"live-1080p30-gop60-{seconds}s.mp4"
    if not path.exists():
        print(f"generating {path.name} ({seconds} s of 1080p30)...", file=sys.stderr, flush=True)
        testsrc.make_video(
            path,
            frames=30 * seconds,
            size=(1920, 1080),
            fps=30,
            gop=60,
            bframes=2,
            options={"b": "6000k", "maxrate": "6000k", "bufsize": "12000k"},
        )
    return path


def proc_cpu(pid: int) -> float:
    """User + system seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def measure_stillframe(url: str, jobs: int, window: float, work: Path) -> dict:
    db = work / f"live-{jobs}.db"
    shots = 0
    lock = threading.Lock()

    def count(_: dict) -> None:
        nonlocal shots
        with lock:
            shots += 1

    with JobService(db, workers=0, live_job_limit=max(100, jobs)) as svc:
        svc.on_live_snapshot(count)
        stop = threading.Event()
        sup = svc.live_worker()
        runner = threading.Thread(target=sup.run_forever, args=(stop,), daemon=True)
        runner.start()
        tid = svc.create_live_snapshot_template("bench", INTERVAL)
        ids = [
            svc.submit_live_snapshot_job(
                f"job {i}", {"Url": url}, tid, {"StorageType": "local", "Bucket": str(work / f"out-{jobs}")}
            ).id
            for i in range(jobs)
        ]
        deadline = time.monotonic() + 30
        while any(svc.get_live_snapshot_job(j).sequence < 1 for j in ids):
            if time.monotonic() > deadline:
                raise SystemExit("live jobs did not start within 30 s")
            time.sleep(0.2)
        before, shots_before, wall0 = time.process_time(), shots, time.monotonic()
        time.sleep(window)
        cpu, wall = time.process_time() - before, time.monotonic() - wall0
        taken = shots - shots_before
        for j in ids:
            svc.send_live_snapshot_job_command(j, "stop")
        stop.set()
        runner.join()
    return {"cpu": cpu, "wall": wall, "snapshots": taken}


def measure_ffmpeg(url: str, jobs: int, window: float, work: Path, keyframes_only: bool) -> dict:
    procs = []
    for i in range(jobs):
        out = work / f"ffmpeg-{int(keyframes_only)}-{jobs}-{i}.jpg"
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error"]
        if keyframes_only:
            cmd += ["-skip_frame", "nokey"]
        cmd += ["-i", url, "-vf", f"fps=1/{INTERVAL}", "-q:v", "3", "-update", "1", "-y", str(out)]
        procs.append(subprocess.Popen(cmd))
    time.sleep(3)  # connected and past the probe
    before = sum(proc_cpu(p.pid) for p in procs)
    wall0 = time.monotonic()
    time.sleep(window)
    cpu, wall = sum(proc_cpu(p.pid) for p in procs) - before, time.monotonic() - wall0
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(10)
    return {"cpu": cpu, "wall": wall, "snapshots": None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--jobs", default=None, help="comma-separated job counts (default 1,8,16; quick 1,4)")
    ap.add_argument("--window", type=float, default=None, help="seconds measured per row (default 60; quick 15)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    counts = [int(x) for x in (args.jobs or ("1,4" if args.quick else "1,8,16")).split(",")]
    window = args.window or (15.0 if args.quick else 60.0)
    try:
        livesrc.find_nginx()
    except livesrc.RtmpUnavailable as exc:
        print(f"live benchmark skipped: {exc}")
        return
    video = clip(20 if args.quick else 60)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, livesrc.rtmp_server(Path(tmp) / "nginx") as server:
        work = Path(tmp)
        url = f"{server.url}/bench"
        publisher = subprocess.Popen(
            [sys.executable, "-c", f"from tests.livesrc import publish; publish({str(video)!r}, {url!r})"]
        )
        try:
            time.sleep(2)
            tools = [("stillframe (keyframe capture)", lambda n: measure_stillframe(url, n, window, work))]
            if shutil.which("ffmpeg"):
                tools += [
                    ("ffmpeg -vf fps=1/5 (decodes every frame)", lambda n: measure_ffmpeg(url, n, window, work, False)),
                    ("ffmpeg -skip_frame nokey -vf fps=1/5", lambda n: measure_ffmpeg(url, n, window, work, True)),
                ]
            for n in counts:
                for name, run in tools:
                    if "every frame" in name and n > 4:
                        continue  # a full decode per job: more than a few saturate this machine
                    nginx0 = proc_cpu(server.process.pid)
                    got = run(n)
                    got.update(tool=name, jobs=n, nginx_cpu=proc_cpu(server.process.pid) - nginx0)
                    got["per_job_pct"] = 100 * got["cpu"] / got["wall"] / n
                    rows.append(got)
                    print(
                        f"{name:45s} jobs={n:3d} cpu/job={got['per_job_pct']:.2f}% snapshots={got['snapshots']}",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            publisher.terminate()
            publisher.wait(10)
    header = (
        f"stillframe {__version__}, {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; 1080p30 H.264 ~6 Mb/s over nginx-rtmp, one JPEG every {INTERVAL} s, "
        f"{window:.0f} s windows"
    )
    lines = [
        header,
        "",
        "| tool | jobs | CPU per job | jobs per core | snapshots in window | nginx CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        per = r["per_job_pct"]
        lines.append(
            f"| {r['tool']} | {r['jobs']} | {per:.2f} % | {100 / per:.0f} | "
            f"{'' if r['snapshots'] is None else r['snapshots']} | {100 * r['nginx_cpu'] / r['wall']:.1f} % |"
        )
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"header": header, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
