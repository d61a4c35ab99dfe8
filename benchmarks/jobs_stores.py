"""Job throughput on SQLite and on PostgreSQL with 1, 2 and 4 `stillframe worker`
processes, and what the store costs per job.

    python -m benchmarks.jobs_stores            # 400 real and 2000 no-op jobs a row
    python -m benchmarks.jobs_stores --quick    # 60 and 300: under a minute
    python -m benchmarks.jobs_stores --out benchmarks/results   # the published figures

The results go to a new temporary folder unless --out names one.

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

On PostgreSQL, "DB CPU ms/job" is the CPU time the server's own processes spent per
no-op job (read from /proc for the postmaster and its backends): what one more job
costs the database, whichever host asks.

Idle workers cost the server too: K workers polling an empty PostgreSQL store (a
claim that finds nothing and a heartbeat, each every 2 s once the idle waits have
backed off) are timed the same way, as server CPU ms per second per worker.

A last table times a claim, and a finish, in this process with 200 and 20000 jobs
queued: a claim reads the oldest few queued jobs along the (status, seq) index, so
its cost should not grow with the backlog; then with 5000 more jobs running under
other workers' leases, which a claim counts (per pipeline) before it takes one.
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


def server_cpu(data: Path) -> float:
    """CPU seconds so far of the PostgreSQL server whose data folder is `data`: its
    postmaster and every process it started (backends, writers)."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(stat.parent.name) == postmaster or int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def drain(url: str, n: int, k: int, noop: bool, cpu: Callable[[], float] | None = None) -> dict[str, float]:
    """Start k workers, wait until each polls the store, release the queue: jobs/s
    from the release to the last finish (and the server's CPU ms a job, given `cpu`)."""
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
            released, cpu_before = time.time(), cpu() if cpu else 0.0
            with svc.engine.begin() as conn:
                conn.execute(
                    update(t.jobs)
                    .where(t.jobs.c.claimed_by == "held")
                    .values(status="Init", claimed_by=None, lease_until=None)
                )
            finished = select(func.count()).where(t.jobs.c.status.in_(("Success", "Fail")))
            while True:
                with svc.engine.connect() as conn:
                    if conn.execute(finished).scalar() == n:
                        break
                time.sleep(0.02)
            cpu_ms = (cpu() - cpu_before) * 1000 / n if cpu else None
            with svc.engine.connect() as conn:
                ok, last, runs = conn.execute(
                    select(
                        func.count().filter(t.jobs.c.status == "Success"),
                        func.max(t.jobs.c.finish_time),
                        func.sum(t.jobs.c.runs),
                    )
                ).one()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    if ok != n or runs != n:
        raise RuntimeError(f"{ok} of {n} jobs succeeded in {runs} runs")
    return {"wall_s": last - released, "jobs_per_s": n / (last - released), "db_cpu_ms": cpu_ms}


def idle_cost(url: str, k: int, seconds: float, cpu: Callable[[], float]) -> float:
    """Server CPU ms a second per idle worker: k workers on an empty store, measured
    once their idle waits have backed off to the cap."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "stillframe", "worker", "--store", url, "--no-live"], stdout=subprocess.DEVNULL
        )
        for _ in range(k)
    ]
    try:
        with JobService(url, workers=0) as svc:
            deadline = time.monotonic() + 60
            while live_workers(svc.engine) < k:
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not start")
                time.sleep(0.05)
        time.sleep(4.0)  # 0.1 + 0.2 + ... + 1.6 s: every idle wait at its 2 s cap
        before = cpu()
        time.sleep(seconds)
        return (cpu() - before) * 1000 / seconds / k
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


def backlog_cost(url: str, backlog: int, claims: int = 200, running: int = 0) -> dict[str, float]:
    """ms per claim and per finish with `backlog` jobs queued (and `running` more
    held by other workers under live leases), by one runner in this process, the
    snapshot left out. The jobs are copies of one submitted job's row."""
    with JobService(url, workers=0) as svc:
        svc.submit_snapshot_job("/none.mp4", "/none/{Count}.jpg", ONE)
        with svc.engine.begin() as conn:
            proto = dict(conn.execute(select(t.jobs)).one()._mapping)
            del proto["seq"]
            conn.execute(insert(t.jobs), [{**proto, "id": uuid.uuid4().hex} for _ in range(backlog - 1)])
            held = dict(proto, status="Processing", claimed_by="elsewhere", lease_until=1e18)
            if running:
                conn.execute(insert(t.jobs), [{**held, "id": uuid.uuid4().hex} for _ in range(running)])
        runner = svc.runner
        claiming = finishing = 0.0
        for _ in range(claims):
            started = time.perf_counter()
            job = runner.claim()
            claimed = time.perf_counter()
            runner.finish(job.id, "Success", None, None, {"count": 1})
            claiming += claimed - started
            finishing += time.perf_counter() - claimed
        return {"claim": claiming / claims * 1000, "finish": finishing / claims * 1000}


