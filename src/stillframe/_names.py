"""Output names made from a pattern ({Count}, {TileCount}), worked out when read: a
run of a billion snapshots holds one pattern, and what is looked up about its
names on disk (a folder to check, files already there, what a killed run left) is
found by listing their folder once, not name by name."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import overload

from stillframe._files import check_destination
from stillframe.errors import InvalidParameter

__all__ = ["CHECK_EACH", "Names", "check_all"]

# Destinations checked one by one up to this many; a longer run checks its folder
# once and looks at what the folder holds.
CHECK_EACH = 100_000


class Names(Sequence[str]):
    """File names made from a pattern, the i-th with `token` replaced by i + 1 in 5
    digits, worked out when read."""

    def __init__(self, pattern: str, length: int, token: re.Pattern[str]) -> None:
        self.pattern, self.length, self.token = pattern, length, token

    def __len__(self) -> int:
        return self.length

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self.length))]
        if i < 0:
            i += self.length
        if not 0 <= i < self.length:
            raise IndexError("name index out of range")
        return self.token.sub(f"{i + 1:05d}", self.pattern)

    @property
    def long(self) -> bool:
        """Too many names to visit one by one (see CHECK_EACH)."""
        return self.length > CHECK_EACH

    def folder(self) -> str | None:
        """The one folder every name is in, or None when the token names folders."""
        head = os.path.dirname(self.pattern)
        return None if self.token.search(head) else head

    def visited(self) -> Sequence[str]:
        """The names a check visits one by one: all of a few; of a long run the
        first, and the last when the token names folders."""
        if not self.long:
            return self
        return [self[0]] if self.folder() is not None else [self[0], self[self.length - 1]]

    def check(self) -> None:
        """Each name's folder can be made and written, and no name is a folder: name
        by name for a few, else the shared folder once and what it holds."""
        check_all(self.visited())
        self.refuse_folders()

    def refuse_folders(self) -> None:
        """A long run in one folder: InvalidParameter when one of its names is a
        folder there (one listing of the folder)."""
        folder = self.folder()
        if not self.long or folder is None or not os.path.isdir(folder or "."):
            return
        with os.scandir(folder or ".") as entries:
            for entry in entries:
                if entry.is_dir() and self.names(entry.name):
                    raise InvalidParameter(f"{os.path.join(folder, entry.name)}: is a folder; give a file name")

    def names(self, base: str) -> bool:
        """Whether `base` is the file name of one of these names."""
        parts = self.token.split(os.path.basename(self.pattern))
        m = re.fullmatch(r"(\d{5,})".join(re.escape(p) for p in parts), base)
        return m is not None and all(f"{int(g):05d}" == g and 1 <= int(g) <= self.length for g in m.groups())

    @cached_property
    def _whole(self) -> re.Pattern[str]:
        parts = self.token.split(self.pattern)
        return re.compile(r"(\d{5,})".join(re.escape(p) for p in parts))

    def match(self, path: str) -> bool:
        """Whether `path`, spelled as the pattern is, is one of these names."""
        m = self._whole.fullmatch(path)
        if m is None:
            return False
        found = set(m.groups())
        return len(found) <= 1 and all(f"{int(g):05d}" == g and 1 <= int(g) <= self.length for g in found)

    def folders(self) -> list[str]:
        """The folders of these names that exist now: the one folder, or those the
        token names (one glob)."""
        head = os.path.dirname(self.pattern)
        if not self.token.search(head):
            return [head] if os.path.isdir(head or ".") else []
        wildcard = "*".join(glob.escape(p) for p in self.token.split(head))
        return sorted(d for d in glob.glob(wildcard) if os.path.isdir(d))

    def there(self) -> list[str]:
        """The names that exist now, in order, found by listing their folders."""
        found = []
        for folder in self.folders():
            try:
                entries = os.listdir(folder or ".")
            except OSError:
                continue
            found += [p for p in (os.path.join(folder, e) for e in entries) if self.match(p)]
        return sorted(found, key=lambda p: [int(g) for g in self._whole.fullmatch(p).groups()])  # type: ignore[union-attr]


def check_all(paths: Iterable[str]) -> None:
    """Each destination's folder can be made and written (one check a folder), and
    no destination is a folder."""
    seen: set[str] = set()
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in seen or os.path.isdir(path):
            seen.add(folder)
            check_destination(path)
