"""Running live snapshot jobs: a supervisor in each worker claims the jobs that should
be capturing (with a lease, like VOD jobs), runs a Capture for each, and follows the
store: a stop or restart command given to any process reaches the capture at the
next tick; a dead worker's jobs are claimed again when its leases run out."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Engine

from stillframe.jobs import store as t
from stillframe.jobs.capture import Capture, Shot
from stillframe.jobs.live_model import iso_ms, ms, render
from stillframe.jobs.notify import Notifier
from stillframe.jobs.storage import LiveOutput
from stillframe.jobs.wakeup import LISTEN_NAME, POLL_CAP, Backoff, Wakeup

log = logging.getLogger("stillframe.live")


@dataclass
class _Running:
    capture: Capture
    epoch: int


class LiveSupervisor:
    """`capture_options` go to each Capture (open_timeout, read_timeout, backoff...)."""

    def __init__(
        self,
        engine: Engine,
        notifier: Notifier,
        ident: str,
        *,
        lease_seconds: float = 30.0,
        storage_options: Mapping[str, Any] | None = None,
        capture_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.notifier = notifier
        self.ident = ident
        self.lease = lease_seconds
        self.storage_options = dict(storage_options or {})
        self.capture_options = dict(capture_options or {})
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        # Rung by wake() for a job made or commanded in this process, and on PostgreSQL
        # by another process's (store.announce on LIVE_CHANNEL).
        self._wakeup = Wakeup(engine, t.LIVE_CHANNEL, f"{LISTEN_NAME}-live")

    # -- the loop ------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, poll: float = 0.5, cap: float = POLL_CAP) -> None:
        """Tick every `poll` seconds while captures run (they follow the store's
        commands and renew their leases); with none, the waits double up to `cap`."""
        idle = Backoff(poll, cap)
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # the store was busy or gone for a moment: try again
                    log.exception("live supervisor")
                with self._lock:
                    busy = bool(self._running)
                if busy:
                    idle.reset()
                self._wakeup.wait(stop, poll if busy else idle.next())
        finally:
            self.close()
            self._wakeup.close()

    def tick(self) -> None:
        """Follow commands for our captures, renew their leases, claim new jobs.
        Leases are reckoned by the store's clock (store.db_now), never this host's."""
        with self._lock:
            mine = dict(self._running)
        if mine:
            with self.engine.begin() as conn:
                now = t.db_now(conn)
                rows = {
                    r.id: r
                    for r in conn.execute(
                        select(
                            t.live_jobs.c.id, t.live_jobs.c.want, t.live_jobs.c.epoch, t.live_jobs.c.claimed_by
                        ).where(t.live_jobs.c.id.in_(list(mine)))
                    )
                }
                conn.execute(
                    update(t.live_jobs)
                    .where(t.live_jobs.c.id.in_(list(mine)), t.live_jobs.c.claimed_by == self.ident)
                    .values(lease_until=now + self.lease)
                )
            for job_id, run in mine.items():
                row = rows.get(job_id)
                if row is None or not row.want or row.claimed_by != self.ident or row.epoch != run.epoch:
                    self.halt(job_id)
        # Restarted jobs (epoch changed) are still ours: release them so the claim below
        # picks them up afresh with their new epoch.
        with self.engine.begin() as conn:
            now = t.db_now(conn)
            free = or_(
                t.live_jobs.c.claimed_by.is_(None),
                t.live_jobs.c.lease_until.is_(None),
                t.live_jobs.c.lease_until < now,
                and_(t.live_jobs.c.claimed_by == self.ident, t.live_jobs.c.id.not_in(list(self._running))),
            )
            candidates = conn.execute(select(t.live_jobs).where(t.live_jobs.c.want.is_(True), free)).all()
            claimed = []
            for row in candidates:
                done = conn.execute(
                    update(t.live_jobs)
                    .where(
                        t.live_jobs.c.id == row.id,
                        t.live_jobs.c.modified_time == row.modified_time,
                        t.live_jobs.c.lease_until.is_(row.lease_until)
                        if row.lease_until is None
                        else t.live_jobs.c.lease_until == row.lease_until,
                    )
                    .values(claimed_by=self.ident, lease_until=now + self.lease)
                )
                if done.rowcount == 1:
                    claimed.append(row)
        for row in claimed:
            self._launch(row)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every capture and hand their jobs back (still wanted: the next worker
        or the next start of the service resumes them)."""
        with self._lock:
            runs = list(self._running.items())
            self._running.clear()
        ids = [job_id for job_id, _ in runs]
        for _, run in runs:
            run.capture.stop()
        deadline = time.monotonic() + timeout
        for _, run in runs:
            run.capture.join(max(0.0, deadline - time.monotonic()))
        if ids:
            with self.engine.begin() as conn:
                conn.execute(
                    update(t.live_jobs)
                    .where(t.live_jobs.c.id.in_(ids), t.live_jobs.c.claimed_by == self.ident)
                    .values(claimed_by=None, lease_until=None)
                )

    def halt(self, job_id: str) -> None:
        """Stop our capture of `job_id` now (a command given in this process, or the
        store saying it is no longer ours to run)."""
        with self._lock:
            run = self._running.pop(job_id, None)
        if run is not None:
            run.capture.stop()
        self.wake()  # a start or restart is claimed at the next tick: make it now

    def capturing(self) -> frozenset[str]:
        """The live jobs this supervisor captures now."""
        with self._lock:
            return frozenset(self._running)

    def wake(self) -> None:
        """Tick now: a live job was made or commanded through this process."""
        self._wakeup.ring()

    def _launch(self, row: Any) -> None:
        job = _LiveRun(self, row)
        capture = Capture(
            row.stream_input["Url"],
            row.time_interval,
            job.shot,
            job.state,
            name=f"stillframe-live-{row.id[:8]}",
            **self.capture_options,
        )
        job.capture = capture
        with self._lock:
            self._running[row.id] = _Running(capture, row.epoch)
        capture.start()


