"""The container's own index of a stream, as FFmpeg keeps it (the stream's index
entries), read without demuxing the stream:

- MP4/MOV sample tables list every sample: decode timestamp, byte position, size
  and keyframe flag, in decode order.
- Matroska/WebM cues list keyframes (their presentation times and the clusters
  that hold them); FFmpeg loads them on the first seek.

Presentation times of the frames in between are not in either (MP4 keeps its
composition offsets to itself), so exact frame times still come from the packets
of the regions that are read; the index says where to start reading.
"""

from __future__ import annotations

import bisect

import av

from stillframe._source import av_words

# FFmpeg's names for the ISO base media family and for Matroska/WebM.
_MOV = "mov"
_MATROSKA = "matroska"


class ContainerIndex:
    """What the region reader needs of an index: keyframe lookups by timestamp and
    where entries lie in the file."""

    # True when timestamps are presentation times (cues), False for decode times.
    by_pts: bool = False
    # Entries in the index when it lists every sample (MP4), else None.
    count: int | None = None

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        self._entries = stream.index_entries
        self.size = len(self._entries)

    @staticmethod
    def of(container: av.container.InputContainer, stream) -> tuple[ContainerIndex | None, str]:
        """The container's index, or None and why it cannot be used (the stream is
        then scanned)."""
        names = container.format.name.split(",")
        if _MOV in names:
            return SampleTable.check(container, stream)
        if _MATROSKA in names:
            return CueTable.check(container, stream)
        return None, f"{container.format.name} carries no index of its own"

    def ts(self, i: int) -> int:
        return int(self._entries[i].timestamp)

    def pos(self, i: int) -> int:
        return int(self._entries[i].pos)

    def key_at_or_before(self, ts: int) -> int:
        """The last keyframe entry whose timestamp is <= `ts`; the first keyframe
        when none is; -1 when the index has no keyframe."""
        i = self._entries.search_timestamp(ts, backward=True)
        if i < 0:
            i = self._entries.search_timestamp(ts, backward=False)
        return int(i)

    def next_key(self, i: int) -> int | None:
        """The first keyframe entry after entry `i`, or None."""
        if i + 1 >= self.size:
            return None
        j = int(self._entries.search_timestamp(self.ts(i + 1), backward=False))
        return j if j > i else None

    def previous_key(self, i: int) -> int | None:
        """The last keyframe entry before entry `i`, or None."""
        if i <= 0:
            return None
        j = int(self._entries.search_timestamp(self.ts(i - 1), backward=True))
        return j if 0 <= j < i else None

    def keys(self) -> list[int]:
        """Every keyframe entry. FFmpeg walks the index; Python sees one call a keyframe."""
        out = []
        k: int | None = self.key_at_or_before(self.ts(0))
        while k is not None and k >= 0:
            out.append(k)
            k = self.next_key(k)
        return out

    def bytes_to(self, key: int, ts: int) -> int:
        """About how many bytes lie from keyframe entry `key` to timestamp `ts`."""
        raise NotImplementedError


class SampleTable(ContainerIndex):
    """MP4/MOV: one entry a sample, decode order, decode timestamps."""

    @classmethod
    def check(cls, container, stream) -> tuple[SampleTable | None, str]:
        table = cls(stream)
        if table.size == 0 or not stream.frames:
            return None, "the sample table is empty (a fragmented MP4 indexes each fragment as it is read)"
        if table.size != stream.frames:
            return None, f"the sample table lists {table.size} samples, the header {stream.frames}"
        table.count = table.size
        if table.key_at_or_before(table.ts(table.size - 1)) < 0:
            return None, "the sample table marks no keyframe"
        size = container.size
        last = table._entries[table.size - 1]
        if size and size > 0 and last.pos + last.size > size:
            return None, "the sample table points past the end of the data (the file is cut off)"
        if size and size > 0 and last.pos + last.size < size // 2 and size - last.pos - last.size > 1 << 20:
            # A moov holding the first fragment's samples, the rest in fragments FFmpeg has not read.
            return None, "the sample table covers only the start of the data (the rest is in fragments)"
        return table, ""

    def entry_at_or_before(self, ts: int) -> int:
        """The last entry (keyframe or not) whose dts is <= `ts`; 0 when none is."""
        return max(0, int(self._entries.search_timestamp(ts, backward=True, any_frame=True)))

    def bytes_to(self, key: int, ts: int) -> int:
        return max(0, self.pos(self.entry_at_or_before(ts)) - self.pos(key)) + 1

    def hidden_at_start(self) -> int:
        """Entries before an edit list's start (decoded for later frames, never
        shown). They sit at the start in decode order, B-frames of the first GOPs
        among them: counted up to the first keyframe after a shown entry, plus a
        reorder window."""
        hidden, seen_shown, end = 0, False, self.size
        i = 0
        while i < min(end, self.size):
            e = self._entries[i]
            if e.is_discard:
                hidden += 1
            elif e.is_keyframe and seen_shown and end == self.size:
                end = i + 32
            seen_shown = seen_shown or not e.is_discard
            i += 1
        return hidden


class CueTable(ContainerIndex):
    """Matroska/WebM cues: keyframes only, presentation timestamps, cluster
    positions. Copied when the video opens: FFmpeg adds entries as it reads."""

    by_pts = True

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        entries = list(stream.index_entries)
        self._ts = [int(e.timestamp) for e in entries]
        self._pos = [int(e.pos) for e in entries]
        self._key = all(e.is_keyframe for e in entries)
        self.size = len(entries)

    @classmethod
    def check(cls, container, stream) -> tuple[CueTable | None, str]:
        # FFmpeg reads the cues on the first seek.
        try:
            container.seek(stream.start_time or 0, stream=stream, backward=True)
        except av.error.FFmpegError as exc:
            return None, f"the cues cannot be read ({av_words(exc)})"
        table = cls(stream)
        if table.size < 2:
            return None, "the file has no cues to seek by"
        if not table._key or any(b <= a for a, b in zip(table._ts, table._ts[1:])):
            return None, "the cues are not keyframes in time order"
        return table, ""

    def ts(self, i: int) -> int:
        return self._ts[i]

    def pos(self, i: int) -> int:
        return self._pos[i]

    def key_at_or_before(self, ts: int) -> int:
        return max(0, bisect.bisect_right(self._ts, ts) - 1)

    def next_key(self, i: int) -> int | None:
        return i + 1 if i + 1 < self.size else None

    def previous_key(self, i: int) -> int | None:
        return i - 1 if i > 0 else None

    def keys(self) -> list[int]:
        return list(range(self.size))

    def bytes_to(self, key: int, ts: int) -> int:
        # Cues say where clusters start, not where frames end: up to the next cue.
        nxt = self.next_key(self.key_at_or_before(ts))
        end = self.pos(nxt) if nxt is not None else self.pos(key) + 1
        return max(1, end - self.pos(key))
