"""Job throughput on SQLite and on PostgreSQL with 1, 2 and 4 `stillframe worker`
processes, and what the store costs per job.

    python -m benchmarks.jobs_stores            # 400 real and 2000 no-op jobs a row
    python -m benchmarks.jobs_stores --quick    # 60 and 300: under a minute

Every row starts from an empty store holding N queued one-snapshot jobs (a new
SQLite file in WAL mode; a new database on a PostgreSQL server started for the run
as tests/pg.py does, fsync off), held back until K `stillframe worker` processes
all poll the store, then released at once.

- real: one exact frame of a tiny generated clip (160x90) to a JPEG per job.
- no-op: the same jobs with the snapshot replaced by a no-op inside each worker,
  so what remains is the store's work: claim, lease, finish, notify queueing.

jobs/s and wall count from the release to the last finish the store recorded.
"store ms/job" is worker time per no-op job (K / jobs/s): the store's cost, with
what contention adds as K grows (and, past the machine's cores, the wait for a
CPU). Submit ms/job is one JobService in this process queueing the N jobs. Each cell is the
median of --repeat runs, every run kept in the JSON.

A last table times claim + finish in this process with 200 and 20000 jobs queued:
a claim reads the oldest few queued jobs along the (status, seq) index, so its cost
should not grow with the backlog.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, insert, select, update

from stillframe import __version__, testsrc
from stillframe.jobs import JobService
from stillframe.jobs import store as t
from stillframe.jobs.store import live_workers

ONE = {"Interval": 1, "Num": 1, "FrameType": "normal"}
WORKERS = (1, 2, 4)
RESULTS = Path(__file__).parent / "results"
# A worker whose snapshot does nothing: the store's share of a job, alone.
NOOP = (
    "import sys; from unittest import mock; from stillframe import cli; "
    "mock.patch('stillframe.jobs.worker.run_job', lambda *a, **k: {'count': 1, 'tile_count': 0, 'files': []}).start(); "
    "sys.exit(cli.main(sys.argv[1:]))"
)


def queue(url: str, n: int, clips: list[str], out: Path) -> float:
    """Queue n jobs, held back until drain() releases them; seconds per submit."""
    with JobService(url, workers=0) as svc:
        started = time.perf_counter()
        for i in range(n):
            svc.submit_snapshot_job(clips[i % len(clips)], str(out / f"{i}/{{Count}}.jpg"), ONE)
        took = (time.perf_counter() - started) / n
        # Held as if claimed under a lease that never ends, then queued again all at once
        # by drain(): K workers that start a second apart meet the same full queue.
        with svc.engine.begin() as conn:
            conn.execute(update(t.jobs).values(status="Processing", claimed_by="held", lease_until=1e18))
    return took


def drain(url: str, n: int, k: int, noop: bool) -> dict[str, float]:
    """Start k workers, wait until each polls the store, release the queue: jobs/s
    from the release to the last finish."""
    head = [sys.executable, "-c", NOOP] if noop else [sys.executable, "-m", "stillframe"]
    procs = [
        subprocess.Popen([*head, "worker", "--store", url, "--no-live"], stdout=subprocess.DEVNULL) for _ in range(k)
    ]
    try:
        with JobService(url, workers=0) as svc:
            deadline = time.monotonic() + 60
            while live_workers(svc.engine) < k:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError("the workers did not start")
                time.sleep(0.05)
            released = time.time()
            with svc.engine.begin() as conn:
                conn.execute(
                    update(t.jobs).where(t.jobs.c.claimed_by == "held").values(status="Init", claimed_by=None,
                                                                                 lease_until=None)
                )  # fmt: skip
            finished = select(func.count()).where(t.jobs.c.status.in_(("Success", "Fail")))
            while True:
                with svc.engine.connect() as conn:
                    if conn.execute(finished).scalar() == n:
                        break
                time.sleep(0.02)
            with svc.engine.connect() as conn:
                ok, last, runs = conn.execute(
                    select(func.count().filter(t.jobs.c.status == "Success"), func.max(t.jobs.c.finish_time),
                           func.sum(t.jobs.c.runs))
                ).one()  # fmt: skip
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    if ok != n or runs != n:
        raise RuntimeError(f"{ok} of {n} jobs succeeded in {runs} runs")
    return {"wall_s": last - released, "jobs_per_s": n / (last - released)}


def backlog_cost(url: str, backlog: int, claims: int = 200) -> float:
    """ms per claim + finish with `backlog` jobs queued, by one runner in this process,
    the snapshot left out. The backlog is copies of one submitted job's row."""
    with JobService(url, workers=0) as svc:
        svc.submit_snapshot_job("/none.mp4", "/none/{Count}.jpg", ONE)
        with svc.engine.begin() as conn:
            proto = dict(conn.execute(select(t.jobs)).one()._mapping)
            del proto["seq"]
            conn.execute(insert(t.jobs), [{**proto, "id": uuid.uuid4().hex} for _ in range(backlog - 1)])
        runner = svc.runner
        started = time.perf_counter()
        for _ in range(claims):
            runner.finish(runner.claim().id, "Success", None, None, {"count": 1})
        return (time.perf_counter() - started) / claims * 1000


