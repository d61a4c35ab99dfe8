"""Outputs into an object store, and what keeping a re-run's old files costs.

    python -m benchmarks.uploads                 # 300 snapshots of 320 px, 20 ms a request
    python -m benchmarks.uploads --quick         # 60 snapshots
    python -m benchmarks.uploads --out benchmarks/results

moto's S3 server on loopback behind the tests' fault-injecting proxy
(tests/s3proxy.py), which holds every request `--latency` seconds to stand for a
store across a network. The same snapshots each time (a 20 s clip, 320 px,
quality 85), every object checked byte for byte against a local run:

- local: sf.snapshot into an empty folder, then the same run again into the same
  names (each file it replaces hard-linked aside, the links dropped at commit).
- streamed: sf.snapshot straight into the bucket: each object put when it is
  complete, at most 8 in flight.
- staged: what jobs did before: sf.snapshot into a local folder, then each file
  uploaded (fs.put) one after another.
- faults: streamed, with a share of PUTs answered 503 SlowDown on their first
  try and as many reset part way through their body (twice: the HTTP client
  re-sends an idempotent request once by itself).
- re-run: streamed into names that hold objects (each copied aside on the
  server first, the copies deleted at commit).

Figures: wall seconds; requests and request-body bytes through the proxy; retries
and seconds waited between them; most uploads in flight; and each row against the
clean streamed row.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import stillframe as sf
from stillframe import testsrc


def _faults(rate: float):
    def fault(method: str, path: str, attempt: int) -> str | float | None:
        if method == "PUT" and ".keep" not in path and "stillframe-check" not in path:
            pick = zlib.crc32(path.encode()) % 1000 / 1000
            if pick < rate and attempt == 1:
                return "503"
            if rate <= pick < 2 * rate and attempt <= 2:
                return "reset"
        return None

    return fault


def _runs(clip: Path, root: Path, quick: bool, latency: float, proxy: Any) -> list[dict[str, Any]]:
    """Every row, against the bucket behind `proxy`."""
    import fsspec

    sampling = sf.Interval(clip_seconds(quick) / (60 if quick else 300))
    opts: dict[str, Any] = dict(width=320, quality=85, overwrite=True)  # the re-runs replace what is there
    storage = {"endpoint_url": proxy.url, "key": "testing", "secret": "testing"}
    fs = fsspec.filesystem("s3", **storage, skip_instance_cache=True)
    fs.mkdir("bench")
    rows: list[dict[str, Any]] = []

    def timed(name: str, run, faults: float = 0.0) -> None:
        chosen = _faults(faults) if faults else (lambda m, p, a: None)
        proxy.fault = lambda m, p, a: chosen(m, p, a) or latency
        proxy.reset_counts()
        started = time.perf_counter()
        result = run()
        row = {
            "row": name,
            "seconds": round(time.perf_counter() - started, 3),
            "requests": proxy.requests,
            "bytes_sent": proxy.bytes_in,
            "faults": dict(proxy.faults),
            "writes": result.writes,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    def into(prefix: str):
        return lambda: sf.snapshot(
            clip, sampling, f"s3://bench/{prefix}/{{Count}}.jpg", storage_options=storage, **opts
        )

    def check(prefix: str) -> None:
        ref = {p.name: p.read_bytes() for p in (root / "local").iterdir()}
        got = {k.rsplit("/", 1)[1]: fs.cat_file(k) for k in fs.find(f"bench/{prefix}")}
        assert got == ref, f"{prefix}: the objects differ from the local run"

    def staged() -> Any:
        result = sf.snapshot(clip, sampling, root / "staged/{Count}.jpg", **opts)
        for f in result.files:
            fs.put(f, f"bench/staged/{Path(f).name}")
        return result

    local = root / "local/{Count}.jpg"
    timed("local, empty folder", lambda: sf.snapshot(clip, sampling, local, **opts))
    timed("local, re-run into the same names", lambda: sf.snapshot(clip, sampling, local, **opts))
    timed("streamed into the bucket", into("streamed"))
    check("streamed")
    timed("staged locally, then uploaded one by one", staged)
    check("staged")
    for rate in (0.05, 0.2):
        timed(f"streamed, {rate:.0%} of PUTs 503 once and {rate:.0%} reset twice", into(f"f{rate}"), faults=rate)
        check(f"f{rate}")
    timed("streamed re-run into the same names (copies aside, deleted at commit)", into("streamed"))
    check("streamed")
    return rows


def clip_seconds(quick: bool) -> int:
    return 4 if quick else 20


def _table(rows: list[dict[str, Any]]) -> str:
    clean = next(r for r in rows if r["row"] == "streamed into the bucket")
    lines = [
        "| run | s | x clean | requests | request bytes | x clean | retries | backoff s | max in flight |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        store = r["writes"].get("s3", {})
        lines.append(
            f"| {r['row']} | {r['seconds']:.2f} | {r['seconds'] / clean['seconds']:.2f} | {r['requests']} | "
            f"{r['bytes_sent']:,} | {r['bytes_sent'] / clean['bytes_sent']:.3f} | {store.get('retries', '')} | "
            f"{store.get('retry_wait', '')} | {store.get('max_in_flight', '')} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="60 snapshots instead of 300")
    ap.add_argument("--latency", type=float, default=0.02, help="seconds each request is held (default 0.02)")
    ap.add_argument("--out", type=Path, help="write uploads.json and uploads.md here")
    args = ap.parse_args()

    from moto.server import ThreadedMotoServer

    from tests.s3proxy import FaultProxy  # the tests' own proxy

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="stillframe-uploads-") as tmp:
            root = Path(tmp)
            frames = 30 * clip_seconds(args.quick)
            clip = testsrc.make_video(root / "clip.mp4", frames=frames, size=(640, 360), gop=60, bframes=2)
            host, port = server.get_host_and_port()
            with FaultProxy(f"http://{host}:{port}") as proxy:
                rows = _runs(clip, root, args.quick, args.latency, proxy)
    finally:
        server.stop()
    table = _table(rows)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "uploads.json").write_text(json.dumps(rows, indent=2))
        (args.out / "uploads.md").write_text(f"latency {args.latency} s a request\n\n{table}\n")


if __name__ == "__main__":
    main()
