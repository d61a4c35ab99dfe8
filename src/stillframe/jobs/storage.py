"""Where job inputs come from and outputs go: local paths, file://, http(s)
inputs, and object stores through fsspec (s3://, and oss:// as an S3-compatible
store at a given endpoint). Outputs are written by the engine's own writers
(stillframe.outputs), straight into the store."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stillframe._source import RangeSource
from stillframe.errors import InvalidParameter, PermissionDenied, TransientNetworkError

REMOTE = ("s3://", "oss://")


def normalise_location(spec: Any, what: str) -> str:
    """A location from our string form or a service's dict: ICE `{Type, Media}`,
    MPS `{Bucket, Location, Object}`."""
    if isinstance(spec, os.PathLike):
        return os.fspath(spec)
    if isinstance(spec, str):
        if not spec:
            raise InvalidParameter(f"{what} is empty")
        return spec
    if isinstance(spec, Mapping):
        if "Media" in spec:
            return str(spec["Media"])
        if "Bucket" in spec and "Object" in spec:
            return f"oss://{spec['Bucket']}/{str(spec['Object']).lstrip('/')}"
    raise InvalidParameter(f"{what} must be a path, a URL, {{Type, Media}} or {{Bucket, Object}}, not {spec!r}")


def s3_filesystem(options: Mapping[str, Any], endpoint: str | None = None, **extra: Any):
    """An s3fs file system from our storage options; `endpoint` (else the options'
    endpoint_url) is the S3-compatible store to talk to."""
    import fsspec

    opts = dict(options)
    endpoint = endpoint or opts.pop("endpoint_url", None)
    opts.pop("endpoint_url", None)
    if endpoint:
        opts["client_kwargs"] = {**opts.get("client_kwargs", {}), "endpoint_url": endpoint}
    return fsspec.filesystem("s3", **opts, **extra)


class Storage:
    """fsspec file systems for the object-store schemes. `options` go to s3fs
    (for example {"endpoint_url": "http://127.0.0.1:9000", "key": ..., "secret": ...});
    oss:// uses the same S3 protocol at its endpoint."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    def _fs(self, url: str):
        return s3_filesystem(self.options)

    @staticmethod
    def _key(url: str) -> str:
        return url.split("://", 1)[1]

    def source(self, url: str) -> str | RangeSource:
        """What the engine reads for `url`: a local path, a URL FFmpeg reads, or for
        an object store a RangeSource that fetches only the byte ranges the frames
        need (never the whole object)."""
        if url.startswith("file://"):
            return url[len("file://") :]
        if not url.startswith(REMOTE):
            return url
        return RangeSource(self._fs(url), self._key(url), url).check()

    def destination(self, output: str) -> str:
        """Where the writers put `output`: a local path (file:// stripped), or the
        object-store URL itself (written with these storage options)."""
        return output[len("file://") :] if output.startswith("file://") else output


class LiveOutput:
    """Where a live job's snapshots go (ICE SnapshotOutput): `local` writes under the
    directory named by Bucket, replacing files by rename; `oss` / `s3` put objects
    into Bucket at Endpoint (an S3-compatible store; a bare host name means https).
    Credentials come from the service's storage options."""

    def __init__(self, spec: Mapping[str, str], options: Mapping[str, Any] | None = None) -> None:
        self.kind = spec["StorageType"]
        self.bucket = spec["Bucket"]
        self._fs = None
        if self.kind != "local":
            endpoint = spec["Endpoint"]
            # skip_instance_cache keeps jobs at different endpoints apart.
            self._fs = s3_filesystem(
                options or {}, endpoint if "://" in endpoint else f"https://{endpoint}", skip_instance_cache=True
            )

    def url(self, name: str) -> str:
        """Where the file `name` is: a path, or the object's URL."""
        if self._fs is None:
            return str(Path(self.bucket) / name)
        return f"{self.kind}://{self.bucket}/{name}"

    def put(self, name: str, data: bytes) -> None:
        """Write one file whole: readers see the old one or the new one, never part. A
        local file must resolve inside the Bucket folder as it is written."""
        try:
            if self._fs is None:
                from stillframe._files import confined_to, write_atomic

                with confined_to(self.bucket):
                    write_atomic(Path(self.bucket) / name, data)
            else:
                self._fs.pipe(f"{self.bucket}/{name}", data)
        except PermissionError as exc:
            raise PermissionDenied(f"{self.url(name)}: access refused") from exc
        except OSError as exc:
            raise TransientNetworkError(f"{self.url(name)}: {exc}") from exc

    def remove(self, name: str) -> bool:
        """Remove the file `name`; whether it was there. A local one is removed only if
        it lies inside the Bucket folder (its folders' symlinks followed)."""
        try:
            if self._fs is None:
                from stillframe._files import confined_to, is_confined

                path = Path(self.bucket, name)
                with confined_to(self.bucket):
                    if not is_confined(path.parent):
                        return False
                path.unlink()
            else:
                key = f"{self.bucket}/{name}"
                self._fs.invalidate_cache(key)
                if not self._fs.exists(key):  # an object store deletes missing keys quietly
                    return False
                self._fs.rm(key)
        except FileNotFoundError:
            return False
        return True
