"""The store's snapshot-side rows (jobs, templates, pipelines, media) as the services
read and write them: every statement is here, and every filter, sort and limit a
listing takes is done by the database, so that a page of a large store reads that
page's rows, not the table.

Each method takes `account`: None (the library, the CLI) reaches every account's rows;
a name keeps to that account's, and another's are not found."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.engine import Engine, Row

from stillframe.jobs import store as t

__all__ = ["JobFilter", "Repository", "mine", "owner"]


def owner(account: str | None) -> str:
    """The account a new row goes to."""
    return account or t.DEFAULT_ACCOUNT


def mine(table: Table, account: str | None) -> list[Any]:
    """The condition that keeps `account`'s rows (none for account=None: all rows)."""
    return [] if account is None else [table.c.account == account]


@dataclass(frozen=True)
class JobFilter:
    """Which jobs a listing takes: each field given narrows it (all must hold)."""

    account: str | None = None
    ids: tuple[str, ...] | None = None
    status: str | None = None
    code: str | None = None  # only jobs that ended with this Code
    not_code: str | None = None  # only jobs that did not (a NULL Code counts as another)
    pipeline_id: str | None = None
    media: str | None = None  # the input's Media: a path, URL or registered media ID
    created_from: float | None = None
    created_to: float | None = None

    def conditions(self) -> list[Any]:
        """The WHERE clause of this filter."""
        c = t.jobs.c
        conds = mine(t.jobs, self.account)
        if self.ids is not None:
            conds.append(c.id.in_(self.ids))
        if self.status is not None:
            conds.append(c.status == self.status)
        if self.code is not None:
            conds.append(c.code == self.code)
        if self.not_code is not None:
            conds.append(c.code.is_distinct_from(self.not_code))
        if self.pipeline_id is not None:
            conds.append(c.pipeline_id == self.pipeline_id)
        if self.media is not None:
            conds.append(c.input_media == self.media)
        if self.created_from is not None:
            conds.append(c.create_time >= self.created_from)
        if self.created_to is not None:
            conds.append(c.create_time <= self.created_to)
        return conds


