"""The Ray Data stage on a local Ray instance of 2 CPUs: frames equal to
Video.frames_at at the same times, JPEGs equal to the native encoder's, rows cut
at keyframes, and a pool of actors as large as the cluster finishing."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import stillframe as sf

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
pytest.importorskip("ray.data")

from stillframe.distributed.ray import (  # noqa: E402
    ACTOR_CPUS,
    FrameExtractor,
    extract_frames,
    keyframe_rows,
    split_at_keyframes,
)

# Ray warns about its own deprecated settings when it copies its context to workers.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def videos(clips) -> list[str]:
    return [
        os.fspath(clips("ray-a.mp4", frames=120, size=(320, 180), gop=20, bframes=2)),
        os.fspath(clips("ray-b.mkv", frames=90, size=(240, 160), gop=30)),
    ]


TIMES = [0.0, 2.5, 0.9, 1.7, 2.9, 0.9]


def test_keyframe_rows_start_on_their_own_keyframes(videos):
    rows = keyframe_rows({"video": videos[0], "times": TIMES, "id": 7})
    assert sorted(t for r in rows for t in r["times"]) == sorted(TIMES)
    assert all(r["id"] == 7 for r in rows)
    with sf.open(videos[0]) as video:
        keys = video.info.keyframe_times
    firsts = [max(k for k in keys if k <= min(r["times"]) + 1e-6) for r in rows]
    lasts = [max(k for k in keys if k <= max(r["times"]) + 1e-6) for r in rows]
    assert firsts == lasts and firsts == sorted(set(firsts))  # one keyframe group a row, in time order
    joined = keyframe_rows({"video": videos[0], "times": TIMES}, max_times=3)
    assert len(joined) < len(rows) and all(len(r["times"]) <= 3 for r in joined)


def test_frames_equal_video_frames_at(local_ray, videos):
    ds = ray.data.from_items([{"video": v, "times": TIMES, "id": i} for i, v in enumerate(videos)])
    ds = split_at_keyframes(ds, max_times=4)
    rows = ds.map_batches(
        FrameExtractor,
        fn_constructor_kwargs={"width": 160, "max_open": 1},
        compute=ray.data.ActorPoolStrategy(size=1),
        num_cpus=1,
        batch_size=3,
    ).take_all()
    assert len(rows) == len(videos) * len(TIMES)
    for i, video_path in enumerate(videos):
        mine = sorted((r for r in rows if r["video"] == video_path), key=lambda r: (r["requested_time"], r["pts"]))
        assert all(r["id"] == i for r in mine)
        with sf.open(video_path) as video:
            expected = video.frames_at(sorted(TIMES), width=160)
        for row, frame in zip(mine, expected):
            assert (row["requested_time"], row["time"], row["pts"]) == (frame.requested_time, frame.time, frame.pts)
            assert bool(row["is_keyframe"]) == frame.is_keyframe and row["rule"] == frame.rule
            assert np.array_equal(row["frame"], frame.to_ndarray("rgb24"))


def test_jpeg_rows_and_skipped_errors(local_ray, videos, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 500)
    ds = ray.data.from_items([{"video": videos[1], "times": [0.5, 2.0]}, {"video": os.fspath(bad), "times": [1.0]}])
    rows = ds.map_batches(
        FrameExtractor,
        fn_constructor_kwargs={"output": "jpeg", "quality": 90, "on_error": "skip"},
        compute=ray.data.ActorPoolStrategy(size=1),
        num_cpus=1,
        batch_size=2,
    ).take_all()
    assert [r["video"] for r in rows] == [videos[1]] * 2
    with sf.open(videos[1]) as video:
        assert [r["jpeg"] for r in rows] == [f.to_jpeg(90) for f in video.frames_at([0.5, 2.0])]


def test_bad_options_fail_early():
    with pytest.raises(sf.InvalidParameter):
        FrameExtractor(output="png")
    with pytest.raises(sf.InvalidParameter):
        FrameExtractor(widht=3)


def _within(seconds: float, run):
    """run() on a thread; the test fails, rather than hangs, past `seconds`."""
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = run()
        except BaseException as exc:  # handed to the test's thread
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"the stage did not finish within {seconds} s: it hangs")
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.mark.parametrize("how", ["extract_frames", "by-hand"])
def test_a_pool_of_actors_as_large_as_the_cluster_finishes(local_ray, videos, how):
    assert ray.cluster_resources()["CPU"] == 2
    ds = ray.data.from_items([{"video": v, "times": TIMES} for v in videos * 2])
    if how == "extract_frames":
        frames = extract_frames(ds, actors=2, width=64, output="jpeg")
    else:  # a fixed pool of 2 on 2 CPUs: the split once waited forever behind it
        frames = split_at_keyframes(ds, max_times=32).map_batches(
            FrameExtractor,
            fn_constructor_kwargs={"width": 64, "output": "jpeg"},
            num_cpus=ACTOR_CPUS,
            compute=ray.data.ActorPoolStrategy(size=2),
            batch_size=8,
        )
    rows = _within(120, frames.take_all)
    assert len(rows) == 4 * len(TIMES)
    with sf.open(videos[0]) as video:
        expected = sorted(f.to_jpeg(85) for f in video.frames_at(TIMES, width=64))
    assert sorted(r["jpeg"] for r in rows if r["video"] == videos[0]) == sorted(expected * 2)


def test_extract_frames_checks_its_options_before_anything_runs():
    with pytest.raises(sf.InvalidParameter, match="not a frame or video option"):
        extract_frames(None, widht=64)
    with pytest.raises(sf.InvalidParameter, match="actors must be >= 1"):
        extract_frames(None, actors=0)
