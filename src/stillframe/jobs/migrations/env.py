"""Alembic's environment for the job store's revisions (versions/, oldest first, each
naming the one it follows). This folder is Alembic's, not a package: stillframe.jobs.schema
runs it, never the alembic command (which would want an alembic.ini). The connection
comes from schema.py, already in the transaction (and, on PostgreSQL, under the lock)
the migration runs in."""

from __future__ import annotations

from alembic import context

from stillframe.jobs.schema import VERSION_TABLE
from stillframe.jobs.store import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
