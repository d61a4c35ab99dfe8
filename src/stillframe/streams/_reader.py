"""Byte-range readers: the one way the stream parsers touch their input.

A parser asks for `read(uri, start, length)` and `size(uri)`, and resolves the
URIs it finds inside a playlist or manifest with `resolve(parent, ref)`. Three
readers answer: local files, HTTP(S) with `Range` (one kept-alive connection per
host), and anything fsspec opens (s3://, oss://, gs://...). Each counts the
requests it made and the bytes it was sent, so a caller (and a test) can see what
a walk cost.
"""

from __future__ import annotations

import os
import posixpath
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from stillframe.errors import (
    InvalidParameter,
    PermissionDenied,
    ResourceContentBad,
    ResourceNotFound,
    TransientNetworkError,
)

if TYPE_CHECKING:
    import http.client

__all__ = [
    "AnyReader",
    "FileReader",
    "FsspecReader",
    "HttpReader",
    "RangeReader",
    "ReadStats",
    "read_document",
    "reader_for",
    "resolve",
]

# One request never asks for more than this: the parsers read headers, not media.
MAX_READ = 64 << 20
_REMOTE = ("http", "https")


@dataclass
class ReadStats:
    """What a reader has fetched: requests made and bytes read."""

    requests: int = 0
    bytes: int = 0


@runtime_checkable
class RangeReader(Protocol):
    """What the parsers read through. `read` returns at most `length` bytes from
    `start` (fewer only at the end of the resource); `size` is the resource's
    length in bytes; `stats` what it has fetched."""

    @property
    def stats(self) -> ReadStats:
        """The requests made and the bytes read so far."""
        ...

    def read(self, uri: str, start: int, length: int) -> bytes:
        """At most `length` bytes of `uri` from byte `start` (fewer only at its end)."""
        ...

    def size(self, uri: str) -> int:
        """The length of `uri` in bytes."""
        ...


def _scheme(uri: str) -> str:
    head, sep, _ = uri.partition("://")
    return head.lower() if sep and head.isalnum() else ""


def resolve(parent: str, ref: str) -> str:
    """`ref` (a URI found inside `parent`) made absolute against `parent`.

    A remote parent (http(s)://, s3://...) may name remote resources only: a
    playlist fetched from a server never reaches into the local file system, nor
    into another store. A local parent may name local files and http(s) URLs."""
    ref = ref.strip()
    if not ref:
        raise ResourceContentBad(f"{parent}: an empty URI")
    parent_scheme, ref_scheme = _scheme(parent), _scheme(ref)
    if parent_scheme in _REMOTE:
        out = urllib.parse.urljoin(parent, ref)
        if _scheme(out) not in _REMOTE:
            raise ResourceContentBad(f"{parent}: refers to {ref!r}, outside the web")
        return out
    if parent_scheme and parent_scheme != "file":
        if ref_scheme:
            if ref_scheme != parent_scheme and ref_scheme not in _REMOTE:
                raise ResourceContentBad(f"{parent}: refers to {ref!r}, outside its store")
            return ref
        head, _, path = parent.partition("://")
        if ref.startswith("/"):
            bucket = path.split("/", 1)[0]
            return f"{head}://{bucket}{posixpath.normpath(ref)}"
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), ref))
        if joined.startswith("..") or joined.split("/", 1)[0] != path.split("/", 1)[0]:
            raise ResourceContentBad(f"{parent}: refers to {ref!r}, outside its bucket")
        return f"{head}://{joined}"
    if ref_scheme in _REMOTE:
        return ref
    if ref_scheme == "file":
        ref = urllib.parse.unquote(urllib.parse.urlparse(ref).path)
    elif ref_scheme:
        raise ResourceContentBad(f"{parent}: refers to {ref!r}, which cannot be read from a local file")
    base = parent[len("file://") :] if parent.startswith("file://") else parent
    return os.path.normpath(os.path.join(os.path.dirname(base), urllib.parse.unquote(ref)))


def _check_range(uri: str, start: int, length: int) -> None:
    if start < 0 or length < 0:
        raise InvalidParameter(f"{uri}: a negative range ({start}, {length})")
    if length > MAX_READ:
        raise ResourceContentBad(f"{uri}: a read of {length} bytes is over the {MAX_READ >> 20} MiB limit")


class FileReader:
    """Local files."""

    def __init__(self) -> None:
        self.stats = ReadStats()
        self._sizes: dict[str, int] = {}

    def _errors(self, uri: str, exc: OSError) -> Exception:
        if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
            return ResourceNotFound(f"{uri}: no such file")
        if isinstance(exc, PermissionError):
            return PermissionDenied(f"{uri}: permission denied")
        if isinstance(exc, IsADirectoryError):
            return ResourceContentBad(f"{uri}: is a directory")
        return ResourceContentBad(f"{uri}: {exc.strerror or exc}")

    def read(self, uri: str, start: int, length: int) -> bytes:
        """At most `length` bytes of the file from byte `start`."""
        _check_range(uri, start, length)
        try:
            with open(_local(uri), "rb") as f:
                f.seek(start)
                data = f.read(length)
        except OSError as exc:
            raise self._errors(uri, exc) from exc
        self.stats.requests += 1
        self.stats.bytes += len(data)
        return data

    def size(self, uri: str) -> int:
        """The file's length in bytes (asked of the file system once)."""
        if uri not in self._sizes:
            try:
                path = Path(_local(uri))
                if path.is_dir():
                    raise IsADirectoryError(uri)
                self._sizes[uri] = path.stat().st_size
            except OSError as exc:
                raise self._errors(uri, exc) from exc
        return self._sizes[uri]


