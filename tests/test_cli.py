"""The command line as a person meets it: help that says what each flag does, flags
that do not apply refused, JPEG names, a summary of what went where."""

from __future__ import annotations

import subprocess
import sys

import pytest


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
