"""The job store's tables as stillframe made them at commit 2d85520, the last release
before the store kept a schema version: its store.py's table definitions, unchanged,
and the two statements its connect() ran (create_all, then the claim index), so that
tests can make a store exactly as that release did and upgrade it."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Engine

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # keyset for paging
    Column("id", String(64), unique=True, nullable=False),
    Column("name", String(256)),
    Column("type", String(16), nullable=False),  # Normal | Sprite | WebVtt
    Column("trigger_source", String(32), nullable=False),
    Column("input", JSON, nullable=False),
    Column("output", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    Column("template_id", String(64)),
    Column("pipeline_id", String(64), index=True),
    Column("user_data", Text),
    Column("is_async", Boolean, nullable=False),
    Column("status", String(16), nullable=False, index=True),  # Init | Processing | Success | Fail
    Column("code", String(64)),
    Column("message", Text),
    Column("result", JSON),
    Column("count", Integer),
    Column("tile_count", Integer),
    Column("create_time", Float, nullable=False, index=True),
    Column("submit_time", Float, nullable=False),
    Column("finish_time", Float),
    Column("modified_time", Float, nullable=False),
    Column("claimed_by", String(128)),
    Column("lease_until", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("runs", Integer, nullable=False, default=0),  # times a worker started it
)
# Claims read the oldest few jobs of one status in order: without this index each
# claim sorts the whole backlog.
CLAIM_INDEX = Index("jobs_status_seq", jobs.c.status, jobs.c.seq)

templates = Table(
    "templates",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), unique=True, nullable=False),
    Column("name", String(256), nullable=False),
    Column("type", String(16), nullable=False),
    Column("config", JSON, nullable=False),
    Column("create_time", Float, nullable=False),
    Column("modified_time", Float, nullable=False),
)

pipelines = Table(
    "pipelines",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), unique=True, nullable=False),
    Column("name", String(256), nullable=False),
    Column("max_concurrency", Integer, nullable=False),
    Column("notify_url", Text),
    Column("state", String(16), nullable=False),  # Active | Paused
    Column("create_time", Float, nullable=False),
    Column("modified_time", Float, nullable=False),
)

media = Table(
    "media",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), unique=True, nullable=False),
    Column("url", Text, nullable=False),
    Column("create_time", Float, nullable=False),
)

live_templates = Table(
    "live_templates",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), unique=True, nullable=False),
    Column("name", String(256), nullable=False),
    Column("time_interval", Integer, nullable=False),
    Column("overwrite_format", String(255)),
    Column("sequence_format", String(255)),
    Column("create_time", Float, nullable=False),
    Column("modified_time", Float, nullable=False),
)

live_jobs = Table(
    "live_jobs",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), unique=True, nullable=False),
    Column("name", String(256), nullable=False),
    # The template's values as they were at submission: a job never changes under its captures.
    Column("template_id", String(64), nullable=False),
    Column("template_name", String(256), nullable=False),
    Column("time_interval", Integer, nullable=False),
    Column("overwrite_format", String(255)),
    Column("sequence_format", String(255)),
    Column("stream_input", JSON, nullable=False),
    Column("snapshot_output", JSON, nullable=False),
    Column("callback_url", Text),
    Column("status", String(16), nullable=False, index=True),  # init | started | paused
    Column("want", Boolean, nullable=False, index=True),  # a worker should be capturing it
    Column("epoch", Integer, nullable=False, default=0),  # bumped by restart: captures begin anew
    Column("reason", Text),  # why it is paused
    Column("sequence", Integer, nullable=False, default=0),  # snapshots taken so far
    Column("claimed_by", String(128)),
    Column("lease_until", Float),
    Column("create_time", Float, nullable=False, index=True),
    Column("modified_time", Float, nullable=False),
)

live_files = Table(
    "live_files",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(64), nullable=False),
    Column("create_ms", BigInteger, nullable=False),
    Column("object", Text, nullable=False),
    Column("is_overlay", Boolean, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("stream_time", Float, nullable=False),
    Index("live_files_job_time", "job_id", "create_ms"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


def make(engine: Engine) -> None:
    """The tables, as that release's connect() made them."""
    with engine.begin() as conn:
        metadata.create_all(conn)
        CLAIM_INDEX.create(conn, checkfirst=True)
