"""Writing outputs so that no reader ever sees a half-written file."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from stillframe.errors import InternalError, InvalidParameter, ObjectOutsideBucket, PermissionDenied, StillframeError

_UMASK_LOCK = threading.Lock()
# The folder (or object-store prefix) every file written in this context must
# resolve inside (see confined_to).
_ROOT: ContextVar[str | None] = ContextVar("stillframe_confined_root", default=None)


def _is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


@contextlib.contextmanager
def confined_to(root: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within the block, every file written by write_atomic or checked by
    check_destination must resolve, symlinks followed, inside `root` (a service's
    bucket): checked before folders are made and again right before each rename, so
    a symlink planted or swapped in meanwhile is not followed out. A run's ledger
    takes the bound in force when it is made, for what it keeps aside, puts back
    and removes, and for its object-store outputs when `root` is a prefix
    (s3://bucket/prefix). None: no bound."""
    token = _ROOT.set(None if root is None else _bound_of(root))
    try:
        yield
    finally:
        _ROOT.reset(token)


def _bound_of(root: str | os.PathLike[str]) -> str:
    text = os.fspath(root)
    return text.rstrip("/") if _is_url(text) else os.path.realpath(text)


def bound() -> str | None:
    """The bound in force here (see confined_to), resolved; None when there is none."""
    return _ROOT.get()


def inside(path: str | os.PathLike[str], root: str | None) -> bool:
    """Whether `path` resolves inside `root` (a bound as bound() gives it; always,
    with None). A local path is resolved now, symlinks followed; an object URL is
    inside a prefix of its own scheme when it names no `.` or `..` segment (a
    store that normalises names could otherwise be led out)."""
    if root is None:
        return True
    text = os.fspath(path)
    if _is_url(text) or _is_url(root):
        if not (_is_url(text) and _is_url(root)):
            return False
        scheme, _, rest = text.partition("://")
        if scheme != root.partition("://")[0] or any(part in (".", "..") for part in rest.split("/")):
            return False
        return text == root or text.startswith(root + "/")
    real = os.path.realpath(text)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def is_confined(path: str | os.PathLike[str]) -> bool:
    """Whether `path` resolves inside the current bound (always, with none)."""
    return inside(path, _ROOT.get())


def check_inside(path: str | os.PathLike[str], root: str | None) -> None:
    """ObjectOutsideBucket (InvalidObject.Forbidden) unless `path` resolves inside
    `root` (see inside)."""
    if not inside(path, root):
        name = os.path.basename(os.fspath(path).rstrip("/"))
        raise ObjectOutsideBucket(f"{name}: resolves outside its bucket")


def check_confined(path: str | os.PathLike[str]) -> None:
    """check_inside for the current bound."""
    check_inside(path, _ROOT.get())


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


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, aside: str | None = None, tag: str | None = None
) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it into place.
    Parent directories are created as needed. The file gets the permissions any
    other program's new file gets (mkstemp's temporary is private: 0600). With
    `aside`, the file it replaces is kept under that name first (keep_aside), for
    a caller that may have to put it back. `tag` goes into the temporary's name
    (.NAME.TAG-XXXXXXXX.part), so that its writer can be told."""
    target = Path(path)
    tmp: str | None = None
    prefix = f".{target.name}.{tag}-" if tag else f".{target.name}."
    try:
        check_confined(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=target.parent)
        except FileNotFoundError:  # the folder went (a failed run removing what it made): once more
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # POSIX; Windows files have no mode bits to fix
                os.fchmod(f.fileno(), file_mode())
            f.write(data)
        check_confined(tmp)  # the folder as it is now, right before the rename
        check_confined(target)
        if aside is not None:
            check_confined(aside)
            keep_aside(target, aside)
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
