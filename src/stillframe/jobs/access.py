"""What a server keeps in the store so that every instance sharing it agrees: the
request nonces it has seen (a replay to any instance is refused) and the preview
site's sessions (signing out anywhere ends the session everywhere)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from stillframe.jobs import store as t

__all__ = ["Access", "UiSession"]

PURGE_EVERY = 60.0  # seconds between sweeps of expired nonces and sessions


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def key_tag(token: str, secret: str) -> str:
    """Binds a session to its key's secret without storing anything the secret can be
    guessed from: the token itself is never stored."""
    return hmac.new(token.encode(), secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class UiSession:
    """A preview-site session: whose key it is, its account, its form token and when it ends."""

    access_key_id: str
    account: str
    csrf: str
    expire_time: float
    key_tag: str


class Access:
    """Nonces and sessions, kept in the store of `engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._purged = 0.0

    @property
    def shared_store(self) -> bool:
        """Whether servers on other hosts may share this store (anything but SQLite):
        then nonces must be kept in it. An SQLite file serves one host's processes."""
        return self.engine.dialect.name != "sqlite"

    def _purge(self, conn: object, now: float) -> None:
        if now - self._purged < PURGE_EVERY:
            return
        self._purged = now
        conn.execute(delete(t.nonces).where(t.nonces.c.expire_time < now))  # type: ignore[attr-defined]
        conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.expire_time < now))  # type: ignore[attr-defined]

    def use_nonce(self, scope: str, nonce: str, expire_time: float) -> bool:
        """Record `nonce` of `scope` (an access key) until `expire_time`; False when it
        is recorded already and not expired (the request is a replay)."""
        key = _digest(f"{scope}\0{nonce}")
        now = time.time()
        with self.engine.begin() as conn:
            self._purge(conn, now)
            try:
                with conn.begin_nested():
                    conn.execute(insert(t.nonces).values(key=key, expire_time=expire_time))
                return True
            except IntegrityError:  # seen: a replay, unless its record outlived the window
                stale = conn.execute(
                    update(t.nonces)
                    .where(t.nonces.c.key == key, t.nonces.c.expire_time < now)
                    .values(expire_time=expire_time)
                )
                return stale.rowcount == 1

    def create_ui_session(self, access_key_id: str, account: str, secret: str, max_age: float) -> tuple[str, str]:
        """(token for the cookie, CSRF token for the pages' forms) of a new session."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        with self.engine.begin() as conn:
            self._purge(conn, now)
            conn.execute(
                insert(t.ui_sessions).values(
                    id=_digest(token),
                    access_key_id=access_key_id,
                    account=account,
                    key_tag=key_tag(token, secret),
                    csrf=csrf,
                    create_time=now,
                    expire_time=now + max_age,
                )
            )
        return token, csrf

    def get_ui_session(self, token: str) -> UiSession | None:
        """The live session a cookie's token names, else None."""
        if not token or len(token) > 128:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(t.ui_sessions).where(t.ui_sessions.c.id == _digest(token))).first()
        if row is None or row.expire_time < time.time():
            return None
        return UiSession(row.access_key_id, row.account, row.csrf, row.expire_time, row.key_tag)

    def end_ui_session(self, token: str) -> None:
        """End the session of cookie token `token` (signing out), for every server sharing the store."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.id == _digest(token)))
