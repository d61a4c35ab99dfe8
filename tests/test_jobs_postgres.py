"""Several `stillframe worker` processes on one PostgreSQL store, as on several hosts:
every job ends exactly once though a worker is killed mid-job, pipeline caps hold
across processes, and a page token made by one process works in another."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from stillframe.jobs import JobService
from stillframe.jobs import store as t
from stillframe.jobs.store import live_workers

from .servers import post_receiver, wait_for

ASYNC_ONE = {"Interval": 1, "Num": 1}
LEASE = 3.0  # seconds: short, so a dead worker's job is taken over quickly


@contextlib.contextmanager
def workers(url: str, count: int, threads: int = 1) -> Iterator[list[tuple[subprocess.Popen, str]]]:
    """`count` worker processes started at once; yields (process, worker id) pairs and
    stops the survivors with SIGTERM (they finish their current job) at the end."""
    cmd = [
        sys.executable,
        "-m",
        "stillframe",
        "worker",
        "--store",
        url,
        "--lease",
        str(LEASE),
        "--no-live",
        "--threads",
        str(threads),
    ]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    try:
        yield [(p, json.loads(p.stdout.readline())["worker"]) for p in procs]  # type: ignore[union-attr]
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def kill_mid_job(svc: JobService, proc: subprocess.Popen, ident: str, timeout: float = 30) -> list[str]:
    """SIGKILL `proc` while the store says it runs a job; returns the jobs it held.
    The process is frozen first, so what the store says cannot change before the kill."""
    held = select(t.jobs.c.id).where(t.jobs.c.status == "Processing", t.jobs.c.claimed_by == ident)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        os.kill(proc.pid, signal.SIGSTOP)
        with svc.engine.connect() as conn:
            ids = list(conn.execute(held).scalars())
        if ids:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return ids
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError(f"worker {ident} never ran a job")


@pytest.mark.slow
def test_200_jobs_on_3_workers_one_killed_each_ends_once(postgres_url, tiny, tmp_path):
    with post_receiver() as (hook, received), workers(postgres_url, 3) as procs:
        # The workers made the tables and the page-token key at once on an empty database.
        with JobService(postgres_url, workers=0) as svc:
            wait_for(lambda: live_workers(svc.engine) >= 3, 30, "three workers polling")
            pid = svc.create_pipeline("all", max_concurrency=1000, notify_url=hook)
            victim, victim_id = procs[0]
            # The others are frozen until the victim is killed holding a job, so that it
            # gets one however busy the machine is (they could otherwise run all 200).
            for p, _ in procs[1:]:
                os.kill(p.pid, signal.SIGSTOP)
            try:
                ids = [
                    svc.submit_snapshot_job(tiny, str(tmp_path / f"o/{i}/{{Count}}.jpg"), ASYNC_ONE, pipeline_id=pid).id
                    for i in range(200)
                ]
                lost = kill_mid_job(svc, victim, victim_id)
            finally:
                for p, _ in procs[1:]:
                    os.kill(p.pid, signal.SIGCONT)
            jobs = [svc.wait(i, timeout=60) for i in ids]
        for p, _ in procs[1:]:  # the survivors flush their notifications as they stop
            p.terminate()
            assert p.wait(30) == 0
    assert all(j.status == "Success" for j in jobs), [j.message for j in jobs if j.status != "Success"][:3]
    runs = {j.id: j.runs for j in jobs}
    assert {i for i, n in runs.items() if n != 1} == set(lost) and all(runs[i] == 2 for i in lost)
    assert all(len(os.listdir(tmp_path / f"o/{i}")) == 1 for i in range(200))
    # One notification per job. A job the killed worker finished may have lost its
    # notification with the process (they are queued in memory); none is ever sent twice.
    told = collections.Counter(m["JobId"] for m in received)
    assert set(told.values()) == {1}
    with JobService(postgres_url, workers=0) as svc, svc.engine.connect() as conn:
        finisher = dict(conn.execute(select(t.jobs.c.id, t.jobs.c.claimed_by)).all())
    assert all(finisher[i] == victim_id for i in set(ids) - set(told))
    assert all(finisher[i] != victim_id for i in lost)


@pytest.mark.slow
def test_pipeline_caps_hold_across_processes(postgres_url, clips, tmp_path):
    # Jobs long enough (six exact frames each) that a free thread is always holding one
    # when the store is looked at, even with every core busy.
    clip = str(clips("jobs-pg-cap.mp4", frames=90, size=(320, 180), gop=30))
    config = {"Time": 0, "Interval": 0.45, "Num": 6, "FrameType": "normal"}
    with JobService(postgres_url, workers=0) as svc:
        caps = {svc.create_pipeline("two", max_concurrency=2): 2, svc.create_pipeline("one", max_concurrency=1): 1}
        seen: dict[str, int] = collections.defaultdict(int)
        done = threading.Event()

        def watch() -> None:  # each count is one statement, so one consistent snapshot of the store
            while not done.is_set():
                q = (
                    select(t.jobs.c.pipeline_id, func.count())
                    .where(t.jobs.c.status == "Processing", t.jobs.c.lease_until > time.time())
                    .group_by(t.jobs.c.pipeline_id)
                )
                with svc.engine.connect() as conn:
                    for pipe, n in conn.execute(q).all():
                        seen[pipe] = max(seen[pipe], n)

        watcher = threading.Thread(target=watch)
        with workers(postgres_url, 3, threads=3):
            # All three poll before the first job is queued, so none drains the queue alone.
            wait_for(lambda: live_workers(svc.engine) >= 3, 30, "three workers polling")
            watcher.start()
            try:
                ids = [
                    svc.submit_snapshot_job(clip, str(tmp_path / f"p{i}/{{Count}}.jpg"), config, pipeline_id=pipe).id
                    for i in range(20)
                    for pipe in [*caps, None]
                ]
                jobs = [svc.wait(i, timeout=120) for i in ids]
            finally:
                done.set()
                watcher.join()
    assert all(j.status == "Success" and j.runs == 1 for j in jobs)
    assert {pipe: seen[pipe] for pipe in caps} == caps  # held, and used to the full
    assert seen[None] > 2  # jobs outside a pipeline run on every free worker thread


def test_a_page_token_made_by_one_process_works_in_another(postgres_url, tiny, tmp_path):
    with JobService(postgres_url, workers=0) as svc:
        ids = [svc.submit_snapshot_job(tiny, str(tmp_path / f"l{i}/{{Count}}.jpg"), ASYNC_ONE).id for i in range(25)]
        first = svc.list_snapshot_jobs(status="Init", page_size=10)
    cmd = [
        sys.executable,
        "-m",
        "stillframe",
        "jobs",
        "list",
        "--store",
        postgres_url,
        "--status",
        "Init",
        "--page-size",
        "10",
        "--token",
        first.next_page_token,
    ]
    second = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    with JobService(postgres_url, workers=0) as svc:
        last = svc.list_snapshot_jobs(status="Init", page_size=10, next_page_token=second["NextPageToken"])
    walked = [j.id for j in first.jobs] + [j["JobId"] for j in second["Jobs"]] + [j.id for j in last.jobs]
    assert walked == ids[::-1] and last.next_page_token is None


def test_a_job_is_claimed_by_one_of_many_racing_workers(postgres_url, tiny, tmp_path):
    from stillframe.jobs.notify import Notifier
    from stillframe.jobs.worker import JobRunner

    with JobService(postgres_url, workers=0) as svc:
        ids = {svc.submit_snapshot_job(tiny, str(tmp_path / f"r{i}/{{Count}}.jpg"), ASYNC_ONE).id for i in range(30)}
        runners = [JobRunner(svc.engine, svc.storage, Notifier(), lease_seconds=30) for _ in range(8)]
        claims: list[list[str]] = [[] for _ in runners]
        start = threading.Barrier(len(runners))

        def claim_all(k: int) -> None:
            start.wait()
            while (row := runners[k].claim()) is not None:
                claims[k].append(row.id)

        threads = [threading.Thread(target=claim_all, args=(k,)) for k in range(len(runners))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for r in runners:
            r.notifier.close()
    taken = [i for c in claims for i in c]
    assert sorted(taken) == sorted(ids)  # each job claimed once, none left behind
