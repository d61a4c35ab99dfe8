"""A job's input location in a column of its own (`input_media`, the input's `Media`:
a path, URL or registered media ID), indexed with the creation order, so that one
asset's jobs are found along an index, newest first, instead of by reading every job's
JSON. Filled from `input` for the jobs a store holds.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("input_media", sa.Text))
    jobs = sa.table("jobs", sa.column("input", sa.JSON), sa.column("input_media", sa.Text))
    op.execute(jobs.update().values(input_media=jobs.c.input["Media"].as_string()))
    op.create_index("jobs_input_media_seq", "jobs", ["input_media", "seq"])


def downgrade() -> None:
    raise NotImplementedError("the job store's revisions go forward only: restore a backup to go back")