class _LiveRun:
    """What one job does with its snapshots: name, write, record, tell."""

    def __init__(self, sup: LiveSupervisor, row: Any) -> None:
        self.sup = sup
        self.row = row
        self.sequence = row.sequence
        self.output = LiveOutput(row.snapshot_output, sup.storage_options)
        self.capture: Capture | None = None

    def _ours(self) -> Any:
        c = t.live_jobs.c
        return and_(c.id == self.row.id, c.claimed_by == self.sup.ident, c.want.is_(True), c.epoch == self.row.epoch)

    def state(self, status: str, reason: str | None) -> None:
        with self.sup.engine.begin() as conn:
            conn.execute(
                update(t.live_jobs)
                .where(self._ours(), or_(t.live_jobs.c.status != status, t.live_jobs.c.reason.is_distinct_from(reason)))
                .values(status=status, reason=reason, modified_time=time.time())
            )

    def shot(self, shot: Shot) -> None:
        row = self.row
        when = ms(time.time())
        sequence = self.sequence + 1
        seq_name = render(row.sequence_format, row.id, when, sequence) if row.sequence_format else None
        over_name = render(row.overwrite_format, row.id, when, sequence) if row.overwrite_format else None
        # The sequence file first: the overwrite file then never names a moment the
        # series lacks.
        if seq_name:
            self.output.put(seq_name, shot.jpeg)
        if over_name:
            self.output.put(over_name, shot.jpeg)
        with self.sup.engine.begin() as conn:
            done = conn.execute(update(t.live_jobs).where(self._ours()).values(sequence=sequence))
            if done.rowcount == 1:
                conn.execute(
                    insert(t.live_files).values(
                        job_id=row.id,
                        create_ms=when,
                        object=seq_name or over_name,
                        is_overlay=seq_name is None,
                        sequence=sequence,
                        stream_time=shot.stream_time,
                    )
                )
        if done.rowcount != 1:  # stopped or taken over meanwhile: this capture is done
            if self.capture is not None:
                self.capture.stop()
            return
        self.sequence = sequence
        self.sup.notifier.send(
            row.callback_url,
            {
                "JobId": row.id,
                "JobName": row.name,
                "SnapshotTime": iso_ms(when),
                "CreateTimestamp": when,
                "StreamTime": round(shot.stream_time, 3),
                "Sequence": sequence,
                "OverwriteFile": over_name and self.output.url(over_name),
                "SequenceFile": seq_name and self.output.url(seq_name),
                "StorageType": row.snapshot_output["StorageType"],
                "Bucket": row.snapshot_output["Bucket"],
                "Endpoint": row.snapshot_output.get("Endpoint"),
                "Width": shot.width,
                "Height": shot.height,
            },
        )
