"""Files a run would replace, and an earlier run's files it would leave beside its
own: `ffmpeg -n` / `-y` for snapshots.

Without `overwrite`, a run whose destinations already exist stops before the
first frame is decoded, naming the first of them (OutputExists). With it, the
files are replaced, and the files that the output names' patterns ({Count},
{TileCount}) match but this run did not write (an earlier run's 00004.jpg when
this one writes three) are reported, or with `clean` removed once the run has
finished. Jobs always replace, as the services do.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from stillframe._names import Names
from stillframe._objects import is_object_url
from stillframe.errors import OutputExists
from stillframe.outputs import output_pattern, sprite_pattern

if TYPE_CHECKING:
    from stillframe.records import SnapshotResult

__all__ = ["earlier_files", "refuse_existing", "remove", "settle"]

# A 1-based index in 5 digits, or more past 99,999.
_INDEX = r"\d{5,}"


def refuse_existing(paths: Sequence[str], overwrite: bool) -> None:
    """OutputExists naming the first of `paths` that exists, unless `overwrite`.
    Each folder is listed once, however many files go there."""
    if overwrite:
        return
    if isinstance(paths, Names):  # names worked out when read: their folder listed, not each name
        there = [] if is_object_url(paths.pattern) else [p for p in paths.there() if not os.path.isdir(p)]
    else:
        there = _listed(paths)
    if there:
        more = f" (and {len(there) - 1} more of the run's {len(paths)} files)" if len(there) > 1 else ""
        raise OutputExists(
            f"{there[0]} is there already{more}: give --overwrite (overwrite=True) to replace, or another output name"
        )


def _listed(paths: Sequence[str]) -> list[str]:
    """Those of `paths` that exist, each folder listed once."""
    listed: dict[str, set[str] | None] = {}
    there = []
    for path in paths:
        if is_object_url(path):  # the ledger lists those folders anyway, and refuses there
            continue
        folder, name = os.path.split(os.path.abspath(path))
        if folder not in listed:
            try:
                listed[folder] = set(os.listdir(folder))
            except OSError:  # no folder yet (or none readable: the destination check says so)
                listed[folder] = None
        names = listed[folder]
        if names is not None and name in names and not os.path.isdir(path):  # a folder: the destination check
            there.append(path)
    return there


def _matches(pattern: str, placeholders: Iterable[str]) -> list[str]:
    """Files that `pattern` names for some index, in name order."""
    keys = [p for p in placeholders if "{" + p + "}" in pattern]
    if not keys:
        return []
    parts = re.split("(" + "|".join(re.escape("{" + k + "}") for k in keys) + ")", pattern)
    wildcard = "".join("*" if i % 2 else glob.escape(part) for i, part in enumerate(parts))
    exact = re.compile("".join(_INDEX if i % 2 else re.escape(part) for i, part in enumerate(parts)))
    return sorted(p for p in glob.glob(wildcard) if exact.fullmatch(p) and os.path.isfile(p))


def earlier_files(patterns: Sequence[tuple[str, str]], written: Iterable[str]) -> list[str]:
    """Files matching the (pattern, placeholder) pairs that are not among `written`."""
    mine = {os.path.abspath(p) for p in written}
    out: list[str] = []
    for pattern, placeholder in patterns:
        out.extend(p for p in _matches(pattern, [placeholder]) if os.path.abspath(p) not in mine and p not in out)
    return out


def remove(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """Remove `paths`; (removed, left) where `left` could not be removed."""
    removed, left = [], []
    for path in paths:
        try:
            os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            pass  # gone already
        except OSError:
            left.append(path)
    return removed, left


def settle(
    result: SnapshotResult,
    output: str | os.PathLike[str],
    sprite_output: str | os.PathLike[str] | None,
    sheets: bool,
    written: Iterable[str],
    clean: bool,
) -> None:
    """Once a run has finished: the earlier files beside its own (of the snapshots'
    pattern, and of the sheets' when it wrote `sheets`) in `result.stale`, or with
    `clean` removed (`result.removed`; any that could not be stay in `result.stale`)."""
    singles = output_pattern(output)
    patterns = [(singles, "Count")]
    if sheets:
        patterns.append((sprite_pattern(singles.replace("{Count}", "00001"), sprite_output), "TileCount"))
    stale = earlier_files(patterns, written)
    if clean:
        result.removed, result.stale = remove(stale)
    else:
        result.stale = stale