def _local(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


class HttpReader:
    """HTTP(S) by `Range` request, one kept-alive connection per host (per thread).
    A server that ignores `Range` (200 with the whole body) is read only as far as
    asked, then hung up on."""

    def __init__(self, timeout: float = 30.0, headers: dict[str, str] | None = None) -> None:
        self.stats = ReadStats()
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._local = threading.local()
        self._sizes: dict[str, int] = {}
        self._redirects: dict[str, str] = {}

    def _connection(self, parts: urllib.parse.SplitResult) -> http.client.HTTPConnection:
        import http.client  # here: a program reading local files only never pays for it

        conns: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault("conns", {})
        key = (parts.scheme, parts.netloc)
        if key not in conns:
            cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            conns[key] = cls(parts.netloc, timeout=self.timeout)
        return conns[key]

    def _drop(self, parts: urllib.parse.SplitResult) -> None:
        conns = self._local.__dict__.get("conns", {})
        conn = conns.pop((parts.scheme, parts.netloc), None)
        if conn is not None:
            conn.close()

    def _get(self, uri: str, start: int, length: int) -> tuple[http.client.HTTPResponse, urllib.parse.SplitResult]:
        import http.client

        parts = urllib.parse.urlsplit(uri)
        if parts.scheme not in _REMOTE or not parts.netloc:
            raise InvalidParameter(f"{uri}: not an http(s) URL")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        headers = {**self.headers, "Range": f"bytes={start}-{start + max(length, 1) - 1}"}
        for attempt in (0, 1):  # a kept-alive connection the server closed is retried once
            conn = self._connection(parts)
            try:
                conn.request("GET", target, headers=headers)
                return conn.getresponse(), parts
            except (http.client.HTTPException, OSError) as exc:
                self._drop(parts)
                if attempt:
                    raise TransientNetworkError(f"{uri}: {exc}") from exc
        raise AssertionError("unreachable")

    MAX_REDIRECTS = 5

    def _fetch(self, uri: str, start: int, length: int) -> tuple[bytes, int | None]:
        """The bytes asked for and the resource's size when the answer told it.
        Redirects (a CDN's signed URLs) are followed, to http(s) only."""
        target = self._redirects.get(uri, uri)
        for _ in range(self.MAX_REDIRECTS + 1):
            resp, parts = self._get(target, start, length)
            location = resp.getheader("Location") if resp.status in (301, 302, 303, 307, 308) else None
            if location is None:
                break
            resp.read(1 << 16)
            if not resp.isclosed():
                self._drop(parts)
            target = resolve(target, location)
        else:
            raise ResourceContentBad(f"{uri}: over {self.MAX_REDIRECTS} redirects")
        if target != uri:
            self._redirects[uri] = target
        return self._answer(uri, resp, parts, start, length)

    def _answer(
        self, uri: str, resp: http.client.HTTPResponse, parts: urllib.parse.SplitResult, start: int, length: int
    ) -> tuple[bytes, int | None]:
        import http.client

        status = resp.status
        if status == 416:
            resp.read()
            total = _content_range_total(resp.getheader("Content-Range"))
            return b"", total
        if status >= 400:
            resp.read(1 << 16)
            self._drop(parts)
            if status == 404 or status == 410:
                raise ResourceNotFound(f"{uri}: not found ({status})")
            if status in (401, 403):
                raise PermissionDenied(f"{uri}: access refused ({status})")
            if status >= 500 or status == 429:
                raise TransientNetworkError(f"{uri}: the server answered {status}")
            raise ResourceContentBad(f"{uri}: the server answered {status}")
        try:
            if status == 206:
                data = resp.read(length + 1 if length else 0)
                total = _content_range_total(resp.getheader("Content-Range"))
                if not resp.isclosed():
                    resp.read()
            elif status == 200:
                # Range ignored: skip to `start`, keep `length`, then hang up.
                skipped = 0
                while skipped < start:
                    chunk = resp.read(min(1 << 16, start - skipped))
                    if not chunk:
                        break
                    skipped += len(chunk)
                data = resp.read(length)
                cl = resp.getheader("Content-Length")
                total = int(cl) if cl and cl.isdigit() else None
                self._drop(parts)
                self.stats.bytes += skipped
            else:
                raise ResourceContentBad(f"{uri}: the server answered {status}")
        except (http.client.HTTPException, OSError) as exc:
            self._drop(parts)
            raise TransientNetworkError(f"{uri}: {exc}") from exc
        self.stats.requests += 1
        self.stats.bytes += len(data)
        return data[:length], total

    def read(self, uri: str, start: int, length: int) -> bytes:
        """At most `length` bytes of the URL from byte `start`, by one Range request."""
        _check_range(uri, start, length)
        if length == 0:
            return b""
        data, total = self._fetch(uri, start, length)
        if total is not None:
            self._sizes[uri] = total
        return data

    def size(self, uri: str) -> int:
        """The resource's length, as its server's Content-Range gives it."""
        if uri not in self._sizes:
            _, total = self._fetch(uri, 0, 1)
            if total is None:
                raise ResourceContentBad(f"{uri}: the server does not say how long it is")
            self._sizes[uri] = total
        return self._sizes[uri]


def _content_range_total(value: str | None) -> int | None:
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


class FsspecReader:
    """Any store fsspec opens, by ranged reads (`cat_file(path, start, end)`);
    oss:// is read as S3 (give its endpoint in client_kwargs)."""

    def __init__(self, **storage_options: Any) -> None:
        self.stats = ReadStats()
        self.storage_options = storage_options
        self._fs: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}

    @classmethod
    def on(cls, fs: Any, scheme: str) -> FsspecReader:
        """A reader of `scheme`'s URIs through `fs`, an fsspec file system already made."""
        reader = cls()
        reader._fs[scheme] = fs
        return reader

    def _target(self, uri: str) -> tuple[Any, str]:
        try:
            import fsspec
        except ImportError:
            raise InvalidParameter(f"{uri}: reading it needs fsspec (pip install 'stillframe[s3]')") from None
        scheme = _scheme(uri)
        target = "s3://" + uri[len("oss://") :] if scheme == "oss" else uri
        if scheme not in self._fs:
            try:
                self._fs[scheme] = fsspec.core.url_to_fs(target, **self.storage_options)[0]
            except (ImportError, ValueError) as exc:
                raise InvalidParameter(f"{uri}: {exc}") from exc
        fs = self._fs[scheme]
        return fs, fs._strip_protocol(target)

    def _call(self, uri: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except FileNotFoundError as exc:
            raise ResourceNotFound(f"{uri}: no such object") from exc
        except PermissionError as exc:
            raise PermissionDenied(f"{uri}: access refused") from exc
        except OSError as exc:
            raise TransientNetworkError(f"{uri}: {exc}") from exc

    def read(self, uri: str, start: int, length: int) -> bytes:
        """At most `length` bytes of the object from byte `start` (fsspec's cat_file)."""
        _check_range(uri, start, length)
        if length == 0:
            return b""
        fs, path = self._target(uri)
        end = min(start + length, self.size(uri))
        if end <= start:
            return b""
        data = bytes(self._call(uri, lambda: fs.cat_file(path, start=start, end=end)))
        self.stats.requests += 1
        self.stats.bytes += len(data)
        return data[:length]

    def size(self, uri: str) -> int:
        """The object's length in bytes, as its store gives it."""
        if uri not in self._sizes:
            fs, path = self._target(uri)
            self._sizes[uri] = int(self._call(uri, fs.size, path))
        return self._sizes[uri]


class AnyReader:
    """The reader for each URI's scheme, made when first needed: what a playlist
    naming both local files and CDN URLs is read through."""

    def __init__(self, **storage_options: Any) -> None:
        self.storage_options = storage_options
        self._readers: dict[str, RangeReader] = {}

    @property
    def stats(self) -> ReadStats:
        """What every scheme's reader has fetched, added up."""
        total = ReadStats()
        for r in self._readers.values():
            total.requests += r.stats.requests
            total.bytes += r.stats.bytes
        return total

    def _for(self, uri: str) -> RangeReader:
        scheme = _scheme(uri)
        kind = "file" if scheme in ("", "file") else "http" if scheme in _REMOTE else scheme
        if kind not in self._readers:
            self._readers[kind] = (
                FileReader()
                if kind == "file"
                else HttpReader()
                if kind == "http"
                else FsspecReader(**self.storage_options)
            )
        return self._readers[kind]

    def use(self, scheme: str, reader: RangeReader) -> None:
        """Read `scheme`'s URIs through `reader` (an object store's, with its credentials)."""
        self._readers[scheme] = reader

    def read(self, uri: str, start: int, length: int) -> bytes:
        """At most `length` bytes of `uri` from `start`, through its scheme's reader."""
        return self._for(uri).read(uri, start, length)

    def size(self, uri: str) -> int:
        """The length of `uri` in bytes, through its scheme's reader."""
        return self._for(uri).size(uri)


def reader_for(**storage_options: Any) -> AnyReader:
    """A reader for local paths, http(s):// URLs and fsspec's stores alike
    (`storage_options` go to fsspec: key, secret, client_kwargs)."""
    return AnyReader(**storage_options)


def read_document(reader: RangeReader, uri: str, limit: int) -> bytes:
    """A whole small document (a playlist, a manifest), refused past `limit` bytes."""
    data = reader.read(uri, 0, limit + 1)
    if len(data) > limit:
        raise ResourceContentBad(f"{uri}: over {limit >> 10} KiB, too large for a playlist or manifest")
    return data
