"""Opening inputs: paths, file objects and URLs, with PyAV's failures mapped onto
the error tree."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Union

import av

from stillframe._store_errors import OBJECT_STORES, store_error, transient
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
        except StillframeError:
            raise
        except Exception as exc:  # the store's own (botocore's missing credentials, say)
            if transient(exc):
                raise TransientNetworkError(f"{self.name}: {exc}") from exc
            raise store_error(exc, self.name, "read it") from exc

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

    def record(self, n: int) -> None:
        """Count `n` bytes fetched from the store by a reader of another kind (the
        range reads a stream's index and segments are fetched by)."""
        with self._lock:
            self._closed_bytes += n

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

    def explained(self, exc: StillframeError) -> StillframeError:
        """`exc`, or the error that names what is wrong with the source when FFmpeg's
        own failure would not (see explained())."""
        return explained(exc, self.source)

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


def av_words(exc: BaseException) -> str:
    """What FFmpeg said, in words: PyAV's message without the error number and the
    file or function name it appends ("[Errno 1094995529] Invalid data found when
    processing input: 'avcodec_send_packet()'" -> "invalid data found when
    processing input"). Anything else as it reads."""
    if not isinstance(exc, av.error.FFmpegError):
        return str(exc)
    text = str(exc.strerror or "").strip() or type(exc).__name__
    log = getattr(exc, "log", None)  # FFmpeg's own last word, when PyAV caught one
    if isinstance(log, tuple) and len(log) > 2 and str(log[2]).strip():
        text = f"{text}: {str(log[2]).strip()}"
    return text[:1].lower() + text[1:]


def map_av_error(exc: BaseException, source: Any, name: str | None = None) -> StillframeError:
    """The stillframe error for a failure PyAV raised while reading `source`."""
    name = name or describe(source)
    if isinstance(exc, StillframeError):
        return exc
    if isinstance(exc, (FileNotFoundError, IsADirectoryError)) or getattr(exc, "errno", None) == errno.ENOENT:
        return ResourceNotFound(f"{name}: no such file")
    if isinstance(exc, PermissionError):
        return PermissionDenied(f"{name}: permission denied")
    text = av_words(exc)
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
        host = _unknown_host(source) if getattr(exc, "errno", None) == errno.EIO else None
        if host is not None:  # FFmpeg says only "input/output error" for a name it cannot resolve
            return TransientNetworkError(
                f"{name}: the host {host} cannot be found (not a name the DNS knows, or no network)"
            )
        return TransientNetworkError(f"{name}: {text}")
    if isinstance(exc, (av.error.InvalidDataError, av.error.EOFError)):
        return ResourceContentBad(f"{name}: not a readable media file (FFmpeg: {text})")
    if isinstance(exc, (av.error.FFmpegError, OSError)):
        return ResourceContentBad(f"{name}: {text}")
    return ResourceContentBad(f"{name}: {type(exc).__name__}: {text}")


def _unknown_host(url: str) -> str | None:
    """The host of `url` when it does not resolve, else None."""
    import socket
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return host
    except OSError:
        return None
    return None


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
    if isinstance(target, str) and target.startswith(OBJECT_STORES):  # FFmpeg has no protocol for these
        raise InvalidParameter(
            f"{target}: an object store's URL is read through fsspec: give "
            f"sf.RangeSource.from_url({target!r}, **storage_options) as the source"
        )
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
    # An object in a store: a RangeSource, or the reader of one Input.open names.
    stored = isinstance(source, RangeSource) or name is not None and not isinstance(target, str)
    if (is_url(target) or stored) and _MP4_NAME.search(name or describe(source)):
        # FFmpeg's mov demuxer would read every fragment's header of a fragmented MP4 to
        # open it, a request (and a socket's worth of bytes) each: stillframe indexes
        # the fragments itself (_indexes.segments). A progressive MP4's sample table is
        # read all the same.
        options["fflags"] = "+ignidx"
    try:
        container = av.open(target, "r", options=options, timeout=io_timeout, hwaccel=hwaccel)
        if container.format.name == "image2" and isinstance(target, str):
            container = _one_picture(container, target, options=options, timeout=io_timeout, hwaccel=hwaccel)
        return container
    except av.error.ExitError as exc:
        raise TransientNetworkError(f"{name or describe(source)}: no answer within {io_timeout} s") from exc
    except Exception as exc:  # PyAV raises a wide family; map every one
        raise map_av_error(exc, source, name) from exc


def _one_picture(container: av.container.InputContainer, target: str, **how: Any) -> av.container.InputContainer:
    """A single picture FFmpeg opened by name (a JPEG, mostly: PNG and WebP files
    open with their own demuxers already) is reopened with its own demuxer. Read
    by image2 it cannot be read again once read (not even sought back to), and it
    is then a one-frame video like any other picture. A numbered sequence
    (img%03d.jpg) is left to image2."""
    if re.search(r"%\d*d", target) or not container.streams.video:
        return container
    codec = container.streams.video[0].codec_context.name
    demuxer = _PICTURE_DEMUXERS.get(codec, f"{codec}_pipe")
    if demuxer not in av.formats_available:
        return container
    container.close()
    return av.open(target, "r", format=demuxer, **how)


_PICTURE_DEMUXERS = {"mjpeg": "jpeg_pipe", "jpeg2000": "j2k_pipe"}
_MP4_NAME = re.compile(r"\.(mp4|m4v|mov|m4s|cmfv|ismv|3gp)(\?|#|$)", re.I)


def explained(exc: StillframeError, source: Any) -> StillframeError:
    """`exc`, or, when `source` is an http(s) URL whose server answers byte-range
    requests with the whole file, the error that says so: seeking in a video over
    HTTP needs them, and FFmpeg's own failure would only say the data is bad."""
    if not isinstance(exc, ResourceContentBad) or not (
        isinstance(source, str) and source.startswith(("http://", "https://"))
    ):
        return exc
    if answers_ranges(source) is not False:
        return exc
    return ResourceContentBad(
        f"{source}: the server does not answer byte-range requests (it sends the whole file for "
        "`Range: bytes=1-1`), and reading this video needs them to seek; serve it from a server that "
        "does (nginx, a CDN, an object store) or download it first"
    )


def answers_ranges(url: str, timeout: float = 5.0) -> bool | None:
    """Whether the server at `url` answers a byte-range request with just those
    bytes (206); None when it cannot be asked. Reads no body."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Range": "bytes=1-1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the caller's own URL
            return bool(response.status == 206)
    except (urllib.error.URLError, OSError, ValueError):
        return None
