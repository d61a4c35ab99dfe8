"""The job store: SQLAlchemy Core tables, so the same code runs on SQLite (the
default, in WAL mode) and on PostgreSQL for several hosts."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from stillframe.jobs import schema

metadata = MetaData()

# The account a resource belongs to: every read through the server is filtered by it.
# Key pairs given without an account share this one, as does the library.
DEFAULT_ACCOUNT = "default"


def _account() -> Column:
    # The server default fills the rows of stores made before accounts (migrations, 0002).
    return Column(
        "account", String(64), nullable=False, default=DEFAULT_ACCOUNT, server_default=DEFAULT_ACCOUNT, index=True
    )


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
    Column("input_media", Text),  # input["Media"], kept apart to be indexed: one asset's jobs
)
# Claims read the oldest few jobs of one status in order: without this index each
# claim sorts the whole backlog.
CLAIM_INDEX = Index("jobs_status_seq", jobs.c.status, jobs.c.seq)
# Huawei's listing of one asset's jobs, newest first, reads that asset's rows along this.
Index("jobs_input_media_seq", jobs.c.input_media, jobs.c.seq)

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


# A worker says it is alive this often; `jobs wait` counts one as running if it
# spoke within HEARTBEAT_STALE seconds.
HEARTBEAT_EVERY = 2.0
HEARTBEAT_STALE = 10.0

WAKE_CHANNEL = "stillframe_jobs"  # PostgreSQL NOTIFY channel: a job may be claimable
LIVE_CHANNEL = "stillframe_live"  # and: a live job was started, restarted or stopped


def announce(conn: Any, channel: str = WAKE_CHANNEL) -> None:
    """Tell idle workers of every process that a job may be claimable (PostgreSQL
    NOTIFY; nothing elsewhere). Call it in the transaction that makes the job so:
    the notification is delivered at its commit, never before the row is visible."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"NOTIFY {channel}"))


def db_now(conn: Any) -> float:
    """Seconds since the epoch by the store's clock: on PostgreSQL the server's, so
    that hosts whose clocks disagree still agree on when a lease ends; on SQLite
    (one host) this host's."""
    if conn.dialect.name == "postgresql":
        return float(conn.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one())
    return time.time()


def heartbeat(engine: Engine, ident: str) -> None:
    """Record that worker `ident` is polling this store now (by the store's clock)."""
    key = f"worker:{ident}"[:64]
    with engine.begin() as conn:
        now = f"{db_now(conn):.3f}"
        if conn.execute(update(meta).where(meta.c.key == key).values(value=now)).rowcount == 0:
            try:
                with conn.begin_nested():
                    conn.execute(insert(meta).values(key=key, value=now))
            except IntegrityError:  # another thread of the same worker got there first
                pass


def live_workers(engine: Engine, within: float = HEARTBEAT_STALE) -> int:
    """How many workers polled this store in the last `within` seconds."""
    with engine.connect() as conn:
        rows = conn.execute(select(meta.c.value).where(meta.c.key.like("worker:%"))).all()
        now = db_now(conn)
    return sum(1 for (value,) in rows if now - float(value) <= within)


def data_dir() -> Path:
    """The user's data directory for stillframe ($XDG_DATA_HOME/stillframe), made if need be."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "stillframe"
    base.mkdir(parents=True, exist_ok=True)
    return base


def default_url() -> str:
    """STILLFRAME_DB, else an SQLite file in the user's data directory."""
    env = os.environ.get("STILLFRAME_DB")
    if env:
        return env if "://" in env else f"sqlite:///{Path(env).expanduser()}"
    return f"sqlite:///{data_dir() / 'jobs.db'}"


def connect(store: str | os.PathLike[str] | None, *, prepare: bool = True) -> Engine:
    """An engine for `store`: None (the default), a path, or an SQLAlchemy URL. With
    `prepare`, an empty store is made and any other checked to be at the schema this
    stillframe reads (StoreOutdated otherwise: see stillframe.jobs.schema)."""
    if store is None:
        url = default_url()
    else:
        name = os.fspath(store)
        url = name if "://" in name else f"sqlite:///{Path(name).expanduser()}"
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite(conn: Any, _: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # Take the write lock at BEGIN, so claim transactions never deadlock.
            conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if prepare:
        try:
            schema.prepare(engine)
        except BaseException:
            engine.dispose()
            raise
    return engine


def secret(engine: Engine) -> bytes:
    """The store's own key for signing page tokens, made on first use, so that every
    process sharing the store signs alike."""
    key = select(meta.c.value).where(meta.c.key == "token_key")
    with engine.begin() as conn:
        row = conn.execute(key).first()
        if row is not None:
            return bytes.fromhex(row[0])
        try:
            with conn.begin_nested():
                conn.execute(insert(meta).values(key="token_key", value=secrets.token_hex(32)))
        except IntegrityError:  # another process made it first: use theirs
            pass
        return bytes.fromhex(conn.execute(key).scalar_one())
