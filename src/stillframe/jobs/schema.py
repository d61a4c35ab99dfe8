"""The job store's schema version, kept by Alembic in the store itself (table
`stillframe_schema`), with the revisions shipped in stillframe.jobs.migrations.

Opening a store (`prepare`) makes an empty one at the newest revision and refuses one
at any other with StoreOutdated, in one line saying to run `stillframe jobs migrate`:
a server or worker never runs against tables it does not know. `migrate` brings a
store up to date; a store made before versions were kept is adopted at the baseline
revision first (the later revisions skip what such a store has already)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from stillframe.errors import StoreOutdated

__all__ = ["BASELINE", "VERSION_TABLE", "head", "migrate", "prepare", "revision"]

VERSION_TABLE = "stillframe_schema"
BASELINE = "0001"  # the schema of the releases that kept no version
SCHEMA_LOCK = 0x5F11F4A3E  # PostgreSQL advisory lock key held while the tables are made or migrated
SCRIPTS = Path(__file__).with_name("migrations")

# Alembic says at INFO what it sets up and runs, on every start of a server that logs at
# INFO; its warnings stay. A level the application set is left alone.
if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _config(conn: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS).replace("%", "%%"))
    cfg.attributes["connection"] = conn  # env.py runs the revisions on it
    return cfg


@functools.lru_cache(maxsize=1)
def _scripts() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision: the schema this stillframe reads and writes."""
    return str(_scripts().get_current_head())


def revision(conn: Connection) -> str | None:
    """The store's revision, None when it keeps none (empty, or made before versions were kept)."""
    from alembic.runtime.migration import MigrationContext

    found = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    return None if found is None else str(found)


def _lock(conn: Connection) -> None:
    # Processes started at once on an empty database would race to make the same
    # tables; DDL is transactional on PostgreSQL, so one lock makes them take turns.
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})


def _has_tables(conn: Connection) -> bool:
    return inspect(conn).has_table("jobs")


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _known(engine: Engine, current: str) -> None:
    from alembic.util import CommandError

    try:
        known = _scripts().get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise StoreOutdated(
            f"the job store {_where(engine)} is at schema revision {current}, which this stillframe does not know "
            f"(a newer release made it; this one reads {head()}): upgrade stillframe"
        )


def prepare(engine: Engine) -> None:
    """Make an empty store at the newest revision, or check that the store is at it:
    StoreOutdated otherwise, saying to run `stillframe jobs migrate`."""
    from stillframe.jobs.store import metadata

    with engine.begin() as conn:
        _lock(conn)
        current = revision(conn)
        if current is None and not _has_tables(conn):
            metadata.create_all(conn)
            from alembic import command

            command.stamp(_config(conn), "head")
            return
        if current == head():
            return
        if current is not None:
            _known(engine, current)
        was = f"at schema revision {current}" if current else "made by a release that kept no schema version"
        raise StoreOutdated(
            f"the job store {_where(engine)} is {was} and this stillframe needs revision {head()}: "
            f"run `stillframe jobs migrate --store {_where(engine)}` (with every server and worker on it stopped)"
        )


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Bring the store to the newest revision, in one transaction on PostgreSQL (on
    SQLite, each statement in turn under its write lock); (revision before, after).
    An empty store is made revision by revision from the baseline."""
    from alembic import command

    with engine.begin() as conn:
        _lock(conn)
        current = revision(conn)
        if current is not None:
            _known(engine, current)
        elif _has_tables(conn):
            command.stamp(_config(conn), BASELINE)  # made before versions were kept
        command.upgrade(_config(conn), "head")
    return current, head()
