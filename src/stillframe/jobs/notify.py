"""Telling the world a job ended: POSTs to a pipeline's notify URL and Python
callbacks, on a thread of their own so a slow receiver never holds a worker."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

log = logging.getLogger("stillframe.jobs")

RETRIES = 5
BACKOFF = 0.2  # seconds, doubled each try


class Notifier:
    """Delivers job-finished messages off the caller's thread: a JSON POST to a pipeline's notify URL, and to each
    callback."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[dict[str, Any]], None]] = []
        self._queue: queue.Queue[tuple[str | None, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="stillframe-notify", daemon=True)
        self._thread.start()

    def send(self, url: str | None, message: dict[str, Any]) -> None:
        """Queue `message` for `url` (None: the callbacks only)."""
        self._queue.put((url, message))

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (bounded by `timeout`), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            url, message = item
            for callback in list(self.callbacks):
                try:
                    callback(message)
                except Exception:  # a caller's bug must not stop notifications
                    log.exception("job callback failed")
            if url:
                self._post(url, message)

    @staticmethod
    def _post(url: str, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        delay = BACKOFF
        for attempt in range(RETRIES):
            try:
                req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=5) as resp:
                    if 200 <= resp.status < 300:
                        return
            except Exception as exc:
                log.info("notify %s failed (try %d): %s", url, attempt + 1, exc)
            time.sleep(delay)
            delay *= 2
        log.warning("giving up notifying %s of job %s", url, message.get("JobId"))
