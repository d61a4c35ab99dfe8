"""Waking idle workers when there is work, so an idle worker costs next to nothing.

A job made claimable through this process rings the process's `Wakeup` at once.
On PostgreSQL the same insert sends NOTIFY (store.announce), and one listening
connection per `Wakeup` rings it for jobs made by other processes. Whatever neither
reaches (SQLite across processes, an expired lease, a NOTIFY lost while the listener
reconnects) is found by idle polling that backs off from FIRST_POLL to POLL_CAP.

POLL_CAP is 2 s: an idle thread then costs at most one claim every 2 s (a fixed
0.1 s poll would make 10 a second), while a job nothing announces (SQLite written
by another process, a dead worker's lease) still starts within about 2 s. That is
the period a worker heartbeats at anyway (store.HEARTBEAT_EVERY), so a longer cap
would save few queries and make those starts visibly slow."""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from typing import Any

from sqlalchemy.engine import Engine

from stillframe.jobs.store import WAKE_CHANNEL

log = logging.getLogger("stillframe.jobs")

FIRST_POLL = 0.1  # seconds: the first idle wait after work was found
POLL_CAP = 2.0  # seconds: the longest idle wait (see the module docstring)
LISTEN_NAME = "stillframe-listen"  # application_name of the listening connection
HEALTH_EVERY = 30.0  # seconds: a quiet listening connection is checked this often
RECONNECT_FIRST, RECONNECT_CAP = 0.1, 5.0  # seconds between attempts to listen again


class Backoff:
    """Idle waits that double from `first` to `cap` seconds; reset() when work was found."""

    def __init__(self, first: float = FIRST_POLL, cap: float = POLL_CAP) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def reset(self) -> None:
        """Start again from the first delay."""
        self._next = self.first

    def next(self) -> float:
        """The delay to wait now (seconds); the next one doubles, up to the cap."""
        delay = self._next
        self._next = min(self.cap, delay * 2)
        return delay


class Wakeup:
    """Where idle worker threads of one process wait for work.

    ring() wakes one waiting thread (or, with none waiting, the next that waits):
    a woken thread that finds a job rings again, so a burst of jobs spreads over the
    idle threads without every notification waking all of them. On PostgreSQL with
    psycopg, the first wait starts a thread that LISTENs for store.announce and rings
    once per notification; it reconnects when its connection drops."""

    def __init__(self, engine: Engine | None = None, channel: str = WAKE_CHANNEL, name: str = LISTEN_NAME) -> None:
        self.engine = engine
        self.channel, self.name = channel, name  # what to LISTEN on, and the connection's application_name
        self._cond = threading.Condition()
        self._pending = 0  # rings not yet taken by a waiter
        self._waiters = 0
        self._closed = False
        self._watched: set[int] = set()  # ids of stop events a thread watches
        self._listener: threading.Thread | None = None
        self._interrupt_r: socket.socket | None = None  # wakes the listener to close it
        self._interrupt_w: socket.socket | None = None
        self.listening = threading.Event()  # set while a LISTEN connection is up

    # -- waking ------------------------------------------------------------------------

    def ring(self) -> None:
        """Wake one idle worker: a job may have become claimable."""
        with self._cond:
            # More pending rings than threads would only make spurious claims later.
            self._pending = min(self._pending + 1, max(1, self._waiters))
            self._cond.notify()

    def wait(self, stop: threading.Event, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a ring; True if rung. Returns at once
        when `stop` is set (or is set meanwhile) or the Wakeup is closed."""
        self._watch(stop)
        self._listen()
        with self._cond:
            self._waiters += 1
            try:
                self._cond.wait_for(lambda: self._pending or self._closed or stop.is_set(), timeout)
            finally:
                self._waiters -= 1
            if self._pending and not (self._closed or stop.is_set()):
                self._pending -= 1
                return True
            return False

    def _watch(self, stop: threading.Event) -> None:
        # A stop event cannot call us back, so one thread per event blocks on it
        # and wakes every waiter when it is set: shutdown need not wait out a poll.
        with self._cond:
            if id(stop) in self._watched or stop.is_set():
                return
            self._watched.add(id(stop))

        def watch() -> None:
            stop.wait()
            with self._cond:
                self._watched.discard(id(stop))
                self._cond.notify_all()

        threading.Thread(target=watch, name="stillframe-stop-watch", daemon=True).start()

    def close(self) -> None:
        """Wake every waiter and stop listening."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            listener, self._listener = self._listener, None
        if listener is None or self._interrupt_w is None:
            return
        with contextlib.suppress(OSError):
            self._interrupt_w.send(b"x")
        listener.join(5.0)
        if not listener.is_alive():
            self._interrupt_w.close()
            if self._interrupt_r is not None:
                self._interrupt_r.close()

    # -- listening (PostgreSQL) ----------------------------------------------------------

    def _listen(self) -> None:
        engine = self.engine
        if engine is None or engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
            return
        with self._cond:
            if self._listener is not None or self._closed:
                return
            self._interrupt_r, self._interrupt_w = socket.socketpair()
            self._listener = threading.Thread(
                target=self._listen_forever, args=(self._interrupt_r,), name="stillframe-listen", daemon=True
            )
            self._listener.start()

    def _connect(self) -> Any:
        import psycopg

        assert self.engine is not None
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        cparams = {**cparams, "autocommit": True, "application_name": self.name, "connect_timeout": 10}
        conn = psycopg.connect(*cargs, **cparams)
        conn.execute(f"LISTEN {self.channel}")
        return conn

    def _listen_forever(self, interrupt: socket.socket) -> None:
        delay = Backoff(RECONNECT_FIRST, RECONNECT_CAP)
        failing = False  # say so once per outage, not at every attempt
        while not self._closed:
            conn = None
            try:
                conn = self._connect()
                delay.reset()
                failing = False
                self.listening.set()
                # Notifications sent while no connection listened are lost: look once.
                self.ring()
                self._follow(conn, interrupt)
            except Exception as exc:  # the server went away or refused us: poll, and try again
                if not self._closed:
                    log.log(
                        logging.DEBUG if failing else logging.WARNING,
                        "listening for new jobs failed (%s); polling until it works again",
                        exc,
                    )
                    failing = True
            finally:
                self.listening.clear()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            with selectors.DefaultSelector() as sel:
                sel.register(interrupt, selectors.EVENT_READ)
                sel.select(delay.next())

    def _follow(self, conn: Any, interrupt: socket.socket) -> None:
        """Ring once per notification on `conn` until closed; raises when it drops."""
        with selectors.DefaultSelector() as sel:
            sel.register(conn.fileno(), selectors.EVENT_READ)
            sel.register(interrupt, selectors.EVENT_READ)
            while not self._closed:
                ready = sel.select(HEALTH_EVERY)
                if any(key.fileobj is interrupt for key, _ in ready):
                    return
                if not ready:
                    conn.execute("SELECT 1")  # a connection that died silently raises here
                for _ in conn.notifies(timeout=0.0):
                    self.ring()
