"""Workers: claim a queued job with a lease, keep the lease alive while running
it, and record the outcome, all in transactions, so that several processes can
share one store and a job whose worker died is claimed again."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine

from stillframe.errors import InternalError, StillframeError
from stillframe.jobs import store as t
from stillframe.jobs.faults import first_line, unavailable
from stillframe.jobs.model import iso
from stillframe.jobs.notify import Notifier
from stillframe.jobs.runner import Abandoned, run_job
from stillframe.jobs.storage import Storage
from stillframe.jobs.store import HEARTBEAT_EVERY, announce, heartbeat
from stillframe.jobs.wakeup import FIRST_POLL, POLL_CAP, Backoff, Wakeup

log = logging.getLogger("stillframe.jobs")

MAX_ATTEMPTS = 3


def worker_id() -> str:
    """A worker's identity in the store: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def error_code(exc: BaseException) -> tuple[str, str]:
    """The services' (code, message) for an exception: its own for an error of the tree, InternalError otherwise."""
    if isinstance(exc, StillframeError):
        return exc.code, str(exc)
    return InternalError.code, f"{type(exc).__name__}: {exc}"


def finished_message(row: Any) -> dict[str, Any]:
    """The message a finished job sends to its pipeline's notify URL (MPS's shape)."""
    m = row._mapping
    return {
        "Type": "Snapshot",
        "JobId": m["id"],
        "State": m["status"],
        "Code": m["code"],
        "Message": m["message"],
        "UserData": m["user_data"],
        "PipelineId": m["pipeline_id"],
        "Count": m["count"],
        "FinishTime": iso(m["finish_time"]),
    }