def measure(name: str, new_store: Callable[[], str], args: argparse.Namespace, root: Path, clips: list[str]) -> dict:
    rows = []
    for k in WORKERS:
        row: dict = {"store": name, "workers": k}
        for kind, n in (("real", args.jobs), ("noop", args.noop_jobs)):
            runs = []
            for r in range(args.repeat):
                url = new_store()
                submit = queue(url, n, clips, root / f"{name}-{k}-{kind}-{r}")
                runs.append({"jobs": n, "submit_ms": submit * 1000, **drain(url, n, k, kind == "noop")})
                print(f"{name} {k} {kind}: {runs[-1]}", file=sys.stderr, flush=True)
            row[kind] = {**sorted(runs, key=lambda x: x["jobs_per_s"])[len(runs) // 2], "runs": runs}
        row["store_ms_per_job"] = k * 1000 / row["noop"]["jobs_per_s"]
        rows.append(row)
    backlog = {str(b): backlog_cost(new_store(), b) for b in args.backlogs}
    print(f"{name} backlog: {backlog}", file=sys.stderr, flush=True)
    return {"store": name, "rows": rows, "backlog_ms": backlog}


def table(stores: list[dict], header: str, skipped: list[str], backlogs: list[int]) -> str:
    lines = [
        header,
        "",
        "| store | workers | real jobs/s | real wall | no-op jobs/s | no-op wall | store ms/job (worker time) "
        "| submit ms/job |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in (r for st in stores for r in st["rows"]):
        lines.append(
            f"| {r['store']} | {r['workers']} | {r['real']['jobs_per_s']:.1f} | {r['real']['wall_s']:.1f} s "
            f"| {r['noop']['jobs_per_s']:.0f} | {r['noop']['wall_s']:.1f} s | {r['store_ms_per_job']:.2f} "
            f"| {r['noop']['submit_ms']:.2f} |"
        )
    lines += [
        "",
        "Store cost by backlog: ms per claim + finish, one runner in one process, no snapshot.",
        "",
        "| store | " + " | ".join(f"{b} queued" for b in backlogs) + " |",
        "| --- |" + " ---: |" * len(backlogs),
    ]
    for st in stores:
        lines.append(f"| {st['store']} | " + " | ".join(f"{st['backlog_ms'][str(b)]:.2f}" for b in backlogs) + " |")
    lines += [""] + [f"Not run: {s}" for s in skipped]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="60 real and 300 no-op jobs a row")
    ap.add_argument("--jobs", type=int, default=None, help="real jobs a row (default 400)")
    ap.add_argument("--noop-jobs", type=int, default=None, help="no-op jobs a row (default 2000)")
    ap.add_argument("--repeat", type=int, default=None, help="runs a cell, the median kept (default 3; quick 1)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for jobs_stores.md and .json")
    args = ap.parse_args()
    args.jobs = args.jobs or (60 if args.quick else 400)
    args.noop_jobs = args.noop_jobs or (300 if args.quick else 2000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.backlogs = [200, 5000] if args.quick else [200, 20000]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests import pg  # the tests' own throwaway server

    began = time.perf_counter()
    stores, skipped, versions = [], [], [f"SQLite {sqlite3.sqlite_version}"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clips = [
            str(testsrc.make_video(root / f"tiny{i}.mp4", frames=30, size=(160, 90), gop=10, bframes=2))
            for i in range(5)
        ]
        count = iter(range(10**6))
        stores.append(measure("SQLite", lambda: f"sqlite:///{root}/s{next(count)}.db", args, root, clips))
        if pg.find_bindir() is None:
            skipped.append(f"PostgreSQL: {pg.MISSING}")
        else:
            with pg.running() as server:
                version = subprocess.run([str(server.bindir / "postgres"), "--version"], capture_output=True,
                                         text=True).stdout.split()[2]  # fmt: skip
                versions.append(f"PostgreSQL {version} on loopback, fsync off")
                stores.append(measure("PostgreSQL", server.new_database, args, root, clips))
    header = (
        f"Run {time.strftime('%Y-%m-%d')}: stillframe {__version__}, {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} CPUs, {', '.join(versions)}; {args.jobs} real and "
        f"{args.noop_jobs} no-op jobs a row, median of {args.repeat}; took {(time.perf_counter() - began) / 60:.1f} min."
    )
    args.out.mkdir(parents=True, exist_ok=True)
    text = table(stores, header, skipped, args.backlogs)
    (args.out / "jobs_stores.md").write_text(text)
    (args.out / "jobs_stores.json").write_text(json.dumps({"header": header, "stores": stores, "skipped": skipped},
                                                          indent=1) + "\n")  # fmt: skip
    print(text)


if __name__ == "__main__":
    main()