class Repository:
    """The rows of snapshot jobs, templates, pipelines and media in one store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- jobs ----------------------------------------------------------------------------

    def insert_job(self, row: dict[str, Any], *, lease: float | None = None) -> None:
        """Store a new job. `lease`: the job is taken by its submitter (a synchronous
        job) for that many seconds by the store's clock; else it is queued and idle
        workers of every process are told."""
        row = {"input_media": row["input"].get("Media"), **row}  # the input's column of its own, indexed
        with self.engine.begin() as conn:
            if lease is not None:
                row = {**row, "lease_until": t.db_now(conn) + lease}
            conn.execute(insert(t.jobs).values(**row))
            if lease is None:
                t.announce(conn)  # delivered at commit, once the row is visible

    def job(self, job_id: str, account: str | None = None) -> Row | None:
        """The row of one job, or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(t.jobs).where(t.jobs.c.id == job_id, *mine(t.jobs, account))).first()

    def cancel_job(self, job_id: str, account: str | None, values: dict[str, Any]) -> bool:
        """End a job still waiting (Init) with `values`; whether it was waiting. Atomic
        against a worker's claim, which takes only a job still Init."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id, t.jobs.c.status == "Init", *mine(t.jobs, account))
                .values(**values)
            )
        return bool(done.rowcount == 1)

    def last_seq(self) -> int:
        """The newest job's position in the creation order (0 for none)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(t.jobs.c.seq))).scalar() or 0)

    def job_keyset(self, where: JobFilter, *, high: int, after: int | None, desc: bool, limit: int) -> list[Row]:
        """Up to `limit` jobs in creation order from just past `after`, none newer than `high`."""
        seq = t.jobs.c.seq
        conds = [*where.conditions(), seq <= high]
        if after is not None:
            conds.append(seq < after if desc else seq > after)
        q = select(t.jobs).where(*conds).order_by(seq.desc() if desc else seq.asc()).limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(q).all())

    def job_page(self, where: JobFilter, *, offset: int, limit: int, desc: bool = True) -> tuple[int, list[Row]]:
        """(how many jobs match, those at `offset`..`offset + limit` in creation order)."""
        seq = t.jobs.c.seq
        conds = where.conditions()
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.jobs).where(*conds)).scalar() or 0
            rows = conn.execute(
                select(t.jobs).where(*conds).order_by(seq.desc() if desc else seq.asc()).offset(offset).limit(limit)
            ).all()
        return int(total), list(rows)

    # -- templates -----------------------------------------------------------------------

    def insert_template(self, row: dict[str, Any]) -> None:
        """Store a new snapshot template."""
        with self.engine.begin() as conn:
            conn.execute(insert(t.templates).values(**row))

    def template(self, template_id: str, account: str | None = None) -> Row | None:
        """The row of one template, or None."""
        c = t.templates.c
        with self.engine.connect() as conn:
            return conn.execute(select(t.templates).where(c.id == template_id, *mine(t.templates, account))).first()

    def template_page(
        self,
        account: str | None,
        *,
        type: str | None = None,
        ids: Iterable[str] | None = None,
        name: str | None = None,
        desc: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[Row]]:
        """(how many templates match, the page): of one Type, among `ids`, with `name`
        in their name, oldest first unless `desc`."""
        c = t.templates.c
        conds = mine(t.templates, account)
        if type is not None:
            conds.append(c.type == type)
        if ids is not None:
            conds.append(c.id.in_(list(ids)))
        if name:
            conds.append(c.name.contains(name, autoescape=True))
        return self._page(t.templates, conds, desc, offset, limit)

    def update_template(self, template_id: str, values: dict[str, Any]) -> None:
        """Change a template's columns."""
        with self.engine.begin() as conn:
            conn.execute(update(t.templates).where(t.templates.c.id == template_id).values(**values))

    def delete_template(self, template_id: str) -> None:
        """Remove a template."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.templates).where(t.templates.c.id == template_id))

    # -- pipelines -----------------------------------------------------------------------

    def insert_pipeline(self, row: dict[str, Any]) -> None:
        """Store a new pipeline."""
        with self.engine.begin() as conn:
            conn.execute(insert(t.pipelines).values(**row))

    def pipeline(self, pipeline_id: str, account: str | None = None) -> Row | None:
        """The row of one pipeline, or None."""
        c = t.pipelines.c
        with self.engine.connect() as conn:
            return conn.execute(select(t.pipelines).where(c.id == pipeline_id, *mine(t.pipelines, account))).first()

    def pipeline_page(
        self,
        account: str | None,
        *,
        ids: Iterable[str] | None = None,
        state: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[Row]]:
        """(how many pipelines match, the page), oldest first: among `ids`, in `state`."""
        c = t.pipelines.c
        conds = mine(t.pipelines, account)
        if ids is not None:
            conds.append(c.id.in_(list(ids)))
        if state is not None:
            conds.append(c.state == state)
        return self._page(t.pipelines, conds, False, offset, limit)

    def update_pipeline(self, pipeline_id: str, values: dict[str, Any]) -> None:
        """Change a pipeline's columns; its waiting jobs may be claimable now (workers are told)."""
        with self.engine.begin() as conn:
            conn.execute(update(t.pipelines).where(t.pipelines.c.id == pipeline_id).values(**values))
            t.announce(conn)

    def delete_pipeline(self, pipeline_id: str) -> None:
        """Remove a pipeline."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.pipelines).where(t.pipelines.c.id == pipeline_id))

    # -- media ---------------------------------------------------------------------------

    def insert_media(self, media_id: str, account: str | None, url: str, root: str | None) -> None:
        """Register a media."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.media).values(id=media_id, account=owner(account), url=url, root=root, create_time=time.time())
            )

    def media(self, media_id: str, account: str | None = None) -> Row | None:
        """The row of one media, or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(t.media).where(t.media.c.id == media_id, *mine(t.media, account))).first()

    # -- shared ----------------------------------------------------------------------------

    def _page(
        self, table: Table, conds: list[Any], desc: bool, offset: int, limit: int | None
    ) -> tuple[int, list[Row]]:
        order = table.c.seq.desc() if desc else table.c.seq.asc()
        q = select(table).where(*conds).order_by(order).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            rows = list(conn.execute(q).all())
            if limit is None or (len(rows) < limit and (rows or offset == 0)):
                return offset + len(rows), rows  # the whole remainder was read: no count needed
            total = conn.execute(select(func.count()).select_from(table).where(*conds)).scalar() or 0
        return int(total), rows
