"""Idle waits seen and steered, so that tests of how workers wake assert what ended a
wait rather than how long it took. Every Wakeup's waits and rings, JobRunner claims
and LiveSupervisor ticks are recorded in order, by thread (patched on the classes, so
the threads a JobService starts in its constructor are seen from their first wait).
The backoff's delays are recorded as asked; `speed` makes each wait that much shorter
in fact, and `hold()` makes every wait last until a ring or a stop ends it (HOLD is
longer than any test), so that a job which starts while held was started by a ring."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest

from stillframe.jobs.supervisor import LiveSupervisor
from stillframe.jobs.wakeup import Wakeup
from stillframe.jobs.worker import JobRunner

from .servers import wait_for

HOLD = 3600.0  # seconds a held wait lasts
LISTENER = "stillframe-listen"  # the thread that rings a Wakeup for each NOTIFY (PostgreSQL)


@dataclass(frozen=True)
class Event:
    kind: str  # "wait", "woke" (a wait ended), "ring", "claim" or "tick"
    thread: str
    wakeup: Wakeup | None = None
    delay: float | None = None  # "wait", "woke": the delay the caller asked for
    held: bool = False  # "wait": held until a ring or a stop
    rung: bool | None = None  # "woke": ended by a ring (else by its time or a stop)
    found: bool | None = None  # "claim": a job was claimed


class WakeupLog:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, speed: float = 1.0) -> None:
        self.events: list[Event] = []
        self.speed = speed
        self.held = False
        self._lock = threading.Lock()
        self._waiting: dict[tuple[int, str], bool] = {}  # (wakeup, thread) -> whether its wait is held
        wait, ring, claim, tick = Wakeup.wait, Wakeup.ring, JobRunner.claim, LiveSupervisor.tick
        log = self

        def logged_wait(wakeup: Wakeup, stop: threading.Event, timeout: float) -> bool:
            held, me = log.held, threading.current_thread().name
            with log._lock:
                log._waiting[(id(wakeup), me)] = held
                log.events.append(Event("wait", me, wakeup, timeout, held))
            try:
                rung = wait(wakeup, stop, HOLD if held else timeout / log.speed)
            finally:
                with log._lock:
                    log._waiting.pop((id(wakeup), me), None)
            log._add(Event("woke", me, wakeup, timeout, rung=rung))
            return rung

        def logged_ring(wakeup: Wakeup) -> None:
            log._add(Event("ring", threading.current_thread().name, wakeup))
            ring(wakeup)

        def logged_claim(runner: JobRunner) -> Any:
            row = claim(runner)
            log._add(Event("claim", threading.current_thread().name, runner.wakeup, found=row is not None))
            return row

        def logged_tick(supervisor: LiveSupervisor) -> None:
            log._add(Event("tick", threading.current_thread().name))
            tick(supervisor)

        monkeypatch.setattr(Wakeup, "wait", logged_wait)
        monkeypatch.setattr(Wakeup, "ring", logged_ring)
        monkeypatch.setattr(JobRunner, "claim", logged_claim)
        monkeypatch.setattr(LiveSupervisor, "tick", logged_tick)

    def _add(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def mark(self) -> int:
        """Where the log is now: pass it as `since` to see only what came after."""
        with self._lock:
            return len(self.events)

    def of(self, thread: str, kinds: tuple[str, ...] = (), since: int = 0) -> list[Event]:
        """The events of `thread` (of those `kinds`), in order."""
        with self._lock:
            events = self.events[since:]
        return [e for e in events if e.thread == thread and (not kinds or e.kind in kinds)]

    def delays(self, thread: str) -> list[float]:
        """The idle delays `thread` asked for, in order."""
        return [e.delay for e in self.of(thread, ("wait",)) if e.delay is not None]

    def found_after(self, thread: str, since: int = 0) -> list[bool | None]:
        """For each job `thread` claimed after `since`: whether the wait before it ended
        by a ring (True), by its time or a stop (False), or no wait came between (None).
        That wait may have ended before `since`: a thread woken by its poll just before
        a submission can claim the job just after it."""
        with self._lock:
            events = list(enumerate(self.events))
        out: list[bool | None] = []
        last: bool | None = None
        for i, e in events:
            if e.thread != thread:
                continue
            if e.kind == "woke":
                last = e.rung
            elif e.kind == "claim":
                if e.found and i >= since:
                    out.append(last)
                last = None
        return out

    def hold(self) -> None:
        """From each thread's next wait on, waits end only by a ring or a stop."""
        self.held = True

    def settle(self, wakeup: Wakeup, threads: int, since: int = 0) -> None:
        """Wait until `threads` threads wait on `wakeup`, all held, with no ring left to
        take: from then on only a new ring (or a stop) ends their waits. On PostgreSQL,
        first wait for the ring its listening connection gives on connecting (after
        `since`), so that it is not taken for a later notification's."""
        assert self.held, "settle() follows hold()"
        engine = wakeup.engine
        if engine is not None and engine.dialect.name == "postgresql":
            wait_for(
                lambda: any(e.kind == "ring" and e.wakeup is wakeup for e in self.of(LISTENER, since=since)),
                30,
                "the listening connection's first ring",
            )

        def settled() -> bool:
            with wakeup._cond:  # what a ring changes, read as a ring would
                with self._lock:
                    held = sum(h for (w, _), h in self._waiting.items() if w == id(wakeup))
                return wakeup._waiters == threads and held == threads and not wakeup._pending

        wait_for(settled, 30, f"{threads} held waits")
