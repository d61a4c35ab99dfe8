"""Opening inputs: paths, file objects and URLs, with PyAV's failures mapped onto
the error tree."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Union

import av

from stillframe.errors import (
    InvalidParameter,
    PermissionDenied,
    ResourceContentBad,
    ResourceNotFound,
    StillframeError,
    TransientNetworkError,
)


class RangeSource:
    """An object (s3://, oss://, anything fsspec opens) read by byte range where it
    is: each reader gets a file object of its own (so decoders run in parallel),
    and only the ranges the demuxer asks for are fetched. `bytes_read` adds up
    what was fetched from the store."""

    # Each fetch brings this much: enough to amortise a request, small next to a GOP.
    BLOCK = 1 << 20

    def __init__(self, fs: Any, path: str, name: str) -> None:
        self.fs, self.path, self.name = fs, path, name
        self._files: list[Any] = []  # open readers; closed ones leave only their byte count
        self._closed_bytes = 0
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> RangeSource:
        """A RangeSource for any URL fsspec opens (s3://, gs://, az://, http://...);
        oss:// is read as S3 (give its endpoint: client_kwargs={"endpoint_url": ...}).
        `storage_options` go to the fsspec file system (key, secret, ...)."""
        try:
            import fsspec
        except ImportError:
            raise InvalidParameter(f"{url}: reading it needs fsspec (pip install 'stillframe[s3]')") from None
        target = "s3://" + url[len("oss://") :] if url.startswith("oss://") else url
        try:
            fs, path = fsspec.core.url_to_fs(target, **storage_options)
        except (ImportError, ValueError) as exc:
            raise InvalidParameter(f"{url}: {exc}") from exc
        return cls(fs, path, url)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as exc:
            raise ResourceNotFound(f"{self.name}: no such object") from exc
        except PermissionError as exc:
            raise PermissionDenied(f"{self.name}: access refused") from exc
        except OSError as exc:
            raise TransientNetworkError(f"{self.name}: {exc}") from exc

    def check(self) -> RangeSource:
        """This source, once the store says the object is there and readable."""
        with self._errors():
            self.fs.info(self.path)
        return self

    def open(self) -> IO[bytes]:
        """A reader of its own, fetching ranges as they are read; give it back with
        release() once its container is closed."""
        with self._errors():
            f = self.fs.open(self.path, "rb", block_size=self.BLOCK, cache_type="readahead")
        with self._lock:
            self._files.append(f)
        return f

    def release(self, f: IO[bytes]) -> None:
        """Close a reader open() gave, keeping the count of what it fetched."""
        with self._lock:
            if any(g is f for g in self._files):
                self._files = [g for g in self._files if g is not f]
                self._closed_bytes += _fetched(f)
        with contextlib.suppress(Exception):
            f.close()

    @property
    def bytes_read(self) -> int:
        """Bytes fetched from the store by every reader, open or closed."""
        with self._lock:
            return self._closed_bytes + sum(_fetched(f) for f in self._files)

    def __repr__(self) -> str:
        return f"RangeSource({self.name!r})"


def _fetched(f: Any) -> int:
    return int(getattr(getattr(f, "cache", None), "total_requested_bytes", 0) or 0)


Source = Union[str, os.PathLike, IO[bytes], RangeSource]


class Input:
    """One source as the engine reads it: a path, a URL or an object-store source
    is opened once a decoder (each reads on its own), a file object once.
    Containers are given back with close(), which also closes an object-store
    reader. Safe to share between threads."""

    def __init__(self, source: Source, timeout: float | None = None) -> None:
        if source is None:
            raise InvalidParameter("no source given")
        self.source = source
        self.name = describe(source)
        self.timeout = timeout
        self.reopenable = reopenable(source)
        self._readers: dict[int, IO[bytes]] = {}  # id(container) -> its object-store reader
        self._lock = threading.Lock()

    def open(self, hwaccel: Any = None) -> av.container.InputContainer:
        """A container on the source (see open_input); raises only stillframe errors."""
        if not isinstance(self.source, RangeSource):
            return open_input(self.source, timeout=self.timeout, hwaccel=hwaccel)
        reader = self.source.open()
        try:
            container = open_input(reader, timeout=self.timeout, hwaccel=hwaccel, name=self.name)
        except BaseException:
            self.source.release(reader)
            raise
        with self._lock:
            self._readers[id(container)] = reader
        return container

    def close(self, container: av.container.InputContainer) -> None:
        """Close `container` (and the reader it read through); errors are dropped."""
        with contextlib.suppress(Exception):
            container.close()
        with self._lock:
            reader = self._readers.pop(id(container), None)
        if reader is not None and isinstance(self.source, RangeSource):
            self.source.release(reader)

    @contextlib.contextmanager
    def opened(self) -> Iterator[av.container.InputContainer]:
        """A container of its own for the block (a scan or a lookup after close)."""
        container = self.open()
        try:
            yield container
        finally:
            self.close(container)


def describe(source: Any) -> str:
    if isinstance(source, RangeSource):
        return source.name
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or type(source).__name__


def is_url(source: Any) -> bool:
    return isinstance(source, str) and "://" in source and not source.startswith("file://")


def reopenable(source: Any) -> bool:
    """Whether each worker can open its own container on this source."""
    return isinstance(source, (str, os.PathLike, RangeSource))


def _target(source: Any) -> Any:
    if isinstance(source, os.PathLike):
        return os.fspath(source)
    if isinstance(source, str) and source.startswith("file://"):
        return source[len("file://") :]
    return source


def map_av_error(exc: BaseException, source: Any, name: str | None = None) -> StillframeError:
    """The stillframe error for a failure PyAV raised while reading `source`."""
    name = name or describe(source)
    if isinstance(exc, StillframeError):
        return exc
    if isinstance(exc, (FileNotFoundError, IsADirectoryError)) or getattr(exc, "errno", None) == errno.ENOENT:
        return ResourceNotFound(f"{name}: no such file")
    if isinstance(exc, PermissionError):
        return PermissionDenied(f"{name}: permission denied")
    text = str(exc)
    # By the error's type, never by words in its message: a URL may hold "404" itself.
    if isinstance(exc, av.error.HTTPNotFoundError):
        return ResourceNotFound(f"{name}: not found ({text})")
    if isinstance(exc, (av.error.HTTPForbiddenError, av.error.HTTPUnauthorizedError)):
        return PermissionDenied(f"{name}: access refused ({text})")
    if isinstance(exc, (av.error.HTTPServerError, av.error.HTTPTooManyRequestsError)):
        return TransientNetworkError(f"{name}: {text}")
    if isinstance(exc, av.error.HTTPClientError):
        return InvalidParameter(f"{name}: the server refused the request ({text})")
    if is_url(source) and isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return TransientNetworkError(f"{name}: {text}")
    if isinstance(exc, (av.error.InvalidDataError, av.error.EOFError)):
        return ResourceContentBad(f"{name}: not a readable media file ({text})")
    if isinstance(exc, (av.error.FFmpegError, OSError)):
        return ResourceContentBad(f"{name}: {text}")
    return ResourceContentBad(f"{name}: {type(exc).__name__}: {text}")


def open_input(
    source: Source, *, timeout: float | None = None, hwaccel: Any = None, name: str | None = None
) -> av.container.InputContainer:
    """Open `source` for reading, raising only stillframe errors. `hwaccel` (a PyAV
    HWAccel) attaches a device to the decoders of its streams; `name` is what errors
    call the source. A RangeSource is read through a reader of its own, which
    stays open: Input.open/close give it back."""
    if source is None:
        raise InvalidParameter("no source given")
    target = _target(source)
    if isinstance(target, RangeSource):
        name = name or target.name
        target = target.open()
    if isinstance(target, str) and not is_url(target):
        path = Path(target)
        if not path.exists():
            raise ResourceNotFound(f"{target}: no such file")
        if path.is_dir():
            raise ResourceContentBad(f"{target}: is a directory, not a media file")
        if path.stat().st_size == 0:
            raise ResourceContentBad(f"{target}: the file is empty")
    options = {}
    io_timeout = None
    if is_url(target):
        # Network reads get a time limit; local files are bounded by their size.
        io_timeout = min(timeout, 30.0) if timeout else 30.0
        if target.startswith(("http://", "https://")):
            options = {"reconnect": "1", "reconnect_streamed": "1"}
    try:
        return av.open(target, "r", options=options, timeout=io_timeout, hwaccel=hwaccel)
    except av.error.ExitError as exc:
        raise TransientNetworkError(f"{name or describe(source)}: no answer within {io_timeout} s") from exc
    except Exception as exc:  # PyAV raises a wide family; map every one
        raise map_av_error(exc, source, name) from exc
