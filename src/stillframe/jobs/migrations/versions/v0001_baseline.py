"""Baseline: the job store as stillframe made it before it kept a schema version
(jobs, templates, pipelines, media, live templates, jobs and files, meta), with the
claim index. A store made then is adopted at this revision and upgraded from it.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _key() -> list[sa.Column]:
    return [
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), unique=True, nullable=False),
    ]


def upgrade() -> None:
    """The first schema, table by table: long because it is the whole schema as
    released, kept exactly so that later revisions apply to it unchanged."""
    op.create_table(
        "jobs",
        *_key(),
        sa.Column("name", sa.String(256)),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("trigger_source", sa.String(32), nullable=False),
        sa.Column("input", sa.JSON, nullable=False),
        sa.Column("output", sa.JSON, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("template_id", sa.String(64)),
        sa.Column("pipeline_id", sa.String(64)),
        sa.Column("user_data", sa.Text),
        sa.Column("is_async", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64)),
        sa.Column("message", sa.Text),
        sa.Column("result", sa.JSON),
        sa.Column("count", sa.Integer),
        sa.Column("tile_count", sa.Integer),
        sa.Column("create_time", sa.Float, nullable=False),
        sa.Column("submit_time", sa.Float, nullable=False),
        sa.Column("finish_time", sa.Float),
        sa.Column("modified_time", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("lease_until", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
    )
    op.create_index("ix_jobs_pipeline_id", "jobs", ["pipeline_id"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_create_time", "jobs", ["create_time"])
    op.create_index("jobs_status_seq", "jobs", ["status", "seq"])
    op.create_table(
        "templates",
        *_key(),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("create_time", sa.Float, nullable=False),
        sa.Column("modified_time", sa.Float, nullable=False),
    )
    op.create_table(
        "pipelines",
        *_key(),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("max_concurrency", sa.Integer, nullable=False),
        sa.Column("notify_url", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("create_time", sa.Float, nullable=False),
        sa.Column("modified_time", sa.Float, nullable=False),
    )
    op.create_table(
        "media",
        *_key(),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("create_time", sa.Float, nullable=False),
    )
    op.create_table(
        "live_templates",
        *_key(),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("time_interval", sa.Integer, nullable=False),
        sa.Column("overwrite_format", sa.String(255)),
        sa.Column("sequence_format", sa.String(255)),
        sa.Column("create_time", sa.Float, nullable=False),
        sa.Column("modified_time", sa.Float, nullable=False),
    )
    op.create_table(
        "live_jobs",
        *_key(),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("template_id", sa.String(64), nullable=False),
        sa.Column("template_name", sa.String(256), nullable=False),
        sa.Column("time_interval", sa.Integer, nullable=False),
        sa.Column("overwrite_format", sa.String(255)),
        sa.Column("sequence_format", sa.String(255)),
        sa.Column("stream_input", sa.JSON, nullable=False),
        sa.Column("snapshot_output", sa.JSON, nullable=False),
        sa.Column("callback_url", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("want", sa.Boolean, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("lease_until", sa.Float),
        sa.Column("create_time", sa.Float, nullable=False),
        sa.Column("modified_time", sa.Float, nullable=False),
    )
    op.create_index("ix_live_jobs_status", "live_jobs", ["status"])
    op.create_index("ix_live_jobs_want", "live_jobs", ["want"])
    op.create_index("ix_live_jobs_create_time", "live_jobs", ["create_time"])
    op.create_table(
        "live_files",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("create_ms", sa.BigInteger, nullable=False),
        sa.Column("object", sa.Text, nullable=False),
        sa.Column("is_overlay", sa.Boolean, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("stream_time", sa.Float, nullable=False),
    )
    op.create_index("live_files_job_time", "live_files", ["job_id", "create_ms"])
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the job store's revisions go forward only: restore a backup to go back")
