"""A schedule is never held beyond what is being worked on: times, names and plans
are made as the run reaches them, so a run asked for a billion snapshots holds what
it has written, not what it was asked; and what cannot be taken is still counted."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

import stillframe as sf
from stillframe import _frames
from stillframe.distributed import _split
from stillframe.sampling import Times

MB = 1 << 20


@pytest.fixture(scope="module")
def clip(clips) -> str:
    return str(clips("lazy.mp4", frames=90, size=(64, 48), gop=30, bframes=2))


class Enough(Exception):
    """Raised by the progress callback once the first files are in."""


def _interrupted_run(clip: str, sampling, out, after: int) -> tuple[int, int, int]:
    """Run until `after` snapshots are written, then stop it; (files seen then,
    peak traced bytes, bytes still traced after the run)."""
    seen = []

    def progress(done: int, total: int) -> None:
        if done >= after:
            seen.append(len(list(out.parent.glob("*.jpg"))))
            raise Enough

    gc.collect()
    tracemalloc.start()
    try:
        with pytest.raises(Enough):
            sf.snapshot(clip, sampling, out, width=32, quality=50, progress=progress)
        _, peak = tracemalloc.get_traced_memory()
        gc.collect()
        left, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return seen[0], peak, left


@pytest.mark.parametrize(
    "sampling",
    [sf.Interval(0, count=10**9), sf.Interval(1e-7), sf.Quantity(10**9)],
    ids=["interval-0-count-1e9", "interval-1e-7", "quantity-1e9"],
)
def test_a_billion_snapshots_hold_no_more_than_the_first_few(clip, tmp_path, sampling):
    """Every time, name and plan of a billion would be tens of GB; the run writes its
    first files holding a few MB, and an interrupted run leaves nothing."""
    out = tmp_path / "out" / "{Count}.jpg"
    files, peak, _ = _interrupted_run(clip, sampling, out, after=200)
    assert files >= 200  # the first files were written before anything stopped it
    assert peak < 40 * MB, f"{peak / MB:.1f} MB traced at the peak"
    assert list((tmp_path / "out").glob("*")) == []  # the interrupted run removed what it wrote


def test_memory_grows_with_what_is_written_not_with_what_is_asked(clip, tmp_path):
    """Twice the snapshots written cost about twice the records; a thousand times
    more asked for costs nothing more."""
    _, few, _ = _interrupted_run(clip, sf.Interval(0, count=10**6), tmp_path / "a" / "{Count}.jpg", after=300)
    _, many, _ = _interrupted_run(clip, sf.Interval(0, count=10**9), tmp_path / "b" / "{Count}.jpg", after=300)
    assert many < few * 1.5 + 2 * MB, (few / MB, many / MB)


def test_a_run_stopped_by_its_timeout_has_held_little(clip, tmp_path):
    gc.collect()
    tracemalloc.start()
    try:
        with pytest.raises(sf.SnapshotTimeOut):
            sf.snapshot(clip, sf.Interval(1e-7), tmp_path / "t" / "{Count}.jpg", width=32, timeout=1.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * MB, f"{peak / MB:.1f} MB traced at the peak"
    assert list((tmp_path / "t").glob("*")) == []


def test_fewer_snapshots_than_asked_are_counted_without_making_them(clip, tmp_path):
    result = sf.snapshot(clip, sf.Interval(1.0, count=10**12), tmp_path / "{Count}.jpg", width=32)
    assert result.count == 3 and result.requested == 10**12
    assert result.dropped == 10**12 - 3 and "past the end" in result.reason
    assert [s.time for s in result.frames] == [0.0, 1.0, 2.0]


def test_lazy_times_are_exactly_the_listed_ones():
    times = sf.Interval(0, start=0.1, count=10**12).resolve(1234.5).times
    assert isinstance(times, Times) and len(times) == 10**12
    whole = [0.1 + i * ((1234.5 - 0.1) / 10**12) for i in range(5)]
    assert list(times[:5]) == whole and times[:5] == whole
    assert times[10**12 - 1] == 0.1 + (10**12 - 1) * ((1234.5 - 0.1) / 10**12)
    cut = times[3:7]  # a window keeps the whole's values exactly
    assert list(cut) == [times[i] for i in range(3, 7)]
    assert sf.Interval(10).resolve(35).times == [0, 10, 20, 30] != [0, 10, 20]


def test_windows_give_the_frames_of_one_plan(clip, tmp_path, monkeypatch):
    """Small windows (each planned alone, GOPs cut at their edges) give the frames and
    files one window gives, in snapshot() and in snapshot_split."""
    sampling = sf.Interval(0.07)
    sprite = sf.Sprite(columns=5, lines=4)
    ref = sf.snapshot(
        clip, sampling, tmp_path / "one/{Count}.jpg", width=32, sprite=sprite, webvtt=tmp_path / "one/t.vtt"
    )
    monkeypatch.setattr(_frames, "WINDOW", 7)
    monkeypatch.setattr(_split, "WINDOW", 11)
    got = sf.snapshot(
        clip, sampling, tmp_path / "two/{Count}.jpg", width=32, sprite=sprite, webvtt=tmp_path / "two/t.vtt"
    )
    split = _split.snapshot_split(
        clip,
        sampling,
        tmp_path / "three/{Count}.jpg",
        width=32,
        sprite=sprite,
        webvtt=tmp_path / "three/t.vtt",
        processes=2,
        parts=3,
    )
    with sf.open(clip) as video:
        listed = video.frames_at(list(sampling.resolve(video.info.duration).times))
    want = [(s.time, s.pts) for s in ref.frames]
    assert len(want) == 43
    assert [(s.time, s.pts) for s in got.frames] == want == [(s.time, s.pts) for s in split.frames]
    assert [(f.time, f.pts) for f in listed] == want
    for a, b, c in zip(ref.files + ref.sprites, got.files + got.sprites, split.files + split.sprites):
        assert open(a, "rb").read() == open(b, "rb").read() == open(c, "rb").read()
    assert ref.dropped == got.dropped == split.dropped == 0


def test_a_long_runs_names_are_checked_by_their_folder(tmp_path):
    """A million names are not visited one by one: their folder is checked once and
    what it holds is looked at, so a name that is a folder already is still refused."""
    from stillframe.outputs import Ledger, names_for

    names = names_for(tmp_path / "out" / "{Count}.jpg", 10**6)
    assert len(names) == 10**6 and names[41] == str(tmp_path / "out" / "00042.jpg")
    Ledger().check(names)  # the folder is made and writable
    (tmp_path / "out" / "00042.jpg").mkdir()
    (tmp_path / "out" / "2000000.jpg").mkdir()  # not one of the names
    with pytest.raises(sf.InvalidParameter, match="00042.jpg: is a folder"):
        Ledger().check(names)
    (tmp_path / "out" / "00042.jpg").rmdir()
    Ledger().check(names)
