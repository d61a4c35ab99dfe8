"""Accounts and caps: every object belongs to an account (the rows a store held before
go to the default account), each job records the most snapshots it may make (jobs
still waiting or running get the default cap, 20,000), a media records the folder it
must stay in, and the preview site's sessions and the request nonces are kept in the
store. Each step is skipped where the store has it already: stores made by the
releases between the baseline and this revision had these columns without a version.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DEFAULT_ACCOUNT = "default"
SNAPSHOT_LIMIT = 20000
OWNED = ("jobs", "templates", "pipelines", "media", "live_templates", "live_jobs")


def upgrade() -> None:
    have = sa.inspect(op.get_bind())
    tables = set(have.get_table_names())

    def columns(table: str) -> set[str]:
        return {c["name"] for c in have.get_columns(table)}

    def indexes(table: str) -> set[str | None]:
        return {i["name"] for i in have.get_indexes(table)}

    for table in OWNED:
        if "account" not in columns(table):
            op.add_column(table, sa.Column("account", sa.String(64), nullable=False, server_default=DEFAULT_ACCOUNT))
        if f"ix_{table}_account" not in indexes(table):
            op.create_index(f"ix_{table}_account", table, ["account"])
    if "snapshot_limit" not in columns("jobs"):
        op.add_column("jobs", sa.Column("snapshot_limit", sa.Integer))
        jobs = sa.table("jobs", sa.column("status", sa.String), sa.column("snapshot_limit", sa.Integer))
        op.execute(
            jobs.update()
            .where(jobs.c.status.in_(("Init", "Processing")), jobs.c.snapshot_limit.is_(None))
            .values(snapshot_limit=SNAPSHOT_LIMIT)
        )
    if "jobs_status_seq" not in indexes("jobs"):  # stores older than the baseline lack it
        op.create_index("jobs_status_seq", "jobs", ["status", "seq"])
    if "root" not in columns("media"):
        op.add_column("media", sa.Column("root", sa.Text))
    if "ui_sessions" not in tables:
        op.create_table(
            "ui_sessions",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("access_key_id", sa.String(128), nullable=False),
            sa.Column("account", sa.String(64), nullable=False),
            sa.Column("key_tag", sa.String(64), nullable=False),
            sa.Column("csrf", sa.String(64), nullable=False),
            sa.Column("create_time", sa.Float, nullable=False),
            sa.Column("expire_time", sa.Float, nullable=False),
        )
        op.create_index("ix_ui_sessions_expire_time", "ui_sessions", ["expire_time"])
    if "nonces" not in tables:
        op.create_table(
            "nonces",
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("expire_time", sa.Float, nullable=False),
        )
        op.create_index("ix_nonces_expire_time", "nonces", ["expire_time"])


def downgrade() -> None:
    raise NotImplementedError("the job store's revisions go forward only: restore a backup to go back")