class JobRunner:
    """Claims queued jobs from the store (with a lease it renews) and runs them, recording each outcome."""

    def __init__(
        self,
        engine: Engine,
        storage: Storage,
        notifier: Notifier,
        *,
        lease_seconds: float = 30.0,
        job_timeout: float | None = None,
        ident: str | None = None,
        wakeup: Wakeup | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.notifier = notifier
        self.lease = lease_seconds
        self.job_timeout = job_timeout
        self.ident = ident or worker_id()
        self.wakeup = wakeup or Wakeup(engine)  # where this runner's idle threads wait
        # Once set, a running job is abandoned at its next batch of frames (see execute).
        self.stopping = stopping or threading.Event()
        self._beat = 0.0  # time.monotonic() of the last heartbeat, shared by the threads
        self._beat_lock = threading.Lock()

    # -- claiming ----------------------------------------------------------------------

    def claim(self) -> Any | None:
        """The oldest runnable job, now Processing under our lease, or None.

        Each candidate is locked as it is taken (FOR UPDATE SKIP LOCKED on PostgreSQL:
        a job another worker is claiming is passed over, not waited for), and a
        pipeline's row is locked while its running jobs are counted, so its cap holds
        across processes; a pipeline another claim has locked is passed over too,
        so that no claim ever waits on one while holding another (two claims each
        holding the pipeline the other wants would deadlock). SQLite ignores both:
        BEGIN IMMEDIATE already makes each claim the store's only writer. Leases are
        reckoned by the store's clock (store.db_now), never this host's."""
        with self.engine.begin() as conn:
            now = t.db_now(conn)
            runnable = or_(
                t.jobs.c.status == "Init",
                and_(t.jobs.c.status == "Processing", t.jobs.c.lease_until < now),
            )
            busy, limits, candidates = self._candidates(conn, now)
            for cand in candidates:
                pipe = cand.pipeline_id
                if pipe is not None and busy.get(pipe, 0) >= limits.get(pipe, 1):
                    continue
                row = conn.execute(
                    select(t.jobs).where(t.jobs.c.id == cand.id, runnable).with_for_update(skip_locked=True)
                ).first()
                if row is None:  # another worker has it, or is taking it now
                    continue
                if pipe is not None and not self._room(conn, pipe, now, pipe in limits):
                    busy[pipe] = limits.get(pipe, 1)
                    continue
                if row.attempts >= MAX_ATTEMPTS:
                    self._fail_lost(conn, row, now)
                    continue
                conn.execute(
                    update(t.jobs)
                    .where(t.jobs.c.id == row.id)
                    .values(
                        status="Processing",
                        claimed_by=self.ident,
                        lease_until=now + self.lease,
                        attempts=row.attempts + 1,
                        runs=row.runs + 1,
                        modified_time=now,
                    )
                )
                return conn.execute(select(t.jobs).where(t.jobs.c.id == row.id)).first()
        return None

    @staticmethod
    def _candidates(conn: Any, now: float) -> tuple[dict[str, int], dict[str, int], list[Any]]:
        """What a claim looks at, unlocked: the running jobs of each pipeline, each
        pipeline's cap (0 when paused) and the 64 oldest runnable jobs."""
        # A first look, unlocked, to pass over pipelines that are plainly full.
        busy: dict[str, int] = dict(
            conn.execute(
                select(t.jobs.c.pipeline_id, func.count())
                .where(t.jobs.c.status == "Processing", t.jobs.c.lease_until > now, t.jobs.c.pipeline_id.is_not(None))
                .group_by(t.jobs.c.pipeline_id)
            ).all()
        )
        limits = {
            r.id: (r.max_concurrency if r.state == "Active" else 0)
            for r in conn.execute(select(t.pipelines.c.id, t.pipelines.c.max_concurrency, t.pipelines.c.state))
        }
        # Queued jobs and those whose lease ran out, each read oldest first along the
        # (status, seq) index: one query with OR would sort the whole backlog.
        oldest = select(t.jobs.c.seq, t.jobs.c.id, t.jobs.c.pipeline_id).order_by(t.jobs.c.seq).limit(64)
        candidates = sorted(
            [
                *conn.execute(oldest.where(t.jobs.c.status == "Init")),
                *conn.execute(oldest.where(t.jobs.c.status == "Processing", t.jobs.c.lease_until < now)),
            ],
        )[:64]
        return busy, limits, candidates

    @staticmethod
    def _room(conn: Any, pipe: str, now: float, listed: bool = True) -> bool:
        """Whether pipeline `pipe` may start one more job. Its row stays locked until
        the claim commits, so the next claimer of its jobs counts ours too; a row
        another claim holds is not waited for (no room this time round). `listed`:
        whether the pipeline was there when the claim began."""
        locked = conn.execute(
            select(t.pipelines.c.max_concurrency, t.pipelines.c.state)
            .where(t.pipelines.c.id == pipe)
            .with_for_update(skip_locked=True)
        ).first()
        if locked is None and listed and conn.dialect.name != "sqlite":
            return False  # another claim holds it (or it was deleted just now): not this time
        limit = 1 if locked is None else (locked.max_concurrency if locked.state == "Active" else 0)
        running = conn.execute(
            select(func.count())
            .select_from(t.jobs)
            .where(t.jobs.c.pipeline_id == pipe, t.jobs.c.status == "Processing", t.jobs.c.lease_until > now)
        ).scalar()
        return bool(running < limit)

    def _fail_lost(self, conn: Any, row: Any, now: float) -> None:
        conn.execute(
            update(t.jobs)
            .where(t.jobs.c.id == row.id)
            .values(
                status="Fail",
                code=InternalError.code,
                finish_time=now,
                modified_time=now,
                claimed_by=None,
                message=f"the job's worker stopped {row.attempts} times before finishing it",
            )
        )

    def _renew(self, job_id: str, run: int, stop: threading.Event) -> None:
        # A store that cannot be reached for a moment (a restart) must not end the
        # renewals: try again within a second, while the lease still holds.
        wait = self.lease / 3
        while not stop.wait(wait):
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        update(t.jobs)
                        .where(t.jobs.c.id == job_id, t.jobs.c.claimed_by == self.ident, t.jobs.c.runs == run)
                        .values(lease_until=t.db_now(conn) + self.lease)
                    )
                wait = self.lease / 3
            except Exception as exc:
                if not unavailable(exc):
                    raise
                log.warning("renewing the lease of job %s failed (%s); trying again", job_id, first_line(exc))
                wait = min(1.0, self.lease / 10)

    # -- running -----------------------------------------------------------------------

    def input_url(self, row: Any) -> tuple[str, str | None]:
        """(where a job row's input is read from, a registered media id resolved; the
        folder it must resolve inside, if any). ResourceNotFound for an unknown id."""
        spec = row.input
        url = spec.get("Media") or spec.get("Url")
        if spec.get("Type") == "Media":
            with self.engine.connect() as conn:
                found = conn.execute(select(t.media.c.url, t.media.c.root).where(t.media.c.id == url)).first()
            if found is None:
                from stillframe.errors import ResourceNotFound

                raise ResourceNotFound(f"media {url} is not registered")
            return found.url, found.root
        return url, spec.get("Root")

    def execute(self, row: Any, timeout: float | None = None) -> Any:
        """Run a claimed job to its end and record the outcome; returns the final row."""
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(row.id, row.runs, stop), daemon=True)
        renewer.start()
        status, code, message, made = "Success", None, None, None
        abandoned = False
        try:
            source, source_root = self.input_url(row)
            made = run_job(
                row.config,
                source,
                row.output["Media"],
                self.storage,
                timeout or self.job_timeout,
                input_root=source_root,
                output_root=row.output.get("Root"),
                limit=row.snapshot_limit,
                stop=self.stopping,
            )
            if made.get("dropped"):  # fewer than asked: the job says how many and why
                asked = made["count"] + made["dropped"]
                message = f"{made['count']} of {asked} snapshots written: {made['reason']}"
        except Abandoned:
            abandoned = True
        except Exception as exc:  # every failure becomes the job's Code and Message
            status = "Fail"
            code, message = error_code(exc)
            if not isinstance(exc, StillframeError):
                log.exception("job %s failed", row.id)
        finally:
            stop.set()
            renewer.join()
        if abandoned:
            return self.release(row)
        return self.finish(row.id, status, code, message, made, run=row.runs)

    def release(self, row: Any) -> Any:
        """Give a job this runner abandoned back to the queue: its lease ends now, so the
        next worker to look claims it, and the attempt does not count against it."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.jobs)
                .where(
                    t.jobs.c.id == row.id,
                    t.jobs.c.claimed_by == self.ident,
                    t.jobs.c.runs == row.runs,
                    t.jobs.c.status == "Processing",
                )
                .values(lease_until=0.0, claimed_by=None, attempts=max(row.attempts - 1, 0), modified_time=time.time())
            )
            announce(conn)
            return conn.execute(select(t.jobs).where(t.jobs.c.id == row.id)).first()

    def finish(
        self, job_id: str, status: str, code: str | None, message: str | None, made: dict | None, run: int | None = None
    ) -> Any:
        """Record a job's end, if it is still ours: claimed by this runner and, given
        `run` (its `runs` when we claimed it), not claimed again since, by another
        thread sharing this runner after our lease ran out.

        A store that cannot be reached (restarting) is tried again for as long as
        the lease lasts: the job's outputs are in place, and recording them beats
        running the job again once the lease has run out."""
        deadline = time.monotonic() + self.lease
        delay = 0.1
        while True:
            try:
                return self._finish(job_id, status, code, message, made, run)
            except Exception as exc:
                if not unavailable(exc) or time.monotonic() + delay > deadline:
                    raise
                log.warning("recording the end of job %s failed (%s); trying again", job_id, first_line(exc))
                time.sleep(delay)
                delay = min(2.0, delay * 2)

    def _finish(
        self, job_id: str, status: str, code: str | None, message: str | None, made: dict | None, run: int | None
    ) -> Any:
        values: dict[str, Any] = dict(status=status, code=code, message=message, lease_until=None)
        if made is not None:
            values.update(result=made, count=made.get("count"), tile_count=made.get("tile_count"))
        with self.engine.begin() as conn:
            now = t.db_now(conn)
            values.update(finish_time=now, modified_time=now)
            # Only the lease holder records the end: a worker whose lease ran out while it
            # worked (and whose job another took over) neither overwrites nor notifies.
            ended = conn.execute(
                update(t.jobs)
                .where(
                    t.jobs.c.id == job_id,
                    t.jobs.c.claimed_by == self.ident,
                    t.jobs.c.status == "Processing",
                    *([] if run is None else [t.jobs.c.runs == run]),
                )
                .values(**values)
            ).rowcount
            row = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
            notify_url = None
            freed = bool(ended and row is not None and row.pipeline_id)
            if freed and row is not None:
                pipe = conn.execute(select(t.pipelines.c.notify_url).where(t.pipelines.c.id == row.pipeline_id)).first()
                notify_url = pipe[0] if pipe else None
                announce(conn)  # a slot of the pipeline is free: its next job may start
        if freed:
            self.wakeup.ring()
        if ended and row is not None:
            self.notifier.send(notify_url, finished_message(row))
        return row

    def run_once(self) -> bool:
        """Claim one queued job and run it; whether there was one."""
        row = self.claim()
        if row is None:
            return False
        self.execute(row)
        return True

    def _heartbeat(self) -> None:
        # One heartbeat per runner, not per thread: its threads share the identity.
        with self._beat_lock:
            if time.monotonic() - self._beat <= HEARTBEAT_EVERY:
                return
            self._beat = time.monotonic()
        try:
            heartbeat(self.engine, self.ident)  # `jobs wait` can tell that a worker runs
        except Exception:
            self._beat = 0.0  # the next thread to loop tries again
            raise

    def run_forever(self, stop: threading.Event, poll: float = FIRST_POLL, cap: float = POLL_CAP) -> None:
        """Run jobs until `stop` is set. Idle, wait for a ring of `self.wakeup` (a job
        submitted in this process, or announced on PostgreSQL) or else poll, the
        waits doubling from `poll` to `cap` seconds until work is found again."""
        idle = Backoff(poll, cap)
        waited = False
        while not stop.is_set():
            try:
                self._heartbeat()
                row = self.claim()
                if row is None:
                    waited = True
                    self.wakeup.wait(stop, idle.next())
                    continue
                if waited:  # the first job after a wait may have come with others: pass the ring on
                    self.wakeup.ring()
                waited = False
                idle.reset()
                self.execute(row)
            except Exception as exc:  # the store was busy or gone for a moment: try again
                if unavailable(exc):
                    log.warning("the job store cannot be reached (%s); trying again", first_line(exc))
                else:
                    log.exception("worker loop")
                stop.wait(1.0)
