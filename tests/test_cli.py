"""The command line as a person meets it: help that says what each flag does, flags
that do not apply refused, JPEG names, a summary of what went where."""

from __future__ import annotations

import argparse
import inspect
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
    for flag in ("source", "--frame-type", "--snap", "--width", "--height", "--aspect", "--quality", "--stream",
                 "--workers", "--timeout"):  # fmt: skip
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
    assert {"--interval", "--dots", "--quantity", "--tolerance", "--aspect", "--sprite", "--vtt", "--storyboard",
            "--black-level", "--cover", "--cover-position"} <= shared  # fmt: skip
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
    ],
)
def test_flags_that_do_not_apply_are_refused(clip, tmp_path, args, complaint):
    r = cli("snapshot", clip, "-o", str(tmp_path / "{Count}.jpg"), *args)
    assert r.returncode != 0 and complaint in r.stderr
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
    r = cli("snapshot", clip, "-o", str(out / "{Count}.jpg"), "--interval", "0.1", "--width", "64",
            "--sprite", "5x5", "--sprites-only", "--vtt", str(out / "t.vtt"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "2 sprite sheet(s) of 30 frames" in r.stdout and str(out / "sprite-00001.jpg") in r.stdout
    assert "snapshot(s) written" not in r.stdout and f"webvtt {out / 't.vtt'}" in r.stdout
    r = cli("snapshot", clip, "-o", str(out / "s/{Count}.jpg"), "--interval", "1")
    assert f"3 snapshot(s) written to {out / 's'}/" in r.stdout
