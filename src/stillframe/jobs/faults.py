"""Telling a job store that cannot be reached now from a statement that is wrong.

Workers wait out the first kind and retry; the server answers it with a 503 in the
caller's shape. Kept apart from the store's tables so that the server, which reaches
jobs only through the service, can classify what escapes a call without touching SQL.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["first_line", "unavailable"]


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the store cannot be reached now (the server is down or
    restarting, the connection dropped, the pool is exhausted) rather than that a
    statement was wrong: worth waiting for, and a 503 to a caller."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def first_line(exc: BaseException) -> str:
    """A database error in one line: the driver's message, without the statement."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
