"""A run's outputs as one transaction. Every file is put in place as soon as it is
complete; what it replaces is kept aside until the run commits. A run that fails
or is interrupted rolls back: what it put is removed and what it replaced comes
back, so nothing a user had is lost.

    Ledger        routes each destination to its store: check, write, read, commit, rollback
    LocalFiles    the local file system: a temporary file renamed into place, the file it
                  replaces kept as a hard link `.NAME.TOKEN.keep` beside it
    ObjectStore   s3://, oss:// and the rest of fsspec (stillframe._objects)

Why keep aside rather than write the new set beside and swap it in at the end:
the files appear one by one as they are finished (a viewer can use the first
sheets of a long run), a swap of thousands of files is no more atomic than their
puts, and an object store has no rename to swap with. Commit costs an unlink (on
a store, a delete in batches of 1,000) for each file the run replaced and nothing
for the files it added; nothing is copied on a local disk. A run killed outright
(SIGKILL, a power cut, a lost host) cannot roll back: what it replaced stays
beside its new file as `.NAME.TOKEN.keep`, and the next run into those names (a
job run again after its lease ran out, say) puts it back before it starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from stillframe._files import bound, check_destination, inside, write_atomic
from stillframe._names import Names
from stillframe._objects import ObjectStore, is_object_url, keep_name, stale_keeps
from stillframe._runs import RunLock, alive
from stillframe.errors import OutputExists

__all__ = ["Ledger", "LocalFiles", "check_destinations"]


# write_atomic's temporary for NAME: .NAME.TOKEN-XXXXXXXX.part, written by the run of
# TOKEN (.NAME.XXXXXXXX.part untagged); mkstemp's letters have no dot and no dash.
_PART = re.compile(r"^\.(?P<name>.+)\.(?:(?P<token>[0-9a-f]{8})-)?[^.-]+\.part$")


@dataclass
class _File:
    target: str
    aside: str
    existed: bool | None = None  # None: not looked at yet, so nothing was done to it
    done: bool = False


class LocalFiles:
    """The local file system's part of a run. `root`: the folder every file it
    writes, keeps aside, puts back or removes must resolve inside (see
    stillframe._files.confined_to); a folder that no longer does when the run
    rolls back is left alone, as not the run's to touch."""

    def __init__(self, token: str, root: str | None = None) -> None:
        self.token = token
        self.root = root
        self.files: dict[str, _File] = {}
        self.folders: list[str] = []  # made by this run's check, outermost first

    def check(self, paths: Sequence[str]) -> None:
        """Each destination's folder can be made and written (one check a folder).
        A long run's names (Names) are checked by their folder (see Names.check)."""
        seen: set[str] = set()
        for path in paths.visited() if isinstance(paths, Names) else paths:
            folder = os.path.dirname(os.path.abspath(path))
            if folder not in seen or os.path.isdir(path):
                seen.add(folder)
                self.folders.extend(missing_folders(folder))
                check_destination(path)
        if isinstance(paths, Names):
            paths.refuse_folders()

    def recover(self, paths: Sequence[str]) -> None:
        """Before the run: put back what an earlier run into these names kept aside
        but, killed outright, never let go of, and remove its temporaries (one
        listing a folder)."""
        for folder, wanted in _folders(paths):
            if not inside(folder or ".", self.root):
                continue
            try:
                there = os.listdir(folder or ".")
            except OSError:
                continue
            stale = stale_keeps(there, self.token)
            for name in [n for n in stale if wanted(n)]:
                _put_back(os.path.join(folder, stale[name]), os.path.join(folder, name))
            for name in there:  # its temporaries too, cut off mid-write (a live run's are its own)
                part = _PART.match(name)
                if part and wanted(part["name"]) and not (part["token"] and alive(part["token"])):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(folder, name))

    def put(self, path: str, data: bytes) -> str:
        """Write `path` whole. The first time the run writes a name, a file already
        there is kept aside; the record is made before anything is done, so an
        interrupt at any point leaves rollback knowing what to undo."""
        key = os.path.abspath(path)
        entry = self.files.get(key)
        aside = None
        if entry is None:
            target = Path(key)
            entry = self.files[key] = _File(key, str(target.with_name(keep_name(target.name, self.token))))
            entry.existed = os.path.lexists(key)
            aside = entry.aside if entry.existed else None
        entry.done = False
        written = os.fspath(write_atomic(path, data, aside=aside, tag=self.token))
        entry.done = True
        return written

    def read(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def wait(self) -> None:
        pass  # every put is done when it returns

    def commit(self) -> None:
        for entry in self.files.values():
            if entry.existed:
                with contextlib.suppress(OSError):
                    os.unlink(entry.aside)

    def rollback(self) -> None:
        """Put back what the run replaced, remove what it added and the temporaries
        of writes it was cut off in (one listing a folder), then the folders it made.
        Nothing in a folder that now resolves outside the bound is touched."""
        ours: dict[str, bool] = {}  # folder -> whether it still resolves inside the bound

        def mine(folder: str) -> bool:
            if folder not in ours:
                ours[folder] = inside(folder, self.root)
            return ours[folder]

        cut: dict[str, set[str]] = {}  # folder -> names cut off mid-write
        for entry in reversed(list(self.files.values())):
            folder, name = os.path.split(entry.target)
            if not mine(folder):
                continue
            with contextlib.suppress(OSError):
                if os.path.lexists(entry.aside):
                    _put_back(entry.aside, entry.target)
                elif entry.existed is False:
                    os.unlink(entry.target)
            if not entry.done:
                cut.setdefault(folder, set()).add(name)
        for folder, names in cut.items():
            with contextlib.suppress(OSError):
                for there in os.listdir(folder):
                    part = _PART.match(there)
                    if part and part["name"] in names and part["token"] == self.token:
                        with contextlib.suppress(OSError):
                            os.unlink(os.path.join(folder, there))
        for folder in reversed(self.folders):
            if mine(os.path.dirname(folder)):
                with contextlib.suppress(OSError):  # not empty: something else is there now
                    os.rmdir(folder)

    def report(self) -> dict[str, Any]:
        return {"files": len(self.files), "replaced": sum(bool(f.existed) for f in self.files.values())}


def _folders(paths: Sequence[str]) -> list[tuple[str, Callable[[str], bool]]]:
    """(folder, whether a file name there is one of `paths`) for each folder of
    `paths`: a long run's names (Names) by their pattern, without visiting them."""
    if isinstance(paths, Names) and paths.long:
        return [(f, lambda name, f=f: paths.match(os.path.join(f, name))) for f in paths.folders()]  # type: ignore[misc]
    folders: dict[str, set[str]] = {}
    for path in paths:
        folder, name = os.path.split(os.path.abspath(path))
        folders.setdefault(folder, set()).add(name)
    return [(folder, names.__contains__) for folder, names in folders.items()]


def missing_folders(folder: str) -> list[str]:
    """`folder` and its parents that do not exist yet, outermost first."""
    out: list[str] = []
    while folder and not os.path.exists(folder):
        out.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return out[::-1]


def _put_back(aside: str, target: str) -> None:
    """The kept file, back under its name. rename() between two links of one file
    does nothing, so the link is dropped instead (interrupted before the new file
    went in, the name still holds the old one)."""
    try:
        same = os.path.samestat(os.lstat(aside), os.lstat(target))
    except FileNotFoundError:
        same = False
    if same:
        os.unlink(aside)
    else:
        os.replace(aside, target)


Store = Union[LocalFiles, ObjectStore]


class Ledger:
    """What one run means to write and has written, as one transaction (see the
    module's docstring). Local paths and object-store URLs (s3://, oss://, ...;
    `storage_options` go to fsspec) may be mixed in one run. `written` lists the
    names handed to write(), in order."""

    def __init__(self, storage_options: Mapping[str, Any] | None = None) -> None:
        self.began = time.time()
        self.root = bound()  # the bound in force when the run was planned (stillframe._files.confined_to)
        self.token = os.urandom(4).hex()  # as secrets.token_hex, without loading hmac and hashlib
        self.storage_options = dict(storage_options or {})
        self.planned: list[str] = []
        self.written: list[str] = []
        self.committed = False
        self.local = LocalFiles(self.token, self.root)
        self.stores: dict[str, ObjectStore] = {}
        self.lock = RunLock(self.token)  # held from the first write: what it keeps aside is its own

    def _store(self, path: str) -> Store:
        if not is_object_url(path):
            return self.local
        scheme = path.split("://", 1)[0]
        if scheme not in self.stores:
            self.stores[scheme] = ObjectStore(scheme, self.storage_options, self.token, root=self.root)
        return self.stores[scheme]

    def check(self, paths: Sequence[str | os.PathLike[str]], overwrite: bool = True) -> None:
        """Every destination can be written, before any work: local folders can be
        made and written, object stores' buckets exist and take a probe object.
        Raises PermissionDenied or InvalidParameter naming the path. Then what an
        earlier run into these names, killed outright, had kept aside is put back,
        so that this run starts from the files as they were before that one. Unless
        `overwrite`, an object already there raises OutputExists (local files are
        refused by stillframe._overwrite before this)."""
        names = paths if isinstance(paths, Names) else [os.fspath(p) for p in paths]
        for store, group in self._groups(names):
            store.check(group)
            store.recover(group)
            there = store.there(group) if not overwrite and isinstance(store, ObjectStore) else []
            if there:
                more = f" (and {len(there) - 1} more of the run's {len(group)} objects)" if len(there) > 1 else ""
                raise OutputExists(
                    f"{there[0]} is there already{more}: give --overwrite (overwrite=True) to replace, "
                    "or another output name"
                )
        if not isinstance(names, Names):  # names worked out when read are not held
            self.planned.extend(names)

    def _groups(self, names: Sequence[str]) -> list[tuple[Store, Sequence[str]]]:
        if isinstance(names, Names):  # one pattern: one store
            return [(self._store(names.pattern), names)] if len(names) else []
        groups: dict[int, tuple[Store, list[str]]] = {}
        for name in names:
            store = self._store(name)
            groups.setdefault(id(store), (store, []))[1].append(name)
        return list(groups.values())

    def write(self, path: str | os.PathLike[str], data: bytes) -> str:
        """Put `data` at `path` (an object store's upload may still be under way when
        this returns); returns the name written."""
        self.lock.hold()
        name = self._store(os.fspath(path)).put(os.fspath(path), data)
        self.written.append(name)
        return name

    def read(self, path: str | os.PathLike[str]) -> bytes:
        """A file this run wrote, read back."""
        return self._store(os.fspath(path)).read(os.fspath(path))

    def _all(self) -> list[Store]:
        return [self.local, *self.stores.values()]

    def commit(self) -> None:
        """The run is done: wait for the last uploads (raising the first failure,
        for the caller to roll back), then let go of what the run replaced."""
        for store in self._all():
            store.wait()
        self.committed = True
        for store in self._all():
            store.commit()
        self.lock.release()

    def rollback(self) -> None:
        """Remove what the run put and put back what it replaced (nothing, once
        committed)."""
        if self.committed:
            return
        for store in self._all():
            store.rollback()
        self.lock.release()

    def report(self) -> dict[str, Any]:
        """What was written: local files, and per object store the objects, bytes,
        retries (and seconds waited between them) and most uploads in flight."""
        out: dict[str, Any] = self.local.report()
        for scheme, store in self.stores.items():
            out[scheme] = store.report()
        return out


def check_destinations(paths: Sequence[str], storage_options: Mapping[str, Any] | None = None) -> None:
    """Ledger.check without a run, for a batch before its tasks start: local folders
    as Ledger.check does, object stores once a bucket."""
    for store, group in Ledger(storage_options)._groups(paths):
        if isinstance(store, ObjectStore):  # one probe a bucket: each run probes its own folders again
            buckets = {url.split("://", 1)[1].split("/", 1)[0]: url for url in reversed(group)}
            store.check(list(buckets.values()))
            store.commit()
        else:
            store.check(group)
