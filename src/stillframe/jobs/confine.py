"""A job's local input, checked when it is opened: the path resolved (symlinks
followed) must lie inside the job's root (its bucket), and so must every file the
input makes FFmpeg open in turn. HLS playlists and concat lists are read here and
each file they name is checked (local playlists may name only local files in the
bucket); DASH manifests and SDP descriptions, which FFmpeg would follow to any URL or
socket, are refused. The engine is then given the resolved path, not the name the
job was submitted with, so a name swapped for a symlink later is not followed."""

from __future__ import annotations

import os
import re

from stillframe.errors import InvalidParameter, ObjectOutsideBucket, ResourceNotFound

__all__ = ["inside", "local_input"]

SNIFF = 4096  # bytes read to tell a playlist from a media file
PLAYLIST_MAX = 16 << 20  # bytes: a playlist or list larger than this is refused
DEPTH_MAX = 4  # playlists naming playlists, at most this deep
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_URI_ATTR = re.compile(r'URI="([^"]*)"')


def inside(real: str, root: str) -> bool:
    """Whether the resolved path `real` is `root` or lies under it."""
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _resolve(path: str, root: str, name: str) -> str:
    real = os.path.realpath(path)
    if not inside(real, root):
        raise ObjectOutsideBucket(f"{name} resolves outside its bucket")
    return real


def _head(path: str, size: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except FileNotFoundError:
        raise ResourceNotFound(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidParameter(f"{path}: is a folder, not a media file") from None
    except OSError:  # unreadable: the engine says why, in its own words
        return b""


def _kind(head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"#EXTM3U"):
        return "hls"
    if text.startswith(b"ffconcat version"):
        return "concat"
    if b"<MPD" in head:
        return "dash"
    if text.startswith(b"v=0"):
        return "sdp"
    return None


def _hls_refs(text: str) -> list[str]:
    refs = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            refs += _URI_ATTR.findall(line)
        elif line:
            refs.append(line)
    return refs


def _concat_refs(text: str) -> list[str]:
    refs = []
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) == 2 and words[0] == "file":
            ref = words[1].strip()
            if len(ref) >= 2 and ref[0] == ref[-1] == "'":
                ref = ref[1:-1].replace("'\\''", "'")
            refs.append(ref.replace("\\", ""))
    return refs


def _check_refs(real: str, kind: str, root: str, name: str, depth: int) -> None:
    if os.path.getsize(real) > PLAYLIST_MAX:
        raise InvalidParameter(f"{name}: a playlist over {PLAYLIST_MAX >> 20} MiB is not read")
    text = _head(real, PLAYLIST_MAX).decode("utf-8", "replace")
    refs = _hls_refs(text) if kind == "hls" else _concat_refs(text)
    folder = os.path.dirname(real)
    for ref in refs:
        if _SCHEME.match(ref) or ref.startswith("\\\\"):
            raise ObjectOutsideBucket(
                f"{name} names {ref!r}: a playlist in a bucket may name only files in that bucket"
            )
        target = _resolve(os.path.join(folder, ref.split("?", 1)[0]), root, f"{name}: {ref!r}")
        nested = _kind(_head(target, SNIFF)) if os.path.isfile(target) else None
        if nested in ("hls", "concat"):
            if depth >= DEPTH_MAX:
                raise InvalidParameter(f"{name}: playlists nest deeper than {DEPTH_MAX}")
            _check_refs(target, nested, root, f"{name}: {ref!r}", depth + 1)
        elif nested is not None:
            raise InvalidParameter(f"{name}: {ref!r} is a {nested.upper()} description, which is not read here")


def local_input(path: str, root: str | None, name: str | None = None) -> str:
    """The path the engine should open for a job's local input `path`. With a `root`:
    resolved now and inside it, as is every file a playlist or concat list names
    (ObjectOutsideBucket, InvalidObject.Forbidden, otherwise). `name` is how errors name the
    input (the caller's object name rather than a server path)."""
    if root is None:
        return path
    name = name or os.path.basename(path)
    real = _resolve(path, os.path.realpath(root), name)
    if not os.path.isfile(real):
        return real  # missing or not a file: the engine says so
    kind = _kind(_head(real, SNIFF))
    if kind in ("hls", "concat"):
        _check_refs(real, kind, os.path.realpath(root), name, 1)
    elif kind is not None:
        raise InvalidParameter(f"{name} is a {kind.upper()} description, which FFmpeg would follow anywhere: not read")
    return real
