"""The 40-video batch on a cluster of network namespaces (tests/cluster.py): one
worker host against two, every input and output in the S3 server, and two hosts
with the store misbehaving. Needs root (the hosts are `ip netns` namespaces).

    python -m benchmarks.cluster                # 40 clips, median of 3 runs a row
    python -m benchmarks.cluster --quick        # 12 clips, one run a row: well under a minute
    python -m benchmarks.cluster --out benchmarks/results

The clips are tests/cluster.py's batch (short clips of three shapes, some with
B-frames), 4 snapshots each at 96 px on a 2x2 sheet with a WebVTT track, read
from s3://media/ and written to s3://out/ by the Dask workers.

- local: snapshot_many's process pool on this machine's own files (2 processes),
  no cluster: the reference every other row is checked against, byte for byte.
- one worker host: the second host's Dask worker stopped.
- two worker hosts: a Dask worker of one thread on each.
- two hosts, store misbehaving: the proxy in front of the S3 server answers 3 %
  of requests 503 SlowDown, cuts 6 % of GETs half way through the answer and
  resets 6 % of PUTs part way through the upload, and delays the rest 5 ms.

Figures: wall seconds from the client's submit to the last result (the
cluster's start not included; a warm-up batch first), videos/s, requests and
body bytes through the S3 server (counted at the proxy in front of it: uploads
up, range reads and listings down), the uploads' retries, and each row against
two clean hosts. Every host shares this machine's cores: two worker hosts of
one thread each use two of them, as the local pool does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import stillframe as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster import Cluster, batch_clips, dask_workers, run_batch  # noqa: E402 - the tests' own cluster
from tests.netns import unavailable  # noqa: E402
from tests.s3proxy import shares  # noqa: E402

SAMPLING = sf.Interval(0.25)
OPTIONS: dict[str, Any] = dict(width=96, quality=80, sprite=sf.Sprite(columns=2, lines=2))
FAULTS = dict(latency=0.005, slow_down=0.03, cut=0.06, reset=0.06, seed=3)


def local_run(clips: list[Path], root: Path) -> tuple[float, dict[str, bytes]]:
    from stillframe.distributed import snapshot_many

    started = time.perf_counter()
    items = snapshot_many(
        clips,
        SAMPLING,
        root / "{Name}/{Count}.jpg",
        webvtt=root / "{Name}/thumbs.vtt",
        processes=2,
        progress=False,
        **OPTIONS,
    )
    took = time.perf_counter() - started
    assert all(item.ok for item in items)
    return took, {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cluster_run(cluster: Cluster, names: list[str], prefix: str, expected: dict[str, bytes]) -> dict[str, Any]:
    """One batch into s3://out/PREFIX/, checked against the local run."""
    cluster.proxy.reset_counts()
    out = f"s3://out/{prefix}/{{Name}}"
    got = cluster.dask(
        run_batch,
        cluster.scheduler_address,
        [f"s3://media/batch/{n}" for n in names],
        SAMPLING,
        f"{out}/{{Count}}.jpg",
        dict(OPTIONS, webvtt=f"{out}/thumbs.vtt"),
        cluster.storage_options,
    ).result(timeout=600)
    proxy = cluster.proxy
    row = {
        "seconds": got["seconds"],
        "requests": proxy.requests,
        "bytes_up": proxy.bytes_in,
        "bytes_down": proxy.bytes_out,
        "faults": dict(proxy.faults),
        "retries": sum(i["result"]["writes"]["s3"]["retries"] for i in got["items"] if i["ok"]),
        "busy": got["busy"],
        "methods": {},
    }
    for (method, _), n in proxy.seen.items():
        row["methods"][method] = row["methods"].get(method, 0) + n
    stored = cluster.objects("out", f"{prefix}/")
    row["identical"] = (
        all(i["ok"] for i in got["items"]) and {k[len(prefix) + 1 :]: v for k, v in stored.items()} == expected
    )
    return row


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    mid = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {**mid, "runs": runs, "identical": all(r["identical"] for r in runs)}


