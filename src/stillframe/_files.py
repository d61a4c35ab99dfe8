"""Writing outputs so that no reader ever sees a half-written file."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import threading
from pathlib import Path

from stillframe.errors import InternalError, InvalidParameter, PermissionDenied, StillframeError

_UMASK_LOCK = threading.Lock()


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
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        # Not the caller's parameter at fault but the machine's disk: an InternalError
        # (a job's Code says so), which a run elsewhere, or later, may not meet.
        return InternalError(f"{where}: cannot {doing}: the file system is full ({exc.strerror})")
    return InvalidParameter(f"{where}: cannot {doing}: {exc.strerror or exc}")


def check_destination(path: str | os.PathLike[str]) -> None:
    """Before any work: `path`'s folder exists or can be made, and can be written.
    Raises PermissionDenied or InvalidParameter naming the path."""
    target = Path(path)
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


def keep_aside(target: Path, aside: str) -> bool:
    """Keep the file at `target` also under `aside` (a name beside it): a hard link,
    so nothing is copied and `target` never goes missing; a copy where the file
    system has no hard links. False when there is no file at `target`."""
    try:
        os.link(target, aside, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False
    except (OSError, NotImplementedError):  # no hard links here (FAT, some network file systems)
        if not os.path.lexists(target):
            return False
        part = f"{aside}.part"
        shutil.copy2(target, part, follow_symlinks=False)
        os.replace(part, aside)
        return True


def write_atomic(path: str | os.PathLike[str], data: bytes, *, aside: str | None = None) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it into place.
    Parent directories are created as needed. The file gets the permissions any
    other program's new file gets (mkstemp's temporary is private: 0600). With
    `aside`, the file it replaces is kept under that name first (keep_aside), for
    a caller that may have to put it back."""
    target = Path(path)
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # POSIX; Windows files have no mode bits to fix
                os.fchmod(f.fileno(), file_mode())
            f.write(data)
        if aside is not None:
            keep_aside(target, aside)
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if isinstance(exc, OSError):
            raise fs_error(target, exc, "write the file") from exc
        raise
    return target
