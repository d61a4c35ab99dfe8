"""Sprite sheets, WebVTT tracks, storyboards, covers and black frames."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import webvtt
from PIL import Image

import stillframe as sf
from stillframe import cli, testsrc
from stillframe.errors import InvalidParameter
from stillframe.sprites import Sprite, parse_color
from stillframe.webvtt import format_time

XYWH = re.compile(r"^(?P<file>[^#]+)#xywh=(\d+),(\d+),(\d+),(\d+)$")


@pytest.fixture(scope="module")
def clip(clips):
    return clips("sprite.mp4", frames=300, size=(320, 240), gop=60, bframes=2)


def vtt_seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def test_sprite_cells_match_the_vtt_and_the_single_snapshots(clip, tmp_path):
    result = sf.snapshot(
        clip,
        sf.Interval(0.5),
        tmp_path / "{Count}.jpg",
        width=160,
        quality=90,
        sprite=Sprite(columns=4, lines=3, margin=4, padding=2, color="#204060"),
        webvtt=tmp_path / "thumbs.vtt",
        storyboard=tmp_path / "storyboard.json",
    )
    assert result.count == 20
    assert len(result.sprites) == 2  # 12 cells a page
    cues = list(webvtt.read(str(tmp_path / "thumbs.vtt")))
    assert len(cues) == 20
    for cue, rec in zip(cues, result.frames):
        m = XYWH.match(cue.text)
        assert m, cue.text
        x, y, w, h = (int(v) for v in m.groups()[1:])
        assert (w, h) == (160, 120)
        sheet = np.asarray(Image.open(tmp_path / m["file"]).convert("RGB"))
        single = np.asarray(Image.open(rec.file).convert("RGB"))
        assert psnr(sheet[y : y + h, x : x + w], single) >= 35
        assert vtt_seconds(cue.start) == pytest.approx(rec.time, abs=1e-3)
    assert vtt_seconds(cues[-1].end) == pytest.approx(result.info.duration, abs=1e-3)
    # Cells sit on the grid: margin 4, padding 2.
    assert [XYWH.match(c.text).groups()[1:3] for c in cues[:5]] == [
        ("4", "4"),
        ("166", "4"),
        ("328", "4"),
        ("490", "4"),
        ("4", "126"),
    ]
    # The second page holds 8 cells: two rows, cropped.
    assert Image.open(result.sprites[1]).size == (4 * 160 + 3 * 2 + 8, 2 * 120 + 2 + 8)
    board = json.loads((tmp_path / "storyboard.json").read_text())
    assert [p["url"] for p in board] == ["sprite-00001.jpg", "sprite-00002.jpg"]
    assert board[0]["tile_width"] == 160 and len(board[0]["tiles"]) == 12
    assert board[1]["tiles"][0] == {"start": pytest.approx(6.0), "x": 4, "y": 4}


def test_vtt_for_single_files_with_base_url(clip, tmp_path):
    result = sf.snapshot(
        clip,
        sf.Dots([4, 1, 7]),
        tmp_path / "img/{Count}.jpg",
        webvtt=tmp_path / "t.vtt",
        base_url="https://cdn.example/v1/",
    )
    cues = list(webvtt.read(str(tmp_path / "t.vtt")))
    assert [c.text for c in cues] == [
        "https://cdn.example/v1/img/00002.jpg",
        "https://cdn.example/v1/img/00001.jpg",
        "https://cdn.example/v1/img/00003.jpg",
    ]
    assert [(c.start, c.end) for c in cues] == [
        ("00:00:01.000", "00:00:04.000"),
        ("00:00:04.000", "00:00:07.000"),
        ("00:00:07.000", "00:00:10.000"),
    ]
    assert result.webvtt == str(tmp_path / "t.vtt")


def test_only_sheets_and_every_other_snapshot(clip, tmp_path):
    result = sf.snapshot(
        clip,
        sf.Interval(1),
        tmp_path / "{Count}.jpg",
        width=64,
        sprite=Sprite(columns=5, lines=1, keep_cell_pic=False, cell_sel_step=2, cell_width=32, cell_height=24),
        webvtt=tmp_path / "t.vtt",
    )
    assert result.files == [] and not list(tmp_path.glob("0*.jpg"))
    assert result.count == 10 and all(r.file == "" for r in result.frames)
    assert len(result.sprites) == 1 and Image.open(result.sprites[0]).size == (160, 24)
    cues = list(webvtt.read(str(tmp_path / "t.vtt")))
    assert [c.start for c in cues] == ["00:00:00.000", "00:00:02.000", "00:00:04.000", "00:00:06.000", "00:00:08.000"]


def test_pages_split_at_the_size_limit(clip, tmp_path):
    result = sf.snapshot(
        clip,
        sf.Interval(0.25),
        tmp_path / "{Count}.jpg",
        width=100,
        sprite=Sprite(columns=4, lines=100, max_side=500, keep_cell_pic=False),
    )
    sizes = [Image.open(p).size for p in result.sprites]
    assert all(max(s) <= 500 for s in sizes)
    # 40 cells of 100x76, 4 a row, 6 rows a page (6 * 76 = 456 <= 500).
    assert len(sizes) == 2 and sizes[0] == (400, 456) and sizes[1] == (400, 4 * 76)


def test_ten_hours_of_cues(clips, tmp_path):
    path = clips("ten-hours.mp4", frames=3600, size=(64, 48), fps=0.1, gop=100)
    assert sf.probe(path).duration == pytest.approx(36000, abs=1)
    sf.snapshot(path, sf.Interval(1800), tmp_path / "{Count}.jpg", webvtt=tmp_path / "t.vtt")
    cues = list(webvtt.read(str(tmp_path / "t.vtt")))
    assert len(cues) == 20
    assert (cues[-1].start, cues[-1].end) == ("09:30:00.000", "10:00:00.000")
    assert format_time(360000.5) == "100:00:00.500"
    assert format_time(59.9996) == "00:01:00.000"


def test_black_first_snapshot_is_replaced(clips, tmp_path):
    path = clips("fade-in.mp4", frames=150, size=(256, 144), gop=30, bframes=2, black_frames=60)
    plain = sf.snapshot(path, sf.Interval(1), tmp_path / "a/{Count}.jpg")
    assert np.asarray(Image.open(plain.files[0]).convert("L")).mean() < 5
    result = sf.snapshot(path, sf.Interval(1), tmp_path / "b/{Count}.jpg", black_level=90, pixel_black_threshold=20)
    first = np.asarray(Image.open(result.files[0]).convert("L"))
    assert first.mean() > 50
    assert testsrc.read_index(first) == 60  # the first frame after 2 s of black
    assert result.frames[0].time == pytest.approx(2.0)
    assert result.replaced == [{"index": 1, "requested_time": 0.0, "black_time": 0.0, "time": pytest.approx(2.0)}]
    # Not at 0: left alone.
    later = sf.snapshot(path, sf.Interval(1, start=1.0), tmp_path / "c/{Count}.jpg", black_level=90)
    assert later.replaced == [] and later.frames[0].time == pytest.approx(1.0)
    # One snapshot: always on.
    one = sf.snapshot(path, [1.0], tmp_path / "one.jpg", black_level=90, pixel_black_threshold=20)
    assert one.frames[0].time == pytest.approx(2.0)


def test_covers(clips, tmp_path):
    path = clips("fade-in.mp4", frames=150, size=(256, 144), gop=30, bframes=2, black_frames=60)
    auto = sf.snapshot(path, sf.Interval(0.5), tmp_path / "{Count}.jpg", cover="auto")
    assert auto.cover == str(tmp_path / "cover.jpg")
    assert auto.cover_index > 4  # never one of the black ones
    assert Path(auto.cover).read_bytes() == Path(auto.files[auto.cover_index - 1]).read_bytes()
    fixed = sf.snapshot(path, sf.Interval(0.5), tmp_path / "f/{Count}.jpg", cover=tmp_path / "c.jpg", cover_position=7)
    assert fixed.cover_index == 7
    assert Path(fixed.cover).read_bytes() == Path(fixed.files[6]).read_bytes()


def test_bad_sprite_parameters(clip, tmp_path):
    with pytest.raises(InvalidParameter, match="columns"):
        Sprite(columns=0)
    with pytest.raises(InvalidParameter, match="color"):
        Sprite(color="not-a-colour")
    with pytest.raises(InvalidParameter, match="limit"):
        sf.snapshot(clip, [1.0], tmp_path / "x.jpg", sprite=Sprite(columns=1, cell_width=20000, cell_height=20))
    with pytest.raises(InvalidParameter, match="TileCount"):
        sf.snapshot(
            clip,
            sf.Interval(1),
            tmp_path / "{Count}.jpg",
            sprite=Sprite(columns=2, lines=2),
            sprite_output=tmp_path / "sheet.jpg",
        )
    with pytest.raises(InvalidParameter, match="storyboard"):
        sf.snapshot(clip, [1.0], tmp_path / "x.jpg", storyboard=tmp_path / "s.json")
    with pytest.raises(InvalidParameter, match="black_level"):
        sf.snapshot(clip, [1.0], tmp_path / "x.jpg", black_level=10)
    with pytest.raises(InvalidParameter, match="cover_position"):
        sf.snapshot(clip, [1.0], tmp_path / "x.jpg", cover=tmp_path / "c.jpg", cover_position=5)
    assert not list(tmp_path.glob("*.jpg"))  # nothing written before the checks failed
    assert parse_color("navy") == (0, 0, 128) and parse_color("#FF8000") == (255, 128, 0)
    assert all(0 <= c <= 255 for c in parse_color("random"))


def test_cli_sprite_options(clip, tmp_path, capsys):
    args = [
        "snapshot",
        str(clip),
        "-o",
        str(tmp_path / "{Count}.jpg"),
        "--interval",
        "1",
        "--width",
        "80",
        "--sprite",
        "5x2",
        "--margin",
        "2",
        "--padding",
        "2",
        "--color",
        "white",
        "--vtt",
        str(tmp_path / "t.vtt"),
        "--storyboard",
        str(tmp_path / "s.json"),
        "--base-url",
        "/static",
        "--cover",
        str(tmp_path / "cover.jpg"),
        "--json",
    ]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["sprites"]) == 1 and out["webvtt"] and out["storyboard"] and out["cover_index"] == 1
    assert Image.open(out["sprites"][0]).size == (5 * 80 + 4 * 2 + 4, 2 * 60 + 2 + 4)
    assert list(webvtt.read(str(tmp_path / "t.vtt")))[0].text == "/static/sprite-00001.jpg#xywh=2,2,80,60"
