"""What `stillframe serve` costs on top of JobService, measured through the official
Alibaba ICE and MPS SDKs on loopback.

    python -m benchmarks.serve            # 2,000 calls a row, to a new temporary folder
    python -m benchmarks.serve --quick    # 200 calls a row: under half a minute
    python -m benchmarks.serve --out benchmarks/results/serve.md   # the published figures

The server is `stillframe serve` in its own process (request log on, to /dev/null);
the clients are threads of this one.

1. Reads: GetSnapshotJob and ListSnapshotJobs (PageSize 20 over 200 jobs) through the
   ICE SDK (ACS3-HMAC-SHA256 signed), 1 and 16 client threads, each with its own
   client (the SDK pools connections per host): calls per second, p50 and p99 ms.
2. A synchronous one-snapshot MPS SubmitSnapshotJob over HTTP against the same job
   submitted to JobService in process: the difference is what the HTTP layer adds
   (signing, verification, the nonce check, JSON, name mapping, a loopback round trip).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

from alibabacloud_ice20201109 import models as ice_models
from alibabacloud_ice20201109.client import Client as IceClient
from alibabacloud_mts20140618 import models as mts_models
from alibabacloud_mts20140618.client import Client as MtsClient
from alibabacloud_tea_openapi.models import Config

from stillframe import __version__, testsrc
from stillframe.jobs import JobService

AK, SK = "bench-key", "bench-secret"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def clients(endpoint: str, make: Callable[[Config], object], n: int) -> list:
    return [make(Config(access_key_id=AK, access_key_secret=SK, endpoint=endpoint, protocol="http")) for _ in range(n)]


def hammer(call: Callable[[object], None], pool: list, total: int) -> tuple[float, list[float]]:
    """(calls per second, latencies in ms) for `total` calls spread over the pool's threads."""
    each = total // len(pool)
    latencies: list[list[float]] = [[] for _ in pool]

    def work(i: int) -> None:
        for _ in range(each):
            t0 = time.perf_counter()
            call(pool[i])
            latencies[i].append((time.perf_counter() - t0) * 1000)

    for client in pool:  # warm: the connection, the SDK's first-call imports
        call(client)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(pool))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    flat = [x for xs in latencies for x in xs]
    return len(flat) / wall, flat


def reads(endpoint: str, job_id: str, calls: int) -> list[tuple[str, int, float, float, float]]:
    rows = []
    ops: dict[str, Callable[[object], None]] = {
        "GetSnapshotJob": lambda c: c.get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id=job_id)),  # type: ignore[attr-defined]
        "ListSnapshotJobs": lambda c: c.list_snapshot_jobs(ice_models.ListSnapshotJobsRequest(page_size=20)),  # type: ignore[attr-defined]
    }
    for name, op in ops.items():
        for threads in (1, 16):
            rate, lat = hammer(op, clients(endpoint, IceClient, threads), calls)
            rows.append((name, threads, rate, statistics.median(lat), percentile(lat, 0.99)))
    return rows


def sync_cost(endpoint: str, svc: JobService, root: Path, runs: int) -> tuple[float, float]:
    """Median ms of a synchronous one-snapshot job: in process, then through the MPS SDK."""
    cfg = {"Time": "500", "FrameType": "normal", "Width": "160"}
    local, remote = [], []
    client = clients(endpoint, MtsClient, 1)[0]
    source = json.dumps({"Bucket": "media", "Location": "local", "Object": "clip.mp4"})
    for i in range(runs):
        t0 = time.perf_counter()
        svc.submit_snapshot_job(str(root / "media/clip.mp4"), str(root / f"out/l{i}.jpg"), cfg)
        local.append((time.perf_counter() - t0) * 1000)
        out = json.dumps({"OutputFile": {"Bucket": "out", "Location": "local", "Object": f"r{i}.jpg"}, **cfg})
        t0 = time.perf_counter()
        job = client.submit_snapshot_job(mts_models.SubmitSnapshotJobRequest(input=source, snapshot_config=out))
        remote.append((time.perf_counter() - t0) * 1000)
        assert job.body.snapshot_job.state == "Success"
    return statistics.median(local), statistics.median(remote)


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """`stillframe serve` on a free loopback port; yields host:port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "stillframe",
        "serve",
        "--port",
        str(port),
        "--store",
        str(root / "jobs.db"),
        "--access-key",
        f"{AK}:{SK}",
        "--bucket",
        f"media={root / 'media'}",
        "--bucket",
        f"out={root / 'out'}",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("stillframe serve did not start") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 calls a row, 20 synchronous jobs")
    ap.add_argument("--calls", type=int, default=None, help="calls a row (default 2000; 200 with --quick)")
    out_help = "file for the table (default: serve.md in a new temporary folder; benchmarks/results has the published)"
    ap.add_argument("--out", type=Path, default=None, help=out_help)
    args = ap.parse_args()
    calls = args.calls or (200 if args.quick else 2000)
    runs = 20 if args.quick else 100
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "media").mkdir()
        (root / "out").mkdir()
        testsrc.make_video(root / "media/clip.mp4", frames=60, size=(320, 180), gop=30, bframes=2)
        with JobService(root / "jobs.db", workers=0) as svc:  # history for the list to page over
            first = svc.submit_snapshot_job(str(root / "media/clip.mp4"), str(root / "out/first.jpg"), {"Time": "0"})
            for i in range(199):
                svc.submit_snapshot_job(str(root / "media/clip.mp4"), str(root / f"out/h{i}.jpg"), {"Time": "0"})
        with serve(root) as endpoint, JobService(root / "local.db", workers=0) as local_svc:
            rows = reads(endpoint, first.id, calls)
            local, remote = sync_cost(endpoint, local_svc, root, runs)
    took = time.perf_counter() - began
    lines = [
        f"Run {date.today()}: stillframe {__version__}, {platform.machine()}, {os.cpu_count()} CPUs shared by the "
        f"server process and the clients (loopback); {calls} calls a row; took {took:.0f} s. `python -m benchmarks.serve"
        f"{' --quick' if args.quick else ''}`.",
        "",
        "| call (ICE SDK, ACS3 signed) | client threads | calls/s | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {n} | {t} | {r:.0f} | {p50:.2f} | {p99:.2f} |" for n, t, r, p50, p99 in rows],
        "",
        "| synchronous one-snapshot job (median of " + str(runs) + ") | ms |",
        "| --- | ---: |",
        f"| JobService.submit_snapshot_job in process | {local:.1f} |",
        f"| MPS SubmitSnapshotJob through the SDK and `stillframe serve` | {remote:.1f} |",
        f"| added by the HTTP layer | {remote - local:.1f} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    # Never the tracked results unless asked: any run would rewrite them.
    out = args.out or Path(tempfile.mkdtemp(prefix="stillframe-serve-")) / "serve.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