def measure(
    name: str,
    new_store: Callable[[], str],
    args: argparse.Namespace,
    root: Path,
    clips: list[str],
    cpu: Callable[[], float] | None = None,
) -> dict:
    rows = []
    for k in WORKERS:
        row: dict = {"store": name, "workers": k}
        for kind, n in (("real", args.jobs), ("noop", args.noop_jobs)):
            runs = []
            for r in range(args.repeat):
                url = new_store()
                submit = queue(url, n, clips, root / f"{name}-{k}-{kind}-{r}")
                runs.append({"jobs": n, "submit_ms": submit * 1000, **drain(url, n, k, kind == "noop", cpu)})
                print(f"{name} {k} {kind}: {runs[-1]}", file=sys.stderr, flush=True)
            row[kind] = {**sorted(runs, key=lambda x: x["jobs_per_s"])[len(runs) // 2], "runs": runs}
        row["store_ms_per_job"] = k * 1000 / row["noop"]["jobs_per_s"]
        rows.append(row)
    backlog = {str(b): backlog_cost(new_store(), b) for b in args.backlogs}
    backlog["running"] = backlog_cost(new_store(), args.backlogs[-1], running=args.running)
    print(f"{name} backlog: {backlog}", file=sys.stderr, flush=True)
    idle = idle_cost(new_store(), 4, args.idle_seconds, cpu) if cpu else None
    return {"store": name, "rows": rows, "backlog_ms": backlog, "idle_cpu_ms_per_s": idle}


def table(stores: list[dict], header: str, skipped: list[str], backlogs: list[int], running: int) -> str:
    lines = [
        header,
        "",
        "| store | workers | real jobs/s | real wall | no-op jobs/s | no-op wall | store ms/job (worker time) "
        "| DB CPU ms/job | submit ms/job |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in (r for st in stores for r in st["rows"]):
        cpu = r["noop"].get("db_cpu_ms")
        lines.append(
            f"| {r['store']} | {r['workers']} | {r['real']['jobs_per_s']:.1f} | {r['real']['wall_s']:.1f} s "
            f"| {r['noop']['jobs_per_s']:.0f} | {r['noop']['wall_s']:.1f} s | {r['store_ms_per_job']:.2f} "
            f"| {'' if cpu is None else f'{cpu:.2f}'} | {r['noop']['submit_ms']:.2f} |"
        )
    lines += [
        "",
        "Store cost by backlog: ms per claim and per finish, one runner in one process, no snapshot.",
        "",
        "| store | " + " | ".join(f"claim, {b} queued | finish, {b} queued" for b in backlogs) + " |",
        "| --- |" + " ---: | ---: |" * len(backlogs),
    ]
    for st in stores:
        cells = [f"{st['backlog_ms'][str(b)][k]:.2f}" for b in backlogs for k in ("claim", "finish")]
        lines.append(f"| {st['store']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"With {running} more jobs running under other workers' leases ({backlogs[-1]} queued): a claim "
        "counts the running jobs of each pipeline first.",
    ]
    for st in stores:
        cost = st["backlog_ms"]["running"]
        lines.append(f"- {st['store']}: claim {cost['claim']:.2f} ms, finish {cost['finish']:.2f} ms")
    for st in stores:
        if st.get("idle_cpu_ms_per_s") is not None:
            lines += [
                "",
                f"{st['store']}, 4 idle workers on an empty store: {st['idle_cpu_ms_per_s']:.2f} ms of "
                "server CPU a second each.",
            ]
    lines += [""] + [f"Not run: {s}" for s in skipped]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="60 real and 300 no-op jobs a row")
    ap.add_argument("--jobs", type=int, default=None, help="real jobs a row (default 400)")
    ap.add_argument("--noop-jobs", type=int, default=None, help="no-op jobs a row (default 2000)")
    ap.add_argument("--repeat", type=int, default=None, help="runs a cell, the median kept (default 3; quick 1)")
    out_help = "folder for jobs_stores.md and .json (default: a new temporary one)"
    ap.add_argument("--out", type=Path, default=None, help=out_help)
    args = ap.parse_args()
    args.jobs = args.jobs or (60 if args.quick else 400)
    args.noop_jobs = args.noop_jobs or (300 if args.quick else 2000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.backlogs = [200, 5000] if args.quick else [200, 20000]
    args.idle_seconds = 4.0 if args.quick else 20.0
    args.running = 500 if args.quick else 5000
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
                version = subprocess.run(
                    [str(server.bindir / "postgres"), "--version"], capture_output=True, text=True
                ).stdout.split()[2]
                versions.append(f"PostgreSQL {version} on loopback, fsync off")
                stores.append(
                    measure("PostgreSQL", server.new_database, args, root, clips, lambda: server_cpu(server.data))
                )
    header = (
        f"Run {time.strftime('%Y-%m-%d')}: stillframe {__version__}, {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} CPUs, {', '.join(versions)}; {args.jobs} real and "
        f"{args.noop_jobs} no-op jobs a row, median of {args.repeat}; took {(time.perf_counter() - began) / 60:.1f} min."
    )
    # Never the tracked results unless asked: any run would rewrite them.
    args.out = args.out or Path(tempfile.mkdtemp(prefix="stillframe-jobs-stores-"))
    args.out.mkdir(parents=True, exist_ok=True)
    text = table(stores, header, skipped, args.backlogs, args.running)
    (args.out / "jobs_stores.md").write_text(text)
    (args.out / "jobs_stores.json").write_text(
        json.dumps({"header": header, "stores": stores, "skipped": skipped}, indent=1) + "\n"
    )
    print(text)
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
