"""Object-store destinations: s3://, oss:// (the S3 protocol at its endpoint) and
any other scheme fsspec writes (gs://, az://, memory://...), with the run's
`storage_options` (endpoint_url, key, secret, client_kwargs, ...).

Each file is put as soon as it is complete, at most UPLOADS at a time (a writer
that gets ahead waits for a slot, so memory stays bounded). Transient failures
(503 SlowDown, a reset connection, a timeout) are retried with jittered
exponential backoff, ATTEMPTS in all, before the run fails with one error naming
the object. An object the run is about to replace is first copied aside on the
server (`.NAME.TOKEN.keep` beside it): commit deletes those copies, rollback
copies them back and deletes what the run put. Objects are whole or absent, so a
reader sees the old object or the new one, never part of one.
"""

from __future__ import annotations

import logging
import os
import posixpath
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from stillframe._files import check_inside, inside
from stillframe._names import Names
from stillframe._runs import alive
from stillframe._store_errors import OBJECT_STORES, say, store_error, transient
from stillframe.errors import InvalidParameter, StillframeError, TransientNetworkError

__all__ = ["ATTEMPTS", "OBJECT_STORES", "UPLOADS", "ObjectStore", "Retry", "is_object_url", "store_error", "transient"]

log = logging.getLogger("stillframe.outputs")

UPLOADS = 8  # objects in flight at once, per store of a run
ATTEMPTS = 6  # tries of one request before the run fails: waits of about 0.2, 0.4, 0.8, 1.6, 3.2 s
FIRST_WAIT, LONGEST_WAIT = 0.2, 5.0
T = TypeVar("T")

# `.NAME.TOKEN.keep`: what a run replaced, kept beside it until the run commits.
KEEP = re.compile(r"^\.(?P<name>.+)\.(?P<token>[0-9a-f]{8})\.keep$")


# `.stillframe-check-TOKEN`: the probe a run puts and deletes at once to learn that it may
# write there; one killed between the two leaves it behind.
PROBE = re.compile(r"^\.stillframe-check-(?P<token>[0-9a-f]{8})$")


def keep_name(name: str, token: str) -> str:
    return f".{name}.{token}.keep"


def stale_keeps(names: Iterable[str], token: str) -> dict[str, str]:
    """Among a folder's `names`, what runs other than `token`'s kept aside and never
    let go of (killed outright before they could commit or roll back; a run still
    alive on this machine keeps its own: see stillframe._runs): the kept name's
    target -> the kept name. (One a target: a run puts these back before it keeps
    anything aside itself.)"""
    out: dict[str, str] = {}
    gone: dict[str, bool] = {}
    for name in names:
        match = KEEP.match(name)
        if not match or match["token"] == token:
            continue
        if match["token"] not in gone:
            gone[match["token"]] = not alive(match["token"])
        if gone[match["token"]]:
            out[match["name"]] = name
    return out


def stale_probes(names: Iterable[str], token: str) -> list[str]:
    """Among a folder's `names`, the probes of runs other than `token`'s that are no
    longer alive (killed between putting their probe and deleting it)."""
    return sorted(n for n in names if (m := PROBE.match(n)) and m["token"] != token and not alive(m["token"]))


def is_object_url(path: str | os.PathLike[str]) -> bool:
    """Whether an output names an object in a store (scheme://...) rather than a
    local path (file:// is local)."""
    text = os.fspath(path)
    return "://" in text and not text.startswith("file://")


