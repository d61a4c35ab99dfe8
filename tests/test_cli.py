"""The command line as a person meets it: help that says what each flag does, flags
that do not apply refused, JPEG names, a summary of what went where."""

from __future__ import annotations

import argparse
import inspect
import json
import re
import subprocess
import sys

import pytest

import stillframe as sf
from stillframe.cli import SNAPSHOT_OPTIONS, _parser, _sampling, add_snapshot_options, snapshot_options


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stillframe.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def clip(clips) -> str:
    return str(clips("cli.mp4", frames=90, size=(256, 144), gop=30, bframes=2))


def test_snapshot_help_explains_every_flag_with_examples():
    full = cli("snapshot", "--help").stdout
    text = full[full.index("positional arguments:") :]
    for flag in (
        "source",
        "--frame-type",
        "--snap",
        "--width",
        "--height",
        "--aspect",
        "--quality",
        "--stream",
        "--workers",
        "--timeout",
    ):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(flag))
        rest = text[text.index(line) + len(line) :].splitlines()[0:2]
        assert len(" ".join([line, *rest]).split()) > 4, flag  # the flag has words after it
    assert "examples:" in full and "(default: displayed)" in " ".join(full.split())


def listed(help_text: str, section: str) -> set[str]:
    """The flags a --help lists under `section:`."""
    block = help_text.split(f"\n{section}:\n", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^  (--[\w-]+)", block, re.MULTILINE))


def test_batch_takes_every_sampling_and_output_flag_of_snapshot():
    snap, batch = cli("snapshot", "--help").stdout, cli("batch", "--help").stdout
    shared = listed(snap, SNAPSHOT_OPTIONS)
    assert {
        "--interval",
        "--dots",
        "--quantity",
        "--tolerance",
        "--aspect",
        "--sprite",
        "--vtt",
        "--storyboard",
        "--black-level",
        "--cover",
        "--cover-position",
    } <= shared
    assert listed(batch, SNAPSHOT_OPTIONS) == shared
    # Each command's own flags stay its own.
    assert {"--device", "--timeout"} <= listed(snap, "options") and "--scheduler" in listed(batch, "options")
    assert not shared & (listed(snap, "options") | listed(batch, "options"))
    assert "out/{Name}/thumbs.vtt" in batch and "out/{Name}/thumbs.vtt" not in snap  # worded for many videos

    parser = _parser()
    one, many = parser.parse_args(["snapshot", "v.mp4"]), parser.parse_args(["batch", "v.mp4"])
    dests = [flag[2:].replace("-", "_") for flag in shared]
    assert {d: getattr(one, d) for d in dests} == {d: getattr(many, d) for d in dests}
    # Both read the flags back into sf.snapshot's own options.
    many = parser.parse_args(["batch", "v.mp4", "--aspect", "16:9", "--black-level", "50", "--sprite", "2x2"])
    options = snapshot_options(many)
    assert options["aspect_ratio"] == "16:9" and options["black_level"] == 50 and options["sprite"].columns == 2
    inspect.signature(sf.snapshot).bind("v.mp4", _sampling(many), "out/{Count}.jpg", **options)
    with pytest.raises(sf.InvalidParameter, match="--vtt2"):  # a misspelt rewording is caught, not lost
        add_snapshot_options(argparse.ArgumentParser(), {"--vtt2": "tracks"})


def test_jobs_help_describes_its_subcommands():
    text = cli("jobs", "--help").stdout
    for words in ("queue a snapshot job", "wait until a job ends", "paged by token"):
        assert words in text


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--quantity", "3", "--start", "5"], "--start applies only with --interval"),
        (["--dots", "1", "--count", "5"], "--count applies only with --interval"),
        (["--interval", "1", "--quantity-time", "2"], "--quantity-time applies only with --quantity"),
        (["--interval", "1", "--sprites-only"], "--sprites-only applies only with --sprite"),
        (["--interval", "1", "--cell-size", "80x45"], "--cell-size applies only with --sprite"),
        (["--interval", "1", "--sprite-output", "s-{TileCount}.jpg"], "--sprite-output applies only with --sprite"),
        (["--interval", "1", "--margin", "4"], "--margin applies only with --sprite"),
        (["--interval", "1", "--padding", "0"], "--padding applies only with --sprite"),
        (["--interval", "1", "--color", "white"], "--color applies only with --sprite"),
        (["--interval", "1", "--cell-step", "2"], "--cell-step applies only with --sprite"),
        (["--interval", "1", "--vtt-base-url", "https://cdn/"], "--vtt-base-url applies only with --vtt or"),
    ],
)
def test_flags_that_do_not_apply_are_refused(clip, tmp_path, args, complaint):
    r = cli("snapshot", clip, "-o", str(tmp_path / "{Count}.jpg"), *args)
    assert r.returncode != 0 and complaint in r.stderr and r.stderr.count("\n") == 1
    assert not list(tmp_path.glob("*.jpg"))


