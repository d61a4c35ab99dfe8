"""Writing outputs so that no reader ever sees a half-written file."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from stillframe.errors import InvalidParameter, PermissionDenied, StillframeError

_UMASK_LOCK = threading.Lock()
# The folder every file written in this context must resolve inside (see confined_to).
_ROOT: ContextVar[str | None] = ContextVar("stillframe_confined_root", default=None)


@contextlib.contextmanager
def confined_to(root: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within the block, every file written by write_atomic or checked by
    check_destination must resolve, symlinks followed, inside `root` (a service's
    bucket): checked before folders are made and again right before each rename, so
    a symlink planted or swapped in meanwhile is not followed out. None: no bound."""
    token = _ROOT.set(None if root is None else os.path.realpath(root))
    try:
        yield
    finally:
        _ROOT.reset(token)


def is_confined(path: str | os.PathLike[str]) -> bool:
    """Whether `path` resolves inside the current bound (always, with none)."""
    root = _ROOT.get()
    if root is None:
        return True
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def check_confined(path: str | os.PathLike[str]) -> None:
    if not is_confined(path):
        raise PermissionDenied(f"{os.path.basename(os.fspath(path))}: resolves outside its bucket",
                               code="InvalidObject.Forbidden")  # fmt: skip


def file_mode() -> int:
    """The mode a new file gets from open(): 0o666 less the process's umask. Linux
    says the umask in /proc; elsewhere it is read by setting it and putting it back."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def fs_error(path: str | os.PathLike[str], exc: OSError, doing: str) -> StillframeError:
    """One clear error from the tree for a file-system failure on `path`."""
    where = os.fspath(path)
    if isinstance(exc, PermissionError) or exc.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
        return PermissionDenied(f"{where}: cannot {doing}: permission denied ({exc.strerror})")
    if isinstance(exc, (FileExistsError, NotADirectoryError)) or exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return InvalidParameter(f"{where}: cannot {doing}: a file stands where a folder should be")
    if isinstance(exc, FileNotFoundError):
        return InvalidParameter(f"{where}: cannot {doing}: the folder cannot be made there ({exc.strerror})")
    return InvalidParameter(f"{where}: cannot {doing}: {exc.strerror or exc}")


def check_destination(path: str | os.PathLike[str]) -> None:
    """Before any work: `path`'s folder exists or can be made, and can be written.
    Raises PermissionDenied or InvalidParameter naming the path."""
    target = Path(path)
    check_confined(target)
    if target.is_dir():
        raise InvalidParameter(f"{target}: is a folder; give a file name")
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fs_error(target, exc, f"make the folder {folder}") from exc
    if not folder.is_dir():
        raise InvalidParameter(f"{target}: cannot write there: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionDenied(f"{target}: cannot write there: the folder {folder} is not writable")


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it into place.
    Parent directories are created as needed. The file gets the permissions any
    other program's new file gets (mkstemp's temporary is private: 0600)."""
    target = Path(path)
    tmp: str | None = None
    try:
        check_confined(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # POSIX; Windows files have no mode bits to fix
                os.fchmod(f.fileno(), file_mode())
            f.write(data)
        check_confined(tmp)  # the folder as it is now, right before the rename
        check_confined(target)
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if isinstance(exc, OSError) and not isinstance(exc, StillframeError):
            raise fs_error(target, exc, "write the file") from exc
        raise
    return target
