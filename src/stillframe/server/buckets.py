"""The services name files as {Bucket, Location, Object} or oss://bucket/object.
Here each bucket is a local folder or an object-store prefix (`--bucket
NAME=DIR_OR_S3URL`), and an object name can never leave its bucket: absolute
names, `..` segments and (for folders) symlinks that resolve outside are refused."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stillframe.errors import InvalidParameter, ObjectOutsideBucket

REMOTE = ("s3://", "oss://")
# An absolute path in a message: a `/` at the start or after a space, quote or
# parenthesis (not inside a URL), then no spaces or quotes.
_ABSOLUTE = re.compile(r"(?<![\w:/.~-])/[^\s'\"()]+")


class BucketNotFound(InvalidParameter):
    """A bucket named in a request is not one the server serves."""

    code = "InvalidBucket.NotFound"
    http_status = 404


@dataclass(frozen=True)
class Bucket:
    """A bucket the server serves: its name and its root (a folder, or an s3:// / oss:// prefix)."""

    name: str
    root: str  # an absolute folder, or s3://... / oss://... prefix without trailing /

    @property
    def remote(self) -> bool:
        """Whether the bucket is an object store rather than a folder."""
        return self.root.startswith(REMOTE)


def parse_bucket(spec: str) -> Bucket:
    """NAME=DIR_OR_S3URL, as `--bucket` takes it."""
    name, sep, root = spec.partition("=")
    if not sep or not name or not root:
        raise InvalidParameter(f"--bucket {spec!r}: give NAME=FOLDER or NAME=s3://bucket/prefix")
    if root.startswith(REMOTE):
        return Bucket(name, root.rstrip("/"))
    return Bucket(name, os.path.realpath(os.path.abspath(root)))


def _clean(obj: str) -> str:
    """The object name as a relative POSIX path, or ObjectOutsideBucket."""
    if not obj or "\0" in obj:
        raise InvalidParameter("the object name is empty" if not obj else "the object name holds a NUL byte")
    path = PurePosixPath(obj)
    if path.is_absolute() or obj.startswith("\\") or any(p == ".." for p in path.parts) or "\\.." in obj:
        raise ObjectOutsideBucket(f"object {obj!r} leaves its bucket")
    return str(path)


class Buckets:
    """The buckets the server serves, by name: service object names to paths or URLs and back."""

    def __init__(self, buckets: Iterable[Bucket] = ()) -> None:
        self._by_name: dict[str, Bucket] = {b.name: b for b in buckets}

    @classmethod
    def parse(cls, specs: Iterable[str]) -> Buckets:
        """Buckets from `--bucket NAME=DIR_OR_URL` specs."""
        return cls(parse_bucket(s) for s in specs)

    def __iter__(self):
        return iter(self._by_name.values())

    def get(self, name: str) -> Bucket:
        """The bucket named `name`; BucketNotFound when it is not served here."""
        try:
            return self._by_name[name]
        except KeyError:
            raise BucketNotFound(f"bucket {name!r} is not served here") from None

    def resolve(self, bucket: str, obj: str) -> str:
        """The local path or object-store URL for `obj` in `bucket`."""
        b = self.get(bucket)
        rel = _clean(obj)
        if b.remote:
            return f"{b.root}/{rel}"
        target = os.path.join(b.root, rel)
        real = os.path.realpath(target)  # follows symlinks, also for a missing leaf's parents
        if real != b.root and not real.startswith(b.root + os.sep):
            raise ObjectOutsideBucket(f"object {obj!r} resolves outside bucket {bucket!r}")
        return target

    def locate(self, bucket: str, obj: str) -> dict[str, str]:
        """resolve(), as the job service takes a location: {"Media": the path or URL,
        "Root": the bucket's folder or prefix}, so that the job checks again, whenever
        it reads or writes the file, that it still lies inside its bucket."""
        return {"Media": self.resolve(bucket, obj), "Root": self.get(bucket).root}

    def locate_url(self, url: str) -> dict[str, str]:
        """locate() for oss://bucket/object (or s3://)."""
        bucket, obj = self._split_url(url)
        return self.locate(bucket, obj)

    @staticmethod
    def _split_url(url: str) -> tuple[str, str]:
        if not url.startswith(REMOTE):
            raise InvalidParameter(f"{url!r}: name an object as oss://BUCKET/OBJECT")
        bucket, _, obj = url.split("://", 1)[1].partition("/")
        return bucket, obj

    def resolve_url(self, url: str) -> str:
        """oss://bucket/object (or s3://) named in a request -> what the engine reads."""
        return self.resolve(*self._split_url(url))

    def resolve_spec(self, spec: Mapping[str, str] | str) -> str:
        """{Bucket, Object} (MPS, Huawei's {bucket, object}) or {Type, Media} or a URL."""
        if isinstance(spec, str):
            return self.resolve_url(spec)
        lower = {k.lower(): v for k, v in spec.items()}
        if "media" in lower:
            return self.resolve_url(str(lower["media"]))
        if "bucket" in lower and "object" in lower:
            return self.resolve(str(lower["bucket"]), str(lower["object"]))
        raise InvalidParameter(f"name a file as {{Bucket, Object}} or {{Type, Media}}, not {dict(spec)!r}")

    def name_of(self, path_or_url: str) -> tuple[str, str] | None:
        """(bucket, object) for a path or URL this server wrote, or None when no bucket holds it."""
        for b in self._by_name.values():
            if b.remote:
                if path_or_url.startswith(b.root + "/"):
                    return b.name, path_or_url[len(b.root) + 1 :]
                continue
            full = os.path.abspath(path_or_url)
            if full.startswith(b.root + os.sep):
                return b.name, Path(full).relative_to(b.root).as_posix()
        return None

    def confined(self, path: str) -> str | None:
        """`path` resolved now (symlinks followed) when that lies inside a served
        folder, else None: what may be read back to a caller."""
        real = os.path.realpath(path)
        for b in self._by_name.values():
            root = os.path.realpath(b.root) if not b.remote else None
            if root is not None and (real == root or real.startswith(root.rstrip(os.sep) + os.sep)):
                return real
        return None

    def oss_url(self, path_or_url: str, scheme: str = "oss") -> str:
        """How a caller names a file: scheme://bucket/object, or for a path in no served
        bucket its last part only (never a server path)."""
        named = self.name_of(path_or_url)
        if named:
            return f"{scheme}://{named[0]}/{named[1]}"
        if "://" in path_or_url and not path_or_url.startswith("file://"):
            return path_or_url
        return os.path.basename(path_or_url.rstrip("/")) or path_or_url

    def scrub(self, text: str | None, scheme: str = "oss") -> str | None:
        """A message with every server path in it written as the caller names it: a
        bucket's folder (or object-store prefix) as scheme://bucket/, any other
        absolute path as its last part."""
        if not text:
            return text
        for b in sorted(self._by_name.values(), key=lambda b: -len(b.root)):
            text = text.replace(b.root + ("/" if b.remote else os.sep), f"{scheme}://{b.name}/")
            text = text.replace(b.root, f"{scheme}://{b.name}")
        return _ABSOLUTE.sub(lambda m: os.path.basename(m.group(0).rstrip("/")) or m.group(0), text)
