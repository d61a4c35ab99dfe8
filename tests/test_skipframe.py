"""What each decoder does with skip_frame: the table is checked against a fresh
measurement, and a decode that follows it gives every frame asked for, on AV1
from both encoders (SVT-AV1 in MP4 with the moov at the end, libaom in WebM with
alt-refs) beside H.264, HEVC and VP9."""

from __future__ import annotations

import av
import numpy as np
import pytest

from stillframe._skipframe import TABLE, SkipBehaviour, count, measure, skip_behaviour

from .codec_media import FRAMES, GOP
from .streams_media import top_level_boxes

CLIPS = [
    ("h264.mp4", "h264"),
    ("hevc.mp4", "hevc"),
    ("vp9.webm", "vp9"),
    ("vp9.webm", "libvpx-vp9"),
    ("svt.mp4", "libdav1d"),
    ("aom.webm", "libdav1d"),
]


def demux(path) -> tuple[list[av.Packet], bytes | None]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [p for p in c.demux(s) if p.size], s.codec_context.extradata


@pytest.mark.parametrize("decoder", sorted(TABLE))
def test_table_matches_a_measurement(decoder):
    if decoder not in av.codecs_available:
        pytest.skip(f"this PyAV has no {decoder} decoder")
    assert measure(decoder) == SkipBehaviour(decoder, TABLE[decoder].nonref, TABLE[decoder].nonkey, "measured")


def test_unknown_decoders_are_measured_or_never_relied_on():
    assert skip_behaviour("h264").source == "table"
    measured = skip_behaviour("libvpx")  # VP8 through libvpx: in the table too, and measured the same
    assert (measured.nonref, measured.nonkey) == ("ignored", "ignored")
    # A decoder with no encoder at hand to measure it: assumed to skip nothing.
    unknown = skip_behaviour("png")
    assert unknown.source == "unknown" and not unknown.per_packet and unknown.open_with(True) == "DEFAULT"


def test_the_av1_clips_are_what_users_have(codec_clips):
    assert [t for t, *_ in top_level_boxes(codec_clips("svt.mp4"))].index(b"moov") > 1  # after the mdat
    with av.open(str(codec_clips("aom.webm"))) as c:
        assert c.streams.video[0].codec_context.name in ("libdav1d", "av1", "libaom-av1")
        assert c.streams.video[0].codec_context.codec.canonical_name == "av1"


@pytest.mark.parametrize("clip", ["svt.mp4", "aom.webm"])
def test_libdav1d_latches_skip_frame_when_it_opens(codec_clips, clip):
    packets, extradata = demux(codec_clips(clip))
    keys = sum(p.is_keyframe for p in packets)

    def frames(first: str, later: str) -> int:
        return count("libdav1d", packets, extradata, first, later)

    assert frames("DEFAULT", "DEFAULT") == FRAMES
    assert frames("NONKEY", "NONKEY") == keys == FRAMES // GOP
    assert frames("NONKEY", "DEFAULT") == keys  # DEFAULT later brings nothing back
    assert frames("DEFAULT", "NONKEY") == FRAMES  # NONKEY later skips nothing
    assert frames("DEFAULT", "NONREF") == FRAMES
    nonref = frames("NONREF", "DEFAULT")
    if clip == "svt.mp4":  # SVT-AV1's hierarchical mini-GOPs leave about half the frames unreferenced
        assert keys < nonref < FRAMES
    assert frames("NONREF", "NONREF") == nonref <= FRAMES


def decode(path, decoder: str, targets: set[int], behaviour: SkipBehaviour | None) -> dict[int, np.ndarray]:
    """Frames at `targets` (pts) from a fresh decoder; with `behaviour`, skip_frame
    set as it says, else the naive rule (NONREF for every non-target packet)."""
    packets, extradata = demux(path)
    cc = av.codec.CodecContext.create(decoder, "r")
    if extradata:
        cc.extradata = extradata
    if behaviour is not None:
        cc.skip_frame = behaviour.open_with(keyframes_only=False)
    out = {}
    for packet in [*packets, None]:
        if packet is not None and (behaviour is None or behaviour.per_packet):
            cc.skip_frame = "DEFAULT" if packet.pts in targets else "NONREF"
        for frame in cc.decode(packet):
            if frame.pts in targets:
                out[frame.pts] = frame.to_ndarray(format="gray")
    return out


@pytest.mark.parametrize("clip,decoder", CLIPS)
def test_a_decode_that_follows_the_table_gives_every_frame_asked(codec_clips, clip, decoder):
    path = codec_clips(clip)
    packets, _ = demux(path)
    pts = sorted(p.pts for p in packets)
    targets = set(pts[1::7])  # mostly non-keyframes, many of them unreferenced
    full = decode(path, decoder, set(pts), SkipBehaviour(decoder, "ignored", "ignored"))
    got = decode(path, decoder, targets, skip_behaviour(decoder))
    assert sorted(got) == sorted(targets)
    for t in targets:
        assert np.array_equal(got[t], full[t]), t
    if decoder == "libdav1d" and clip == "svt.mp4":
        # What the table prevents: NONREF set before the first packet drops targets for good.
        assert len(decode(path, decoder, targets, None)) < len(targets)


def test_a_latched_decoder_is_not_reused_for_frames_it_drops():
    dav1d, h264 = skip_behaviour("libdav1d"), skip_behaviour("h264")
    assert dav1d.open_with(keyframes_only=True) == "NONKEY" and dav1d.open_with(keyframes_only=False) == "DEFAULT"
    assert not dav1d.reusable("NONKEY", keyframes_only=False) and dav1d.reusable("NONKEY", keyframes_only=True)
    assert not dav1d.reusable("NONREF", keyframes_only=False) and dav1d.reusable("DEFAULT", keyframes_only=False)
    assert h264.per_packet and h264.reusable("NONKEY", keyframes_only=False) and h264.open_with(True) == "DEFAULT"