def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    clips = batch_clips(root / "clips", args.videos)
    names = [p.name for p in clips]
    local_s, expected = local_run(clips, root / "local")
    rows: dict[str, Any] = {"local": {"seconds": local_s, "identical": True}}
    with Cluster(root / "cluster") as cluster:
        cluster.upload({f"media/batch/{p.name}": p for p in clips})
        warm = {Path(n).stem for n in names[:4]}  # the workers import the engine on their first video
        cluster_run(cluster, names[:4], "warm", {k: v for k, v in expected.items() if k.split("/")[0] in warm})
        rows["two worker hosts"] = median(
            [cluster_run(cluster, names, f"two{r}", expected) for r in range(args.repeat)]
        )
        cluster.proxy.fault = shares(**FAULTS)  # type: ignore[arg-type]
        rows["two hosts, store misbehaving"] = median(
            [cluster_run(cluster, names, f"flaky{r}", expected) for r in range(args.repeat)]
        )
        cluster.proxy.fault = lambda method, path, attempt: None
        cluster.workers[1].stop("dask")
        while len(cluster.dask(dask_workers, cluster.scheduler_address).result()) > 1:
            time.sleep(0.1)
        rows["one worker host"] = median([cluster_run(cluster, names, f"one{r}", expected) for r in range(args.repeat)])
    return rows


def table(rows: dict[str, Any], videos: int) -> str:
    two = rows["two worker hosts"]
    lines = [
        "| run | wall | videos/s | x two hosts | requests | bytes up | bytes down | x two hosts (bytes) "
        "| upload retries | identical |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in ("local", "one worker host", "two worker hosts", "two hosts, store misbehaving"):
        r = rows[name]
        cells = ["", "", "", "", ""]
        if "requests" in r:
            moved, clean = r["bytes_up"] + r["bytes_down"], two["bytes_up"] + two["bytes_down"]
            cells = [
                f"{r['requests']:,}",
                f"{r['bytes_up']:,}",
                f"{r['bytes_down']:,}",
                f"{moved / clean:.3f}",
                f"{r['retries']}",
            ]
        lines.append(
            f"| {name} | {r['seconds']:.2f} s | {videos / r['seconds']:.1f} | {r['seconds'] / two['seconds']:.2f} "
            f"| {' | '.join(cells)} | {'yes' if r['identical'] else 'NO'} |"
        )
    faults = rows["two hosts, store misbehaving"]["faults"]
    per_video = ", ".join(f"{n / videos:.1f} {m}" for m, n in sorted(two["methods"].items(), key=lambda x: -x[1]))
    made = ", ".join(f"{v} {k}" for k, v in sorted(faults.items()))
    lines += [
        "",
        f"Requests a video, two clean hosts: {per_video} (a listing is a GET of the bucket).",
        "",
        f"Faults made in the misbehaving row: {made}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="12 clips, one run a row")
    ap.add_argument("--videos", type=int, default=None, help="clips in the batch (default 40; quick 12)")
    ap.add_argument("--repeat", type=int, default=None, help="runs a row, the median kept (default 3; quick 1)")
    ap.add_argument("--out", type=Path, help="write cluster.json and cluster.md here")
    args = ap.parse_args()
    args.videos = args.videos or (12 if args.quick else 40)
    args.repeat = args.repeat or (1 if args.quick else 3)
    reason = unavailable()
    if reason:
        sys.exit(f"benchmarks.cluster: {reason}")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stillframe-cluster-") as tmp:
        rows = measure(args, Path(tmp))
    header = (
        f"Run {time.strftime('%Y-%m-%d')} on {len(os.sched_getaffinity(0))} shared cores: "
        f"{args.videos} clips, 4 snapshots each (96 px, a 2x2 sheet, a WebVTT track); median of {args.repeat} "
        f"run(s) a row; took {time.perf_counter() - began:.0f} s. `python -m benchmarks.cluster`."
    )
    text = f"{header}\n\n{table(rows, args.videos)}"
    print(text)
    if not all(r["identical"] for r in rows.values()):
        sys.exit("benchmarks.cluster: a run's objects differ from the local run's files")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cluster.json").write_text(json.dumps({"header": header, "rows": rows}, indent=1) + "\n")
        (args.out / "cluster.md").write_text(text)


if __name__ == "__main__":
    main()
