"""The job store's tables as stillframe made them from commit 0866ad1 (accounts) until
revisions were kept: its store.py's table definitions at b4f8438, unchanged, and the
statements its connect() ran, so that tests can make a store as those releases did."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Engine

metadata = MetaData()

# The account a resource belongs to: every read through the server is filtered by it.
# Key pairs given without an account share this one, as does the library.
DEFAULT_ACCOUNT = "default"


def _account() -> Column:
    return Column("account", String(64), nullable=False, default=DEFAULT_ACCOUNT, index=True)


jobs = Table(
    "jobs",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # keyset for paging
    Column("id", String(64), unique=True, nullable=False),
    _account(),
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
    Column("snapshot_limit", Integer),  # the most snapshots it may make (the service's cap when submitted)
)
# Claims read the oldest few jobs of one status in order: without this index each
# claim sorts the whole backlog.
CLAIM_INDEX = Index("jobs_status_seq", jobs.c.status, jobs.c.seq)

templates = Table(
    "templates",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), unique=True, nullable=False),
    _account(),
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
    _account(),
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
    _account(),
    Column("url", Text, nullable=False),
    Column("root", Text),  # the folder the media must stay in when read (its bucket), if local
    Column("create_time", Float, nullable=False),
)

live_templates = Table(
    "live_templates",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), unique=True, nullable=False),
    _account(),
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
    _account(),
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

# Preview-site sessions: the cookie holds a random token, the store its SHA-256 (`id`),
# so a session ends when its row goes (sign-out, expiry, the key removed).
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("access_key_id", String(128), nullable=False),
    Column("account", String(64), nullable=False),
    Column("key_tag", String(64), nullable=False),  # HMAC(token, secret): a new secret ends the session
    Column("csrf", String(64), nullable=False),  # the token state-changing forms must carry
    Column("create_time", Float, nullable=False),
    Column("expire_time", Float, nullable=False, index=True),
)

# Request nonces seen, kept until the request's date leaves the replay window, so that
# every server sharing the store refuses a request replayed to any of them.
nonces = Table(
    "nonces",
    metadata,
    Column("key", String(64), primary_key=True),  # SHA-256 of (access key, nonce)
    Column("expire_time", Float, nullable=False, index=True),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


def make(engine: Engine) -> None:
    """The tables, as those releases' connect() made them."""
    with engine.begin() as conn:
        metadata.create_all(conn)
        CLAIM_INDEX.create(conn, checkfirst=True)