def test_a_png_name_is_refused(clip, tmp_path):
    r = cli("snapshot", clip, "-o", str(tmp_path / "x.png"), "--dots", "1")
    assert r.returncode == 1 and "name the file .jpg" in r.stderr and not (tmp_path / "x.png").exists()


def test_a_typo_shows_the_subcommands_usage(clip):
    r = cli("snapshot", clip, "--widht", "3")
    assert r.returncode == 2
    assert "usage: stillframe snapshot" in r.stderr and "unrecognized arguments: --widht 3" in r.stderr


def test_the_summary_says_what_was_written_and_where(clip, tmp_path):
    out = tmp_path / "out"
    r = cli(
        "snapshot",
        clip,
        "-o",
        str(out / "{Count}.jpg"),
        "--interval",
        "0.1",
        "--width",
        "64",
        "--sprite",
        "5x5",
        "--sprites-only",
        "--vtt",
        str(out / "t.vtt"),
    )
    assert r.returncode == 0, r.stderr
    assert "2 sprite sheets of 30 frames" in r.stdout and str(out / "sprite-00001.jpg") in r.stdout
    assert "written" not in r.stdout and f"webvtt {out / 't.vtt'}" in r.stdout
    r = cli("snapshot", clip, "-o", str(out / "s/{Count}.jpg"), "--interval", "1")
    assert f"3 snapshots written to {out / 's'}/ (00001.jpg .. 00003.jpg)" in r.stdout
    # One file is named as it is, not by its folder ("written to ./").
    r = subprocess.run(
        [sys.executable, "-m", "stillframe.cli", "snapshot", clip, "-o", "single.jpg", "--dots", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("1 snapshot written: single.jpg;") and (tmp_path / "single.jpg").is_file()


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser) for `stillframe` and every subcommand under it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def test_every_flag_says_what_it_does_and_its_default():
    quiet = (
        argparse._HelpAction,
        argparse._VersionAction,
        argparse._SubParsersAction,
        argparse._StoreTrueAction,
        argparse._StoreFalseAction,
    )
    no_help, no_default = [], []
    for path, parser in _commands(_parser()):
        for action in parser._actions:
            name = " ".join([*path, action.option_strings[-1] if action.option_strings else action.dest])
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help:
                no_help.append(name)
            elif (
                not isinstance(action, quiet)
                and action.default not in (None, False, [])
                and "default" not in action.help
            ):
                no_default.append(name)
    assert no_help == [] and no_default == []
    demo = cli("demo", "--help").stdout
    assert "(default: stillframe-demo)" in " ".join(demo.split())


@pytest.mark.parametrize(
    "args, said",
    [
        (["--dots", "abc"], "argument --dots: 'abc' is not a time"),
        (["--dots", "1,5 s"], "argument --dots: '5 s' is not a time"),
        (["--interval", "1:75"], "argument --interval: '1:75' is not a time: minutes and seconds run 0..59"),
        (["--dots", "1", "--cover-position", "first"], "argument --cover-position: 'first' is not a 1-based"),
        (["--dots", "1", "--workers", "0"], "argument --workers: '0' is not a whole number >= 1"),
        (["--dots", "1", "--quality", "0"], "argument --quality: '0' is not a whole number in 1..100"),
        (["--dots", "1", "--storage-options", "{bad"], "argument --storage-options: not JSON"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_flag(clip, tmp_path, args, said):
    r = cli("snapshot", clip, "-o", str(tmp_path / "{Count}.jpg"), *args)
    assert r.returncode == 2 and r.stderr.startswith(f"stillframe snapshot: error: {said}"), r.stderr
    assert r.stderr.count("\n") == 1 and not list(tmp_path.iterdir())


def test_ffmpeg_times_in_every_time_flag(clip, tmp_path):
    r = cli(
        "snapshot",
        clip,
        "-o",
        str(tmp_path / "d/{Count}.jpg"),
        "--dots",
        "00:00:02,1500ms,0.5s,250000us",
        "--tolerance",
        "0ms",
        "--timeout",
        "00:01:00",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert [f["requested_time"] for f in json.loads(r.stdout)["frames"]] == [2.0, 1.5, 0.5, 0.25]
    r = cli(
        "snapshot", clip, "-o", str(tmp_path / "i/{Count}.jpg"), "--interval", "00:01", "--start", "500ms", "--json"
    )
    assert [f["requested_time"] for f in json.loads(r.stdout)["frames"]] == [0.5, 1.5, 2.5]
    r = cli(
        "snapshot", clip, "-o", str(tmp_path / "q/{Count}.jpg"), "--quantity", "2", "--quantity-time", "1s", "--json"
    )
    assert [f["requested_time"] for f in json.loads(r.stdout)["frames"]] == [0.0, 1.0]
    # A negative time parses, and is refused where it was refused before, in one line.
    r = cli("snapshot", clip, "-o", str(tmp_path / "n/{Count}.jpg"), "--interval", "-5")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and ">= 0" in r.stderr
    parser = _parser()
    assert parser.parse_args(["jobs", "wait", "J", "--timeout", "1:30", "--lease", "45s"]).timeout == 90.0
    assert parser.parse_args(["live", "templates", "create", "--interval", "00:01:00"]).interval == 60
    assert parser.parse_args(["batch", "v.mp4", "--connect-timeout", "500ms"]).connect_timeout == 0.5


def test_a_near_miss_of_a_placeholder_is_named(clip, tmp_path):
    r = cli("snapshot", clip, "-o", str(tmp_path / "{count}.jpg"), "--interval", "1")
    assert r.returncode == 1 and "has {count}: did you mean {Count}?" in r.stderr and not list(tmp_path.iterdir())
    r = cli("snapshot", clip, "-o", str(tmp_path / "one-{cont}.jpg"), "--dots", "1")  # one file: it would be kept
    assert r.returncode == 1 and "did you mean {Count}?" in r.stderr
    with pytest.raises(sf.InvalidParameter, match=r"did you mean \{TileCount\}"):
        sf.snapshot(
            clip,
            sf.Interval(1),
            tmp_path / "{Count}.jpg",
            sprite=sf.Sprite(2, 2),
            sprite_output=tmp_path / "sheet-{tilecount}.jpg",
        )
    from stillframe.distributed import snapshot_many

    with pytest.raises(sf.InvalidParameter, match=r"did you mean \{Name\}"):
        snapshot_many([clip, clip], sf.Interval(1), str(tmp_path / "{name}/{Count}.jpg"))
    assert not list(tmp_path.iterdir())


def test_a_cover_position_alone_writes_the_cover_beside_the_snapshots(clip, tmp_path):
    r = cli("snapshot", clip, "-o", str(tmp_path / "a/{Count}.jpg"), "--interval", "1", "--cover-position", "2")
    assert r.returncode == 0, r.stderr
    assert f"cover {tmp_path / 'a' / 'cover.jpg'}" in r.stdout
    assert (tmp_path / "a/cover.jpg").read_bytes() == (tmp_path / "a/00002.jpg").read_bytes()
    # `cover="auto"` with a position: beside the snapshots, at that position.
    result = sf.snapshot(clip, sf.Interval(1), tmp_path / "b/{Count}.jpg", cover="auto", cover_position=3)
    assert result.cover_index == 3 and result.cover == str(tmp_path / "b/cover.jpg")


@pytest.mark.parametrize("command", ["snapshot", "jobs"])
def test_a_reader_that_goes_away_ends_the_output_quietly(clip, tmp_path, command):
    import os

    args = {
        "snapshot": ["snapshot", clip, "-o", str(tmp_path / "{Count}.jpg"), "--interval", "1", "--json"],
        "jobs": ["jobs", "list", "--store", str(tmp_path / "jobs.db")],
    }[command]
    read, write = os.pipe()
    os.close(read)  # `| head` that has already read what it wanted
    try:
        r = subprocess.run(
            [sys.executable, "-m", "stillframe.cli", *args], stdout=write, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write)
    assert (r.returncode, r.stderr) == (141, "")  # as `ls | head`: SIGPIPE's status, and nothing said
