"""`stillframe serve` as its own process, for what only a process shows: its memory
(RSS and its peak, from /proc), how it stops on SIGTERM, two instances on one store."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .servers import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak RSS) of a process, in bytes (Linux)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


@dataclass
class Served:
    proc: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def memory(self) -> dict[str, int]:
        return memory(self.proc.pid)

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM, then the seconds until the process exited (killed past `timeout`)."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return float("inf")
        return time.monotonic() - start


@contextlib.contextmanager
def serve_process(*args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """`python -m stillframe serve --port P ARGS`, once it accepts connections."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("reading a process's memory needs Linux's /proc")
    port = free_port()
    cmd = [sys.executable, "-m", "stillframe", "serve", "--port", str(port), "--log-level", "warning", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    served = Served(proc, port)
    try:
        wait_for(lambda: accepts(port) or proc.poll() is not None, 60, "stillframe serve")
        if proc.poll() is not None:
            raise AssertionError(f"stillframe serve exited: {proc.communicate()[1][-2000:]}")
        yield served
    finally:
        if proc.poll() is None:
            served.stop()
        if proc.stderr is not None:
            proc.stderr.close()
