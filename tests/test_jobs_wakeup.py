"""Idle workers cost little and wake when there is work: claims back off while the
store is idle, a job submitted in the same process or (PostgreSQL, by NOTIFY) in
another starts within milliseconds, polling covers what no notification reaches,
a dropped listening connection comes back, and an idle service closes at once."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event, text

from stillframe.jobs import JobService
from stillframe.jobs.wakeup import LISTEN_NAME, POLL_CAP, Backoff

from .servers import wait_for

ASYNC_ONE = {"Interval": 1, "Num": 1}
QUICK = 0.5  # seconds: a woken worker claims well within this; a 2 s poll could not


class Statements:
    """Counts the statements an engine runs, by what they touch."""

    def __init__(self, engine: Any) -> None:
        self.claims = 0  # each claim starts with the busy-pipelines count, and nothing else groups so
        self.live_ticks = 0
        self.all = 0
        event.listen(engine, "before_cursor_execute", self._seen)
        self.engine = engine

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.all += 1
        if "GROUP BY jobs.pipeline_id" in statement:
            self.claims += 1
        elif "FROM live_jobs" in statement:
            self.live_ticks += 1

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


class Claims:
    """When `svc`'s runner claimed each job (time.monotonic())."""

    def __init__(self, svc: JobService) -> None:
        self.times: list[float] = []
        real = svc.runner.claim

        def claim() -> Any:
            row = real()
            if row is not None:
                self.times.append(time.monotonic())
            return row

        svc.runner.claim = claim  # type: ignore[method-assign]


def right_after_a_claim(counter: Statements) -> None:
    """Return just after an idle worker's claim: its next poll is a whole backoff away."""
    seen = counter.claims
    wait_for(lambda: counter.claims > seen, 2 * POLL_CAP + 1, "an idle claim")


def backed_off() -> None:
    """Idle long enough for the waits to reach POLL_CAP (0.1 + 0.2 + 0.4 + 0.8 + 1.6 s)."""
    time.sleep(3.5)


@contextlib.contextmanager
def counted(svc: JobService) -> Iterator[Statements]:
    counter = Statements(svc.engine)
    try:
        yield counter
    finally:
        counter.remove()


