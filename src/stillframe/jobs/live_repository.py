"""The store's live rows (live templates, live jobs and the files each has written) as
LiveJobs reads and writes them: every statement of the live service is here, with the
filters, order and page of each listing done by the database.

Each method takes `account` as repository.Repository's do: None reaches every
account's rows; a name keeps to that account's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine, Row

from stillframe.errors import JobAlreadyStarted, JobLimitExceeded
from stillframe.jobs import store as t
from stillframe.jobs.repository import mine

__all__ = ["LIMIT_LOCK", "LiveRepository"]

LIMIT_LOCK = 0x5F11F4A40  # PostgreSQL advisory lock key held while a job is counted against the limit


class LiveRepository:
    """The rows of live templates, live jobs and their files in one store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- templates -----------------------------------------------------------------------

    def insert_template(self, row: dict[str, Any]) -> None:
        """Store a new live template."""
        with self.engine.begin() as conn:
            conn.execute(insert(t.live_templates).values(**row))

    def template(self, template_id: str, account: str | None = None) -> Row | None:
        """The row of one live template, or None."""
        c = t.live_templates.c
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.live_templates).where(c.id == template_id, *mine(t.live_templates, account))
            ).first()

    def template_page(
        self, account: str | None, *, keyword: str | None, ids: list[str] | None, desc: bool, offset: int, limit: int
    ) -> tuple[int, list[Row]]:
        """(how many live templates match, the page): among `ids`, `keyword` in the
        name whatever its case, newest first when `desc`."""
        c = t.live_templates.c
        conds = mine(t.live_templates, account)
        if keyword:
            conds.append(c.name.icontains(keyword, autoescape=True))
        if ids is not None:
            conds.append(c.id.in_(ids))
        return self._page(t.live_templates, conds, desc, offset, limit)

    def update_template(self, template_id: str, values: dict[str, Any]) -> None:
        """Change a live template's columns."""
        with self.engine.begin() as conn:
            conn.execute(update(t.live_templates).where(t.live_templates.c.id == template_id).values(**values))

    def delete_template(self, template_id: str) -> None:
        """Remove a live template."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.live_templates).where(t.live_templates.c.id == template_id))

    # -- jobs ----------------------------------------------------------------------------

    def insert_job(self, row: dict[str, Any], limit: int) -> None:
        """Store a new live job; one that is wanted (capturing) is counted against
        `limit` of its account's in the same transaction (JobLimitExceeded), and
        supervisors of every process are told at commit."""
        with self.engine.begin() as conn:
            if row["want"]:
                self._check_limit(conn, row["account"], limit)
            conn.execute(insert(t.live_jobs).values(**row))
            if row["want"]:
                t.announce(conn, t.LIVE_CHANNEL)

    def job(self, job_id: str, account: str | None = None) -> Row | None:
        """The row of one live job, or None."""
        with self.engine.connect() as conn:
            return self._job(conn, job_id, account)

    def job_page(
        self,
        account: str | None,
        *,
        created_from: float,
        created_to: float,
        status: str | None,
        keyword: str | None,
        desc: bool,
        offset: int,
        limit: int,
    ) -> tuple[int, list[Row]]:
        """(how many live jobs match, the page): created in the window, in `status`,
        `keyword` in the name whatever its case, newest first when `desc`."""
        c = t.live_jobs.c
        conds = [c.create_time >= created_from, c.create_time <= created_to, *mine(t.live_jobs, account)]
        if status is not None:
            conds.append(c.status == status)
        if keyword:
            conds.append(c.name.icontains(keyword, autoescape=True))
        return self._page(t.live_jobs, conds, desc, offset, limit)

    def stop_job(self, job_id: str, values: dict[str, Any]) -> None:
        """Stop wanting a job (`values` say its state now); supervisors are told at commit."""
        with self.engine.begin() as conn:
            conn.execute(update(t.live_jobs).where(t.live_jobs.c.id == job_id).values(want=False, **values))
            t.announce(conn, t.LIVE_CHANNEL)

    def start_job(self, job_id: str, *, restart: bool, limit: int, now: float) -> None:
        """Want a job captured from a new epoch: JobAlreadyStarted when it is wanted
        already (unless `restart`); a job not wanted yet is counted against `limit`
        of its account's, in the transaction that sets it."""
        with self.engine.begin() as conn:
            current = self._job(conn, job_id)
            if current is None:
                return
            if not restart and current.want:
                raise JobAlreadyStarted(f"live snapshot job {job_id} is {current.status} already")
            if not current.want:
                self._check_limit(conn, current.account, limit)
            conn.execute(
                update(t.live_jobs)
                .where(t.live_jobs.c.id == job_id)
                .values(want=True, status="started", reason=None, epoch=current.epoch + 1, modified_time=now)
            )
            t.announce(conn, t.LIVE_CHANNEL)

    # -- files ---------------------------------------------------------------------------

    def files(self, job_id: str, low_ms: int, high_ms: int, *, desc: bool, limit: int) -> list[Row]:
        """Up to `limit` of a job's file records taken in [low_ms, high_ms], by time."""
        c = t.live_files.c
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(t.live_files)
                    .where(c.job_id == job_id, c.create_ms >= low_ms, c.create_ms <= high_ms)
                    .order_by(c.create_ms.desc() if desc else c.create_ms.asc())
                    .limit(limit)
                ).all()
            )

    def delete_files(self, job_id: str, stamp: int) -> tuple[list[Row], list[str]]:
        """Forget a job's records taken at `stamp` (ms): (the records, the objects no
        record names any more, whose files may go)."""
        c = t.live_files.c
        with self.engine.begin() as conn:
            rows = list(conn.execute(select(t.live_files).where(c.job_id == job_id, c.create_ms == stamp)).all())
            conn.execute(delete(t.live_files).where(c.job_id == job_id, c.create_ms == stamp))
            # An overwrite file is shared by its records: it goes with the last of them.
            unused = [
                r.object
                for r in rows
                if not conn.execute(
                    select(func.count()).select_from(t.live_files).where(c.job_id == job_id, c.object == r.object)
                ).scalar()
            ]
        return rows, unused

    # -- shared ----------------------------------------------------------------------------

    @staticmethod
    def _job(conn: Connection, job_id: str, account: str | None = None) -> Row | None:
        c = t.live_jobs.c
        return conn.execute(select(t.live_jobs).where(c.id == job_id, *mine(t.live_jobs, account))).first()

    @staticmethod
    def _check_limit(conn: Connection, account: str, limit: int) -> None:
        """JobLimitExceeded if `limit` of `account`'s jobs are wanted (ICE: a limit an
        account); call it in the transaction that then sets `want`."""
        if conn.dialect.name == "postgresql":
            # Under READ COMMITTED, transactions counting at once would each see room
            # for one more; this lock makes them count in turn, each after the last
            # one's commit (SQLite's BEGIN IMMEDIATE does the same).
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LIMIT_LOCK})
        c = t.live_jobs.c
        running = conn.execute(
            select(func.count()).select_from(t.live_jobs).where(c.want.is_(True), c.account == account)
        ).scalar()
        if (running or 0) >= limit:
            raise JobLimitExceeded(f"{limit} live snapshot jobs are running already")

    def _page(self, table: Table, conds: list[Any], desc: bool, offset: int, limit: int) -> tuple[int, list[Row]]:
        order = table.c.seq.desc() if desc else table.c.seq.asc()
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(table).where(*conds)).scalar() or 0
            rows = conn.execute(select(table).where(*conds).order_by(order).offset(offset).limit(limit)).all()
        return int(total), list(rows)
