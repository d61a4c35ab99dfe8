"""Listing jobs by number (Huawei's ListThumbnailInfo: newest first, offset and limit,
optionally one asset's) on a store of 20,000 jobs, as the service did it before and
as it does it now, on SQLite and on PostgreSQL.

    python -m benchmarks.jobs_listing            # 20,000 jobs, median of 21 calls a cell
    python -m benchmarks.jobs_listing --quick    # the same store, median of 5
    python -m benchmarks.jobs_listing --out benchmarks/results   # the published figures

The results go to a new temporary folder unless --out names one.

- before: the whole jobs table read, newest first, then the asset filter and the page
  cut in Python (what list_thumbnails did once).
- after: JobService.find_snapshot_jobs: the filter, the order, the offset and the limit
  in SQL, and the total a COUNT; one asset's jobs read along the (input_media, seq)
  index.

"rows read" are the rows the store sent back to Python for one call. The jobs are
spread over 200 assets (100 each); the PostgreSQL server is started for the run as
tests/pg.py does (fsync off).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, select

from stillframe import __version__
from stillframe.jobs import JobService
from stillframe.jobs import store as t
from stillframe.jobs.config import config_from

JOBS = 20000
ASSETS = 200
# (name, asset filter, offset, limit): the first page, one asset's first page, a deep page.
CASES = [("first page", False, 0, 10), ("one asset", True, 0, 10), ("offset 10,000", False, 10000, 10)]


def fill(url: str, n: int) -> list[str]:
    """A store holding n finished jobs (ids in creation order) over ASSETS assets; returns the asset ids."""
    assets = [uuid.uuid4().hex for _ in range(ASSETS)]
    cfg = config_from({"Interval": 1, "Num": 3}).to_dict()
    now = time.time()
    rows = [
        dict(
            id=uuid.uuid4().hex,
            account=t.DEFAULT_ACCOUNT,
            type="Normal",
            trigger_source="API",
            input={"Type": "Media", "Media": assets[i % ASSETS]},
            input_media=assets[i % ASSETS],
            output={"Type": "File", "Media": f"/o/{i}/{{Count}}.jpg"},
            config=cfg,
            is_async=True,
            status="Success",
            count=3,
            result={"files": [], "times": [0.0, 1.0, 2.0]},
            create_time=now + i,
            submit_time=now + i,
            modified_time=now + i,
            finish_time=now + i,
            attempts=1,
            runs=1,
            snapshot_limit=20000,
        )
        for i in range(n)
    ]
    with JobService(url, workers=0) as svc, svc.engine.begin() as conn:
        for i in range(0, n, 2000):
            conn.execute(insert(t.jobs), rows[i : i + 2000])
    return assets


def before(svc: JobService, asset: str | None, offset: int, limit: int) -> tuple[int, int]:
    """The old listing: every row read, filtered and cut here; (total, rows read)."""
    with svc.engine.connect() as conn:
        rows = conn.execute(select(t.jobs).order_by(t.jobs.c.seq.desc())).all()
    read = len(rows)
    if asset is not None:
        rows = [r for r in rows if r.input.get("Media") == asset]
    page = rows[offset : offset + limit]
    assert len(page) <= limit
    return len(rows), read


def after(svc: JobService, asset: str | None, offset: int, limit: int) -> tuple[int, int]:
    """The listing now: find_snapshot_jobs; (total, rows read: the count's one and the page's)."""
    found = svc.find_snapshot_jobs(media=asset, offset=offset, limit=limit)
    return found.total, 1 + len(found.items)


def timed(call: Callable[[], tuple[int, int]], repeat: int) -> tuple[float, int, int]:
    """(median ms, total, rows read) of `repeat` calls, after one to warm the caches."""
    total, read = call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), total, read


def measure(name: str, url: str, n: int, repeat: int) -> dict:
    assets = fill(url, n)
    out: dict = {"store": name, "cases": []}
    with JobService(url, workers=0) as svc:
        for case, by_asset, offset, limit in CASES:
            asset = assets[7] if by_asset else None
            old = timed(functools.partial(before, svc, asset, offset, limit), repeat)
            new = timed(functools.partial(after, svc, asset, offset, limit), repeat)
            assert old[1] == new[1], (case, old, new)  # the same total both ways
            out["cases"].append(
                {
                    "case": case,
                    "total": new[1],
                    "before_ms": old[0],
                    "before_rows": old[2],
                    "after_ms": new[0],
                    "after_rows": new[2],
                }
            )
            print(
                f"{name:10} {case:14} before {old[0]:8.2f} ms {old[2]:6} rows   after {new[0]:7.2f} ms {new[2]:3} rows",
                flush=True,
            )
    return out


def table(header: str, stores: list[dict], skipped: list[str]) -> str:
    lines = [
        header,
        "",
        "| store | listing (limit 10) | matching | before: ms | before: rows read | after: ms | after: rows read |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for s in stores:
        for c in s["cases"]:
            lines.append(
                f"| {s['store']} | {c['case']} | {c['total']:,} | {c['before_ms']:.1f} | "
                f"{c['before_rows']:,} | {c['after_ms']:.2f} | {c['after_rows']} |"
            )
    lines += [f"\n{s}" for s in skipped]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="median of 5 calls a cell")
    ap.add_argument("--jobs", type=int, default=JOBS, help="jobs in the store (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=None, help="calls a cell, the median kept (default 21; quick 5)")
    ap.add_argument(
        "--out", type=Path, default=None, help="folder for jobs_listing.md and .json (default: a new temporary one)"
    )
    args = ap.parse_args()
    args.repeat = args.repeat or (5 if args.quick else 21)
    args.out = args.out or Path(tempfile.mkdtemp(prefix="stillframe-jobs-listing-"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests import pg  # the tests' own throwaway server

    stores, skipped, versions = [], [], [f"SQLite {sqlite3.sqlite_version}"]
    with tempfile.TemporaryDirectory() as tmp:
        stores.append(measure("SQLite", f"sqlite:///{tmp}/jobs.db", args.jobs, args.repeat))
        if pg.find_bindir() is None:
            skipped.append(f"PostgreSQL: {pg.MISSING}")
        else:
            with pg.running() as server:
                version = subprocess.run(
                    [str(server.bindir / "postgres"), "--version"], capture_output=True, text=True
                ).stdout.split()[2]
                versions.append(f"PostgreSQL {version} on loopback, fsync off")
                stores.append(measure("PostgreSQL", server.new_database(), args.jobs, args.repeat))
    header = (
        f"Run {time.strftime('%Y-%m-%d')}: stillframe {__version__}, {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} CPUs, {', '.join(versions)}; {args.jobs:,} jobs over {ASSETS} assets, "
        f"median of {args.repeat} calls."
    )
    text = table(header, stores, skipped)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "jobs_listing.md").write_text(text)
    (args.out / "jobs_listing.json").write_text(json.dumps({"header": header, "stores": stores}, indent=1) + "\n")
    print(text)
    print(f"written to {args.out}/jobs_listing.md and .json")


if __name__ == "__main__":
    main()