def test_backoff_doubles_to_the_cap_and_resets():
    b = Backoff(0.1, 2.0)
    assert [b.next() for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    b.reset()
    assert b.next() == 0.1


def test_idle_workers_claim_rarely(store):
    with JobService(store, workers=2) as svc, counted(svc) as counter:
        time.sleep(6.0)
        claims, ticks = counter.claims, counter.live_ticks
        time.sleep(4.0)
        later = counter.claims - claims
    # Each thread waits 0.1, 0.2, 0.4, 0.8, 1.6, then 2 s: 7 claims in 6 s (60 at a 0.1 s poll).
    # On PostgreSQL the listener's first connection rings once more.
    assert 2 <= claims <= 2 * 8, claims
    # Backed off: one claim per thread every 2 s (2 in 4 s, a third at most by phase).
    assert 2 <= later <= 2 * 3, later
    # The live supervisor ticks from 0.5 s to 2 s apart while it captures nothing (12 at 0.5 s).
    assert 1 <= ticks <= 7, ticks


def test_a_job_submitted_here_starts_at_once(store, tiny, tmp_path):
    with JobService(store, workers=1) as svc, counted(svc) as counter:
        claims = Claims(svc)
        backed_off()
        right_after_a_claim(counter)
        start = time.monotonic()
        job = svc.submit_snapshot_job(tiny, str(tmp_path / "o/{Count}.jpg"), ASYNC_ONE)
        wait_for(lambda: claims.times, 10, "the claim")
        assert claims.times[0] - start < QUICK
        assert svc.wait(job.id, timeout=30).status == "Success"


def test_resuming_a_paused_pipeline_starts_its_jobs_at_once(store, tiny, tmp_path):
    with JobService(store, workers=1) as svc, counted(svc) as counter:
        claims = Claims(svc)
        pid = svc.create_pipeline("held", max_concurrency=1)
        svc.update_pipeline(pid, state="Paused")
        job = svc.submit_snapshot_job(tiny, str(tmp_path / "o/{Count}.jpg"), ASYNC_ONE, pipeline_id=pid)
        backed_off()
        assert not claims.times  # a paused pipeline's job waits
        right_after_a_claim(counter)
        start = time.monotonic()
        svc.update_pipeline(pid, state="Active")
        wait_for(lambda: claims.times, 10, "the claim")
        assert claims.times[0] - start < QUICK
        assert svc.wait(job.id, timeout=30).status == "Success"


def test_a_job_submitted_by_another_process_is_found_by_polling_on_sqlite(tiny, tmp_path):
    """SQLite has no notifications: the backed-off poll finds the job within POLL_CAP."""
    store = str(tmp_path / "jobs.db")
    with JobService(store, workers=1) as svc, JobService(store, workers=0) as other, counted(svc) as counter:
        claims = Claims(svc)
        backed_off()
        right_after_a_claim(counter)
        start = time.monotonic()
        other.submit_snapshot_job(tiny, str(tmp_path / "o/{Count}.jpg"), ASYNC_ONE)
        wait_for(lambda: claims.times, 10, "the claim")
        assert claims.times[0] - start < POLL_CAP + QUICK


def test_a_job_submitted_elsewhere_wakes_idle_workers_by_notify(postgres_url, tiny, tmp_path):
    with JobService(postgres_url, workers=1) as svc, counted(svc) as counter:
        claims = Claims(svc)
        wait_for(svc.runner.wakeup.listening.is_set, 10, "the listening connection")
        # Another engine, with no workers and no wakeup shared with ours: only NOTIFY reaches us.
        with JobService(postgres_url, workers=0) as other:
            for i in range(2):
                backed_off()
                right_after_a_claim(counter)
                start = time.monotonic()
                job = other.submit_snapshot_job(tiny, str(tmp_path / f"o{i}/{{Count}}.jpg"), ASYNC_ONE)
                wait_for(lambda i=i: len(claims.times) > i, 10, "the claim")
                assert claims.times[i] - start < QUICK, i
                assert svc.wait(job.id, timeout=30).status == "Success"
    assert claims.times


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


def test_work_is_found_while_the_listening_connection_is_down_and_it_comes_back(postgres_url, tiny, tmp_path):
    with JobService(postgres_url, workers=3) as svc, JobService(postgres_url, workers=0) as other:
        claims = Claims(svc)
        wakeup = svc.runner.wakeup
        wait_for(wakeup.listening.is_set, 10, "the listening connection")
        first = wait_for(lambda: listeners(postgres_url), 10, "the listener in pg_stat_activity")
        assert len(first) == 1  # one listening connection per process, whatever its threads

        # The server drops it, and it cannot connect again for a while: the worker polls.
        connect, refused = wakeup._connect, threading.Event()

        def refuse() -> Any:
            refused.set()
            raise OSError("refused for the test")

        wakeup._connect = refuse  # type: ignore[method-assign]
        terminate(postgres_url, first)
        wait_for(refused.is_set, 10, "an attempt to listen again")
        assert not wakeup.listening.is_set()
        start = time.monotonic()
        job = other.submit_snapshot_job(tiny, str(tmp_path / "a/{Count}.jpg"), ASYNC_ONE)
        wait_for(lambda: claims.times, 10, "the claim while not listening")
        assert claims.times[0] - start < POLL_CAP + QUICK
        assert svc.wait(job.id, timeout=30).status == "Success"

        # Connections work again: it listens again, on a new connection, and NOTIFY wakes it.
        wakeup._connect = connect  # type: ignore[method-assign]
        wait_for(wakeup.listening.is_set, 15, "listening again")
        second = wait_for(lambda: listeners(postgres_url), 10, "the new listener")
        assert len(second) == 1 and second != first
        with counted(svc) as counter:
            backed_off()
            right_after_a_claim(counter)
            start = time.monotonic()
            job = other.submit_snapshot_job(tiny, str(tmp_path / "b/{Count}.jpg"), ASYNC_ONE)
            wait_for(lambda: len(claims.times) > 1, 10, "the claim after listening again")
            assert claims.times[1] - start < QUICK
            assert svc.wait(job.id, timeout=30).status == "Success"
    assert listeners(postgres_url) == []  # close() hung up


def test_an_idle_service_and_runner_stop_at_once(store):
    svc = JobService(store, workers=2).start()
    backed_off()
    # A loop run with its own stop event, as `stillframe worker` does.
    stop = threading.Event()
    thread = threading.Thread(target=svc.runner.run_forever, args=(stop,))
    thread.start()
    time.sleep(POLL_CAP + 1)
    start = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - start < 0.3
    start = time.monotonic()
    svc.close()
    assert time.monotonic() - start < 0.5
