"""The container's own sample table: MP4/MOV list every sample of a track (decode
timestamp, byte position, size, keyframe flag) in their header, and FFmpeg keeps
it as the stream's index entries. Reading it costs no packet read, so a video can
be opened, and a frame found, without demuxing the whole file.

Presentation times are not in the table (FFmpeg applies the composition offsets
as it reads packets), so exact frame times still come from the packets of the
regions that are read; the table says where each keyframe is.
"""

from __future__ import annotations

import av

# FFmpeg's name for the ISO base media family (MP4, MOV, 3GP, ...).
_MOV = "mov"


class SampleTable:
    """Decode-order entries of one stream, looked up in FFmpeg's own index."""

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        self._entries = stream.index_entries
        self.count = len(self._entries)

    @classmethod
    def of(cls, container: av.container.InputContainer, stream) -> tuple[SampleTable | None, str]:
        """The table, or None and why it cannot be used (then the stream is scanned)."""
        fmt = container.format.name
        if _MOV not in fmt.split(","):
            return None, f"{fmt} carries no sample table"
        table = cls(stream)
        if table.count == 0 or not stream.frames:
            return None, "the sample table is empty (a fragmented MP4 indexes each fragment as it is read)"
        if table.count != stream.frames:
            return None, f"the sample table lists {table.count} samples, the header {stream.frames}"
        if table.key_at_or_before(table.dts(table.count - 1)) < 0:
            return None, "the sample table marks no keyframe"
        size = container.size
        last = table._entries[table.count - 1]
        if size and size > 0 and last.pos + last.size > size:
            return None, "the sample table points past the end of the data (the file is cut off)"
        return table, ""

    def dts(self, i: int) -> int:
        return int(self._entries[i].timestamp)

    def pos(self, i: int) -> int:
        return int(self._entries[i].pos)

    def is_key(self, i: int) -> bool:
        return bool(self._entries[i].is_keyframe)

    def hidden_at_start(self) -> int:
        """Entries before an edit list's start (decoded for later frames, never
        shown). They sit at the start in decode order, B-frames of the first GOPs
        among them: counted up to the first keyframe after a shown entry, plus a
        reorder window."""
        hidden, seen_shown, end = 0, False, self.count
        i = 0
        while i < min(end, self.count):
            e = self._entries[i]
            if e.is_discard:
                hidden += 1
            elif e.is_keyframe and seen_shown and end == self.count:
                end = i + 32
            seen_shown = seen_shown or not e.is_discard
            i += 1
        return hidden

    def key_at_or_before(self, dts: int) -> int:
        """The last keyframe entry whose dts is <= `dts`; the first keyframe when
        none is; -1 when the table has no keyframe."""
        i = self._entries.search_timestamp(dts, backward=True)
        if i < 0:
            i = self._entries.search_timestamp(dts, backward=False)
        return int(i)

    def entry_at_or_before(self, dts: int) -> int:
        """The last entry (keyframe or not) whose dts is <= `dts`; 0 when none is."""
        return max(0, int(self._entries.search_timestamp(dts, backward=True, any_frame=True)))

    def next_key(self, i: int) -> int | None:
        """The first keyframe entry after entry `i`, or None."""
        if i + 1 >= self.count:
            return None
        j = int(self._entries.search_timestamp(self.dts(i + 1), backward=False))
        return j if j > i else None

    def previous_key(self, i: int) -> int | None:
        """The last keyframe entry before entry `i`, or None."""
        if i <= 0:
            return None
        j = int(self._entries.search_timestamp(self.dts(i - 1), backward=True))
        return j if 0 <= j < i else None

    def keys(self) -> list[int]:
        """Every keyframe entry. FFmpeg walks the table; Python sees one call a keyframe."""
        out = []
        k: int | None = self.key_at_or_before(self.dts(0))
        while k is not None and k >= 0:
            out.append(k)
            k = self.next_key(k)
        return out