class Retry:
    """Calls with retries of transient failures; counts them (thread-safe)."""

    def __init__(self, attempts: int | None = None, first: float | None = None, longest: float | None = None) -> None:
        self.attempts = ATTEMPTS if attempts is None else attempts
        self.first = FIRST_WAIT if first is None else first
        self.longest = LONGEST_WAIT if longest is None else longest
        self.retries = 0
        self.waited = 0.0
        self._lock = threading.Lock()

    def __call__(self, fn: Callable[[], T], url: str, doing: str) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Exception as exc:
                if not transient(exc):
                    raise store_error(exc, url, doing) from exc
                if attempt == self.attempts:
                    raise TransientNetworkError(
                        f"{url}: cannot {doing}: the store still failed after {attempt} attempts ({say(exc)})"
                    ) from exc
                delay = min(self.longest, self.first * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                with self._lock:
                    self.retries += 1
                    self.waited += delay
                log.info("%s: %s failed (%s); trying again in %.2f s", url, doing, say(exc), delay)
                time.sleep(delay)
        raise AssertionError("unreachable")


def open_filesystem(scheme: str, storage_options: Mapping[str, Any]) -> Any:
    """The fsspec file system for `scheme`. For S3 (and oss://, read as S3) the
    library's own retries are turned off unless the options set them, so that
    Retry is the one place a request is tried again (and counted)."""
    if scheme in ("http", "https"):
        raise InvalidParameter(f"{scheme}:// names where to read, not where to write: give a path or s3://, oss://...")
    try:
        import fsspec
    except ImportError:
        raise InvalidParameter(f"{scheme}:// outputs need fsspec: pip install 'stillframe[s3]'") from None
    protocol = "s3" if scheme == "oss" else scheme
    opts = dict(storage_options)
    ours = protocol in ("s3", "s3a") and "retries" not in (opts.get("config_kwargs") or {})
    if ours:
        opts["config_kwargs"] = {**(opts.get("config_kwargs") or {}), "retries": {"total_max_attempts": 1}}
    try:
        fs = fsspec.filesystem(protocol, **opts)
    except ImportError as exc:
        raise InvalidParameter(f"{scheme}:// outputs need {exc.name or 'its package'} ({exc})") from None
    except ValueError as exc:
        raise InvalidParameter(f"{scheme}://: no file system for this scheme ({exc})") from None
    if ours:
        fs.retries = 1  # s3fs's own loop; this instance is ours (its options differ from any reader's)
    return fs


@dataclass
class _Object:
    key: str
    aside: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    kept: bool = False  # copied aside (it existed before the run)
    tried: bool = False  # a put was sent (it may have landed even if it failed)
    future: Future[None] | None = None


def _aside(key: str, token: str) -> str:
    folder, name = posixpath.split(key)
    return posixpath.join(folder, keep_name(name, token))


def _common_prefix(names: Iterable[str]) -> str:
    return os.path.commonprefix(list(names))


class ObjectStore:
    """One scheme's objects for one run (see the module's docstring). `root`: a
    prefix (scheme://bucket/prefix) every object the run puts, keeps aside or puts
    back must lie under (see stillframe._files.confined_to); None: no bound."""

    def __init__(
        self,
        scheme: str,
        storage_options: Mapping[str, Any],
        token: str,
        uploads: int = UPLOADS,
        root: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.protocol = "s3" if scheme == "oss" else scheme
        self.fs = open_filesystem(scheme, storage_options)
        # Spelled as url(key()) spells the run's objects, so that the two compare.
        self.root = self.url(self.key(root)) if root is not None and root.startswith(f"{scheme}://") else root
        self.token = token
        self.retry = Retry()
        self.existing: set[str] = set()
        self.objects: dict[str, _Object] = {}
        self.puts = self.bytes = self.in_flight = self.max_in_flight = 0
        self.uploads = uploads
        self._slots = threading.BoundedSemaphore(uploads)
        self._pool = ThreadPoolExecutor(uploads, thread_name_prefix=f"stillframe-{scheme}")
        self._lock = threading.Lock()
        self._failed: BaseException | None = None

    def key(self, url: str) -> str:
        return str(self.fs._strip_protocol(self.protocol + url[len(self.scheme) :]))

    def url(self, key: str) -> str:
        return f"{self.scheme}://{key}"

    # -- before the work -------------------------------------------------------------------

    def _folders(self, urls: Sequence[str]) -> dict[str, list[str]]:
        folders: dict[str, list[str]] = {}
        for url in urls.visited() if isinstance(urls, Names) else urls:
            key = self.key(url)
            folders.setdefault(posixpath.dirname(key), []).append(key)
        return folders

    def _named(self, urls: Sequence[str]) -> list[tuple[str, str, Callable[[str], bool]]]:
        """(folder, the names' common prefix, whether a name there is one of `urls`)
        for each folder of `urls`; a long run's names (Names, in one folder) by
        their pattern, without visiting them."""
        if isinstance(urls, Names) and urls.long and urls.folder() is not None:
            folder = posixpath.dirname(self.key(urls[0]))
            common = urls.token.split(posixpath.basename(urls.pattern))[0]
            return [(folder, common, urls.names)]
        out: list[tuple[str, str, Callable[[str], bool]]] = []
        for folder, keys in self._folders(list(urls)).items():
            names = {posixpath.basename(k) for k in keys}
            out.append((folder, _common_prefix(names), names.__contains__))
        return out

    def check(self, urls: Sequence[str]) -> None:
        """Each folder (prefix) can be written: a probe object is put and deleted, so a
        missing bucket or a refusal is found before the first decode."""
        for folder, keys in self._folders(urls).items():
            probe = posixpath.join(folder, f".stillframe-check-{self.token}")
            where = self.url(keys[0])
            check_inside(where, self.root)
            self.retry(partial(self.fs.pipe_file, probe, b""), where, "write there")
            self.retry(partial(self.fs.rm_file, probe), where, "write there")

    def recover(self, urls: Sequence[str]) -> None:
        """Before the run: find which of `urls` hold objects (so that the run keeps
        them aside), one listing a folder of the names' common prefix; and put back
        first what an earlier run into these names kept aside but, killed outright,
        never let go of."""
        for folder, common, wanted in self._named(urls):
            if not inside(self.url(folder), self.root):
                continue  # not the run's to touch (check has refused it already)
            listed = self._listed(folder, common)
            hidden = self._listed(folder, ".") if self._prefixed and common else listed
            stale = stale_keeps(hidden, self.token)
            for probe in stale_probes(hidden, self.token):
                key = posixpath.join(folder, probe)
                self.retry(partial(self.fs.rm_file, key), self.url(key), "remove what an earlier run left")
            found = {n for n in listed if wanted(n)}
            for name in [n for n in stale if wanted(n)]:
                key, kept = posixpath.join(folder, name), posixpath.join(folder, stale[name])
                self.retry(partial(self._copy, kept, key), self.url(key), "put back what an earlier run replaced")
                self.retry(partial(self.fs.rm_file, kept), self.url(key), "put back what an earlier run replaced")
                found.add(name)
            self.existing |= {posixpath.join(folder, n) for n in found}

    def there(self, urls: Sequence[str]) -> list[str]:
        """Those of `urls` that held an object when the run began (after recover),
        in the run's order."""
        if isinstance(urls, Names) and urls.long:
            folder = posixpath.dirname(self.key(urls[0]))
            keys = sorted(
                k for k in self.existing if posixpath.dirname(k) == folder and urls.names(posixpath.basename(k))
            )
            return [self.url(k) for k in keys]
        return [u for u in urls if self.key(u) in self.existing]

    @property
    def _prefixed(self) -> bool:
        return self.protocol in ("s3", "s3a")

    def _listed(self, folder: str, prefix: str) -> set[str]:
        """The names in `folder` (those starting with `prefix`, where the store lists by prefix)."""
        where = self.url(folder)
        if self._prefixed:  # one listing of the names' shared prefix, not the whole folder
            found = self.retry(partial(self.fs.find, folder, maxdepth=1, prefix=prefix), where, "list")
        else:
            try:
                found = self.retry(partial(self.fs.ls, folder, detail=False), where, "list")
            except InvalidParameter:  # no such folder yet: nothing there to replace
                return set()
        return {posixpath.basename(str(self.fs._strip_protocol(p))) for p in found}

    # -- the run ---------------------------------------------------------------------------

    def put(self, url: str, data: bytes) -> str:
        """Queue `data` for `url`; returns at once unless UPLOADS are in flight. A
        failed upload is raised here (the next put) or by wait()."""
        self._raise_failed()
        key = self.key(url)
        check_inside(self.url(key), self.root)
        obj = self.objects.get(key)
        if obj is None:
            obj = self.objects[key] = _Object(key, _aside(key, self.token))
        self._slots.acquire()
        try:
            obj.future = self._pool.submit(self._upload, obj, url, data)
        except BaseException:
            self._slots.release()
            raise
        obj.future.add_done_callback(self._done)
        return url

    def _upload(self, obj: _Object, url: str, data: bytes) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            with obj.lock:  # two puts of one name in a run: one after the other, one copy aside
                if obj.key in self.existing and not obj.kept:
                    self.retry(partial(self._copy, obj.key, obj.aside), url, "keep the object it replaces")
                    obj.kept = True
                obj.tried = True
                self.retry(lambda: self.fs.pipe_file(obj.key, data), url, "put the object")
            with self._lock:
                self.puts += 1
                self.bytes += len(data)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _done(self, future: Future[None]) -> None:
        self._slots.release()
        exc = None if future.cancelled() else future.exception()
        if exc is not None:
            with self._lock:
                self._failed = self._failed or exc

    def _raise_failed(self) -> None:
        if self._failed is not None:
            raise self._failed

    def wait(self) -> None:
        """Every queued object is in the store; raises the first failure."""
        wait_all([o.future for o in self.objects.values() if o.future is not None])
        self._raise_failed()

    def read(self, url: str) -> bytes:
        obj = self.objects.get(self.key(url))
        if obj is not None and obj.future is not None:
            obj.future.result()
        return bytes(self.retry(lambda: self.fs.cat_file(self.key(url)), url, "read the object"))

    # -- the end ---------------------------------------------------------------------------

    def commit(self) -> None:
        """Let go of what the run replaced. The run's objects are all in place by
        now, so a failure here leaves copies behind but never fails the run."""
        self._pool.shutdown(wait=True)
        asides = [o.aside for o in self.objects.values() if o.kept]
        try:
            self._remove(asides)
        except StillframeError as exc:
            log.warning("the run is complete, but %d kept copies remain (%s)", len(asides), exc)

    def rollback(self) -> None:
        """Put back what the run replaced and remove what it put: uploads not yet
        started are dropped, those under way are waited for (at most UPLOADS)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        kept = [o for o in self.objects.values() if o.kept]
        put = [o.key for o in self.objects.values() if o.tried and not o.kept]
        failed = []
        with ThreadPoolExecutor(self.uploads) as pool:
            futures = {pool.submit(self._restore, o): o for o in kept}
            for future, obj in futures.items():
                if future.exception() is not None:
                    failed.append(self.url(obj.key))
        try:
            self._remove(put + [o.aside for o in kept if self.url(o.key) not in failed])
        except StillframeError as exc:
            log.error("rolling back: %s", exc)
        if failed:
            log.error(
                "rolling back: %d replaced objects could not be put back; their copies are kept beside "
                "them as .NAME.%s.keep: %s",
                len(failed),
                self.token,
                ", ".join(failed[:5]),
            )

    def _restore(self, obj: _Object) -> None:
        self.retry(partial(self._copy, obj.aside, obj.key), self.url(obj.key), "put back the object it replaced")

    def _copy(self, source: str, target: str) -> None:
        """A copy made by the store itself. On S3, one CopyObject (fsspec's cp_file
        first asks for the source's size, a request per object more)."""
        if self.protocol not in ("s3", "s3a"):
            self.fs.cp_file(source, target)
            return
        bucket, key = source.split("/", 1)
        into, name = target.split("/", 1)
        self.fs.call_s3("copy_object", Bucket=into, Key=name, CopySource={"Bucket": bucket, "Key": key})

    def _remove(self, keys: list[str]) -> None:
        """Delete `keys` (in batches of 1,000 where the store deletes many at once)."""
        if self.protocol not in ("s3", "s3a"):
            for key in keys:
                try:
                    self.retry(partial(self.fs.rm_file, key), self.url(key), "delete")
                except InvalidParameter:  # not there (a put that never landed)
                    pass
            return
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self.retry(partial(self.fs.rm, chunk), self.url(chunk[0]), "delete")

    def report(self) -> dict[str, Any]:
        return {
            "objects": self.puts,
            "bytes": self.bytes,
            "replaced": sum(o.kept for o in self.objects.values()),
            "retries": self.retry.retries,
            "retry_wait": round(self.retry.waited, 3),
            "max_in_flight": self.max_in_flight,
        }
