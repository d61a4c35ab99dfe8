"""Requests replayed or signed long ago are refused, whatever the signature scheme:
the date must be within SKEW of the server's clock and a nonce may be used once
within that window (so a nonce need only be remembered for as long)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone

SKEW = 15 * 60.0  # seconds, as the clouds allow


class Stale(Exception):
    """The request's date is more than SKEW from now."""


class NonceUsed(Exception):
    """The nonce was seen within the last SKEW seconds."""


class ReplayGuard:
    """Thread-safe; `now` is injectable for tests."""

    def __init__(self, skew: float = SKEW, now=time.time) -> None:
        self.skew = skew
        self._now = now
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def check_date(self, when: datetime) -> None:
        """Raise Stale when `when` (UTC when naive) is further from the server's clock than the allowed skew."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        off = abs(when.timestamp() - self._now())
        if off > self.skew:
            raise Stale(f"the request's date is {off:.0f} s from the server's clock (at most {self.skew:.0f} s)")

    def check_nonce(self, scope: str, nonce: str) -> None:
        """`scope` (the access key) keeps one client's nonces from clashing with another's."""
        now = self._now()
        key = f"{scope}\0{nonce}"
        with self._lock:
            while self._seen:
                oldest, seen_at = next(iter(self._seen.items()))
                if now - seen_at <= self.skew:
                    break
                del self._seen[oldest]
            if key in self._seen:
                raise NonceUsed(f"the nonce {nonce!r} was used in the last {self.skew / 60:.0f} minutes")
            self._seen[key] = now
