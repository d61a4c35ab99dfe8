"""A run into names that already hold files keeps what it replaces aside until it
commits: a run that fails (an error part way) or is interrupted (Ctrl-C, SIGTERM)
leaves every file as it was, for single snapshots, sprite sheets, the WebVTT
track, the storyboard and the cover."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import stillframe as sf
from stillframe import _ledger
from stillframe._files import fs_error


@pytest.fixture(scope="module")
def clip(clips) -> str:
    return str(clips("rerun.mp4", frames=90, size=(256, 144), gop=30, bframes=2))


def _run(clip: str, out: Path, quality: int) -> sf.SnapshotResult:
    return sf.snapshot(
        clip,
        sf.Interval(0.25),
        out / "{Count}.jpg",
        width=128,
        quality=quality,
        sprite=sf.Sprite(3, 2),
        webvtt=out / "thumbs.vtt",
        storyboard=out / "storyboard.json",
        cover="auto",
        overwrite=True,
    )


def _folder(out: Path) -> dict[str, bytes]:
    """Every file under `out`, hidden ones too, with its bytes."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture
def earlier(clip, tmp_path) -> tuple[Path, dict[str, bytes]]:
    """A folder written by an earlier run, and what it holds."""
    out = tmp_path / "out"
    first = _run(clip, out, quality=90)
    assert len(first.files) == 12 and len(first.sprites) == 2
    return out, _folder(out)


# The failing write: a single snapshot part way, the second sheet, the track, the
# storyboard, and the cover (written last: everything else has been replaced by then).
FAILING = ["00005.jpg", "sprite-00002.jpg", "thumbs.vtt", "storyboard.json", "cover.jpg"]


@pytest.mark.parametrize("failing", FAILING)
def test_a_failed_rerun_leaves_the_earlier_files_as_they_were(clip, earlier, monkeypatch, failing):
    out, before = earlier
    real = _ledger.write_atomic

    def disk_full_at(path, data, **kwargs):
        if Path(path).name == failing:
            raise fs_error(path, OSError(errno.ENOSPC, "No space left on device"), "write the file")
        return real(path, data, **kwargs)

    monkeypatch.setattr(_ledger, "write_atomic", disk_full_at)
    with pytest.raises(sf.InternalError, match=f"{failing}: cannot write the file: the file system is full"):
        _run(clip, out, quality=60)
    assert _folder(out) == before


def test_a_rerun_that_succeeds_replaces_everything_and_keeps_nothing_aside(clip, earlier):
    out, before = earlier
    result = _run(clip, out, quality=60)
    after = _folder(out)
    assert sorted(after) == sorted(before)  # the same names, no .keep or .part left
    assert all(after[n] != before[n] for n in before if n.endswith(".jpg"))  # every picture the new run's
    assert result.writes == {"files": len(before), "replaced": len(before)}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "stillframe.cli", "snapshot", *args]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_rerun_interrupted_part_way_leaves_the_earlier_files(clips, tmp_path, sig):
    path = str(clips("sigint.mp4", frames=900, size=(640, 360), gop=300, bframes=3))
    out = tmp_path / "out"
    out.mkdir()
    for k in range(1, 751):  # what an earlier run left: 750 snapshots under the names this one writes
        (out / f"{k:05d}.jpg").write_bytes(f"earlier {k}".encode())
    before = _folder(out)
    proc = subprocess.Popen(
        _cli(path, "-o", str(out / "{Count}.jpg"), "--interval", "0.04", "--json", "--overwrite"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(list(out.glob(".*.keep"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    expected = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}[sig]
    assert (proc.returncode, err.strip()) == (expected[0], f"stillframe: {expected[1]}")
    assert _folder(out) == before


# The run in a real process, held just before it commits (every file of the run is in
# place and everything it replaced is aside), so the signal lands at the worst moment.
HELD_BEFORE_COMMIT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from stillframe import _ledger

    def held(self):
        Path(sys.argv[1]).write_text("ready")
        time.sleep(120)

    _ledger.Ledger.commit = held
    from stillframe.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def test_ctrl_c_just_before_the_commit_puts_back_every_kind_of_output(clip, earlier, tmp_path):
    out, before = earlier
    ready = tmp_path / "ready"
    args = [
        clip,
        "-o",
        str(out / "{Count}.jpg"),
        "--interval",
        "0.25",
        "--width",
        "128",
        "--quality",
        "60",
        "--sprite",
        "3x2",
        "--vtt",
        str(out / "thumbs.vtt"),
        "--storyboard",
        str(out / "storyboard.json"),
        "--cover",
        "auto",
        "--overwrite",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD_BEFORE_COMMIT, str(ready), "snapshot", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert ready.exists(), proc.communicate()[1]
    held = _folder(out)
    assert len([n for n in held if n.endswith(".keep")]) == len(before)  # all replaced, all kept aside
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "stillframe: interrupted"
    assert _folder(out) == before


def test_a_run_killed_outright_is_undone_by_the_next_run_into_its_names(clips, tmp_path, monkeypatch):
    path = str(clips("sigint.mp4", frames=900, size=(640, 360), gop=300, bframes=3))
    out = tmp_path / "out"
    out.mkdir()
    for k in range(1, 751):
        (out / f"{k:05d}.jpg").write_bytes(f"earlier {k}".encode())
    before = _folder(out)
    proc = subprocess.Popen(
        _cli(path, "-o", str(out / "{Count}.jpg"), "--interval", "0.04", "--overwrite"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(list(out.glob(".*.keep"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.kill()  # no chance to roll back: what it replaced stays aside
    proc.wait(30)
    assert len(list(out.glob(".*.keep"))) >= 3

    real = _ledger.write_atomic
    writes = []

    def fails_at_the_fifth(path, data, **kwargs):
        writes.append(path)
        if len(writes) == 5:
            raise fs_error(path, OSError(errno.EIO, "Input/output error"), "write the file")
        return real(path, data, **kwargs)

    monkeypatch.setattr(_ledger, "write_atomic", fails_at_the_fifth)
    with pytest.raises(sf.InvalidParameter, match="Input/output error"):
        sf.snapshot(path, sf.Interval(0.04), out / "{Count}.jpg", width=64, overwrite=True)
    assert _folder(out) == before  # the killed run's changes undone, then this run's rolled back


def test_a_run_alive_beside_another_keeps_what_it_kept_aside(tmp_path):
    """Two runs into one name at once (two jobs with one output): the second's check
    leaves the first's kept file and its temporary alone while the first is alive,
    so the first can still roll back to the user's file."""
    a = tmp_path / "a.jpg"
    a.write_bytes(b"the user's a")
    first = _ledger.Ledger()
    first.check([str(a)])
    first.write(a, b"first's a")
    kept = tmp_path / f".a.jpg.{first.token}.keep"
    part = tmp_path / f".a.jpg.{first.token}-abcdefgh.part"  # the first, part way through its next write
    part.write_bytes(b"half")
    assert kept.read_bytes() == b"the user's a"
    second = _ledger.Ledger()
    second.check([str(a)])
    assert kept.read_bytes() == b"the user's a" and part.exists() and a.read_bytes() == b"first's a"
    second.write(a, b"second's a")
    second.rollback()
    assert a.read_bytes() == b"first's a"
    part.unlink()  # the first's write, done
    first.rollback()
    assert _folder(tmp_path) == {"a.jpg": b"the user's a"}
