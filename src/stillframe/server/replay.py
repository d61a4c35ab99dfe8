"""Requests replayed or signed long ago are refused, whatever the signature scheme:
the date must be within SKEW of the server's clock and a nonce may be used once while
its request's date is within that window (so a nonce need only be remembered for as
long). With a store (JobService.use_nonce), nonces are kept there, so every server
sharing the store refuses a request replayed to any of them; without, in this
process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

SKEW = 15 * 60.0  # seconds, as the clouds allow


class Stale(Exception):
    """The request's date is more than SKEW from now."""


class NonceUsed(Exception):
    """The nonce was seen while its request's date is still within the window."""


class ReplayGuard:
    """Thread-safe. `store`: anything with `use_nonce(scope, nonce, expire_time) ->
    bool` (JobService) to share nonces with other processes; `now` is injectable
    for tests."""

    def __init__(self, skew: float = SKEW, now: Callable[[], float] = time.time, store: Any = None) -> None:
        self.skew = skew
        self._now = now
        self.store = store
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> when it may be forgotten
        self._lock = threading.Lock()

    def check_date(self, when: datetime) -> None:
        """Raise Stale when `when` (UTC when naive) is further from the server's clock than the allowed skew."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        off = abs(when.timestamp() - self._now())
        if off > self.skew:
            raise Stale(f"the request's date is {off:.0f} s from the server's clock (at most {self.skew:.0f} s)")

    def check_nonce(self, scope: str, nonce: str, when: datetime | None = None) -> None:
        """`scope` (the access key) keeps one client's nonces from clashing with
        another's. The nonce is remembered until `when` (the request's date, already
        checked) leaves the window: until then the request could be replayed."""
        now = self._now()
        stamp = now if when is None else (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
        expire = max(now, stamp) + self.skew
        if self.store is not None:
            if not self.store.use_nonce(scope, nonce, expire):
                raise NonceUsed(f"the nonce {nonce!r} was used within the last {self.skew / 60:.0f} minutes")
            return
        key = f"{scope}\0{nonce}"
        with self._lock:
            while self._seen:  # roughly oldest first: what is left over goes a little later
                old, until = next(iter(self._seen.items()))
                if until > now:
                    break
                del self._seen[old]
            if self._seen.get(key, 0.0) > now:
                raise NonceUsed(f"the nonce {nonce!r} was used within the last {self.skew / 60:.0f} minutes")
            self._seen[key] = expire
            self._seen.move_to_end(key)
