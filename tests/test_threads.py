"""What may be shared between threads (ARCHITECTURE.md, Threads): one Video serving
several threads at once, each getting its own frames and the stats adding up;
decoders opened side by side, not one at a time; the executor made once; object-
store readers given back when their containers close."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import stillframe as sf
from stillframe import testsrc
from stillframe._workers import Pool


@pytest.fixture(scope="module")
def clip(clips) -> str:
    return str(clips("threads.mp4", frames=240, size=(160, 96), gop=30, bframes=2))


REQUESTS = [[0.2, 3.1, 7.5], [1.0, 1.5, 6.2], [2.9, 4.4], [0.0, 5.55, 7.9], [3.3, 3.4, 3.5, 6.0]]


def _indices(frames) -> list[int]:
    return [testsrc.read_index(f.to_ndarray("gray")) for f in frames]


@pytest.mark.parametrize("index", ["auto", "scan"])
def test_one_video_serves_several_threads_at_once(clip, index):
    alone = []
    for times in REQUESTS:
        with sf.open(clip, index=index) as video:
            alone.append((_indices(video.frames_at(times)), video.stats.frames_decoded))
    with sf.open(clip, index=index, workers=2) as shared:
        barrier = threading.Barrier(len(REQUESTS))

        def ask(times):
            barrier.wait(timeout=30)
            return _indices(shared.frames_at(times))

        with ThreadPoolExecutor(len(REQUESTS)) as pool:
            got = list(pool.map(ask, REQUESTS))
        assert got == [a for a, _ in alone]
        assert got == [[int(t * 30 + 1e-6) for t in times] for times in REQUESTS]
        assert shared.stats.frames_decoded == sum(n for _, n in alone)


def test_the_executor_is_made_once(clip):
    with sf.open(clip, workers=2) as video:
        barrier = threading.Barrier(8)

        def make():
            barrier.wait(timeout=30)
            return video._executor()

        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(lambda _: make(), range(8)))
        assert all(m is made[0] for m in made)


def test_decoders_open_side_by_side():
    """Each make() waits for the others: opened one at a time under a lock, they
    would never meet and the barrier would break."""
    met = threading.Barrier(3)

    class Dummy:
        container = None

    def make():
        met.wait(timeout=10)
        return Dummy()

    pool = Pool(make, 3, close=lambda dec: None)  # type: ignore[arg-type, return-value]
    with ThreadPoolExecutor(3) as threads:
        got = list(threads.map(lambda _: pool.acquire(), range(3)))
    assert len({id(d) for d in got}) == 3 and len(pool.all) == 3


def test_a_failed_open_frees_its_place():
    calls = []

    def make():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("the first open fails")
        return object()

    pool = Pool(make, 1, close=lambda dec: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(OSError):
        pool.acquire()
    assert pool.acquire() is not None and len(pool.all) == 1


def test_object_store_readers_are_given_back(clip):
    pytest.importorskip("fsspec", reason="RangeSource reads through fsspec (the jobs or s3 extra)")
    source = sf.RangeSource.from_url(f"file://{clip}")
    for _ in range(5):
        with sf.open(source, workers=2) as video:
            video.frames_at([0.5, 6.5])
        assert source._files == []
    with sf.open(source) as video:
        assert len(source._files) >= 1
    assert source._files == []
