"""Idle workers cost little and wake when there is work: claims back off while the
store is idle, a job submitted in the same process or (PostgreSQL, by NOTIFY) in
another is started by a ring rather than by the next poll, polling covers what no
notification reaches, a dropped listening connection comes back, and a stop ends an
idle wait. What ends each wait is recorded (tests/wakeups.py) rather than timed:
held waits last an hour, so a job that starts while they are held was rung for."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import text

from stillframe.jobs import JobService
from stillframe.jobs.wakeup import LISTEN_NAME, POLL_CAP, Backoff

from .servers import wait_for
from .wakeups import LISTENER, WakeupLog

ASYNC_ONE = {"Interval": 1, "Num": 1}
JOB = "stillframe-job-0"  # the thread of a one-worker service
FAST = 20.0  # idle waits this many times shorter than asked


def test_backoff_doubles_to_the_cap_and_resets():
    b = Backoff(0.1, 2.0)
    assert [b.next() for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    b.reset()
    assert b.next() == 0.1


def test_idle_workers_claim_rarely(store, monkeypatch):
    log = WakeupLog(monkeypatch, speed=50.0)
    threads = ["stillframe-job-0", "stillframe-job-1"]
    with JobService(store, workers=2):
        wait_for(
            lambda: all(len(log.delays(th)) >= 8 for th in threads) and len(log.delays("stillframe-live")) >= 5,
            30,
            "eight idle waits a thread",
        )
    for th in threads:
        # One claim, then one wait, the waits doubling to POLL_CAP: a backed-off thread
        # claims once every 2 s (20 times as often at a fixed 0.1 s poll).
        assert log.delays(th)[:8] == [0.1, 0.2, 0.4, 0.8, 1.6, POLL_CAP, POLL_CAP, POLL_CAP], th
        kinds = [e.kind for e in log.of(th, ("claim", "wait"))]
        assert kinds[:16] == ["claim", "wait"] * 8, th
        # Their time ended them (on PostgreSQL the listener's first connection rings once more).
        assert sum(bool(e.rung) for e in log.of(th, ("woke",))[:8]) <= 1, th
    # The live supervisor ticks from 0.5 s to 2 s apart while it captures nothing.
    assert log.delays("stillframe-live")[:5] == [0.5, 1.0, POLL_CAP, POLL_CAP, POLL_CAP]
    assert [e.kind for e in log.of("stillframe-live", ("tick", "wait"))][:10] == ["tick", "wait"] * 5


def test_a_job_submitted_here_starts_at_once(store, tiny, tmp_path, monkeypatch):
    log = WakeupLog(monkeypatch, speed=FAST)
    with JobService(store, workers=1) as svc:
        log.hold()
        log.settle(svc.runner.wakeup, 1)
        since = log.mark()
        job = svc.submit_snapshot_job(tiny, str(tmp_path / "o/{Count}.jpg"), ASYNC_ONE)
        assert svc.wait(job.id, timeout=60).status == "Success"
    assert log.found_after(JOB, since) == [True]  # its wait was ended by the submission's ring


def test_resuming_a_paused_pipeline_starts_its_jobs_at_once(store, tiny, tmp_path, monkeypatch):
    log = WakeupLog(monkeypatch, speed=FAST)
    with JobService(store, workers=1) as svc:
        pid = svc.create_pipeline("held", max_concurrency=1)
        svc.update_pipeline(pid, state="Paused")
        job = svc.submit_snapshot_job(tiny, str(tmp_path / "o/{Count}.jpg"), ASYNC_ONE, pipeline_id=pid)
        log.hold()
        log.settle(svc.runner.wakeup, 1)
        assert log.found_after(JOB) == [] and svc.get_snapshot_job(job.id).status == "Init"  # it waits
        since = log.mark()
        svc.update_pipeline(pid, state="Active")
        assert svc.wait(job.id, timeout=60).status == "Success"
    assert log.found_after(JOB, since) == [True]


def test_a_job_submitted_by_another_process_is_found_by_polling_on_sqlite(tiny, tmp_path, monkeypatch):
    """SQLite has no notifications: the backed-off poll finds the job, never waiting
    longer than POLL_CAP."""
    log = WakeupLog(monkeypatch, speed=FAST)
    store = str(tmp_path / "jobs.db")
    with JobService(store, workers=1) as svc, JobService(store, workers=0) as other:
        wait_for(lambda: POLL_CAP in log.delays(JOB), 30, "the waits to reach their cap")
        since = log.mark()
        job = other.submit_snapshot_job(tiny, str(tmp_path / "o/{Count}.jpg"), ASYNC_ONE)
        assert svc.wait(job.id, timeout=60).status == "Success"
    assert log.found_after(JOB, since) == [False]  # a poll found it: nothing rang
    assert max(log.delays(JOB)) == POLL_CAP


def test_a_job_submitted_elsewhere_wakes_idle_workers_by_notify(postgres_url, tiny, tmp_path, monkeypatch):
    log = WakeupLog(monkeypatch, speed=FAST)
    with JobService(postgres_url, workers=1) as svc:
        log.hold()
        # Another engine, with no workers and no wakeup shared with ours: only NOTIFY reaches us.
        with JobService(postgres_url, workers=0) as other:
            for i in range(2):
                log.settle(svc.runner.wakeup, 1)
                since = log.mark()
                job = other.submit_snapshot_job(tiny, str(tmp_path / f"o{i}/{{Count}}.jpg"), ASYNC_ONE)
                assert svc.wait(job.id, timeout=60).status == "Success"
                assert log.found_after(JOB, since) == [True], i
                assert any(e.kind == "ring" and e.wakeup is svc.runner.wakeup for e in log.of(LISTENER, since=since))


def listeners(url: str) -> list[int]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = :n AND datname = current_database()"
                    ),
                    {"n": LISTEN_NAME},
                ).scalars()
            )
    finally:
        engine.dispose()


def terminate(url: str, pids: list[int]) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for pid in pids:
                assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    finally:
        engine.dispose()


def test_work_is_found_while_the_listening_connection_is_down_and_it_comes_back(
    postgres_url, tiny, tmp_path, monkeypatch
):
    log = WakeupLog(monkeypatch, speed=FAST)
    threads = [f"stillframe-job-{i}" for i in range(3)]
    with JobService(postgres_url, workers=3) as svc, JobService(postgres_url, workers=0) as other:
        wakeup = svc.runner.wakeup
        wait_for(wakeup.listening.is_set, 10, "the listening connection")
        first = wait_for(lambda: listeners(postgres_url), 10, "the listener in pg_stat_activity")
        assert len(first) == 1  # one listening connection per process, whatever its threads

        # The server drops it, and it cannot connect again for a while: the workers poll.
        connect, refused = wakeup._connect, threading.Event()

        def refuse() -> Any:
            refused.set()
            raise OSError("refused for the test")

        wakeup._connect = refuse  # type: ignore[method-assign]
        terminate(postgres_url, first)
        wait_for(refused.is_set, 10, "an attempt to listen again")
        assert not wakeup.listening.is_set()
        since = log.mark()
        job = other.submit_snapshot_job(tiny, str(tmp_path / "a/{Count}.jpg"), ASYNC_ONE)
        assert svc.wait(job.id, timeout=60).status == "Success"
        assert [f for th in threads for f in log.found_after(th, since)] == [False]  # found by a poll

        # Connections work again: it listens again, on a new connection, and NOTIFY wakes it.
        since = log.mark()
        wakeup._connect = connect  # type: ignore[method-assign]
        wait_for(wakeup.listening.is_set, 15, "listening again")
        second = wait_for(lambda: listeners(postgres_url), 10, "the new listener")
        assert len(second) == 1 and second != first
        log.hold()
        log.settle(wakeup, 3, since)
        since = log.mark()
        job = other.submit_snapshot_job(tiny, str(tmp_path / "b/{Count}.jpg"), ASYNC_ONE)
        assert svc.wait(job.id, timeout=60).status == "Success"
        assert [f for th in threads for f in log.found_after(th, since)] == [True]
    assert listeners(postgres_url) == []  # close() hung up


def test_an_idle_service_and_runner_stop_at_once(store, monkeypatch):
    """Held waits last an hour: that the threads end at all shows the stop ended them."""
    log = WakeupLog(monkeypatch, speed=FAST)
    svc = JobService(store, workers=2).start()
    # A loop run with its own stop event, as `stillframe worker` does.
    stop = threading.Event()
    loop = threading.Thread(target=svc.runner.run_forever, args=(stop,), name="loop")
    loop.start()
    log.hold()
    log.settle(svc.runner.wakeup, 3)
    assert svc.live_supervisor is not None
    log.settle(svc.live_supervisor._wakeup, 1)
    stop.set()
    loop.join(60)
    assert not loop.is_alive()
    closing = threading.Thread(target=svc.close)
    closing.start()
    closing.join(60)
    assert not closing.is_alive()
    for th in ("loop", "stillframe-job-0", "stillframe-job-1", "stillframe-live"):
        last = log.of(th, ("wait", "woke"))[-2:]
        assert [e.kind for e in last] == ["wait", "woke"] and last[0].held and not last[1].rung, th
