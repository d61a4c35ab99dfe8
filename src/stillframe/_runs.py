"""Which runs are alive on this machine. A run that has begun to write holds an
exclusive lock on a file named by its token (in the temporary folder), until it
commits or rolls back, or until its process ends, when the system lets go of it.

What a run keeps beside the names it writes (`.NAME.TOKEN.keep`, its temporaries)
is its own to undo while it is alive; only once it is not does the next run into
those names put it back. Two runs into the same names at once (two jobs with one
output, say) then leave each other's files alone. A token with no lock here is
taken for a run that is gone: one killed outright on this machine, or one on
another machine, whose lock this machine cannot see (runs on several machines into
the same names at once are not told apart). Without `fcntl` (Windows) every run
is taken for gone, and a kept file is put back by whichever run comes next.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import weakref

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock", "alive"]


def _folder() -> str:
    user = os.getuid() if hasattr(os, "getuid") else "all"
    return os.path.join(tempfile.gettempdir(), f"stillframe-runs-{user}")


def _path(token: str) -> str:
    return os.path.join(_folder(), f"{token}.lock")


class RunLock:
    """The lock that says the run of `token` is alive (see the module's docstring)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._release: weakref.finalize | None = None

    def hold(self) -> None:
        """Take the lock, once; a lock that cannot be made leaves the run taken for
        gone, as without fcntl. The file is locked before it appears under its
        name, so a file there is always a live run's or a dead one's, never one
        being made."""
        if self._release is not None or fcntl is None:
            return
        path = _path(self.token)
        part = f"{path}.{os.getpid()}.part"
        fd = -1
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(part, path)
        except OSError:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(part)
            return
        self._release = weakref.finalize(self, _let_go, fd, path)

    def release(self) -> None:
        """Let go of the lock (the run has committed or rolled back)."""
        if self._release is not None:
            self._release()


def _let_go(fd: int, path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)  # gone while still locked: no one takes a finished run for a dead one
    with contextlib.suppress(OSError):
        os.close(fd)


def alive(token: str) -> bool:
    """Whether the run of `token` holds its lock on this machine now. A lock file
    left by a run whose process ended is removed."""
    if fcntl is None:
        return False
    path = _path(token)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return False
    finally:
        os.close(fd)
