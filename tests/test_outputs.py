"""The writers behind snapshot(): each owns its destination, takes frames as they
stream (in any order), and a run's ledger removes what a failed run wrote."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

import stillframe as sf
from stillframe import outputs
from stillframe.outputs import Batch, Ledger, SingleFiles, SpriteSheets, plan_writers


def with_cover(names: list[str], size: tuple[int, int], cover: Path, position: int) -> list:
    """The writers of single snapshots `names` and a cover, nothing else."""
    return plan_writers(
        names,
        size,
        keep_singles=True,
        sprite=None,
        sprite_output=None,
        webvtt=None,
        storyboard=None,
        base_url=None,
        cover=cover,
        cover_position=position,
        black=None,
    )


@pytest.fixture(scope="module")
def frames(clips):
    clip = clips("outputs.mp4", frames=60, size=(160, 96), gop=20, bframes=2)
    with sf.open(clip) as video:
        return video.frames_at([i * 0.25 for i in range(8)])


def test_sheets_are_written_as_their_cells_come_in_whatever_the_order(frames, tmp_path):
    sheets = SpriteSheets(sf.Sprite(2, 2), len(frames), 160, 96, tmp_path / "s-{TileCount}.jpg")
    ledger = Ledger()
    order = [5, 1, 0, 7, 2, 6, 4, 3]  # page 2 (cells 4-7) fills at 4, page 1 (0-3) at 3
    pages_after = [0, 0, 0, 0, 0, 0, 1, 2]
    for request, expected in zip(order, pages_after):
        sheets.take(Batch([request], [frames[request]], 80), ledger)
        assert len(ledger.written) == expected, request
    assert [os.path.basename(p) for p in ledger.written] == ["s-00002.jpg", "s-00001.jpg"]
    assert not sheets.cells  # every cell went into a page


def test_one_encode_serves_every_writer_that_wants_the_jpeg(frames, tmp_path, monkeypatch):
    calls = []
    real = outputs.encode_jpegs

    def counting(planes, **kw):
        calls.append(len(planes))
        return real(planes, **kw)

    monkeypatch.setattr(outputs, "encode_jpegs", counting)
    names = [str(tmp_path / f"{i}.jpg") for i in range(4)]
    writers = with_cover(names, (160, 96), tmp_path / "cover.jpg", 3)
    batch = Batch(list(range(4)), list(frames[:4]), 85)
    ledger = Ledger()
    for w in writers:
        w.take(batch, ledger)
    assert calls == [4]  # the cover took snapshot 3's bytes from the singles' encode
    assert writers[1].data == (tmp_path / "2.jpg").read_bytes()  # type: ignore[attr-defined]


def test_jpegs_encoded_elsewhere_are_written_as_given_and_nothing_is_encoded_again(frames, tmp_path, monkeypatch):
    made = outputs.encode_jpegs([f.planes() for f in frames[:3]], quality=85)  # as a worker makes them
    bad = Batch([0, 1], list(frames[:2]), 85)
    with pytest.raises(sf.errors.InvalidParameter, match="3 JPEGs given for a batch of 2 frames"):
        bad.use_jpegs(made)

    def refuse(planes, **kw):
        raise AssertionError("encoded again")

    monkeypatch.setattr(outputs, "encode_jpegs", refuse)
    names = [str(tmp_path / f"{i}.jpg") for i in range(3)]
    writers = with_cover(names, (160, 96), tmp_path / "cover.jpg", 2)
    batch = Batch([0, 1, 2], list(frames[:3]), 85)
    batch.use_jpegs(made)
    ledger = Ledger()
    for w in writers:
        w.take(batch, ledger)
    assert [(tmp_path / f"{i}.jpg").read_bytes() for i in range(3)] == made
    assert batch.jpeg(1) == made[1] and writers[1].data == made[1]  # type: ignore[attr-defined]


def test_a_writer_checks_its_names_before_any_frame(tmp_path):
    with pytest.raises(sf.errors.InvalidParameter, match="JPEG"):
        SingleFiles([str(tmp_path / "a.png")])
    with pytest.raises(sf.errors.InvalidParameter, match="past the 2 snapshots"):
        with_cover([str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")], (16, 16), tmp_path / "c.jpg", 3)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(sf.errors.InvalidParameter, match="folder"):
        Ledger().check([str(tmp_path / "afile" / "t.vtt")])


def _folder(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


# Where an interrupt can land in a write: (function, before or after it runs).
STEPS = [
    ("os.path.lexists", "before"),
    ("os.path.lexists", "after"),
    ("tempfile.mkstemp", "after"),
    ("os.link", "before"),
    ("os.link", "after"),
    ("os.replace", "before"),
    ("os.replace", "after"),
]


@pytest.mark.parametrize("existed", [True, False], ids=["replacing", "new"])
@pytest.mark.parametrize("step", STEPS, ids=[f"{f}-{w}" for f, w in STEPS])
def test_an_interrupt_at_any_step_of_a_write_is_undone(tmp_path, monkeypatch, step, existed):
    (tmp_path / "a.jpg").write_bytes(b"the user's a")
    (tmp_path / "other.txt").write_bytes(b"not the run's")
    if existed:
        (tmp_path / "b.jpg").write_bytes(b"the user's b")
    before = _folder(tmp_path)
    ledger = Ledger()
    ledger.check([str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")])
    ledger.write(tmp_path / "a.jpg", b"new a")
    assert (tmp_path / "a.jpg").read_bytes() == b"new a"

    name, when = step
    module, attr = {
        "os.path.lexists": (os.path, "lexists"),
        "tempfile.mkstemp": (tempfile, "mkstemp"),
        "os.link": (os, "link"),
        "os.replace": (os, "replace"),
    }[name]
    real = getattr(module, attr)
    hit = []

    def interrupted(*args, **kwargs):
        hit.append(args)
        if when == "after":
            real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, attr, interrupted)
    try:
        ledger.write(tmp_path / "b.jpg", b"new b")
    except KeyboardInterrupt:
        pass
    finally:
        monkeypatch.undo()
    assert hit or (name == "os.link" and not existed)  # a new file has nothing to keep aside
    ledger.rollback()
    assert _folder(tmp_path) == before  # every file as it was, nothing of the run's beside them


def test_a_committed_run_keeps_its_files_and_lets_go_of_what_they_replaced(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"old")
    ledger = Ledger()
    ledger.check([str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")])
    ledger.write(tmp_path / "a.jpg", b"new a")
    ledger.write(tmp_path / "a.jpg", b"newer a")  # a name written twice keeps the user's file, not the first
    ledger.write(tmp_path / "b.jpg", b"new b")
    assert sorted(_folder(tmp_path)) == [f".a.jpg.{ledger.token}.keep", "a.jpg", "b.jpg"]
    ledger.commit()
    ledger.rollback()  # too late: a committed run stays
    assert _folder(tmp_path) == {"a.jpg": b"newer a", "b.jpg": b"new b"}
    assert ledger.report() == {"files": 2, "replaced": 1}


def test_a_name_written_twice_in_a_failed_run_gets_the_users_file_back(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"old")
    ledger = Ledger()
    ledger.write(tmp_path / "a.jpg", b"new a")
    ledger.write(tmp_path / "a.jpg", b"newer a")
    ledger.rollback()
    assert _folder(tmp_path) == {"a.jpg": b"old"}


def test_snapshot_results_name_what_each_writer_made(clips, tmp_path):
    clip = clips("outputs-run.mp4", frames=60, size=(160, 96), gop=20, bframes=2)
    result = sf.snapshot(
        clip,
        sf.Interval(0.5),
        tmp_path / "{Count}.jpg",
        sprite=sf.Sprite(2, 2),
        webvtt=tmp_path / "t.vtt",
        storyboard=tmp_path / "sb.json",
        cover_position="auto",
    )
    made = {*result.files, *result.sprites, result.webvtt, result.storyboard, result.cover}
    assert made == {str(p) for p in tmp_path.iterdir()}
    assert len(result.files) == 4 and len(result.sprites) == 1 and result.cover_index is not None
